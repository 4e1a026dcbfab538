"""The RESP encoding of a command: every argument a bulk string, byte for byte."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.fastredis import Encoded, _encode, _encode_each
from tests.resp import bulk_strings

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=1100)
_ARGUMENT = st.one_of(_TEXT, st.binary(max_size=1100), st.integers(-(2**80), 2**80))


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


@given(st.lists(_ARGUMENT, max_size=120))
def test_str_bytes_and_int_arguments_encode_as_each_one_would(args: list[object]) -> None:
    # hiredis's packer takes these; the argument-by-argument encoder is the reference.
    assert _encode(args) == _encode_each(args)
    assert _encode(tuple(args)) == _encode_each(args)


@pytest.mark.parametrize("odd", [True, np.int64(3), bytearray(b"ab"), Encoded(1, b"$1\r\nz\r\n")])
def test_one_argument_of_another_kind_takes_the_encoder_of_each(odd: object) -> None:
    args = ["HSET", "k", "f", 12, odd]
    assert _encode(args) == _encode_each(args)
    assert _encode(args).startswith(b"*5\r\n$4\r\nHSET\r\n")


def test_a_float_among_packable_arguments_is_refused() -> None:
    with pytest.raises(TypeError, match="integer fen"):
        _encode(["HINCRBY", "k", "medfee", 100.0])
