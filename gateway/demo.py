"""Deterministic demo data: catalogue, institutions and a member population.

Pure generation: no Redis here, the store loads these objects. Everything is a
function of its arguments (a ``random.Random(seed)`` per call, no global
state), so the same seed gives the same data on every machine.

The demo region is ``310100``; ``320100`` is "another region" for remote care
(异地就医). Service dates of the demo are in benefit year :data:`DEMO_YEAR`.

The first members of every population are the :func:`well_known_members`,
with fixed properties whatever the seed, so that the README and tests can
compute expected numbers by hand.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

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
)

__all__ = [
    "CHRONIC_DISEASES",
    "DEMO_REGION",
    "DEMO_SEED",
    "DEMO_YEAR",
    "NOT_YET_COVERED_FROM",
    "REMOTE_REGION",
    "SUSPENDED_PRACTITIONER",
    "card_no_of",
    "demo_catalogue",
    "demo_catalogue_prices",
    "demo_institutions",
    "demo_population",
    "psn_no_of",
    "well_known_items",
    "well_known_member_notes",
    "well_known_members",
]

DEMO_REGION = "310100"  # insuplc_admdvs of the demo city
REMOTE_REGION = "320100"  # another region, for remote care (异地就医)
DEMO_YEAR = 2026  # the benefit year the demo's claims are in
DEMO_SEED = 20260101
NOT_YET_COVERED_FROM = dt.date(DEMO_YEAR + 1, 1, 1)  # benefit_start of not-yet-covered members
SUSPENDED_PRACTITIONER = "DR-H31010001-017"  # a suspended practitioner at H31010001

# Registered chronic diseases (门慢) of the demo: ICD-10 code -> name.
CHRONIC_DISEASES: dict[str, str] = {
    "I10": "essential hypertension",
    "E11": "type 2 diabetes mellitus",
    "I25": "chronic ischaemic heart disease",
    "J45": "asthma",
    "F20": "schizophrenia",
    "N18": "chronic kidney disease",
    "C92.1": "chronic myeloid leukaemia",
}

_MEMBER_INDEX_DIGITS = 8
_REGISTRATION_OPEN_END = dt.date(2099, 12, 31)


# --- catalogue ---------------------------------------------------------------------------
_P, _O, _I, _M = Setting.PHARMACY, Setting.OUTPATIENT, Setting.INPATIENT, Setting.MAJOR_OUTPATIENT
_INPATIENT_ONLY = frozenset({_I})
_HOSPITAL_TREATMENT = frozenset({_I, _M})
_NOT_PHARMACY = frozenset({_O, _I, _M})
_A, _B, _C = ItemClass.A, ItemClass.B, ItemClass.C
_ACUTE, _CHRONIC = SupplyClass.ACUTE, SupplyClass.CHRONIC
_MALE, _FEMALE = Sex.MALE, Sex.FEMALE


@dataclass(frozen=True, slots=True)
class _Row:
    """One catalogue row before it gets its code, plus its typical unit price."""

    name: str
    kind: ItemKind
    item_class: ItemClass
    price_fen: int
    preselfpay_bp: int = 0
    price_cap_fen: int = -1
    supply_class: SupplyClass = SupplyClass.NONE
    chronic_disease: str = ""
    sex: Sex = Sex.UNKNOWN
    age_min: int = -1
    age_max: int = -1
    settings: frozenset[Setting] = frozenset()
    override_bp_emp: int = -1
    override_bp_res: int = -1
    well_known: str = ""


def _drug(name: str, item_class: ItemClass, price_fen: int, supply: SupplyClass, **kw: Any) -> _Row:
    return _Row(name, ItemKind.DRUG, item_class, price_fen, supply_class=supply, **kw)


def _row(name: str, kind: ItemKind, item_class: ItemClass, price_fen: int, **kw: Any) -> _Row:
    return _Row(name, kind, item_class, price_fen, **kw)


# fmt: off
# Drugs: (name, strengths) expand into one row per strength; the price and cap of
# the second strength are 1.7 times the first. Prices are per box, in fen.
_DRUG_ROWS: list[tuple[_Row, tuple[str, ...]]] = [
    # Well-known rows first (see well_known_items()).
    (_drug("Amoxicillin capsules", _A, 1_250, _ACUTE, well_known="drug_a"), ("0.25 g x 24",)),
    (_drug("Cefuroxime axetil tablets", _B, 3_680, _ACUTE, preselfpay_bp=1000,
           well_known="drug_b"), ("0.25 g x 12",)),
    (_drug("Ginkgo leaf extract tablets", _C, 4_800, _CHRONIC, well_known="drug_c"),
     ("40 mg x 30",)),
    (_drug("Amlodipine besylate tablets", _A, 2_860, _CHRONIC, chronic_disease="I10",
           well_known="chronic_i10"), ("5 mg x 28", "10 mg x 28")),
    (_drug("Metformin hydrochloride tablets", _A, 1_520, _CHRONIC, chronic_disease="E11",
           well_known="chronic_e11"), ("0.5 g x 60", "0.85 g x 30")),
    (_drug("Atorvastatin calcium tablets", _A, 3_150, _CHRONIC, well_known="chronic_plain"),
     ("20 mg x 14",)),
    (_drug("Imatinib mesylate tablets", _B, 198_000, _CHRONIC, preselfpay_bp=500,
           chronic_disease="C92.1", override_bp_emp=8000, override_bp_res=7500,
           price_cap_fen=210_000, well_known="cml_imatinib"), ("100 mg x 60",)),
    (_drug("Dasatinib tablets", _B, 356_000, _CHRONIC, preselfpay_bp=500,
           chronic_disease="C92.1", override_bp_res=7500), ("50 mg x 60",)),
    (_drug("Nilotinib capsules", _B, 418_000, _CHRONIC, preselfpay_bp=500,
           chronic_disease="C92.1", override_bp_emp=8000, override_bp_res=7500), ("150 mg x 112",)),
    (_drug("Tamsulosin hydrochloride sustained-release capsules", _B, 4_230, _CHRONIC,
           preselfpay_bp=1000, sex=_MALE, well_known="male_only"), ("0.2 mg x 10",)),
    (_drug("Progesterone soft capsules", _B, 5_600, _ACUTE, preselfpay_bp=1000, sex=_FEMALE,
           well_known="female_only"), ("100 mg x 30",)),
    (_drug("Paediatric amoxicillin-clavulanate granules", _A, 2_380, _ACUTE, age_max=14,
           well_known="child_only"), ("156.25 mg x 12",)),
    # Acute drugs.
    (_drug("Azithromycin tablets", _A, 1_890, _ACUTE), ("0.25 g x 6", "0.5 g x 3")),
    (_drug("Levofloxacin hydrochloride tablets", _B, 2_240, _ACUTE, preselfpay_bp=1000,
           age_min=18), ("0.5 g x 4",)),
    (_drug("Cefixime dispersible tablets", _B, 2_950, _ACUTE, preselfpay_bp=500),
     ("0.1 g x 6",)),
    (_drug("Ibuprofen sustained-release capsules", _A, 1_080, _ACUTE), ("0.3 g x 20",)),
    (_drug("Paracetamol tablets", _A, 350, _ACUTE, price_cap_fen=400), ("0.5 g x 12",)),
    (_drug("Loratadine tablets", _A, 1_620, _ACUTE), ("10 mg x 6",)),
    (_drug("Oseltamivir phosphate capsules", _B, 7_850, _ACUTE, preselfpay_bp=1000,
           price_cap_fen=7_000), ("75 mg x 10",)),
    (_drug("Montelukast sodium chewable tablets", _B, 4_460, _ACUTE, preselfpay_bp=500,
           age_max=14), ("4 mg x 5", "5 mg x 5")),
    (_drug("Omeprazole enteric-coated capsules", _A, 1_360, _ACUTE), ("20 mg x 14",)),
    (_drug("Domperidone tablets", _A, 1_480, _ACUTE), ("10 mg x 30",)),
    (_drug("Montmorillonite powder", _A, 1_260, _ACUTE), ("3 g x 10",)),
    (_drug("Oral rehydration salts III", _A, 960, _ACUTE), ("5.125 g x 6",)),
    (_drug("Ambroxol hydrochloride oral solution", _B, 2_180, _ACUTE, preselfpay_bp=1000),
     ("100 ml",)),
    (_drug("Compound licorice tablets", _A, 420, _ACUTE), ("100 tablets",)),
    (_drug("Ceftriaxone sodium for injection", _A, 1_150, _ACUTE, settings=_NOT_PHARMACY,
           price_cap_fen=1_200), ("1 g", "2 g")),
    (_drug("Sodium chloride injection", _A, 380, _ACUTE, settings=_NOT_PHARMACY),
     ("0.9% 250 ml", "0.9% 500 ml")),
    (_drug("Glucose injection", _A, 420, _ACUTE, settings=_NOT_PHARMACY),
     ("5% 250 ml", "10% 500 ml")),
    (_drug("Human albumin injection", _B, 38_600, _ACUTE, preselfpay_bp=2000,
           settings=_HOSPITAL_TREATMENT, price_cap_fen=36_000), ("10 g 50 ml",)),
    (_drug("Oxytocin injection", _A, 580, _ACUTE, sex=_FEMALE, settings=_INPATIENT_ONLY),
     ("10 IU 1 ml",)),
    (_drug("Propofol injectable emulsion", _B, 5_420, _ACUTE, preselfpay_bp=1000,
           settings=_INPATIENT_ONLY), ("0.2 g 20 ml",)),
    (_drug("Cisplatin injection", _A, 3_260, _ACUTE, settings=_HOSPITAL_TREATMENT),
     ("20 mg", "30 mg")),
    (_drug("Paclitaxel injection", _B, 29_800, _ACUTE, preselfpay_bp=2000,
           settings=_HOSPITAL_TREATMENT, price_cap_fen=32_000), ("30 mg 5 ml",)),
    (_drug("Erythropoietin injection", _B, 9_850, _CHRONIC, preselfpay_bp=1000,
           chronic_disease="N18", settings=_HOSPITAL_TREATMENT), ("3000 IU",)),
    (_drug("Isatis root granules (TCM)", _A, 1_520, _ACUTE), ("10 g x 20",)),
    (_drug("Lianhua qingwen capsules (TCM)", _B, 2_490, _ACUTE, preselfpay_bp=500),
     ("0.35 g x 36",)),
    (_drug("Cordyceps mycelium capsules (TCM)", _C, 6_800, _CHRONIC), ("0.33 g x 60",)),
    (_drug("Compound danshen dripping pills (TCM)", _A, 2_650, _CHRONIC, chronic_disease="I25"),
     ("27 mg x 180",)),
    (_drug("Sildenafil citrate tablets", _C, 9_900, _ACUTE, sex=_MALE), ("100 mg x 5",)),
    (_drug("Orlistat capsules", _C, 16_800, _CHRONIC), ("120 mg x 21",)),
    # Chronic drugs.
    (_drug("Nifedipine controlled-release tablets", _A, 3_320, _CHRONIC, chronic_disease="I10"),
     ("30 mg x 7",)),
    (_drug("Losartan potassium tablets", _B, 2_980, _CHRONIC, preselfpay_bp=500,
           chronic_disease="I10"), ("50 mg x 7", "100 mg x 7")),
    (_drug("Valsartan capsules", _B, 3_450, _CHRONIC, preselfpay_bp=500, chronic_disease="I10"),
     ("80 mg x 28",)),
    (_drug("Metoprolol succinate sustained-release tablets", _A, 2_470, _CHRONIC,
           chronic_disease="I10"), ("47.5 mg x 7",)),
    (_drug("Hydrochlorothiazide tablets", _A, 290, _CHRONIC, chronic_disease="I10"),
     ("25 mg x 100",)),
    (_drug("Gliclazide sustained-release tablets", _A, 2_160, _CHRONIC, chronic_disease="E11"),
     ("30 mg x 30",)),
    (_drug("Acarbose tablets", _A, 3_980, _CHRONIC, chronic_disease="E11", price_cap_fen=4_000),
     ("50 mg x 30",)),
    (_drug("Insulin glargine injection", _B, 16_850, _CHRONIC, preselfpay_bp=1000,
           chronic_disease="E11", price_cap_fen=16_000), ("300 IU 3 ml",)),
    (_drug("Sitagliptin phosphate tablets", _B, 4_760, _CHRONIC, preselfpay_bp=1000,
           chronic_disease="E11"), ("100 mg x 7",)),
    (_drug("Aspirin enteric-coated tablets", _A, 1_590, _CHRONIC, chronic_disease="I25"),
     ("100 mg x 30",)),
    (_drug("Clopidogrel bisulfate tablets", _B, 4_320, _CHRONIC, preselfpay_bp=500,
           chronic_disease="I25"), ("75 mg x 7",)),
    (_drug("Isosorbide mononitrate tablets", _A, 1_280, _CHRONIC, chronic_disease="I25"),
     ("20 mg x 48",)),
    (_drug("Rosuvastatin calcium tablets", _B, 3_870, _CHRONIC, preselfpay_bp=500),
     ("10 mg x 7",)),
    (_drug("Budesonide-formoterol inhaler", _B, 23_400, _CHRONIC, preselfpay_bp=1000,
           chronic_disease="J45", price_cap_fen=22_000), ("160/4.5 ug x 60",)),
    (_drug("Salbutamol sulfate aerosol", _A, 2_620, _ACUTE, chronic_disease="J45"),
     ("100 ug x 200",)),
    (_drug("Olanzapine tablets", _B, 6_180, _CHRONIC, preselfpay_bp=1000, chronic_disease="F20"),
     ("10 mg x 7",)),
    (_drug("Risperidone tablets", _A, 2_840, _CHRONIC, chronic_disease="F20"), ("1 mg x 20",)),
    (_drug("Levothyroxine sodium tablets", _A, 2_290, _CHRONIC), ("50 ug x 100",)),
    (_drug("Calcitriol soft capsules", _B, 3_560, _CHRONIC, preselfpay_bp=500,
           chronic_disease="N18"), ("0.25 ug x 10",)),
    (_drug("Alendronate sodium tablets", _B, 5_280, _CHRONIC, preselfpay_bp=1000, age_min=50),
     ("70 mg x 4",)),
    (_drug("Donepezil hydrochloride tablets", _B, 8_160, _CHRONIC, preselfpay_bp=2000,
           age_min=50), ("5 mg x 7",)),
    (_drug("Mecobalamin tablets", _A, 2_140, _CHRONIC), ("0.5 mg x 20",)),
    (_drug("Warfarin sodium tablets", _A, 980, _CHRONIC), ("2.5 mg x 60",)),
    (_drug("Allopurinol tablets", _A, 560, _CHRONIC), ("0.1 g x 100",)),
    (_drug("Cetirizine hydrochloride tablets", _A, 1_380, _ACUTE), ("10 mg x 12",)),
    (_drug("Clarithromycin tablets", _B, 2_760, _ACUTE, preselfpay_bp=1000), ("0.25 g x 6",)),
    (_drug("Metronidazole tablets", _A, 520, _ACUTE), ("0.2 g x 21",)),
    (_drug("Famotidine tablets", _A, 880, _ACUTE), ("20 mg x 24",)),
    (_drug("Mosapride citrate tablets", _B, 2_340, _ACUTE, preselfpay_bp=500), ("5 mg x 24",)),
    (_drug("Diclofenac sodium sustained-release tablets", _A, 1_460, _ACUTE), ("75 mg x 10",)),
    (_drug("Celecoxib capsules", _B, 4_980, _ACUTE, preselfpay_bp=1000), ("0.2 g x 6",)),
    (_drug("Prednisone acetate tablets", _A, 390, _ACUTE), ("5 mg x 100",)),
    (_drug("Dexamethasone sodium phosphate injection", _A, 160, _ACUTE,
           settings=_NOT_PHARMACY), ("5 mg 1 ml",)),
    (_drug("Enoxaparin sodium injection", _B, 4_650, _ACUTE, preselfpay_bp=1000,
           settings=_HOSPITAL_TREATMENT, price_cap_fen=4_500), ("4000 AXaIU 0.4 ml",)),
    (_drug("Furosemide tablets", _A, 450, _CHRONIC), ("20 mg x 100",)),
    (_drug("Spironolactone tablets", _A, 620, _CHRONIC), ("20 mg x 100",)),
    (_drug("Benazepril hydrochloride tablets", _A, 2_180, _CHRONIC, chronic_disease="I10"),
     ("10 mg x 14",)),
    (_drug("Irbesartan tablets", _B, 2_630, _CHRONIC, preselfpay_bp=500, chronic_disease="I10"),
     ("150 mg x 7", "300 mg x 7")),
    (_drug("Glimepiride tablets", _A, 1_960, _CHRONIC, chronic_disease="E11"),
     ("1 mg x 30", "2 mg x 30")),
    (_drug("Insulin aspart injection", _B, 7_480, _CHRONIC, preselfpay_bp=1000,
           chronic_disease="E11"), ("300 IU 3 ml",)),
    (_drug("Tiotropium bromide inhalation powder", _B, 17_600, _CHRONIC, preselfpay_bp=1000,
           chronic_disease="J45"), ("18 ug x 30",)),
    (_drug("Quetiapine fumarate tablets", _B, 3_920, _CHRONIC, preselfpay_bp=1000,
           chronic_disease="F20"), ("0.1 g x 30",)),
    (_drug("Sevelamer carbonate tablets", _B, 15_800, _CHRONIC, preselfpay_bp=2000,
           chronic_disease="N18"), ("0.8 g x 36",)),
    (_drug("Tacrolimus capsules", _B, 26_400, _CHRONIC, preselfpay_bp=2000), ("1 mg x 50",)),
]

_SERVICE_ROWS: list[_Row] = [
    _row("CT scan, head, plain", ItemKind.SERVICE, _A, 52_000, price_cap_fen=50_000,
         well_known="service_capped"),
    _row("General outpatient consultation", ItemKind.SERVICE, _A, 2_500, price_cap_fen=2_500,
         settings=_NOT_PHARMACY, well_known="consultation"),
    _row("Prostate-specific antigen test", ItemKind.SERVICE, _A, 6_800, sex=_MALE),
    _row("Cervical liquid-based cytology", ItemKind.SERVICE, _B, 18_000, preselfpay_bp=1000,
         sex=_FEMALE),
    _row("Obstetric ultrasound", ItemKind.SERVICE, _A, 16_000, sex=_FEMALE),
    _row("Mammography, bilateral", ItemKind.SERVICE, _B, 22_000, preselfpay_bp=1000,
         sex=_FEMALE, age_min=35),
    _row("Bone densitometry (DXA)", ItemKind.SERVICE, _B, 12_000, preselfpay_bp=1000,
         age_min=50),
    _row("Neonatal hearing screening", ItemKind.SERVICE, _A, 6_000, age_max=0),
    _row("Paediatric consultation", ItemKind.SERVICE, _A, 3_000, age_max=14,
         settings=_NOT_PHARMACY),
    _row("Emergency consultation", ItemKind.SERVICE, _A, 3_500, settings=_NOT_PHARMACY),
    _row("Expert consultation (chief physician)", ItemKind.SERVICE, _B, 5_000,
         preselfpay_bp=2000, price_cap_fen=4_000),
    _row("Complete blood count", ItemKind.SERVICE, _A, 2_000),
    _row("Liver function panel", ItemKind.SERVICE, _A, 8_500),
    _row("Renal function panel", ItemKind.SERVICE, _A, 4_500),
    _row("Glycated haemoglobin (HbA1c)", ItemKind.SERVICE, _A, 7_000, price_cap_fen=6_500),
    _row("Lipid panel", ItemKind.SERVICE, _A, 5_000),
    _row("Urinalysis", ItemKind.SERVICE, _A, 1_500),
    _row("Electrocardiogram, 12-lead", ItemKind.SERVICE, _A, 2_500),
    _row("Chest X-ray, PA view", ItemKind.SERVICE, _A, 8_000),
    _row("CT scan, chest, contrast", ItemKind.SERVICE, _B, 78_000, preselfpay_bp=1000,
         price_cap_fen=80_000),
    _row("MRI, lumbar spine", ItemKind.SERVICE, _B, 98_000, preselfpay_bp=2000,
         price_cap_fen=90_000),
    _row("Abdominal ultrasound", ItemKind.SERVICE, _A, 12_000),
    _row("Gastroscopy", ItemKind.SERVICE, _B, 36_000, preselfpay_bp=1000),
    _row("Haemodialysis session", ItemKind.SERVICE, _A, 42_000, price_cap_fen=40_000,
         settings=_HOSPITAL_TREATMENT),
    _row("Peritoneal dialysis, per day", ItemKind.SERVICE, _A, 9_000,
         settings=_HOSPITAL_TREATMENT),
    _row("Radiotherapy, IMRT, per fraction", ItemKind.SERVICE, _B, 160_000, preselfpay_bp=1000,
         settings=_HOSPITAL_TREATMENT),
    _row("Chemotherapy infusion service", ItemKind.SERVICE, _A, 6_000,
         settings=_HOSPITAL_TREATMENT),
    _row("Appendectomy", ItemKind.SERVICE, _A, 180_000, settings=_INPATIENT_ONLY),
    _row("Laparoscopic cholecystectomy", ItemKind.SERVICE, _B, 420_000, preselfpay_bp=1000,
         settings=_INPATIENT_ONLY),
    _row("Caesarean section", ItemKind.SERVICE, _A, 250_000, sex=_FEMALE,
         settings=_INPATIENT_ONLY),
    _row("Vaginal delivery", ItemKind.SERVICE, _A, 120_000, sex=_FEMALE,
         settings=_INPATIENT_ONLY),
    _row("Total hip arthroplasty", ItemKind.SERVICE, _B, 650_000, preselfpay_bp=1000,
         settings=_INPATIENT_ONLY),
    _row("Phacoemulsification cataract surgery", ItemKind.SERVICE, _A, 240_000,
         settings=_NOT_PHARMACY),
    _row("General anaesthesia, first hour", ItemKind.SERVICE, _A, 60_000,
         settings=_INPATIENT_ONLY),
    _row("Nursing care, level I, per day", ItemKind.SERVICE, _A, 2_600,
         settings=_INPATIENT_ONLY),
    _row("Nursing care, level II, per day", ItemKind.SERVICE, _A, 1_500,
         settings=_INPATIENT_ONLY),
    _row("Intravenous infusion", ItemKind.SERVICE, _A, 800, settings=_NOT_PHARMACY),
    _row("Intramuscular injection", ItemKind.SERVICE, _A, 300, settings=_NOT_PHARMACY),
    _row("Wound dressing change", ItemKind.SERVICE, _A, 1_800, settings=_NOT_PHARMACY),
    _row("Acupuncture, per session", ItemKind.SERVICE, _B, 4_500, preselfpay_bp=2000),
    _row("Tuina massage therapy", ItemKind.SERVICE, _B, 6_000, preselfpay_bp=2000),
    _row("Physiotherapy, per session", ItemKind.SERVICE, _B, 5_500, preselfpay_bp=1000),
    _row("Cosmetic laser treatment", ItemKind.SERVICE, _C, 150_000),
    _row("Dental implant", ItemKind.SERVICE, _C, 800_000),
    _row("Teeth whitening", ItemKind.SERVICE, _C, 120_000),
    _row("LASIK refractive surgery", ItemKind.SERVICE, _C, 1_500_000),
    _row("Annual health check package", ItemKind.SERVICE, _C, 60_000),
    _row("Genetic screening panel", ItemKind.SERVICE, _C, 280_000),
]

_MATERIAL_ROWS: list[_Row] = [
    _row("Coronary drug-eluting stent", ItemKind.MATERIAL, _B, 75_000, preselfpay_bp=1000,
         price_cap_fen=80_000, settings=_INPATIENT_ONLY, well_known="material_b"),
    _row("Disposable syringe, 5 ml", ItemKind.MATERIAL, _A, 80),
    _row("Disposable infusion set", ItemKind.MATERIAL, _A, 350, price_cap_fen=300),
    _row("Sterile gauze pads, 10 pcs", ItemKind.MATERIAL, _A, 450),
    _row("Urinary catheter, Foley", ItemKind.MATERIAL, _A, 1_800),
    _row("Elastic bandage", ItemKind.MATERIAL, _A, 900),
    _row("Plaster cast, lower arm", ItemKind.MATERIAL, _A, 8_000),
    _row("Oxygen mask", ItemKind.MATERIAL, _A, 1_200),
    _row("Dual-chamber pacemaker", ItemKind.MATERIAL, _B, 3_800_000, preselfpay_bp=2000,
         price_cap_fen=3_500_000, settings=_INPATIENT_ONLY),
    _row("Foldable intraocular lens", ItemKind.MATERIAL, _B, 320_000, preselfpay_bp=1000,
         price_cap_fen=300_000),
    _row("Artificial hip joint prosthesis", ItemKind.MATERIAL, _B, 720_000, preselfpay_bp=2000,
         price_cap_fen=700_000, settings=_INPATIENT_ONLY),
    _row("Orthopaedic locking plate", ItemKind.MATERIAL, _B, 450_000, preselfpay_bp=1000,
         settings=_INPATIENT_ONLY),
    _row("Absorbable suture", ItemKind.MATERIAL, _B, 12_000, preselfpay_bp=500),
    _row("Central venous catheter kit", ItemKind.MATERIAL, _B, 48_000, preselfpay_bp=1000,
         settings=_HOSPITAL_TREATMENT),
    _row("Haemodialyser", ItemKind.MATERIAL, _A, 9_500, price_cap_fen=10_000,
         settings=_HOSPITAL_TREATMENT),
    _row("Insulin pen needles, 100 pcs", ItemKind.MATERIAL, _B, 6_800, preselfpay_bp=500),
    _row("Blood glucose test strips, 50 pcs", ItemKind.MATERIAL, _B, 9_800, preselfpay_bp=1000,
         price_cap_fen=9_000),
    _row("Laparoscopic trocar, disposable", ItemKind.MATERIAL, _B, 38_000, preselfpay_bp=2000,
         settings=_INPATIENT_ONLY),
    _row("Surgical stapler, linear", ItemKind.MATERIAL, _B, 260_000, preselfpay_bp=2000,
         settings=_INPATIENT_ONLY),
    _row("Negative-pressure wound dressing", ItemKind.MATERIAL, _B, 85_000, preselfpay_bp=1000),
    _row("Nebuliser mask", ItemKind.MATERIAL, _A, 1_500),
    _row("Paediatric nasal cannula", ItemKind.MATERIAL, _A, 1_100, age_max=14),
    _row("Disposable underpad", ItemKind.MATERIAL, _A, 200),
    _row("Medical cervical collar", ItemKind.MATERIAL, _B, 15_000, preselfpay_bp=500),
    _row("Wheelchair", ItemKind.MATERIAL, _C, 98_000),
    _row("Hearing aid", ItemKind.MATERIAL, _C, 680_000),
    _row("Contact lenses, monthly, pair", ItemKind.MATERIAL, _C, 16_000),
    _row("Compression stockings", ItemKind.MATERIAL, _C, 28_000),
    _row("Home blood pressure monitor", ItemKind.MATERIAL, _C, 23_000),
    _row("Home glucose meter", ItemKind.MATERIAL, _C, 19_800),
]

_FACILITY_ROWS: list[_Row] = [
    _row("General ward bed, per day", ItemKind.FACILITY, _A, 6_000, price_cap_fen=5_000,
         settings=_INPATIENT_ONLY, well_known="inpatient_only"),
    _row("Two-bed ward, per day", ItemKind.FACILITY, _B, 12_000, preselfpay_bp=2000,
         price_cap_fen=10_000, settings=_INPATIENT_ONLY),
    _row("Single room, per day", ItemKind.FACILITY, _C, 40_000, settings=_INPATIENT_ONLY),
    _row("VIP ward, per day", ItemKind.FACILITY, _C, 120_000, settings=_INPATIENT_ONLY),
    _row("Intensive care bed, per day", ItemKind.FACILITY, _A, 30_000, price_cap_fen=30_000,
         settings=_INPATIENT_ONLY),
    _row("Neonatal incubator, per day", ItemKind.FACILITY, _A, 8_000, age_max=0,
         settings=_INPATIENT_ONLY),
    _row("Emergency observation bed, per day", ItemKind.FACILITY, _A, 4_500,
         settings=_INPATIENT_ONLY),
    _row("Operating room use, per hour", ItemKind.FACILITY, _A, 40_000,
         settings=_INPATIENT_ONLY),
    _row("Delivery room use", ItemKind.FACILITY, _A, 30_000, sex=_FEMALE,
         settings=_INPATIENT_ONLY),
    _row("Oxygen therapy, per hour", ItemKind.FACILITY, _A, 300, settings=_NOT_PHARMACY),
    _row("Cardiac monitoring, per hour", ItemKind.FACILITY, _A, 500, settings=_NOT_PHARMACY),
    _row("Infusion pump use, per hour", ItemKind.FACILITY, _B, 300, preselfpay_bp=500,
         settings=_NOT_PHARMACY),
    _row("Air conditioning fee, per day", ItemKind.FACILITY, _C, 1_000,
         settings=_INPATIENT_ONLY),
    _row("Accompanying bed, per day", ItemKind.FACILITY, _C, 2_000, settings=_INPATIENT_ONLY),
    _row("Day-surgery recovery bay", ItemKind.FACILITY, _B, 15_000, preselfpay_bp=1000,
         settings=_NOT_PHARMACY),
]

# Goods a pharmacy sells that no fund may pay for (cosmetics, food, supplements,
# daily goods): refused at a pharmacy, self-paid elsewhere.
_NON_MEDICAL_ROWS: list[_Row] = [
    _row(name, ItemKind.NON_MEDICAL, _C, price_fen, well_known=well_known)
    for name, price_fen, well_known in [
        ("Moisturising face cream", 16_800, "non_medical"),
        ("Sunscreen SPF 50", 12_900, ""),
        ("Anti-dandruff shampoo", 5_900, ""),
        ("Whitening toothpaste", 2_400, ""),
        ("Hydrating sheet masks, 10 pcs", 9_900, ""),
        ("Infant formula milk powder", 32_800, ""),
        ("Wildflower honey", 6_800, ""),
        ("Whey protein powder", 26_800, ""),
        ("Vitamin C effervescent tablets", 4_500, ""),
        ("Fish oil soft capsules", 19_800, ""),
        ("Calcium and vitamin D chewables", 13_800, ""),
        ("Ginseng slices (food)", 38_800, ""),
        ("Herbal tea drink, case", 5_400, ""),
        ("Sanitary pads", 2_900, ""),
        ("Adult diapers", 8_900, ""),
        ("Hand sanitiser gel", 1_900, ""),
        ("Wet wipes", 1_200, ""),
        ("Contact lens solution", 4_800, ""),
        ("Facial tissues, 6 packs", 2_200, ""),
        ("Massage cushion", 29_900, ""),
    ]
]

# fmt: on

_CODE_PREFIX = {
    ItemKind.DRUG: "D",
    ItemKind.SERVICE: "S",
    ItemKind.MATERIAL: "M",
    ItemKind.FACILITY: "F",
    ItemKind.NON_MEDICAL: "N",
}


def _catalogue_rows() -> list[tuple[str, _Row]]:
    """Every row with its code (``D0001``, ``S0001``, ...), in a fixed order."""
    rows: list[_Row] = []
    for base, strengths in _DRUG_ROWS:
        for number, strength in enumerate(strengths):
            scale_pct = 100 if number == 0 else 170
            rows.append(
                _Row(
                    name=f"{base.name} {strength}",
                    kind=base.kind,
                    item_class=base.item_class,
                    price_fen=base.price_fen * scale_pct // 100,
                    preselfpay_bp=base.preselfpay_bp,
                    price_cap_fen=(
                        base.price_cap_fen * scale_pct // 100 if base.price_cap_fen >= 0 else -1
                    ),
                    supply_class=base.supply_class,
                    chronic_disease=base.chronic_disease,
                    sex=base.sex,
                    age_min=base.age_min,
                    age_max=base.age_max,
                    settings=base.settings,
                    override_bp_emp=base.override_bp_emp,
                    override_bp_res=base.override_bp_res,
                    well_known=base.well_known if number == 0 else "",
                )
            )
    rows += _SERVICE_ROWS + _MATERIAL_ROWS + _FACILITY_ROWS + _NON_MEDICAL_ROWS
    numbers = dict.fromkeys(ItemKind, 0)
    coded: list[tuple[str, _Row]] = []
    for row in rows:
        numbers[row.kind] += 1
        coded.append((f"{_CODE_PREFIX[row.kind]}{numbers[row.kind]:04d}", row))
    return coded


def demo_catalogue() -> list[CatalogueItem]:
    """The demo's three catalogues (三个目录) plus non-medical goods: 200+ items.

    Every :class:`ItemKind` and :class:`ItemClass`; class B with self-pay-first
    ratios of 500/1000/2000 bp; price caps (限价); sex, age and setting
    restrictions; drugs ACUTE or CHRONIC, some for a registered chronic disease
    (:data:`CHRONIC_DISEASES`); CML drugs with ratio overrides (75% for residents).
    """
    return [
        CatalogueItem(
            code=code,
            name=row.name,
            kind=row.kind,
            item_class=row.item_class,
            price_cap_fen=row.price_cap_fen,
            preselfpay_bp=row.preselfpay_bp,
            sex=row.sex,
            age_min=row.age_min,
            age_max=row.age_max,
            settings=row.settings,
            supply_class=row.supply_class,
            override_bp_emp=row.override_bp_emp,
            override_bp_res=row.override_bp_res,
            chronic_disease=row.chronic_disease,
        )
        for code, row in _catalogue_rows()
    ]


def demo_catalogue_prices() -> dict[str, int]:
    """A typical unit price in fen per item code, for claim generators.

    Some capped items are priced above their cap (so ``PRICE_OVER_CAP`` occurs),
    e.g. the well-known ``service_capped`` at 520.00 against a cap of 500.00.
    """
    return {code: row.price_fen for code, row in _catalogue_rows()}


def well_known_items() -> dict[str, str]:
    """Item codes the README and tests rely on, by role.

    ``drug_a`` class A acute drug, no cap; ``drug_b`` class B drug, 10% pay-first;
    ``drug_c`` class C drug; ``material_b`` class B material, 10% pay-first,
    inpatient only; ``service_capped`` class A service, cap 500.00, typical price
    520.00; ``consultation``; ``chronic_i10`` / ``chronic_e11`` chronic drugs for
    hypertension / diabetes; ``chronic_plain`` a chronic drug for no registered
    disease; ``cml_imatinib`` override 80% EMP / 75% RES; ``male_only``,
    ``female_only``, ``child_only`` (age ≤ 14); ``inpatient_only`` ward bed;
    ``non_medical`` face cream.
    """
    return {row.well_known: code for code, row in _catalogue_rows() if row.well_known}


# --- institutions ------------------------------------------------------------------------
def demo_institutions() -> list[Institution]:
    """The demo's 10 designated institutions (定点医药机构).

    Hospitals of levels 1, 2 and 3 in the demo region, a level-3 hospital in
    :data:`REMOTE_REGION` for remote care, clinics, three pharmacies. One clinic
    is SUSPENDED (claims there are ``NOT_DESIGNATED``); H31010001 has a
    suspended practitioner (:data:`SUSPENDED_PRACTITIONER`).
    """
    hospital, clinic, pharmacy = (
        InstitutionKind.HOSPITAL,
        InstitutionKind.CLINIC,
        InstitutionKind.PHARMACY,
    )
    return [
        Institution(
            "H31010001",
            "Demo City First People's Hospital",
            hospital,
            3,
            DEMO_REGION,
            suspended_practitioners=frozenset({SUSPENDED_PRACTITIONER}),
        ),
        Institution("H31010002", "Demo District Central Hospital", hospital, 2, DEMO_REGION),
        Institution(
            "H31010003", "Demo Maternal and Child Health Hospital", hospital, 2, DEMO_REGION
        ),
        Institution("H31010004", "Demo Riverside Community Hospital", hospital, 1, DEMO_REGION),
        Institution(
            "H32010001", "Neighbour Province University Hospital", hospital, 3, REMOTE_REGION
        ),
        Institution("C31010001", "Demo Street Community Clinic", clinic, 1, DEMO_REGION),
        Institution(
            "C31010002",
            "Demo Family Medicine Clinic",
            clinic,
            1,
            DEMO_REGION,
            status=InstitutionStatus.SUSPENDED,
        ),
        Institution("P31010001", "Demo Health Pharmacy No. 1", pharmacy, 0, DEMO_REGION),
        Institution("P31010002", "Demo Health Pharmacy No. 2", pharmacy, 0, DEMO_REGION),
        Institution("P31010003", "Demo 24-Hour Pharmacy", pharmacy, 0, DEMO_REGION),
    ]


# --- population --------------------------------------------------------------------------
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
