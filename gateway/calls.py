"""One gRPC call's bookkeeping, around every method of the servicer.

Every method is served as a client stream, so that the wait for its request is
bounded and, under mutual TLS, the call is admitted as its certificate's
institution before anything is read (see :class:`_Call`). Errors become the
call's status with its details (gateway/errors.py); every call is counted and
logged exactly once with its real final status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
import redis.exceptions

from claims.v1 import claims_pb2 as pb
from gateway import budget as budget_mod
from gateway import metrics
from gateway import validate as V
from gateway.accesslog import AccessLog
from gateway.admission import Shed
from gateway.errors import (
    ClaimError,
    ClientCancelled,
    InvalidArgument,
    PermissionDenied,
    RequestTimeout,
    Unavailable,
    shed_status,
    status_of,
)
from gateway.security import check_decoded, peer_institution
from gateway.store import StoreTimeout
from gateway.wire import message_of

if TYPE_CHECKING:
    from gateway.service import ClaimGatewayService

log = logging.getLogger("claimgate")

Req = TypeVar("Req")
Resp = TypeVar("Resp")

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
            msg = await budget_mod.within(self.context.read(), max(wait_s, 0.0))
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
        metrics.inflight(1)
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
            metrics.inflight(-1)
        if self.institution is not None:
            adm.leave(self.institution)
        if self.connected:
            adm.leave_connection(self.peer)
        _record(self.svc.access_log, self.method, self.request, self.code, self.reason,
                self.t0, self.resp, institution=self.who or self.institution or "")


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


def _record(
    access_log: AccessLog, method: str, request: Any, code: grpc.StatusCode, reason: str,
    t0: float, resp: Any = None, *, institution: str = "",
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
    access_log.call(
        getattr(request, "request_id", ""),
        institution or getattr(request, "institution_code", ""),
        getattr(request, "psn_no", ""), method, code.name, latency_s, reason, warnings,
    )
