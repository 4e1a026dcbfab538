"""Institution identity from the client certificate, and safe request decoding.

With mutual TLS every client presents a certificate issued by the insurer's CA
whose subject common name is its institution code (``claimgate dev-certs``
makes such certificates for the demo). Every request is bound to it: a request
naming another institution is refused with PERMISSION_DENIED and changes
nothing. Plain-text serving (no identity) is for loopback development and
tests, and must be asked for explicitly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from gateway.errors import InvalidArgument, PermissionDenied


class Malformed:
    """Stands in for a request whose bytes are not a valid message of its type."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name


def safe_deserializer(
    from_string: Callable[[bytes], Any], type_name: str
) -> Callable[[bytes], Any]:
    """grpc answers INTERNAL when a deserializer raises; we answer INVALID_ARGUMENT."""

    def deserialize(data: bytes) -> Any:
        try:
            return from_string(data)
        except (DecodeError, ValueError, UnicodeDecodeError):
            return Malformed(type_name)

    return deserialize


def check_decoded(request: object) -> None:
    if isinstance(request, Malformed):
        raise InvalidArgument("request", f"not a valid {request.type_name} message")


def peer_institution(context: grpc.aio.ServicerContext) -> str | None:
    """The institution code of the client certificate; None on a plain-text channel."""
    auth = context.auth_context()
    names = list(auth.get("x509_common_name") or ())
    if not names:
        return None
    return bytes(names[0]).decode()


def authorize(context: grpc.aio.ServicerContext, institution_code: str, *, required: bool) -> None:
    """Bind the request to the caller's certificate (when the server requires one)."""
    if not required:
        return
    peer = peer_institution(context)
    if peer is None:
        raise PermissionDenied("institution_code: no client certificate",
                               reason="CLIENT_CERTIFICATE_REQUIRED")
    if institution_code != peer:
        raise PermissionDenied(
            f"institution_code: the client certificate is for {peer!r}, not {institution_code!r}"
        )
