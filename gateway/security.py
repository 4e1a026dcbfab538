"""Institution identity from the client certificate, and safe request decoding.

With mutual TLS every client presents a certificate issued by the insurer's CA
whose subject common name is its institution code (``claimgate dev-certs``
makes such certificates for the demo). That name is the call's identity from
the moment the call starts: admission is charged to it before the request is
read, and every request (every chunk of an upload) must name it, or is refused
with PERMISSION_DENIED and changes nothing (``gateway.calls._Call``).
Plain-text serving (identity = the institution the request names) is for
loopback development and tests, and must be asked for explicitly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from gateway.errors import InvalidArgument


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
