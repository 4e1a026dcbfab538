"""Progress of a long command (load, seed, journal export, bench population) on a terminal.

One line on stderr, redrawn at most every ``interval_s``: count, share, rate and time left.
Quiet when stderr is not a terminal (piped, redirected, under CI), so logs and captured
output stay clean. Pure standard library: the bench suite uses it too.

    with Progress("members", total=n) as p:
        for chunk in chunks:
            write(chunk)
            p.advance(len(chunk))

    for chunk in counted(chunks, "members", total=n, weight=len): ...
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import IO, TypeVar

T = TypeVar("T")


def _duration(seconds: float) -> str:
    s = int(seconds + 0.5)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Progress:
    """A progress line for ``total`` units of work (``total=None``: count and rate only)."""

    def __init__(
        self, label: str, total: int | None = None, *, unit: str = "",
        stream: IO[str] | None = None, enabled: bool | None = None, interval_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = sys.stderr if stream is None else stream
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.interval_s = interval_s
        self.clock = clock
        self.done = 0
        self.t0 = clock()
        self._drawn_at: float | None = None
        self._width = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def advance(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        now = self.clock()
        if self._drawn_at is None or now - self._drawn_at >= self.interval_s:
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        """The progress line as it is drawn."""
        elapsed = (self.clock() if now is None else now) - self.t0
        unit = f" {self.unit}" if self.unit else ""
        rate = self.done / elapsed if elapsed > 0 else 0.0
        text = f"{self.label}: {self.done:,}"
        if self.total:
            text += f"/{self.total:,}{unit} ({100 * self.done / self.total:.0f}%)"
        else:
            text += unit
        text += f", {rate:,.0f}{unit}/s" if rate else ""
        if self.total and rate and self.done < self.total:
            text += f", {_duration((self.total - self.done) / rate)} left"
        elif self.total and self.done >= self.total:
            text += f", done in {_duration(elapsed)}"
        return text

    def _draw(self, now: float) -> None:
        text = self.line(now)
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)
        self._drawn_at = now

    def close(self) -> None:
        """Draw the final state and end the line (nothing when quiet)."""
        if self.enabled and (self._drawn_at is not None or self.done):
            self._draw(self.clock())
            self.stream.write("\n")
            self.stream.flush()
            self._drawn_at = None


def counted(
    items: Iterable[T], label: str, total: int | None = None, *,
    weight: Callable[[T], int] | None = None, unit: str = "", stream: IO[str] | None = None,
) -> Iterator[T]:
    """Yield ``items``, advancing a :class:`Progress` by each one's ``weight`` (default 1)
    after it was consumed; the line ends when the iteration does."""
    with Progress(label, total, unit=unit, stream=stream) as p:
        for item in items:
            yield item
            p.advance(weight(item) if weight is not None else 1)
