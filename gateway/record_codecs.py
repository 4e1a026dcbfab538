"""JSON codecs of the records kept in Redis: a member's profile (``p`` of ``mbr:``), a
catalogue item (``ref:catalogue``) and an institution (``ref:institutions``).

Dates are day numbers (days since 1970-01-01); JSON null is no date.
"""

from __future__ import annotations

import datetime as dt

import orjson

from gateway.domain import ChronicRegistration, Institution, Member, RemoteRegistration
from rules_compiled.model import (
    Assistance,
    CardStatus,
    CatalogueItem,
    InstitutionKind,
    InstitutionStatus,
    ItemClass,
    ItemKind,
    MemberStatus,
    PersonType,
    Scheme,
    Setting,
    Sex,
    SupplyClass,
    day_number,
    from_day_number,
)

__all__ = [
    "catalogue_from_json",
    "catalogue_json",
    "institution_from_json",
    "institution_json",
    "member_from_profile",
    "member_profile_json",
]

def _d(value: dt.date | None) -> int | None:
    """A date as its day number; ``None`` (JSON null) for no date. Dates before 1970
    have negative day numbers, so no number can stand for "none"."""
    return None if value is None else day_number(value)


def member_profile_json(m: Member) -> bytes:
    return orjson.dumps(
        {
            "name": m.name,
            "sex": int(m.sex),
            "birth": _d(m.birth_date),
            "scheme": int(m.scheme),
            "ptype": int(m.person_type),
            "region": m.insured_region,
            "status": int(m.status),
            "bstart": _d(m.benefit_start),
            "card": m.card_no,
            "card_status": int(m.card_status),
            "assist": int(m.assistance),
            "work": _d(m.work_start_date),
            "retire": _d(m.retire_date),
            "chronic": [
                [c.disease_code, day_number(c.valid_from), day_number(c.valid_to)]
                for c in m.chronic
            ],
            "remote": None
            if m.remote is None
            else [
                list(m.remote.institution_codes),
                day_number(m.remote.valid_from),
                day_number(m.remote.valid_to),
            ],
        }
    )


# Decoding a profile is on every claim's path: enum members and dates by table look-up
# (an IntEnum call and a timedelta cost several times a dict look-up).
_SEX = {int(v): v for v in Sex}
_SCHEME = {int(v): v for v in Scheme}
_PERSON_TYPE = {int(v): v for v in PersonType}
_MEMBER_STATUS = {int(v): v for v in MemberStatus}
_CARD_STATUS = {int(v): v for v in CardStatus}
_ASSISTANCE = {int(v): v for v in Assistance}
_DAYS_CACHED_MAX = 100_000  # distinct day numbers remembered (birth dates, benefit starts)
_days: dict[int, dt.date] = {}


def _day(n: int) -> dt.date:
    d = _days.get(n)
    if d is None:
        d = from_day_number(n)
        if len(_days) < _DAYS_CACHED_MAX:
            _days[n] = d
    return d


def member_from_profile(psn_no: str, raw: bytes, cur: int, pri: int) -> Member:
    p = orjson.loads(raw)
    remote = p["remote"]
    work, retire = p["work"], p["retire"]
    return Member(
        psn_no=psn_no,
        name=p["name"],
        sex=_SEX[p["sex"]],
        birth_date=_day(p["birth"]),
        scheme=_SCHEME[p["scheme"]],
        person_type=_PERSON_TYPE[p["ptype"]],
        insured_region=p["region"],
        status=_MEMBER_STATUS[p["status"]],
        benefit_start=_day(p["bstart"]),
        card_no=p["card"],
        card_status=_CARD_STATUS[p["card_status"]],
        assistance=_ASSISTANCE[p["assist"]],
        work_start_date=None if work is None else _day(work),
        retire_date=None if retire is None else _day(retire),
        acct_current_fen=cur,
        acct_prior_fen=pri,
        chronic=tuple(
            ChronicRegistration(code, _day(a), _day(b)) for code, a, b in p["chronic"]
        ),
        remote=None
        if remote is None
        else RemoteRegistration(tuple(remote[0]), _day(remote[1]), _day(remote[2])),
    )


def catalogue_json(item: CatalogueItem) -> bytes:
    return orjson.dumps(
        {
            "code": item.code,
            "name": item.name,
            "kind": int(item.kind),
            "class": int(item.item_class),
            "cap": item.price_cap_fen,
            "pre_bp": item.preselfpay_bp,
            "sex": int(item.sex),
            "age_min": item.age_min,
            "age_max": item.age_max,
            "settings": sorted(int(s) for s in item.settings),
            "supply": int(item.supply_class),
            "ovr_emp": item.override_bp_emp,
            "ovr_res": item.override_bp_res,
            "chronic": item.chronic_disease,
        }
    )


def catalogue_from_json(raw: bytes) -> CatalogueItem:
    r = orjson.loads(raw)
    return CatalogueItem(
        code=r["code"],
        name=r["name"],
        kind=ItemKind(r["kind"]),
        item_class=ItemClass(r["class"]),
        price_cap_fen=r["cap"],
        preselfpay_bp=r["pre_bp"],
        sex=Sex(r["sex"]),
        age_min=r["age_min"],
        age_max=r["age_max"],
        settings=frozenset(Setting(s) for s in r["settings"]),
        supply_class=SupplyClass(r["supply"]),
        override_bp_emp=r["ovr_emp"],
        override_bp_res=r["ovr_res"],
        chronic_disease=r["chronic"],
    )


def institution_json(inst: Institution) -> bytes:
    return orjson.dumps(
        {
            "code": inst.code,
            "name": inst.name,
            "kind": int(inst.kind),
            "level": inst.level,
            "region": inst.region,
            "status": int(inst.status),
            "suspended": sorted(inst.suspended_practitioners),
        }
    )


def institution_from_json(raw: bytes) -> Institution:
    r = orjson.loads(raw)
    return Institution(
        code=r["code"],
        name=r["name"],
        kind=InstitutionKind(r["kind"]),
        level=r["level"],
        region=r["region"],
        status=InstitutionStatus(r["status"]),
        suspended_practitioners=frozenset(r["suspended"]),
    )

