"""Reading and checking a CSV file for a load: the parts every ``claimgate load`` shares.

The column layout of every file is in ``docs/csv-formats.md``; each load's module holds
its column tuples (:data:`gateway.load_members.MEMBER_COLUMNS`, ...), the single source
of truth for it.

A load is two passes, so that a bad file never leaves Redis half-loaded:

1. **Validate** the whole file: every row is parsed and checked, duplicate keys
   (``psn_no`` / ``code``) are refused, and every problem is reported as
   ``FILE:LINE: COLUMN: PROBLEM`` (the header is line 1). Rows that pass are
   serialised right away into compact records and spooled to an anonymous
   temporary file in chunks, so memory stays bounded whatever the file size.
2. **Write**, only when pass 1 found nothing wrong, a few pipelines in flight
   (:func:`_bounded_writes`), so packing the next batch overlaps Redis executing
   the previous one.

Here: the load's report (:class:`LoadReport`), the problem list, the field parsers,
the reading of rows with the header check, the duplicate-key check, the spool, and the
bounded writes.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import os
import pickle
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from rules_compiled.limits import REGION, TextField
from rules_compiled.model import EPOCH, NONE

__all__ = [
    "ERRORS_LISTED_MAX",
    "LoadReport",
]

# List separators inside one field (documented in docs/csv-formats.md).
LIST_SEP = ";"  # between chronic registrations
PART_SEP = ":"  # between the parts of one registration
CODE_SEP = "|"  # between codes: remote institutions, settings, practitioners

ERRORS_LISTED_MAX = 100  # problems listed in a report; the rest are counted
PIPELINES_IN_FLIGHT_MAX = 4
_VALUE_SHOWN_MAX = 40  # characters of a bad value quoted in a message
_EPOCH_ORDINAL = EPOCH.toordinal()

_T = TypeVar("_T")


# --- reports ---------------------------------------------------------------------------


@dataclass(slots=True)
class LoadReport:
    """Outcome of one load: rows written, or the problems that stopped it."""

    kind: str  # members | institutions | catalogue
    path: str
    rows_loaded: int = 0
    errors: list[str] = field(default_factory=list)  # at most ERRORS_LISTED_MAX
    errors_total: int = 0
    bad_rows: int = 0  # data rows with at least one problem
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.errors_total == 0

    def error_lines(self) -> list[str]:
        """The listed problems, plus a line counting those left off."""
        rest = self.errors_total - len(self.errors)
        return self.errors + ([f"... and {rest} more problems"] if rest > 0 else [])


class _Problems:
    """Collects ``FILE:LINE: COLUMN: PROBLEM`` messages, listing at most ERRORS_LISTED_MAX."""

    __slots__ = ("bad_lines", "label", "listed", "total")

    def __init__(self, label: str) -> None:
        self.label = label
        self.listed: list[str] = []
        self.total = 0
        self.bad_lines: set[int] = set()

    def add(self, line: int, column: str, problem: str) -> None:
        self.total += 1
        if line > 1:
            self.bad_lines.add(line)
        if len(self.listed) < ERRORS_LISTED_MAX:
            where = f"{self.label}:{line}: " if line else f"{self.label}: "
            what = f"{column}: " if column else ""
            self.listed.append(f"{where}{what}{problem}")

    def fill(self, report: LoadReport) -> None:
        report.errors, report.errors_total = self.listed, self.total
        report.bad_rows = len(self.bad_lines)


def _shown(value: str) -> str:
    if len(value) > _VALUE_SHOWN_MAX:
        value = value[:_VALUE_SHOWN_MAX] + "..."
    return repr(value)


# --- field parsers: return the value, or report and return None ------------------------


class _Fields:
    """Per-file parsing helpers with caches (dates and enums repeat a lot)."""

    def __init__(self, problems: _Problems) -> None:
        self.problems = problems
        self._days: dict[str, int] = {}
        self.line = 0

    def bad(self, column: str, problem: str) -> None:
        self.problems.add(self.line, column, problem)

    def day(self, column: str, text: str, *, required: bool) -> int | None:
        """Day number (days since 1970-01-01) of a ``YYYY-MM-DD`` date; -1 when empty."""
        day = self._days.get(text)
        if day is not None:
            return day
        if not text:
            if required:
                self.bad(column, "required")
                return None
            return NONE
        if len(text) != 10 or text[4] != "-" or text[7] != "-":
            self.bad(column, f"not a YYYY-MM-DD date: {_shown(text)}")
            return None
        try:
            day = dt.date.fromisoformat(text).toordinal() - _EPOCH_ORDINAL
        except ValueError:
            self.bad(column, f"not a valid date: {_shown(text)}")
            return None
        self._days[text] = day
        return day

    def count(self, column: str, text: str, *, maximum: int, empty: int | None) -> int | None:
        """A non-negative integer up to ``maximum``; ``empty`` when the field is empty
        (``None``: the field is required)."""
        if text.isdigit() and text.isascii() and len(text) <= 16:
            value = int(text)
            if value <= maximum:
                return value
            self.bad(column, f"more than {maximum}: {text}")
            return None
        if not text:
            if empty is None:
                self.bad(column, "required")
            return empty
        if text[0] == "-" and text[1:].isdigit() and text[1:].isascii():
            self.bad(column, f"must not be negative: {_shown(text)}")
        else:
            self.bad(column, f"not an integer: {_shown(text)}")
        return None

    def enum(
        self, column: str, text: str, names: dict[str, _T], *, empty: _T | None = None
    ) -> _T | None:
        value = names.get(text)
        if value is not None:
            return value
        if not text and empty is not None:
            return empty
        if not text:
            self.bad(column, "required")
        else:
            self.bad(column, f"unknown value {_shown(text)}; one of {'|'.join(names)}")
        return None

    def code(self, column: str, text: str, spec: TextField) -> str | None:
        """A text field held to its one definition (``rules_compiled/limits.py``)."""
        problem = spec.problem(text)
        if problem is None:
            return text
        self.bad(column, problem if problem == "required" else f"{problem}: {_shown(text)}")
        return None

    def text(self, column: str, text: str) -> str | None:
        if text.strip():
            return text
        self.bad(column, "required")
        return None

    def region(self, column: str, text: str) -> str | None:
        return self.code(column, text, REGION)

    def codes(self, column: str, text: str, spec: TextField) -> list[str] | None:
        """``A|B|C``; empty: none."""
        if not text:
            return []
        out: list[str] = []
        for part in text.split(CODE_SEP):
            if self.code(column, part, spec) is None:
                return None
            out.append(part)
        if len(set(out)) != len(out):
            self.bad(column, f"a code is listed twice: {_shown(text)}")
            return None
        return out

    def period(self, column: str, what: str, start: str, end: str) -> tuple[int, int] | None:
        a = self.day(column, start, required=True)
        b = self.day(column, end, required=True)
        if a is None or b is None:
            return None
        if a > b:
            self.bad(column, f"{what}: valid_from {start} is after valid_to {end}")
            return None
        return a, b


def _names(enum: Iterable[Any]) -> dict[str, Any]:
    return {member.name: member for member in enum}


# --- reading a CSV file -----------------------------------------------------------------


def _rows(
    path: Path, columns: tuple[str, ...], problems: _Problems
) -> Iterator[tuple[int, list[str]]]:
    """(line, row) of every data row with the right number of fields.

    Checks the header (exact names, in order); reports rows of the wrong width,
    a file that is not UTF-8, and a file with no header. Empty lines are skipped.
    """
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as e:
        problems.add(0, "", f"cannot open: {e.strerror or e}")
        return
    width = len(columns)
    with handle:
        reader = csv.reader(handle, strict=True)
        end = 0
        try:
            header = next(reader, None)
            if header is None:
                problems.add(1, "", f"empty file; expected the header {','.join(columns)}")
                return
            end = reader.line_num
            if tuple(header) != columns:
                problems.add(1, "", _header_problem(header, columns))
                return
            for row in reader:
                line, end = end + 1, reader.line_num
                if len(row) == width:
                    yield line, row
                elif row:
                    problems.add(line, "", f"expected {width} fields, found {len(row)}")
        except UnicodeDecodeError as e:
            problems.add(end + 1, "", f"not UTF-8 text: {e.reason}")
        except csv.Error as e:
            problems.add(end + 1, "", f"malformed CSV: {e}")


def _header_problem(header: list[str], columns: tuple[str, ...]) -> str:
    missing = [c for c in columns if c not in header]
    unknown = [c for c in header if c not in columns]
    parts = []
    if missing:
        parts.append(f"missing columns {','.join(missing)}")
    if unknown:
        parts.append(f"unknown columns {','.join(map(_shown, unknown))}")
    if not parts:
        parts.append("columns out of order")
    return f"bad header ({'; '.join(parts)}); expected {','.join(columns)}"


class _Duplicates:
    """Key -> first line, to refuse a key given twice in one file."""

    __slots__ = ("_first_line", "column")

    def __init__(self, column: str) -> None:
        self.column = column
        self._first_line: dict[str, int] = {}

    def check(self, fields: _Fields, key: str) -> bool:
        first = self._first_line.setdefault(key, fields.line)
        if first == fields.line:
            return True
        fields.bad(self.column, f"duplicate {_shown(key)}, first on line {first}")
        return False


# --- the spool and the writes ------------------------------------------------------------


def _spooled_chunks(spool: IO[bytes]) -> Iterator[list[Any]]:
    spool.seek(0)
    while True:
        try:
            yield pickle.load(spool)
        except EOFError:
            return


async def _bounded_writes(
    chunks: Iterable[_T], send: Callable[[_T], Coroutine[Any, Any, int]],
) -> int:
    """``send`` every chunk, PIPELINES_IN_FLIGHT_MAX at a time; the rows written. On any
    failure the chunks still in flight are cancelled and the error raised."""
    written = 0
    in_flight: set[asyncio.Task[int]] = set()
    try:
        for chunk in chunks:
            if len(in_flight) >= PIPELINES_IN_FLIGHT_MAX:
                done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                written += sum(task.result() for task in done)
            in_flight.add(asyncio.create_task(send(chunk)))
        if in_flight:
            done, in_flight = await asyncio.wait(in_flight)
            written += sum(task.result() for task in done)
    except BaseException:
        for task in in_flight:
            task.cancel()
        raise
    return written


_NOT_SEEDED = (
    "no policy in Redis (ref:policy): run `claimgate seed` or load a policy first; "
    "nothing was loaded"
)


def write_csv(path: str | os.PathLike[str], columns: Sequence[str],
              rows: Iterable[Sequence[object]]) -> int:
    """A file in a load format: the header, then the rows (each as many as the columns);
    returns the number of rows."""
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            assert len(row) == len(columns), row
            writer.writerow(row)
            count += 1
    return count
