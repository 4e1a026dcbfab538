"""Reference and member records as the gateway stores them (docs/benefit-rules.md §2).

Dates are ``datetime.date``; money is integer fen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from rules_compiled.model import (
    Assistance,
    CardStatus,
    InstitutionKind,
    InstitutionStatus,
    MemberStatus,
    PersonType,
    Scheme,
    Sex,
)


@dataclass(frozen=True, slots=True)
class ChronicRegistration:
    """门慢 registration: a chronic disease, valid over a date range (inclusive)."""

    disease_code: str
    valid_from: dt.date
    valid_to: dt.date


@dataclass(frozen=True, slots=True)
class RemoteRegistration:
    """异地备案: up to 3 institutions in another region, valid over a date range."""

    institution_codes: tuple[str, ...]
    valid_from: dt.date
    valid_to: dt.date


@dataclass(slots=True)
class Member:
    """参保人 with its personal account (个人账户) balances."""

    psn_no: str
    name: str
    sex: Sex
    birth_date: dt.date
    scheme: Scheme
    person_type: PersonType
    insured_region: str  # insuplc_admdvs
    status: MemberStatus
    benefit_start: dt.date  # first day of the month after the first contribution
    card_no: str
    card_status: CardStatus
    assistance: Assistance = Assistance.NONE
    work_start_date: dt.date | None = None  # EMP
    retire_date: dt.date | None = None  # EMP retired
    acct_current_fen: int = 0  # 当年账户
    acct_prior_fen: int = 0  # 历年账户
    chronic: tuple[ChronicRegistration, ...] = ()
    remote: RemoteRegistration | None = None


@dataclass(frozen=True, slots=True)
class Institution:
    """定点医药机构."""

    code: str
    name: str
    kind: InstitutionKind
    level: int  # 1..3 for hospitals and clinics; 0 for pharmacies
    region: str
    status: InstitutionStatus = InstitutionStatus.DESIGNATED
    suspended_practitioners: frozenset[str] = field(default_factory=frozenset)
