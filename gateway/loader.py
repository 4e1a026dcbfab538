"""Bulk loading from CSV: ``claimgate load members|institutions|catalogue FILE.csv``, and
for going live during a benefit year ``claimgate load accumulators|fills|charges FILE.csv``.

The column layout of every file is in ``docs/csv-formats.md``; the column tuples
below (:data:`MEMBER_COLUMNS`, ...) are the single source of truth for it.

A load is two passes, so that a bad file never leaves Redis half-loaded:

1. **Validate** the whole file: every row is parsed and checked, duplicate keys
   (``psn_no`` / ``code``) are refused, and every problem is reported as
   ``FILE:LINE: COLUMN: PROBLEM`` (the header is line 1). Member rows that pass
   are serialised right away into compact records (Redis key, profile JSON,
   balances) and spooled to an anonymous temporary file in chunks, so memory
   stays bounded whatever the file size.
2. **Write**, only when pass 1 found nothing wrong: members as pipelined
   upserts (a few pipelines in flight, so packing the next batch overlaps Redis
   executing the previous one); institutions or the catalogue by replacing
   their reference hash, keeping the policy and the other reference part.

The state loads (accumulators, fills, charges) check, between the two passes,
that every row's member is in Redis (pipelined ``EXISTS``, nothing written), and
write each row with ``scripts/load_state.lua``, which also moves the member's
state version forward.

If Redis itself fails during pass 2 some members may be written and others
not; member writes are idempotent upserts and state writes set values, so
re-running the same file finishes the job.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO, Any, TypeVar

import orjson
from redis.exceptions import RedisError

from gateway.config import Config
from gateway.domain import ChronicRegistration, Institution, Member, RemoteRegistration
from gateway.fastredis import Script
from gateway.journal import record_admin
from gateway.progress import counted
from gateway.store import ACCUMULATORS, MemberKeys, Store, dup_key, member_key, partition_of
from gateway.validate import today
from rules_compiled.catalogue import CATALOGUE_COLUMNS
from rules_compiled.limits import (
    AGE_YEARS_MAX,
    BP_MAX,
    CARD_NO,
    DATE_MIN,
    DAYS_SUPPLY_MAX,
    DIAGNOSIS_CODE,
    FEN_MAX,
    FUTURE_DAYS_MAX,
    INSTITUTION_CODE,
    ITEM_CODE,
    PRACTITIONER_CODE,
    PRESCRIPTION_NO,
    PSN_NO,
    REGION,
    REMOTE_INSTITUTIONS_MAX,
    TextField,
)
from rules_compiled.model import (
    EPOCH,
    NONE,
    Assistance,
    CardStatus,
    CatalogueItem,
    InstitutionKind,
    InstitutionStatus,
    ItemClass,
    ItemKind,
    MemberStatus,
    PersonType,
    Scheme,
    Setting,
    Sex,
    SupplyClass,
    day_number,
    from_day_number,
)

__all__ = [
    "ACCUMULATOR_FILE_COLUMNS",
    "CATALOGUE_COLUMNS",
    "CHARGE_COLUMNS",
    "ERRORS_LISTED_MAX",
    "FILL_COLUMNS",
    "INSTITUTION_COLUMNS",
    "LOADED_CHARGE",
    "MEMBER_COLUMNS",
    "LoadReport",
    "MemberStateRows",
    "export_member_state",
    "load_accumulators_csv",
    "load_catalogue_csv",
    "load_charges_csv",
    "load_fills_csv",
    "load_institutions_csv",
    "load_main",
    "load_members_csv",
    "write_catalogue_csv",
    "write_institutions_csv",
    "write_members_csv",
    "write_state_csv",
]

MEMBER_COLUMNS: tuple[str, ...] = (
    "psn_no",
    "name",
    "sex",
    "birth_date",
    "scheme",
    "person_type",
    "insured_region",
    "status",
    "benefit_start",
    "card_no",
    "card_status",
    "assistance",
    "work_start_date",
    "retire_date",
    "acct_current_fen",
    "acct_prior_fen",
    "chronic",
    "remote",
)
INSTITUTION_COLUMNS: tuple[str, ...] = (
    "code",
    "name",
    "kind",
    "level",
    "region",
    "status",
    "suspended_practitioners",
)

# List separators inside one field (documented in docs/csv-formats.md).
LIST_SEP = ";"  # between chronic registrations
PART_SEP = ":"  # between the parts of one registration
CODE_SEP = "|"  # between codes: remote institutions, settings, practitioners

ERRORS_LISTED_MAX = 100  # problems listed in a report; the rest are counted
MEMBER_BATCH = 2000  # members per pipeline
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


_SEX = _names(Sex)
_SEX_RESTRICTION = {"MALE": Sex.MALE, "FEMALE": Sex.FEMALE}  # catalogue: empty = none
_SCHEME = _names(Scheme)
_PERSON_TYPE = _names(PersonType)
_MEMBER_STATUS = _names(MemberStatus)
_CARD_STATUS = _names(CardStatus)
_ASSISTANCE = _names(Assistance)
_INST_KIND = _names(InstitutionKind)
_INST_STATUS = _names(InstitutionStatus)
_ITEM_KIND = _names(ItemKind)
_ITEM_CLASS = _names(ItemClass)
_SETTING = _names(Setting)
_SUPPLY = {"ACUTE": SupplyClass.ACUTE, "CHRONIC": SupplyClass.CHRONIC}  # empty = NONE
_SCHEME_PERSON_TYPES = {
    Scheme.EMP: (PersonType.ACTIVE, PersonType.RETIRED),
    Scheme.RES: (PersonType.ADULT, PersonType.STUDENT),
}


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


# --- members ------------------------------------------------------------------------------

# A validated member ready to write: key, profile JSON, current and prior balances (fen).
_MemberRecord = tuple[str, bytes, int, int]


def _parse_chronic(f: _Fields, text: str) -> list[list[Any]] | None:
    """``CODE:FROM:TO;CODE:FROM:TO`` -> ``[[code, from_day, to_day], ...]``."""
    if not text:
        return []
    out: list[list[Any]] = []
    for item in text.split(LIST_SEP):
        parts = item.split(PART_SEP)
        if len(parts) != 3:
            f.bad("chronic", f"expected DISEASE:FROM:TO, found {_shown(item)}")
            return None
        code = f.code("chronic", parts[0], DIAGNOSIS_CODE)
        period = f.period("chronic", parts[0], parts[1], parts[2])
        if code is None or period is None:
            return None
        out.append([code, period[0], period[1]])
    return out


def _parse_remote(f: _Fields, text: str) -> list[Any] | bool | None:
    """``INST|INST:FROM:TO`` -> ``[[codes], from_day, to_day]``; ``None`` when empty,
    ``False`` when bad."""
    if not text:
        return None
    parts = text.split(PART_SEP)
    if len(parts) != 3:
        f.bad("remote", f"expected INSTITUTION|...:FROM:TO, found {_shown(text)}")
        return False
    codes = f.codes("remote", parts[0], INSTITUTION_CODE)
    if codes is None:
        return False
    if not 1 <= len(codes) <= REMOTE_INSTITUTIONS_MAX:
        f.bad("remote", f"1 to {REMOTE_INSTITUTIONS_MAX} institutions, found {len(codes)}")
        return False
    period = f.period("remote", "remote", parts[1], parts[2])
    if period is None:
        return False
    return [codes, period[0], period[1]]


def _parse_member(f: _Fields, row: list[str]) -> _MemberRecord | None:
    """One member row -> its record, with the profile serialised exactly as
    :func:`gateway.store.member_profile_json` does (a test holds them equal)."""
    (
        psn_no,
        name,
        sex_s,
        birth_s,
        scheme_s,
        ptype_s,
        region_s,
        status_s,
        bstart_s,
        card_s,
        card_status_s,
        assist_s,
        work_s,
        retire_s,
        cur_s,
        pri_s,
        chronic_s,
        remote_s,
    ) = row
    before = f.problems.total
    psn = f.code("psn_no", psn_no, PSN_NO)
    f.text("name", name)
    sex = f.enum("sex", sex_s, _SEX)
    birth = f.day("birth_date", birth_s, required=True)
    scheme = f.enum("scheme", scheme_s, _SCHEME)
    ptype = f.enum("person_type", ptype_s, _PERSON_TYPE)
    region = f.region("insured_region", region_s)
    status = f.enum("status", status_s, _MEMBER_STATUS)
    bstart = f.day("benefit_start", bstart_s, required=True)
    f.code("card_no", card_s, CARD_NO)
    card_status = f.enum("card_status", card_status_s, _CARD_STATUS)
    assist = f.enum("assistance", assist_s, _ASSISTANCE, empty=Assistance.NONE)
    work = f.day("work_start_date", work_s, required=False)
    retire = f.day("retire_date", retire_s, required=False)
    cur_fen = f.count("acct_current_fen", cur_s, maximum=FEN_MAX, empty=0)
    pri_fen = f.count("acct_prior_fen", pri_s, maximum=FEN_MAX, empty=0)
    chronic = _parse_chronic(f, chronic_s)
    remote = _parse_remote(f, remote_s)
    if scheme is not None and ptype is not None and ptype not in _SCHEME_PERSON_TYPES[scheme]:
        f.bad("person_type", f"{ptype.name} is not a person type of scheme {scheme.name}")
    if ptype is PersonType.RETIRED and not retire_s:
        f.bad("retire_date", "required for a RETIRED member")
    elif ptype is not None and ptype is not PersonType.RETIRED and retire_s:
        f.bad("retire_date", f"must be empty for a {ptype.name} member")
    if f.problems.total != before or psn is None:
        return None
    profile = orjson.dumps(
        {
            "name": name,
            "sex": int(sex),  # type: ignore[arg-type]
            "birth": birth,
            "scheme": int(scheme),  # type: ignore[arg-type]
            "ptype": int(ptype),  # type: ignore[arg-type]
            "region": region,
            "status": int(status),  # type: ignore[arg-type]
            "bstart": bstart,
            "card": card_s,
            "card_status": int(card_status),  # type: ignore[arg-type]
            "assist": int(assist),  # type: ignore[arg-type]
            "work": work if work_s else None,  # JSON null: no date
            "retire": retire if retire_s else None,
            "chronic": chronic,
            "remote": remote,
        }
    )
    return member_key(psn), profile, cur_fen, pri_fen  # type: ignore[return-value]


def _validate_members(path: Path, problems: _Problems, spool: IO[bytes]) -> int:
    """Pass 1: validate every row; while the file is clean so far, spool the records in
    pickled chunks of MEMBER_BATCH. Returns the number of valid rows."""
    f = _Fields(problems)
    seen = _Duplicates("psn_no")
    chunk: list[_MemberRecord] = []
    valid = 0
    for line, row in _rows(path, MEMBER_COLUMNS, problems):
        f.line = line
        record = _parse_member(f, row)
        if not seen.check(f, row[0]) or record is None:
            continue
        valid += 1
        if problems.total:
            continue  # nothing will be written: stop spooling, keep validating
        chunk.append(record)
        if len(chunk) >= MEMBER_BATCH:
            pickle.dump(chunk, spool, protocol=pickle.HIGHEST_PROTOCOL)
            chunk = []
    if chunk and not problems.total:
        pickle.dump(chunk, spool, protocol=pickle.HIGHEST_PROTOCOL)
    return valid


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


async def _write_members(store: Store, chunks: Iterable[list[_MemberRecord]]) -> int:
    """Pass 2: pipelined upserts, PIPELINES_IN_FLIGHT_MAX batches in flight.

    Each member: HSET profile and balances, then HINCRBY its state version, so a
    claim adjudicated on the member's previous state fails its commit (STALE) and
    is retried on the loaded one. Accumulators, fills and duplicate keys are kept.
    """
    client = store.client

    async def send(chunk: list[_MemberRecord]) -> int:
        pipe = client.pipeline(transaction=False)
        command = pipe.execute_command
        for key, profile, cur_fen, pri_fen in chunk:
            command("HSET", key, "p", profile, "cur", cur_fen, "pri", pri_fen)
            command("HINCRBY", key, "ver", 1)
        await pipe.execute()
        return len(chunk)

    return await _bounded_writes(chunks, send)


async def load_members_csv(store: Store, path: str | os.PathLike[str]) -> LoadReport:
    """Validate the whole members file, then upsert every member (nothing on a bad file).

    Raises :class:`redis.exceptions.RedisError` when Redis fails while writing; the
    members written so far stay (re-running the same file finishes the job).
    """
    t0 = time.perf_counter()
    file = Path(path)
    report = LoadReport("members", str(path))
    problems = _Problems(str(path))
    with tempfile.TemporaryFile(prefix="claimgate-load-") as spool:
        # Parsing is CPU-bound: run it off the event loop.
        valid = await asyncio.to_thread(_validate_members, file, problems, spool)
        problems.fill(report)
        if report.ok:
            report.rows_loaded = await _write_members(store, counted(
                _spooled_chunks(spool), "load members", valid, weight=len, unit="members"))
            assert report.rows_loaded == valid, (report.rows_loaded, valid)
    report.elapsed_s = time.perf_counter() - t0
    return report


# --- institutions and catalogue ------------------------------------------------------------


def _parse_institution(f: _Fields, row: list[str]) -> Institution | None:
    code_s, name, kind_s, level_s, region_s, status_s, suspended_s = row
    before = f.problems.total
    code = f.code("code", code_s, INSTITUTION_CODE)
    f.text("name", name)
    kind = f.enum("kind", kind_s, _INST_KIND)
    level = f.count("level", level_s, maximum=3, empty=None)
    region = f.region("region", region_s)
    status = f.enum("status", status_s, _INST_STATUS, empty=InstitutionStatus.DESIGNATED)
    suspended = f.codes("suspended_practitioners", suspended_s, PRACTITIONER_CODE)
    if kind is InstitutionKind.PHARMACY and level not in (0, None):
        f.bad("level", "must be 0 for a PHARMACY")
    elif kind is not None and kind is not InstitutionKind.PHARMACY and level == 0:
        f.bad("level", f"must be 1, 2 or 3 for a {kind.name}")
    if f.problems.total != before:
        return None
    assert code is not None and kind is not None and level is not None
    assert region is not None and status is not None and suspended is not None
    return Institution(code, name, kind, level, region, status, frozenset(suspended))


def _parse_catalogue_item(f: _Fields, row: list[str]) -> CatalogueItem | None:
    (
        code_s,
        name,
        kind_s,
        class_s,
        cap_s,
        pre_s,
        sex_s,
        age_min_s,
        age_max_s,
        settings_s,
        supply_s,
        ovr_emp_s,
        ovr_res_s,
        chronic_s,
    ) = row
    before = f.problems.total
    code = f.code("code", code_s, ITEM_CODE)
    f.text("name", name)
    kind = f.enum("kind", kind_s, _ITEM_KIND)
    item_class = f.enum("item_class", class_s, _ITEM_CLASS)
    cap_fen = f.count("price_cap_fen", cap_s, maximum=FEN_MAX, empty=NONE)
    pre_bp = f.count("preselfpay_bp", pre_s, maximum=BP_MAX, empty=0)
    sex = f.enum("sex", sex_s, _SEX_RESTRICTION, empty=Sex.UNKNOWN)
    age_min = f.count("age_min", age_min_s, maximum=AGE_YEARS_MAX, empty=NONE)
    age_max = f.count("age_max", age_max_s, maximum=AGE_YEARS_MAX, empty=NONE)
    settings: list[Setting] | None = []
    if settings_s:
        parsed = [f.enum("settings", s, _SETTING) for s in settings_s.split(CODE_SEP)]
        settings = [s for s in parsed if s is not None]
        if len(settings) != len(parsed):
            settings = None
        elif len(set(settings)) != len(settings):
            f.bad("settings", f"a setting is listed twice: {_shown(settings_s)}")
    supply = f.enum("supply_class", supply_s, _SUPPLY, empty=SupplyClass.NONE)
    ovr_emp = f.count("override_bp_emp", ovr_emp_s, maximum=BP_MAX, empty=NONE)
    ovr_res = f.count("override_bp_res", ovr_res_s, maximum=BP_MAX, empty=NONE)
    if chronic_s:
        f.code("chronic_disease", chronic_s, DIAGNOSIS_CODE)
    if age_min is not None and age_max is not None and NONE not in (age_min, age_max):
        if age_min > age_max:
            f.bad("age_max", f"age_min {age_min} is above age_max {age_max}")
    if f.problems.total != before:
        return None
    assert code is not None and kind is not None and item_class is not None
    assert cap_fen is not None and pre_bp is not None and sex is not None
    assert age_min is not None and age_max is not None and settings is not None
    assert supply is not None and ovr_emp is not None and ovr_res is not None
    return CatalogueItem(
        code=code,
        name=name,
        kind=kind,
        item_class=item_class,
        price_cap_fen=cap_fen,
        preselfpay_bp=pre_bp,
        sex=sex,
        age_min=age_min,
        age_max=age_max,
        settings=frozenset(settings),
        supply_class=supply,
        override_bp_emp=ovr_emp,
        override_bp_res=ovr_res,
        chronic_disease=chronic_s,
    )


def _validate_reference(
    path: Path,
    columns: tuple[str, ...],
    parse: Callable[[_Fields, list[str]], _T | None],
    problems: _Problems,
    what: str,
) -> list[_T]:
    f = _Fields(problems)
    seen = _Duplicates("code")
    out: list[_T] = []
    for line, row in _rows(path, columns, problems):
        f.line = line
        value = parse(f, row)
        if seen.check(f, row[0]) and value is not None:
            out.append(value)
    if not out and not problems.total:
        problems.add(0, "", f"no data rows: refusing to replace the {what} with an empty one")
    return out


_NOT_SEEDED = (
    "no policy in Redis (ref:policy): run `claimgate seed` or load a policy first; "
    "nothing was loaded"
)


async def _load_reference_part(store: Store, path: str | os.PathLike[str], kind: str) -> LoadReport:
    t0 = time.perf_counter()
    report = LoadReport(kind, str(path))
    problems = _Problems(str(path))
    items: list[Any]
    if kind == "institutions":
        items = _validate_reference(
            Path(path), INSTITUTION_COLUMNS, _parse_institution, problems, "institutions"
        )
    else:
        items = _validate_reference(
            Path(path), CATALOGUE_COLUMNS, _parse_catalogue_item, problems, "catalogue"
        )
    problems.fill(report)
    if report.ok:
        current = await store.load_reference()
        if current is None:
            report.errors, report.errors_total = [_NOT_SEEDED], 1
        else:
            await store.save_reference(
                policy_version=current.policy_version,
                policy_text=current.policy_text,
                catalogue=items if kind == "catalogue" else current.catalogue,
                institutions=items if kind == "institutions" else current.institutions.values(),
            )
            report.rows_loaded = len(items)
    report.elapsed_s = time.perf_counter() - t0
    return report


async def load_institutions_csv(store: Store, path: str | os.PathLike[str]) -> LoadReport:
    """Validate the file, then replace ``ref:institutions`` (policy and catalogue kept).

    Refused when Redis holds no policy yet. Running gateways pick the new
    reference up on their next reload.
    """
    return await _load_reference_part(store, path, "institutions")


async def load_catalogue_csv(store: Store, path: str | os.PathLike[str]) -> LoadReport:
    """Validate the file, then replace ``ref:catalogue`` (policy and institutions kept).

    Refused when Redis holds no policy yet.
    """
    return await _load_reference_part(store, path, "catalogue")


# --- year-to-date state: accumulators, last fills, settled charges ---------------------------
#
# For going live during a benefit year: the state that earlier claims, settled on another
# system, would have left here. Every row names a member that must already be in Redis
# (``load members`` first); the whole file is validated, and every member checked, before
# the first write. A row is written by a script that, in the same step, moves the member's
# state version forward (``scripts/load_state.lua``).

ACCUMULATOR_FILE_COLUMNS: tuple[str, ...] = (
    "psn_no",
    "year",
    "band_used_fen",
    "deductible_paid_fen",
    "pooled_paid_fen",
    "banded_cost_fen",
    "assistance_paid_fen",
    "outpatient_fund_paid_fen",
)
# CSV column -> the accumulator's name in the store (``y<year>:<name>``).
_ACCUMULATOR_NAMES = dict(zip(ACCUMULATOR_FILE_COLUMNS[2:], ACCUMULATORS, strict=True))
FILL_COLUMNS: tuple[str, ...] = ("psn_no", "item_code", "fill_date", "days_supply")
CHARGE_COLUMNS: tuple[str, ...] = (
    "psn_no",
    "institution_code",
    "item_code",
    "service_date",
    "prescription_no",
)
LOADED_CHARGE = "LOADED"  # the duplicate-charge value of a charge settled elsewhere
STATE_BATCH = 20_000  # rows per chunk: ~20 per partition, written by one script call

# A validated row ready to write: line, psn_no, the hash written, (field, value) pairs.
_StateRecord = tuple[int, str, str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class _StateReference:
    """What the state rows are checked against: drugs of the catalogue, institutions."""

    drugs: frozenset[str]
    institutions: frozenset[str]


def _service_day(f: _Fields, column: str, text: str) -> int | None:
    """A service date: the wire's range, DATE_MIN to today plus the allowed clock skew."""
    day = f.day(column, text, required=True)
    if day is None:
        return None
    last = today() + dt.timedelta(days=FUTURE_DAYS_MAX)
    if not day_number(DATE_MIN) <= day <= day_number(last):
        f.bad(column, f"out of range {DATE_MIN} to {last}: {text}")
        return None
    return day


def _parse_accumulators(
    f: _Fields, row: list[str], _ref: _StateReference
) -> tuple[str, str, str, tuple[str, ...]] | None:
    psn_s, year_s, *amounts_s = row
    before = f.problems.total
    psn = f.code("psn_no", psn_s, PSN_NO)
    year = f.count("year", year_s, maximum=9999, empty=None)
    if year is not None and not DATE_MIN.year <= year <= today().year:
        f.bad("year", f"out of range {DATE_MIN.year} to {today().year}: {year}")
    pairs: list[str] = []
    for column, text in zip(ACCUMULATOR_FILE_COLUMNS[2:], amounts_s, strict=True):
        fen = f.count(column, text, maximum=FEN_MAX, empty=0)
        if fen is not None:
            # A zero accumulator is an absent field, as a reversal leaves it.
            pairs += [f"y{year}:{_ACCUMULATOR_NAMES[column]}", str(fen) if fen else ""]
    if f.problems.total != before or psn is None:
        return None
    return psn, f"{psn}\x1f{year}", member_key(psn), tuple(pairs)


def _parse_fill(
    f: _Fields, row: list[str], ref: _StateReference
) -> tuple[str, str, str, tuple[str, ...]] | None:
    psn_s, item_s, date_s, days_s = row
    before = f.problems.total
    psn = f.code("psn_no", psn_s, PSN_NO)
    item = f.code("item_code", item_s, ITEM_CODE)
    if item is not None and item not in ref.drugs:
        f.bad("item_code", f"not a DRUG of the catalogue: {_shown(item)}")
    day = _service_day(f, "fill_date", date_s)
    days = f.count("days_supply", days_s, maximum=DAYS_SUPPLY_MAX, empty=None)
    if days == 0:
        f.bad("days_supply", "must be at least 1")
    if f.problems.total != before or psn is None:
        return None
    return psn, f"{psn_s}\x1f{item_s}", MemberKeys.of(psn).fills, (item_s, f"{day}:{days}")


def _parse_charge(
    f: _Fields, row: list[str], ref: _StateReference
) -> tuple[str, str, str, tuple[str, ...]] | None:
    psn_s, inst_s, item_s, date_s, rx_s = row
    before = f.problems.total
    psn = f.code("psn_no", psn_s, PSN_NO)
    inst = f.code("institution_code", inst_s, INSTITUTION_CODE)
    if inst is not None and inst not in ref.institutions:
        f.bad("institution_code", f"not an institution in Redis: {_shown(inst)}")
    f.code("item_code", item_s, ITEM_CODE)
    day = _service_day(f, "service_date", date_s)
    if rx_s:
        f.code("prescription_no", rx_s, PRESCRIPTION_NO)
    if f.problems.total != before or psn is None or day is None:
        return None
    return psn, "", MemberKeys.of(psn).dups, (dup_key(inst_s, item_s, day, rx_s), LOADED_CHARGE)


_StateParser = Callable[
    [_Fields, list[str], _StateReference], tuple[str, str, str, tuple[str, ...]] | None
]
# kind -> (columns, row parser, the column named when a row's key repeats)
_STATE_KINDS: dict[str, tuple[tuple[str, ...], _StateParser, str]] = {
    "accumulators": (ACCUMULATOR_FILE_COLUMNS, _parse_accumulators, "year"),
    "fills": (FILL_COLUMNS, _parse_fill, "item_code"),
    "charges": (CHARGE_COLUMNS, _parse_charge, ""),  # a charge given twice is stored once
}


def _validate_state(
    kind: str, path: Path, ref: _StateReference, problems: _Problems, spool: IO[bytes]
) -> int:
    """Pass 1: validate every row, spooling records in pickled chunks while the file is
    clean. A key given twice (member and year, member and drug) is refused."""
    columns, parse, key_column = _STATE_KINDS[kind]
    f = _Fields(problems)
    seen = _Duplicates(key_column)
    chunk: list[_StateRecord] = []
    valid = 0
    for line, row in _rows(path, columns, problems):
        f.line = line
        parsed = parse(f, row, ref)
        if parsed is None:
            continue
        psn, unique, target, pairs = parsed
        if key_column and not seen.check(f, unique):
            continue
        valid += 1
        if problems.total:
            continue
        chunk.append((line, psn, target, pairs))
        if len(chunk) >= STATE_BATCH:
            pickle.dump(chunk, spool, protocol=pickle.HIGHEST_PROTOCOL)
            chunk = []
    if chunk and not problems.total:
        pickle.dump(chunk, spool, protocol=pickle.HIGHEST_PROTOCOL)
    return valid


async def _check_members_exist(
    store: Store, chunks: Iterable[list[_StateRecord]], problems: _Problems
) -> None:
    """Pass 2: every row's member must be in Redis (``EXISTS``, nothing written). The
    commands of a chunk go out together on the store's pipelining client."""
    fast = store.fast
    for chunk in chunks:
        # One EXISTS per partition (its keys share a slot); it counts the keys that exist,
        # a key named twice counting twice. Only a partition short of members is looked
        # at key by key.
        groups: dict[int, list[tuple[int, str]]] = {}
        for line, psn, _t, _p in chunk:
            groups.setdefault(partition_of(psn), []).append((line, psn))
        rows = list(groups.values())
        counts = await asyncio.gather(*(
            fast.execute(["EXISTS", *(member_key(p) for _l, p in g)], key=member_key(g[0][1]))
            for g in rows
        ))
        for group, count in zip(rows, counts, strict=True):
            if count == len(group):
                continue
            for line, psn in group:
                key = member_key(psn)
                if not await fast.execute(["EXISTS", key], key=key):
                    problems.add(
                        line, "psn_no", f"no member {_shown(psn)} in Redis (load members first)"
                    )


async def _write_state(store: Store, chunks: Iterable[list[_StateRecord]]) -> int:
    """Pass 3: load_state.lua, one call per partition of a chunk's rows,
    PIPELINES_IN_FLIGHT_MAX chunks in flight. The calls of a chunk go out together on
    the store's pipelining client."""
    await store.client.script_load(_LOAD_STATE.text)  # on every master of a cluster
    fast = store.fast

    async def send(chunk: list[_StateRecord]) -> int:
        # One script call per partition: its members' keys share one hash slot.
        groups: dict[int, tuple[list[str], list[str | int]]] = {}
        for _line, psn, target, pairs in chunk:
            keys, args = groups.setdefault(partition_of(psn), ([], []))
            keys += [member_key(psn), target]
            args.append(len(pairs) // 2)
            args += pairs
        replies = await asyncio.gather(*(
            fast.evalsha(_LOAD_STATE, keys, args) for keys, args in groups.values()
        ))
        if sum(int(r) for r in replies) != len(chunk):
            raise RedisError("a member disappeared while its state was loaded")
        return len(chunk)

    return await _bounded_writes(chunks, send)


async def _load_state(store: Store, path: str | os.PathLike[str], kind: str) -> LoadReport:
    t0 = time.perf_counter()
    report = LoadReport(kind, str(path))
    problems = _Problems(str(path))
    current = await store.load_reference()
    if current is None:
        report.errors, report.errors_total = [_NOT_SEEDED], 1
        return report
    ref = _StateReference(
        drugs=frozenset(i.code for i in current.catalogue if i.kind is ItemKind.DRUG),
        institutions=frozenset(current.institutions),
    )
    with tempfile.TemporaryFile(prefix="claimgate-load-") as spool:
        valid = await asyncio.to_thread(_validate_state, kind, Path(path), ref, problems, spool)
        if not problems.total:
            await _check_members_exist(store, _spooled_chunks(spool), problems)
        problems.fill(report)
        if report.ok:
            report.rows_loaded = await _write_state(store, _spooled_chunks(spool))
            assert report.rows_loaded == valid, (report.rows_loaded, valid)
    report.elapsed_s = time.perf_counter() - t0
    return report


async def load_accumulators_csv(store: Store, path: str | os.PathLike[str]) -> LoadReport:
    """Validate the file, then set each listed member's accumulators of the listed year
    (all six; the member's other years are kept). Nothing is written on a bad file or
    when a member is not in Redis."""
    return await _load_state(store, path, "accumulators")


async def load_fills_csv(store: Store, path: str | os.PathLike[str]) -> LoadReport:
    """Validate the file, then set each member's last fill of each listed drug (the
    refill check's state; other drugs' fills are kept)."""
    return await _load_state(store, path, "fills")


async def load_charges_csv(store: Store, path: str | os.PathLike[str]) -> LoadReport:
    """Validate the file, then record each settled charge for the duplicate-charge check
    (charges already recorded are kept)."""
    return await _load_state(store, path, "charges")


_LOAD_STATE = Script(resources.files("gateway").joinpath("scripts", "load_state.lua").read_text())


@dataclass(slots=True)
class MemberStateRows:
    """One member's year-to-date state as rows of the three state files."""

    accumulators: list[tuple[str, ...]] = field(default_factory=list)
    fills: list[tuple[str, ...]] = field(default_factory=list)
    charges: list[tuple[str, ...]] = field(default_factory=list)


async def export_member_state(store: Store, psn_no: str) -> MemberStateRows:
    """The member's accumulators (every year), last fills and settled charges as Redis
    holds them, as rows of ``load accumulators|fills|charges``."""
    keys = MemberKeys.of(psn_no)
    member = _pairs_text(await store.client.hgetall(keys.member))
    fills = _pairs_text(await store.client.hgetall(keys.fills))
    dups = _pairs_text(await store.client.hgetall(keys.dups))
    out = MemberStateRows()
    years = sorted({name[1:].split(":")[0] for name in member if name[:1] == "y" and ":" in name})
    for year in years:
        out.accumulators.append(
            (psn_no, year, *(member.get(f"y{year}:{name}", "0") for name in ACCUMULATORS))
        )
    for item, value in sorted(fills.items()):
        day, days = value.split(":")
        out.fills.append((psn_no, item, _iso_day(int(day)), days))
    for key in sorted(dups):
        # institution and item codes never contain "|" (limits.py), so the split is exact
        inst, item, day, rx = key.split("|", 3)
        out.charges.append((psn_no, inst, item, _iso_day(int(day)), rx))
    return out


def _pairs_text(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


def _iso_day(day: int) -> str:
    return from_day_number(day).isoformat()


_STATE_FILE_COLUMNS = {
    "accumulators": ACCUMULATOR_FILE_COLUMNS,
    "fills": FILL_COLUMNS,
    "charges": CHARGE_COLUMNS,
}


def write_state_csv(
    path: str | os.PathLike[str], kind: str, rows: Iterable[Sequence[object]]
) -> int:
    """Write rows in the ``load accumulators|fills|charges`` format; returns the count."""
    columns = _STATE_FILE_COLUMNS[kind]
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            assert len(row) == len(columns), (kind, row)
            writer.writerow(row)
            count += 1
    return count


# --- writers (export in the same formats) ----------------------------------------------------


def _iso(value: dt.date | None) -> str:
    return "" if value is None else value.isoformat()


def _opt(value: int) -> str:
    return "" if value == NONE else str(value)


def write_members_csv(path: str | os.PathLike[str], members: Iterable[Member]) -> int:
    """Write members in the ``load members`` format; returns the number of rows."""
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(MEMBER_COLUMNS)
        for m in members:
            writer.writerow(
                (
                    m.psn_no,
                    m.name,
                    m.sex.name,
                    m.birth_date.isoformat(),
                    m.scheme.name,
                    m.person_type.name,
                    m.insured_region,
                    m.status.name,
                    m.benefit_start.isoformat(),
                    m.card_no,
                    m.card_status.name,
                    m.assistance.name,
                    _iso(m.work_start_date),
                    _iso(m.retire_date),
                    m.acct_current_fen,
                    m.acct_prior_fen,
                    LIST_SEP.join(_chronic_text(c) for c in m.chronic),
                    "" if m.remote is None else _remote_text(m.remote),
                )
            )
            count += 1
    return count


def _chronic_text(c: ChronicRegistration) -> str:
    return f"{c.disease_code}:{c.valid_from.isoformat()}:{c.valid_to.isoformat()}"


def _remote_text(r: RemoteRegistration) -> str:
    codes = CODE_SEP.join(r.institution_codes)
    return f"{codes}:{r.valid_from.isoformat()}:{r.valid_to.isoformat()}"


def write_institutions_csv(
    path: str | os.PathLike[str], institutions: Iterable[Institution]
) -> int:
    """Write institutions in the ``load institutions`` format; returns the number of rows."""
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(INSTITUTION_COLUMNS)
        for i in institutions:
            writer.writerow(
                (
                    i.code,
                    i.name,
                    i.kind.name,
                    i.level,
                    i.region,
                    i.status.name,
                    CODE_SEP.join(sorted(i.suspended_practitioners)),
                )
            )
            count += 1
    return count


def write_catalogue_csv(path: str | os.PathLike[str], items: Iterable[CatalogueItem]) -> int:
    """Write catalogue items in the ``load catalogue`` format; returns the number of rows."""
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CATALOGUE_COLUMNS)
        for item in items:
            writer.writerow(
                (
                    item.code,
                    item.name,
                    item.kind.name,
                    item.item_class.name,
                    _opt(item.price_cap_fen),
                    item.preselfpay_bp,
                    "" if item.sex is Sex.UNKNOWN else item.sex.name,
                    _opt(item.age_min),
                    _opt(item.age_max),
                    CODE_SEP.join(s.name for s in sorted(item.settings)),
                    "" if item.supply_class is SupplyClass.NONE else item.supply_class.name,
                    _opt(item.override_bp_emp),
                    _opt(item.override_bp_res),
                    item.chronic_disease,
                )
            )
            count += 1
    return count


# --- command line ---------------------------------------------------------------------------

_LOADERS = {
    "members": load_members_csv,
    "institutions": load_institutions_csv,
    "catalogue": load_catalogue_csv,
    "accumulators": load_accumulators_csv,
    "fills": load_fills_csv,
    "charges": load_charges_csv,
}

EXIT_OK = 0
EXIT_REJECTED = 1  # bad file, or no policy for a reference load: nothing was written
EXIT_REDIS_FAILED = 2  # Redis failed while writing: re-run the same file


async def _load(kind: str, path: str, url: str, cluster: bool) -> LoadReport:
    store = Store.from_url(url, cluster=cluster)
    try:
        report = await _LOADERS[kind](store, path)
        if report.ok:
            await record_admin(store, f"LOAD_{kind.upper()}", src=path, rows=report.rows_loaded)
        return report
    finally:
        await store.close()


def _config_from_env() -> Config:
    """The ``CLAIMGATE_*`` settings a load uses (Redis URL, cluster, data dir, fsync)."""
    # Read here rather than with Config.from_env(), which fails as of this writing
    # (its defaults are read from a slots dataclass's class attributes).
    cfg = Config()
    env = os.environ.get
    cfg.redis_url = env("CLAIMGATE_REDIS_URL", cfg.redis_url)
    cfg.redis_cluster = env("CLAIMGATE_REDIS_CLUSTER", "0") in ("1", "true", "yes")
    cfg.data_dir = env("CLAIMGATE_DATA_DIR", cfg.data_dir)
    cfg.appendfsync = env("CLAIMGATE_APPENDFSYNC", cfg.appendfsync)
    return cfg


def load_main(argv: list[str]) -> int:
    """``claimgate load KIND FILE.csv [--redis-url URL] [--redis-cluster]``.

    ``argv`` are the arguments after ``load``. Without a Redis URL (flag or
    ``CLAIMGATE_REDIS_URL``) the private redis-server in the data directory is
    used, as ``claimgate seed`` does.
    """
    defaults = _config_from_env()
    parser = argparse.ArgumentParser(
        prog="claimgate load",
        description="Load members, institutions or the catalogue from a CSV file, or the "
        "year-to-date state of members already loaded (accumulators, last fills, settled "
        "charges) when going live during a benefit year (formats: docs/csv-formats.md). "
        "The whole file is validated first; a file with any bad row loads nothing.",
    )
    parser.add_argument("kind", choices=tuple(_LOADERS), help="what the file holds")
    parser.add_argument("file", help="the CSV file (UTF-8, header row first)")
    parser.add_argument(
        "--redis-url",
        default=defaults.redis_url,
        help="Redis to load into (default: CLAIMGATE_REDIS_URL, else the "
        "private redis-server in --data-dir)",
    )
    parser.add_argument(
        "--redis-cluster",
        action="store_true",
        default=defaults.redis_cluster,
        help="the Redis URL is a node of a Redis Cluster",
    )
    parser.add_argument(
        "--data-dir",
        default=defaults.data_dir,
        help="data dir of the private redis-server (default %(default)s)",
    )
    args = parser.parse_args(argv)

    from gateway.cli import redis_for

    cfg = defaults
    cfg.redis_url, cfg.redis_cluster, cfg.data_dir = (
        args.redis_url,
        args.redis_cluster,
        args.data_dir,
    )
    try:
        with redis_for(cfg) as url:
            report = asyncio.run(_load(args.kind, args.file, url, cfg.redis_cluster))
    except RedisError as e:
        print(
            f"{args.file}: Redis failed while loading {args.kind}: {e}\n"
            "The file was valid; some rows may be written. Loads are upserts and "
            "replacements: re-run the same command to finish.",
            file=sys.stderr,
        )
        return EXIT_REDIS_FAILED
    if not report.ok:
        for message in report.error_lines():
            print(message, file=sys.stderr)
        if report.bad_rows:
            print(f"{args.file}: {report.bad_rows} bad rows; nothing was loaded", file=sys.stderr)
        return EXIT_REJECTED
    print(f"loaded {report.rows_loaded} {args.kind} from {args.file} in {report.elapsed_s:.1f} s")
    return EXIT_OK
