"""Plain-Python reference evaluator of a compiled policy: clarity first, speed never.

It reads the policy's :class:`~rules_compiled.compiled_policy.Rule` objects (not the
packed vector the kernels read) and the catalogue items themselves, walks
docs/benefit-rules.md §3 step by step, and records a human-readable trace. The tests
require it and the kernels to agree to the fen.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import model as m
from .compiled_policy import (
    BUCKET_CURRENT,
    BUCKET_PRIOR,
    COUNTER_POOLED,
    DED_PER_ADMISSION,
    DED_PER_YEAR,
    FUND_POOLED,
    FUND_SUPPLEMENTARY,
    INF_FEN,
    PAY_ACCOUNT_FIRST,
    PAY_PERSONAL,
    CompiledPolicy,
    Rule,
)
from .diagnosis import disease_id_in, disease_table

FUND_LABEL = {
    0: "pooled fund (统筹)",
    1: "supplementary fund (附加基金)",
    2: "serious-illness insurance (大病保险)",
}


def apply_bp(amount_fen: int, ratio_bp: int) -> int:
    """Apply a ratio, rounding half up to the fen (docs/benefit-rules.md §1)."""
    return (amount_fen * ratio_bp + 5000) // 10000


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def pct(bp: int) -> str:
    return f"{bp / 100:g}%"


def evaluate(
    policy: CompiledPolicy,
    items: Sequence[m.CatalogueItem],
    claim_row: Sequence[int],
    line_rows: Sequence[Sequence[int]],
) -> tuple[list[int], list[list[int]], list[str]]:
    """Adjudicate one claim; returns (CO_* row, LO_* rows, trace)."""
    c = [int(x) for x in claim_row]
    lines = [[int(x) for x in r] for r in line_rows]
    out = [0] * m.CO_N
    line_out = [[0] * m.LO_N for _ in lines]
    trace: list[str] = []
    diseases = disease_table(policy, items)

    bad = _price_lines(policy, items, diseases, c, lines, line_out, trace)
    try:
        scheme = m.Scheme(c[m.CI_SCHEME])
        setting = m.Setting(c[m.CI_SETTING])
    except ValueError:
        out[m.CO_ERROR] = m.ERR_BAD_INPUT
        trace.append("bad input: unknown scheme or setting")
        return out, line_out, trace
    level = c[m.CI_INST_LEVEL]
    group = policy.group_of(
        scheme, c[m.CI_PERSON_TYPE], c[m.CI_BIRTH_DAY], c[m.CI_WORK_START_DAY], c[m.CI_RETIRE_DAY]
    )
    rule = policy.rules.get((scheme, setting, group, level)) if 0 <= level <= 3 else None
    if bad or rule is None or c[m.CI_ACCT_CURRENT] < 0 or c[m.CI_ACCT_PRIOR] < 0:
        out[m.CO_ERROR] = m.ERR_BAD_INPUT
        trace.append("bad input: no rule for this member / setting, or a bad line")
        return out, line_out, trace
    group_name = policy.groups[scheme][group]
    trace.append(f"rule: {scheme.name} {setting.name}, {group_name}, institution level {level}")

    # --- pricing totals (non-REJECTED lines contribute)
    override_col_emp = scheme == m.Scheme.EMP
    ownpay = sum(lo[m.LO_FULAMT_OWNPAY] for lo in line_out)
    overlmt = sum(lo[m.LO_OVERLMT_SELFPAY] for lo in line_out)
    pre = sum(lo[m.LO_PRESELFPAY] for lo in line_out)
    # (line number, in-scope amount[, override ratio]), in line order
    override_lines: list[tuple[int, int, int]] = []
    banded_lines: list[tuple[int, int]] = []
    for n, (ln, lo) in enumerate(zip(lines, line_out, strict=True), start=1):
        ins = lo[m.LO_INSCP]
        if ins <= 0:
            continue
        it = items[ln[m.LI_ITEM]]
        ov = it.override_bp_emp if override_col_emp else it.override_bp_res
        if ov >= 0:
            override_lines.append((n, ins, ov))
        else:
            banded_lines.append((n, ins))
    ins_banded = sum(i for _, i in banded_lines)
    inscope = ins_banded + sum(i for _, i, _ in override_lines)
    selfpay_items = ownpay + overlmt + pre
    medfee = selfpay_items + inscope
    out[m.CO_MEDFEE] = medfee
    out[m.CO_FULAMT_OWNPAY] = ownpay
    out[m.CO_OVERLMT_SELFPAY] = overlmt
    out[m.CO_PRESELFPAY] = pre
    out[m.CO_INSCP] = inscope
    trace.append(
        f"bill: medfee {yuan(medfee)} = fully self-paid {yuan(ownpay)} + over price cap"
        f" {yuan(overlmt)}"
        f" + pay-first {yuan(pre)} + in scope {yuan(inscope)}"
    )

    # --- account availability for this setting
    allowed = rule.account_mask if c[m.CI_USE_ACCOUNT] else 0
    avail_current = c[m.CI_ACCT_CURRENT] if allowed & BUCKET_CURRENT else 0
    avail_prior = c[m.CI_ACCT_PRIOR] if allowed & BUCKET_PRIOR else 0

    funds = {0: 0, 1: 0, 2: 0}
    maf = 0
    notes = 0
    acct_in_current = acct_in_prior = 0
    diag = c[m.CI_DIAG_FLAGS]
    excluded = rule.payment != PAY_PERSONAL and bool(diag & m.DiagnosisFlag.EXCLUDED_CAUSE)
    full = (
        rule.payment != PAY_PERSONAL and not excluded and bool(diag & m.DiagnosisFlag.FULL_COVERAGE)
    )
    cap_before = 0
    if rule.fund_cap_fen >= 0:
        cap_before = (
            c[m.CI_POOLED_PAID]
            if rule.fund_cap_counter == COUNTER_POOLED
            else c[m.CI_OUTPATIENT_FUND_PAID]
        )

    if rule.payment == PAY_PERSONAL:
        trace.append("no fund pays in this setting: the whole bill is personal")
    elif excluded:
        notes |= m.ClaimNote.EXCLUDED_CAUSE
        trace.append("EXCLUDED_CAUSE diagnosis: no fund pays; the whole bill is personal")
    elif full:
        notes |= m.ClaimNote.FULL_COVERAGE
        funds[FUND_POOLED] = inscope
        trace.append(
            f"FULL_COVERAGE diagnosis: pooled fund pays the whole in-scope {yuan(inscope)}"
        )
    else:
        maf, notes, acct_in_current, acct_in_prior = _benefits(
            policy,
            rule,
            c,
            banded_lines,
            override_lines,
            avail_current,
            avail_prior,
            cap_before,
            funds,
            out,
            trace,
        )

    fund_sum = funds[0] + funds[1] + funds[2] + maf
    personal = medfee - fund_sum
    trace.append(f"funds pay {yuan(fund_sum)}; personal share {yuan(personal)}")
    if rule.payment == PAY_ACCOUNT_FIRST and not excluded and not full:
        left_current = avail_current - acct_in_current
        left_prior = avail_prior - acct_in_prior
        s_current = min(selfpay_items, left_current)
        s_prior = min(selfpay_items - s_current, left_prior)
        current = acct_in_current + s_current
        prior = acct_in_prior + s_prior
        if selfpay_items:
            trace.append(
                f"self-pay items {yuan(selfpay_items)}: current-year bucket {yuan(s_current)},"
                f" prior-years bucket {yuan(s_prior)}, cash"
                f" {yuan(selfpay_items - s_current - s_prior)}"
            )
    else:
        current = min(personal, avail_current)
        prior = min(personal - current, avail_prior)
        buckets = [
            n
            for b, n in ((BUCKET_CURRENT, "current-year"), (BUCKET_PRIOR, "prior-years"))
            if allowed & b
        ]
        trace.append(
            f"account buckets allowed: {', '.join(buckets) or 'none'}; current-year pays"
            f" {yuan(current)},"
            f" prior-years pays {yuan(prior)}"
        )
    acct = current + prior
    cash = personal - acct
    trace.append(
        f"account pays {yuan(acct)} (balances left: current {yuan(c[m.CI_ACCT_CURRENT] - current)},"
        f" prior {yuan(c[m.CI_ACCT_PRIOR] - prior)}); cash {yuan(cash)}"
    )
    out[m.CO_HIFP] = funds[0]
    out[m.CO_SUPPLEMENTARY] = funds[1]
    out[m.CO_HIFMI] = funds[2]
    out[m.CO_MAF] = maf
    out[m.CO_FUND_PAY_SUM] = fund_sum
    out[m.CO_PSN_PART] = personal
    out[m.CO_ACCT_PAY] = acct
    out[m.CO_ACCT_CURRENT_PAY] = current
    out[m.CO_ACCT_PRIOR_PAY] = prior
    out[m.CO_CASH] = cash
    out[m.CO_NOTES] = int(notes)
    out[m.CO_ERROR] = check_invariants(policy, rule, c, lines, line_out, out, cap_before)
    if out[m.CO_ERROR]:
        trace.append(f"INVARIANT BROKEN: error {out[m.CO_ERROR]}")
    return out, line_out, trace


def _take(amount: int, left: list[int]) -> tuple[int, int]:
    """Pay ``amount`` from what is left in the buckets [current, prior], current first."""
    cur = min(amount, left[0])
    prior = min(amount - cur, left[1])
    left[0] -= cur
    left[1] -= prior
    return cur, prior


def _benefits(
    policy: CompiledPolicy,
    rule: Rule,
    c: list[int],
    banded_lines: list[tuple[int, int]],
    override_lines: list[tuple[int, int, int]],
    avail_current: int,
    avail_prior: int,
    cap_before: int,
    funds: dict[int, int],
    out: list[int],
    trace: list[str],
) -> tuple[int, int, int, int]:
    """§5 step 4 where funds pay; returns (assistance, notes, account-first bucket payments).

    The bucket payments are what the account pays in the account-first setting
    towards in-scope cost (before the band, and the pay-first and override
    co-pay after it); the self-pay items come after them.
    """
    notes = 0
    cut_bp = 0
    if c[m.CI_REMOTE] and not c[m.CI_REMOTE_REGISTERED] and not c[m.CI_EMERGENCY]:
        cut_bp = policy.remote_reduction_bp
        notes |= m.ClaimNote.REMOTE_UNREGISTERED
        trace.append(
            f"remote care without registration: every insurance ratio lowered by {cut_bp} bp"
        )
    referral_bp = policy.referral_bp.get(c[m.CI_REFERRAL], 0) if rule.referral else 0
    cap_on = rule.fund_cap_fen >= 0
    pooled_counter = cap_on and rule.fund_cap_counter == COUNTER_POOLED
    cap_left = max(0, rule.fund_cap_fen - cap_before) if cap_on else 0
    if cap_on:
        trace.append(
            f"fund cap {yuan(rule.fund_cap_fen)}, already used {yuan(cap_before)}, left"
            f" {yuan(cap_left)}"
        )
    ov_cap_on = rule.override_cap_fen >= 0
    ov_cap_left = max(0, rule.override_cap_fen - c[m.CI_POOLED_PAID]) if ov_cap_on else 0
    if ov_cap_on and override_lines and not pooled_counter:
        trace.append(
            f"item overrides count against the pooled cap {yuan(rule.override_cap_fen)}, already"
            f" used {yuan(c[m.CI_POOLED_PAID])}, left {yuan(ov_cap_left)}"
        )

    # referral pay-first: per line, on each line's in-scope amount, rounded per line
    payfirst_banded = 0
    for n, ins in banded_lines:
        pf = apply_bp(ins, referral_bp)
        payfirst_banded += pf
        if referral_bp:
            trace.append(
                f"line {n}: referral pay-first {pct(referral_bp)} of in-scope {yuan(ins)} ="
                f" {yuan(pf)}"
            )
    payfirst = payfirst_banded
    net = sum(i for _, i in banded_lines) - payfirst_banded

    # item ratio overrides: line by line, outside the deductible and the bands, and
    # before the rest of the claim against the pooled cap
    override_copay = 0
    ov_counted = 0
    for n, ins, ov_bp in override_lines:
        pf = apply_bp(ins, referral_bp)
        r = max(0, ov_bp - cut_bp)
        pay = apply_bp(ins - pf, r)
        step = (
            f"line {n}: item override, in scope {yuan(ins)}"
            + (f", referral pay-first {pct(referral_bp)} = {yuan(pf)}" if referral_bp else "")
            + f"; pooled fund {pct(r)} of {yuan(ins - pf)} = {yuan(pay)}"
        )
        if ov_cap_on:
            if pay > ov_cap_left:
                step += f"; the pooled cap binds: pays the {yuan(ov_cap_left)} left"
                pay = ov_cap_left
            ov_cap_left -= pay
            ov_counted += pay
            step += " (counted against the pooled cap)"
        funds[FUND_POOLED] += pay
        payfirst += pf
        override_copay += ins - pf - pay
        trace.append(f"{step}; co-pay {yuan(ins - pf - pay)}")
    if pooled_counter and ov_counted:
        cap_left = max(0, cap_left - ov_counted)
        trace.append(
            f"the item overrides used {yuan(ov_counted)} of the cap: left {yuan(cap_left)}"
        )
    out[m.CO_REFERRAL_PAYFIRST] = payfirst

    left_buckets = [avail_current, avail_prior]
    account_first = rule.payment == PAY_ACCOUNT_FIRST
    band_pay = 0
    if account_first:
        in_cur, in_prior = _take(net, left_buckets)
        left = net - in_cur - in_prior
        trace.append(
            f"account first: current-year pays {yuan(in_cur)}, prior-years pays"
            f" {yuan(in_prior)} of in-scope {yuan(net)}"
            + (" (less the referral pay-first)" if referral_bp else "")
            + f"; left {yuan(left)}"
        )
        band_left = max(0, rule.self_pay_band_fen - c[m.CI_OUTPATIENT_BAND_USED])
        band_pay = min(left, band_left)
        out[m.CO_BAND_SELFPAY] = band_pay
        out[m.CO_D_OUTPATIENT_BAND_USED] = band_pay
        trace.append(
            f"self-pay band {yuan(rule.self_pay_band_fen)}, left {yuan(band_left)}: cash"
            f" {yuan(band_pay)}"
        )
        banded = left - band_pay
        burden = band_pay
        position = 0
    else:
        deductible = 0
        if rule.deductible_per in (DED_PER_YEAR, DED_PER_ADMISSION):
            full_ded = rule.deductible_remote_fen if c[m.CI_REMOTE] else rule.deductible_fen
            ded_left = full_ded
            if rule.deductible_per == DED_PER_YEAR:
                ded_left = max(0, full_ded - c[m.CI_DEDUCTIBLE_PAID])
            deductible = min(net, ded_left)
            if rule.deductible_per == DED_PER_YEAR:
                out[m.CO_D_DEDUCTIBLE_PAID] = deductible
            per = "year" if rule.deductible_per == DED_PER_YEAR else "admission"
            trace.append(
                f"deductible {yuan(full_ded)} per {per}, left {yuan(ded_left)}: pays"
                f" {yuan(deductible)}"
            )
        out[m.CO_DEDUCTIBLE] = deductible
        banded = net - deductible
        burden = payfirst + deductible + override_copay
        position = c[m.CI_BANDED_COST] if rule.bands_cumulative else 0
        if rule.bands_cumulative:
            out[m.CO_D_BANDED_COST] = banded
            trace.append(f"banded cost this year so far {yuan(position)}")

    # walk the bands
    remaining = banded
    band_paid = 0
    over_cap = 0
    capped = False
    counted = 0
    for band in rule.bands:
        if remaining == 0:
            break
        if position >= band.to_fen:
            continue
        seg = min(remaining, band.to_fen - position)
        r = max(0, band.ratio_bp - cut_bp)
        hi = "∞" if band.to_fen >= INF_FEN else yuan(band.to_fen)
        if capped:
            over_cap += seg
            trace.append(f"band {yuan(band.from_fen)}–{hi}: {yuan(seg)} over the cap")
        else:
            pay = apply_bp(seg, r)
            if cap_on and pay > cap_left:
                covered = min(seg, -(-cap_left * 10000 // r))
                trace.append(
                    f"band {yuan(band.from_fen)}–{hi} at {pct(r)}: {yuan(seg)} would pay"
                    f" {yuan(pay)};"
                    f" cap binds: fund pays the {yuan(cap_left)} left, covering {yuan(covered)},"
                    f" {yuan(seg - covered)} over the cap"
                )
                pay = cap_left
                over_cap += seg - covered
                capped = True
            else:
                trace.append(
                    f"band {yuan(band.from_fen)}–{hi} at {pct(r)}: {yuan(seg)} -> "
                    f"{FUND_LABEL[rule.band_fund]} {yuan(pay)}"
                )
            if cap_on:
                cap_left -= pay
                counted += pay
            band_paid += pay
        position += seg
        remaining -= seg
    if remaining:
        trace.append(f"{yuan(remaining)} beyond the ceiling of the last band")
    over_cap += remaining
    above_paid = 0
    if rule.above_cap_fund >= 0 and over_cap > 0:
        r = max(0, rule.above_cap_ratio_bp - cut_bp)
        above_paid = apply_bp(over_cap, r)
        funds[rule.above_cap_fund] += above_paid
        trace.append(
            f"over the cap {yuan(over_cap)}: {FUND_LABEL[rule.above_cap_fund]} {pct(r)} ="
            f" {yuan(above_paid)}"
        )
    elif over_cap:
        trace.append(f"over the cap {yuan(over_cap)}: no fund pays it")
    funds[rule.band_fund] += band_paid
    burden += banded - band_paid - above_paid
    if pooled_counter:
        out[m.CO_D_POOLED_PAID] = ov_counted + counted
    else:
        out[m.CO_D_POOLED_PAID] = ov_counted
        if cap_on:
            out[m.CO_D_OUTPATIENT_FUND_PAID] = counted

    acct_current = acct_prior = 0
    if account_first:
        acct_current, acct_prior = avail_current - left_buckets[0], avail_prior - left_buckets[1]
        # after the band, what is left in the account pays the referral pay-first, then the
        # override co-pay (then the self-pay items); only what it leaves is burden
        for label, amount in (
            ("referral pay-first", payfirst),
            ("override co-pay", override_copay),
        ):
            if not amount:
                continue
            a_cur, a_prior = _take(amount, left_buckets)
            acct_current += a_cur
            acct_prior += a_prior
            burden += amount - a_cur - a_prior
            trace.append(
                f"{label} {yuan(amount)} after the band: current-year bucket {yuan(a_cur)},"
                f" prior-years bucket {yuan(a_prior)}, cash {yuan(amount - a_cur - a_prior)}"
            )

    maf = 0
    assist_bp = policy.assistance_bp.get(c[m.CI_ASSISTANCE], 0)
    if assist_bp and burden > 0:
        assist_left = max(0, policy.assistance_cap_fen - c[m.CI_ASSISTANCE_PAID])
        maf = min(apply_bp(burden, assist_bp), assist_left)
        out[m.CO_D_ASSISTANCE_PAID] = maf
        trace.append(
            f"medical assistance {pct(assist_bp)} of in-scope personal burden {yuan(burden)}"
            f" (cap left {yuan(assist_left)}) = {yuan(maf)}"
        )
    return maf, notes, acct_current, acct_prior


def _price_lines(
    policy: CompiledPolicy,
    items: Sequence[m.CatalogueItem],
    diseases: Sequence[str],
    c: list[int],
    lines: list[list[int]],
    line_out: list[list[int]],
    trace: list[str],
) -> bool:
    """§5 step 3 with the §6 line checks; returns True when a line is malformed."""
    bad = False
    setting = c[m.CI_SETTING]
    registered = {x for x in c[m.CI_CHRONIC_0 : m.CI_CHRONIC_0 + m.CHRONIC_SLOTS] if x >= 0}
    R = m.LineReason
    for n, (ln, lo) in enumerate(zip(lines, line_out, strict=True), start=1):
        item_no = ln[m.LI_ITEM]
        amount, price, qty = ln[m.LI_AMOUNT], ln[m.LI_UNIT_PRICE], ln[m.LI_QTY]
        if amount < 0 or price < 0 or qty < 0 or item_no < -1 or item_no >= len(items):
            bad = True
            lo[m.LO_STATUS] = m.LineStatus.REJECTED
            trace.append(f"line {n}: malformed")
            continue
        item = items[item_no] if item_no >= 0 else None
        label = item.code if item else "(not in catalogue)"
        day = ln[m.LI_DAY] if ln[m.LI_DAY] >= 0 else c[m.CI_SERVICE_DAY]
        reasons = R(0)
        if ln[m.LI_DUP_SEEN]:
            reasons |= R.DUPLICATE_CHARGE
        if ln[m.LI_PRACTITIONER_SUSPENDED]:
            reasons |= R.PRACTITIONER_SUSPENDED
        if c[m.CI_DISCHARGE_ORDER_DAY] >= 0 and day > c[m.CI_DISCHARGE_ORDER_DAY]:
            reasons |= R.AFTER_DISCHARGE_ORDER
        if ln[m.LI_PREV_FILL_DAY] >= 0:
            last_days = ln[m.LI_PREV_FILL_DAYS]
            still = ln[m.LI_PREV_FILL_DAY] + last_days - day
            if still * 10000 > policy.refill_remaining_max_bp * last_days:
                reasons |= R.REFILL_TOO_SOON
        if item is not None:
            if item.kind == m.ItemKind.NON_MEDICAL and setting == m.Setting.PHARMACY:
                reasons |= R.NON_MEDICAL
            if ln[m.LI_IN_DISCHARGE_ORDER] and item.kind == m.ItemKind.SERVICE:
                reasons |= R.AFTER_DISCHARGE_ORDER
            if item.kind == m.ItemKind.DRUG:
                limit = None
                cid = disease_id_in(diseases, item.chronic_disease) if item.chronic_disease else -1
                if ln[m.LI_IN_DISCHARGE_ORDER]:
                    limit = policy.discharge_days_max
                elif cid >= 0 and cid in registered:
                    limit = policy.registered_chronic_days_max
                elif item.supply_class == m.SupplyClass.CHRONIC:
                    limit = policy.chronic_days_max
                elif item.supply_class == m.SupplyClass.ACUTE:
                    limit = policy.acute_days_max
                if limit is not None and ln[m.LI_DAYS_SUPPLY] > limit:
                    reasons |= R.OVER_QUANTITY
            if item.sex != m.Sex.UNKNOWN and item.sex != c[m.CI_SEX]:
                reasons |= R.RESTRICTED_SEX
            age = c[m.CI_AGE_YEARS]
            if (item.age_min >= 0 and age < item.age_min) or (
                item.age_max >= 0 and age > item.age_max
            ):
                reasons |= R.RESTRICTED_AGE
            if item.settings and setting not in {int(s) for s in item.settings}:
                reasons |= R.RESTRICTED_SETTING
        if reasons & m.REJECTING_REASONS:
            lo[m.LO_STATUS] = m.LineStatus.REJECTED
            lo[m.LO_REASONS] = int(reasons)
            trace.append(
                f"line {n} {label} {yuan(amount)}: REJECTED"
                f" {', '.join(m.reason_names(int(reasons)))}"
            )
            continue
        if c[m.CI_BENEFIT_START_DAY] >= 0 and day < c[m.CI_BENEFIT_START_DAY]:
            lo[m.LO_FULAMT_OWNPAY] = amount
            lo[m.LO_REASONS] = int(R.NOT_YET_COVERED)
            lo[m.LO_STATUS] = m.LineStatus.SELF_PAY
            trace.append(
                f"line {n} {label} {yuan(amount)} dated {m.from_day_number(day)}, before the"
                f" benefit start {m.from_day_number(c[m.CI_BENEFIT_START_DAY])}: not covered,"
                " fully self-paid [NOT_YET_COVERED]"
            )
            continue
        inscope = 0
        if item is None:
            reasons |= R.NOT_IN_CATALOGUE
            lo[m.LO_FULAMT_OWNPAY] = amount
        elif item.item_class == m.ItemClass.C or item.kind == m.ItemKind.NON_MEDICAL:
            lo[m.LO_FULAMT_OWNPAY] = amount
        else:
            over = 0
            if item.price_cap_fen >= 0 and price > item.price_cap_fen:
                over = min(amount, (price - item.price_cap_fen) * qty)
                reasons |= R.PRICE_OVER_CAP
            capped = amount - over
            pre = apply_bp(capped, item.preselfpay_bp) if item.item_class == m.ItemClass.B else 0
            inscope = capped - pre
            lo[m.LO_OVERLMT_SELFPAY] = over
            lo[m.LO_PRESELFPAY] = pre
            lo[m.LO_INSCP] = inscope
        lo[m.LO_REASONS] = int(reasons)
        lo[m.LO_STATUS] = m.LineStatus.PAID if inscope > 0 else m.LineStatus.SELF_PAY
        trace.append(
            f"line {n} {label} {yuan(price)} x {qty} = {yuan(amount)}: self-paid"
            f" {yuan(lo[m.LO_FULAMT_OWNPAY])},"
            f" over cap {yuan(lo[m.LO_OVERLMT_SELFPAY])}, pay-first {yuan(lo[m.LO_PRESELFPAY])},"
            f" in scope {yuan(inscope)}"
            + (f" [{', '.join(m.reason_names(int(reasons)))}]" if reasons else "")
        )
    return bad


def check_invariants(
    policy: CompiledPolicy,
    rule: Rule,
    c: list[int],
    lines: list[list[int]],
    line_out: list[list[int]],
    out: list[int],
    cap_before: int,
) -> int:
    """The invariants (docs/benefit-rules.md §9) of one claim: the number of the first
    broken one, or 0."""
    kept = [
        (ln, lo)
        for ln, lo in zip(lines, line_out, strict=True)
        if lo[m.LO_STATUS] != m.LineStatus.REJECTED
    ]
    parts = (m.LO_FULAMT_OWNPAY, m.LO_OVERLMT_SELFPAY, m.LO_PRESELFPAY, m.LO_INSCP)
    if any(sum(lo[p] for p in parts) != ln[m.LI_AMOUNT] for ln, lo in kept):
        return m.ERR_PRICING_SUM
    totals = [sum(lo[p] for _, lo in kept) for p in parts]
    if totals != [
        out[m.CO_FULAMT_OWNPAY],
        out[m.CO_OVERLMT_SELFPAY],
        out[m.CO_PRESELFPAY],
        out[m.CO_INSCP],
    ] or (out[m.CO_MEDFEE] != sum(totals)):
        return m.ERR_PRICING_SUM
    if out[m.CO_MEDFEE] != out[m.CO_FUND_PAY_SUM] + out[m.CO_PSN_PART]:
        return m.ERR_FUND_PLUS_PERSONAL
    if out[m.CO_PSN_PART] != out[m.CO_ACCT_PAY] + out[m.CO_CASH] or (
        out[m.CO_ACCT_PAY] != out[m.CO_ACCT_CURRENT_PAY] + out[m.CO_ACCT_PRIOR_PAY]
    ):
        return m.ERR_PERSONAL_SPLIT
    if (
        out[m.CO_FUND_PAY_SUM]
        != out[m.CO_HIFP] + out[m.CO_SUPPLEMENTARY] + out[m.CO_HIFMI] + out[m.CO_MAF]
    ):
        return m.ERR_FUND_SUM
    if any(out[q] < 0 for q in range(m.CO_MEDFEE, m.CO_NOTES)) or any(
        out[q] < 0 for q in range(m.CO_D_OUTPATIENT_BAND_USED, m.CO_ERROR)
    ):
        return m.ERR_NEGATIVE
    if (
        out[m.CO_ACCT_CURRENT_PAY] > c[m.CI_ACCT_CURRENT]
        or out[m.CO_ACCT_PRIOR_PAY] > c[m.CI_ACCT_PRIOR]
    ):
        return m.ERR_NEGATIVE
    if rule.fund_cap_fen >= 0:
        d = (
            out[m.CO_D_POOLED_PAID]
            if rule.fund_cap_counter == COUNTER_POOLED
            else out[m.CO_D_OUTPATIENT_FUND_PAID]
        )
        if d > max(0, rule.fund_cap_fen - cap_before):
            return m.ERR_POOLED_CAP
    if rule.override_cap_fen >= 0 and out[m.CO_D_POOLED_PAID] > max(
        0, rule.override_cap_fen - c[m.CI_POOLED_PAID]
    ):
        return m.ERR_POOLED_CAP
    if out[m.CO_D_ASSISTANCE_PAID] > max(
        0, policy.assistance_cap_fen - c[m.CI_ASSISTANCE_PAID]
    ) or (out[m.CO_MAF] != out[m.CO_D_ASSISTANCE_PAID]):
        return m.ERR_ASSISTANCE_CAP
    return 0


_ = FUND_SUPPLEMENTARY  # the fund ids are used through FUND_LABEL / rule fields
