"""Random claims over every setting, scheme, cohort and level (agreement and invariant tests)."""

from __future__ import annotations

import datetime as dt
import random

from rules_compiled import model as m
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


def random_catalogue(rnd: random.Random, n: int = 40) -> list[CatalogueItem]:
    items: list[CatalogueItem] = []
    for i in range(n):
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
    scheme = rnd.choice(list(m.Scheme))
    if scheme == m.Scheme.EMP:
        ptype = rnd.choice([m.PersonType.ACTIVE, m.PersonType.RETIRED])
    else:
        ptype = rnd.choice([m.PersonType.ADULT, m.PersonType.STUDENT])
    setting = rnd.choice(list(Setting))
    birth = rnd.choice(_BIRTHS)
    work = rnd.choice([*_WORK, None])
    retire = rnd.choice(_RETIRE) if ptype == m.PersonType.RETIRED else None
    level = 0 if setting == Setting.PHARMACY else rnd.choice([0, 1, 1, 2, 3, 3])
    big = rnd.random() < 0.3
    chronic = tuple(rnd.sample(disease_ids, rnd.randint(0, min(2, len(disease_ids)))))
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
        assistance=rnd.choice([0, 0, 0, 1, 2, 3]),
        referral=rnd.choice([0, 0, 1, 2]),
        remote=int(rnd.random() < 0.25),
        remote_registered=int(rnd.random() < 0.5),
        emergency=int(rnd.random() < 0.2),
        diag_flags=rnd.choice([0] * 8 + [1, 2, 3, 4]),
        use_account=int(rnd.random() < 0.8),
        discharge_order_day=_SERVICE - rnd.choice([0, 1]) if rnd.random() < 0.1 else -1,
        acct_current=rnd.choice([0, 100, 50_000, 10_000_000]),
        acct_prior=rnd.choice([0, 777, 200_000, 10_000_000]),
        outpatient_band_used=rnd.choice([0, 0, 29_999, 69_000, 100_000, 149_000, 150_000]),
        deductible_paid=rnd.choice([0, 50_000, 119_999, 150_000]),
        pooled_paid=rnd.choice(_POOLED_PAID),
        banded_cost=rnd.choice(_BANDED),
        assistance_paid=rnd.choice([0, 500_000, 999_990, 1_000_000]),
        outpatient_fund_paid=rnd.choice([0, 39_000, 39_999, 40_000]),
    )
    n_lines = rnd.choice([1, 1, 2, 3, 5, 8, 20])
    lines = []
    for _ in range(n_lines):
        item = rnd.randrange(-1, n_items) if rnd.random() < 0.95 else -1
        price = rnd.choice(_PRICES) * (rnd.choice([1, 5, 30]) if big else 1)
        qty = rnd.choice([1, 1, 2, 3, 10])
        prev = _SERVICE - rnd.choice([1, 5, 20, 40]) if rnd.random() < 0.08 else -1
        lines.append(
            line_row(
                item,
                price,
                qty,
                days_supply=rnd.choice([0, 2, 3, 5, 7, 10, 30, 31]),
                day=rnd.choice([-1, -1, -1, _SERVICE, _SERVICE - 1, _SERVICE + 1]),
                in_discharge_order=int(rnd.random() < 0.1),
                practitioner_suspended=int(rnd.random() < 0.03),
                dup_seen=int(rnd.random() < 0.03),
                prev_fill_day=prev,
                prev_fill_days=rnd.choice([7, 10, 30]) if prev >= 0 else 0,
            )
        )
    return row, lines
