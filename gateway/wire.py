"""A response that is already serialized.

A settlement's response is serialized once, to be stored with the settlement
(for replays and queries); the same bytes then go on the wire instead of
serializing the message a second time (for a 5,000-line claim that is most of
the response cost).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message


class Serialized:
    __slots__ = ("body", "message")

    def __init__(self, message: Message, body: bytes) -> None:
        self.message = message  # for metrics and the access log
        self.body = body


def serializer(message_type: Any) -> Callable[[Any], bytes]:
    serialize: Callable[[Any], bytes] = message_type.SerializeToString

    def to_bytes(response: Any) -> bytes:
        if type(response) is Serialized:
            return response.body
        return serialize(response)

    return to_bytes


def message_of(response: Any) -> Any:
    return response.message if type(response) is Serialized else response
