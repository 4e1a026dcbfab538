"""Loading members from CSV: ``claimgate load members FILE.csv``, and writing members in the
same format.

Pass 1 validates every row (:mod:`gateway.load_csv`) and spools compact records (Redis
key, profile JSON, balances); pass 2 writes them as pipelined upserts. If Redis fails
during pass 2 some members may be written and others not; member writes are idempotent
upserts, so re-running the same file finishes the job.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import pickle
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import orjson

from gateway.domain import ChronicRegistration, Member, RemoteRegistration
from gateway.keys import member_key
from gateway.load_csv import (
    CODE_SEP,
    LIST_SEP,
    PART_SEP,
    LoadReport,
    _bounded_writes,
    _Duplicates,
    _Fields,
    _names,
    _Problems,
    _rows,
    _shown,
    _spooled_chunks,
    write_csv,
)
from gateway.progress import counted
from gateway.store import Store
from rules_compiled.limits import (
    CARD_NO,
    DIAGNOSIS_CODE,
    FEN_MAX,
    INSTITUTION_CODE,
    PSN_NO,
    REMOTE_INSTITUTIONS_MAX,
)
from rules_compiled.model import (
    Assistance,
    CardStatus,
    MemberStatus,
    PersonType,
    Scheme,
    Sex,
)

__all__ = [
    "MEMBER_COLUMNS",
    "load_members_csv",
    "write_members_csv",
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

MEMBER_BATCH = 2000  # members per pipeline

_SEX = _names(Sex)
_SCHEME = _names(Scheme)
_PERSON_TYPE = _names(PersonType)
_MEMBER_STATUS = _names(MemberStatus)
_CARD_STATUS = _names(CardStatus)
_ASSISTANCE = _names(Assistance)
_SCHEME_PERSON_TYPES = {
    Scheme.EMP: (PersonType.ACTIVE, PersonType.RETIRED),
    Scheme.RES: (PersonType.ADULT, PersonType.STUDENT),
}


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
    :func:`gateway.record_codecs.member_profile_json` does (a test holds them equal)."""
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


# --- writer (export in the same format) ----------------------------------------------------


def _iso(value: dt.date | None) -> str:
    return "" if value is None else value.isoformat()


def write_members_csv(path: str | os.PathLike[str], members: Iterable[Member]) -> int:
    """Write members in the ``load members`` format; returns the number of rows."""
    return write_csv(path, MEMBER_COLUMNS, (
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
        for m in members
    ))


def _chronic_text(c: ChronicRegistration) -> str:
    return f"{c.disease_code}:{c.valid_from.isoformat()}:{c.valid_to.isoformat()}"


def _remote_text(r: RemoteRegistration) -> str:
    codes = CODE_SEP.join(r.institution_codes)
    return f"{codes}:{r.valid_from.isoformat()}:{r.valid_to.isoformat()}"

