"""Loading members' year-to-date state from CSV, for going live during a benefit year:
``claimgate load accumulators|fills|charges FILE.csv``; exporting it, and writing it in
the same format.

The state that earlier claims, settled on another system, would have left here. Every
row names a member that must already be in Redis (``load members`` first); the whole
file is validated (:mod:`gateway.load_csv`), and every member checked (pipelined
``EXISTS``, nothing written), before the first write. A row is written by
``scripts/load_state.lua``, which in the same step moves the member's state version
forward. State writes set values, so re-running the same file after a Redis failure
finishes the job.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import pickle
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO

from redis.exceptions import RedisError

from gateway.fastredis import Script
from gateway.keys import MemberKeys, dup_key, member_key, partition_of
from gateway.load_csv import (
    _NOT_SEEDED,
    LoadReport,
    _bounded_writes,
    _Duplicates,
    _Fields,
    _Problems,
    _rows,
    _shown,
    _spooled_chunks,
    write_csv,
)
from gateway.store import ACCUMULATORS, Store
from gateway.validate import today
from rules_compiled.limits import (
    DATE_MIN,
    DAYS_SUPPLY_MAX,
    FEN_MAX,
    FUTURE_DAYS_MAX,
    INSTITUTION_CODE,
    ITEM_CODE,
    PRESCRIPTION_NO,
    PSN_NO,
)
from rules_compiled.model import ItemKind, day_number, from_day_number

__all__ = [
    "ACCUMULATOR_FILE_COLUMNS",
    "CHARGE_COLUMNS",
    "FILL_COLUMNS",
    "LOADED_CHARGE",
    "MemberStateRows",
    "export_member_state",
    "load_accumulators_csv",
    "load_charges_csv",
    "load_fills_csv",
    "write_state_csv",
]

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
    return write_csv(path, _STATE_FILE_COLUMNS[kind], rows)
