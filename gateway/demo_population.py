"""The demo member population (参保人): the well-known members first, then a seeded mix
of schemes, cohorts, statuses, cards, assistance, chronic and remote registrations.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import TypeVar

from gateway.demo import (
    CHRONIC_DISEASES,
    DEMO_REGION,
    DEMO_SEED,
    DEMO_YEAR,
    NOT_YET_COVERED_FROM,
    REMOTE_REGION,
)
from gateway.domain import ChronicRegistration, Member, RemoteRegistration
from rules_compiled.model import Assistance, CardStatus, MemberStatus, PersonType, Scheme, Sex

__all__ = [
    "card_no_of",
    "demo_population",
    "psn_no_of",
    "well_known_member_notes",
    "well_known_members",
]

_MEMBER_INDEX_DIGITS = 8
_REGISTRATION_OPEN_END = dt.date(2099, 12, 31)

def psn_no_of(index: int) -> str:
    """The 14-digit psn_no of member ``index``: region code + 8-digit index."""
    return f"{_region_of(index)}{index:0{_MEMBER_INDEX_DIGITS}d}"


def card_no_of(index: int) -> str:
    """The social security card (社保卡) number bound to member ``index``."""
    return f"K{_region_of(index)[:4]}{index:0{_MEMBER_INDEX_DIGITS}d}"


def _region_of(index: int) -> str:
    # Every 50th member is insured in the other region: the demo institutions
    # are remote care (异地就医) for them.
    return REMOTE_REGION if index % 50 == 49 else DEMO_REGION


_WELL_KNOWN: list[tuple[str, str]] = [
    ("emp_active_rich", "EMP active (A4), ACTIVE, card ACTIVE; current 500.00, prior 2,000.00"),
    ("emp_low_balance", "EMP active (A3), ACTIVE, card ACTIVE; current 10.00, prior 5.00"),
    ("lost_card", "EMP active (A4), ACTIVE, card LOST; current 300.00, prior 1,000.00"),
    ("res_adult", "RES adult, female, born 1980, ACTIVE, card ACTIVE; no account"),
    ("retired_r1", "EMP retired R1 (born 1950, retired 2005); current 0, prior 2,000.00"),
    ("suspended", "EMP active (A4), member SUSPENDED, card ACTIVE"),
    ("not_yet_covered", f"RES adult, ACTIVE; benefit_start {NOT_YET_COVERED_FROM.isoformat()}"),
    ("res_student", "RES student, born 2015, ACTIVE, card ACTIVE"),
    ("res_dibao", "RES adult, born 1962, assistance DIBAO (低保)"),
    ("emp_chronic", "EMP retired R2 (born 1958), chronic I10 and E11 registered 2020..2099"),
    ("emp_remote", "EMP active (A4), remote registration for H32010001, 2025..2027"),
    ("res_cml", "RES adult, born 1975, chronic C92.1 (CML) registered 2024..2099"),
    ("terminated", "EMP active (A4), member TERMINATED"),
    ("deceased", "EMP retired R1, member DECEASED"),
    ("frozen_card", "EMP active (A4), ACTIVE, card FROZEN"),
    ("emp_retired_r0", "EMP retired R0 (born 1935, retired 1995); current 100.00, prior 800.00"),
]


def well_known_members() -> dict[str, str]:
    """Role -> psn_no of the first members of every population (indices 0..15).

    Their properties do not depend on the seed; see :func:`well_known_member_notes`.
    """
    return {role: psn_no_of(index) for index, (role, _) in enumerate(_WELL_KNOWN)}


def well_known_member_notes() -> dict[str, str]:
    """Role -> one line naming the member (psn_no and card, as a request needs them)
    and saying what it is: ``psn_no 31010000000002, card K310100000002: EMP active ...``.
    """
    return {role: f"psn_no {psn_no_of(index)}, card {card_no_of(index)}: {note}"
            for index, (role, note) in enumerate(_WELL_KNOWN)}


def _well_known_member(index: int) -> Member:
    role = _WELL_KNOWN[index][0]
    d = dt.date
    base = Member(
        psn_no=psn_no_of(index),
        name=f"Demo {role}",
        sex=Sex.MALE,
        birth_date=d(1985, 6, 15),
        scheme=Scheme.EMP,
        person_type=PersonType.ACTIVE,
        insured_region=DEMO_REGION,
        status=MemberStatus.ACTIVE,
        benefit_start=d(2008, 8, 1),
        card_no=card_no_of(index),
        card_status=CardStatus.ACTIVE,
        work_start_date=d(2008, 7, 1),
        acct_current_fen=50_000,
        acct_prior_fen=200_000,
    )
    if role == "emp_low_balance":
        base.birth_date, base.work_start_date = d(1970, 3, 10), d(1992, 9, 1)
        base.benefit_start = d(2001, 1, 1)
        base.acct_current_fen, base.acct_prior_fen = 1_000, 500
    elif role == "lost_card":
        base.card_status = CardStatus.LOST
        base.acct_current_fen, base.acct_prior_fen = 30_000, 100_000
    elif role in ("res_adult", "not_yet_covered", "res_student", "res_dibao", "res_cml"):
        base.scheme, base.person_type = Scheme.RES, PersonType.ADULT
        base.sex, base.birth_date = Sex.FEMALE, d(1980, 1, 20)
        base.benefit_start, base.work_start_date = d(2010, 1, 1), None
        base.acct_current_fen = base.acct_prior_fen = 0
        if role == "not_yet_covered":
            base.benefit_start = NOT_YET_COVERED_FROM
        elif role == "res_student":
            base.person_type, base.birth_date = PersonType.STUDENT, d(2015, 9, 1)
            base.benefit_start = d(2016, 1, 1)
        elif role == "res_dibao":
            base.birth_date, base.assistance = d(1962, 4, 8), Assistance.DIBAO
        elif role == "res_cml":
            base.sex, base.birth_date = Sex.MALE, d(1975, 11, 2)
            base.chronic = (ChronicRegistration("C92.1", d(2024, 1, 1), _REGISTRATION_OPEN_END),)
    elif role in ("retired_r1", "deceased"):
        base.person_type, base.birth_date = PersonType.RETIRED, d(1950, 3, 1)
        base.work_start_date, base.retire_date = d(1968, 9, 1), d(2005, 3, 1)
        base.benefit_start = d(2001, 1, 1)
        base.acct_current_fen, base.acct_prior_fen = 0, 200_000
        if role == "deceased":
            base.status = MemberStatus.DECEASED
    elif role == "suspended":
        base.status = MemberStatus.SUSPENDED
    elif role == "terminated":
        base.status = MemberStatus.TERMINATED
    elif role == "frozen_card":
        base.card_status = CardStatus.FROZEN
    elif role == "emp_chronic":
        base.person_type, base.sex, base.birth_date = PersonType.RETIRED, Sex.FEMALE, d(1958, 5, 20)
        base.work_start_date, base.retire_date = d(1976, 8, 1), d(2008, 6, 1)
        base.benefit_start = d(2001, 1, 1)
        base.chronic = (
            ChronicRegistration("I10", d(2020, 1, 1), _REGISTRATION_OPEN_END),
            ChronicRegistration("E11", d(2020, 1, 1), _REGISTRATION_OPEN_END),
        )
    elif role == "emp_remote":
        base.remote = RemoteRegistration(("H32010001",), d(2025, 1, 1), d(2027, 12, 31))
    elif role == "emp_retired_r0":
        base.person_type, base.birth_date = PersonType.RETIRED, d(1935, 2, 14)
        base.work_start_date, base.retire_date = d(1953, 3, 1), d(1995, 3, 1)
        base.benefit_start = d(2001, 1, 1)
        base.acct_current_fen, base.acct_prior_fen = 10_000, 80_000
    return base


# Family and given names for readable demo members (index-derived, no randomness).
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
_GIVEN_NAMES = (
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "建华", "志强", "海燕", "晓东", "玉兰",
)  # fmt: skip

# Cumulative weights (out of 1000) of the population's categories.
_EMP_SHARE = 600  # EMP vs RES
_EMP_ACTIVE_COHORTS = ((10, "A1"), (90, "A2"), (380, "A3"), (1000, "A4"))
_EMP_RETIRED_COHORTS = ((100, "R0"), (450, "R1"), (800, "R2"), (1000, "R3"))
_MEMBER_STATUSES = (
    (940, MemberStatus.ACTIVE),
    (970, MemberStatus.SUSPENDED),
    (990, MemberStatus.TERMINATED),
    (1000, MemberStatus.DECEASED),
)
_CARD_STATUSES = (
    (950, CardStatus.ACTIVE),
    (970, CardStatus.LOST),
    (990, CardStatus.FROZEN),
    (1000, CardStatus.CANCELLED),
)
_ASSISTANCE = (
    (970, Assistance.NONE),
    (985, Assistance.DIBAO),
    (990, Assistance.WUBAO),
    (1000, Assistance.YOUFU),
)
_CHRONIC_CODES = tuple(CHRONIC_DISEASES)
_REMOTE_TARGETS = {
    DEMO_REGION: (("H32010001",),),
    REMOTE_REGION: (("H31010001",), ("H31010001", "H31010002", "P31010001")),
}


_T = TypeVar("_T")


def _pick(table: tuple[tuple[int, _T], ...], draw: int) -> _T:
    for bound, value in table:
        if draw < bound:
            return value
    return table[-1][1]


def demo_population(n: int = 10_000, seed: int = DEMO_SEED) -> Iterator[Member]:
    """Yield ``n`` members (参保人): the well-known ones first, then a seeded mix.

    The mix spans EMP (active cohorts A1-A4, retired R0-R3) and RES (adults,
    students); every member status and card status (mostly ACTIVE); a few %
    with medical assistance; about 1% whose benefits start only in
    :data:`NOT_YET_COVERED_FROM`; personal accounts for EMP (current 0-3,000
    yuan, prior 0-20,000 yuan); chronic and remote registrations.

    Member ``i`` depends only on ``seed`` and ``i``'s position in the stream,
    never on ``n``: a smaller population is a prefix of a larger one.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    known = min(n, len(_WELL_KNOWN))
    for index in range(known):
        yield _well_known_member(index)
    rng = random.Random(seed)
    draw = rng.random
    date = dt.date
    surnames, given_names = _SURNAMES, _GIVEN_NAMES
    for index in range(known, n):
        region = _region_of(index)
        female = draw() < 0.5
        name = surnames[index % len(surnames)] + given_names[(index // 7) % len(given_names)]
        birth_month, birth_day = 1 + int(draw() * 12), 1 + int(draw() * 28)
        work_start: dt.date | None = None
        retire: dt.date | None = None
        acct_current_fen = acct_prior_fen = 0
        if draw() * 1000 < _EMP_SHARE:
            scheme = Scheme.EMP
            retired = draw() < 0.3
            cohort_draw = int(draw() * 1000)
            age_offset = int(draw() * 6)  # years: work start after 18, retirement after 50/55
            if not retired:
                person_type = PersonType.ACTIVE
                cohort = _pick(_EMP_ACTIVE_COHORTS, cohort_draw)
                if cohort == "A1":
                    birth_year = 1946 + int(draw() * 10)
                elif cohort == "A2":
                    birth_year = 1956 + int(draw() * 10)
                elif cohort == "A3":
                    birth_year = 1966 + int(draw() * 15)  # 1966..1980: work before 2001
                else:
                    birth_year = 1976 + int(draw() * 30)  # 1976..2005
                work_year = birth_year + 18 + age_offset
                if cohort == "A4":
                    work_year = min(max(work_year, 2001), DEMO_YEAR - 1)
                else:
                    work_year = min(work_year, 2000)
            else:
                person_type = PersonType.RETIRED
                cohort = _pick(_EMP_RETIRED_COHORTS, cohort_draw)
                if cohort == "R0":
                    birth_year = 1925 + int(draw() * 16)  # retired at 55..60, <= 2000
                    retire_year = min(birth_year + 55 + age_offset, 2000)
                elif cohort == "R1":
                    birth_year = 1941 + int(draw() * 15)  # retired >= 2001
                    retire_year = max(birth_year + 55 + age_offset, 2001)
                elif cohort == "R2":
                    birth_year = 1956 + int(draw() * 10)
                    retire_year = birth_year + 50 + age_offset
                else:
                    birth_year = 1966 + int(draw() * 10)  # 1966..1975
                    retire_year = min(birth_year + 50 + age_offset, DEMO_YEAR - 1)
                work_year = birth_year + 18 + age_offset
                retire = date(retire_year, birth_month, 1)
            work_start = date(work_year, 1 + int(draw() * 12), 1)
            # Benefits start the month after the first contribution (the city
            # scheme itself started in 2001).
            if work_year < 2001:
                benefit_start = date(2001, 1, 1)
            else:
                month = work_start.month
                benefit_start = date(work_year + (month == 12), month % 12 + 1, 1)
            acct_current_fen = int(draw() * 300_001)
            acct_prior_fen = int(draw() * 2_000_001)
            if draw() < 0.05:
                acct_current_fen = 0
        else:
            scheme = Scheme.RES
            if draw() < 0.25:
                person_type = PersonType.STUDENT
                birth_year = 2008 + int(draw() * 16)  # 2008..2023
            else:
                person_type = PersonType.ADULT
                birth_year = 1935 + int(draw() * 73)  # 1935..2007
            enrol_year = min(max(birth_year + 1, 2009) + int(draw() * 5), DEMO_YEAR)
            benefit_start = date(enrol_year, 1, 1)
        birth = date(birth_year, birth_month, birth_day)
        if draw() < 0.01:
            benefit_start = NOT_YET_COVERED_FROM
        status = _pick(_MEMBER_STATUSES, int(draw() * 1000))
        card_status = _pick(_CARD_STATUSES, int(draw() * 1000))
        assistance = _pick(_ASSISTANCE, int(draw() * 1000))
        chronic: tuple[ChronicRegistration, ...] = ()
        if DEMO_YEAR - birth_year >= 40 and draw() < 0.12:
            code = _CHRONIC_CODES[int(draw() * len(_CHRONIC_CODES))]
            valid_from = date(2018 + int(draw() * 8), 1 + int(draw() * 12), 1)
            valid_to = date(DEMO_YEAR - 1, 12, 31) if draw() < 0.15 else _REGISTRATION_OPEN_END
            chronic = (ChronicRegistration(code, valid_from, valid_to),)
            if draw() < 0.3:
                second = _CHRONIC_CODES[int(draw() * len(_CHRONIC_CODES))]
                if second != code:
                    chronic += (ChronicRegistration(second, valid_from, valid_to),)
        remote: RemoteRegistration | None = None
        if draw() < 0.02:
            targets = _REMOTE_TARGETS[region]
            remote = RemoteRegistration(
                targets[int(draw() * len(targets))],
                date(DEMO_YEAR - 1, 1 + int(draw() * 12), 1),
                date(DEMO_YEAR + 1, 12, 31),
            )
        yield Member(
            psn_no=psn_no_of(index),
            name=name,
            sex=Sex.FEMALE if female else Sex.MALE,
            birth_date=birth,
            scheme=scheme,
            person_type=person_type,
            insured_region=region,
            status=status,
            benefit_start=benefit_start,
            card_no=card_no_of(index),
            card_status=card_status,
            assistance=assistance,
            work_start_date=work_start,
            retire_date=retire,
            acct_current_fen=acct_current_fen,
            acct_prior_fen=acct_prior_fen,
            chronic=chronic,
            remote=remote,
        )
