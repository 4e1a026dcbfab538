"""Build claim and line input rows (CI_* / LI_*) from keyword fields: tests, CLI, bench, warm-up."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from . import model as m

_CLAIM_DEFAULTS: dict[int, int] = {
    m.CI_SETTING: int(m.Setting.PHARMACY),
    m.CI_INST_KIND: int(m.InstitutionKind.PHARMACY),
    m.CI_INST_LEVEL: 0,
    m.CI_SERVICE_DAY: 19_845,  # 2024-05-02
    m.CI_SCHEME: int(m.Scheme.EMP),
    m.CI_PERSON_TYPE: int(m.PersonType.ACTIVE),
    m.CI_SEX: int(m.Sex.MALE),
    m.CI_AGE_YEARS: 40,
    m.CI_BIRTH_DAY: 1_500,  # 1974
    m.CI_WORK_START_DAY: 9_000,  # 1994
    m.CI_RETIRE_DAY: m.NONE,
    m.CI_DISCHARGE_ORDER_DAY: m.NONE,
    m.CI_BENEFIT_START_DAY: m.NONE,
}

CLAIM_FIELDS: dict[str, int] = {
    name[3:].lower(): getattr(m, name)
    for name in dir(m)
    if name.startswith("CI_") and name != "CI_N"
}
LINE_FIELDS: dict[str, int] = {
    name[3:].lower(): getattr(m, name)
    for name in dir(m)
    if name.startswith("LI_") and name != "LI_N"
}


def claim_row(chronic_ids: tuple[int, ...] = (), **fields: int) -> list[int]:
    """A CI_* row; fields are column names without ``CI_``, lower case (``acct_prior=...``)."""
    row = [0] * m.CI_N
    for col, v in _CLAIM_DEFAULTS.items():
        row[col] = v
    for s in range(m.CHRONIC_SLOTS):
        row[m.CI_CHRONIC_0 + s] = chronic_ids[s] if s < len(chronic_ids) else m.NONE
    for k, v in fields.items():
        row[CLAIM_FIELDS[k]] = int(v)
    return row


def line_row(item: int, unit_price: int, qty: int = 1, **fields: int) -> list[int]:
    """A LI_* row; ``amount`` defaults to unit price x quantity."""
    row = [0] * m.LI_N
    row[m.LI_ITEM] = item
    row[m.LI_UNIT_PRICE] = unit_price
    row[m.LI_QTY] = qty
    row[m.LI_AMOUNT] = unit_price * qty
    row[m.LI_DAY] = m.NONE
    row[m.LI_PREV_FILL_DAY] = m.NONE
    for k, v in fields.items():
        row[LINE_FIELDS[k]] = int(v)
    return row


def batch(
    claims: list[tuple[list[int], list[list[int]]]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(claims, lines, line_offsets) arrays of a list of (claim row, line rows)."""
    offsets = [0]
    flat: list[list[int]] = []
    for _, ls in claims:
        flat.extend(ls)
        offsets.append(len(flat))
    c = np.array([r for r, _ in claims], dtype=np.int64).reshape(len(claims), m.CI_N)
    li = np.array(flat, dtype=np.int64).reshape(len(flat), m.LI_N)
    return c, li, np.array(offsets, dtype=np.int64)
