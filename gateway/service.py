"""The ClaimGateway servicer: every transaction of docs/benefit-rules.md §7.

CheckEligibility, PreSettle and Settle are the claim path (gateway/claims.py); the
reversals, the inpatient episode, queries, reconciliation and export are here. Every
method runs inside one call's bookkeeping (gateway/calls.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator

import grpc

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway import budget as budget_mod
from gateway import metrics
from gateway import settlement as S
from gateway import validate as V
from gateway.accesslog import AccessLog
from gateway.admission import Admission, AdmissionConfig
from gateway.budget import Budgets
from gateway.calls import export_handler, handler, upload_handler
from gateway.claims import STALE_RETRIES_MAX, ClaimPath, check_setting, institution_of
from gateway.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from gateway.keys import (
    PARTITIONS,
    new_episode_id,
    new_reversal_id,
    partition_of,
    partition_of_settlement,
)
from gateway.reference import Reference
from gateway.store import Store
from rules_compiled import model as M

log = logging.getLogger("claimgate")

LINES_PER_EPISODE_MAX = 20_000
LINES_PER_CHUNK_MAX = 1_000
CLEARING_TIME_ZONE = "Asia/Shanghai"  # the clearing day's zone, as Reconcile/Export say it


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ClaimGatewayService(pb_grpc.ClaimGatewayServicer):
    def __init__(
        self,
        store: Store,
        reference: Reference,
        *,
        budgets: Budgets | None = None,
        admission: AdmissionConfig | None = None,
        access_log: AccessLog | None = None,
        require_client_certificate: bool = False,
    ) -> None:
        self.store = store
        self.require_client_certificate = require_client_certificate
        self.reference = reference
        self.claims = ClaimPath(store)
        self.budgets = budgets or Budgets()
        self.admission = Admission(admission or AdmissionConfig())
        self.access_log = access_log or AccessLog(enabled=False)
        self.store_up = True  # kept current by the server's store monitor

    # --- 1101 ---------------------------------------------------------------------
    @handler
    async def CheckEligibility(
        self, request: pb.EligibilityRequest, context: grpc.aio.ServicerContext
    ) -> pb.EligibilityResponse:
        return await self.claims.eligibility(self.reference, request)

    # --- 2101 / 2102, 2206 / 2207, 2303 / 2304 ---------------------------------------
    @handler
    async def PreSettle(
        self, request: pb.SettleRequest, context: grpc.aio.ServicerContext
    ) -> pb.SettlementResponse:
        return await self.claims.settle(self.reference, request, commit=False)

    @handler
    async def Settle(
        self, request: pb.SettleRequest, context: grpc.aio.ServicerContext
    ) -> pb.SettlementResponse:
        return await self.claims.settle(self.reference, request, commit=True)

    # --- 2103 / 2208 / 2305 ----------------------------------------------------------
    @handler
    async def ReverseSettlement(
        self, request: pb.ReverseRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReversalResponse:
        V.check_reverse(request)
        if partition_of_settlement(request.settlement_id) != partition_of(request.psn_no):
            raise NotFound(
                f"settlement_id: no settlement {request.settlement_id!r} of this member",
                reason="UNKNOWN_SETTLEMENT",
            )
        record = await self.store.settlement_record(request.settlement_id)
        if record is None or record.get("psn", b"").decode() != request.psn_no or (
            record.get("inst", b"").decode() != request.institution_code
        ):  # another institution's settlement answers exactly as an unknown one
            raise NotFound(
                f"settlement_id: no settlement {request.settlement_id!r} of this member",
                reason="UNKNOWN_SETTLEMENT",
            )
        return await self._reverse(
            request.psn_no, request.settlement_id, record, request_id=request.request_id,
            request_hash=S.request_hash(request), institution_code=request.institution_code,
            operator=request.operator_id, terminal=request.terminal_id, kind="REVERSE",
        )

    async def _reverse(
        self, psn_no: str, settlement_id: str, record: dict[str, bytes], *, request_id: str,
        request_hash: str, institution_code: str, operator: str, terminal: str, kind: str,
        expected_request_id: str = "",
    ) -> pb.ReversalResponse:
        now = _now()
        today = S.clearing_day(now)
        p = partition_of(psn_no)
        reversal_id = new_reversal_id(p, today)
        window_days = self.reference.engine.policy.reversal_window_days
        out = await self.store.reverse_settlement(
            psn_no, settlement_id, record, request_id=request_id, request_hash=request_hash,
            institution_code=institution_code, reversal_id=reversal_id,
            today_day=M.day_number(today), window_days=window_days,
            reversed_at=S.stamp(now),
            journal={"type": kind, "rev": reversal_id, "setl": settlement_id, "req": request_id,
                     "psn": psn_no, "inst": institution_code, "op": operator, "term": terminal,
                     "at": S.stamp(now), "sday": M.day_number(today)},
            expected_request_id=expected_request_id,
        )
        status = out[0]
        if status in ("OK", "ALREADY"):  # the script answers the reversal's id, balances, time
            rev_id, cur, pri, at = out[1:5]
        elif status == "REPLAY":  # a repeated reversal request: read what the first one did
            fresh = await self.store.settlement_record(settlement_id)
            assert fresh is not None
            rev_id, cur, pri, at = (fresh.get(k, b"").decode() for k in
                                    ("rev", "rev_cur", "rev_pri", "rev_at"))
        if status in ("OK", "ALREADY", "REPLAY"):
            original = pb.SettlementResponse.FromString(record["resp"])
            return pb.ReversalResponse(
                reversal_id=rev_id,
                settlement_id=settlement_id,
                replay=status != "OK",
                reversed_amounts=original.amounts,
                acct_current_balance_fen=int(cur or 0),
                acct_prior_balance_fen=int(pri or 0),
                reversed_at=at,
            )
        if status == "CONFLICT":
            raise AlreadyExists("request_id: already used for a request with different content")
        if status == "DENIED":  # another institution's settlement answers as an unknown one
            raise NotFound(f"settlement_id: no settlement {settlement_id!r} of this member",
                           reason="UNKNOWN_SETTLEMENT")
        if status == "EXPIRED":
            raise FailedPrecondition(
                f"settlement_id: older than the {window_days}-day reversal window",
                reason="REVERSAL_WINDOW_EXPIRED"
            )
        if status == "MISMATCH":
            raise FailedPrecondition(
                "original_request_id: does not match the settlement",
                reason="ORIGINAL_REQUEST_MISMATCH",
            )
        raise NotFound(
            f"settlement_id: no settlement {settlement_id!r}",
            reason="UNKNOWN_SETTLEMENT",
        )

    # --- 2601 ------------------------------------------------------------------------
    @handler
    async def CancelByRequest(
        self, request: pb.CancelRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelResponse:
        V.check_cancel(request)
        institution_of(self.reference, request.institution_code)
        req_hash = S.request_hash(request)
        now = _now()
        for _attempt in range(STALE_RETRIES_MAX + 1):
            own = await self.store.idempotency_record(
                request.psn_no, request.institution_code, request.request_id
            )
            if own:
                if own.get("h") != req_hash or own.get("k") not in ("cancel", "reverse"):
                    raise AlreadyExists(
                        "request_id: already used for a request with different content"
                    )
            original = await self.store.idempotency_record(
                request.psn_no, request.institution_code, request.original_request_id
            )
            kind = original.get("k")
            if kind == "settle":
                settlement_id = original["s"]
                record = await self.store.settlement_record(settlement_id)
                if record is None or record.get("psn", b"").decode() != request.psn_no:
                    # Request ids are unique per partition, not per member: the original
                    # must be this member's, or it is not found.
                    raise NotFound(
                        f"original_request_id: no request {request.original_request_id!r} "
                        "of this member", reason="UNKNOWN_REQUEST"
                    )
                rev = await self._reverse(
                    request.psn_no, settlement_id, record, request_id=request.request_id,
                    request_hash=req_hash, institution_code=request.institution_code,
                    operator=request.operator_id, terminal=request.terminal_id, kind="CANCEL",
                    expected_request_id=request.original_request_id,
                )
                return pb.CancelResponse(
                    outcome=pb.CancelResponse.REVERSED, settlement_id=settlement_id,
                    reversal_id=rev.reversal_id, replay=rev.replay,
                )
            if kind == "tombstone":
                return pb.CancelResponse(outcome=pb.CancelResponse.TOMBSTONED,
                                         replay=bool(own))
            if kind:
                return pb.CancelResponse(outcome=pb.CancelResponse.NOTHING_TO_DO,
                                         replay=bool(own))
            out = await self.store.tombstone(
                request.psn_no, request.original_request_id, request_id=request.request_id,
                request_hash=req_hash, institution_code=request.institution_code,
                journal={"type": "TOMBSTONE", "req": request.request_id,
                         "orig": request.original_request_id, "psn": request.psn_no,
                         "inst": request.institution_code, "op": request.operator_id,
                         "term": request.terminal_id, "at": S.stamp(now)},
            )
            if out[0] in ("OK", "REPLAY"):
                return pb.CancelResponse(outcome=pb.CancelResponse.TOMBSTONED,
                                         replay=out[0] == "REPLAY")
            if out[0] == "CONFLICT":
                raise AlreadyExists(
                    "request_id: already used for a request with different content"
                )
            # EXISTS: the original arrived meanwhile; look again.
        raise Unavailable("the original request kept changing; retry", reason="CONTENTION")

    # --- 2401 / 2402 -----------------------------------------------------------------
    @handler
    async def Admit(
        self, request: pb.AdmitRequest, context: grpc.aio.ServicerContext
    ) -> pb.EpisodeResponse:
        admission = V.check_admit(request)
        ref = self.reference
        inst = institution_of(ref, request.institution_code)
        check_setting(pb.INPATIENT, inst)
        snap = await self.store.read_member(
            request.psn_no, year=admission.year, day=M.day_number(admission)
        )
        if snap is None:
            raise NotFound(f"psn_no: unknown member {request.psn_no!r}", reason="UNKNOWN_MEMBER")
        reason = S.gate_reason(snap.member, inst, request.card_no, admission, admission=True)
        if reason is not None:  # a refused admission is an answer, like a refused claim
            return pb.EpisodeResponse(status="REFUSED", refusal_reason=reason)
        now = _now()
        episode_id = new_episode_id(snap.keys.partition, admission)
        out = await self.store.admit(
            request.psn_no, request_id=request.request_id, request_hash=S.request_hash(request),
            episode_id=episode_id, institution_code=request.institution_code,
            admission_day=M.day_number(admission), diagnosis_code=request.diagnosis_code,
            referral=request.referral, emergency=request.emergency,
            readmission_days=ref.engine.policy.readmission_window_days,
            journal={"type": "ADMIT", "ep": episode_id, "req": request.request_id,
                     "psn": request.psn_no, "inst": request.institution_code,
                     "op": request.operator_id, "term": request.terminal_id,
                     "at": S.stamp(now)},
        )
        if out[0] == "OK":
            return pb.EpisodeResponse(episode_id=out[1], status="OPEN",
                                      warnings=[w for w in out[2:3] if w])
        if out[0] == "REPLAY":
            ep = await self.store.episode(request.psn_no, out[1])
            return pb.EpisodeResponse(episode_id=out[1], status=ep.get("status", ""),
                                      warnings=[w for w in [ep.get("warn", "")] if w],
                                      replay=True)
        if out[0] == "OPEN":
            ep = await self.store.episode(request.psn_no, out[1])
            if ep.get("inst") != request.institution_code:  # not its episode: no id
                raise FailedPrecondition("psn_no: already admitted", reason="ALREADY_ADMITTED")
            raise FailedPrecondition(f"psn_no: already admitted (episode {out[1]})",
                                     reason="ALREADY_ADMITTED")
        if out[0] == "CONFLICT":
            raise AlreadyExists("request_id: already used for a request with different content")
        raise NotFound(f"psn_no: unknown member {request.psn_no!r}", reason="UNKNOWN_MEMBER")

    @handler
    async def Discharge(
        self, request: pb.DischargeRequest, context: grpc.aio.ServicerContext
    ) -> pb.EpisodeResponse:
        discharge, order = V.check_discharge(request)
        institution_of(self.reference, request.institution_code)
        if partition_of_settlement(request.episode_id, "E") != partition_of(request.psn_no):
            raise NotFound(
                f"episode_id: unknown episode {request.episode_id!r}",
                reason="UNKNOWN_EPISODE",
            )
        out = await self.store.discharge(
            request.psn_no, request.episode_id, request_id=request.request_id,
            request_hash=S.request_hash(request), institution_code=request.institution_code,
            discharge_day=M.day_number(discharge),
            order_day=M.day_number(order) if order else -1,
            diagnosis_code=request.diagnosis_code,
            journal={"type": "DISCHARGE", "ep": request.episode_id, "req": request.request_id,
                     "psn": request.psn_no, "inst": request.institution_code,
                     "op": request.operator_id, "term": request.terminal_id,
                     "at": S.stamp(_now())},
        )
        if out[0] in ("OK", "REPLAY"):
            return pb.EpisodeResponse(episode_id=request.episode_id, status="DISCHARGED",
                                      warnings=[w for w in out[1:2] if w],
                                      replay=out[0] == "REPLAY")
        if out[0] == "DENIED":  # another institution's episode answers as an unknown one
            raise NotFound(f"episode_id: unknown episode {request.episode_id!r}",
                           reason="UNKNOWN_EPISODE")
        if out[0] == "STATUS":
            raise FailedPrecondition(
                f"episode_id: episode is {out[1]}, not OPEN",
                reason="EPISODE_NOT_OPEN",
            )
        if out[0] == "BEFORE_ADMISSION":
            raise InvalidArgument("discharge_date", "before the admission date")
        if out[0] == "CONFLICT":
            raise AlreadyExists("request_id: already used for a request with different content")
        raise NotFound(
            f"episode_id: unknown episode {request.episode_id!r}",
            reason="UNKNOWN_EPISODE",
        )

    # --- 2301 ------------------------------------------------------------------------
    @upload_handler
    async def UploadFeeDetails(
        self, request_iterator: AsyncIterator[pb.FeeDetailChunk],
        context: grpc.aio.ServicerContext,
    ) -> pb.FeeDetailUploadResponse:
        """Each chunk is its own request (request_id) and is applied all or nothing.
        (The handler has bound every chunk to the caller's institution.)"""
        resp = pb.FeeDetailUploadResponse()
        first: pb.FeeDetailChunk | None = None
        chunks = replays = 0
        async for chunk in request_iterator:
            chunks += 1
            V.check_chunk(chunk, lines_per_chunk_max=LINES_PER_CHUNK_MAX)
            if first is None:
                first = chunk
                institution_of(self.reference, chunk.institution_code)
                resp.episode_id = chunk.episode_id
                if partition_of_settlement(chunk.episode_id, "E") != partition_of(chunk.psn_no):
                    raise NotFound(
                        f"episode_id: unknown episode {chunk.episode_id!r}",
                        reason="UNKNOWN_EPISODE",
                    )
            elif (chunk.episode_id, chunk.psn_no, chunk.institution_code) != (
                first.episode_id, first.psn_no, first.institution_code
            ):
                raise InvalidArgument("episode_id", "one upload carries one episode's lines")
            lines = [
                (ln.feedetl_sn, ln.SerializeToString(deterministic=True), ln.amount_fen)
                for ln in chunk.lines
            ]
            out = await self.store.upload_lines(
                chunk.psn_no, chunk.episode_id, request_id=chunk.request_id,
                request_hash=S.request_hash(chunk), institution_code=chunk.institution_code,
                lines_per_episode_max=LINES_PER_EPISODE_MAX, lines=lines,
                journal={"type": "UPLOAD", "ep": chunk.episode_id, "req": chunk.request_id,
                         "psn": chunk.psn_no, "inst": chunk.institution_code,
                         "op": chunk.operator_id, "term": chunk.terminal_id,
                         "at": S.stamp(_now())},
            )
            status = out[0]
            if status in ("OK", "REPLAY"):
                replays += status == "REPLAY"
                resp.lines_received += len(lines)
                resp.lines_added += int(out[1])
                resp.lines_unchanged += int(out[2])
                resp.episode_line_count = int(out[3])
                resp.episode_amount_fen = int(out[4])
                continue
            if status == "LINE_CONFLICT":
                raise AlreadyExists(
                    f"lines: feedetl_sn {out[1]} was uploaded before with other content",
                    reason="FEEDETL_SN_REUSED"
                )
            if status == "TOO_MANY":
                raise InvalidArgument("lines", f"an episode holds at most {out[1]} lines")
            if status == "DENIED":  # another institution's episode answers as an unknown one
                raise NotFound(f"episode_id: unknown episode {chunk.episode_id!r}",
                               reason="UNKNOWN_EPISODE")
            if status == "STATUS":
                raise FailedPrecondition(
                    f"episode_id: episode is {out[1]}; no more lines",
                    reason="EPISODE_NOT_OPEN",
                )
            if status == "CONFLICT":
                raise AlreadyExists(
                    "request_id: already used for a request with different content"
                )
            raise NotFound(
                f"episode_id: unknown episode {chunk.episode_id!r}",
                reason="UNKNOWN_EPISODE",
            )
        if first is None:
            raise InvalidArgument("lines", "the upload carried no chunk")
        resp.replay = replays == chunks
        return resp

    # --- 5203 ------------------------------------------------------------------------
    @handler
    async def GetSettlement(
        self, request: pb.GetSettlementRequest, context: grpc.aio.ServicerContext
    ) -> pb.SettlementResponse:
        V.check_get(request)
        settlement_id = request.settlement_id
        if not settlement_id:
            idem = await self.store.idempotency_record(
                request.psn_no, request.institution_code, request.request_id
            )
            if idem.get("k") != "settle":
                raise NotFound(
                    f"request_id: no settlement for {request.request_id!r}",
                    reason="UNKNOWN_REQUEST",
                )
            settlement_id = idem["s"]
        record = await self.store.settlement_record(settlement_id)
        if record is None or (
            not request.settlement_id and record.get("psn", b"").decode() != request.psn_no
        ):
            raise NotFound(
                f"settlement_id: no settlement {settlement_id!r}",
                reason="UNKNOWN_SETTLEMENT",
            )
        if record.get("inst", b"").decode() != request.institution_code:
            # Another institution's settlement answers exactly as an unknown one.
            raise NotFound(f"settlement_id: no settlement {settlement_id!r}",
                           reason="UNKNOWN_SETTLEMENT")
        return S.response_from_record(record)

    # --- 3201 / 3202 -----------------------------------------------------------------
    @handler
    async def Reconcile(
        self, request: pb.ReconcileRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReconcileResponse:
        start, end = V.check_range(request.institution_code, request.from_date, request.to_date)
        V.check_declared_totals(request.declared)
        days = range(M.day_number(start), M.day_number(end) + 1)
        sums = await self.store.reconcile_totals(request.institution_code, days)
        gateway = pb.ReconcileTotals(
            settlement_count=sums.get("n", 0),
            medfee_sumamt_fen=sums.get("medfee", 0),
            fund_pay_sumamt_fen=sums.get("fund", 0),
            hifp_pay_fen=sums.get("hifp", 0),
            supplementary_pay_fen=sums.get("supp", 0),
            hifmi_pay_fen=sums.get("hifmi", 0),
            maf_pay_fen=sums.get("maf", 0),
            acct_pay_fen=sums.get("acct", 0),
            psn_cash_pay_fen=sums.get("cash", 0),
            reversal_count=sums.get("rn", 0),
            reversed_medfee_sumamt_fen=sums.get("rmedfee", 0),
        )
        difference = pb.ReconcileTotals()
        for f in pb.ReconcileTotals.DESCRIPTOR.fields:
            setattr(difference, f.name,
                    getattr(gateway, f.name) - getattr(request.declared, f.name))
        matched = difference == pb.ReconcileTotals()
        if not matched:
            metrics.RECONCILE_MISMATCHES.labels(request.institution_code).inc()
        return pb.ReconcileResponse(
            result=pb.ReconcileResponse.MATCH if matched else pb.ReconcileResponse.MISMATCH,
            gateway=gateway, declared=request.declared, difference=difference,
            clearing_time_zone=CLEARING_TIME_ZONE,
        )

    @export_handler
    async def ExportSettlements(
        self, request: pb.ExportSettlementsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.SettlementResponse]:
        """Every settlement of the institution cleared in the range, partition by partition."""
        start, end = V.check_range(request.institution_code, request.from_date, request.to_date)
        await context.send_initial_metadata((("clearing-time-zone", CLEARING_TIME_ZONE),))
        first_day, last_day = M.day_number(start), M.day_number(end)
        # Journal ids are commit times; a day's margin each side, then filter by clearing day.
        start_ms = (first_day - 1) * 86_400_000
        end_ms = (last_day + 2) * 86_400_000
        inst = request.institution_code.encode()
        for p in range(PARTITIONS):
            budget_mod.check("the export")
            entries = await self.store.journal_entries(p, start_ms, end_ms)
            if entries:  # replica acknowledgement: once per partition, not per record
                await self.store.replicated(p)
            for _eid, fields in entries:
                if fields.get("type") != b"SETTLE" or fields.get("inst") != inst:
                    continue
                if not first_day <= int(fields.get("sday", b"-1")) <= last_day:
                    continue
                record = await self.store.settlement_record(fields["setl"].decode(),
                                                            confirm=False)
                if record is not None:
                    yield S.response_from_record(record)
