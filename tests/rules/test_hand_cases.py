"""Hand-checked cases: each row's numbers were worked out by hand (see its note), and are run
through BOTH the numba kernel and the plain-Python reference evaluator."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from rules_compiled import model as m
from rules_compiled.compiled_policy import CompiledPolicy
from rules_compiled.engine import Engine
from rules_compiled.model import (
    CatalogueItem,
    ItemClass,
    ItemKind,
    Setting,
    Sex,
    SupplyClass,
    day_number,
)
from rules_compiled.reference import evaluate
from rules_compiled.rows import batch, claim_row, line_row

CATALOGUE = [
    CatalogueItem("DA", "class-A drug", ItemKind.DRUG, ItemClass.A),  # 0
    CatalogueItem(
        "MB", "class-B material 10%", ItemKind.MATERIAL, ItemClass.B, preselfpay_bp=1000
    ),  # 1
    CatalogueItem("DC", "class-C drug", ItemKind.DRUG, ItemClass.C),  # 2
    CatalogueItem(
        "SS", "service capped at 500.00", ItemKind.SERVICE, ItemClass.A, price_cap_fen=50_000
    ),  # 3
    CatalogueItem(
        "OV",
        "listed special drug",
        ItemKind.DRUG,
        ItemClass.A,
        override_bp_emp=8000,
        override_bp_res=7500,
    ),  # 4
    CatalogueItem(
        "DAC", "acute drug", ItemKind.DRUG, ItemClass.A, supply_class=SupplyClass.ACUTE
    ),  # 5
    CatalogueItem(
        "DCH",
        "chronic drug for E11",
        ItemKind.DRUG,
        ItemClass.A,
        supply_class=SupplyClass.CHRONIC,
        chronic_disease="E11",
    ),  # 6
    CatalogueItem("NM", "face cream", ItemKind.NON_MEDICAL, ItemClass.C),  # 7
    CatalogueItem("DF", "female-only drug", ItemKind.DRUG, ItemClass.A, sex=Sex.FEMALE),  # 8
    CatalogueItem(
        "SI",
        "inpatient-only service",
        ItemKind.SERVICE,
        ItemClass.A,
        settings=frozenset({Setting.INPATIENT}),
    ),  # 9
    CatalogueItem("DK", "children's drug", ItemKind.DRUG, ItemClass.A, age_max=14),  # 10
]
DA, MB, DC, SS, OV, DAC, DCH, NM, DF, SI, DK = range(11)
SERVICE_DAY = day_number(dt.date(2024, 5, 2))


def d(y: int, mo: int = 1, da: int = 1) -> int:
    return day_number(dt.date(y, mo, da))


# Members (cohorts of the reference policy).
A1 = dict(scheme=1, person_type=1, birth_day=d(1950), work_start_day=d(1975), age_years=74)
A2 = dict(scheme=1, person_type=1, birth_day=d(1960), work_start_day=d(1980), age_years=64)
A4 = dict(scheme=1, person_type=1, birth_day=d(1985), work_start_day=d(2008), age_years=39)
R0 = dict(
    scheme=1,
    person_type=2,
    birth_day=d(1935),
    work_start_day=d(1955),
    retire_day=d(1995),
    age_years=89,
)
R1 = dict(
    scheme=1,
    person_type=2,
    birth_day=d(1950, 3),
    work_start_day=d(1970),
    retire_day=d(2005),
    age_years=74,
)
R2 = dict(
    scheme=1,
    person_type=2,
    birth_day=d(1960),
    work_start_day=d(1980),
    retire_day=d(2020),
    age_years=64,
)
R3 = dict(
    scheme=1,
    person_type=2,
    birth_day=d(1970),
    work_start_day=d(1990),
    retire_day=d(2020),
    age_years=54,
)
RES = dict(scheme=2, person_type=3, birth_day=d(1980), age_years=44)
STU = dict(scheme=2, person_type=4, birth_day=d(2012), age_years=12)

PH = dict(setting=1, inst_kind=3, inst_level=0)


def OUT(level: int) -> dict[str, int]:
    return dict(setting=2, inst_kind=1, inst_level=level)


def INP(level: int) -> dict[str, int]:
    return dict(setting=3, inst_kind=1, inst_level=level)


def MAJ(level: int) -> dict[str, int]:
    return dict(setting=4, inst_kind=1, inst_level=level)


L = line_row
OUTPUT = {
    "medfee": m.CO_MEDFEE,
    "inscp": m.CO_INSCP,
    "ownpay": m.CO_FULAMT_OWNPAY,
    "overlmt": m.CO_OVERLMT_SELFPAY,
    "pre": m.CO_PRESELFPAY,
    "payfirst": m.CO_REFERRAL_PAYFIRST,
    "ded": m.CO_DEDUCTIBLE,
    "band": m.CO_BAND_SELFPAY,
    "hifp": m.CO_HIFP,
    "supp": m.CO_SUPPLEMENTARY,
    "hifmi": m.CO_HIFMI,
    "maf": m.CO_MAF,
    "cur": m.CO_ACCT_CURRENT_PAY,
    "prior": m.CO_ACCT_PRIOR_PAY,
    "cash": m.CO_CASH,
    "notes": m.CO_NOTES,
    "d_band": m.CO_D_OUTPATIENT_BAND_USED,
    "d_ded": m.CO_D_DEDUCTIBLE_PAID,
    "d_pooled": m.CO_D_POOLED_PAID,
    "d_banded": m.CO_D_BANDED_COST,
    "d_assist": m.CO_D_ASSISTANCE_PAID,
    "d_ofund": m.CO_D_OUTPATIENT_FUND_PAID,
}
R = m.LineReason
N = m.ClaimNote

# (id, note, claim fields, lines, expected outputs, expected line (status, reasons) or None)
CASES: list[
    tuple[str, str, dict[str, Any], list[list[int]], dict[str, int], list[tuple[int, int]] | None]
] = [
    (
        "worked_example_s9",
        "§9: ded 1,200; 92% x 1,000 = 920; personal 2,470-920 = 1,550 from prior bucket",
        {**R1, **INP(3), "acct_prior": 200_000, "use_account": 1},
        [L(DA, 80_000), L(MB, 100_000), L(DC, 15_000), L(SS, 52_000)],
        dict(
            medfee=247_000,
            ownpay=15_000,
            overlmt=2_000,
            pre=10_000,
            inscp=220_000,
            ded=120_000,
            hifp=92_000,
            prior=155_000,
            cur=0,
            cash=0,
            d_ded=120_000,
            d_pooled=92_000,
        ),
        [(1, 0), (1, 0), (2, 0), (1, int(R.PRICE_OVER_CAP))],
    ),
    (
        "pharmacy_emp_account",
        "no fund; 45.00 from current 20.00 then prior 25.00",
        {**A2, **PH, "acct_current": 2_000, "acct_prior": 10_000, "use_account": 1},
        [L(DA, 3_000), L(DC, 1_500)],
        dict(medfee=4_500, hifp=0, cur=2_000, prior=2_500, cash=0),
        None,
    ),
    (
        "pharmacy_no_account_use",
        "use_account=0: all cash",
        {**A2, **PH, "acct_current": 50_000},
        [L(DA, 3_000)],
        dict(medfee=3_000, cur=0, cash=3_000),
        None,
    ),
    (
        "pharmacy_res_no_account",
        "residents have no account buckets: cash even with a balance",
        {**RES, **PH, "acct_current": 5_000, "use_account": 1},
        [L(DA, 3_000)],
        dict(cur=0, cash=3_000),
        None,
    ),
    (
        "pharmacy_non_medical",
        "face cream at a pharmacy REJECTED, not part of the bill",
        {**A2, **PH},
        [L(NM, 2_000), L(DA, 1_000)],
        dict(medfee=1_000, cash=1_000),
        [(3, int(R.NON_MEDICAL)), (1, 0)],
    ),
    (
        "emp_out_a1_band_and_supp",
        "acct 500 pays first; 2,500 left: band 1,500 cash, 1,000 x 70% = 700 supp",
        {**A1, **OUT(2), "acct_current": 30_000, "acct_prior": 20_000, "use_account": 1},
        [L(DA, 300_000)],
        dict(cur=30_000, prior=20_000, band=150_000, supp=70_000, cash=180_000, d_band=150_000),
        None,
    ),
    (
        "emp_out_r0_band_left",
        "R0 band 300, 200 used: 100 band, 400 x 90% (level 1) = 360, cash 140",
        {**R0, **OUT(1), "outpatient_band_used": 20_000},
        [L(DA, 50_000)],
        dict(band=10_000, supp=36_000, cash=14_000, d_band=10_000),
        None,
    ),
    (
        "emp_out_r3_level3",
        "R3 band used up; level 3: 45% of 100 = 45",
        {**R3, **OUT(3), "outpatient_band_used": 70_000},
        [L(DA, 10_000)],
        dict(band=0, supp=4_500, cash=5_500),
        None,
    ),
    (
        "emp_out_selfpay_from_account",
        "account pays 200 in scope, then 50 class C from current",
        {**A2, **OUT(1), "acct_current": 100_000, "use_account": 1},
        [L(DA, 20_000), L(DC, 5_000)],
        dict(cur=25_000, prior=0, cash=0, supp=0, band=0),
        None,
    ),
    (
        "emp_out_selfpay_prior_then_cash",
        "in scope 150: current 100 + prior 50; class C 80: prior 50 left, cash 30",
        {**A2, **OUT(1), "acct_current": 10_000, "acct_prior": 10_000, "use_account": 1},
        [L(DA, 15_000), L(DC, 8_000)],
        dict(cur=10_000, prior=10_000, cash=3_000),
        None,
    ),
    (
        "emp_inp_a1_deductible_left",
        "ded 1,500, 1,000 paid: 500; 4,500 x 85% = 3,825",
        {**A1, **INP(2), "deductible_paid": 100_000},
        [L(DA, 500_000)],
        dict(ded=50_000, hifp=382_500, cash=117_500, d_ded=50_000, d_pooled=382_500),
        None,
    ),
    (
        "emp_inp_r0",
        "R0 ded 700; 300 x 92% = 276",
        {**R0, **INP(1)},
        [L(DA, 100_000)],
        dict(ded=70_000, hifp=27_600, cash=72_400),
        None,
    ),
    (
        "emp_inp_cap_binds_mid_segment",
        "cap left 100: covered ceil(100*10000/8500)=117.65; over 882.35 x 80% = 705.88",
        {**A1, **INP(2), "pooled_paid": 6_990_000, "deductible_paid": 150_000},
        [L(DA, 100_000)],
        dict(hifp=10_000, supp=70_588, cash=19_412, d_pooled=10_000),
        None,
    ),
    (
        "emp_inp_cap_exhausted",
        "cap used up: all 1,000 over the cap, supplementary 80%",
        {**A1, **INP(2), "pooled_paid": 7_000_000, "deductible_paid": 150_000},
        [L(DA, 100_000)],
        dict(hifp=0, supp=80_000, cash=20_000, d_pooled=0),
        None,
    ),
    (
        "emp_major_r2",
        "no deductible, 92% retired",
        {**R2, **MAJ(2)},
        [L(DA, 100_000)],
        dict(ded=0, hifp=92_000, cash=8_000, d_pooled=92_000),
        None,
    ),
    (
        "emp_major_cap_binds",
        "cap left 10; covered ceil(10*10000/9200)=10.87; over 89.13 x 80% = 71.30",
        {**R2, **MAJ(2), "pooled_paid": 6_999_000},
        [L(DA, 10_000)],
        dict(hifp=1_000, supp=7_130, cash=1_870),
        None,
    ),
    (
        "res_inp_two_bands",
        "ded 500 per admission; 10,000 x 60% + 1,500 x 65% = 6,975",
        {**RES, **INP(2)},
        [L(DA, 1_200_000)],
        dict(ded=50_000, hifp=697_500, d_banded=1_150_000, d_ded=0, cash=502_500),
        None,
    ),
    (
        "res_inp_level1",
        "level 1: ded 300, 85% flat: 700 x 85% = 595",
        {**RES, **INP(1)},
        [L(DA, 100_000)],
        dict(ded=30_000, hifp=59_500),
        None,
    ),
    (
        "res_inp_over_ceiling",
        "banded 119,500 before: 500 at 70% = 350; 1,000 beyond the ceiling x 60% = 600 hifmi",
        {**RES, **INP(2), "banded_cost": 11_950_000},
        [L(DA, 200_000)],
        dict(ded=50_000, hifp=35_000, hifmi=60_000, d_banded=150_000),
        None,
    ),
    (
        "res_student",
        "students 90% flat: (1,000-500) x 90% = 450",
        {**STU, **INP(3)},
        [L(DA, 100_000)],
        dict(ded=50_000, hifp=45_000),
        None,
    ),
    (
        "res_remote_unregistered",
        "outside region: ded 1,000; 60%-10% on 2,000 = 1,000",
        {**RES, **INP(2), "remote": 1},
        [L(DA, 300_000)],
        dict(ded=100_000, hifp=100_000, notes=int(N.REMOTE_UNREGISTERED)),
        None,
    ),
    (
        "res_remote_registered",
        "registered: ded still 1,000 (outside region), no reduction: 2,000 x 60%",
        {**RES, **INP(2), "remote": 1, "remote_registered": 1},
        [L(DA, 300_000)],
        dict(ded=100_000, hifp=120_000, notes=0),
        None,
    ),
    (
        "emp_remote_emergency",
        "emergency: no reduction; A1 ded met, 85%",
        {**A1, **INP(2), "remote": 1, "emergency": 1, "deductible_paid": 150_000},
        [L(DA, 100_000)],
        dict(hifp=85_000, notes=0),
        None,
    ),
    (
        "res_out_cap_binds",
        "cap left 10; 50%: covered 20, 80 over, no fund; cash 90",
        {**RES, **OUT(2), "outpatient_fund_paid": 39_000},
        [L(DA, 10_000)],
        dict(hifp=1_000, cash=9_000, d_ofund=1_000),
        None,
    ),
    (
        "res_out_remote",
        "remote unregistered: 50%-10% = 40%",
        {**RES, **OUT(2), "remote": 1},
        [L(DA, 10_000)],
        dict(hifp=4_000, d_ofund=4_000, notes=int(N.REMOTE_UNREGISTERED)),
        None,
    ),
    (
        "referral_out_of_province_emp",
        "pay-first 10% = 100; 900 x 85% = 765",
        {**A1, **INP(2), "referral": 2, "deductible_paid": 150_000},
        [L(DA, 100_000)],
        dict(payfirst=10_000, hifp=76_500, cash=23_500),
        None,
    ),
    (
        "referral_in_province_res",
        "pay-first 5% = 50; ded 500; 450 x 60% = 270",
        {**RES, **INP(2), "referral": 1},
        [L(DA, 100_000)],
        dict(payfirst=5_000, ded=50_000, hifp=27_000),
        None,
    ),
    (
        "assistance_dibao_emp_inp",
        "2,000: ded 1,500, 500 x 85% = 425; burden 1,575 x 70% = 1,102.50; C line not burden",
        {**A1, **INP(2), "assistance": 1},
        [L(DA, 200_000), L(DC, 10_000)],
        dict(hifp=42_500, maf=110_250, d_assist=110_250, cash=57_250),
        None,
    ),
    (
        "assistance_wubao_cap",
        "RES outpatient 100: fund 50; burden 50 at 100%, cap left 30",
        {**RES, **OUT(2), "assistance": 2, "assistance_paid": 997_000},
        [L(DA, 10_000)],
        dict(hifp=5_000, maf=3_000, cash=2_000),
        None,
    ),
    (
        "assistance_account_first",
        "acct 100 pays first; band 200 is the burden; 70% = 140",
        {**A1, **OUT(1), "assistance": 1, "acct_current": 10_000, "use_account": 1},
        [L(DA, 30_000)],
        dict(cur=10_000, band=20_000, maf=14_000, cash=6_000),
        None,
    ),
    (
        "assistance_youfu_res_inp",
        "ded 500 + 500 x 40% = 700 burden, 100%",
        {**RES, **INP(2), "assistance": 3},
        [L(DA, 100_000)],
        dict(hifp=30_000, maf=70_000, cash=0),
        None,
    ),
    (
        "full_coverage",
        "pooled pays all in scope (no ded, no cap, no remote cut); class C stays personal",
        {**A1, **INP(2), "diag_flags": 1, "remote": 1, "pooled_paid": 7_000_000},
        [L(DA, 100_000), L(DC, 5_000)],
        dict(hifp=100_000, cash=5_000, ded=0, d_pooled=0, notes=int(N.FULL_COVERAGE)),
        None,
    ),
    (
        "excluded_cause",
        "no fund and no assistance",
        {**RES, **INP(2), "diag_flags": 2, "assistance": 1},
        [L(DA, 100_000)],
        dict(hifp=0, maf=0, cash=100_000, notes=int(N.EXCLUDED_CAUSE)),
        None,
    ),
    (
        "excluded_beats_full",
        "both flags: excluded wins",
        {**A1, **INP(2), "diag_flags": 3},
        [L(DA, 100_000)],
        dict(hifp=0, cash=100_000, notes=int(N.EXCLUDED_CAUSE)),
        None,
    ),
    (
        "override_emp_inp",
        "OV 1,000 x 80% = 800 outside ded; DA 2,000: ded 1,500, 500 x 85% = 425; both count on cap",
        {**A1, **INP(2)},
        [L(OV, 100_000), L(DA, 200_000)],
        dict(hifp=122_500, ded=150_000, d_pooled=122_500, d_ded=150_000),
        None,
    ),
    (
        "override_res_inp",
        "OV 1,000 x 75%; no banded cost, no deductible used",
        {**RES, **INP(2)},
        [L(OV, 100_000)],
        dict(hifp=75_000, ded=0, d_banded=0),
        None,
    ),
    (
        "override_remote",
        "override less remote reduction: 80%-10% = 70%",
        {**A1, **INP(2), "remote": 1},
        [L(OV, 100_000)],
        dict(hifp=70_000),
        None,
    ),
    (
        "days_supply",
        "acute 4 > 3; registered E11: 8 and 30 ok, 31 not; discharge medication 8 > 7",
        {**A2, **PH, "chronic_0": 1},
        [
            L(DAC, 1_000, days_supply=4),
            L(DCH, 1_000, days_supply=8),
            L(DCH, 1_000, days_supply=30),
            L(DCH, 1_000, days_supply=31),
            L(DA, 1_000, days_supply=8, in_discharge_order=1),
        ],
        dict(medfee=2_000),
        [
            (3, int(R.OVER_QUANTITY)),
            (1, 0),
            (1, 0),
            (3, int(R.OVER_QUANTITY)),
            (3, int(R.OVER_QUANTITY)),
        ],
    ),
    (
        "days_supply_chronic_unregistered",
        "chronic drug, no registration: 7 days ok, 8 > 7 refused",
        {**A2, **PH},
        [L(DCH, 1_000, days_supply=7), L(DCH, 1_000, days_supply=8)],
        dict(medfee=1_000),
        [(1, 0), (3, int(R.OVER_QUANTITY))],
    ),
    (
        "refill_too_soon",
        "(last+days-today)*5 > days: 20*5>30 refused; 5*5 ok; 6*5=30 not > 30 ok",
        {**A2, **PH},
        [
            L(DA, 1_000, prev_fill_day=SERVICE_DAY - 10, prev_fill_days=30),
            L(DA, 1_000, prev_fill_day=SERVICE_DAY - 25, prev_fill_days=30),
            L(DA, 1_000, prev_fill_day=SERVICE_DAY - 24, prev_fill_days=30),
        ],
        dict(medfee=2_000),
        [(3, int(R.REFILL_TOO_SOON)), (1, 0), (1, 0)],
    ),
    (
        "duplicate_and_practitioner",
        "both reasons on one line; a clean line still pays",
        {**A2, **PH},
        [L(DA, 1_000, dup_seen=1, practitioner_suspended=1), L(DA, 2_000)],
        dict(medfee=2_000),
        [(3, int(R.DUPLICATE_CHARGE | R.PRACTITIONER_SUSPENDED)), (1, 0)],
    ),
    (
        "discharge_order",
        "line after the order day; service in the order refused; drug in the order (5 days) ok",
        {**A1, **INP(2), "discharge_order_day": SERVICE_DAY - 1, "deductible_paid": 150_000},
        [
            L(DA, 1_000, day=SERVICE_DAY),
            L(SS, 1_000, in_discharge_order=1, day=SERVICE_DAY - 1),
            L(DA, 10_000, days_supply=5, in_discharge_order=1, day=SERVICE_DAY - 1),
        ],
        dict(medfee=10_000, hifp=8_500),
        [(3, int(R.AFTER_DISCHARGE_ORDER)), (3, int(R.AFTER_DISCHARGE_ORDER)), (1, 0)],
    ),
    (
        "restrictions",
        "female-only to a man; child drug at 64; inpatient-only service in outpatient",
        {**A2, **OUT(2), "sex": 1},
        [L(DF, 1_000), L(DK, 1_000), L(SI, 1_000), L(DA, 1_000)],
        dict(medfee=1_000),
        [
            (3, int(R.RESTRICTED_SEX)),
            (3, int(R.RESTRICTED_AGE)),
            (3, int(R.RESTRICTED_SETTING)),
            (1, 0),
        ],
    ),
    (
        "not_in_catalogue_and_over_cap",
        "unknown item fully self-paid; SS 520 x 2 over cap by 40",
        {**A4, **INP(2), "deductible_paid": 150_000},
        [L(-1, 3_000), L(SS, 52_000, 2)],
        dict(ownpay=3_000, overlmt=4_000, inscp=100_000, hifp=85_000, cash=22_000),
        [(2, int(R.NOT_IN_CATALOGUE)), (1, int(R.PRICE_OVER_CAP))],
    ),
    # --- DOMAIN.md §10 (2026-11-27): the clarified rules, each derived from the text ---------
    (
        "emp_out_override_held_to_pooled_cap",
        "§4 override: 'under EMP the payment still counts against the pooled cap, in every"
        " setting (OUTPATIENT included): it pays at most what is left of the cap'. A2 outpatient,"
        " pooled cap 70,000 with 69,500 used: OV 1,000 x 80% = 800 > 500 left -> pooled 500,"
        " counted 500; co-pay 500, no account use -> cash 500",
        {**A2, **OUT(1), "pooled_paid": 6_950_000},
        [L(OV, 100_000)],
        dict(hifp=50_000, supp=0, d_pooled=50_000, cash=50_000, band=0),
        [(1, 0)],
    ),
    (
        "emp_out_override_after_pooled_cap_used_up",
        "§4 override, as above with the cap used up: 0 left -> the pooled fund pays nothing and"
        " no supplementary fund pays for an override item; the whole 1,000 is co-pay: cash",
        {**A2, **OUT(1), "pooled_paid": 7_000_000},
        [L(OV, 100_000)],
        dict(hifp=0, supp=0, d_pooled=0, cash=100_000),
        None,
    ),
    (
        "emp_out_referral_payfirst_after_band",
        "§4 referral: 'in the EMP OUTPATIENT setting it is a self-pay item (after the band, from"
        " what is left in the account, then cash), and counts as assistance burden only for the"
        " part that the account did not pay'. A2 level 1, out of province 10%: DA 1,000 ->"
        " pay-first 100, net 900; account (current 950) pays the 900 first, band 0; after the"
        " band the 50 left pays 50 of the pay-first, 50 cash; burden 50 x 70% (DIBAO) = 35;"
        " cash 1,000 - 950 - 35 = 15",
        {
            **A2,
            **OUT(1),
            "referral": 2,
            "assistance": 1,
            "acct_current": 95_000,
            "use_account": 1,
        },
        [L(DA, 100_000)],
        dict(payfirst=10_000, band=0, d_band=0, supp=0, cur=95_000, maf=3_500, cash=1_500),
        None,
    ),
    (
        "emp_out_referral_short_account",
        "§4 referral, account short: net 900, account 100 pays 100 of it, 800 into the band"
        " (band 1,500 left) -> band 800; pay-first 100 after the band: account empty, cash;"
        " burden 100 + 800 = 900 x 70% = 630; cash 1,000 - 100 - 630 = 270",
        {
            **A2,
            **OUT(1),
            "referral": 2,
            "assistance": 1,
            "acct_current": 10_000,
            "use_account": 1,
        },
        [L(DA, 100_000)],
        dict(payfirst=10_000, band=80_000, d_band=80_000, cur=10_000, maf=63_000, cash=27_000),
        None,
    ),
    (
        "referral_payfirst_per_line_rounding",
        "§4 referral: 'taken per line, on each line's in-scope amount and rounded per line'."
        " In province 5% of 0.10 = 0.005 -> rounds half up to 0.01 on each of two lines: 0.02"
        " (on the total 0.20 it would be 0.01). A1 inpatient, deductible met: 0.18 x 85% = 0.153"
        " -> 0.15; cash 0.05",
        {**A1, **INP(2), "referral": 1, "deductible_paid": 150_000},
        [L(DA, 10), L(DA, 10)],
        dict(payfirst=2, hifp=15, d_pooled=15, cash=5),
        None,
    ),
    (
        "emp_out_override_copay_from_account",
        "§4 override: 'in OUTPATIENT it is paid like the self-pay items, from what is left in the"
        " account, then cash'. A2 outpatient, current 1,000: OV 1,000 x 80% = 800 pooled, co-pay"
        " 200 from the current-year bucket, no cash",
        {**A2, **OUT(1), "acct_current": 100_000, "use_account": 1},
        [L(OV, 100_000)],
        dict(hifp=80_000, d_pooled=80_000, cur=20_000, prior=0, cash=0),
        None,
    ),
    (
        "emp_out_account_order_after_band",
        "§4: 'EMP OUTPATIENT, after the band, what is left in the account pays in this order: the"
        " referral pay-first, the override co-pay, then the self-pay items'. A2 level 1, out of"
        " province 10%, DIBAO, current 120: DA 100 (pay-first 10, net 90), OV 100 (pay-first 10,"
        " 90 x 80% = 72 pooled, co-pay 18), DC 100 class C. Account pays the net 90 first (band"
        " 0); the 30 left pays the pay-first 20, then 10 of the co-pay 18; the class C 100 is"
        " cash. Burden = co-pay left 8 -> 70% = 5.60; cash 300 - 72 - 5.60 - 120 = 102.40",
        {
            **A2,
            **OUT(1),
            "referral": 2,
            "assistance": 1,
            "acct_current": 12_000,
            "use_account": 1,
        },
        [L(DA, 10_000), L(OV, 10_000), L(DC, 10_000)],
        dict(payfirst=2_000, band=0, hifp=7_200, cur=12_000, maf=560, cash=10_240),
        None,
    ),
    (
        "lines_before_benefit_start",
        "§5 step 2: 'Lines dated before the member's benefit start are not covered: the whole"
        " line is fulamt_ownpay, with the line reason NOT_YET_COVERED alone (a REJECTED line"
        " keeps its refusal reasons instead)'. Benefits start 2 days before discharge: DA 1,000"
        " the day before -> self-paid; DA 1,000 on the start day pays 85% (A1, deductible met);"
        " a duplicate before the start stays REJECTED; an unknown item and an over-cap service"
        " before the start carry NOT_YET_COVERED alone",
        {
            **A1,
            **INP(2),
            "deductible_paid": 150_000,
            "benefit_start_day": SERVICE_DAY - 2,
        },
        [
            L(DA, 100_000, day=SERVICE_DAY - 3),
            L(DA, 100_000, day=SERVICE_DAY - 2),
            L(DA, 1_000, day=SERVICE_DAY - 3, dup_seen=1),
            L(-1, 3_000, day=SERVICE_DAY - 3),
            L(SS, 52_000, day=SERVICE_DAY - 3),
        ],
        dict(medfee=255_000, ownpay=155_000, overlmt=0, inscp=100_000, hifp=85_000),
        [
            (2, int(R.NOT_YET_COVERED)),
            (1, 0),
            (3, int(R.DUPLICATE_CHARGE)),
            (2, int(R.NOT_YET_COVERED)),
            (2, int(R.NOT_YET_COVERED)),
        ],
    ),
    (
        "drug_without_supply_class",
        "§2: 'A drug without a supply class has no days-supply limit of its own (as discharge"
        " medication it is still held to 7 days)': DA 90 days ok; as discharge medication 7 ok,"
        " 8 refused",
        {**A2, **PH},
        [
            L(DA, 1_000, days_supply=90),
            L(DA, 1_000, days_supply=7, in_discharge_order=1),
            L(DA, 1_000, days_supply=8, in_discharge_order=1),
        ],
        dict(medfee=2_000),
        [(1, 0), (1, 0), (3, int(R.OVER_QUANTITY))],
    ),
    (
        "zero_price_lines_self_pay",
        "§5: 'SELF_PAY (nothing in scope, a zero-price line included)': a zero-price class-A"
        " drug and a zero-price service are SELF_PAY and cost nothing",
        {**A1, **INP(2), "deductible_paid": 150_000},
        [L(DA, 0), L(SS, 0, 3), L(DA, 10_000)],
        dict(medfee=10_000, inscp=10_000, hifp=8_500),
        [(2, 0), (2, 0), (1, 0)],
    ),
    (
        "refill_check_without_days_supply",
        "§6: the refill check 'applies to every line of that drug, whether or not the new line"
        " states a days supply': a line without a days supply, last fill 10 days ago for 30 days:"
        " 20 days left, 20 x 5 = 100 > 30 -> refused",
        {**A2, **PH},
        [L(DA, 1_000, prev_fill_day=SERVICE_DAY - 10, prev_fill_days=30)],
        dict(medfee=0),
        [(3, int(R.REFILL_TOO_SOON))],
    ),
    (
        "res_out_override_outside_fund_cap",
        "§4 override: 'Under RES it is not held to the outpatient fund cap ... and does not count"
        " towards them'. Outpatient fund cap 400 used up: OV 1,000 x 75% = 750 still paid, not"
        " counted; DA 100 gets nothing (cap used)",
        {**RES, **OUT(2), "outpatient_fund_paid": 40_000},
        [L(OV, 100_000), L(DA, 10_000)],
        dict(hifp=75_000, d_ofund=0, cash=35_000),
        None,
    ),
    (
        "res_inp_override_outside_ceiling",
        "§4 override: not held to 'the 120,000 ceiling and does not count towards' it: banded"
        " cost at the ceiling; OV 1,000 x 75% = 750 pooled, no deductible, no banded cost, no"
        " serious-illness payment",
        {**RES, **INP(2), "banded_cost": 12_000_000},
        [L(OV, 100_000)],
        dict(hifp=75_000, hifmi=0, ded=0, d_banded=0, cash=25_000),
        None,
    ),
    (
        "full_coverage_no_payfirst",
        "§4 referral: 'A FULL_COVERAGE claim has no pay-first': referred out of province, the"
        " pooled fund still pays the whole in-scope 1,000",
        {**A1, **INP(2), "referral": 2, "diag_flags": 1},
        [L(DA, 100_000)],
        dict(payfirst=0, hifp=100_000, cash=0, notes=int(N.FULL_COVERAGE)),
        None,
    ),
    (
        "override_first_against_pooled_cap",
        "§4: 'Within one claim, override payments take what is left of the EMP pooled cap before"
        " the rest of the claim does', whatever the line order. A1 inpatient, deductible met,"
        " 500 of the cap left: DA 1,000 (line 1), OV 1,000 (line 2). OV 800 -> the 500 left;"
        " DA all over the cap: supplementary 80% = 800; cash 2,000 - 500 - 800 = 700",
        {**A1, **INP(2), "deductible_paid": 150_000, "pooled_paid": 6_950_000},
        [L(DA, 100_000), L(OV, 100_000)],
        dict(hifp=50_000, supp=80_000, d_pooled=50_000, cash=70_000),
        None,
    ),
    # --- combinations of the §4 rules, each derived from the text -------------------------
    (
        "combo_emp_inp_referral_remote_dibao",
        "A1 level 2, unregistered remote care, referred out of province, DIBAO: DA 3,000 ->"
        " pay-first 10% = 300, net 2,700; deductible 1,500 (EMP has no remote deductible);"
        " 1,200 x (85% - 10%) = 900; burden 300 + 1,500 + 300 = 2,100 x 70% = 1,470 (assistance"
        " ratios are not lowered); cash 3,000 - 900 - 1,470 = 630",
        {**A1, **INP(2), "remote": 1, "referral": 2, "assistance": 1},
        [L(DA, 300_000)],
        dict(
            payfirst=30_000,
            ded=150_000,
            hifp=90_000,
            maf=147_000,
            cash=63_000,
            d_ded=150_000,
            d_pooled=90_000,
            notes=int(N.REMOTE_UNREGISTERED),
        ),
        None,
    ),
    (
        "combo_res_inp_override_referral_remote_wubao",
        "RES level 2, unregistered remote care, referred in province, WUBAO: OV 1,000 -> pay-first"
        " 50; 950 x (75% - 10%) = 617.50; no other line, so no deductible (overrides are outside"
        " it) and no banded cost; burden 50 + 332.50 = 382.50 at 100%",
        {**RES, **INP(2), "remote": 1, "referral": 1, "assistance": 2},
        [L(OV, 100_000)],
        dict(payfirst=5_000, ded=0, hifp=61_750, maf=38_250, cash=0, d_banded=0),
        None,
    ),
    (
        "combo_emp_out_r1_band_left_everything",
        "R1 level 3 (75%), band 700 with 600 used, current 300 + prior 200, referred in province,"
        " DIBAO. DA 1,000 (pay-first 50), MB 200 (pre 20, in scope 180, pay-first 9), OV 500"
        " (pay-first 25, 475 x 80% = 380 pooled, co-pay 95), DC 50. Account pays the net"
        " 950 + 171 = 1,121 first: 500, left 621; band 100; 521 x 75% = 390.75 supplementary;"
        " account empty after the band: pay-first 84 and co-pay 95 cash; burden 100 + 130.25 +"
        " 84 + 95 = 409.25 x 70% = 286.4750 -> 286.48; self-pay 20 + 50 cash; cash 1,750 - 380"
        " - 390.75 - 286.48 - 500 = 192.77",
        {
            **R1,
            **OUT(3),
            "outpatient_band_used": 60_000,
            "acct_current": 30_000,
            "acct_prior": 20_000,
            "use_account": 1,
            "referral": 1,
            "assistance": 1,
        },
        [L(DA, 100_000), L(OV, 50_000), L(MB, 20_000), L(DC, 5_000)],
        dict(
            payfirst=8_400,
            band=10_000,
            d_band=10_000,
            supp=39_075,
            hifp=38_000,
            d_pooled=38_000,
            maf=28_648,
            cur=30_000,
            prior=20_000,
            cash=19_277,
        ),
        None,
    ),
    (
        "combo_emp_inp_cap_mid_segment_remote",
        "A1 level 2, deductible met, 100 of the pooled cap left, unregistered remote care: DA 1,000"
        " at 85% - 10% = 75% would pay 750 -> pays the 100 left, covering ceil(10,000 x 10000 /"
        " 7500) = 133.34; 866.66 over the cap x (80% - 10%) = 606.662 -> 606.66 supplementary",
        {
            **A1,
            **INP(2),
            "remote": 1,
            "deductible_paid": 150_000,
            "pooled_paid": 6_990_000,
        },
        [L(DA, 100_000)],
        dict(hifp=10_000, supp=60_666, d_pooled=10_000, cash=29_334),
        None,
    ),
    (
        "combo_emp_out_override_cap_referral_account",
        "A2 level 1, 500 of the pooled cap left, referred out of province, DIBAO, current 300:"
        " OV 1,000 -> pay-first 100; 900 x 80% = 720 > 500 -> pooled 500, co-pay 400; no banded"
        " line. After the band the current 300 pays the pay-first 100, then 200 of the co-pay;"
        " burden = the 200 co-pay the account left x 70% = 140; cash 1,000 - 500 - 140 - 300 = 60",
        {
            **A2,
            **OUT(1),
            "pooled_paid": 6_950_000,
            "referral": 2,
            "assistance": 1,
            "acct_current": 30_000,
            "use_account": 1,
        },
        [L(OV, 100_000)],
        dict(payfirst=10_000, hifp=50_000, d_pooled=50_000, cur=30_000, maf=14_000, cash=6_000),
        None,
    ),
    (
        "combo_res_out_referral_fund_cap_wubao",
        "RES outpatient, 10 of the 400 fund cap left, referred out of province, WUBAO: DA 1,000 ->"
        " pay-first 100; 900 x 50% = 450 > 10 -> fund pays 10 (covering 20); the over-cap 880 has"
        " no fund; burden 100 + 890 = 990 at 100%",
        {**RES, **OUT(2), "outpatient_fund_paid": 39_000, "referral": 2, "assistance": 2},
        [L(DA, 100_000)],
        dict(payfirst=10_000, hifp=1_000, d_ofund=1_000, maf=99_000, cash=0),
        None,
    ),
    (
        "combo_excluded_emp_out_account",
        "EXCLUDED_CAUSE in EMP OUTPATIENT, DIBAO: no fund and no assistance, no band; the whole"
        " 1,000 is personal: current 300, prior 200, cash 500",
        {
            **A2,
            **OUT(2),
            "diag_flags": 2,
            "assistance": 1,
            "acct_current": 30_000,
            "acct_prior": 20_000,
            "use_account": 1,
        },
        [L(DA, 100_000)],
        dict(
            hifp=0,
            supp=0,
            maf=0,
            band=0,
            d_band=0,
            cur=30_000,
            prior=20_000,
            cash=50_000,
            notes=int(N.EXCLUDED_CAUSE),
        ),
        None,
    ),
    (
        "combo_full_coverage_emp_out_referral",
        "FULL_COVERAGE in EMP OUTPATIENT, referred out of province: no pay-first, no band; pooled"
        " pays the in-scope 1,000; the class-C 50 stays personal: current 30, cash 20",
        {**A2, **OUT(2), "diag_flags": 1, "referral": 2, "acct_current": 3_000, "use_account": 1},
        [L(DA, 100_000), L(DC, 5_000)],
        dict(payfirst=0, band=0, d_band=0, hifp=100_000, cur=3_000, cash=2_000),
        None,
    ),
    (
        "combo_res_inp_over_ceiling_remote",
        "RES level 2 at the 120,000 ceiling, unregistered remote care: DA 2,000 -> deductible"
        " 1,000 (outside the insured region); 1,000 beyond the ceiling x (60% - 10%) = 500"
        " serious-illness insurance",
        {**RES, **INP(2), "remote": 1, "banded_cost": 12_000_000},
        [L(DA, 200_000)],
        dict(ded=100_000, hifp=0, hifmi=50_000, d_banded=100_000, cash=150_000),
        None,
    ),
    (
        "combo_res_inp_benefit_start_referral_dibao",
        "RES level 2, referred in province, DIBAO, benefits start the day before discharge: DA"
        " 1,000 two days before -> NOT_YET_COVERED, no pay-first, not burden; DA 2,000 -> pay-first"
        " 100, deductible 500, 1,400 x 60% = 840; burden 100 + 500 + 560 = 1,160 x 70% = 812;"
        " cash 3,000 - 840 - 812 = 1,348",
        {
            **RES,
            **INP(2),
            "referral": 1,
            "assistance": 1,
            "benefit_start_day": SERVICE_DAY - 1,
        },
        [L(DA, 100_000, day=SERVICE_DAY - 2), L(DA, 200_000, day=SERVICE_DAY)],
        dict(
            ownpay=100_000,
            payfirst=10_000,
            ded=50_000,
            hifp=84_000,
            d_banded=140_000,
            maf=81_200,
            cash=134_800,
        ),
        [(2, int(R.NOT_YET_COVERED)), (1, 0)],
    ),
    (
        "combo_emp_major_override_takes_cap_referral",
        "R2 major outpatient level 2, 10 of the pooled cap left, referred in province, current"
        " 500 + prior 100: OV 100 -> pay-first 5, 95 x 80% = 76 > 10 -> pooled 10, co-pay 85;"
        " DA 100 (line 2) -> pay-first 5, the override took the cap: 95 over it x 80% = 76"
        " supplementary; personal 200 - 10 - 76 = 114 from the prior-years bucket only: prior"
        " 100, cash 14",
        {
            **R2,
            **MAJ(2),
            "pooled_paid": 6_999_000,
            "referral": 1,
            "acct_current": 50_000,
            "acct_prior": 10_000,
            "use_account": 1,
        },
        [L(OV, 10_000), L(DA, 10_000)],
        dict(
            payfirst=1_000,
            hifp=1_000,
            d_pooled=1_000,
            supp=7_600,
            cur=0,
            prior=10_000,
            cash=1_400,
        ),
        None,
    ),
]


@pytest.fixture(scope="module")
def engine(policy: CompiledPolicy) -> Engine:
    return Engine(policy, CATALOGUE)


def test_enough_cases() -> None:
    assert len(CASES) >= 31
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_hand_case(policy: CompiledPolicy, engine: Engine, case: Any) -> None:
    _, _note, fields, lines, expected, line_expect = case
    fields = dict(fields)
    chronic = (fields.pop("chronic_0"),) if "chronic_0" in fields else ()
    fields.setdefault("service_day", SERVICE_DAY)
    row = claim_row(chronic_ids=chronic, **fields)
    ref_out, ref_lines, trace = evaluate(policy, CATALOGUE, row, lines)
    c, li, off = batch([(row, lines)])
    k_out, k_lines = engine.adjudicate(c, li, off)
    assert k_out[0].tolist() == ref_out, trace
    assert k_lines.tolist() == ref_lines
    assert ref_out[m.CO_ERROR] == 0, trace
    got = {k: ref_out[OUTPUT[k]] for k in expected}
    assert got == expected, "\n".join(trace)
    if line_expect is not None:
        assert [(lo[m.LO_STATUS], lo[m.LO_REASONS]) for lo in ref_lines] == line_expect, "\n".join(
            trace
        )
