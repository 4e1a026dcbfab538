"""What the tests hold RESP encodings to."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.fastredis import Encoded, _encode


def bulk_strings(values: Sequence[str]) -> Encoded:
    """``values`` as one :class:`Encoded` (what :func:`_encode` writes for each)."""
    return Encoded(len(values), _encode(values)[len(b"*%d\r\n" % len(values)):])
