"""Errors a handler raises; the service turns each into a gRPC status."""

from __future__ import annotations

import grpc


class ClaimError(Exception):
    """A request the gateway answers with a non-OK status, having changed nothing."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(ClaimError):
    """Malformed input (docs/benefit-rules.md §3.1). The message starts with the field's path."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class NotFound(ClaimError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(ClaimError):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(ClaimError):
    code = grpc.StatusCode.PERMISSION_DENIED


class FailedPrecondition(ClaimError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(ClaimError):
    code = grpc.StatusCode.UNAVAILABLE


class Aborted(ClaimError):
    code = grpc.StatusCode.ABORTED
