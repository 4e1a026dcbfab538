"""Types shared by the rules compiler, its kernels, the reference evaluator and the gateway.

A batch of claims is two int64 matrices: one row per claim (columns ``CI_*``)
and one row per fee line (columns ``LI_*``), the lines of claim ``k`` being
rows ``line_offsets[k]:line_offsets[k + 1]``. Adjudication returns one row per
claim (``CO_*``) and one row per line (``LO_*``). Every amount is integer fen,
every ratio integer basis points, every date a day number (days since
1970-01-01, see :func:`day_number`). ``-1`` means "none" in date and id columns.

Enum values are those of the wire contract (``proto/claims/v1/claims.proto``),
so a proto enum converts to these by value.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag

EPOCH = _dt.date(1970, 1, 1)
NONE = -1


def day_number(d: _dt.date) -> int:
    """Days since 1970-01-01: the date representation inside kernels."""
    return (d - EPOCH).days


def from_day_number(n: int) -> _dt.date:
    return EPOCH + _dt.timedelta(days=n)


def age_years(birth: _dt.date, on: _dt.date) -> int:
    """Age in whole years on a date (docs/benefit-rules.md §1)."""
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years


class Scheme(IntEnum):
    EMP = 1  # 职工基本医疗保险 (310)
    RES = 2  # 城乡居民基本医疗保险 (390)


class PersonType(IntEnum):
    ACTIVE = 1  # EMP 在职
    RETIRED = 2  # EMP 退休
    ADULT = 3  # RES
    STUDENT = 4  # RES students and kindergarten children


class Setting(IntEnum):
    PHARMACY = 1
    OUTPATIENT = 2
    INPATIENT = 3
    MAJOR_OUTPATIENT = 4


class MemberStatus(IntEnum):
    ACTIVE = 1
    SUSPENDED = 2
    TERMINATED = 3
    DECEASED = 4


class CardStatus(IntEnum):
    ACTIVE = 1
    LOST = 2
    FROZEN = 3
    CANCELLED = 4


class Assistance(IntEnum):
    NONE = 0
    DIBAO = 1
    WUBAO = 2
    YOUFU = 3


class Referral(IntEnum):
    NONE = 0
    IN_PROVINCE = 1
    OUT_OF_PROVINCE = 2


class InstitutionKind(IntEnum):
    HOSPITAL = 1
    CLINIC = 2
    PHARMACY = 3


class InstitutionStatus(IntEnum):
    DESIGNATED = 1
    SUSPENDED = 2
    REVOKED = 3


class ItemKind(IntEnum):
    DRUG = 1
    SERVICE = 2
    MATERIAL = 3
    FACILITY = 4
    NON_MEDICAL = 5


class ItemClass(IntEnum):
    A = 1  # 甲: fully in scope
    B = 2  # 乙: self-pay-first ratio (先自付比例)
    C = 3  # 丙: fully self-paid


class SupplyClass(IntEnum):
    NONE = 0
    ACUTE = 1
    CHRONIC = 2


class Sex(IntEnum):
    UNKNOWN = 0
    MALE = 1
    FEMALE = 2


class LineStatus(IntEnum):
    PAID = 1
    SELF_PAY = 2
    REJECTED = 3


class LineReason(IntFlag):
    """Reason codes of a line; a line may carry several (docs/benefit-rules.md §8)."""

    NON_MEDICAL = 1 << 0
    OVER_QUANTITY = 1 << 1
    REFILL_TOO_SOON = 1 << 2
    DUPLICATE_CHARGE = 1 << 3
    PRACTITIONER_SUSPENDED = 1 << 4
    AFTER_DISCHARGE_ORDER = 1 << 5
    RESTRICTED_SEX = 1 << 6
    RESTRICTED_AGE = 1 << 7
    RESTRICTED_SETTING = 1 << 8
    NOT_IN_CATALOGUE = 1 << 9
    PRICE_OVER_CAP = 1 << 10
    NOT_YET_COVERED = 1 << 11  # dated before the member's benefit start: wholly self-paid


# Reasons that make a line REJECTED.
REJECTING_REASONS = (
    LineReason.NON_MEDICAL
    | LineReason.OVER_QUANTITY
    | LineReason.REFILL_TOO_SOON
    | LineReason.DUPLICATE_CHARGE
    | LineReason.PRACTITIONER_SUSPENDED
    | LineReason.AFTER_DISCHARGE_ORDER
    | LineReason.RESTRICTED_SEX
    | LineReason.RESTRICTED_AGE
    | LineReason.RESTRICTED_SETTING
)


class ClaimNote(IntFlag):
    EXCLUDED_CAUSE = 1 << 0
    FULL_COVERAGE = 1 << 1
    REMOTE_UNREGISTERED = 1 << 2


class DiagnosisFlag(IntFlag):
    FULL_COVERAGE = 1 << 0  # 甲类传染病, family-planning surgery: 100% pooled
    EXCLUDED_CAUSE = 1 << 1  # suicide, self-harm, fighting, ...: no fund pays
    MAJOR_OUTPATIENT = 1 << 2  # dialysis, chemo/radiotherapy (门诊大病)


def reason_names(mask: int) -> list[str]:
    """Stable reason strings of a line's reason mask, in declaration order."""
    return [r.name for r in LineReason if mask & r and r.name is not None]


_NOTE_NAMES: dict[int, tuple[str, ...]] = {}


def note_names(mask: int) -> list[str]:
    """Claim notes of a ClaimNote mask, in declaration order (remembered by mask: the
    masks met are few, and going through an IntFlag costs several µs)."""
    names = _NOTE_NAMES.get(mask)
    if names is None:
        names = tuple(n.name for n in ClaimNote if mask & n and n.name is not None)
        if len(_NOTE_NAMES) < 1 << 12:
            _NOTE_NAMES[mask] = names
    return list(names)


# --- claim input columns (CI_*) -------------------------------------------------
CHRONIC_SLOTS = 8  # registered chronic diseases considered per claim

(
    CI_SETTING,
    CI_INST_KIND,
    CI_INST_LEVEL,  # 1..3; 0 for a pharmacy
    CI_SERVICE_DAY,  # the discharge date for an inpatient claim
    CI_SCHEME,
    CI_PERSON_TYPE,
    CI_SEX,
    CI_AGE_YEARS,  # whole years on the service date
    CI_BIRTH_DAY,
    CI_WORK_START_DAY,  # EMP: first day of work; -1 unknown
    CI_RETIRE_DAY,  # EMP retired: retirement date; -1 none
    CI_ASSISTANCE,
    CI_REFERRAL,
    CI_REMOTE,  # 1: the institution is outside the insured region
    CI_REMOTE_REGISTERED,  # 1: a valid remote registration names this institution
    CI_EMERGENCY,
    CI_DIAG_FLAGS,  # DiagnosisFlag mask of the primary diagnosis
    CI_USE_ACCOUNT,  # 1: the member allows account payment
    CI_DISCHARGE_ORDER_DAY,  # inpatient: date of the discharge order; -1 none
    CI_ACCT_CURRENT,  # balances before this claim
    CI_ACCT_PRIOR,
    # Annual accumulators of the benefit year, before this claim.
    CI_OUTPATIENT_BAND_USED,  # EMP outpatient self-pay band used
    CI_DEDUCTIBLE_PAID,  # EMP inpatient deductible paid
    CI_POOLED_PAID,  # fund payment counted against the annual pooled cap
    CI_BANDED_COST,  # RES cumulative banded cost
    CI_ASSISTANCE_PAID,  # medical assistance paid
    CI_OUTPATIENT_FUND_PAID,  # RES outpatient fund paid (against its yearly cap)
    CI_BENEFIT_START_DAY,  # the member's benefit start; a line dated before it is not covered
    CI_CHRONIC_0,  # registered chronic disease ids valid on the service day, -1 padded
) = range(29)
CI_N = CI_CHRONIC_0 + CHRONIC_SLOTS

# --- line input columns (LI_*) --------------------------------------------------
(
    LI_ITEM,  # catalogue row index; -1 not in the catalogue
    LI_UNIT_PRICE,
    LI_QTY,
    LI_AMOUNT,  # unit price x quantity (validated before)
    LI_DAYS_SUPPLY,
    LI_DAY,  # date of the line
    LI_IN_DISCHARGE_ORDER,
    LI_PRACTITIONER_SUSPENDED,  # 1: the billing practitioner is suspended
    LI_DUP_SEEN,  # 1: a settled, unreversed line has the same duplicate key
    LI_PREV_FILL_DAY,  # last fill of the same drug for the member; -1 none
    LI_PREV_FILL_DAYS,  # days supply of that fill
) = range(11)
LI_N = 11

# --- claim output columns (CO_*) ------------------------------------------------
(
    CO_MEDFEE,
    CO_FULAMT_OWNPAY,
    CO_OVERLMT_SELFPAY,
    CO_PRESELFPAY,
    CO_INSCP,
    CO_REFERRAL_PAYFIRST,
    CO_DEDUCTIBLE,
    CO_BAND_SELFPAY,
    CO_FUND_PAY_SUM,
    CO_HIFP,  # pooled fund (统筹)
    CO_SUPPLEMENTARY,  # supplementary fund (附加基金), incl. EMP above the cap
    CO_HIFMI,  # serious-illness insurance (大病保险)
    CO_MAF,  # medical assistance (医疗救助)
    CO_PSN_PART,
    CO_ACCT_PAY,
    CO_ACCT_CURRENT_PAY,
    CO_ACCT_PRIOR_PAY,
    CO_CASH,
    CO_NOTES,  # ClaimNote mask
    # Accumulator increments this claim makes (the commit adds them).
    CO_D_OUTPATIENT_BAND_USED,
    CO_D_DEDUCTIBLE_PAID,
    CO_D_POOLED_PAID,
    CO_D_BANDED_COST,
    CO_D_ASSISTANCE_PAID,
    CO_D_OUTPATIENT_FUND_PAID,
    CO_ERROR,  # 0; otherwise the number of the §8 invariant the kernel found broken
) = range(26)
CO_N = 26

# --- line output columns (LO_*) -------------------------------------------------
(
    LO_STATUS,
    LO_REASONS,
    LO_FULAMT_OWNPAY,
    LO_OVERLMT_SELFPAY,
    LO_PRESELFPAY,
    LO_INSCP,
) = range(6)
LO_N = 6


@dataclass(frozen=True, slots=True)
class CatalogueItem:
    """One row of the three catalogues (三个目录)."""

    code: str
    name: str
    kind: ItemKind
    item_class: ItemClass
    price_cap_fen: int = NONE  # 限价; -1 no cap
    preselfpay_bp: int = 0  # class B self-pay-first ratio
    sex: Sex = Sex.UNKNOWN  # restriction; UNKNOWN = none
    age_min: int = NONE  # restriction, whole years inclusive; -1 none
    age_max: int = NONE
    settings: frozenset[Setting] = field(default_factory=frozenset)  # allowed; empty = all
    supply_class: SupplyClass = SupplyClass.NONE
    override_bp_emp: int = NONE  # item ratio override (listed special drugs); -1 none
    override_bp_res: int = NONE
    chronic_disease: str = ""  # the chronic disease this drug treats, for days-supply limits


# --- CO_ERROR codes (added by the rules engine) -------------------------------
# The kernels and the reference evaluator assert the invariants of docs/benefit-rules.md §9 per
# claim; a broken one is reported here (the claim must not be committed).
ERR_NONE = 0
ERR_PRICING_SUM = (
    1  # medfee != fulamt_ownpay + overlmt_selfpay + preselfpay + inscp (non-REJECTED lines)
)
ERR_FUND_PLUS_PERSONAL = 2  # medfee != fund_pay_sumamt + psn_part_amt
ERR_PERSONAL_SPLIT = 3  # psn_part != acct_pay + cash, or acct_pay != current + prior
ERR_FUND_SUM = 4  # fund_pay_sumamt != sum of the per-fund payments
ERR_NEGATIVE = 5  # a negative amount, or an account bucket paying past its balance
ERR_POOLED_CAP = 6  # a capped fund paying past its annual cap
ERR_ASSISTANCE_CAP = 7  # assistance paying past its annual cap
ERR_BAD_INPUT = (
    100  # unknown scheme / setting / person type, no cohort, bad item row, negative input
)
