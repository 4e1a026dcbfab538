"""An episode's stored fee lines read straight into columns, without a message per line.

UploadFeeDetails stores each line of an inpatient episode as the wire bytes of its
``FeeLine`` (the episode's lines hash). Parsed by protobuf into 5,000 messages and then
read field by field, an episode's lines cost about 10 ms of Python at every PreSettle
and Settle. Here one compiled pass (:func:`_read`) reads the wire bytes of every line
into the number columns, and the place and a hash of each text field; the lines are
put in ``feedetl_sn`` order with one argsort; the text columns are dictionary-encoded
by their hashes (an episode names few distinct items, practitioners and dates; the
lines of a value are compared byte for byte with its first, so a shared hash is
noticed, never trusted); and the duplicate-charge keys are assembled as bytes by
another compiled loop.

The reader reads what ``FeeLine.SerializeToString`` writes, and the rest of protobuf's
wire format as protobuf reads it: fields in any order, a field repeated (the last one
counts), fields it does not know skipped. Lines it will not read make
:func:`read_lines` answer None, and the caller parses the lines with protobuf: what
protobuf refuses too (a line cut short, a tag or a length of more than five bytes, a
field number out of range), a known field of an unexpected wire type, text that is not
printable ASCII (validation admits only that), and distinct texts that share a hash.
Either way the columns are the same, which ``tests/test_line_wire.py`` checks.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np
from numba import njit

from gateway.fastredis import Encoded
from gateway.keys import dup_key_prefix
from gateway.line_columns import LineColumns, byte_table

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
def _varint(buf: np.ndarray, pos: int, end: int, most: int) -> tuple[int, int]:
    """The varint at ``pos`` and the place after it; the place is -1 if it runs past
    ``end`` or is longer than ``most`` bytes (10 for a value; protobuf reads a tag or a
    length in at most 5). Bits beyond 64 are dropped, as protobuf does."""
    value = 0
    shift = 0
    while shift < 7 * most:
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


_FNV_OFFSET = -3750763034362895579  # FNV-1a, 64 bits (0xcbf29ce484222325 as int64)
_FNV_PRIME = 1099511628211


@njit(cache=True, nogil=True)
def _read(buf: np.ndarray, ends: np.ndarray, ints: np.ndarray, texts: np.ndarray,
          hashes: np.ndarray) -> int:
    """Read line ``i`` of ``buf`` (``ends[i - 1]`` to ``ends[i]``) into ``ints[i]``
    (the number columns), ``texts[i]`` (start and length of each text field; fields
    absent stay 0) and ``hashes[i]`` (a 64-bit FNV-1a hash of each text field).
    Returns -1, or the first line it did not read."""
    start = 0
    for i in range(ends.shape[0]):
        end = ends[i]
        pos = start
        for k in range(_INTS):
            ints[i, k] = 0
        for k in range(2 * _TEXTS):
            texts[i, k] = 0
        while pos < end:
            key, pos = _varint(buf, pos, end, 5)
            if pos < 0 or key > 0xFFFFFFFF:
                return i
            number = key >> 3
            wire = key & 7
            if number == 0 or number >= 1 << 29:  # not a field number
                return i
            if wire == 0:
                value, pos = _varint(buf, pos, end, 10)
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
                elif number == 2 or 7 <= number <= 9:
                    return i
            elif wire == 2:
                length, pos = _varint(buf, pos, end, 5)
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
                elif number <= 10:
                    return i  # a number field written packed: left to protobuf
                if col >= 0:
                    h = _FNV_OFFSET
                    for b in range(pos, pos + length):
                        c = buf[b]
                        if c < 0x20 or c > 0x7E:  # printable ASCII only
                            return i
                        h = (h ^ c) * _FNV_PRIME
                    texts[i, 2 * col] = pos
                    texts[i, 2 * col + 1] = length
                    hashes[i, col] = h
                pos += length
            elif wire == 1 and number > 10:
                pos += 8
            elif wire == 5 and number > 10:
                pos += 4
            else:  # groups, and fixed-width encodings of known fields
                return i
            if pos > end:
                return i
        for k in range(_TEXTS):
            if texts[i, 2 * k + 1] == 0:
                hashes[i, k] = _FNV_OFFSET  # absent or empty: the hash of no bytes
        start = end
    return -1


# The slot of a hash in _dictionary's table: the hash mixed with a seed drawn when the
# process starts (MurmurHash3's 64-bit finalizer, so that every bit of the hash counts,
# on int64 with logical shifts). FNV-1a's low bits depend only on the low bits of the
# text, and an uploader could otherwise choose codes that all land in one slot.
_SEED = secrets.randbits(63)


@njit(cache=True, nogil=True)
def _mix(h: int) -> int:
    h ^= (h >> 33) & 0x7FFFFFFF
    h *= -49064778989728563  # 0xff51afd7ed558ccd
    h ^= (h >> 33) & 0x7FFFFFFF
    h *= -4265267296055464877  # 0xc4ceb9fe1a85ec53
    h ^= (h >> 33) & 0x7FFFFFFF
    return h


@njit(cache=True, nogil=True)
def _dictionary(buf: np.ndarray, start: np.ndarray, length: np.ndarray,
                hashes: np.ndarray, seed: int, index: np.ndarray, first: np.ndarray) -> int:
    """Number the distinct texts of a column in the order they are met: ``index[i]``
    is line ``i``'s number, ``first[k]`` the first line of number ``k``. Returns how
    many there are, or -1 if two different texts share a hash (an open-addressing
    table of hashes, placed by :func:`_mix` of the hash and ``seed``; each line's
    text is compared byte for byte with the first line of its hash)."""
    n = start.shape[0]
    size = 1
    while size < 2 * n:
        size *= 2
    slots = np.full(size, -1, np.int64)
    count = 0
    for i in range(n):
        h = hashes[i]
        s = _mix(h ^ seed) & (size - 1)
        while slots[s] >= 0 and hashes[first[slots[s]]] != h:
            s = (s + 1) & (size - 1)
        k = slots[s]
        if k < 0:
            k = slots[s] = count
            first[count] = i
            count += 1
        else:
            j = first[k]
            if length[i] != length[j]:
                return -1
            for b in range(length[i]):
                if buf[start[i] + b] != buf[start[j] + b]:
                    return -1
        index[i] = k
    return count


@njit(cache=True, nogil=True)
def _decimal_digits(n: int) -> int:
    digits = 1
    while n >= 10 ** digits:
        digits += 1
    return digits


@njit(cache=True, nogil=True)
def _join_lines(prefixes: np.ndarray, offsets: np.ndarray, prefix: np.ndarray,
                buf: np.ndarray, start: np.ndarray, length: np.ndarray,
                resp: bool) -> np.ndarray:
    """Line ``i`` is entry ``prefix[i]`` of ``prefixes`` (its bytes from ``offsets``)
    followed by ``buf[start[i]:start[i] + length[i]]``: each line then a newline, or
    (``resp``) each line as a RESP bulk string, ``$<length>\\r\\n<line>\\r\\n``."""
    n = start.shape[0]
    total = 0
    for i in range(n):
        size = offsets[prefix[i] + 1] - offsets[prefix[i]] + length[i]
        total += size + 1
        if resp:  # '$', the length, CRLF; then a CR before the newline
            total += 1 + _decimal_digits(size) + 2 + 1
    out = np.empty(total, np.uint8)
    pos = 0
    for i in range(n):
        e = prefix[i]
        if resp:
            size = offsets[e + 1] - offsets[e] + length[i]
            digits = _decimal_digits(size)
            out[pos] = 36  # '$'
            for d in range(digits):
                out[pos + digits - d] = 48 + size % 10
                size //= 10
            pos += 1 + digits
            out[pos] = 13
            out[pos + 1] = 10
            pos += 2
        for b in range(offsets[e], offsets[e + 1]):
            out[pos] = prefixes[b]
            pos += 1
        for b in range(start[i], start[i] + length[i]):
            out[pos] = buf[b]
            pos += 1
        if resp:
            out[pos] = 13
            pos += 1
        out[pos] = 10
        pos += 1
    return out


@dataclass(slots=True)
class StoredLines:
    """An episode's lines in ``feedetl_sn`` order: their columns, their service dates
    (dictionary-encoded; '' is the claim's date) and what their duplicate-charge keys
    are made of (the prescription numbers' places in ``buf``)."""

    columns: LineColumns
    dates: list[str]
    date: np.ndarray
    buf: np.ndarray
    prescription: tuple[np.ndarray, np.ndarray]  # (start, length) per line

    def dup_keys(self, institution_code: str, date_days: list[int]
                 ) -> tuple[list[str], Encoded]:
        """Each line's ``keys.dup_key``, ``date_days`` the day number of each of
        ``dates``; and the same keys as RESP bulk strings, for the commands that send
        them. The key's prefix comes from a table of the distinct (item, date) pairs,
        then the prescription number."""
        cols = self.columns
        n = len(cols)
        if n == 0:
            return [], Encoded(0, b"")
        per_item = len(self.dates)
        pairs, index = np.unique(cols.item * per_item + self.date, return_inverse=True)
        prefixes = [
            dup_key_prefix(institution_code, cols.item_codes[p // per_item],
                           date_days[p % per_item]).encode()
            for p in pairs.tolist()
        ]
        table, offsets = byte_table(prefixes)
        start, length = self.prescription
        index = index.reshape(-1)
        lines = _join_lines(table, offsets, index, self.buf, start, length, False)
        keys = lines.tobytes().decode("ascii").split("\n")
        keys.pop()  # after the last newline
        resp = _join_lines(table, offsets, index, self.buf, start, length, True)
        return keys, Encoded(n, resp.tobytes())


def _distinct(joined: bytes, buf: np.ndarray, start: np.ndarray, length: np.ndarray,
              hashes: np.ndarray) -> tuple[list[str], np.ndarray] | None:
    """A text column's distinct values, in the order they are met, and each line's
    index into them; None if two values share a hash."""
    n = len(start)
    index = np.empty(n, dtype=np.int64)
    first = np.empty(n, dtype=np.int64)
    count = _dictionary(buf, start, length, hashes, _SEED, index, first)
    if count < 0:
        return None
    first = first[:count]
    return [joined[s:s + k].decode("ascii")
            for s, k in zip(start[first].tolist(), length[first].tolist(), strict=True)
            ], index


def read_lines(serialized: list[bytes]) -> StoredLines | None:
    """An episode's stored FeeLine messages as columns, in ``feedetl_sn`` order; None
    for lines this reader leaves to protobuf (see the module docstring)."""
    n = len(serialized)
    ends = np.cumsum(np.fromiter(map(len, serialized), dtype=np.int64, count=n))
    joined = b"".join(serialized)
    buf = np.frombuffer(joined, dtype=np.uint8)
    ints = np.empty((n, _INTS), dtype=np.int64)
    texts = np.empty((n, 2 * _TEXTS), dtype=np.int64)
    hashes = np.empty((n, _TEXTS), dtype=np.int64)
    if _read(buf, ends, ints, texts, hashes) >= 0:
        return None
    order = np.argsort(ints[:, _SN], kind="stable")
    ints, texts, hashes = ints[order], texts[order], hashes[order]
    items, practitioners, dates = (
        _distinct(joined, buf, texts[:, 2 * k], texts[:, 2 * k + 1], hashes[:, k])
        for k in (_ITEM, _PRACTITIONER, _DATE))
    if items is None or practitioners is None or dates is None:
        return None
    columns = LineColumns(
        feedetl_sn=ints[:, _SN],
        unit_price_fen=ints[:, _PRICE],
        quantity=ints[:, _QTY],
        amount_fen=ints[:, _AMOUNT],
        days_supply=ints[:, _DAYS_SUPPLY],
        in_discharge_order=ints[:, _IN_ORDER],
        item_codes=items[0],
        item=items[1],
        practitioners=practitioners[0],
        practitioner=practitioners[1],
    )
    return StoredLines(columns, dates[0], dates[1], buf,
                       (texts[:, 2 * _RX].copy(), texts[:, 2 * _RX + 1].copy()))


def warm() -> None:
    """Compile, or load from the on-disk cache, the reader: with two lines, so that
    the column views it passes have an episode's strides."""
    stored = read_lines([b"\x08\x02\x12\x01A\x42\x01R", b"\x08\x01\x12\x01B"])
    assert stored is not None
    stored.dup_keys("I", [0])  # both encodings
