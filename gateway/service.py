"""The ClaimGateway servicer: every transaction of docs/benefit-rules.md §7.

The claim path is: validate → read the member (one round trip) → kernel →
commit (one script call) → respond. A stale read makes the commit refuse and
the claim is read and adjudicated again, a bounded number of times.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import operator
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
import numpy as np
import redis.exceptions

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway import budget as budget_mod
from gateway import metrics
from gateway import settlement as S
from gateway import validate as V
from gateway.accesslog import AccessLog
from gateway.admission import Admission, AdmissionConfig, Shed
from gateway.budget import COMMIT_RESERVE_S, Budgets
from gateway.domain import Institution
from gateway.errors import (
    AlreadyExists,
    ClaimError,
    ClientCancelled,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RequestTimeout,
    Unavailable,
    shed_status,
    status_of,
)
from gateway.keys import (
    PARTITIONS,
    new_episode_id,
    new_reversal_id,
    new_settlement_id,
    partition_of,
    partition_of_settlement,
)
from gateway.memberlock import MemberLocks
from gateway.reference import Reference
from gateway.security import check_decoded, peer_institution
from gateway.store import MemberSnapshot, Store, StoreTimeout
from gateway.wire import Serialized, message_of
from rules_compiled import model as M

log = logging.getLogger("claimgate")

STALE_RETRIES_MAX = 5  # re-read and re-adjudicate at most this often on a stale read
LINES_PER_EPISODE_MAX = 20_000
LINES_PER_CHUNK_MAX = 1_000
CST = dt.timezone(dt.timedelta(hours=8))
CLEARING_TIME_ZONE = "Asia/Shanghai"  # the clearing day's zone, as Reconcile/Export say it

Req = TypeVar("Req")
Resp = TypeVar("Resp")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stamp(t: dt.datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _clearing_day(t: dt.datetime) -> dt.date:
    """The day a settlement is cleared under: its commit time in China Standard Time."""
    return t.astimezone(CST).date()


_CANCELLED = grpc.StatusCode.CANCELLED
_EOF = grpc.aio.EOF  # type: ignore[attr-defined]  # the end of a client stream


AbortArgs = tuple[grpc.StatusCode, str, tuple[tuple[str, str | bytes], ...]]


# The methods whose effect a request id makes happen once (the others only read).
_IDEMPOTENT_METHODS = frozenset({"Settle", "ReverseSettlement", "CancelByRequest", "Admit",
                                 "Discharge", "UploadFeeDetails"})


def _status_of(method: str, e: Exception) -> tuple[str, AbortArgs]:
    """(shed reason, ``context.abort`` arguments with the status details) of a call
    that raised."""
    if isinstance(e, Shed):
        metrics.SHED.labels(e.reason).inc()
        return e.reason, shed_status(e.reason, e.message)
    if isinstance(e, ClaimError):
        return "", status_of(e.code, e.message, e)
    unavailable = grpc.StatusCode.UNAVAILABLE
    if isinstance(e, StoreTimeout):
        again = " with the same request_id" if method in _IDEMPOTENT_METHODS else ""
        return "", status_of(unavailable, f"state store slow ({e}); retry{again}")
    if isinstance(e, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        log.warning("redis unavailable: %s", e)
        return "", status_of(unavailable, "state store unavailable; retry")
    if isinstance(e, redis.exceptions.RedisError):
        log.error("redis error in %s: %s", method, e)
        return "", status_of(unavailable, "state store error; retry")
    log.error("internal error in %s", method, exc_info=e)
    return "", status_of(grpc.StatusCode.INTERNAL, "internal error")


class _Call:
    """One call's identity, admission, deadline and access-log line.

    In this order: the call counts against its connection until its request arrives;
    under mutual TLS it is admitted as the certificate's institution before its
    request is read (so a client that never sends one only ever holds its own
    slots); the request must arrive within ``request_wait_s``; it must name the
    certificate's institution (on a plain-text channel, the institution it names is
    admitted now); then it counts against the worker's in-flight bound and the
    latency budget starts. Calls still waiting for their request never count against
    the worker's bound, so no set of institutions can fill it with idle calls. Every
    call ends in exactly one access-log line with its real final status.
    """

    __slots__ = (
        "code",
        "connected",
        "context",
        "exporting",
        "institution",
        "method",
        "peer",
        "reason",
        "request",
        "resp",
        "svc",
        "t0",
        "token",
        "who",
        "working",
    )

    def __init__(self, svc: ClaimGatewayService, method: str,
                 context: grpc.aio.ServicerContext) -> None:
        self.svc = svc
        self.method = method
        self.context = context
        self.t0 = time.perf_counter()
        self.peer = context.peer() or ""
        self.institution: str | None = None  # admitted as
        self.who = ""  # the certificate's institution, known before admission
        self.connected = False
        self.request: Any = None  # the first message, for the log
        self.resp: Any = None
        self.code = grpc.StatusCode.OK
        self.reason = ""
        self.token: Any = None
        self.working = False  # counted against the worker's bound
        self.exporting = False  # counted against the worker's export bound

    def start(self) -> None:
        adm = self.svc.admission
        if self.svc.require_client_certificate:
            self.who = peer_institution(self.context) or ""
        adm.enter_connection(self.peer)
        self.connected = True
        if self.svc.require_client_certificate:
            if not self.who:
                raise PermissionDenied("institution_code: no client certificate",
                                       reason="CLIENT_CERTIFICATE_REQUIRED")
            self._admit(self.who)

    def _admit(self, institution: str) -> None:
        self.svc.admission.enter(institution)
        self.institution = institution

    async def receive(self) -> Any:
        """The next message, or None at the end of the stream; bounded in time."""
        wait_s = self.svc.admission.config.request_wait_s
        deadline = budget_mod.DEADLINE.get()
        if deadline is not None:
            wait_s = min(wait_s, deadline - asyncio.get_running_loop().time())
        try:
            async with asyncio.timeout(max(wait_s, 0.0)):
                msg = await self.context.read()
        except TimeoutError:
            if deadline is not None and wait_s < self.svc.admission.config.request_wait_s:
                budget_mod.check("the next message")
            raise RequestTimeout(
                f"request: not received within {self.svc.admission.config.request_wait_s:g} s"
            ) from None
        if self.connected:  # no longer waiting for its request
            self.connected = False
            self.svc.admission.leave_connection(self.peer)
        if msg is _EOF:
            return None
        if self.request is None:
            self.request = msg
        return msg

    def identify(self, message: Any) -> None:
        """Bind a request (or an upload chunk) to the call's institution."""
        check_decoded(message)
        code = message.institution_code
        if self.svc.require_client_certificate:
            V.check_code(code, "institution_code", V.LIMITS.code_len_max)
            if code != self.institution:
                raise PermissionDenied(
                    f"institution_code: the client certificate is for {self.institution!r}, "
                    f"not {code[:64]!r}"
                )
        elif self.institution is None:
            self._admit(code)
        elif code != self.institution:
            raise InvalidArgument("institution_code",
                                  "every message of a call names the same institution")

    def begin(self, request: Any) -> None:
        """The request has arrived: count the call against the worker's bound, and
        start the latency budget, the smaller of the method's and the client's."""
        self.svc.admission.enter_work()
        self.working = True
        metrics.INFLIGHT.inc()
        budget = self.svc.budgets.budget_s(self.method, request)
        client_left = self.context.time_remaining()
        if client_left is not None:
            budget = min(budget, client_left)
        loop = asyncio.get_running_loop()
        self.token = budget_mod.DEADLINE.set(loop.time() + budget)
        if not self.svc.store_up:
            raise Unavailable("state store unreachable; retry")

    def failed(self, e: Exception) -> AbortArgs:
        self.reason, abort = _status_of(self.method, e)
        self.code = abort[0]
        return abort

    def finish(self) -> None:
        if self.token is not None:
            budget_mod.DEADLINE.reset(self.token)
        adm = self.svc.admission
        if self.exporting:
            adm.leave_export()
        if self.working:
            adm.leave_work()
            metrics.INFLIGHT.dec()
        if self.institution is not None:
            adm.leave(self.institution)
        if self.connected:
            adm.leave_connection(self.peer)
        self.svc._record(self.method, self.request, self.code, self.reason, self.t0,
                         self.resp, institution=self.who or self.institution or "")


async def _run(call: _Call, body: Awaitable[Resp]) -> Resp:
    """A call's body with its bookkeeping: an error becomes the call's status (with its
    details), and the call is counted and logged exactly once, however it ends. The
    body starts with :meth:`_Call.start`."""
    try:
        return await body
    except asyncio.CancelledError:
        call.code = _CANCELLED
        raise
    except Exception as e:
        abort = call.failed(e)
    finally:
        call.finish()
    await call.context.abort(*abort)
    raise AssertionError("unreachable")  # context.abort raises


async def _request(call: _Call) -> Any:
    """Start the call and wait for its one request; bind it and start its budget."""
    call.start()
    request = await call.receive()
    if request is None:  # a unary client only half-closes after its request
        raise ClientCancelled("request: the call ended before its request was sent")
    call.identify(request)
    call.begin(request)
    return request


def _served(
    fn: Callable[..., Any],
    body: Callable[[ClaimGatewayService, _Call, grpc.aio.ServicerContext], Awaitable[Any]],
) -> Callable[[ClaimGatewayService, Any, grpc.aio.ServicerContext], Awaitable[Any]]:
    """The servicer method named after ``fn`` that runs ``body`` as one call."""
    method = fn.__name__

    async def wrapped(
        self: ClaimGatewayService, _requests: Any, context: grpc.aio.ServicerContext
    ) -> Any:
        call = _Call(self, method, context)
        return await _run(call, body(self, call, context))

    wrapped.__name__ = method
    wrapped.__doc__ = fn.__doc__
    return wrapped


def handler(
    fn: Callable[[ClaimGatewayService, Req, grpc.aio.ServicerContext], Awaitable[Resp]],
) -> Callable[[ClaimGatewayService, Any, grpc.aio.ServicerContext], Awaitable[Resp]]:
    """A unary method, served as a client stream so that the wait for its request
    is bounded (see :class:`_Call`); errors mapped to statuses; counted and logged."""

    async def body(svc: ClaimGatewayService, call: _Call,
                   context: grpc.aio.ServicerContext) -> Resp:
        resp = await fn(svc, await _request(call), context)
        call.resp = resp
        call.reason = getattr(message_of(resp), "refusal_reason", "")
        return resp

    return _served(fn, body)


def upload_handler(
    fn: Callable[[ClaimGatewayService, AsyncIterator[Any], grpc.aio.ServicerContext],
                 Awaitable[Resp]],
) -> Callable[[ClaimGatewayService, Any, grpc.aio.ServicerContext], Awaitable[Resp]]:
    """A client-streaming method: every message is bound to the call's institution
    and must arrive within ``request_wait_s`` of the one before."""

    async def messages(call: _Call) -> AsyncIterator[Any]:
        while (msg := await call.receive()) is not None:
            call.identify(msg)
            if not call.working:  # the first chunk: the upload's work begins
                call.begin(None)
            yield msg

    async def body(svc: ClaimGatewayService, call: _Call,
                   context: grpc.aio.ServicerContext) -> Resp:
        call.start()
        resp = await fn(svc, messages(call), context)
        call.resp = resp
        return resp

    return _served(fn, body)


def export_handler(
    fn: Callable[[ClaimGatewayService, Any, grpc.aio.ServicerContext], AsyncIterator[Any]],
) -> Callable[[ClaimGatewayService, Any, grpc.aio.ServicerContext], Awaitable[None]]:
    """A server-streaming method: admitted like any call, held to the worker's bound
    on exports, and each answer must be taken by the client within ``request_wait_s``
    (a client that stops reading is cut off)."""

    async def body(svc: ClaimGatewayService, call: _Call,
                   context: grpc.aio.ServicerContext) -> None:
        request = await _request(call)
        svc.admission.enter_export()
        call.exporting = True
        wait_s = svc.admission.config.request_wait_s
        async for msg in fn(svc, request, context):
            try:
                async with asyncio.timeout(wait_s):
                    await context.write(msg)
            except TimeoutError:
                raise RequestTimeout(
                    f"the client did not read the answer within {wait_s:g} s"
                ) from None

    return _served(fn, body)


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
        self.member_locks = MemberLocks()
        self.budgets = budgets or Budgets()
        self.admission = Admission(admission or AdmissionConfig())
        self.access_log = access_log or AccessLog(enabled=False)
        self.store_up = True  # kept current by the server's store monitor

    def _record(
        self, method: str, request: Any, code: grpc.StatusCode, reason: str, t0: float,
        resp: Any = None, *, institution: str = "",
    ) -> None:
        """Metrics and the access-log line of one finished call (the access log cuts
        every field to its limit)."""
        latency_s = time.perf_counter() - t0
        metrics.request_done(method, code.name, reason, latency_s)
        resp = message_of(resp)
        warnings: list[str] = []
        if isinstance(resp, pb.SettlementResponse):
            warnings = list(resp.warnings)
            if warnings:
                metrics.warned(warnings)
            if resp.status == pb.SETTLED and not resp.replay:
                a = resp.amounts
                metrics.paid((("hifp", a.hifp_pay_fen), ("supplementary",
                              a.supplementary_pay_fen), ("hifmi", a.hifmi_pay_fen),
                              ("maf", a.maf_pay_fen), ("acct", a.acct_pay_fen),
                              ("cash", a.psn_cash_pay_fen)))
        self.access_log.call(
            getattr(request, "request_id", ""),
            institution or getattr(request, "institution_code", ""),
            getattr(request, "psn_no", ""), method, code.name, latency_s, reason, warnings,
        )

    # --- helpers ------------------------------------------------------------------
    @staticmethod
    def _institution(ref: Reference, code: str) -> Institution:
        inst = ref.institutions.get(code)
        if inst is None:
            raise NotFound(
                f"institution_code: unknown institution {code!r}",
                reason="UNKNOWN_INSTITUTION",
            )
        return inst

    @staticmethod
    def _check_setting(setting: int, inst: Institution) -> None:
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
        on = V.check_eligibility(request)
        ref = self.reference
        inst = self._institution(ref, request.institution_code)
        snap = await self.store.read_member(request.psn_no, year=on.year, day=M.day_number(on))
        if snap is None:
            raise NotFound(f"psn_no: unknown member {request.psn_no!r}", reason="UNKNOWN_MEMBER")
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

    # --- 2101 / 2102, 2206 / 2207, 2303 / 2304 ---------------------------------------
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
        if not commit:
            return await self._settle_once(req, commit=False)
        async with self.member_locks.hold(req.psn_no):
            return await self._settle_once(req, commit=True)

    async def _settle_once(self, req: pb.SettleRequest, *, commit: bool) -> pb.SettlementResponse:
        service_date, line_dates = V.check_settle(req, quote=not commit)
        ref = self.reference  # one version for the whole request
        inst = self._institution(ref, req.institution_code)
        self._check_setting(req.setting, inst)
        episode_id = req.episode_id if req.setting == pb.INPATIENT else ""
        req_hash = S.request_hash(req) if commit else ""
        year = service_date.year
        service_day = M.day_number(service_date)
        plan = S.plan_claim(req.institution_code, req.lines, line_dates) if not episode_id else None
        for attempt in range(STALE_RETRIES_MAX + 1):
            if attempt:  # another process changed the member: back off a little, with jitter
                metrics.STALE_RETRIES.inc()
                await asyncio.sleep(random.uniform(0, 0.002 * attempt))
            budget_mod.check("reading the member")
            snap = await self.store.read_member(
                req.psn_no,
                year=year,
                day=service_day,
                fill_items=plan.fill_items if plan else (),
                dup_keys=plan.dup_keys if plan else (),
                request_id=req.request_id if commit else "",
                institution_code=req.institution_code,
                episode_id=episode_id,
            )
            if snap is None:
                raise NotFound(f"psn_no: unknown member {req.psn_no!r}", reason="UNKNOWN_MEMBER")
            if commit and snap.idem:
                return await self._replay(snap, req_hash)
            lines: list[pb.FeeLine] = list(req.lines)
            discharge_order: dt.date | None = None
            claim_plan = plan
            diagnosis, referral, emergency = req.diagnosis_code, req.referral, req.emergency
            if episode_id:
                lines, discharge_order, claim_plan = await self._episode_claim(
                    req, snap, service_date
                )
                ep = snap.episode
                diagnosis = diagnosis or ep.get("diag", "")
                referral = referral or int(ep.get("ref", "0"))
                emergency = emergency or ep.get("emg") == "1"
            assert claim_plan is not None
            resp, co, lo, kernel_input = self._adjudicate(
                ref, req, inst, snap, service_date, claim_plan, lines,
                diagnosis=diagnosis, referral=referral, emergency=emergency,
                discharge_order=discharge_order,
            )
            if not commit or resp.status == pb.REFUSED:
                return resp
            now = _now()
            settlement_id = new_settlement_id(snap.keys.partition, service_date)
            resp.settlement_id = settlement_id
            resp.status = pb.SETTLED
            resp.settled_at = _stamp(now)
            resp.acct_current_balance_fen = (
                snap.member.acct_current_fen - resp.amounts.acct_current_pay_fen
            )
            resp.acct_prior_balance_fen = (
                snap.member.acct_prior_fen - resp.amounts.acct_prior_pay_fen
            )
            body = resp.SerializeToString()
            plan_c = S.commit_plan(
                req, lines, snap, claim_plan, co, lo, ref.engine,
                year=year, service_day=service_day,
                settle_day=M.day_number(_clearing_day(now)), settlement_id=settlement_id,
                req_hash=req_hash, response_bytes=body,
                settled_at=resp.settled_at, episode_id=episode_id,
                episode_line_count=len(lines), kernel_input=kernel_input,
            )
            budget_mod.check("the commit", COMMIT_RESERVE_S)
            outcome = await self.store.commit_settlement(snap, plan_c)
            if outcome.status == "OK":
                if (outcome.acct_current_fen, outcome.acct_prior_fen) != (
                    resp.acct_current_balance_fen,
                    resp.acct_prior_balance_fen,
                ):
                    log.error("balance after commit differs from the response: %s", outcome)
                return Serialized(resp, body)  # type: ignore[return-value]
            if outcome.status == "REPLAY":
                return await self._replay_by_id(outcome.settlement_id)
            if outcome.status == "CONFLICT":
                raise AlreadyExists(
                    "request_id: already used for a request with different content"
                )
            if outcome.status == "TOMBSTONE":
                raise FailedPrecondition(
                    "request_id: cancelled by CancelByRequest (冲正)",
                    reason="TOMBSTONED",
                )
            if outcome.status == "EPISODE":
                raise FailedPrecondition(
                    f"episode_id: episode is {outcome.settlement_id}, not DISCHARGED",
                    reason="EPISODE_NOT_DISCHARGED"
                )
            # STALE or OVERDRAW: the member changed since the read; adjudicate again.
        raise Unavailable(
            "member state changed too often during settlement; retry",
            reason="CONTENTION",
        )

    async def _episode_claim(
        self, req: pb.SettleRequest, snap: MemberSnapshot, service_date: dt.date
    ) -> tuple[list[pb.FeeLine], dt.date | None, S.ClaimPlan]:
        """An inpatient claim's lines are its episode's uploaded lines."""
        ep = snap.episode
        if not ep or ep.get("psn") != req.psn_no:
            raise NotFound(f"episode_id: unknown episode {req.episode_id!r}",
                           reason="UNKNOWN_EPISODE")
        if ep.get("inst") != req.institution_code:  # another's answers as unknown ones do
            raise NotFound(f"episode_id: unknown episode {req.episode_id!r}",
                           reason="UNKNOWN_EPISODE")
        if ep.get("status") != "DISCHARGED":
            raise FailedPrecondition(
                f"episode_id: episode is {ep.get('status')}; settle after discharge",
                reason="EPISODE_NOT_DISCHARGED"
            )
        if M.day_number(service_date) != int(ep["dis"]):
            raise InvalidArgument("service_date", "must be the episode's discharge date")
        if not snap.episode_lines:
            raise FailedPrecondition(
                "episode_id: no fee lines were uploaded",
                reason="NO_FEE_LINES",
            )
        lines = sorted(parse_fee_lines(snap.episode_lines), key=_FEEDETL_SN)
        line_dates = [
            dt.date.fromisoformat(ln.service_date) if ln.service_date else service_date
            for ln in lines
        ]
        for i, d in enumerate(line_dates):
            if d > service_date:
                raise InvalidArgument(
                    f"lines[{i}].service_date", "an uploaded line is dated after the discharge"
                )
        plan = S.plan_claim(req.institution_code, lines, line_dates)
        snap.fills, snap.dup_seen = await self.store.read_abuse_state(
            snap.keys, plan.fill_items, plan.dup_keys
        )
        order_day = int(ep.get("ord", "-1"))
        order = M.from_day_number(order_day) if order_day >= 0 else None
        return lines, order, plan

    def _adjudicate(
        self,
        ref: Reference,
        req: pb.SettleRequest,
        inst: Institution,
        snap: MemberSnapshot,
        service_date: dt.date,
        plan: S.ClaimPlan,
        lines: list[pb.FeeLine],
        *,
        diagnosis: str,
        referral: int,
        emergency: bool,
        discharge_order: dt.date | None,
    ) -> tuple[pb.SettlementResponse, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """The claim's response, its kernel outputs (CO_*, LO_*) and inputs (CI_*, LI_*)."""
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
            empty = np.empty(0, np.int64)
            return resp, empty, np.empty((0, M.LO_N), np.int64), (empty, empty)
        engine = ref.engine
        claims = S.claim_row(
            engine, snap.member, inst, snap.accumulators,
            setting=req.setting, service_date=service_date, referral=referral,
            emergency=emergency, diagnosis_code=diagnosis,
            use_account=req.use_account, discharge_order_date=discharge_order,
        ).reshape(1, M.CI_N)
        line_cols = S.line_rows(engine, lines, plan, inst, snap)
        offsets = np.array([0, len(lines)], dtype=np.int64)
        t0 = time.perf_counter()
        claim_out, line_out = engine.adjudicate(claims, line_cols, offsets)
        metrics.kernel_time(time.perf_counter() - t0)
        co = claim_out[0]
        S.check_invariants(co, line_out, lines)
        resp.amounts.CopyFrom(S.amounts(co))
        resp.lines.extend(S.line_results(lines, line_out))
        resp.notes.extend(M.note_names(int(co[M.CO_NOTES])))
        resp.warnings.extend(S.warnings(req, snap, engine.policy.settlements_per_day_max))
        resp.acct_current_balance_fen = snap.member.acct_current_fen
        resp.acct_prior_balance_fen = snap.member.acct_prior_fen
        return resp, co, line_out, (claims, line_cols)

    async def _replay(self, snap: MemberSnapshot, req_hash: str) -> pb.SettlementResponse:
        idem = snap.idem
        if idem.get("k") == "tombstone":
            raise FailedPrecondition(
                "request_id: cancelled by CancelByRequest (冲正)",
                reason="TOMBSTONED",
            )
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
        resp = _settlement_from_record(record)
        resp.replay = True
        return resp

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
        today = _clearing_day(now)
        p = partition_of(psn_no)
        reversal_id = new_reversal_id(p, today)
        window_days = self.reference.engine.policy.reversal_window_days
        out = await self.store.reverse_settlement(
            psn_no, settlement_id, record, request_id=request_id, request_hash=request_hash,
            institution_code=institution_code, reversal_id=reversal_id,
            today_day=M.day_number(today), window_days=window_days,
            reversed_at=_stamp(now),
            journal={"type": kind, "rev": reversal_id, "setl": settlement_id, "req": request_id,
                     "psn": psn_no, "inst": institution_code, "op": operator, "term": terminal,
                     "at": _stamp(now), "sday": M.day_number(today)},
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
        self._institution(self.reference, request.institution_code)
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
                         "term": request.terminal_id, "at": _stamp(now)},
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
        inst = self._institution(ref, request.institution_code)
        self._check_setting(pb.INPATIENT, inst)
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
                     "at": _stamp(now)},
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
        self._institution(self.reference, request.institution_code)
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
                     "at": _stamp(_now())},
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
                self._institution(self.reference, chunk.institution_code)
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
                         "at": _stamp(_now())},
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
        return _settlement_from_record(record)

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
                    yield _settlement_from_record(record)


_FEEDETL_SN = operator.attrgetter("feedetl_sn")
_LINES_TAG = b"\x2a"  # FeeDetailChunk.lines: field 5, length-delimited


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def parse_fee_lines(serialized: list[bytes]) -> list[pb.FeeLine]:
    """Stored FeeLine messages, parsed in one call: framed as the repeated ``lines``
    field of a FeeDetailChunk (protobuf concatenation), instead of one parse per line."""
    blob = b"".join(_LINES_TAG + _varint(len(b)) + b for b in serialized)
    return list(pb.FeeDetailChunk.FromString(blob).lines)


def _settlement_from_record(record: dict[str, bytes]) -> pb.SettlementResponse:
    resp = pb.SettlementResponse.FromString(record["resp"])
    if record.get("status") == b"REVERSED":
        resp.status = pb.REVERSED
        resp.reversal_id = record.get("rev", b"").decode()
    return resp

