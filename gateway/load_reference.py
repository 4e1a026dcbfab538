"""Loading the reference from CSV: ``claimgate load institutions|catalogue FILE.csv``, and
writing institutions and the catalogue in the same format.

The whole file is validated first (:mod:`gateway.load_csv`); only then is the
reference hash replaced, keeping the policy and the other reference part. Running
gateways pick the new reference up on their next reload.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from gateway.domain import Institution
from gateway.load_csv import (
    _NOT_SEEDED,
    CODE_SEP,
    LoadReport,
    _Duplicates,
    _Fields,
    _names,
    _Problems,
    _rows,
    _shown,
    write_csv,
)
from gateway.store import Store
from rules_compiled.catalogue import CATALOGUE_COLUMNS
from rules_compiled.limits import (
    AGE_YEARS_MAX,
    BP_MAX,
    DIAGNOSIS_CODE,
    FEN_MAX,
    INSTITUTION_CODE,
    ITEM_CODE,
    PRACTITIONER_CODE,
)
from rules_compiled.model import (
    NONE,
    CatalogueItem,
    InstitutionKind,
    InstitutionStatus,
    ItemClass,
    ItemKind,
    Setting,
    Sex,
    SupplyClass,
)

__all__ = [
    "INSTITUTION_COLUMNS",
    "load_catalogue_csv",
    "load_institutions_csv",
    "write_catalogue_csv",
    "write_institutions_csv",
]

INSTITUTION_COLUMNS: tuple[str, ...] = (
    "code",
    "name",
    "kind",
    "level",
    "region",
    "status",
    "suspended_practitioners",
)

_T = TypeVar("_T")

_SEX_RESTRICTION = {"MALE": Sex.MALE, "FEMALE": Sex.FEMALE}  # catalogue: empty = none
_INST_KIND = _names(InstitutionKind)
_INST_STATUS = _names(InstitutionStatus)
_ITEM_KIND = _names(ItemKind)
_ITEM_CLASS = _names(ItemClass)
_SETTING = _names(Setting)
_SUPPLY = {"ACUTE": SupplyClass.ACUTE, "CHRONIC": SupplyClass.CHRONIC}  # empty = NONE


def _parse_institution(f: _Fields, row: list[str]) -> Institution | None:
    code_s, name, kind_s, level_s, region_s, status_s, suspended_s = row
    before = f.problems.total
    code = f.code("code", code_s, INSTITUTION_CODE)
    f.text("name", name)
    kind = f.enum("kind", kind_s, _INST_KIND)
    level = f.count("level", level_s, maximum=3, empty=None)
    region = f.region("region", region_s)
    status = f.enum("status", status_s, _INST_STATUS, empty=InstitutionStatus.DESIGNATED)
    suspended = f.codes("suspended_practitioners", suspended_s, PRACTITIONER_CODE)
    if kind is InstitutionKind.PHARMACY and level not in (0, None):
        f.bad("level", "must be 0 for a PHARMACY")
    elif kind is not None and kind is not InstitutionKind.PHARMACY and level == 0:
        f.bad("level", f"must be 1, 2 or 3 for a {kind.name}")
    if f.problems.total != before:
        return None
    assert code is not None and kind is not None and level is not None
    assert region is not None and status is not None and suspended is not None
    return Institution(code, name, kind, level, region, status, frozenset(suspended))


def _parse_catalogue_item(f: _Fields, row: list[str]) -> CatalogueItem | None:
    (
        code_s,
        name,
        kind_s,
        class_s,
        cap_s,
        pre_s,
        sex_s,
        age_min_s,
        age_max_s,
        settings_s,
        supply_s,
        ovr_emp_s,
        ovr_res_s,
        chronic_s,
    ) = row
    before = f.problems.total
    code = f.code("code", code_s, ITEM_CODE)
    f.text("name", name)
    kind = f.enum("kind", kind_s, _ITEM_KIND)
    item_class = f.enum("item_class", class_s, _ITEM_CLASS)
    cap_fen = f.count("price_cap_fen", cap_s, maximum=FEN_MAX, empty=NONE)
    pre_bp = f.count("preselfpay_bp", pre_s, maximum=BP_MAX, empty=0)
    sex = f.enum("sex", sex_s, _SEX_RESTRICTION, empty=Sex.UNKNOWN)
    age_min = f.count("age_min", age_min_s, maximum=AGE_YEARS_MAX, empty=NONE)
    age_max = f.count("age_max", age_max_s, maximum=AGE_YEARS_MAX, empty=NONE)
    settings: list[Setting] | None = []
    if settings_s:
        parsed = [f.enum("settings", s, _SETTING) for s in settings_s.split(CODE_SEP)]
        settings = [s for s in parsed if s is not None]
        if len(settings) != len(parsed):
            settings = None
        elif len(set(settings)) != len(settings):
            f.bad("settings", f"a setting is listed twice: {_shown(settings_s)}")
    supply = f.enum("supply_class", supply_s, _SUPPLY, empty=SupplyClass.NONE)
    ovr_emp = f.count("override_bp_emp", ovr_emp_s, maximum=BP_MAX, empty=NONE)
    ovr_res = f.count("override_bp_res", ovr_res_s, maximum=BP_MAX, empty=NONE)
    if chronic_s:
        f.code("chronic_disease", chronic_s, DIAGNOSIS_CODE)
    if age_min is not None and age_max is not None and NONE not in (age_min, age_max):
        if age_min > age_max:
            f.bad("age_max", f"age_min {age_min} is above age_max {age_max}")
    if f.problems.total != before:
        return None
    assert code is not None and kind is not None and item_class is not None
    assert cap_fen is not None and pre_bp is not None and sex is not None
    assert age_min is not None and age_max is not None and settings is not None
    assert supply is not None and ovr_emp is not None and ovr_res is not None
    return CatalogueItem(
        code=code,
        name=name,
        kind=kind,
        item_class=item_class,
        price_cap_fen=cap_fen,
        preselfpay_bp=pre_bp,
        sex=sex,
        age_min=age_min,
        age_max=age_max,
        settings=frozenset(settings),
        supply_class=supply,
        override_bp_emp=ovr_emp,
        override_bp_res=ovr_res,
        chronic_disease=chronic_s,
    )


def _validate_reference(
    path: Path,
    columns: tuple[str, ...],
    parse: Callable[[_Fields, list[str]], _T | None],
    problems: _Problems,
    what: str,
) -> list[_T]:
    f = _Fields(problems)
    seen = _Duplicates("code")
    out: list[_T] = []
    for line, row in _rows(path, columns, problems):
        f.line = line
        value = parse(f, row)
        if seen.check(f, row[0]) and value is not None:
            out.append(value)
    if not out and not problems.total:
        problems.add(0, "", f"no data rows: refusing to replace the {what} with an empty one")
    return out


async def _load_reference_part(store: Store, path: str | os.PathLike[str], kind: str) -> LoadReport:
    t0 = time.perf_counter()
    report = LoadReport(kind, str(path))
    problems = _Problems(str(path))
    items: list[Any]
    if kind == "institutions":
        items = _validate_reference(
            Path(path), INSTITUTION_COLUMNS, _parse_institution, problems, "institutions"
        )
    else:
        items = _validate_reference(
            Path(path), CATALOGUE_COLUMNS, _parse_catalogue_item, problems, "catalogue"
        )
    problems.fill(report)
    if report.ok:
        current = await store.load_reference()
        if current is None:
            report.errors, report.errors_total = [_NOT_SEEDED], 1
        else:
            await store.save_reference(
                policy_version=current.policy_version,
                policy_text=current.policy_text,
                catalogue=items if kind == "catalogue" else current.catalogue,
                institutions=items if kind == "institutions" else current.institutions.values(),
            )
            report.rows_loaded = len(items)
    report.elapsed_s = time.perf_counter() - t0
    return report


async def load_institutions_csv(store: Store, path: str | os.PathLike[str]) -> LoadReport:
    """Validate the file, then replace ``ref:institutions`` (policy and catalogue kept).

    Refused when Redis holds no policy yet. Running gateways pick the new
    reference up on their next reload.
    """
    return await _load_reference_part(store, path, "institutions")


async def load_catalogue_csv(store: Store, path: str | os.PathLike[str]) -> LoadReport:
    """Validate the file, then replace ``ref:catalogue`` (policy and institutions kept).

    Refused when Redis holds no policy yet.
    """
    return await _load_reference_part(store, path, "catalogue")


# --- writers (export in the same formats) ----------------------------------------------------


def _opt(value: int) -> str:
    return "" if value == NONE else str(value)


def write_institutions_csv(
    path: str | os.PathLike[str], institutions: Iterable[Institution]
) -> int:
    """Write institutions in the ``load institutions`` format; returns the number of rows."""
    return write_csv(path, INSTITUTION_COLUMNS, (
        (i.code, i.name, i.kind.name, i.level, i.region, i.status.name,
         CODE_SEP.join(sorted(i.suspended_practitioners)))
        for i in institutions
    ))


def write_catalogue_csv(path: str | os.PathLike[str], items: Iterable[CatalogueItem]) -> int:
    """Write catalogue items in the ``load catalogue`` format; returns the number of rows."""
    return write_csv(path, CATALOGUE_COLUMNS, (
        (
            item.code,
            item.name,
            item.kind.name,
            item.item_class.name,
            _opt(item.price_cap_fen),
            item.preselfpay_bp,
            "" if item.sex is Sex.UNKNOWN else item.sex.name,
            _opt(item.age_min),
            _opt(item.age_max),
            CODE_SEP.join(s.name for s in sorted(item.settings)),
            "" if item.supply_class is SupplyClass.NONE else item.supply_class.name,
            _opt(item.override_bp_emp),
            _opt(item.override_bp_res),
            item.chronic_disease,
        )
        for item in items
    ))
