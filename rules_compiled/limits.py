"""The limits of every field, defined once for every door that takes it in.

A value enters the gateway through three doors: the CSV loads
(``gateway/load_*.py``), the gRPC request checks (``gateway/validate.py``) and the
policy file (``rules_compiled/policy.py``). Each of them takes its bounds from
here, so a value one door accepts is never refused by another: a member loaded
with an id the wire would refuse could never be served.

Text fields have one of two character sets:

- ``CODE``: ASCII letters, digits, ``_ . -``, starting with a letter or digit.
  Ids that are keys in Redis or parts of composite keys (member, institution,
  item and practitioner codes) are codes: they never contain the separators
  the store and the CSV files use (``| : ; = ,``), spaces or control characters.
- ``PRINTABLE``: printable ASCII (space to ``~``) without leading or trailing
  spaces: card numbers, diagnosis codes, prescription numbers, operator and
  terminal ids, request ids.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "AGE_YEARS_MAX",
    "BP_MAX",
    "CARD_NO",
    "DATE_MIN",
    "DAYS_SUPPLY_MAX",
    "DIAGNOSIS_CODE",
    "EPISODE_ID",
    "FEN_MAX",
    "FUTURE_DAYS_MAX",
    "INSTITUTION_CODE",
    "ITEM_CODE",
    "OPERATOR_ID",
    "PRACTITIONER_CODE",
    "PRESCRIPTION_NO",
    "PSN_NO",
    "REGION",
    "REMOTE_INSTITUTIONS_MAX",
    "REQUEST_ID",
    "SETTLEMENT_ID",
    "TERMINAL_ID",
    "WIRE_FIELDS",
    "Charset",
    "TextField",
]


class Charset(Enum):
    CODE = "1-{n} of A-Z a-z 0-9 _ . -, starting with a letter or digit"
    PRINTABLE = "1-{n} printable ASCII characters, without surrounding spaces"
    DIGITS = "exactly {n} digits"


_CODE_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.\-]*")


@dataclass(frozen=True, slots=True)
class TextField:
    """A text field: its name (as the wire and the CSV files call it), its maximum
    length in characters and its character set."""

    name: str
    len_max: int
    charset: Charset

    def problem(self, value: str) -> str | None:
        """Why ``value`` is not a valid (non-empty) value of this field, or None.

        An empty value is reported as ``required``; whether the field may be empty
        is for the door to decide."""
        if not value:
            return "required"
        if self.charset is Charset.DIGITS:
            if len(value) != self.len_max or not (value.isascii() and value.isdigit()):
                return f"not {self.describe()}"
            return None
        if len(value) > self.len_max:
            return f"longer than {self.len_max} characters"
        if self.charset is Charset.CODE:
            if not _CODE_RE.fullmatch(value):
                return f"not a code ({self.describe()})"
            return None
        if not value.isascii() or not value.isprintable() or value.strip() != value:
            return "must be printable ASCII without surrounding spaces"
        return None

    def describe(self) -> str:
        return self.charset.value.format(n=self.len_max)


# --- ids and codes -----------------------------------------------------------------------
PSN_NO = TextField("psn_no", 32, Charset.CODE)  # 人员编号
INSTITUTION_CODE = TextField("institution_code", 32, Charset.CODE)  # 定点医药机构编号
PRACTITIONER_CODE = TextField("practitioner_code", 32, Charset.CODE)
ITEM_CODE = TextField("item_code", 64, Charset.CODE)  # 医保目录编码: catalogue and fee lines
CARD_NO = TextField("card_no", 32, Charset.PRINTABLE)  # 社保卡号
# ICD-10 codes: fee claims, chronic-disease registrations, the catalogue's chronic
# disease and the policy's diagnosis prefixes.
DIAGNOSIS_CODE = TextField("diagnosis_code", 32, Charset.PRINTABLE)
PRESCRIPTION_NO = TextField("prescription_no", 64, Charset.PRINTABLE)
OPERATOR_ID = TextField("operator_id", 64, Charset.PRINTABLE)
TERMINAL_ID = TextField("terminal_id", 64, Charset.PRINTABLE)
REQUEST_ID = TextField("request_id", 64, Charset.PRINTABLE)  # msgid
EPISODE_ID = TextField("episode_id", 32, Charset.PRINTABLE)
SETTLEMENT_ID = TextField("settlement_id", 64, Charset.PRINTABLE)
REGION = TextField("region", 6, Charset.DIGITS)  # insuplc_admdvs

# --- numbers -----------------------------------------------------------------------------
FEN_MAX = 2**53 - 1  # balances and accumulators pass through Lua numbers (doubles)
BP_MAX = 10_000  # ratios in basis points: 0..100%
AGE_YEARS_MAX = 150
DAYS_SUPPLY_MAX = 366  # a line's days supply, a recorded fill's too
REMOTE_INSTITUTIONS_MAX = 3  # a remote-care registration names up to 3 institutions

# --- service dates -----------------------------------------------------------------------
# A service date (a claim's, a line's, a recorded fill's or settled charge's) lies
# between DATE_MIN and today (China Standard Time) plus FUTURE_DAYS_MAX of clock skew.
DATE_MIN = dt.date(1990, 1, 1)
FUTURE_DAYS_MAX = 1

# The text fields of the gRPC requests, by field name.
WIRE_FIELDS: dict[str, TextField] = {
    **{
        f.name: f
        for f in (
            PSN_NO, INSTITUTION_CODE, PRACTITIONER_CODE, ITEM_CODE, CARD_NO, DIAGNOSIS_CODE,
            PRESCRIPTION_NO, OPERATOR_ID, TERMINAL_ID, REQUEST_ID, EPISODE_ID, SETTLEMENT_ID,
        )
    },
    "original_request_id": REQUEST_ID,
}
