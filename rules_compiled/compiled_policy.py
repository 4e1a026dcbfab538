"""The compiled policy: what a policy file compiles to, and the codes its rules use.

:class:`CompiledPolicy` holds one :class:`Rule` per (scheme, setting, cohort,
institution level), the cohort boxes members are placed in, the policy-wide
ratios and limits, and the packed table the kernels read
(:mod:`rules_compiled.policy_table`). The policy file is compiled by
:mod:`rules_compiled.policy`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from .model import PersonType, Scheme, Setting
from .policy_table import P_GROUPS

# ------------------------------------------------------------------ constants
INF_FEN = 1 << 62  # "unbounded" band end
DAY_MIN = -(1 << 40)  # date-space bounds for the cohort partition check
DAY_MAX = 1 << 40
BP_FULL = 10_000

PAY_PERSONAL = 0  # no fund pays (pharmacy)
PAY_FUND_FIRST = 1  # funds, then the personal share from the account, then cash
PAY_ACCOUNT_FIRST = 2  # account pays in-scope cost first (EMP outpatient)
PAYMENT_NAMES = {
    "personal": PAY_PERSONAL,
    "fund_first": PAY_FUND_FIRST,
    "account_first": PAY_ACCOUNT_FIRST,
}

FUND_POOLED = 0  # 统筹基金 -> CO_HIFP
FUND_SUPPLEMENTARY = 1  # 附加基金 -> CO_SUPPLEMENTARY
FUND_SERIOUS_ILLNESS = 2  # 大病保险 -> CO_HIFMI
FUND_NAMES = {
    "pooled": FUND_POOLED,
    "supplementary": FUND_SUPPLEMENTARY,
    "serious_illness": FUND_SERIOUS_ILLNESS,
}

COUNTER_POOLED = 0  # CI_POOLED_PAID / CO_D_POOLED_PAID
COUNTER_OUTPATIENT_FUND = 1  # CI_OUTPATIENT_FUND_PAID / CO_D_OUTPATIENT_FUND_PAID
COUNTER_NAMES = {"pooled": COUNTER_POOLED, "outpatient_fund": COUNTER_OUTPATIENT_FUND}

DED_NONE = 0
DED_PER_YEAR = 1
DED_PER_ADMISSION = 2
DED_PER_NAMES = {"year": DED_PER_YEAR, "admission": DED_PER_ADMISSION}

BUCKET_CURRENT = 1  # 当年账户
BUCKET_PRIOR = 2  # 历年账户

SETTING_KEYS = {s.name.lower(): s for s in Setting}
SCHEME_KEYS = {s.name.lower(): s for s in Scheme}
SCHEME_PERSON_TYPES = {
    Scheme.EMP: (PersonType.ACTIVE, PersonType.RETIRED),
    Scheme.RES: (PersonType.ADULT, PersonType.STUDENT),
}


@dataclass(frozen=True, slots=True)
class Band:
    from_fen: int
    to_fen: int  # INF_FEN: unbounded
    ratio_bp: int


@dataclass(frozen=True, slots=True)
class Rule:
    """The benefit rule of one (scheme, setting, cohort, level)."""

    payment: int
    account_mask: int
    referral: bool
    deductible_fen: int
    deductible_remote_fen: int
    deductible_per: int
    self_pay_band_fen: int
    band_fund: int
    bands: tuple[Band, ...]
    bands_cumulative: bool
    fund_cap_fen: int  # -1: none
    fund_cap_counter: int
    above_cap_fund: int  # -1: none
    above_cap_ratio_bp: int
    # The annual pooled cap (counter CI_POOLED_PAID) that item-override payments
    # count against and are limited by, in this setting; -1: none.
    override_cap_fen: int


@dataclass(frozen=True, slots=True)
class CohortBox:
    scheme: Scheme
    person_type: PersonType
    group: int
    birth: tuple[int, int]
    work_start: tuple[int, int]
    retire: tuple[int, int]

    def contains(self, birth_day: int, work_start_day: int, retire_day: int) -> bool:
        return (
            self.birth[0] <= birth_day <= self.birth[1]
            and self.work_start[0] <= work_start_day <= self.work_start[1]
            and self.retire[0] <= retire_day <= self.retire[1]
        )


@dataclass(slots=True)
class CompiledPolicy:
    version: str
    source: str
    source_text: str
    referral_bp: dict[int, int]  # by Referral value
    remote_reduction_bp: int
    assistance_bp: dict[int, int]  # by Assistance value
    assistance_cap_fen: int
    acute_days_max: int
    chronic_days_max: int
    registered_chronic_days_max: int
    discharge_days_max: int
    refill_remaining_max_bp: int
    # Ledger and abuse-check rules the gateway applies (docs/benefit-rules.md §6, §7).
    reversal_window_days: int
    readmission_window_days: int
    settlements_per_day_max: int
    diagnosis_prefixes: dict[int, tuple[str, ...]]  # DiagnosisFlag -> prefixes
    chronic_codes: tuple[str, ...]
    groups: dict[Scheme, tuple[str, ...]]  # cohort names, or person-type names
    named_cohorts: dict[Scheme, bool]  # False: groups are person types (cohort_name "")
    cohorts: tuple[CohortBox, ...]
    rules: dict[tuple[Scheme, Setting, int, int], Rule]
    table: npt.NDArray[np.int64] = field(repr=False)

    @property
    def max_groups(self) -> int:
        return int(self.table[P_GROUPS])

    def group_of(
        self, scheme: int, person_type: int, birth_day: int, work_start_day: int, retire_day: int
    ) -> int:
        """Index of the member's cohort (or person type) within its scheme; -1 none."""
        for box in self.cohorts:
            if (
                box.scheme == scheme
                and box.person_type == person_type
                and box.contains(birth_day, work_start_day, retire_day)
            ):
                return box.group
        return -1

    def rule(self, scheme: int, setting: int, group: int, level: int) -> Rule | None:
        try:
            return self.rules.get((Scheme(scheme), Setting(setting), group, level))
        except ValueError:
            return None


def with_rule(policy: CompiledPolicy, **changes: Any) -> CompiledPolicy:
    """A copy of ``policy`` with top-level fields replaced (tests)."""
    return replace(policy, **changes)
