"""Catalogue helpers: a small built-in demo catalogue and a CSV reader (CLI ``--catalogue``)."""

from __future__ import annotations

import csv
from pathlib import Path

from .model import CatalogueItem, ItemClass, ItemKind, Setting, Sex, SupplyClass

DEMO_CATALOGUE: tuple[CatalogueItem, ...] = (
    CatalogueItem(
        "D-AMOX", "amoxicillin 0.25 g", ItemKind.DRUG, ItemClass.A, supply_class=SupplyClass.ACUTE
    ),
    CatalogueItem(
        "D-MET",
        "metformin 0.5 g",
        ItemKind.DRUG,
        ItemClass.A,
        supply_class=SupplyClass.CHRONIC,
        chronic_disease="E11",
    ),
    CatalogueItem(
        "D-AMLO",
        "amlodipine 5 mg",
        ItemKind.DRUG,
        ItemClass.B,
        preselfpay_bp=1000,
        supply_class=SupplyClass.CHRONIC,
        chronic_disease="I10",
    ),
    CatalogueItem(
        "D-IMAT",
        "imatinib 100 mg (listed special drug)",
        ItemKind.DRUG,
        ItemClass.B,
        preselfpay_bp=1000,
        override_bp_emp=8000,
        override_bp_res=7500,
    ),
    CatalogueItem("D-VITC", "vitamin C tablets", ItemKind.DRUG, ItemClass.C),
    CatalogueItem("D-OXY", "oxytocin injection", ItemKind.DRUG, ItemClass.A, sex=Sex.FEMALE),
    CatalogueItem(
        "D-PAED",
        "paediatric syrup",
        ItemKind.DRUG,
        ItemClass.A,
        age_max=14,
        supply_class=SupplyClass.ACUTE,
    ),
    CatalogueItem("S-CONS", "consultation", ItemKind.SERVICE, ItemClass.A, price_cap_fen=3_000),
    CatalogueItem("S-CT", "CT scan", ItemKind.SERVICE, ItemClass.A, price_cap_fen=50_000),
    CatalogueItem(
        "S-DIAL",
        "haemodialysis session",
        ItemKind.SERVICE,
        ItemClass.A,
        price_cap_fen=45_000,
        settings=frozenset({Setting.INPATIENT, Setting.MAJOR_OUTPATIENT}),
    ),
    CatalogueItem(
        "M-STENT",
        "coronary stent",
        ItemKind.MATERIAL,
        ItemClass.B,
        price_cap_fen=1_000_000,
        preselfpay_bp=1000,
    ),
    CatalogueItem("F-BED", "ward bed day", ItemKind.FACILITY, ItemClass.A, price_cap_fen=8_000),
    CatalogueItem("N-COSM", "face cream", ItemKind.NON_MEDICAL, ItemClass.C),
)

CATALOGUE_COLUMNS: tuple[str, ...] = (  # docs/csv-formats.md
    "code",
    "name",
    "kind",
    "item_class",
    "price_cap_fen",
    "preselfpay_bp",
    "sex",
    "age_min",
    "age_max",
    "settings",
    "supply_class",
    "override_bp_emp",
    "override_bp_res",
    "chronic_disease",
)


def load_catalogue_csv(path: str | Path) -> list[CatalogueItem]:
    """Read a catalogue CSV in the format of ``claimgate load catalogue``
    (docs/csv-formats.md; columns as ``CATALOGUE_COLUMNS``, empty = default).

    ``kind``, ``item_class``, ``sex``, ``supply_class`` are enum names; ``settings``
    is a ``|``-separated list of setting names (empty: every setting). This reader
    serves ``policy explain``; the gateway's loader validates the same format strictly.
    """
    out: list[CatalogueItem] = []
    with open(path, newline="", encoding="utf-8") as f:
        for n, rec in enumerate(csv.DictReader(f), start=2):
            try:

                def num(key: str, default: int, rec: dict[str, str] = rec) -> int:
                    v = (rec.get(key) or "").strip()
                    return int(v) if v else default

                settings = frozenset(
                    Setting[s.strip()] for s in (rec.get("settings") or "").split("|") if s.strip()
                )
                out.append(
                    CatalogueItem(
                        code=rec["code"].strip(),
                        name=(rec.get("name") or "").strip(),
                        kind=ItemKind[rec["kind"].strip()],
                        item_class=ItemClass[rec["item_class"].strip()],
                        price_cap_fen=num("price_cap_fen", -1),
                        preselfpay_bp=num("preselfpay_bp", 0),
                        sex=Sex[(rec.get("sex") or "UNKNOWN").strip() or "UNKNOWN"],
                        age_min=num("age_min", -1),
                        age_max=num("age_max", -1),
                        settings=settings,
                        supply_class=SupplyClass[
                            (rec.get("supply_class") or "NONE").strip() or "NONE"
                        ],
                        override_bp_emp=num("override_bp_emp", -1),
                        override_bp_res=num("override_bp_res", -1),
                        chronic_disease=(rec.get("chronic_disease") or "").strip(),
                    )
                )
            except (KeyError, ValueError) as e:
                raise ValueError(f"{Path(path).name}: line {n}: bad catalogue row: {e}") from None
    return out
