"""One structured JSON line per request, written off the event loop.

The handler only puts a dict on a bounded queue (never blocks); a daemon
thread serialises with orjson and writes. When the queue is full the line is
dropped and counted (``claimgate_log_lines_dropped_total``) rather than
slowing the gateway. Only the member id identifies a person: no names, no
card numbers, no amounts per person. Every field is cut to its limit, so a
line stays short whatever a request carries.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from typing import IO, Any

import orjson

from gateway import metrics

QUEUE_MAX = 10_000
FIELD_MAX = 64  # characters of any text field (ids are at most 64)
LIST_MAX = 16  # items of a list field (reasons)


def _cut(value: Any) -> Any:
    """A field as logged: text cut to FIELD_MAX characters, lists to LIST_MAX items.
    A request may carry anything up to the message limit; its log line may not."""
    if isinstance(value, str):
        return value if len(value) <= FIELD_MAX else value[:FIELD_MAX] + "..."
    if isinstance(value, list):
        return [_cut(v) for v in value[:LIST_MAX]]
    return value


class AccessLog:
    def __init__(self, out: IO[bytes] | None = None, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._out = out if out is not None else sys.stderr.buffer
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(QUEUE_MAX)
        self._thread: threading.Thread | None = None

    def start(self) -> AccessLog:
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
            self._thread.start()
        return self

    def write(self, **fields: Any) -> None:
        if not self.enabled:
            return
        for k, v in fields.items():
            if isinstance(v, (str, list)):
                fields[k] = _cut(v)
        fields["ts"] = time.time()
        try:
            self._queue.put_nowait(fields)
        except queue.Full:
            metrics.LOG_DROPPED.inc()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(5)
            self._thread = None

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._out.flush()
                return
            batch = [item]
            while len(batch) < 512:  # write what has queued up in one go
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            self._out.write(b"".join(orjson.dumps(x) + b"\n" for x in batch))
            self._out.flush()
