"""An episode's stored lines read from their wire bytes (gateway/line_wire.py) give
what protobuf's parse gives: the same columns in the same order, the same dates and
the same duplicate-charge keys; lines the reader leaves to protobuf answer None."""

from __future__ import annotations

import random
import string
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from claims.v1 import claims_pb2 as pb
from gateway import line_wire as LW
from gateway.claims import _FEEDETL_SN, parse_fee_lines
from gateway.keys import dup_key
from gateway.line_columns import LineColumns, varint
from tests.resp import bulk_strings

# Where a varint's length or last byte changes, and the ends of the range.
EDGES = [0, 1, 127, 128, 255, 16_383, 16_384, 2**21 - 1, 2**31 - 1, -1, -(2**31)]
INT32 = st.one_of(st.sampled_from(EDGES), st.integers(-(2**31), 2**31 - 1))
INT64 = st.one_of(st.sampled_from([*EDGES, 2**35 - 1, 2**63 - 1, -(2**63)]),
                  st.integers(-(2**63), 2**63 - 1))
CODE = st.text(string.ascii_letters + string.digits + "_.-", min_size=1, max_size=64)
PRINTABLE = st.text(string.printable[:95], max_size=64)  # space to tilde
DATES = ["", "2026-11-20", "2026-11-21", "2026-12-01"]


@st.composite
def fee_lines(draw: st.DrawFn) -> pb.FeeLine:
    return pb.FeeLine(
        feedetl_sn=draw(st.one_of(st.integers(1, 30), INT32)),
        item_code=draw(st.one_of(st.sampled_from(["", "D0001", "S0002"]), CODE)),
        unit_price_fen=draw(st.one_of(st.integers(0, 10**6), INT64)),
        quantity=draw(st.one_of(st.integers(0, 5), INT64)),
        amount_fen=draw(st.one_of(st.integers(0, 10**7), INT64)),
        days_supply=draw(st.one_of(st.integers(0, 30), INT32)),
        service_date=draw(st.sampled_from(DATES)),
        prescription_no=draw(st.one_of(st.sampled_from(["", "RX1"]), PRINTABLE)),
        practitioner_code=draw(st.one_of(st.sampled_from(["", "DR1"]), CODE)),
        in_discharge_order=draw(st.booleans()),
    )


def unknown_field(draw: st.DrawFn) -> bytes:
    """A field FeeLine does not have, of each wire type protobuf skips."""
    number = draw(st.integers(11, 40))
    kind = draw(st.sampled_from([0, 1, 2, 5]))
    if kind == 0:
        body = varint(draw(INT64))
    elif kind == 1:
        body = bytes(8)
    elif kind == 5:
        body = bytes(4)
    else:
        raw = draw(st.binary(max_size=20))
        body = varint(len(raw)) + raw
    return varint(number << 3 | kind) + body


@st.composite
def stored(draw: st.DrawFn) -> list[bytes]:
    """Stored lines, in any order: most as UploadFeeDetails stores them; some followed
    by fields FeeLine does not have, or by a second line (protobuf merges the two)."""
    out = []
    for _ in range(draw(st.integers(0, 60))):
        b = draw(fee_lines()).SerializeToString(deterministic=True)
        extra = draw(st.sampled_from(["", "", "", "unknown", "merged"]))
        if extra == "unknown":
            b += unknown_field(draw)
        elif extra == "merged":
            b += draw(fee_lines()).SerializeToString()
        out.append(b)
    return out


def test_the_fields_are_feeline_s() -> None:
    types = {
        "int32": pb.FeeLine.DESCRIPTOR.fields_by_name["feedetl_sn"].type,
        "int64": pb.FeeLine.DESCRIPTOR.fields_by_name["amount_fen"].type,
        "bool": pb.FeeLine.DESCRIPTOR.fields_by_name["in_discharge_order"].type,
        "text": pb.FeeLine.DESCRIPTOR.fields_by_name["item_code"].type,
    }
    fields = {f.number: (f.name, f.type) for f in pb.FeeLine.DESCRIPTOR.fields}
    assert {n: (name, types[kind]) for n, (name, kind, _col) in LW.FIELDS.items()} == fields


def assert_columns_equal(got: LineColumns, want: LineColumns) -> None:
    for name in ("feedetl_sn", "unit_price_fen", "quantity", "amount_fen", "days_supply",
                 "in_discharge_order"):
        assert getattr(got, name).tolist() == getattr(want, name).tolist(), name
    # The distinct texts in the order they are met, and each line's index into them.
    assert got.item_codes == want.item_codes
    assert got.item.tolist() == want.item.tolist()
    assert got.practitioners == want.practitioners
    assert got.practitioner.tolist() == want.practitioner.tolist()


@settings(max_examples=120, deadline=None)
@given(stored(), st.randoms(use_true_random=False))
@example([], random.Random(0))
@example([b""], random.Random(0))  # a line of defaults only: no bytes
@example([b"", b""], random.Random(0))
def test_the_wire_reader_reads_what_protobuf_parses(serialized: list[bytes],
                                                    rnd: random.Random) -> None:
    got = LW.read_lines(serialized)
    assert got is not None
    lines = sorted(parse_fee_lines(serialized), key=_FEEDETL_SN)
    assert_columns_equal(got.columns, LineColumns.of(lines))
    assert [got.dates[i] for i in got.date] == [ln.service_date for ln in lines]
    assert got.dates == list(dict.fromkeys(ln.service_date for ln in lines))
    date_days = [rnd.randrange(-5, 30_000) for _ in got.dates]
    day_of = dict(zip(got.dates, date_days, strict=True))
    keys, encoded = got.dup_keys("H0001", date_days)
    assert keys == [
        dup_key("H0001", ln.item_code, day_of[ln.service_date], ln.prescription_no)
        for ln in lines]
    assert encoded == bulk_strings(keys)


LINE = pb.FeeLine(feedetl_sn=1, item_code="D0001", prescription_no="RX1").SerializeToString()


@pytest.mark.parametrize("bad", [
    pb.FeeLine(feedetl_sn=2, prescription_no="处方1").SerializeToString(),  # not ASCII
    pb.FeeLine(feedetl_sn=2, item_code="D\n1").SerializeToString(),  # not printable
    LINE[:-1],  # cut short
    LINE + varint(1 << 3 | 2) + varint(1) + b"\x05",  # feedetl_sn written packed
    LINE + varint(2 << 3 | 0) + varint(7),  # item_code as a number
    LINE + varint(3 << 3 | 1) + bytes(8),  # unit_price_fen as fixed64
    LINE + varint(20 << 3 | 3),  # a group
    LINE + varint(0) + varint(1),  # field number 0
    LINE + b"\xff" * 11,  # a varint of more than 10 bytes
    LINE + b"\x88\x80\x80\x80\x80\x00\x07",  # a tag in 6 bytes (protobuf reads 5 at most)
    LINE + b"\x80\x80\x80\x80\x10\x01",  # field number 2**29
    LINE + b"\xf8\xff\xff\xff\x7f\x01",  # field number 2**32 - 1: past 2**29 - 1
    LINE + b"\x12\x81\x80\x80\x80\x80\x00A",  # a length in 6 bytes
])
def test_lines_the_reader_leaves_to_protobuf(bad: bytes) -> None:
    assert LW.read_lines([LINE, bad]) is None


def test_an_episode_of_thousands_of_lines() -> None:
    rng = random.Random(7)
    lines = [pb.FeeLine(feedetl_sn=sn, item_code=f"D{rng.randrange(40):04d}",
                        unit_price_fen=rng.randrange(10**5), quantity=rng.randrange(1, 4),
                        amount_fen=rng.randrange(10**6), days_supply=rng.randrange(8),
                        service_date=rng.choice(DATES), prescription_no=f"ORD{sn:05d}",
                        practitioner_code=rng.choice(["", "DR1", "DR2"]),
                        in_discharge_order=rng.random() < 0.1)
             for sn in range(1, 5001)]
    serialized = [ln.SerializeToString(deterministic=True) for ln in lines]
    rng.shuffle(serialized)
    got = LW.read_lines(serialized)
    assert got is not None
    assert_columns_equal(got.columns, LineColumns.of(lines))
    assert np.array_equal(got.columns.feedetl_sn, np.arange(1, 5001))


def test_texts_that_share_a_hash_are_noticed() -> None:
    joined = b"D0001D0002"
    buf = np.frombuffer(joined, dtype=np.uint8)
    start, length = np.array([0, 5, 0]), np.array([5, 5, 5])
    assert LW._distinct(joined, buf, start, length, np.array([1, 2, 1])) is not None
    assert LW._distinct(joined, buf, start, length, np.array([1, 1, 1])) is None


def test_a_line_protobuf_refuses_is_refused() -> None:
    """Each line the reader leaves to protobuf is one protobuf does not read either
    (or reads but the reader does not: a packed or mistyped known field)."""
    import google.protobuf.message

    for bad in (LINE + b"\x88\x80\x80\x80\x80\x00\x07", LINE + b"\x80\x80\x80\x80\x10\x01",
                LINE + b"\x12\x81\x80\x80\x80\x80\x00A", LINE[:-1]):
        with pytest.raises(google.protobuf.message.DecodeError):
            parse_fee_lines([bad])


def test_texts_whose_hashes_share_their_low_bits_get_different_slots() -> None:
    """The table places a hash by its mix with the process's seed: hashes that agree in
    their low 16 bits (FNV-1a's low bits follow the text's) spread over the table."""
    hashes = [(k << 16) | 0x1234 for k in range(1, 4097)]
    slots = {LW._mix(h ^ LW._SEED) & 0xFFFF for h in hashes}
    assert len(slots) > 3500  # of 4,096; a uniform draw leaves about 3,970


def test_the_start_up_warm_compiles_what_an_episode_calls() -> None:
    """After ``warm()``, reading a real episode and encoding its line results compiles
    nothing more (checked in a fresh interpreter: other tests compile other shapes)."""
    code = """
import numpy as np
from claims.v1 import claims_pb2 as pb
from gateway import line_columns as LC, line_wire as LW
LC.warm(); LW.warm()
funcs = [LW._read, LW._dictionary, LW._join_lines, LC._encode_messages]
before = [len(f.signatures) for f in funcs]
lines = [pb.FeeLine(feedetl_sn=sn, item_code=f"D{sn % 7}", prescription_no=f"RX{sn}",
                    practitioner_code="DR1", service_date="2026-11-20", quantity=2)
         for sn in range(1, 200)]
stored = LW.read_lines([ln.SerializeToString() for ln in reversed(lines)])
stored.dup_keys("H1", [20000])
LC.line_results_wire(stored.columns, np.ones((199, 6), dtype=np.int64), {})
print([len(f.signatures) for f in funcs] == before)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=300)
    assert done.stdout.strip() == "True", done.stdout + done.stderr
