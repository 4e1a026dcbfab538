"""One structured JSON line per request, written off the event loop.

The handler only appends a tuple to a bounded queue (never blocks) and wakes
the thread if it sleeps; a daemon thread builds each line, serialises it with
orjson and writes what has gathered in one go, at most every few milliseconds.
When the queue is full the line is dropped and counted
(``claimgate_log_lines_dropped_total``) rather than slowing the gateway. Only
the member id identifies a person: no names, no card numbers, no amounts per
person. Every field is cut to its limit, so a line stays short whatever a
request carries.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import IO, Any

import orjson

from gateway import metrics

QUEUE_MAX = 10_000
FIELD_MAX = 64  # characters of any text field (ids are at most 64)
LIST_MAX = 16  # items of a list field (reasons)
BATCH_S = 0.005  # after a write the thread waits this long for more lines


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
        # Lines waiting for the thread: appended on the event loop, taken by the
        # thread alone (deque appends and pops are atomic). Bounded by QUEUE_MAX.
        self._pending: deque[tuple[Any, ...] | dict[str, Any] | None] = deque()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> AccessLog:
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
            self._thread.start()
        return self

    def call(
        self, request_id: str, institution: str, psn_no: str, method: str, status: str,
        latency_s: float, reason: str, warnings: Sequence[str],
    ) -> None:
        """The line of one finished call. Only a tuple is queued here; the thread cuts,
        builds and serialises the line."""
        if not self.enabled:
            return
        self._put((time.time(), request_id, institution, psn_no, method, status,
                   latency_s, reason, warnings))

    def write(self, **fields: Any) -> None:
        """A line of any fields (each cut to its limit)."""
        if not self.enabled:
            return
        fields["ts"] = time.time()
        self._put(fields)

    def _put(self, item: tuple[Any, ...] | dict[str, Any]) -> None:
        if len(self._pending) >= QUEUE_MAX:
            metrics.LOG_DROPPED.inc()
            return
        self._pending.append(item)
        if not self._wake.is_set():  # the thread wakes once per batch, not per line
            self._wake.set()

    def close(self) -> None:
        if self._thread is not None:
            self._pending.append(None)
            self._wake.set()
            self._thread.join(5)
            self._thread = None

    @staticmethod
    def _line(item: tuple[Any, ...] | dict[str, Any]) -> bytes:
        if isinstance(item, dict):
            fields = {k: _cut(v) if isinstance(v, (str, list)) else v
                      for k, v in item.items()}
        else:
            ts, request_id, institution, psn_no, method, status, latency_s, reason, \
                warnings = item
            fields = {
                "request_id": _cut(request_id), "institution": _cut(institution),
                "psn_no": _cut(psn_no), "method": _cut(method), "status": _cut(status),
                "latency_ms": round(latency_s * 1000, 3),
                "reasons": _cut([r for r in (reason, *warnings) if r]), "ts": ts,
            }
        return orjson.dumps(fields) + b"\n"

    def _run(self) -> None:
        pending = self._pending
        while True:
            self._wake.wait()
            self._wake.clear()
            lines: list[bytes] = []
            done = False
            while pending:
                item = pending.popleft()
                if item is None:
                    done = True
                    break
                lines.append(self._line(item))
            if lines:
                self._out.write(b"".join(lines))
                self._out.flush()
            if done:
                self._out.flush()
                return
            time.sleep(BATCH_S)  # let lines gather: one wake-up and write per batch
