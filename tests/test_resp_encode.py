"""The RESP encoding of a command: every argument a bulk string, byte for byte."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.fastredis import Encoded, _encode, bulk_strings


def test_every_kind_of_argument_is_one_bulk_string() -> None:
    long_text = "x" * 1500  # past the lengths whose headers are built once
    assert _encode(["SET", "k", "é漢", b"\x00\r\n", 0, -17, True, np.int64(5),
                    bytearray(b"ab"), memoryview(b"cd"), "", b"y" * 1023, long_text]) == (
        b"*13\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\n\xc3\xa9\xe6\xbc\xa2\r\n$3\r\n\x00\r\n\r\n"
        b"$1\r\n0\r\n$3\r\n-17\r\n$1\r\n1\r\n$1\r\n5\r\n$2\r\nab\r\n$2\r\ncd\r\n$0\r\n\r\n"
        b"$1023\r\n" + b"y" * 1023 + b"\r\n$1500\r\n" + long_text.encode() + b"\r\n")


def test_a_float_is_refused() -> None:
    with pytest.raises(TypeError, match="integer fen"):
        _encode(["INCRBY", "k", 1.5])


def test_encoded_arguments_are_spliced_in_and_counted() -> None:
    keys = ["H1|D1|20000|RX1", "", "x" * 1500]
    block = bulk_strings(keys)
    assert block == Encoded(3, b"$15\r\nH1|D1|20000|RX1\r\n$0\r\n\r\n$1500\r\n"
                            + b"x" * 1500 + b"\r\n")
    assert _encode(["HMGET", "dup", block, 7]) == _encode(["HMGET", "dup", *keys, 7])
    assert _encode([block, bulk_strings([]), block]) == _encode([*keys, *keys])
