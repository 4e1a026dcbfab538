"""A large claim's lines as columns: kernel rows and line results without a Python
object per line.

An inpatient claim settles an episode of up to 20,000 uploaded lines. Built one line
at a time, its kernel rows (a tuple per line) and its line results (a protobuf message
added per line) cost tens of milliseconds. Here each field of the lines is read once
into a column (the text fields the rules read as their distinct values and an index
per line), the kernel's LI_* rows are stacked from the columns, and the
``SettlementResponse.lines`` of the response are encoded straight from the columns
and the kernel's LO_* output as protobuf wire bytes by a compiled loop: a response is
a concatenation of its fields, so the encoded lines are appended to the rest of the
serialized response. (The lines then come after the response's later fields: the same
message, not protobuf's canonical byte order. Nothing compares response bytes: replays
and queries parse them.)

Small claims (a pharmacy's few lines) keep the per-line path of
:mod:`gateway.settlement`: for them numpy's fixed cost per call is more than the
work. Both paths give the same rows and the same response, which
``tests/test_line_columns.py`` checks on random claims.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf.descriptor import FieldDescriptor as FD
from numba import njit

from claims.v1 import claims_pb2 as pb
from rules_compiled import model as M

COLUMNS_FROM_LINES = 64  # claims with more lines take this module's path

# Wire tags, (field number << 3) | wire type, from the descriptors: 0 (varint) for the
# integers and enums, 2 (length-delimited) for strings and messages. Another field type
# fails here, at import, rather than encoding wrongly.
_WIRE_TYPE = {FD.TYPE_INT32: 0, FD.TYPE_INT64: 0, FD.TYPE_ENUM: 0, FD.TYPE_STRING: 2,
              FD.TYPE_MESSAGE: 2}


def _tag(message: Any, name: str) -> int:
    field = message.DESCRIPTOR.fields_by_name[name]
    tag = (field.number << 3) | _WIRE_TYPE[field.type]
    assert tag < 0x80, f"{name}: a tag of one byte is written"  # field numbers up to 15
    return tag


_TAG_LINES = _tag(pb.SettlementResponse, "lines")
_TAG_SN = _tag(pb.LineResult, "feedetl_sn")
_TAG_ITEM = _tag(pb.LineResult, "item_code")
_TAG_STATUS = _tag(pb.LineResult, "status")
_TAG_REASON = _tag(pb.LineResult, "reasons")  # repeated: one tag per reason
_TAG_AMOUNT = _tag(pb.LineResult, "amount_fen")
# The four pricing amounts: (tag, LO_* column).
_PRICING = tuple((_tag(pb.LineResult, name), col) for name, col in (
    ("fulamt_ownpay_fen", M.LO_FULAMT_OWNPAY), ("overlmt_selfpay_fen", M.LO_OVERLMT_SELFPAY),
    ("preselfpay_fen", M.LO_PRESELFPAY), ("inscp_scp_amt_fen", M.LO_INSCP)))


def columns_of(lines: Sequence[pb.FeeLine]) -> LineColumns | None:
    """A large claim's lines as columns; None for a claim of COLUMNS_FROM_LINES lines or
    fewer, which takes the per-line path."""
    return LineColumns.of(lines) if len(lines) > COLUMNS_FROM_LINES else None


@dataclass(slots=True)
class LineColumns:
    """The fields of a claim's lines, in line order: an int64 array per number field,
    and the text fields the rules read dictionary-encoded, as their distinct values and
    each line's index into them (a claim names few distinct items and practitioners)."""

    feedetl_sn: np.ndarray
    unit_price_fen: np.ndarray
    quantity: np.ndarray
    amount_fen: np.ndarray
    days_supply: np.ndarray
    in_discharge_order: np.ndarray  # 0 or 1
    item_codes: list[str]
    item: np.ndarray  # index into item_codes
    practitioners: list[str]
    practitioner: np.ndarray  # index into practitioners

    def __len__(self) -> int:
        return len(self.item)

    def item_code(self, i: int) -> str:
        return self.item_codes[int(self.item[i])]

    @classmethod
    def of(cls, lines: Sequence[pb.FeeLine]) -> LineColumns:
        """The columns of lines sent as messages (an episode's stored lines are read
        from their wire bytes instead: gateway/line_wire.py)."""
        n = len(lines)

        def ints(values: Any) -> np.ndarray:
            return np.fromiter(values, dtype=np.int64, count=n)

        items: dict[str, int] = {}  # distinct values, numbered as met
        item = ints(items.setdefault(ln.item_code, len(items)) for ln in lines)
        practitioners: dict[str, int] = {}
        practitioner = ints(practitioners.setdefault(ln.practitioner_code, len(practitioners))
                            for ln in lines)
        return cls(
            ints(ln.feedetl_sn for ln in lines),
            ints(ln.unit_price_fen for ln in lines),
            ints(ln.quantity for ln in lines),
            ints(ln.amount_fen for ln in lines),
            ints(ln.days_supply for ln in lines),
            ints(ln.in_discharge_order for ln in lines),
            list(items), item, list(practitioners), practitioner,
        )


def line_rows(
    cols: LineColumns,
    line_days: Sequence[int],
    dup_keys: Sequence[str],
    item_index: dict[str, int],
    suspended: frozenset[str] | set[str],
    fills: dict[str, tuple[int, int]],
    dup_seen: frozenset[str],
) -> np.ndarray:
    """The LI_* rows of the lines (as ``gateway.settlement.line_rows`` builds them
    line by line); what depends on a text field is looked up once per distinct value."""
    n = len(cols)
    rows = np.empty((n, M.LI_N), dtype=np.int64)
    item = cols.item
    rows[:, M.LI_ITEM] = np.array(
        [item_index.get(c, M.NONE) for c in cols.item_codes], dtype=np.int64)[item]
    rows[:, M.LI_UNIT_PRICE] = cols.unit_price_fen
    rows[:, M.LI_QTY] = cols.quantity
    rows[:, M.LI_AMOUNT] = cols.amount_fen
    rows[:, M.LI_DAYS_SUPPLY] = cols.days_supply
    rows[:, M.LI_DAY] = line_days
    rows[:, M.LI_IN_DISCHARGE_ORDER] = cols.in_discharge_order
    if suspended:
        rows[:, M.LI_PRACTITIONER_SUSPENDED] = np.array(
            [p in suspended for p in cols.practitioners], dtype=np.int64)[cols.practitioner]
    else:
        rows[:, M.LI_PRACTITIONER_SUSPENDED] = 0
    if dup_seen:
        rows[:, M.LI_DUP_SEEN] = [k in dup_seen for k in dup_keys]
    else:
        rows[:, M.LI_DUP_SEEN] = 0
    if fills:
        prev = np.array([fills.get(c, (M.NONE, 0)) for c in cols.item_codes],
                        dtype=np.int64).reshape(-1, 2)
        rows[:, M.LI_PREV_FILL_DAY] = prev[item, 0]
        rows[:, M.LI_PREV_FILL_DAYS] = prev[item, 1]
    else:
        rows[:, M.LI_PREV_FILL_DAY] = M.NONE
        rows[:, M.LI_PREV_FILL_DAYS] = 0
    return rows


# --- protobuf wire bytes ---------------------------------------------------------
# A line result is a run of parts in field-number order: a number field (its tag and
# varint; left out where the value is 0, as protobuf's own serializer does) or bytes
# from a table (the item code's field, or the reasons fields of a reasons mask, each
# table entry encoded once). One compiled pass measures every line, another writes
# them.

_NUMBER, _TABLE = 0, 1


def byte_table(entries: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Byte strings side by side, for a compiled loop: the bytes as one uint8 array,
    and ``offsets`` (entry ``e`` is ``table[offsets[e]:offsets[e + 1]]``)."""
    offsets = np.zeros(len(entries) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in entries], out=offsets[1:])
    return np.frombuffer(b"".join(entries), dtype=np.uint8), offsets


def varint(n: int) -> bytes:
    """``n`` as a protobuf varint."""
    out = bytearray()
    n &= (1 << 64) - 1  # negative numbers: two's complement in 64 bits, as protobuf
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


@njit(cache=True, nogil=True)
def _varint_size(v: int) -> int:
    if v < 0:  # two's complement in 64 bits: ten bytes
        return 10
    size = 1
    while v > 0x7F:
        v >>= 7
        size += 1
    return size


@njit(cache=True, nogil=True)
def _put_varint(out: np.ndarray, pos: int, v: int) -> int:
    """Write ``v`` as a varint at ``out[pos]``; the place after it."""
    if v < 0:  # the low 63 bits in nine groups of seven, then the sign bit
        for k in range(9):
            out[pos] = ((v >> (7 * k)) & 0x7F) | 0x80
            pos += 1
        out[pos] = 1
        return pos + 1
    while v > 0x7F:
        out[pos] = (v & 0x7F) | 0x80
        v >>= 7
        pos += 1
    out[pos] = v
    return pos + 1


@njit(cache=True, nogil=True)
def _encode_messages(tag: int, kinds: np.ndarray, tags: np.ndarray, columns: np.ndarray,
                     values: np.ndarray, tables: np.ndarray, offsets: np.ndarray,
                     index: np.ndarray) -> np.ndarray:
    """Row ``i`` as field ``tag`` (length-delimited) holding a message of parts ``p``:
    for a _NUMBER part, field ``tags[p]`` with the varint ``values[i, columns[p]]``
    (nothing when it is 0); for a _TABLE part, table entry ``e = index[i, columns[p]]``,
    the bytes ``tables[offsets[e]:offsets[e + 1]]``."""
    n = values.shape[0]
    parts = kinds.shape[0]
    sizes = np.empty(n, np.int64)
    total = 0
    for i in range(n):
        size = 0
        for p in range(parts):
            if kinds[p] == _NUMBER:
                v = values[i, columns[p]]
                if v != 0:
                    size += 1 + _varint_size(v)
            else:
                e = index[i, columns[p]]
                size += offsets[e + 1] - offsets[e]
        sizes[i] = size
        total += 1 + _varint_size(size) + size
    out = np.empty(total, np.uint8)
    pos = 0
    for i in range(n):
        out[pos] = tag
        pos = _put_varint(out, pos + 1, sizes[i])
        for p in range(parts):
            if kinds[p] == _NUMBER:
                v = values[i, columns[p]]
                if v != 0:
                    out[pos] = tags[p]
                    pos = _put_varint(out, pos + 1, v)
            else:
                e = index[i, columns[p]]
                for b in range(offsets[e], offsets[e + 1]):
                    out[pos] = tables[b]
                    pos += 1
    return out


def _string_field(tag: int, text: str) -> bytes:
    raw = text.encode()
    return bytes([tag]) + varint(len(raw)) + raw if raw else b""


# The parts of a LineResult: (kind, tag, column of ``values`` or of ``index``).
_LINE_PARTS = np.array([
    (_NUMBER, _TAG_SN, 0),
    (_TABLE, 0, 0),  # item_code
    (_NUMBER, _TAG_STATUS, 1),
    (_TABLE, 0, 1),  # reasons
    (_NUMBER, _TAG_AMOUNT, 2),
    *((_NUMBER, tag, 3 + k) for k, (tag, _col) in enumerate(_PRICING)),
], dtype=np.int64)


def line_results_wire(cols: LineColumns, lo: np.ndarray, reason_names: dict[int, list[str]]
                      ) -> bytes:
    """``SettlementResponse.lines`` as wire bytes: the same message as adding one
    ``LineResult`` per line (feedetl_sn, item_code, status, reasons, amount_fen and the
    four pricing amounts from the LO_* rows ``lo``). ``reason_names`` gives the names
    of a reasons mask (and is filled as masks are met)."""
    n = len(cols)
    if n == 0:
        return b""
    masks, mask_index = np.unique(lo[:, M.LO_REASONS], return_inverse=True)
    reasons = []
    for mask in masks.tolist():
        names = reason_names.get(mask)
        if names is None:
            names = reason_names[mask] = M.reason_names(mask)
        reasons.append(b"".join(_string_field(_TAG_REASON, r) for r in names))
    entries = [_string_field(_TAG_ITEM, c) for c in cols.item_codes] + reasons
    tables, offsets = byte_table(entries)
    index = np.stack([cols.item, len(cols.item_codes) + mask_index.reshape(-1)], axis=1)
    values = np.stack([cols.feedetl_sn, lo[:, M.LO_STATUS], cols.amount_fen,
                       *(lo[:, col] for _tag, col in _PRICING)], axis=1).astype(np.int64)
    parts = _LINE_PARTS
    return _encode_messages(_TAG_LINES, parts[:, 0], parts[:, 1], parts[:, 2], values,
                            tables, offsets, index).tobytes()


def warm() -> None:
    """Compile, or load from the on-disk cache, the encoder (with two lines, as the
    reader is warmed: an array of one row can have other strides)."""
    cols = LineColumns.of([pb.FeeLine(feedetl_sn=-1, item_code="A"), pb.FeeLine()])
    line_results_wire(cols, np.zeros((2, M.LO_N), dtype=np.int64), {})
