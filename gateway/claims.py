"""The claim path: CheckEligibility, PreSettle and Settle, one stage after another.

Followed as one request, a Settle reads downwards through this module::

    decode       the request checked field by field (gateway/validate.py): a Claim
                 (before it, gateway/calls.py has bound the call to its institution,
                 admitted it and started its latency budget)
    read         the member's state in one round trip (Store.read_member); the reads
                 of one event-loop iteration go out in one write (gateway/fastredis.py)
    adjudicate   the kernel's input rows (gateway/settlement.py; a large claim's from
                 columns of its lines, gateway/line_columns.py, which an episode's
                 stored lines are read into from their wire bytes, gateway/line_wire.py),
                 the kernel through gateway/adjudicator.py (the claims of one
                 event-loop iteration share one call when they come together often
                 enough to pay for it), the invariants of docs/benefit-rules.md §9
                 checked, the response built (a large claim's line results encoded
                 column-wise, as wire bytes)
    commit       one script call that checks the member's version and writes
                 everything, or nothing (Store.commit_settlement); the commits of one
                 iteration go out in one write
    respond      the response, serialized once: stored with the settlement, and sent

The store and the engine are below this module; nothing there calls back up. A
stale read (another process changed the member) makes the commit refuse, and the
claim is read and adjudicated again, a bounded number of times. Settles of one
member in one process queue on a per-member lock, so they commit one after another
instead of refusing each other (a PreSettle writes nothing and takes no lock).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import operator
import random
from dataclasses import dataclass

import numpy as np

from claims.v1 import claims_pb2 as pb
from gateway import budget as budget_mod
from gateway import metrics
from gateway import settlement as S
from gateway import validate as V
from gateway.adjudicator import Adjudicator, Verdict
from gateway.budget import COMMIT_RESERVE_S
from gateway.domain import Institution
from gateway.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Unavailable
from gateway.keys import new_settlement_id
from gateway.line_columns import (
    COLUMNS_FROM_LINES,
    LineColumns,
    columns_of,
    line_results_wire,
    varint,
)
from gateway.line_wire import read_lines
from gateway.memberlock import MemberLocks
from gateway.reference import Reference
from gateway.store import MemberSnapshot, Store
from gateway.wire import Serialized
from rules_compiled import model as M

log = logging.getLogger("claimgate")

STALE_RETRIES_MAX = 5  # re-read and re-adjudicate at most this often on a stale read

_FEEDETL_SN = operator.attrgetter("feedetl_sn")
_LINES_TAG = b"\x2a"  # FeeDetailChunk.lines: field 5, length-delimited


def institution_of(ref: Reference, code: str) -> Institution:
    inst = ref.institutions.get(code)
    if inst is None:
        raise NotFound(f"institution_code: unknown institution {code!r}",
                       reason="UNKNOWN_INSTITUTION")
    return inst


def check_setting(setting: int, inst: Institution) -> None:
    at_pharmacy = inst.kind == M.InstitutionKind.PHARMACY
    if (setting == M.Setting.PHARMACY) != at_pharmacy:
        raise InvalidArgument(
            "setting",
            "PHARMACY claims come from pharmacies, other settings from hospitals and clinics",
        )


def unknown_member(psn_no: str) -> NotFound:
    return NotFound(f"psn_no: unknown member {psn_no!r}", reason="UNKNOWN_MEMBER")


# --- decode -------------------------------------------------------------------------
@dataclass(slots=True)
class Claim:
    """A checked PreSettle or Settle request, and what it needs read."""

    req: pb.SettleRequest
    commit: bool
    inst: Institution
    service_date: dt.date
    service_day: int
    episode_id: str  # an inpatient claim's episode: its lines were uploaded
    req_hash: str  # of the canonical request (Settle only): equal content, equal hash
    plan: S.ClaimPlan | None  # the keys the request's own lines need read


def decode(ref: Reference, req: pb.SettleRequest, *, commit: bool) -> Claim:
    service_date, line_dates = V.check_settle(req, quote=not commit)
    inst = institution_of(ref, req.institution_code)
    check_setting(req.setting, inst)
    episode_id = req.episode_id if req.setting == pb.INPATIENT else ""
    plan = None if episode_id else S.plan_claim(req.institution_code, req.lines, line_dates)
    return Claim(req, commit, inst, service_date, M.day_number(service_date), episode_id,
                 S.request_hash(req) if commit else "", plan)


@dataclass(slots=True)
class ClaimLines:
    """The lines a claim is adjudicated on (an episode's uploaded lines for an inpatient
    claim), with the episode's diagnosis, referral and emergency filled in."""

    lines: list[pb.FeeLine]
    plan: S.ClaimPlan
    diagnosis: str
    referral: int
    emergency: bool
    discharge_order: dt.date | None = None
    columns: LineColumns | None = None  # a large claim's lines as columns (``lines`` unused)

    @property
    def count(self) -> int:
        return len(self.columns) if self.columns is not None else len(self.lines)


@dataclass(slots=True)
class Adjudication:
    resp: pb.SettlementResponse
    claim_lines: ClaimLines  # what it was adjudicated on
    verdict: Verdict | None  # None for a refused claim
    # A large claim's line results, encoded column-wise (gateway/line_columns.py) and
    # not in ``resp``: the response is ``resp`` serialized followed by these bytes.
    lines_wire: bytes = b""

    def body(self) -> bytes:
        return self.resp.SerializeToString() + self.lines_wire

    def response(self) -> pb.SettlementResponse:
        if not self.lines_wire:
            return self.resp
        return Serialized(self.resp, self.body())  # type: ignore[return-value]


class ClaimPath:
    """The claim path of one worker: its store, its kernel batches, its member locks."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.adjudicator = Adjudicator()
        self.member_locks = MemberLocks()

    # --- CheckEligibility (1101) --------------------------------------------------
    async def eligibility(self, ref: Reference, request: pb.EligibilityRequest
                          ) -> pb.EligibilityResponse:
        on = V.check_eligibility(request)
        inst = institution_of(ref, request.institution_code)
        snap = await self.store.read_member(request.psn_no, year=on.year, day=M.day_number(on))
        if snap is None:
            raise unknown_member(request.psn_no)
        m = snap.member
        if request.card_no != m.card_no or m.card_status != M.CardStatus.ACTIVE:
            # Without the member's valid card, nothing about the member but the refusal:
            # no balances, registrations (diagnoses), assistance or status.
            return pb.EligibilityResponse(
                psn_no=m.psn_no, eligible=False, refusal_reason=S.CARD_INVALID,
                policy_version=ref.policy_version,
            )
        reason = S.gate_reason(m, inst, request.card_no, on)
        setting = request.setting or (
            M.Setting.PHARMACY if inst.kind == M.InstitutionKind.PHARMACY else M.Setting.OUTPATIENT
        )
        row = S.claim_row(
            ref.engine, m, inst, snap.accumulators, setting=setting, service_date=on,
            referral=0, emergency=False, diagnosis_code="", use_account=True,
        )
        remaining = ref.engine.remaining(row)
        resp = pb.EligibilityResponse(
            psn_no=m.psn_no,
            eligible=reason is None,
            refusal_reason=reason or "",
            scheme=int(m.scheme),
            person_type=int(m.person_type),
            cohort=ref.engine.cohort_of(row),
            member_status=int(m.status),
            card_status=int(m.card_status),
            assistance=int(m.assistance),
            insured_region=m.insured_region,
            benefit_start=m.benefit_start.isoformat(),
            benefit_year=on.year,
            acct_current_balance_fen=m.acct_current_fen,
            acct_prior_balance_fen=m.acct_prior_fen,
            deductible_remaining_fen=int(remaining.get("deductible_remaining_fen", 0)),
            pooled_cap_remaining_fen=int(remaining.get("pooled_cap_remaining_fen", 0)),
            outpatient_band_remaining_fen=int(remaining.get("outpatient_band_remaining_fen", 0)),
            assistance_cap_remaining_fen=int(remaining.get("assistance_cap_remaining_fen", 0)),
            open_episode_id=snap.open_episode.split("|")[0] if snap.open_episode else "",
            policy_version=ref.policy_version,
        )
        for c in m.chronic:
            resp.chronic_registrations.add(
                disease_code=c.disease_code,
                valid_from=c.valid_from.isoformat(),
                valid_to=c.valid_to.isoformat(),
            )
        if m.remote is not None:
            resp.remote_registration.institution_codes.extend(m.remote.institution_codes)
            resp.remote_registration.valid_from = m.remote.valid_from.isoformat()
            resp.remote_registration.valid_to = m.remote.valid_to.isoformat()
        return resp

    # --- PreSettle and Settle (2101 / 2102, 2206 / 2207, 2303 / 2304) ---------------
    async def settle(self, ref: Reference, req: pb.SettleRequest, *, commit: bool
                     ) -> pb.SettlementResponse:
        """A quote (``commit`` False) or a settlement. ``ref`` is one reference version
        for the whole request."""
        claim = decode(ref, req, commit=commit)
        if not commit:
            return await self._settle(ref, claim)
        await self.member_locks.acquire(req.psn_no)
        try:
            return await self._settle(ref, claim)
        finally:
            self.member_locks.release(req.psn_no)

    async def _settle(self, ref: Reference, claim: Claim) -> pb.SettlementResponse:
        for attempt in range(STALE_RETRIES_MAX + 1):
            if attempt:  # another process changed the member: back off a little, with jitter
                metrics.STALE_RETRIES.inc()
                await asyncio.sleep(random.uniform(0, 0.002 * attempt))
            budget_mod.check("reading the member")
            snap = await self.read(claim)
            if claim.commit and snap.idem:
                return await self._replay(snap, claim.req_hash)
            adj = await self.adjudicate(ref, claim, snap, await self.claim_lines(claim, snap))
            if not claim.commit or adj.verdict is None:
                return adj.response()
            settled = await self.commit(ref, claim, snap, adj)
            if settled is not None:
                return settled
            # STALE or OVERDRAW: the member changed since the read; adjudicate again.
        raise Unavailable("member state changed too often during settlement; retry",
                          reason="CONTENTION")

    # --- read ---------------------------------------------------------------------
    async def read(self, claim: Claim) -> MemberSnapshot:
        req, plan = claim.req, claim.plan
        snap = await self.store.read_member(
            req.psn_no,
            year=claim.service_date.year,
            day=claim.service_day,
            fill_items=plan.fill_items if plan else (),
            dup_keys=plan.dup_keys if plan else (),
            request_id=req.request_id if claim.commit else "",
            institution_code=req.institution_code,
            episode_id=claim.episode_id,
        )
        if snap is None:
            raise unknown_member(req.psn_no)
        return snap

    async def claim_lines(self, claim: Claim, snap: MemberSnapshot) -> ClaimLines:
        req = claim.req
        if not claim.episode_id:
            assert claim.plan is not None
            lines = list(req.lines)
            return ClaimLines(lines, claim.plan, req.diagnosis_code, req.referral,
                              req.emergency, columns=columns_of(lines))
        return await self._episode_lines(claim, snap)

    async def _episode_lines(self, claim: Claim, snap: MemberSnapshot) -> ClaimLines:
        """An inpatient claim's lines are its episode's uploaded lines, and the fills
        and duplicate charges they need are read now."""
        req, ep = claim.req, snap.episode
        unknown = NotFound(f"episode_id: unknown episode {req.episode_id!r}",
                           reason="UNKNOWN_EPISODE")
        if not ep or ep.get("psn") != req.psn_no:
            raise unknown
        if ep.get("inst") != req.institution_code:  # another's answers as unknown ones do
            raise unknown
        if ep.get("status") != "DISCHARGED":
            raise FailedPrecondition(
                f"episode_id: episode is {ep.get('status')}; settle after discharge",
                reason="EPISODE_NOT_DISCHARGED"
            )
        if claim.service_day != int(ep["dis"]):
            raise InvalidArgument("service_date", "must be the episode's discharge date")
        if not snap.episode_lines:
            raise FailedPrecondition("episode_id: no fee lines were uploaded",
                                     reason="NO_FEE_LINES")
        service_day = claim.service_day
        stored = None
        if len(snap.episode_lines) > COLUMNS_FROM_LINES:
            stored = read_lines(snap.episode_lines)
        if stored is not None:  # read into columns from their wire bytes
            lines: list[pb.FeeLine] = []
            cols: LineColumns | None = stored.columns
            date_days = [M.day_number(dt.date.fromisoformat(d)) if d else service_day
                         for d in stored.dates]
            days = np.array(date_days, dtype=np.int64)[stored.date]
            late = np.flatnonzero(days > service_day)
            if len(late):
                raise _dated_after_discharge(int(late[0]))
            dup_keys, dup_keys_resp = stored.dup_keys(req.institution_code, date_days)
            plan = S.ClaimPlan(days.tolist(), sorted(stored.columns.item_codes), dup_keys,
                               dup_keys_resp)
        else:
            lines = sorted(parse_fee_lines(snap.episode_lines), key=_FEEDETL_SN)
            # An episode's lines share a few dates: each distinct date is parsed once.
            day_of: dict[str, int] = {"": service_day}
            line_days = []
            for i, ln in enumerate(lines):
                day = day_of.get(ln.service_date)
                if day is None:
                    day = day_of[ln.service_date] = M.day_number(
                        dt.date.fromisoformat(ln.service_date))
                if day > service_day:
                    raise _dated_after_discharge(i)
                line_days.append(day)
            cols = columns_of(lines)
            plan = S.plan_claim_days(req.institution_code, lines, line_days)
        snap.fills, snap.dup_seen = await self.store.read_abuse_state(
            snap.keys, plan.fill_items, plan.dup_keys, plan.dup_keys_resp
        )
        order_day = int(ep.get("ord", "-1"))
        return ClaimLines(
            lines, plan,
            diagnosis=req.diagnosis_code or ep.get("diag", ""),
            referral=req.referral or int(ep.get("ref", "0")),
            emergency=req.emergency or ep.get("emg") == "1",
            discharge_order=M.from_day_number(order_day) if order_day >= 0 else None,
            columns=cols,
        )

    # --- adjudicate ---------------------------------------------------------------
    async def adjudicate(self, ref: Reference, claim: Claim, snap: MemberSnapshot,
                         cl: ClaimLines) -> Adjudication:
        """The claim's response (QUOTED, or REFUSED by the eligibility gate) and the
        kernel's verdict."""
        req = claim.req
        reason = S.gate_reason(snap.member, claim.inst, req.card_no, claim.service_date)
        if reason is not None:
            resp = pb.SettlementResponse(
                request_id=req.request_id, psn_no=req.psn_no,
                institution_code=req.institution_code, setting=req.setting,
                policy_version=ref.policy_version,
                service_date=claim.service_date.isoformat(),
                status=pb.REFUSED, refusal_reason=reason,
            )
            return Adjudication(resp, cl, None)
        engine = ref.engine
        claim_in = S.claim_row(
            engine, snap.member, claim.inst, snap.accumulators,
            setting=req.setting, service_date=claim.service_date, referral=cl.referral,
            emergency=cl.emergency, diagnosis_code=cl.diagnosis,
            use_account=req.use_account, discharge_order_date=cl.discharge_order,
        )
        cols = cl.columns
        if cols is None:
            lines_in = S.line_rows(engine, cl.lines, cl.plan, claim.inst, snap)
        else:
            lines_in = S.line_rows_of_columns(engine, cols, cl.plan, claim.inst, snap)
        verdict = self.adjudicator.adjudicate(engine, claim_in, lines_in)
        if not isinstance(verdict, Verdict):  # in the next kernel call of a batch
            verdict = await verdict
        co = verdict.co
        resp = pb.SettlementResponse(
            request_id=req.request_id,
            psn_no=req.psn_no,
            institution_code=req.institution_code,
            setting=req.setting,
            policy_version=ref.policy_version,
            service_date=claim.service_date.isoformat(),
            status=pb.QUOTED,
            amounts=S.amounts(co),
            notes=M.note_names(co[M.CO_NOTES]),
            warnings=S.warnings(req, snap, engine.policy.settlements_per_day_max),
            acct_current_balance_fen=snap.member.acct_current_fen,
            acct_prior_balance_fen=snap.member.acct_prior_fen,
        )
        if cols is None:
            S.add_line_results(resp.lines, cl.lines, verdict.lo)
            return Adjudication(resp, cl, verdict)
        return Adjudication(resp, cl, verdict,
                            line_results_wire(cols, verdict.lines_out, S.REASON_NAMES))

    # --- commit -------------------------------------------------------------------
    async def commit(self, ref: Reference, claim: Claim, snap: MemberSnapshot,
                     adj: Adjudication) -> pb.SettlementResponse | None:
        """The settled response, or None when the member changed since the read."""
        assert adj.verdict is not None
        req, resp, co, cl = claim.req, adj.resp, adj.verdict.co, adj.claim_lines
        now = dt.datetime.now(dt.UTC)
        settlement_id = new_settlement_id(snap.keys.partition, claim.service_date)
        resp.settlement_id = settlement_id
        resp.status = pb.SETTLED
        resp.settled_at = S.stamp(now)
        resp.acct_current_balance_fen = snap.member.acct_current_fen - co[M.CO_ACCT_CURRENT_PAY]
        resp.acct_prior_balance_fen = snap.member.acct_prior_fen - co[M.CO_ACCT_PRIOR_PAY]
        body = adj.body()
        plan = S.commit_plan(
            req, cl.lines, snap, cl.plan, adj.verdict, ref.engine,
            year=claim.service_date.year, service_day=claim.service_day,
            settle_day=M.day_number(S.clearing_day(now)), settlement_id=settlement_id,
            req_hash=claim.req_hash, response_bytes=body, settled_at=resp.settled_at,
            episode_id=claim.episode_id, episode_line_count=cl.count, columns=cl.columns,
        )
        budget_mod.check("the commit", COMMIT_RESERVE_S)
        outcome = await self.store.commit_settlement(snap, plan)
        if outcome.status == "OK":  # respond
            if (outcome.acct_current_fen, outcome.acct_prior_fen) != (
                resp.acct_current_balance_fen, resp.acct_prior_balance_fen
            ):
                log.error("balance after commit differs from the response: %s", outcome)
            return Serialized(resp, body)  # type: ignore[return-value]
        if outcome.status == "REPLAY":
            return await self._replay_by_id(outcome.settlement_id)
        if outcome.status == "CONFLICT":
            raise AlreadyExists("request_id: already used for a request with different content")
        if outcome.status == "TOMBSTONE":
            raise FailedPrecondition("request_id: cancelled by CancelByRequest (冲正)",
                                     reason="TOMBSTONED")
        if outcome.status == "EPISODE":
            raise FailedPrecondition(
                f"episode_id: episode is {outcome.settlement_id}, not DISCHARGED",
                reason="EPISODE_NOT_DISCHARGED"
            )
        return None  # STALE or OVERDRAW

    # --- a repeated request id ------------------------------------------------------
    async def _replay(self, snap: MemberSnapshot, req_hash: str) -> pb.SettlementResponse:
        idem = snap.idem
        if idem.get("k") == "tombstone":
            raise FailedPrecondition("request_id: cancelled by CancelByRequest (冲正)",
                                     reason="TOMBSTONED")
        if idem.get("h") != req_hash or idem.get("k") != "settle":
            raise AlreadyExists("request_id: already used for a request with different content")
        return await self._replay_by_id(idem.get("s", ""))

    async def _replay_by_id(self, settlement_id: str) -> pb.SettlementResponse:
        record = await self.store.settlement_record(settlement_id)
        if record is None:
            raise FailedPrecondition(
                f"request_id: settlement {settlement_id} is not readable",
                reason="SETTLEMENT_UNREADABLE",
            )
        resp = S.response_from_record(record)
        resp.replay = True
        return resp


def _dated_after_discharge(i: int) -> InvalidArgument:
    """Line ``i`` of an episode (in ``feedetl_sn`` order) is dated after its discharge."""
    return InvalidArgument(f"lines[{i}].service_date",
                           "an uploaded line is dated after the discharge")


# The frame of a stored line (the tag of ``lines`` and its length), for the lengths a
# line has (a FeeLine is at most a few hundred bytes; longer ones are framed as they come).
_FRAMES = [_LINES_TAG + varint(n) for n in range(4096)]


def parse_fee_lines(serialized: list[bytes]) -> list[pb.FeeLine]:
    """Stored FeeLine messages, parsed in one call: framed as the repeated ``lines``
    field of a FeeDetailChunk (protobuf concatenation), instead of one parse per line."""
    frames = _FRAMES
    parts: list[bytes] = []
    for b in serialized:
        n = len(b)
        parts.append(frames[n] if n < 4096 else _LINES_TAG + varint(n))
        parts.append(b)
    return list(pb.FeeDetailChunk.FromString(b"".join(parts)).lines)
