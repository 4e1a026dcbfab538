"""Demo data: deterministic, and covering what the policy distinguishes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections import Counter

import pytest

from gateway.demo import CHRONIC_DISEASES, DEMO_REGION, NOT_YET_COVERED_FROM, REMOTE_REGION
from gateway.demo_catalogue import demo_catalogue, demo_catalogue_prices, well_known_items
from gateway.demo_institutions import demo_institutions
from gateway.demo_population import (
    card_no_of,
    demo_population,
    psn_no_of,
    well_known_member_notes,
    well_known_members,
)
from gateway.domain import Member
from rules_compiled.model import (
    Assistance,
    CardStatus,
    InstitutionKind,
    InstitutionStatus,
    ItemClass,
    ItemKind,
    MemberStatus,
    PersonType,
    Scheme,
    Sex,
    SupplyClass,
)

YEAR_2001 = dt.date(2001, 1, 1)


def emp_cohort(member: Member) -> str:
    """The EMP cohort of docs/benefit-rules.md §4.1 (A1-A4, R0-R3), written out independently."""
    assert member.scheme is Scheme.EMP and member.work_start_date is not None
    born = member.birth_date.year
    if member.person_type is PersonType.ACTIVE:
        if member.work_start_date >= YEAR_2001:
            return "A4"
        return "A1" if born <= 1955 else "A2" if born <= 1965 else "A3"
    assert member.retire_date is not None
    if member.retire_date < YEAR_2001:
        return "R0"
    if born >= 1966 or member.work_start_date >= YEAR_2001:
        return "R3"
    return "R1" if born <= 1955 else "R2"


@pytest.fixture(scope="module")
def population() -> list[Member]:
    return list(demo_population())


# --- catalogue ------------------------------------------------------------------------
def test_catalogue_covers_every_kind_and_class() -> None:
    catalogue = demo_catalogue()
    assert len(catalogue) >= 200
    codes = [item.code for item in catalogue]
    assert len(set(codes)) == len(codes)
    assert all(0 < len(code) <= 32 for code in codes)
    assert {item.kind for item in catalogue} == set(ItemKind)
    assert {item.item_class for item in catalogue} == set(ItemClass)
    assert {item.preselfpay_bp for item in catalogue if item.item_class is ItemClass.B} >= {
        500,
        1000,
        2000,
    }
    assert all(item.preselfpay_bp == 0 for item in catalogue if item.item_class is not ItemClass.B)


def test_catalogue_restrictions_and_special_drugs() -> None:
    catalogue = demo_catalogue()
    drugs = [item for item in catalogue if item.kind is ItemKind.DRUG]
    assert {item.supply_class for item in drugs} == {SupplyClass.ACUTE, SupplyClass.CHRONIC}
    assert all(i.supply_class is SupplyClass.NONE for i in catalogue if i.kind is not ItemKind.DRUG)
    chronic_for = {item.chronic_disease for item in drugs if item.chronic_disease}
    assert {"I10", "E11"} <= chronic_for <= set(CHRONIC_DISEASES)
    assert any(i.supply_class is SupplyClass.CHRONIC and not i.chronic_disease for i in drugs)
    assert {item.sex for item in catalogue} == set(Sex)
    assert any(item.age_min >= 0 for item in catalogue)
    assert any(item.age_max >= 0 for item in catalogue)
    assert any(item.settings for item in catalogue)
    assert sum(item.price_cap_fen >= 0 for item in catalogue) >= 10
    cml = [item for item in drugs if item.override_bp_res == 7500]
    assert len(cml) >= 2 and all(item.chronic_disease == "C92.1" for item in cml)
    assert any(item.override_bp_emp >= 0 for item in drugs)


def test_catalogue_prices() -> None:
    catalogue = demo_catalogue()
    prices_fen = demo_catalogue_prices()
    assert set(prices_fen) == {item.code for item in catalogue}
    assert all(isinstance(p, int) and p > 0 for p in prices_fen.values())
    capped = [item for item in catalogue if item.price_cap_fen >= 0]
    over = [item for item in capped if prices_fen[item.code] > item.price_cap_fen]
    assert 0 < len(over) < len(capped)


def test_well_known_items() -> None:
    by_code = {item.code: item for item in demo_catalogue()}
    prices_fen = demo_catalogue_prices()
    items = {role: by_code[code] for role, code in well_known_items().items()}
    assert items["drug_a"].item_class is ItemClass.A and items["drug_a"].price_cap_fen == -1
    assert items["drug_b"].preselfpay_bp == 1000
    assert items["drug_c"].item_class is ItemClass.C
    assert items["material_b"].kind is ItemKind.MATERIAL
    assert items["material_b"].preselfpay_bp == 1000
    service = items["service_capped"]
    assert (service.price_cap_fen, prices_fen[service.code]) == (50_000, 52_000)
    assert items["chronic_i10"].chronic_disease == "I10"
    assert items["chronic_e11"].chronic_disease == "E11"
    assert items["cml_imatinib"].override_bp_res == 7500
    assert items["male_only"].sex is Sex.MALE and items["female_only"].sex is Sex.FEMALE
    assert items["child_only"].age_max == 14
    assert items["non_medical"].kind is ItemKind.NON_MEDICAL


# --- institutions ---------------------------------------------------------------------
def test_institutions() -> None:
    institutions = demo_institutions()
    assert len(institutions) == 10
    assert len({i.code for i in institutions}) == 10
    hospitals = [i for i in institutions if i.kind is InstitutionKind.HOSPITAL]
    assert {i.level for i in hospitals} == {1, 2, 3}
    assert any(i.level == 3 and i.region == REMOTE_REGION for i in hospitals)
    assert any(i.kind is InstitutionKind.CLINIC for i in institutions)
    pharmacies = [i for i in institutions if i.kind is InstitutionKind.PHARMACY]
    assert len(pharmacies) >= 3 and all(i.level == 0 for i in pharmacies)
    assert [i.status for i in institutions].count(InstitutionStatus.SUSPENDED) == 1
    assert all(
        i.status in (InstitutionStatus.DESIGNATED, InstitutionStatus.SUSPENDED)
        for i in institutions
    )
    assert any(i.suspended_practitioners for i in institutions)
    assert all(len(i.region) == 6 and i.region.isdigit() for i in institutions)


# --- population -----------------------------------------------------------------------
def test_population_is_deterministic_and_prefix_stable() -> None:
    first = list(demo_population(2_000, seed=7))
    assert first == list(demo_population(2_000, seed=7))
    assert first[:500] == list(demo_population(500, seed=7))
    other = list(demo_population(2_000, seed=8))
    assert first[:16] == other[:16]  # the well-known members do not depend on the seed
    assert first[16:] != other[16:]


def test_population_identifiers(population: list[Member]) -> None:
    assert len(population) == 10_000
    for index, member in enumerate(population):
        assert member.psn_no == psn_no_of(index)
        assert member.card_no == card_no_of(index)
        assert len(member.psn_no) == 14 and member.psn_no.isdigit()
        assert member.psn_no.startswith(member.insured_region)
    assert len({m.card_no for m in population}) == len(population)
    assert {m.insured_region for m in population} == {DEMO_REGION, REMOTE_REGION}


def test_population_covers_every_category(population: list[Member]) -> None:
    emp = [m for m in population if m.scheme is Scheme.EMP]
    assert Counter(emp_cohort(m) for m in emp).keys() == {
        "A1", "A2", "A3", "A4", "R0", "R1", "R2", "R3"
    }  # fmt: skip
    assert {m.person_type for m in population} == set(PersonType)
    statuses = Counter(m.status for m in population)
    assert statuses.keys() == set(MemberStatus)
    assert statuses[MemberStatus.ACTIVE] > 0.8 * len(population)
    cards = Counter(m.card_status for m in population)
    assert cards.keys() == set(CardStatus)
    assert cards[CardStatus.ACTIVE] > 0.8 * len(population)
    assistance = Counter(m.assistance for m in population)
    assert assistance.keys() == set(Assistance)
    assert 0 < len(population) - assistance[Assistance.NONE] < 0.1 * len(population)
    assert any(m.benefit_start == NOT_YET_COVERED_FROM for m in population)
    assert any(m.chronic for m in population)
    assert any(m.remote for m in population)


def test_population_is_consistent(population: list[Member]) -> None:
    institution_codes = {i.code for i in demo_institutions()}
    for m in population:
        assert m.benefit_start.day == 1
        assert m.acct_current_fen >= 0 and m.acct_prior_fen >= 0
        if m.scheme is Scheme.EMP:
            assert m.person_type in (PersonType.ACTIVE, PersonType.RETIRED)
            assert m.work_start_date is not None and m.work_start_date > m.birth_date
            assert m.acct_current_fen <= 300_000 and m.acct_prior_fen <= 2_000_000
            if m.person_type is PersonType.RETIRED:
                assert m.retire_date is not None and m.work_start_date < m.retire_date
                assert m.retire_date.year < 2026
            else:
                assert m.retire_date is None
        else:
            assert m.person_type in (PersonType.ADULT, PersonType.STUDENT)
            assert m.work_start_date is None and m.retire_date is None
            assert m.acct_current_fen == m.acct_prior_fen == 0
        for registration in m.chronic:
            assert registration.disease_code in CHRONIC_DISEASES
            assert registration.valid_from <= registration.valid_to
        if m.remote is not None:
            assert 1 <= len(m.remote.institution_codes) <= 3
            assert set(m.remote.institution_codes) <= institution_codes


def test_population_scales_as_a_generator() -> None:
    members = demo_population(1_000_000)
    assert len(list(itertools.islice(members, 1_000))) == 1_000


# --- well-known members ---------------------------------------------------------------
def test_well_known_members(population: list[Member]) -> None:
    known = well_known_members()
    assert known.keys() == well_known_member_notes().keys()
    by_psn = {m.psn_no: m for m in population[: len(known)]}
    assert set(known.values()) == set(by_psn)
    m = {role: by_psn[psn_no] for role, psn_no in known.items()}

    def fields(member: Member, *names: str) -> tuple[object, ...]:
        values = dataclasses.asdict(member)
        return tuple(values[name] for name in names)

    active_ok = (Scheme.EMP, PersonType.ACTIVE, MemberStatus.ACTIVE, CardStatus.ACTIVE)
    kind = ("scheme", "person_type", "status", "card_status")
    assert fields(m["emp_active_rich"], *kind) == active_ok
    assert fields(m["emp_active_rich"], "acct_current_fen", "acct_prior_fen") == (50_000, 200_000)
    assert emp_cohort(m["emp_active_rich"]) == "A4"
    assert fields(m["emp_low_balance"], *kind) == active_ok
    assert fields(m["emp_low_balance"], "acct_current_fen", "acct_prior_fen") == (1_000, 500)
    assert m["lost_card"].card_status is CardStatus.LOST
    assert fields(m["res_adult"], "scheme", "person_type") == (Scheme.RES, PersonType.ADULT)
    assert m["res_adult"].acct_current_fen == m["res_adult"].acct_prior_fen == 0
    assert emp_cohort(m["retired_r1"]) == "R1"
    assert m["retired_r1"].birth_date.year == 1950 and m["retired_r1"].retire_date == dt.date(
        2005, 3, 1
    )
    assert m["retired_r1"].acct_prior_fen == 200_000
    assert m["suspended"].status is MemberStatus.SUSPENDED
    assert m["not_yet_covered"].benefit_start == NOT_YET_COVERED_FROM
    assert m["res_student"].person_type is PersonType.STUDENT
    assert m["res_dibao"].assistance is Assistance.DIBAO
    assert [r.disease_code for r in m["emp_chronic"].chronic] == ["I10", "E11"]
    assert emp_cohort(m["emp_chronic"]) == "R2"
    remote = m["emp_remote"].remote
    assert remote is not None and remote.institution_codes == ("H32010001",)
    assert [r.disease_code for r in m["res_cml"].chronic] == ["C92.1"]
    assert m["terminated"].status is MemberStatus.TERMINATED
    assert m["deceased"].status is MemberStatus.DECEASED
    assert m["frozen_card"].card_status is CardStatus.FROZEN
    assert emp_cohort(m["emp_retired_r0"]) == "R0"
    for role, member in m.items():
        assert member.insured_region == DEMO_REGION, role
        assert member.assistance is (Assistance.DIBAO if role == "res_dibao" else Assistance.NONE)
        if role not in ("suspended", "terminated", "deceased"):
            assert member.status is MemberStatus.ACTIVE, role


def test_well_known_member_notes_name_the_member_and_card(population: list[Member]) -> None:
    """Each note gives what a request needs: the member's psn_no and its card."""
    notes = well_known_member_notes()
    by_psn = {m.psn_no: m for m in population[: len(notes)]}
    for role, psn_no in well_known_members().items():
        member = by_psn[psn_no]
        assert notes[role].startswith(f"psn_no {member.psn_no}, card {member.card_no}: "), role
    assert notes["lost_card"].endswith("card LOST; current 300.00, prior 1,000.00")
