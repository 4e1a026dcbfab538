"""Redis key layout and ids: the partition of a member, the keys of its records, and the
settlement, reversal and episode ids that carry their partition.

Key layout (every key one settlement touches shares the hash tag of the
member's partition, so the same scripts run on a standalone server and on a
Redis Cluster):

    mbr:{pNNNN}:<psn_no>      hash  profile (``p``, JSON), balances (``cur``, ``pri``),
                                    state version (``ver``), annual accumulators
                                    (``y<year>:<name>``)
    fill:{pNNNN}:<psn_no>     hash  item code -> "<day>:<days supply>" of the last fill
    dup:{pNNNN}:<psn_no>      hash  duplicate-charge key -> settlement id
    day:{pNNNN}:<psn_no>:<d>  int   settlements of the member on day d (expires)
    idem:{pNNNN}:<n>:<institution>:<request_id>
                              hash  request hash ``h``, kind ``k``, settlement id ``s``
                                    (``n``: the institution code's length; a request id
                                    belongs to the institution that sent it)
    setl:{pNNNN}:<setl_id>    hash  the settlement record (response bytes, index fields)
    jrnl:{pNNNN}              stream the partition's journal
    ack:{pNNNN}               int   a counter written before WAIT when a settlement is read
                                    back with replica acknowledgement on (gateway.store.ReplicaAck)

Settlement (``S``), reversal (``R``) and episode (``E``) ids are the letter, the
partition (4 digits), the day (yyyymmdd) and 16 random hex digits, so the partition is
readable back from an id (:func:`partition_of_settlement`).
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import zlib
from dataclasses import dataclass

__all__ = [
    "PARTITIONS",
    "MemberKeys",
    "dup_key",
    "dup_key_prefix",
    "idem_key",
    "member_key",
    "new_episode_id",
    "new_reversal_id",
    "new_settlement_id",
    "partition_of",
    "partition_of_settlement",
    "tag",
    "totals_key",
]

PARTITIONS = 1024


def partition_of(psn_no: str) -> int:
    """The member's partition: every key of one settlement carries its hash tag."""
    return zlib.crc32(psn_no.encode()) % PARTITIONS


def tag(partition: int) -> str:
    return f"{{p{partition:04d}}}"


def member_key(psn_no: str) -> str:
    return f"mbr:{tag(partition_of(psn_no))}:{psn_no}"


def idem_key(partition: int, institution_code: str, request_id: str) -> str:
    return f"idem:{tag(partition)}:{len(institution_code)}:{institution_code}:{request_id}"


def _unique_hex() -> str:
    """16 hex digits, all random (64 bits): one id says nothing about the next, so ids
    cannot be guessed from one another. (The commit script also refuses to write over
    an existing settlement id.)"""
    return secrets.token_hex(8)


@functools.lru_cache(maxsize=1024)
def _id_prefix(kind: str, partition: int, day: dt.date) -> str:
    """The id's letter, partition and day (formatting a date costs more than the
    cache: the days served are few)."""
    return f"{kind}{partition:04d}{day:%Y%m%d}"


def new_settlement_id(partition: int, day: dt.date) -> str:
    """``S`` + partition (4 digits) + yyyymmdd + 16 hex: the partition is readable back."""
    return _id_prefix("S", partition, day) + _unique_hex()


def totals_key(partition: int, institution_code: str, day: int) -> str:
    """Reconciliation totals of one institution, one clearing day, one partition."""
    return f"rec:{tag(partition)}:{institution_code}:{day}"


def new_reversal_id(partition: int, day: dt.date) -> str:
    return _id_prefix("R", partition, day) + _unique_hex()


def new_episode_id(partition: int, day: dt.date) -> str:
    return _id_prefix("E", partition, day) + _unique_hex()


def partition_of_settlement(settlement_id: str, prefix: str = "S") -> int | None:
    """The partition encoded in a settlement (``S``), reversal (``R``) or episode (``E``) id."""
    if (
        len(settlement_id) < 5
        or settlement_id[0] != prefix
        or not settlement_id[1:5].isdigit()
    ):
        return None
    value = int(settlement_id[1:5])
    return value if value < PARTITIONS else None


def dup_key(institution_code: str, item_code: str, day: int, prescription_no: str) -> str:
    """Duplicate-charge key: same member (the hash), institution, item, date, prescription.
    Institution and item codes never contain ``|`` (``rules_compiled/limits.py``), so the
    key splits back into its parts."""
    return dup_key_prefix(institution_code, item_code, day) + prescription_no


def dup_key_prefix(institution_code: str, item_code: str, day: int) -> str:
    """What a duplicate-charge key has before the prescription number."""
    return f"{institution_code}|{item_code}|{day}|"


@dataclass(frozen=True, slots=True)
class MemberKeys:
    partition: int
    member: str
    fills: str
    dups: str

    @classmethod
    def of(cls, psn_no: str) -> MemberKeys:
        p = partition_of(psn_no)
        t = tag(p)
        return cls(p, f"mbr:{t}:{psn_no}", f"fill:{t}:{psn_no}", f"dup:{t}:{psn_no}")

    def idem(self, institution_code: str, request_id: str) -> str:
        """A request id is the institution's own: one per (member partition, institution,
        request id). The institution's length keeps the key unambiguous."""
        return idem_key(self.partition, institution_code, request_id)

    def day_counter(self, psn_no: str, day: int) -> str:
        return f"day:{tag(self.partition)}:{psn_no}:{day}"

    def settlement(self, settlement_id: str) -> str:
        return f"setl:{tag(self.partition)}:{settlement_id}"

    def totals(self, institution_code: str, day: int) -> str:
        return totals_key(self.partition, institution_code, day)

    def episode(self, episode_id: str) -> str:
        return f"ep:{tag(self.partition)}:{episode_id}"

    def episode_lines(self, episode_id: str) -> str:
        return f"epl:{tag(self.partition)}:{episode_id}"

    @property
    def journal(self) -> str:
        return f"jrnl:{tag(self.partition)}"
