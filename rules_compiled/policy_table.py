"""The packed policy table: ONE int64 vector holding everything the kernels need of a
compiled policy (:attr:`CompiledPolicy.table`), because numba's dispatch cost grows
with the number of arguments; and the packed catalogue rows the engine passes beside it.

Here: the layout (header scalars, cohort rows, rule rows, catalogue rows) and the
packing of a policy and of a catalogue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .diagnosis import disease_id_in, disease_table
from .model import CatalogueItem

if TYPE_CHECKING:
    from .compiled_policy import CompiledPolicy

MAX_BANDS = 8
LEVELS = 4  # institution level 0..3; level 0 outside a pharmacy is treated as level 1

# --- packed table layout ------------------------------------------------------
# Header (scalars).
(
    P_MAGIC,
    P_GROUPS,  # G: groups (cohorts or person types) per scheme, max
    P_COHORT_OFF,
    P_COHORT_N,
    P_RULE_OFF,
    P_REFERRAL_IN_BP,
    P_REFERRAL_OUT_BP,
    P_REMOTE_CUT_BP,
    P_ASSIST_CAP_FEN,
    P_ASSIST_BP_0,  # .. +3 by Assistance value
) = range(10)
P_DS_ACUTE = 13
P_DS_CHRONIC = 14
P_DS_REGISTERED = 15
P_DS_DISCHARGE = 16
P_REFILL_BP = 17
P_HEADER_N = 32
MAGIC = 0x5255_4C45  # "RULE"

# Cohort rows: scheme, person type, group, then inclusive day ranges.
(
    CH_SCHEME,
    CH_PTYPE,
    CH_GROUP,
    CH_BIRTH_LO,
    CH_BIRTH_HI,
    CH_WORK_LO,
    CH_WORK_HI,
    CH_RETIRE_LO,
    CH_RETIRE_HI,
) = range(9)
CH_N = 9

# Rule rows, index ((scheme-1)*4 + (setting-1))*G*4 + group*4 + level.
(
    RU_VALID,
    RU_PAYMENT,
    RU_ACCT_MASK,
    RU_REFERRAL,
    RU_DED_FEN,
    RU_DED_REMOTE_FEN,
    RU_DED_PER,
    RU_SELF_BAND_FEN,
    RU_BAND_FUND,
    RU_CUMULATIVE,
    RU_FUND_CAP_FEN,  # -1 none
    RU_CAP_COUNTER,
    RU_ABOVE_FUND,  # -1 none
    RU_ABOVE_BP,
    RU_OV_CAP_FEN,  # the EMP pooled cap item-override payments count against; -1 none
    RU_NBANDS,
) = range(16)
RU_BAND_FROM = 16
RU_BAND_TO = RU_BAND_FROM + MAX_BANDS
RU_BAND_BP = RU_BAND_TO + MAX_BANDS
RU_N = RU_BAND_BP + MAX_BANDS

# Catalogue rows (Engine packs the catalogue with :func:`pack_catalogue`).
(
    IT_KIND,
    IT_CLASS,
    IT_PRICE_CAP,
    IT_PRESELFPAY_BP,
    IT_SEX,
    IT_AGE_MIN,
    IT_AGE_MAX,
    IT_SETTINGS_MASK,  # bit 1 << setting; 0 = all settings
    IT_SUPPLY,
    IT_OVERRIDE_EMP_BP,
    IT_OVERRIDE_RES_BP,
    IT_CHRONIC_ID,
) = range(12)
IT_N = 12


def pack_catalogue(policy: CompiledPolicy, items: Sequence[CatalogueItem]) -> npt.NDArray[np.int64]:
    codes = disease_table(policy, items)
    out = np.zeros((len(items), IT_N), dtype=np.int64)
    for r, it in enumerate(items):
        mask = 0
        for s in it.settings:
            mask |= 1 << int(s)
        out[r] = (
            int(it.kind),
            int(it.item_class),
            it.price_cap_fen,
            it.preselfpay_bp,
            int(it.sex),
            it.age_min,
            it.age_max,
            mask,
            int(it.supply_class),
            it.override_bp_emp,
            it.override_bp_res,
            disease_id_in(codes, it.chronic_disease) if it.chronic_disease else -1,
        )
    return out


def _pack(p: CompiledPolicy) -> npt.NDArray[np.int64]:
    g_max = max(len(g) for g in p.groups.values())
    n_rules = 2 * 4 * g_max * LEVELS
    cohort_off = P_HEADER_N
    rule_off = cohort_off + len(p.cohorts) * CH_N
    t = np.zeros(rule_off + n_rules * RU_N, dtype=np.int64)
    t[P_MAGIC] = MAGIC
    t[P_GROUPS] = g_max
    t[P_COHORT_OFF] = cohort_off
    t[P_COHORT_N] = len(p.cohorts)
    t[P_RULE_OFF] = rule_off
    t[P_REFERRAL_IN_BP] = p.referral_bp[1]
    t[P_REFERRAL_OUT_BP] = p.referral_bp[2]
    t[P_REMOTE_CUT_BP] = p.remote_reduction_bp
    t[P_ASSIST_CAP_FEN] = p.assistance_cap_fen
    for a, bp in p.assistance_bp.items():
        t[P_ASSIST_BP_0 + a] = bp
    t[P_DS_ACUTE] = p.acute_days_max
    t[P_DS_CHRONIC] = p.chronic_days_max
    t[P_DS_REGISTERED] = p.registered_chronic_days_max
    t[P_DS_DISCHARGE] = p.discharge_days_max
    t[P_REFILL_BP] = p.refill_remaining_max_bp
    for i, b in enumerate(p.cohorts):
        t[cohort_off + i * CH_N : cohort_off + (i + 1) * CH_N] = (
            int(b.scheme),
            int(b.person_type),
            b.group,
            *b.birth,
            *b.work_start,
            *b.retire,
        )
    for (scheme, setting, g, level), r in p.rules.items():
        base = rule_off + rule_index(int(scheme), int(setting), g, level, g_max) * RU_N
        row = t[base : base + RU_N]
        row[RU_VALID] = 1
        row[RU_PAYMENT] = r.payment
        row[RU_ACCT_MASK] = r.account_mask
        row[RU_REFERRAL] = int(r.referral)
        row[RU_DED_FEN] = r.deductible_fen
        row[RU_DED_REMOTE_FEN] = r.deductible_remote_fen
        row[RU_DED_PER] = r.deductible_per
        row[RU_SELF_BAND_FEN] = r.self_pay_band_fen
        row[RU_BAND_FUND] = r.band_fund
        row[RU_CUMULATIVE] = int(r.bands_cumulative)
        row[RU_FUND_CAP_FEN] = r.fund_cap_fen
        row[RU_CAP_COUNTER] = r.fund_cap_counter
        row[RU_ABOVE_FUND] = r.above_cap_fund
        row[RU_ABOVE_BP] = r.above_cap_ratio_bp
        row[RU_OV_CAP_FEN] = r.override_cap_fen
        row[RU_NBANDS] = len(r.bands)
        for k, band in enumerate(r.bands):
            row[RU_BAND_FROM + k] = band.from_fen
            row[RU_BAND_TO + k] = band.to_fen
            row[RU_BAND_BP + k] = band.ratio_bp
    t.setflags(write=False)
    return t


def rule_index(scheme: int, setting: int, group: int, level: int, g_max: int) -> int:
    return (((scheme - 1) * 4 + (setting - 1)) * g_max + group) * LEVELS + level
