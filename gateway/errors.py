"""Errors a handler raises, and the one place they become a gRPC status.

Every non-OK answer carries ``google.rpc.Status`` details in the trailing
metadata ``grpc-status-details-bin`` (decode with
``grpc_status.rpc_status.from_call``):

- ``ErrorInfo`` on every status: a stable ``reason`` code (``TOMBSTONED``,
  ``REQUEST_ID_REUSED``, ``MEMBER_SUSPENDED``, ...) in the domain
  :data:`DOMAIN`, so a client branches on the code, never on the message;
- ``BadRequest`` on INVALID_ARGUMENT: one field violation per bad field;
- ``RetryInfo`` on UNAVAILABLE and RESOURCE_EXHAUSTED: when to retry (with
  the same request id).

The reason codes are listed, with the statuses of every method, in the
README's status table; a test checks that every code raised here is there.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

DOMAIN = "claimgate"
VIOLATIONS_MAX = 20  # field violations per status: the trailer stays far below 8 KiB

# Reason codes of statuses raised outside a ClaimError (the service's error mapping).
STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
INTERNAL = "INTERNAL"

# When to retry, by status, unless the error says otherwise.
RETRY_AFTER_S: dict[grpc.StatusCode, float] = {
    grpc.StatusCode.UNAVAILABLE: 0.2,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 0.1,
}
# Load shedding (gateway.admission.Shed reasons): a rate limit refills in about a second.
SHED_RETRY_AFTER_S: dict[str, float] = {"institution_rate": 1.0}

_DEFAULT_REASON: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.UNAVAILABLE: STORE_UNAVAILABLE,
    grpc.StatusCode.INTERNAL: INTERNAL,
}


class ClaimError(Exception):
    """A request the gateway answers with a non-OK status, having changed nothing.

    ``reason`` is the stable code of ErrorInfo; each subclass has a default and a
    raise site names a more precise one where a client can act on it.
    """

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    reason: str = INTERNAL
    retry_after_s: float | None = None

    def __init__(
        self, message: str, *, reason: str | None = None, retry_after_s: float | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        if retry_after_s is not None:
            self.retry_after_s = retry_after_s
        self.metadata = metadata or {}


class InvalidArgument(ClaimError):
    """Malformed input (docs/benefit-rules.md §3.1). The message starts with the field's path.

    ``violations`` holds every bad field of the request (the first one leads the
    message): ``(field, problem)`` pairs, at most :data:`VIOLATIONS_MAX`.
    """

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_FIELD"

    def __init__(self, field: str, problem: str, *, reason: str | None = None) -> None:
        super().__init__(f"{field}: {problem}", reason=reason)
        self.field = field
        self.violations: list[tuple[str, str]] = [(field, problem)]

    @classmethod
    def of(cls, violations: Sequence[tuple[str, str]], total: int = 0) -> InvalidArgument:
        """One error for several bad fields (``total`` of them, when more were found than
        kept); the message names the first."""
        assert violations
        field, problem = violations[0]
        err = cls(field, problem)
        err.violations = list(violations[:VIOLATIONS_MAX])
        total = max(total, len(violations))
        if total > 1:
            err.message = f"{err.message} (and {total - 1} more field(s))"
        return err


class NotFound(ClaimError):
    code = grpc.StatusCode.NOT_FOUND
    reason = "NOT_FOUND"


class AlreadyExists(ClaimError):
    code = grpc.StatusCode.ALREADY_EXISTS
    reason = "REQUEST_ID_REUSED"


class PermissionDenied(ClaimError):
    code = grpc.StatusCode.PERMISSION_DENIED
    reason = "OTHER_INSTITUTION"


class FailedPrecondition(ClaimError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "FAILED_PRECONDITION"


class Unavailable(ClaimError):
    code = grpc.StatusCode.UNAVAILABLE
    reason = STORE_UNAVAILABLE


class Aborted(ClaimError):
    code = grpc.StatusCode.ABORTED
    reason = "ABORTED"


class RequestTimeout(ClaimError):
    """The client did not send its request (or a stream's next message), or did not
    read an answer, in time: the call is ended and its slot freed."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = "REQUEST_WAIT"


class ClientCancelled(ClaimError):
    """The client cancelled the call before its request arrived."""

    code = grpc.StatusCode.CANCELLED
    reason = "CLIENT_CANCELLED"


def shed_status(
    kind: str, message: str
) -> tuple[grpc.StatusCode, str, tuple[tuple[str, str | bytes], ...]]:
    """RESOURCE_EXHAUSTED of a load-shedding refusal (``gateway.admission.Shed``): reason
    ``SHED_`` + its kind (``SHED_INFLIGHT``, ``SHED_INSTITUTION_RATE``, ...)."""
    return status_of(grpc.StatusCode.RESOURCE_EXHAUSTED, message, reason="SHED_" + kind.upper(),
                     retry_after_s=SHED_RETRY_AFTER_S.get(kind))


def status_of(
    code: grpc.StatusCode, message: str, error: ClaimError | None = None, *,
    reason: str = "", retry_after_s: float | None = None,
) -> tuple[grpc.StatusCode, str, tuple[tuple[str, str | bytes], ...]]:
    """``(code, message, trailing metadata)`` of a non-OK answer, for ``context.abort``.

    ``error`` (when the status comes from a ClaimError) supplies the reason,
    the field violations and the retry delay; ``reason``/``retry_after_s``
    override them for statuses raised without one.
    """
    info = error_details_pb2.ErrorInfo(
        reason=reason or (error.reason if error is not None else "")
        or _DEFAULT_REASON.get(code, code.name),
        domain=DOMAIN,
        metadata=error.metadata if error is not None else {},
    )
    details = [info]
    if isinstance(error, InvalidArgument):
        details.append(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
            for f, d in error.violations
        ]))
    if code in RETRY_AFTER_S:
        delay = retry_after_s
        if delay is None and error is not None:
            delay = error.retry_after_s
        if delay is None:
            delay = RETRY_AFTER_S[code]
        d = duration_pb2.Duration()
        d.FromNanoseconds(int(delay * 1e9))
        details.append(error_details_pb2.RetryInfo(retry_delay=d))
    st = status_pb2.Status(code=code.value[0], message=message)
    for detail in details:
        st.details.add().Pack(detail)
    status = rpc_status.to_status(st)
    return status.code, status.details, tuple(status.trailing_metadata)
