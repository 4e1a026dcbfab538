"""A large claim's lines as columns: kernel rows and line results without a Python
object per line.

An inpatient claim settles an episode of up to 20,000 uploaded lines. Built one line
at a time, its kernel rows (a tuple per line) and its line results (a protobuf message
added per line) cost tens of milliseconds. Here each field of the lines is read once
into a column, the kernel's LI_* rows are stacked from the columns, and the
``SettlementResponse.lines`` of the response are encoded straight from the columns
and the kernel's LO_* output as protobuf wire bytes, with numpy: a response is a
concatenation of its fields, so the encoded lines are appended to the rest of the
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


# --- protobuf wire bytes, column-wise -----------------------------------------------
# A field of every line is a "slot": a byte matrix (one row per line, as wide as the
# longest encoding) and each line's length in it; a line's bytes are its slots' used
# bytes, left to right, and the lines' bytes follow each other. Fields at their default
# (0, empty) are left out, as protobuf's own serializer does.

_Slot = tuple[np.ndarray, np.ndarray]  # (n x width uint8, n lengths)


def varint(n: int) -> bytes:
    """``n`` as a protobuf varint."""
    out = bytearray()
    n &= (1 << 64) - 1  # negative numbers: two's complement in 64 bits, as protobuf
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _varints(values: np.ndarray) -> _Slot:
    """Each value as a protobuf varint (negative ones in 10 bytes, two's complement)."""
    u = values.astype(np.int64).view(np.uint64)
    n = len(u)
    out = np.zeros((n, 10), dtype=np.uint8)
    length = np.ones(n, dtype=np.int64)
    for i in range(10):
        low = (u & np.uint64(0x7F)).astype(np.uint8)
        u = u >> np.uint64(7)
        more = u != 0
        out[:, i] = low | (more.astype(np.uint8) << 7)
        if not more.any():
            return out[:, : i + 1], length
        length += more
    return out, length


def _field(tag: int, values: np.ndarray) -> _Slot:
    """A varint field: its tag and value, or nothing where the value is 0."""
    body, length = _varints(values)
    n = len(values)
    out = np.empty((n, body.shape[1] + 1), dtype=np.uint8)
    out[:, 0] = tag
    out[:, 1:] = body
    return out, np.where(values != 0, length + 1, 0)


def table_slot(encoded: list[bytes], index: np.ndarray) -> _Slot:
    """Each line's bytes from a table of distinct encodings (``index`` into it)."""
    width = max(1, max(len(b) for b in encoded))
    table = np.zeros((len(encoded), width), dtype=np.uint8)
    for i, b in enumerate(encoded):
        table[i, : len(b)] = np.frombuffer(b, dtype=np.uint8)
    lengths = np.array([len(b) for b in encoded], dtype=np.int64)
    return table[index], lengths[index]


def _string_field(tag: int, text: str) -> bytes:
    raw = text.encode()
    return bytes([tag]) + varint(len(raw)) + raw if raw else b""


def join_slots(slots: list[_Slot]) -> bytes:
    """The used bytes of every line's slots, line after line: one matrix of every slot
    side by side, and one mask of the bytes each line uses (a byte of a slot is used
    while its place in the slot is below the line's length for that slot)."""
    widths = [m.shape[1] for m, _ in slots]
    matrix = np.concatenate([m for m, _ in slots], axis=1)
    # int32: the gathered lengths are as large as the matrix, and int64 doubles the
    # memory they go through (a slot is never 2**31 bytes wide).
    lengths = np.stack([ln for _, ln in slots], axis=1).astype(np.int32)
    slot_of = np.repeat(np.arange(len(slots)), widths)
    place = np.concatenate([np.arange(w, dtype=np.int32) for w in widths])
    return matrix[place < lengths[:, slot_of]].tobytes()


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
    slots = [
        _field(_TAG_SN, cols.feedetl_sn),
        table_slot([_string_field(_TAG_ITEM, c) for c in cols.item_codes], cols.item),
        _field(_TAG_STATUS, lo[:, M.LO_STATUS]),
        table_slot(reasons, mask_index.reshape(-1)),
        _field(_TAG_AMOUNT, cols.amount_fen),
        *(_field(tag, lo[:, col]) for tag, col in _PRICING),
    ]
    # Each line: the tag of ``lines``, the line's length, then its fields.
    body_len = np.sum([ln for _, ln in slots], axis=0)
    length = _varints(body_len)
    tag = (np.full((n, 1), _TAG_LINES, dtype=np.uint8), np.ones(n, dtype=np.int64))
    return join_slots([tag, length, *slots])
