"""Random claims over every setting, scheme, cohort and level (agreement and invariant tests)."""

from __future__ import annotations

import datetime as dt
import random

from rules_compiled import model as m
from rules_compiled.compiled_policy import COUNTER_POOLED, PAY_PERSONAL, CompiledPolicy
from rules_compiled.model import (
    CatalogueItem,
    ItemClass,
    ItemKind,
    Setting,
    Sex,
    SupplyClass,
    day_number,
)
from rules_compiled.rows import claim_row, line_row

# Dates around every cohort boundary of the reference policy.
_BIRTHS = [
    dt.date(1940, 6, 1),
    dt.date(1955, 12, 31),
    dt.date(1956, 1, 1),
    dt.date(1965, 12, 31),
    dt.date(1966, 1, 1),
    dt.date(1980, 5, 5),
    dt.date(2010, 3, 3),
]
_WORK = [
    dt.date(1960, 1, 1),
    dt.date(1985, 7, 1),
    dt.date(2000, 12, 31),
    dt.date(2001, 1, 1),
    dt.date(2010, 1, 1),
]
_RETIRE = [dt.date(1995, 1, 1), dt.date(2000, 12, 31), dt.date(2001, 1, 1), dt.date(2015, 6, 1)]
_SERVICE = day_number(dt.date(2024, 6, 15))
# Amounts that land near caps and band edges.
_POOLED_PAID = [0, 0, 3_000_000, 6_990_000, 6_999_999, 7_000_000, 7_500_000]
_BANDED = [0, 0, 999_000, 1_000_000, 4_990_000, 11_950_000, 12_000_000, 13_000_000]
_PRICES = [1, 99, 500, 1_999, 5_000, 12_345, 80_000, 250_000, 1_000_000, 3_000_000]


_N_OVERRIDE_DRUGS = 4  # the first items of a random catalogue: plain class-A override drugs


def random_catalogue(rnd: random.Random, n: int = 40) -> list[CatalogueItem]:
    """A random catalogue; its first items are override drugs (listed special drugs) with no
    restrictions, so that override lines are common in every setting."""
    items: list[CatalogueItem] = [
        CatalogueItem(
            code=f"V{i:03d}",
            name=f"listed special drug {i}",
            kind=ItemKind.DRUG,
            item_class=rnd.choice([ItemClass.A, ItemClass.A, ItemClass.B]),
            preselfpay_bp=1000,
            supply_class=rnd.choice(list(SupplyClass)),
            override_bp_emp=rnd.choice([7500, 8000, 9000]),
            override_bp_res=rnd.choice([7500, 10_000]),
        )
        for i in range(_N_OVERRIDE_DRUGS)
    ]
    for i in range(n - _N_OVERRIDE_DRUGS):
        kind = rnd.choice(list(ItemKind))
        cls = rnd.choice([ItemClass.A, ItemClass.A, ItemClass.B, ItemClass.C])
        override = rnd.random() < 0.15
        items.append(
            CatalogueItem(
                code=f"X{i:03d}",
                name=f"item {i}",
                kind=kind,
                item_class=cls,
                price_cap_fen=rnd.choice([-1, -1, 500, 5_000, 100_000]),
                preselfpay_bp=rnd.choice([0, 500, 1000, 2000, 10_000]) if cls == ItemClass.B else 0,
                sex=rnd.choice([Sex.UNKNOWN] * 18 + [Sex.MALE, Sex.FEMALE]),
                age_min=rnd.choice([-1] * 15 + [18]),
                age_max=rnd.choice([-1] * 15 + [14, 60]),
                settings=frozenset(rnd.sample(list(Setting), rnd.randint(1, 3)))
                if rnd.random() < 0.05
                else frozenset(),
                supply_class=rnd.choice(list(SupplyClass))
                if kind == ItemKind.DRUG
                else SupplyClass.NONE,
                override_bp_emp=rnd.choice([7500, 8000, 9000]) if override else -1,
                override_bp_res=rnd.choice([7500, 10_000]) if override else -1,
                chronic_disease=rnd.choice(["", "", "E11", "I10", "J44"])
                if kind == ItemKind.DRUG
                else "",
            )
        )
    return items


def random_claim(
    rnd: random.Random, n_items: int, disease_ids: list[int]
) -> tuple[list[int], list[list[int]]]:
    """A random claim. Beyond every scheme, setting, cohort and level it reaches the
    combinations of referral, item overrides, assistance, remote care, caps already used
    up, mid-year accumulators, benefits starting inside an inpatient stay and refill
    history (see :func:`features`)."""
    scheme = rnd.choice(list(m.Scheme))
    if scheme == m.Scheme.EMP:
        ptype = rnd.choice([m.PersonType.ACTIVE, m.PersonType.RETIRED])
    else:
        ptype = rnd.choice([m.PersonType.ADULT, m.PersonType.STUDENT])
    setting = rnd.choice([*Setting, Setting.INPATIENT, Setting.OUTPATIENT])
    birth = rnd.choice(_BIRTHS)
    work = rnd.choice([*_WORK, None])
    retire = rnd.choice(_RETIRE) if ptype == m.PersonType.RETIRED else None
    level = 0 if setting == Setting.PHARMACY else rnd.choice([0, 1, 1, 2, 3, 3])
    big = rnd.random() < 0.3
    chronic = tuple(rnd.sample(disease_ids, rnd.randint(0, min(2, len(disease_ids)))))
    # An inpatient stay of 2-12 days ending on the service (discharge) day; benefits
    # may start inside it.
    stay_days = rnd.randint(2, 12) if setting == Setting.INPATIENT else 0
    benefit_start = -1
    if stay_days and rnd.random() < 0.7:
        benefit_start = _SERVICE - rnd.randint(0, stay_days)
    elif rnd.random() < 0.2:
        benefit_start = _SERVICE - rnd.choice([0, 30, 400])
    # Accumulators: a fresh year, or mid-year values (some at or past their caps).
    fresh = rnd.random() < 0.3
    acc = dict(
        outpatient_band_used=rnd.choice([0, 29_999, 69_000, 100_000, 149_000, 150_000]),
        deductible_paid=rnd.choice([0, 50_000, 119_999, 150_000]),
        pooled_paid=rnd.choice(_POOLED_PAID),
        banded_cost=rnd.choice(_BANDED),
        assistance_paid=rnd.choice([0, 500_000, 999_990, 1_000_000]),
        outpatient_fund_paid=rnd.choice([0, 39_000, 39_999, 40_000]),
    )
    if fresh:
        acc = {k: 0 for k in acc}
    row = claim_row(
        chronic_ids=chronic,
        setting=int(setting),
        inst_kind=3 if setting == Setting.PHARMACY else 1,
        inst_level=level,
        service_day=_SERVICE,
        scheme=int(scheme),
        person_type=int(ptype),
        sex=rnd.choice([1, 2, 1, 2, 0]),
        age_years=rnd.choice([5, 30, 70]),
        birth_day=day_number(birth),
        work_start_day=day_number(work) if work else -1,
        retire_day=day_number(retire) if retire else -1,
        assistance=rnd.choice([0, 0, 1, 2, 3]),
        referral=rnd.choice([0, 0, 1, 2]),
        remote=int(rnd.random() < 0.45),
        remote_registered=int(rnd.random() < 0.35),
        emergency=int(rnd.random() < 0.15),
        diag_flags=rnd.choice([0] * 10 + [1, 2, 3, 4]),
        use_account=int(rnd.random() < 0.8),
        discharge_order_day=_SERVICE - rnd.choice([0, 1]) if rnd.random() < 0.1 else -1,
        acct_current=rnd.choice([0, 100, 5_000, 50_000, 10_000_000]),
        acct_prior=rnd.choice([0, 777, 20_000, 200_000, 10_000_000]),
        benefit_start_day=benefit_start,
        **acc,
    )
    n_lines = rnd.choice([1, 1, 2, 3, 5, 8, 20])
    # Refill history per item (as the gateway reads it: one last fill per drug, the same
    # for every line of that drug).
    fills: dict[int, tuple[int, int]] = {}
    lines = []
    for _ in range(n_lines):
        if rnd.random() < 0.25:
            item = rnd.randrange(_N_OVERRIDE_DRUGS)
        else:
            item = rnd.randrange(-1, n_items) if rnd.random() < 0.95 else -1
        price = rnd.choice(_PRICES) * (rnd.choice([1, 5, 30]) if big else 1)
        qty = rnd.choice([1, 1, 2, 3, 10])
        if item not in fills:
            prev = _SERVICE - rnd.choice([0, 1, 5, 20, 40]) if rnd.random() < 0.2 else -1
            fills[item] = (prev, rnd.choice([7, 10, 30]) if prev >= 0 else 0)
        prev, prev_days = fills[item]
        if stay_days:
            day = _SERVICE - rnd.randint(0, stay_days)
        else:
            day = rnd.choice([-1, -1, -1, _SERVICE, _SERVICE - 1, _SERVICE + 1])
        lines.append(
            line_row(
                item,
                price,
                qty,
                days_supply=rnd.choice([0, 0, 2, 3, 5, 7, 10, 30, 31]),
                day=day,
                in_discharge_order=int(rnd.random() < 0.1),
                practitioner_suspended=int(rnd.random() < 0.03),
                dup_seen=int(rnd.random() < 0.03),
                prev_fill_day=prev,
                prev_fill_days=prev_days,
            )
        )
    return row, lines


# --- what a claim reached ---------------------------------------------------------
FEATURES = (
    "referral",
    "override",
    "assistance",
    "remote",
    "cap_used_up",
    "mid_year",
    "start_in_stay",
    "refill_history",
)


def features(
    policy: CompiledPolicy,
    items: list[CatalogueItem],
    row: list[int],
    lines: list[list[int]],
    out: list[int],
    line_out: list[list[int]],
) -> set[str]:
    """The combination features a claim actually exercised, judged on its result."""
    got: set[str] = set()
    scheme, setting = row[m.CI_SCHEME], row[m.CI_SETTING]
    group = policy.group_of(
        scheme,
        row[m.CI_PERSON_TYPE],
        row[m.CI_BIRTH_DAY],
        row[m.CI_WORK_START_DAY],
        row[m.CI_RETIRE_DAY],
    )
    rule = policy.rule(scheme, setting, group, row[m.CI_INST_LEVEL])
    funds_pay = (
        rule is not None
        and rule.payment != PAY_PERSONAL
        and out[m.CO_INSCP] > 0
        and not out[m.CO_NOTES] & (m.ClaimNote.EXCLUDED_CAUSE | m.ClaimNote.FULL_COVERAGE)
    )
    override_lines = [
        (ln, lo)
        for ln, lo in zip(lines, line_out, strict=True)
        if lo[m.LO_INSCP] > 0
        and (
            items[ln[m.LI_ITEM]].override_bp_emp
            if scheme == m.Scheme.EMP
            else items[ln[m.LI_ITEM]].override_bp_res
        )
        >= 0
    ]
    if out[m.CO_REFERRAL_PAYFIRST] > 0:
        got.add("referral")
    if override_lines and funds_pay:
        got.add("override")
    if out[m.CO_MAF] > 0:
        got.add("assistance")
    if out[m.CO_NOTES] & m.ClaimNote.REMOTE_UNREGISTERED:
        got.add("remote")
    if funds_pay and rule is not None:
        used_up = False
        if rule.fund_cap_fen >= 0:
            before = (
                row[m.CI_POOLED_PAID]
                if rule.fund_cap_counter == COUNTER_POOLED
                else row[m.CI_OUTPATIENT_FUND_PAID]
            )
            used_up |= before >= rule.fund_cap_fen
        if rule.override_cap_fen >= 0 and override_lines:
            used_up |= row[m.CI_POOLED_PAID] >= rule.override_cap_fen
        if rule.bands_cumulative:
            used_up |= row[m.CI_BANDED_COST] >= rule.bands[-1].to_fen
        if row[m.CI_ASSISTANCE] and policy.assistance_bp.get(row[m.CI_ASSISTANCE], 0):
            used_up |= row[m.CI_ASSISTANCE_PAID] >= policy.assistance_cap_fen
        if used_up:
            got.add("cap_used_up")
        accumulators = (
            m.CI_OUTPATIENT_BAND_USED,
            m.CI_DEDUCTIBLE_PAID,
            m.CI_POOLED_PAID,
            m.CI_BANDED_COST,
            m.CI_ASSISTANCE_PAID,
            m.CI_OUTPATIENT_FUND_PAID,
        )
        if any(row[a] > 0 for a in accumulators):
            got.add("mid_year")
    statuses = [(lo[m.LO_STATUS], lo[m.LO_REASONS]) for lo in line_out]
    if (
        setting == Setting.INPATIENT
        and any(r & m.LineReason.NOT_YET_COVERED for _, r in statuses)
        and any(s == m.LineStatus.PAID for s, _ in statuses)
    ):
        got.add("start_in_stay")
    if any(ln[m.LI_PREV_FILL_DAY] >= 0 for ln in lines) and any(
        s != m.LineStatus.REJECTED for s, _ in statuses
    ):
        got.add("refill_history")
    return got
