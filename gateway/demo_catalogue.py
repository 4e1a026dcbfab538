"""The demo catalogue: the three catalogues (三个目录) plus non-medical goods, 200+ items
with their codes, typical prices and the well-known items the README and tests use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rules_compiled.model import CatalogueItem, ItemClass, ItemKind, Setting, Sex, SupplyClass

__all__ = [
    "demo_catalogue",
    "demo_catalogue_prices",
    "well_known_items",
]

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
    (:data:`gateway.demo.CHRONIC_DISEASES`); CML drugs with ratio overrides (75% for residents).
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
