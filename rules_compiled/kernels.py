"""Numba kernels: adjudicate a batch of claims over int64 columns.

One entry point, :func:`adjudicate_batch`, handles every setting; it takes the
packed policy vector and the packed catalogue (see ``policy_table.py`` for both
layouts) so a call has seven array arguments. Every step mirrors
``reference.py`` (the plain-Python evaluator the tests compare against); keep
them in step.

Money is int64 fen; a ratio is applied as ``(amount * bp + 5000) // 10000``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .compiled_policy import (
    BUCKET_CURRENT,
    BUCKET_PRIOR,
    COUNTER_POOLED,
    DED_PER_YEAR,
    FUND_POOLED,
    FUND_SUPPLEMENTARY,
    PAY_ACCOUNT_FIRST,
    PAY_PERSONAL,
)
from .model import (
    CHRONIC_SLOTS,
    CI_ACCT_CURRENT,
    CI_ACCT_PRIOR,
    CI_AGE_YEARS,
    CI_ASSISTANCE,
    CI_ASSISTANCE_PAID,
    CI_BANDED_COST,
    CI_BENEFIT_START_DAY,
    CI_BIRTH_DAY,
    CI_CHRONIC_0,
    CI_DEDUCTIBLE_PAID,
    CI_DIAG_FLAGS,
    CI_DISCHARGE_ORDER_DAY,
    CI_EMERGENCY,
    CI_INST_LEVEL,
    CI_OUTPATIENT_BAND_USED,
    CI_OUTPATIENT_FUND_PAID,
    CI_PERSON_TYPE,
    CI_POOLED_PAID,
    CI_REFERRAL,
    CI_REMOTE,
    CI_REMOTE_REGISTERED,
    CI_RETIRE_DAY,
    CI_SCHEME,
    CI_SERVICE_DAY,
    CI_SETTING,
    CI_SEX,
    CI_USE_ACCOUNT,
    CI_WORK_START_DAY,
    CO_ACCT_CURRENT_PAY,
    CO_ACCT_PAY,
    CO_ACCT_PRIOR_PAY,
    CO_BAND_SELFPAY,
    CO_CASH,
    CO_D_ASSISTANCE_PAID,
    CO_D_BANDED_COST,
    CO_D_DEDUCTIBLE_PAID,
    CO_D_OUTPATIENT_BAND_USED,
    CO_D_OUTPATIENT_FUND_PAID,
    CO_D_POOLED_PAID,
    CO_DEDUCTIBLE,
    CO_ERROR,
    CO_FULAMT_OWNPAY,
    CO_FUND_PAY_SUM,
    CO_HIFMI,
    CO_HIFP,
    CO_INSCP,
    CO_MAF,
    CO_MEDFEE,
    CO_NOTES,
    CO_OVERLMT_SELFPAY,
    CO_PRESELFPAY,
    CO_PSN_PART,
    CO_REFERRAL_PAYFIRST,
    CO_SUPPLEMENTARY,
    ERR_ASSISTANCE_CAP,
    ERR_BAD_INPUT,
    ERR_FUND_PLUS_PERSONAL,
    ERR_FUND_SUM,
    ERR_NEGATIVE,
    ERR_PERSONAL_SPLIT,
    ERR_POOLED_CAP,
    ERR_PRICING_SUM,
    LI_AMOUNT,
    LI_DAY,
    LI_DAYS_SUPPLY,
    LI_DUP_SEEN,
    LI_IN_DISCHARGE_ORDER,
    LI_ITEM,
    LI_PRACTITIONER_SUSPENDED,
    LI_PREV_FILL_DAY,
    LI_PREV_FILL_DAYS,
    LI_QTY,
    LI_UNIT_PRICE,
    LO_FULAMT_OWNPAY,
    LO_INSCP,
    LO_OVERLMT_SELFPAY,
    LO_PRESELFPAY,
    LO_REASONS,
    LO_STATUS,
)
from .policy_table import (
    CH_N,
    IT_AGE_MAX,
    IT_AGE_MIN,
    IT_CHRONIC_ID,
    IT_CLASS,
    IT_KIND,
    IT_OVERRIDE_EMP_BP,
    IT_OVERRIDE_RES_BP,
    IT_PRESELFPAY_BP,
    IT_PRICE_CAP,
    IT_SETTINGS_MASK,
    IT_SEX,
    IT_SUPPLY,
    LEVELS,
    P_ASSIST_BP_0,
    P_ASSIST_CAP_FEN,
    P_COHORT_N,
    P_COHORT_OFF,
    P_DS_ACUTE,
    P_DS_CHRONIC,
    P_DS_DISCHARGE,
    P_DS_REGISTERED,
    P_GROUPS,
    P_REFERRAL_IN_BP,
    P_REFERRAL_OUT_BP,
    P_REFILL_BP,
    P_REMOTE_CUT_BP,
    P_RULE_OFF,
    RU_ABOVE_BP,
    RU_ABOVE_FUND,
    RU_ACCT_MASK,
    RU_BAND_BP,
    RU_BAND_FUND,
    RU_BAND_TO,
    RU_CAP_COUNTER,
    RU_CUMULATIVE,
    RU_DED_FEN,
    RU_DED_PER,
    RU_DED_REMOTE_FEN,
    RU_FUND_CAP_FEN,
    RU_N,
    RU_NBANDS,
    RU_OV_CAP_FEN,
    RU_PAYMENT,
    RU_REFERRAL,
    RU_SELF_BAND_FEN,
    RU_VALID,
)

# Enum values as plain ints (numba freezes module-level ints as constants).
_PHARMACY = 1
_EMP = 1
_DRUG = 1
_SERVICE = 2
_NON_MEDICAL = 5
_CLASS_B = 2
_CLASS_C = 3
_ACUTE = 1
_CHRONIC = 2
_PAID = 1
_SELF_PAY = 2
_REJECTED = 3
_R_NON_MEDICAL = 1 << 0
_R_OVER_QUANTITY = 1 << 1
_R_REFILL = 1 << 2
_R_DUPLICATE = 1 << 3
_R_PRACTITIONER = 1 << 4
_R_AFTER_DISCHARGE = 1 << 5
_R_SEX = 1 << 6
_R_AGE = 1 << 7
_R_SETTING = 1 << 8
_R_NOT_IN_CATALOGUE = 1 << 9
_R_PRICE_OVER_CAP = 1 << 10
_R_NOT_YET_COVERED = 1 << 11
_REJECTING = (1 << 9) - 1
_N_EXCLUDED = 1 << 0
_N_FULL = 1 << 1
_N_REMOTE = 1 << 2
_D_FULL = 1 << 0
_D_EXCLUDED = 1 << 1


@njit(cache=True, nogil=True, inline="always")
def _apply_bp(amount_fen: int, ratio_bp: int) -> int:
    return (amount_fen * ratio_bp + 5000) // 10000


@njit(cache=True, nogil=True)
def _group(
    table: np.ndarray, scheme: int, person_type: int, birth: int, work: int, retire: int
) -> int:
    off = table[P_COHORT_OFF]
    for i in range(table[P_COHORT_N]):
        o = off + i * CH_N
        if (
            table[o] == scheme
            and table[o + 1] == person_type
            and table[o + 3] <= birth <= table[o + 4]
            and table[o + 5] <= work <= table[o + 6]
            and table[o + 7] <= retire <= table[o + 8]
        ):
            return table[o + 2]
    return -1


@njit(cache=True, nogil=True)
def _price_lines(
    c: np.ndarray,
    lines: np.ndarray,
    lo: int,
    hi: int,
    table: np.ndarray,
    items: np.ndarray,
    n_items: int,
    line_out: np.ndarray,
) -> int:
    """docs/benefit-rules.md §3.3 and the §6 line checks; returns ERR_BAD_INPUT or 0."""
    setting = c[CI_SETTING]
    sex = c[CI_SEX]
    age = c[CI_AGE_YEARS]
    dod = c[CI_DISCHARGE_ORDER_DAY]
    bstart = c[CI_BENEFIT_START_DAY]
    err = 0
    for j in range(lo, hi):
        ln = lines[j]
        out = line_out[j]
        for q in range(out.shape[0]):
            out[q] = 0
        item = ln[LI_ITEM]
        amount = ln[LI_AMOUNT]
        price = ln[LI_UNIT_PRICE]
        qty = ln[LI_QTY]
        if amount < 0 or price < 0 or qty < 0 or item >= n_items or item < -1:
            err = ERR_BAD_INPUT
            out[LO_STATUS] = _REJECTED
            continue
        day = ln[LI_DAY] if ln[LI_DAY] >= 0 else c[CI_SERVICE_DAY]
        reasons = 0
        if ln[LI_DUP_SEEN] != 0:
            reasons |= _R_DUPLICATE
        if ln[LI_PRACTITIONER_SUSPENDED] != 0:
            reasons |= _R_PRACTITIONER
        if dod >= 0 and day > dod:
            reasons |= _R_AFTER_DISCHARGE
        prev = ln[LI_PREV_FILL_DAY]
        if prev >= 0:
            prev_days = ln[LI_PREV_FILL_DAYS]
            if (prev + prev_days - day) * 10000 > table[P_REFILL_BP] * prev_days:
                reasons |= _R_REFILL
        kind = 0
        if item >= 0:
            it = items[item]
            kind = it[IT_KIND]
            if kind == _NON_MEDICAL and setting == _PHARMACY:
                reasons |= _R_NON_MEDICAL
            if ln[LI_IN_DISCHARGE_ORDER] != 0 and kind == _SERVICE:
                reasons |= _R_AFTER_DISCHARGE
            if kind == _DRUG:
                limit = -1
                if ln[LI_IN_DISCHARGE_ORDER] != 0:
                    limit = table[P_DS_DISCHARGE]
                else:
                    cid = it[IT_CHRONIC_ID]
                    registered = False
                    if cid >= 0:
                        for s in range(CHRONIC_SLOTS):
                            if c[CI_CHRONIC_0 + s] == cid:
                                registered = True
                    if registered:
                        limit = table[P_DS_REGISTERED]
                    elif it[IT_SUPPLY] == _CHRONIC:
                        limit = table[P_DS_CHRONIC]
                    elif it[IT_SUPPLY] == _ACUTE:
                        limit = table[P_DS_ACUTE]
                if limit >= 0 and ln[LI_DAYS_SUPPLY] > limit:
                    reasons |= _R_OVER_QUANTITY
            if it[IT_SEX] != 0 and it[IT_SEX] != sex:
                reasons |= _R_SEX
            if (it[IT_AGE_MIN] >= 0 and age < it[IT_AGE_MIN]) or (
                it[IT_AGE_MAX] >= 0 and age > it[IT_AGE_MAX]
            ):
                reasons |= _R_AGE
            if it[IT_SETTINGS_MASK] != 0 and (it[IT_SETTINGS_MASK] >> setting) & 1 == 0:
                reasons |= _R_SETTING
        if reasons & _REJECTING:
            out[LO_STATUS] = _REJECTED
            out[LO_REASONS] = reasons
            continue
        if bstart >= 0 and day < bstart:  # before the benefit start: not covered
            out[LO_FULAMT_OWNPAY] = amount
            out[LO_REASONS] = _R_NOT_YET_COVERED
            out[LO_STATUS] = _SELF_PAY
            continue
        inscope = 0
        if item < 0:
            reasons |= _R_NOT_IN_CATALOGUE
            out[LO_FULAMT_OWNPAY] = amount
        elif items[item, IT_CLASS] == _CLASS_C or kind == _NON_MEDICAL:
            out[LO_FULAMT_OWNPAY] = amount
        else:
            cap = items[item, IT_PRICE_CAP]
            over = 0
            if cap >= 0 and price > cap:
                over = min(amount, (price - cap) * qty)
                reasons |= _R_PRICE_OVER_CAP
            capped = amount - over
            pre = 0
            if items[item, IT_CLASS] == _CLASS_B:
                pre = _apply_bp(capped, items[item, IT_PRESELFPAY_BP])
            inscope = capped - pre
            out[LO_OVERLMT_SELFPAY] = over
            out[LO_PRESELFPAY] = pre
            out[LO_INSCP] = inscope
        out[LO_REASONS] = reasons
        out[LO_STATUS] = _PAID if inscope > 0 else _SELF_PAY
    return err


@njit(cache=True, nogil=True)
def _claim(
    c: np.ndarray,
    lines: np.ndarray,
    lo: int,
    hi: int,
    table: np.ndarray,
    items: np.ndarray,
    n_items: int,
    o: np.ndarray,
    line_out: np.ndarray,
) -> None:
    for q in range(o.shape[0]):
        o[q] = 0
    err = _price_lines(c, lines, lo, hi, table, items, n_items, line_out)
    scheme = c[CI_SCHEME]
    setting = c[CI_SETTING]
    level = c[CI_INST_LEVEL]
    if scheme < 1 or scheme > 2 or setting < 1 or setting > 4 or level < 0 or level >= LEVELS:
        o[CO_ERROR] = ERR_BAD_INPUT
        return
    group = _group(
        table, scheme, c[CI_PERSON_TYPE], c[CI_BIRTH_DAY], c[CI_WORK_START_DAY], c[CI_RETIRE_DAY]
    )
    if group < 0 or err != 0:
        o[CO_ERROR] = ERR_BAD_INPUT
        return
    g_max = table[P_GROUPS]
    rb = (
        table[P_RULE_OFF]
        + ((((scheme - 1) * 4 + (setting - 1)) * g_max + group) * LEVELS + level) * RU_N
    )
    rule = table[rb : rb + RU_N]
    if rule[RU_VALID] == 0:
        o[CO_ERROR] = ERR_BAD_INPUT
        return
    acct_cur = c[CI_ACCT_CURRENT]
    acct_prior = c[CI_ACCT_PRIOR]
    if acct_cur < 0 or acct_prior < 0:
        o[CO_ERROR] = ERR_BAD_INPUT
        return

    # --- pricing totals
    ownpay = 0
    overlmt = 0
    pre = 0
    ins_norm = 0
    ins_over = 0
    for j in range(lo, hi):
        lr = line_out[j]
        ownpay += lr[LO_FULAMT_OWNPAY]
        overlmt += lr[LO_OVERLMT_SELFPAY]
        pre += lr[LO_PRESELFPAY]
    selfpay_items = ownpay + overlmt + pre
    ov_col = IT_OVERRIDE_EMP_BP if scheme == _EMP else IT_OVERRIDE_RES_BP
    for j in range(lo, hi):
        ins = line_out[j, LO_INSCP]
        if ins > 0 and items[lines[j, LI_ITEM], ov_col] >= 0:
            ins_over += ins
        else:
            ins_norm += ins
    inscope = ins_norm + ins_over
    medfee = selfpay_items + inscope
    o[CO_MEDFEE] = medfee
    o[CO_FULAMT_OWNPAY] = ownpay
    o[CO_OVERLMT_SELFPAY] = overlmt
    o[CO_PRESELFPAY] = pre
    o[CO_INSCP] = inscope

    payment = rule[RU_PAYMENT]
    mask = rule[RU_ACCT_MASK] if c[CI_USE_ACCOUNT] != 0 else 0
    avail_cur = acct_cur if mask & BUCKET_CURRENT else 0
    avail_prior = acct_prior if mask & BUCKET_PRIOR else 0
    diag = c[CI_DIAG_FLAGS]
    notes = 0
    hifp = 0
    supp = 0
    hifmi = 0
    maf = 0
    acct_in_cur = 0  # account-first: account paying in-scope cost
    acct_in_prior = 0
    burden = 0  # in-scope personal burden, the base of medical assistance
    excluded = payment != PAY_PERSONAL and (diag & _D_EXCLUDED) != 0
    full = payment != PAY_PERSONAL and not excluded and (diag & _D_FULL) != 0
    cap_fen = rule[RU_FUND_CAP_FEN]
    counter_before = 0
    if cap_fen >= 0:
        counter_before = (
            c[CI_POOLED_PAID]
            if rule[RU_CAP_COUNTER] == COUNTER_POOLED
            else c[CI_OUTPATIENT_FUND_PAID]
        )
    if excluded:
        notes |= _N_EXCLUDED
    elif full:
        notes |= _N_FULL
        hifp = inscope
    elif payment != PAY_PERSONAL:
        cut = 0
        if c[CI_REMOTE] != 0 and c[CI_REMOTE_REGISTERED] == 0 and c[CI_EMERGENCY] == 0:
            cut = table[P_REMOTE_CUT_BP]
            notes |= _N_REMOTE
        ref_bp = 0
        if rule[RU_REFERRAL] != 0:
            if c[CI_REFERRAL] == 1:
                ref_bp = table[P_REFERRAL_IN_BP]
            elif c[CI_REFERRAL] == 2:
                ref_bp = table[P_REFERRAL_OUT_BP]
        cap_on = cap_fen >= 0
        pooled_counter = cap_on and rule[RU_CAP_COUNTER] == COUNTER_POOLED
        cap_left = max(0, cap_fen - counter_before) if cap_on else 0
        ov_cap = rule[RU_OV_CAP_FEN]
        ov_cap_left = max(0, ov_cap - c[CI_POOLED_PAID]) if ov_cap >= 0 else 0
        # referral pay-first: per line, on each line's in-scope amount
        pf_norm = 0
        # item ratio overrides, line by line, outside deductible and bands, and first
        # against the pooled cap
        ov_copay = 0
        ov_counted = 0
        payfirst = 0
        for j in range(lo, hi):
            ins = line_out[j, LO_INSCP]
            if ins > 0:
                pf = _apply_bp(ins, ref_bp)
                ov_bp = items[lines[j, LI_ITEM], ov_col]
                if ov_bp >= 0:
                    pay = _apply_bp(ins - pf, max(0, ov_bp - cut))
                    if ov_cap >= 0:
                        if pay > ov_cap_left:
                            pay = ov_cap_left
                        ov_cap_left -= pay
                        ov_counted += pay
                    hifp += pay
                    payfirst += pf
                    ov_copay += ins - pf - pay
                else:
                    pf_norm += pf
        payfirst += pf_norm
        net = ins_norm - pf_norm
        if pooled_counter:
            cap_left = max(0, cap_left - ov_counted)
        o[CO_REFERRAL_PAYFIRST] = payfirst
        band_cost = 0
        band_pay = 0
        left_cur = avail_cur
        left_prior = avail_prior
        if payment == PAY_ACCOUNT_FIRST:
            # the account pays the in-scope cost less the pay-first, then the band
            acct_in_cur = min(net, left_cur)
            left_cur -= acct_in_cur
            acct_in_prior = min(net - acct_in_cur, left_prior)
            left_prior -= acct_in_prior
            left = net - acct_in_cur - acct_in_prior
            band_left = max(0, rule[RU_SELF_BAND_FEN] - c[CI_OUTPATIENT_BAND_USED])
            band_pay = min(left, band_left)
            o[CO_BAND_SELFPAY] = band_pay
            o[CO_D_OUTPATIENT_BAND_USED] = band_pay
            band_cost = left - band_pay
            burden = band_pay
            pos = 0
        else:
            deductible = 0
            per = rule[RU_DED_PER]
            if per != 0:
                full_ded = rule[RU_DED_REMOTE_FEN] if c[CI_REMOTE] != 0 else rule[RU_DED_FEN]
                ded_left = full_ded
                if per == DED_PER_YEAR:
                    ded_left = max(0, full_ded - c[CI_DEDUCTIBLE_PAID])
                deductible = min(net, ded_left)
                if per == DED_PER_YEAR:
                    o[CO_D_DEDUCTIBLE_PAID] = deductible
            o[CO_DEDUCTIBLE] = deductible
            band_cost = net - deductible
            burden = payfirst + deductible + ov_copay
            pos = c[CI_BANDED_COST] if rule[RU_CUMULATIVE] != 0 else 0
            if rule[RU_CUMULATIVE] != 0:
                o[CO_D_BANDED_COST] = band_cost
        # walk the bands; a fund cap may bind inside a segment (docs/benefit-rules.md §3.4)
        rem = band_cost
        band_paid = 0
        over_cap = 0
        capped = False
        counted = 0  # band payments counted against the fund cap
        for k in range(rule[RU_NBANDS]):
            if rem == 0:
                break
            b_hi = rule[RU_BAND_TO + k]
            if pos >= b_hi:
                continue
            seg = min(rem, b_hi - pos)
            r = max(0, rule[RU_BAND_BP + k] - cut)
            if capped:
                over_cap += seg
            else:
                pay = _apply_bp(seg, r)
                if cap_on and pay > cap_left:
                    pay = cap_left
                    covered = min(seg, (cap_left * 10000 + r - 1) // r)
                    over_cap += seg - covered
                    capped = True
                if cap_on:
                    cap_left -= pay
                    counted += pay
                band_paid += pay
            pos += seg
            rem -= seg
        over_cap += rem  # beyond the last band: over the cost ceiling
        above_paid = 0
        if rule[RU_ABOVE_FUND] >= 0 and over_cap > 0:
            above_paid = _apply_bp(over_cap, max(0, rule[RU_ABOVE_BP] - cut))
            fund = rule[RU_ABOVE_FUND]
            if fund == FUND_POOLED:
                hifp += above_paid
            elif fund == FUND_SUPPLEMENTARY:
                supp += above_paid
            else:
                hifmi += above_paid
        fund = rule[RU_BAND_FUND]
        if fund == FUND_POOLED:
            hifp += band_paid
        elif fund == FUND_SUPPLEMENTARY:
            supp += band_paid
        else:
            hifmi += band_paid
        burden += band_cost - band_paid - above_paid
        if pooled_counter:
            o[CO_D_POOLED_PAID] = ov_counted + counted
        else:
            o[CO_D_POOLED_PAID] = ov_counted
            if cap_on:
                o[CO_D_OUTPATIENT_FUND_PAID] = counted
        if payment == PAY_ACCOUNT_FIRST:
            # after the band the account left pays the pay-first, then the override co-pay;
            # only what it leaves of them is burden
            a = min(payfirst, left_cur)
            b = min(payfirst - a, left_prior)
            left_cur -= a
            left_prior -= b
            acct_in_cur += a
            acct_in_prior += b
            burden += payfirst - a - b
            a = min(ov_copay, left_cur)
            b = min(ov_copay - a, left_prior)
            acct_in_cur += a
            acct_in_prior += b
            burden += ov_copay - a - b
        # medical assistance on the in-scope personal burden
        bp_assist = 0
        a = c[CI_ASSISTANCE]
        if 1 <= a <= 3:
            bp_assist = table[P_ASSIST_BP_0 + a]
        if bp_assist > 0 and burden > 0:
            assist_left = max(0, table[P_ASSIST_CAP_FEN] - c[CI_ASSISTANCE_PAID])
            maf = min(_apply_bp(burden, bp_assist), assist_left)
            o[CO_D_ASSISTANCE_PAID] = maf

    fund_sum = hifp + supp + hifmi + maf
    psn = medfee - fund_sum
    # personal share: account buckets (current, then prior), then cash
    if payment == PAY_ACCOUNT_FIRST and not excluded and not full:
        rest = selfpay_items  # self-pay items come after, from what is left in the account
        cur = acct_in_cur + min(rest, avail_cur - acct_in_cur)
        rest -= cur - acct_in_cur
        prior = acct_in_prior + min(rest, avail_prior - acct_in_prior)
    else:
        cur = min(psn, avail_cur)
        prior = min(psn - cur, avail_prior)
    acct = cur + prior
    cash = psn - acct
    o[CO_HIFP] = hifp
    o[CO_SUPPLEMENTARY] = supp
    o[CO_HIFMI] = hifmi
    o[CO_MAF] = maf
    o[CO_FUND_PAY_SUM] = fund_sum
    o[CO_PSN_PART] = psn
    o[CO_ACCT_PAY] = acct
    o[CO_ACCT_CURRENT_PAY] = cur
    o[CO_ACCT_PRIOR_PAY] = prior
    o[CO_CASH] = cash
    o[CO_NOTES] = notes
    o[CO_ERROR] = _check(
        c,
        lines,
        lo,
        hi,
        line_out,
        o,
        cap_fen,
        counter_before,
        rule[RU_CAP_COUNTER],
        rule[RU_OV_CAP_FEN],
        table[P_ASSIST_CAP_FEN],
    )


@njit(cache=True, nogil=True)
def _check(
    c: np.ndarray,
    lines: np.ndarray,
    lo: int,
    hi: int,
    line_out: np.ndarray,
    o: np.ndarray,
    cap_fen: int,
    counter_before: int,
    counter: int,
    ov_cap_fen: int,
    assist_cap_fen: int,
) -> int:
    """The invariants (docs/benefit-rules.md §9) of one claim; returns the number of a
    broken one, or 0."""
    s_own = 0
    s_over = 0
    s_pre = 0
    s_ins = 0
    for j in range(lo, hi):
        lr = line_out[j]
        if lr[LO_STATUS] != _REJECTED:
            if (
                lr[LO_FULAMT_OWNPAY] + lr[LO_OVERLMT_SELFPAY] + lr[LO_PRESELFPAY] + lr[LO_INSCP]
                != lines[j, LI_AMOUNT]
            ):
                return ERR_PRICING_SUM
            s_own += lr[LO_FULAMT_OWNPAY]
            s_over += lr[LO_OVERLMT_SELFPAY]
            s_pre += lr[LO_PRESELFPAY]
            s_ins += lr[LO_INSCP]
    if (
        s_own != o[CO_FULAMT_OWNPAY]
        or s_over != o[CO_OVERLMT_SELFPAY]
        or s_pre != o[CO_PRESELFPAY]
        or s_ins != o[CO_INSCP]
        or o[CO_MEDFEE] != s_own + s_over + s_pre + s_ins
    ):
        return ERR_PRICING_SUM
    if o[CO_MEDFEE] != o[CO_FUND_PAY_SUM] + o[CO_PSN_PART]:
        return ERR_FUND_PLUS_PERSONAL
    if (
        o[CO_PSN_PART] != o[CO_ACCT_PAY] + o[CO_CASH]
        or o[CO_ACCT_PAY] != o[CO_ACCT_CURRENT_PAY] + o[CO_ACCT_PRIOR_PAY]
    ):
        return ERR_PERSONAL_SPLIT
    if o[CO_FUND_PAY_SUM] != o[CO_HIFP] + o[CO_SUPPLEMENTARY] + o[CO_HIFMI] + o[CO_MAF]:
        return ERR_FUND_SUM
    for q in range(CO_MEDFEE, CO_NOTES):
        if o[q] < 0:
            return ERR_NEGATIVE
    for q in range(CO_D_OUTPATIENT_BAND_USED, CO_ERROR):
        if o[q] < 0:
            return ERR_NEGATIVE
    if o[CO_ACCT_CURRENT_PAY] > c[CI_ACCT_CURRENT] or o[CO_ACCT_PRIOR_PAY] > c[CI_ACCT_PRIOR]:
        return ERR_NEGATIVE
    if cap_fen >= 0:
        d = o[CO_D_POOLED_PAID] if counter == COUNTER_POOLED else o[CO_D_OUTPATIENT_FUND_PAID]
        if d > max(0, cap_fen - counter_before):
            return ERR_POOLED_CAP
    if ov_cap_fen >= 0 and o[CO_D_POOLED_PAID] > max(0, ov_cap_fen - c[CI_POOLED_PAID]):
        return ERR_POOLED_CAP
    if (
        o[CO_D_ASSISTANCE_PAID] > max(0, assist_cap_fen - c[CI_ASSISTANCE_PAID])
        or o[CO_MAF] != o[CO_D_ASSISTANCE_PAID]
    ):
        return ERR_ASSISTANCE_CAP
    return 0


@njit(cache=True, nogil=True)
def adjudicate_batch(
    claims: np.ndarray,
    lines: np.ndarray,
    line_offsets: np.ndarray,
    table: np.ndarray,
    items: np.ndarray,
    claim_out: np.ndarray,
    line_out: np.ndarray,
) -> None:
    """Adjudicate every claim of a batch into ``claim_out`` (n, CO_N) and ``line_out`` (m, LO_N)."""
    n_items = items.shape[0]
    for k in range(claims.shape[0]):
        _claim(
            claims[k],
            lines,
            line_offsets[k],
            line_offsets[k + 1],
            table,
            items,
            n_items,
            claim_out[k],
            line_out,
        )
