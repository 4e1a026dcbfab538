"""An episode's stored fee lines read straight into columns, without a message per line.

UploadFeeDetails stores each line of an inpatient episode as the wire bytes of its
``FeeLine`` (the episode's lines hash). Parsed by protobuf into 5,000 messages and then
read field by field, an episode's lines cost about 10 ms of Python at every PreSettle
and Settle. Here one compiled pass (:func:`_read`) reads the wire bytes of every line
into the number columns and the place of each text field; the lines are put in
``feedetl_sn`` order with one argsort; the text columns are dictionary-encoded with
numpy (an episode names few distinct items, practitioners and dates); and the
duplicate-charge keys are assembled as bytes, column-wise.

The reader reads what ``FeeLine.SerializeToString`` writes, and the rest of protobuf's
wire format as protobuf reads it: fields in any order, a field repeated (the last one
counts), fields it does not know skipped. Lines it will not read, a field of an
unexpected wire type or text that is not printable ASCII (validation admits only that),
make :func:`read_lines` answer None, and the caller parses the lines with protobuf:
either way the columns are the same, which ``tests/test_line_wire.py`` checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from gateway.keys import dup_key_prefix
from gateway.line_columns import LineColumns, join_slots, table_slot

# FeeLine's fields (claims/v1/claims.proto) and where the reader puts them: number
# columns of _INTS, (start, length) pairs of _TEXTS. tests/test_line_wire.py checks the
# numbers against the descriptor.
_SN, _PRICE, _QTY, _AMOUNT, _DAYS_SUPPLY, _IN_ORDER = range(6)
_INTS = 6
_ITEM, _DATE, _RX, _PRACTITIONER = range(4)
_TEXTS = 4
FIELDS = {  # field number: (name, "int32" | "int64" | "bool" | "text", column)
    1: ("feedetl_sn", "int32", _SN),
    2: ("item_code", "text", _ITEM),
    3: ("unit_price_fen", "int64", _PRICE),
    4: ("quantity", "int64", _QTY),
    5: ("amount_fen", "int64", _AMOUNT),
    6: ("days_supply", "int32", _DAYS_SUPPLY),
    7: ("service_date", "text", _DATE),
    8: ("prescription_no", "text", _RX),
    9: ("practitioner_code", "text", _PRACTITIONER),
    10: ("in_discharge_order", "bool", _IN_ORDER),
}


@njit(cache=True, nogil=True)
def _varint(buf: np.ndarray, pos: int, end: int) -> tuple[int, int]:
    """The varint at ``pos`` and the place after it; the place is -1 if it runs past
    ``end`` or is longer than 10 bytes. Bits beyond 64 are dropped, as protobuf does."""
    value = 0
    shift = 0
    while shift < 70:
        if pos >= end:
            return 0, -1
        b = buf[pos]
        pos += 1
        if shift < 64:
            value |= int(b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
    return 0, -1


@njit(cache=True, nogil=True)
def _read(buf: np.ndarray, ends: np.ndarray, ints: np.ndarray, texts: np.ndarray) -> int:
    """Read line ``i`` of ``buf`` (``ends[i - 1]`` to ``ends[i]``) into ``ints[i]``
    (the number columns) and ``texts[i]`` (start and length of each text field; fields
    absent stay 0). Returns -1, or the first line it did not read."""
    start = 0
    for i in range(ends.shape[0]):
        end = ends[i]
        pos = start
        for k in range(_INTS):
            ints[i, k] = 0
        for k in range(2 * _TEXTS):
            texts[i, k] = 0
        while pos < end:
            key, pos = _varint(buf, pos, end)
            if pos < 0:
                return i
            number = key >> 3
            wire = key & 7
            if wire == 0:
                value, pos = _varint(buf, pos, end)
                if pos < 0:
                    return i
                if number == 1 or number == 6:  # int32: the low 32 bits, signed
                    value &= 0xFFFFFFFF
                    if value >= 0x80000000:
                        value -= 0x100000000
                    ints[i, _SN if number == 1 else _DAYS_SUPPLY] = value
                elif number == 3:
                    ints[i, _PRICE] = value
                elif number == 4:
                    ints[i, _QTY] = value
                elif number == 5:
                    ints[i, _AMOUNT] = value
                elif number == 10:
                    ints[i, _IN_ORDER] = 1 if value != 0 else 0
                elif number == 2 or 7 <= number <= 9 or number == 0:
                    return i
            elif wire == 2:
                length, pos = _varint(buf, pos, end)
                if pos < 0 or length < 0 or length > end - pos:
                    return i
                col = -1
                if number == 2:
                    col = _ITEM
                elif number == 7:
                    col = _DATE
                elif number == 8:
                    col = _RX
                elif number == 9:
                    col = _PRACTITIONER
                elif 1 <= number <= 10 or number == 0:
                    return i  # a number field written packed: left to protobuf
                if col >= 0:
                    texts[i, 2 * col] = pos
                    texts[i, 2 * col + 1] = length
                pos += length
            elif wire == 1 and number > 10:
                pos += 8
            elif wire == 5 and number > 10:
                pos += 4
            else:  # groups, and fixed-width encodings of known fields
                return i
            if pos > end:
                return i
        start = end
    return -1


@dataclass(slots=True)
class _Text:
    """A text column as bytes: one zero-padded row per line, and each line's length."""

    matrix: np.ndarray  # n x width uint8
    length: np.ndarray  # n int64

    @classmethod
    def gather(cls, buf: np.ndarray, start: np.ndarray, length: np.ndarray) -> _Text:
        width = int(length.max(initial=0))
        if width == 0:  # no line has the field (and ``buf`` may be empty)
            return cls(np.zeros((len(length), 1), dtype=np.uint8), length)
        place = np.arange(width)
        matrix = np.take(buf, start[:, None] + place, mode="clip")
        matrix[place >= length[:, None]] = 0
        return cls(matrix, length)

    def printable(self) -> bool:
        """Every used byte is printable ASCII (so no NUL and no newline)."""
        m = self.matrix
        used = np.arange(m.shape[1]) < self.length[:, None]
        return not bool(np.any(((m < 0x20) | (m > 0x7E)) & used))

    def distinct(self) -> tuple[list[str], np.ndarray]:
        """The distinct values and each line's index into them. (A row seen as one
        fixed-width byte string: its padding zeros are dropped, and printable text has
        no zero of its own.)"""
        rows = np.ascontiguousarray(self.matrix).view(f"S{self.matrix.shape[1]}").reshape(-1)
        values, index = np.unique(rows, return_inverse=True)
        return [v.decode("ascii") for v in values.tolist()], index.reshape(-1)


@dataclass(slots=True)
class StoredLines:
    """An episode's lines in ``feedetl_sn`` order: their columns, their service dates
    (dictionary-encoded; '' is the claim's date) and what their duplicate-charge keys
    are made of."""

    columns: LineColumns
    dates: list[str]
    date: np.ndarray
    prescription: _Text

    def dup_keys(self, institution_code: str, date_days: list[int]) -> list[str]:
        """Each line's ``keys.dup_key``, ``date_days`` the day number of each of
        ``dates``: the key's prefix from a table of the distinct (item, date) pairs,
        then the prescription number, then a newline, as one byte string split once."""
        cols = self.columns
        n = len(cols.item)
        if n == 0:
            return []
        per_item = len(self.dates)
        pairs, index = np.unique(cols.item * per_item + self.date, return_inverse=True)
        prefixes = [
            dup_key_prefix(institution_code, cols.item_codes[p // per_item],
                           date_days[p % per_item]).encode()
            for p in pairs.tolist()
        ]
        newline = (np.full((n, 1), ord("\n"), dtype=np.uint8), np.ones(n, dtype=np.int64))
        blob = join_slots([
            table_slot(prefixes, index.reshape(-1)),
            (self.prescription.matrix, self.prescription.length),
            newline,
        ])
        keys = blob.decode("ascii").split("\n")
        keys.pop()  # after the last newline
        return keys


def read_lines(serialized: list[bytes]) -> StoredLines | None:
    """An episode's stored FeeLine messages as columns, in ``feedetl_sn`` order; None
    for lines this reader leaves to protobuf (see the module docstring)."""
    n = len(serialized)
    ends = np.cumsum(np.fromiter(map(len, serialized), dtype=np.int64, count=n))
    buf = np.frombuffer(b"".join(serialized), dtype=np.uint8)
    ints = np.empty((n, _INTS), dtype=np.int64)
    texts = np.empty((n, 2 * _TEXTS), dtype=np.int64)
    if _read(buf, ends, ints, texts) >= 0:
        return None
    order = np.argsort(ints[:, _SN], kind="stable")
    ints = ints[order]
    texts = texts[order]
    text = [_Text.gather(buf, texts[:, 2 * k], texts[:, 2 * k + 1]) for k in range(_TEXTS)]
    if not all(t.printable() for t in text):
        return None
    item_codes, item = text[_ITEM].distinct()
    practitioners, practitioner = text[_PRACTITIONER].distinct()
    dates, date = text[_DATE].distinct()
    columns = LineColumns(
        feedetl_sn=ints[:, _SN],
        unit_price_fen=ints[:, _PRICE],
        quantity=ints[:, _QTY],
        amount_fen=ints[:, _AMOUNT],
        days_supply=ints[:, _DAYS_SUPPLY],
        in_discharge_order=ints[:, _IN_ORDER],
        item_codes=item_codes,
        item=item,
        practitioners=practitioners,
        practitioner=practitioner,
    )
    return StoredLines(columns, dates, date, text[_RX])


def warm() -> None:
    """Compile, or load from the on-disk cache, the reader."""
    read_lines([b"\x08\x01\x12\x01A"])
