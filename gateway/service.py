"""The ClaimGateway servicer: validate → read (one round trip) → kernel → commit (one script).

Transactions that are not served yet answer UNIMPLEMENTED.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import numpy as np
import redis.exceptions

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway import settlement as S
from gateway.errors import (
    AlreadyExists,
    ClaimError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from gateway.reference import Reference
from gateway.store import MemberSnapshot, Store, new_settlement_id
from gateway.validate import check_eligibility, check_settle
from rules_compiled import model as M

log = logging.getLogger("claimgate")

STALE_RETRIES_MAX = 5  # re-read and re-adjudicate at most this often on a stale read

Req = TypeVar("Req")
Resp = TypeVar("Resp")


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def handler(
    fn: Callable[[ClaimGatewayService, Req, grpc.aio.ServicerContext], Awaitable[Resp]],
) -> Callable[[ClaimGatewayService, Req, grpc.aio.ServicerContext], Awaitable[Resp]]:
    """Turns ClaimError and Redis failures into gRPC statuses."""

    async def wrapped(
        self: ClaimGatewayService, request: Req, context: grpc.aio.ServicerContext
    ) -> Resp:
        try:
            return await fn(self, request, context)
        except ClaimError as e:
            await context.abort(e.code, e.message)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
            log.warning("redis unavailable: %s", e)
            await context.abort(grpc.StatusCode.UNAVAILABLE, "state store unavailable; retry")
        raise AssertionError("unreachable")  # context.abort raises

    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return wrapped


class ClaimGatewayService(pb_grpc.ClaimGatewayServicer):
    def __init__(self, store: Store, reference: Reference) -> None:
        self.store = store
        self.reference = reference

    # --- helpers ------------------------------------------------------------------
    def _institution(self, ref: Reference, code: str) -> Any:
        inst = ref.institutions.get(code)
        if inst is None:
            raise NotFound(f"institution_code: unknown institution {code!r}")
        return inst

    @staticmethod
    def _check_setting(setting: int, inst: Any) -> None:
        at_pharmacy = inst.kind == M.InstitutionKind.PHARMACY
        if (setting == M.Setting.PHARMACY) != at_pharmacy:
            raise InvalidArgument(
                "setting",
                "PHARMACY claims come from pharmacies, other settings from hospitals and clinics",
            )

    # --- 1101 ---------------------------------------------------------------------
    @handler
    async def CheckEligibility(
        self, request: pb.EligibilityRequest, context: grpc.aio.ServicerContext
    ) -> pb.EligibilityResponse:
        on = check_eligibility(request)
        ref = self.reference
        inst = self._institution(ref, request.institution_code)
        snap = await self.store.read_member(request.psn_no, year=on.year, day=M.day_number(on))
        if snap is None:
            raise NotFound(f"psn_no: unknown member {request.psn_no!r}")
        m = snap.member
        card = request.card_no or m.card_no
        reason = S.gate_reason(m, inst, card, on)
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
            cohort=ref.engine.cohort_name(
                int(m.scheme), int(m.person_type), int(row[M.CI_BIRTH_DAY]),
                int(row[M.CI_WORK_START_DAY]), int(row[M.CI_RETIRE_DAY]),
            ),
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

    # --- 2101 / 2102 --------------------------------------------------------------
    @handler
    async def PreSettle(
        self, request: pb.SettleRequest, context: grpc.aio.ServicerContext
    ) -> pb.SettlementResponse:
        return await self._settle(request, commit=False)

    @handler
    async def Settle(
        self, request: pb.SettleRequest, context: grpc.aio.ServicerContext
    ) -> pb.SettlementResponse:
        return await self._settle(request, commit=True)

    async def _settle(self, req: pb.SettleRequest, *, commit: bool) -> pb.SettlementResponse:
        service_date, line_dates = check_settle(req, quote=not commit)
        if req.setting == pb.INPATIENT and req.episode_id:
            raise _unimplemented("settling an inpatient episode")
        ref = self.reference  # one version for the whole request
        inst = self._institution(ref, req.institution_code)
        self._check_setting(req.setting, inst)
        plan = S.plan_claim(req, line_dates)
        req_hash = S.request_hash(req) if commit else ""
        year = service_date.year
        service_day = M.day_number(service_date)
        for _attempt in range(STALE_RETRIES_MAX + 1):
            snap = await self.store.read_member(
                req.psn_no,
                year=year,
                day=service_day,
                fill_items=plan.fill_items,
                dup_keys=plan.dup_keys,
                request_id=req.request_id if commit else "",
            )
            if snap is None:
                raise NotFound(f"psn_no: unknown member {req.psn_no!r}")
            if commit and snap.idem:
                return await self._replay(snap, req_hash)
            resp, co, lo = self._adjudicate(ref, req, inst, snap, service_date, plan)
            if not commit or resp.status == pb.REFUSED:
                return resp
            settlement_id = new_settlement_id(snap.keys.partition, service_date)
            resp.settlement_id = settlement_id
            resp.status = pb.SETTLED
            resp.settled_at = _utc_now()
            resp.acct_current_balance_fen = (
                snap.member.acct_current_fen - resp.amounts.acct_current_pay_fen
            )
            resp.acct_prior_balance_fen = (
                snap.member.acct_prior_fen - resp.amounts.acct_prior_pay_fen
            )
            body = resp.SerializeToString()
            plan_c = S.commit_plan(
                req, snap, plan, co, lo, ref.engine,
                year=year, service_day=service_day, settlement_id=settlement_id,
                req_hash=req_hash, response_bytes=body, settled_at=resp.settled_at,
            )
            outcome = await self.store.commit_settlement(snap, plan_c)
            if outcome.status == "OK":
                if (outcome.acct_current_fen, outcome.acct_prior_fen) != (
                    resp.acct_current_balance_fen,
                    resp.acct_prior_balance_fen,
                ):
                    log.error("balance after commit differs from the response: %s", outcome)
                return resp
            if outcome.status == "REPLAY":
                return await self._replay_by_id(outcome.settlement_id)
            if outcome.status == "CONFLICT":
                raise AlreadyExists(
                    "request_id: already used for a request with different content"
                )
            if outcome.status == "TOMBSTONE":
                raise FailedPrecondition("request_id: cancelled by CancelByRequest (冲正)")
            # STALE or OVERDRAW: the member changed since the read; adjudicate again.
        raise Unavailable("member state changed too often during settlement; retry")

    def _adjudicate(
        self,
        ref: Reference,
        req: pb.SettleRequest,
        inst: Any,
        snap: MemberSnapshot,
        service_date: dt.date,
        plan: S.ClaimPlan,
    ) -> tuple[pb.SettlementResponse, np.ndarray, np.ndarray]:
        resp = pb.SettlementResponse(
            request_id=req.request_id,
            psn_no=req.psn_no,
            institution_code=req.institution_code,
            setting=req.setting,
            policy_version=ref.policy_version,
            service_date=service_date.isoformat(),
            status=pb.QUOTED,
        )
        reason = S.gate_reason(snap.member, inst, req.card_no, service_date)
        if reason is not None:
            resp.status = pb.REFUSED
            resp.refusal_reason = reason
            return resp, np.empty(0, np.int64), np.empty((0, M.LO_N), np.int64)
        engine = ref.engine
        claims = S.claim_row(
            engine, snap.member, inst, snap.accumulators,
            setting=req.setting, service_date=service_date, referral=req.referral,
            emergency=req.emergency, diagnosis_code=req.diagnosis_code,
            use_account=req.use_account,
        ).reshape(1, M.CI_N)
        lines = S.line_rows(engine, req.lines, plan, inst, snap)
        offsets = np.array([0, len(lines)], dtype=np.int64)
        claim_out, line_out = engine.adjudicate(claims, lines, offsets)
        co = claim_out[0]
        S.check_invariants(co, line_out, req.lines)
        resp.amounts.CopyFrom(S.amounts(co))
        resp.lines.extend(S.line_results(req.lines, line_out))
        resp.notes.extend(M.note_names(int(co[M.CO_NOTES])))
        if snap.settlements_today + 1 > S.HIGH_FREQUENCY_PER_DAY_MAX:
            resp.warnings.append("HIGH_FREQUENCY")
        resp.acct_current_balance_fen = snap.member.acct_current_fen
        resp.acct_prior_balance_fen = snap.member.acct_prior_fen
        return resp, co, line_out

    async def _replay(self, snap: MemberSnapshot, req_hash: str) -> pb.SettlementResponse:
        idem = snap.idem
        if idem.get("k") == "tombstone":
            raise FailedPrecondition("request_id: cancelled by CancelByRequest (冲正)")
        if idem.get("h") != req_hash:
            raise AlreadyExists("request_id: already used for a request with different content")
        return await self._replay_by_id(idem.get("s", ""))

    async def _replay_by_id(self, settlement_id: str) -> pb.SettlementResponse:
        record = await self.store.settlement_record(settlement_id)
        if record is None:
            raise FailedPrecondition(f"request_id: settlement {settlement_id} is not readable")
        resp = pb.SettlementResponse.FromString(record["resp"])
        resp.replay = True
        if record.get("status") == b"REVERSED":
            resp.status = pb.REVERSED
        return resp

    # --- not served yet -------------------------------------------------------------
    @handler
    async def ReverseSettlement(
        self, request: pb.ReverseRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReversalResponse:
        raise _unimplemented("ReverseSettlement")

    @handler
    async def CancelByRequest(
        self, request: pb.CancelRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelResponse:
        raise _unimplemented("CancelByRequest")

    @handler
    async def Admit(
        self, request: pb.AdmitRequest, context: grpc.aio.ServicerContext
    ) -> pb.EpisodeResponse:
        raise _unimplemented("Admit")

    @handler
    async def Discharge(
        self, request: pb.DischargeRequest, context: grpc.aio.ServicerContext
    ) -> pb.EpisodeResponse:
        raise _unimplemented("Discharge")

    @handler
    async def UploadFeeDetails(
        self, request_iterator: Any, context: grpc.aio.ServicerContext
    ) -> pb.FeeDetailUploadResponse:
        raise _unimplemented("UploadFeeDetails")

    @handler
    async def GetSettlement(
        self, request: pb.GetSettlementRequest, context: grpc.aio.ServicerContext
    ) -> pb.SettlementResponse:
        raise _unimplemented("GetSettlement")

    @handler
    async def Reconcile(
        self, request: pb.ReconcileRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReconcileResponse:
        raise _unimplemented("Reconcile")

    async def ExportSettlements(
        self, request: pb.ExportSettlementsRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED, "ExportSettlements is not served by this gateway version"
        )
        yield pb.SettlementResponse()  # pragma: no cover - makes this an async generator


def _unimplemented(name: str) -> ClaimError:
    err = ClaimError(f"{name} is not served by this gateway version")
    err.code = grpc.StatusCode.UNIMPLEMENTED
    return err
