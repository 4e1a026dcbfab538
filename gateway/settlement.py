"""From a checked request and a member snapshot to kernel columns, and back to a response.

This module holds no I/O: the service reads the snapshot, calls these
functions, runs the kernel and commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf.message import Message

from claims.v1 import claims_pb2 as pb
from gateway import line_columns
from gateway.adjudicator import Verdict
from gateway.domain import Institution, Member
from gateway.fastredis import Encoded
from gateway.keys import dup_key
from gateway.line_columns import LineColumns
from gateway.store import MemberSnapshot, SettlementCommit
from rules_compiled import model as M
from rules_compiled.engine import Engine

# Gate reason codes, checked in this order (docs/benefit-rules.md §3.2).
MEMBER_SUSPENDED = "MEMBER_SUSPENDED"
MEMBER_TERMINATED = "MEMBER_TERMINATED"
MEMBER_DECEASED = "MEMBER_DECEASED"
NOT_YET_COVERED = "NOT_YET_COVERED"
CARD_INVALID = "CARD_INVALID"
NOT_DESIGNATED = "NOT_DESIGNATED"


# Accumulator name (store) -> the kernel's increment column.
ACCUMULATOR_COLUMNS = {
    "band": M.CO_D_OUTPATIENT_BAND_USED,
    "ded": M.CO_D_DEDUCTIBLE_PAID,
    "pool": M.CO_D_POOLED_PAID,
    "bcost": M.CO_D_BANDED_COST,
    "assist": M.CO_D_ASSISTANCE_PAID,
    "opfund": M.CO_D_OUTPATIENT_FUND_PAID,
}
ACCUMULATOR_INPUTS = {
    "band": M.CI_OUTPATIENT_BAND_USED,
    "ded": M.CI_DEDUCTIBLE_PAID,
    "pool": M.CI_POOLED_PAID,
    "bcost": M.CI_BANDED_COST,
    "assist": M.CI_ASSISTANCE_PAID,
    "opfund": M.CI_OUTPATIENT_FUND_PAID,
}


CST = dt.timezone(dt.timedelta(hours=8))


def stamp(t: dt.datetime) -> str:
    """A UTC time as the responses and records carry it (milliseconds, ``Z``)."""
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def clearing_day(t: dt.datetime) -> dt.date:
    """The day a settlement is cleared under: its commit time in China Standard Time."""
    return t.astimezone(CST).date()


def response_from_record(record: dict[str, bytes]) -> pb.SettlementResponse:
    """A stored settlement's response, marked REVERSED when it was reversed since."""
    resp = pb.SettlementResponse.FromString(record["resp"])
    if record.get("status") == b"REVERSED":
        resp.status = pb.REVERSED
        resp.reversal_id = record.get("rev", b"").decode()
    return resp


def request_hash(request: Message) -> str:
    """Hash of the canonical request: equal content, equal hash (idempotency,
    docs/benefit-rules.md §7)."""
    return hashlib.blake2b(
        request.SerializeToString(deterministic=True), digest_size=16
    ).hexdigest()


def gate_reason(
    member: Member,
    institution: Institution,
    card_no: str,
    service_date: dt.date,
    *,
    admission: bool = False,
) -> str | None:
    """The eligibility gate: a reason code refusing the whole claim, or None.

    An inpatient claim is gated on its discharge date. An admission is gated on
    the admission date except for the benefit start: benefits may start during
    the stay, and the lines dated before the start are not covered (DOMAIN.md §5).
    """
    if member.status == M.MemberStatus.SUSPENDED:
        return MEMBER_SUSPENDED
    if member.status == M.MemberStatus.TERMINATED:
        return MEMBER_TERMINATED
    if member.status == M.MemberStatus.DECEASED:
        return MEMBER_DECEASED
    if service_date < member.benefit_start and not admission:
        return NOT_YET_COVERED
    if card_no != member.card_no or member.card_status != M.CardStatus.ACTIVE:
        return CARD_INVALID
    if institution.status != M.InstitutionStatus.DESIGNATED:
        return NOT_DESIGNATED
    return None


@dataclass(slots=True)
class ClaimPlan:
    """The keys a claim needs read, computed from the request before any I/O."""

    line_days: list[int]
    fill_items: list[str]
    dup_keys: list[str]
    dup_keys_resp: Encoded | None = None  # the same keys encoded, when built column-wise


def plan_claim(
    institution_code: str, lines: Sequence[pb.FeeLine], line_dates: Sequence[dt.date]
) -> ClaimPlan:
    return plan_claim_days(institution_code, lines, [M.day_number(d) for d in line_dates])


def plan_claim_days(
    institution_code: str, lines: Sequence[pb.FeeLine], days: list[int]
) -> ClaimPlan:
    """:func:`plan_claim` of lines dated by day number."""
    codes = [ln.item_code for ln in lines]
    # The refill check applies to every line of a drug with a recorded fill, whether or
    # not the line states a days supply (DOMAIN.md §6): read the last fill of every item.
    items = sorted(set(codes))
    dups = [
        dup_key(institution_code, code, day, ln.prescription_no)
        for ln, code, day in zip(lines, codes, days, strict=True)
    ]
    return ClaimPlan(days, items, dups)


def warnings(
    req: pb.SettleRequest, snap: MemberSnapshot, settlements_per_day_max: int
) -> list[str]:
    """Abuse-check warnings (docs/benefit-rules.md §6): recorded on the settlement, never
    blocking."""
    out: list[str] = []
    if req.setting in (pb.PHARMACY, pb.OUTPATIENT) and snap.open_episode:
        _episode, institution, _day = snap.open_episode.split("|")
        if institution != req.institution_code:
            out.append("OPEN_INPATIENT_EPISODE")  # 挂床: in hospital elsewhere
    if snap.episode.get("warn"):
        out.append(snap.episode["warn"])  # READMISSION_15D, found at admission
    if snap.settlements_today + 1 > settlements_per_day_max:
        out.append("HIGH_FREQUENCY")
    return out


def remote_registered(member: Member, institution_code: str, on: dt.date) -> bool:
    r = member.remote
    return (
        r is not None
        and r.valid_from <= on <= r.valid_to
        and institution_code in r.institution_codes
    )


def claim_row(
    engine: Engine,
    member: Member,
    institution: Institution,
    accumulators: dict[str, int],
    *,
    setting: int,
    service_date: dt.date,
    referral: int,
    emergency: bool,
    diagnosis_code: str,
    use_account: bool,
    discharge_order_date: dt.date | None = None,
) -> np.ndarray:
    # One list, one array: an item assignment into a numpy array costs several times
    # a list's.
    row = [0] * M.CI_N
    row[M.CI_SETTING] = setting
    row[M.CI_INST_KIND] = int(institution.kind)
    row[M.CI_INST_LEVEL] = institution.level
    row[M.CI_SERVICE_DAY] = M.day_number(service_date)
    row[M.CI_SCHEME] = int(member.scheme)
    row[M.CI_PERSON_TYPE] = int(member.person_type)
    row[M.CI_SEX] = int(member.sex)
    row[M.CI_AGE_YEARS] = M.age_years(member.birth_date, service_date)
    row[M.CI_BIRTH_DAY] = M.day_number(member.birth_date)
    row[M.CI_WORK_START_DAY] = (
        M.day_number(member.work_start_date) if member.work_start_date else M.NONE
    )
    row[M.CI_RETIRE_DAY] = M.day_number(member.retire_date) if member.retire_date else M.NONE
    row[M.CI_ASSISTANCE] = int(member.assistance)
    row[M.CI_REFERRAL] = referral
    row[M.CI_REMOTE] = int(institution.region != member.insured_region)
    row[M.CI_REMOTE_REGISTERED] = int(remote_registered(member, institution.code, service_date))
    row[M.CI_EMERGENCY] = int(emergency)
    row[M.CI_DIAG_FLAGS] = engine.diagnosis_flags(diagnosis_code) if diagnosis_code else 0
    row[M.CI_USE_ACCOUNT] = int(use_account)
    row[M.CI_DISCHARGE_ORDER_DAY] = (
        M.day_number(discharge_order_date) if discharge_order_date else M.NONE
    )
    row[M.CI_BENEFIT_START_DAY] = M.day_number(member.benefit_start)
    row[M.CI_ACCT_CURRENT] = member.acct_current_fen
    row[M.CI_ACCT_PRIOR] = member.acct_prior_fen
    for name, col in ACCUMULATOR_INPUTS.items():
        row[col] = accumulators.get(name, 0)
    slot = 0
    row[M.CI_CHRONIC_0 : M.CI_CHRONIC_0 + M.CHRONIC_SLOTS] = [M.NONE] * M.CHRONIC_SLOTS
    for reg in member.chronic:
        if slot < M.CHRONIC_SLOTS and reg.valid_from <= service_date <= reg.valid_to:
            row[M.CI_CHRONIC_0 + slot] = engine.disease_id(reg.disease_code)
            slot += 1
    return np.array(row, dtype=np.int64)


def line_rows(
    engine: Engine,
    lines: Sequence[pb.FeeLine],
    plan: ClaimPlan,
    institution: Institution,
    snap: MemberSnapshot,
) -> np.ndarray:
    index = engine.item_index
    suspended = institution.suspended_practitioners
    fills = snap.fills
    dup_seen = snap.dup_seen
    no_fill = (M.NONE, 0)
    rows = [
        (
            index.get(ln.item_code, M.NONE),
            ln.unit_price_fen,
            ln.quantity,
            ln.amount_fen,
            ln.days_supply,
            day,
            ln.in_discharge_order,
            ln.practitioner_code in suspended,
            dup in dup_seen,
            *fills.get(ln.item_code, no_fill),
        )
        for ln, day, dup in zip(lines, plan.line_days, plan.dup_keys, strict=True)
    ]
    return np.array(rows, dtype=np.int64).reshape(len(rows), M.LI_N)


def line_rows_of_columns(
    engine: Engine,
    cols: LineColumns,
    plan: ClaimPlan,
    institution: Institution,
    snap: MemberSnapshot,
) -> np.ndarray:
    """:func:`line_rows` of a large claim, from its lines' columns."""
    return line_columns.line_rows(cols, plan.line_days, plan.dup_keys, engine.item_index,
                                  institution.suspended_practitioners, snap.fills,
                                  snap.dup_seen)


def amounts(c: list[int]) -> pb.Amounts:
    """The claim's amounts from its CO_* row."""
    return pb.Amounts(
        medfee_sumamt_fen=c[M.CO_MEDFEE],
        fulamt_ownpay_fen=c[M.CO_FULAMT_OWNPAY],
        overlmt_selfpay_fen=c[M.CO_OVERLMT_SELFPAY],
        preselfpay_fen=c[M.CO_PRESELFPAY],
        inscp_scp_amt_fen=c[M.CO_INSCP],
        referral_payfirst_fen=c[M.CO_REFERRAL_PAYFIRST],
        deductible_fen=c[M.CO_DEDUCTIBLE],
        band_selfpay_fen=c[M.CO_BAND_SELFPAY],
        fund_pay_sumamt_fen=c[M.CO_FUND_PAY_SUM],
        hifp_pay_fen=c[M.CO_HIFP],
        supplementary_pay_fen=c[M.CO_SUPPLEMENTARY],
        hifmi_pay_fen=c[M.CO_HIFMI],
        maf_pay_fen=c[M.CO_MAF],
        psn_part_amt_fen=c[M.CO_PSN_PART],
        acct_pay_fen=c[M.CO_ACCT_PAY],
        acct_current_pay_fen=c[M.CO_ACCT_CURRENT_PAY],
        acct_prior_pay_fen=c[M.CO_ACCT_PRIOR_PAY],
        psn_cash_pay_fen=c[M.CO_CASH],
    )


REASON_NAMES: dict[int, list[str]] = {}  # a line's reasons mask -> its reason codes


def _reasons(mask: int) -> list[str]:
    names = REASON_NAMES.get(mask)
    if names is None:
        names = REASON_NAMES[mask] = M.reason_names(mask)
    return names


def add_line_results(out: Any, lines: Sequence[pb.FeeLine], rows: list[list[int]]) -> None:
    """Each line's result from its LO_* row, added in place to ``out`` (a response's
    repeated ``lines``): half the cost of building LineResult messages and copying them
    in, which matters for an episode of thousands of lines."""
    add = out.add
    for ln, r in zip(lines, rows, strict=True):
        add(
            feedetl_sn=ln.feedetl_sn,
            item_code=ln.item_code,
            status=r[M.LO_STATUS],
            reasons=_reasons(r[M.LO_REASONS]),
            amount_fen=ln.amount_fen,
            fulamt_ownpay_fen=r[M.LO_FULAMT_OWNPAY],
            overlmt_selfpay_fen=r[M.LO_OVERLMT_SELFPAY],
            preselfpay_fen=r[M.LO_PRESELFPAY],
            inscp_scp_amt_fen=r[M.LO_INSCP],
        )


KERNEL_INPUT_RAW_MAX = 64 * M.LI_N * 8  # line rows of up to 64 lines are kept uncompressed


_REJECTED = int(M.LineStatus.REJECTED)
_DRUG = int(M.ItemKind.DRUG)


def _int64_bytes(x: np.ndarray) -> bytes:
    """The array's values as int64 in C order (``tobytes`` copies in C order)."""
    return x.tobytes() if x.dtype == np.int64 else np.ascontiguousarray(x, np.int64).tobytes()


def _kept_lines(lines: Sequence[pb.FeeLine], plan: ClaimPlan, lo: list[list[int]],
                engine: Engine) -> tuple[list[str], list[int]]:
    """The duplicate-charge keys of the lines not rejected, and which of those lines
    record a fill (a drug with a days supply), line by line."""
    dup_keys: list[str] = []
    fill_lines: list[int] = []
    items = engine.items
    index = engine.item_index
    for i, ln in enumerate(lines):
        if lo[i][M.LO_STATUS] == _REJECTED:
            continue
        dup_keys.append(plan.dup_keys[i])
        idx = index.get(ln.item_code, -1)
        if idx >= 0 and items[idx].kind == _DRUG and ln.days_supply > 0:
            fill_lines.append(i)
    return dup_keys, fill_lines


def _kept_lines_of_columns(plan: ClaimPlan, verdict: Verdict, engine: Engine
                           ) -> tuple[list[str], list[int]]:
    """:func:`_kept_lines` of a large claim, from its kernel rows (LI_ITEM is the
    catalogue row of the line's item, LI_DAYS_SUPPLY its days supply)."""
    li, lo = verdict.lines_in, verdict.lines_out
    kept = lo[:, M.LO_STATUS] != _REJECTED
    item = li[:, M.LI_ITEM]
    fill = kept & (item >= 0) & engine.item_is_drug[np.maximum(item, 0)] & (
        li[:, M.LI_DAYS_SUPPLY] > 0)
    keys = plan.dup_keys
    kept_keys = list(keys) if kept.all() else [keys[i] for i in np.flatnonzero(kept).tolist()]
    return kept_keys, np.flatnonzero(fill).tolist()


def _last_fills(columns: LineColumns, fill_lines: list[int]) -> list[tuple[int, str, int]]:
    """Of the lines that record a fill, the last line of each drug, as (line, item code,
    days supply), the drugs in the order their first such line comes: what recording
    every line in order leaves (a later line of a drug overwrites its fill)."""
    lines = np.asarray(fill_lines, dtype=np.int64)
    items = columns.item[lines]
    _, first = np.unique(items, return_index=True)
    _, last_reversed = np.unique(items[::-1], return_index=True)
    last = lines[len(lines) - 1 - last_reversed]  # per drug, in the order of ``first``
    return [(i, columns.item_code(i), int(columns.days_supply[i]))
            for i in last[np.argsort(first)].tolist()]


def commit_plan(
    req: pb.SettleRequest,
    lines: Sequence[pb.FeeLine],
    snap: MemberSnapshot,
    plan: ClaimPlan,
    verdict: Verdict,
    engine: Engine,
    *,
    year: int,
    service_day: int,
    settle_day: int,
    settlement_id: str,
    req_hash: str,
    response_bytes: bytes,
    settled_at: str,
    episode_id: str = "",
    episode_line_count: int = 0,
    columns: LineColumns | None = None,
) -> SettlementCommit:
    """Everything the commit script writes for one settlement.

    The kernel's input (the CI_* row and LI_* rows) is kept in the record (large line
    tables compressed), so that ``claimgate policy explain --settlement`` replays the
    computation later. A large claim's lines come as ``columns`` (``lines`` is then
    not read).
    """
    a = verdict.co
    lo = verdict.lo
    prefix = f"y{year}:"
    increments = {
        prefix + name: a[col] for name, col in ACCUMULATOR_COLUMNS.items() if a[col] != 0
    }
    if columns is not None:
        dup_keys, fill_lines = _kept_lines_of_columns(plan, verdict, engine)
        filled = _last_fills(columns, fill_lines)
    else:
        dup_keys, fill_lines = _kept_lines(lines, plan, lo, engine)
        filled = [(i, lines[i].item_code, lines[i].days_supply) for i in fill_lines]
    fills: dict[str, str] = {}
    prior_fills: dict[str, str] = {}
    for i, code, days_supply in filled:  # in line order: a drug's last line gives its fill
        fills[code] = f"{plan.line_days[i]}:{days_supply}"
        prev = snap.fills.get(code)
        prior_fills[code] = f"{prev[0]}:{prev[1]}" if prev else ""
    record: dict[str, bytes | str | int] = {
        "id": settlement_id,
        "resp": response_bytes,
        "status": "SETTLED",
        "req": req.request_id,
        "psn": req.psn_no,
        "inst": req.institution_code,
        "op": req.operator_id,
        "term": req.terminal_id,
        "setting": req.setting,
        "day": service_day,
        "sday": settle_day,
        "at": settled_at,
        "ep": episode_id,
        "medfee": a[M.CO_MEDFEE],
        "fund": a[M.CO_FUND_PAY_SUM],
        "hifp": a[M.CO_HIFP],
        "supp": a[M.CO_SUPPLEMENTARY],
        "hifmi": a[M.CO_HIFMI],
        "maf": a[M.CO_MAF],
        "acct": a[M.CO_ACCT_PAY],
        "cash": a[M.CO_CASH],
        # What a reversal needs to restore the member's state exactly.
        "acct_cur": a[M.CO_ACCT_CURRENT_PAY],
        "acct_pri": a[M.CO_ACCT_PRIOR_PAY],
        "inc": ",".join(f"{k}={v}" for k, v in increments.items()),
        "fills_new": "|".join(f"{k}={v}" for k, v in fills.items()),
        "fills_old": "|".join(f"{k}={v}" for k, v in prior_fills.items()),
        "dups": "\n".join(dup_keys),
    }
    record["ci"] = _int64_bytes(verdict.claim_in)
    lines_in = _int64_bytes(verdict.lines_in)
    if len(lines_in) <= KERNEL_INPUT_RAW_MAX:  # zlib costs tens of µs even on a few bytes
        record["li"] = lines_in
    else:  # an episode of thousands of lines: ~10x smaller
        record["liz"] = zlib.compress(lines_in, 1)
    return SettlementCommit(
        request_id=req.request_id,
        request_hash=req_hash,
        settlement_id=settlement_id,
        acct_current_pay_fen=a[M.CO_ACCT_CURRENT_PAY],
        acct_prior_pay_fen=a[M.CO_ACCT_PRIOR_PAY],
        accumulator_increments=increments,
        fills=fills,
        dup_keys=dup_keys,
        # All kept: the keys as the claim's plan has them encoded, when it has.
        dup_keys_resp=plan.dup_keys_resp if len(dup_keys) == len(plan.dup_keys) else None,
        record=record,
        service_day=service_day,
        settle_day=settle_day,
        institution_code=req.institution_code,
        episode_id=episode_id,
        episode_line_count=episode_line_count,
    )
