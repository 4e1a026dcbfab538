"""Policy file (TOML) -> compiled policy: the compiler of a policy file into validated
Python rules plus the packed table.

The policy format is described in the header of ``policies/reference.toml``.
Compilation expands every (scheme, setting, cohort, institution level) into
one :class:`~rules_compiled.compiled_policy.Rule`, checks it, and packs everything the
kernels need into ONE int64 vector (:attr:`CompiledPolicy.table`, layout in
:mod:`rules_compiled.policy_table`), because numba's dispatch cost grows with the
number of arguments. What a policy compiles to is :mod:`rules_compiled.compiled_policy`.

A bad policy raises :class:`PolicyError` naming the file and the key, e.g.
``reference.toml: emp.inpatient.bands[1]: bands overlap or are unordered``.
"""

from __future__ import annotations

import datetime as _dt
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .compiled_policy import (
    BP_FULL,
    BUCKET_CURRENT,
    BUCKET_PRIOR,
    COUNTER_NAMES,
    COUNTER_POOLED,
    DAY_MAX,
    DAY_MIN,
    DED_NONE,
    DED_PER_NAMES,
    FUND_NAMES,
    INF_FEN,
    PAY_ACCOUNT_FIRST,
    PAY_PERSONAL,
    PAYMENT_NAMES,
    SCHEME_KEYS,
    SCHEME_PERSON_TYPES,
    SETTING_KEYS,
    Band,
    CohortBox,
    CompiledPolicy,
    Rule,
)
from .diagnosis import normalise_code
from .limits import DAYS_SUPPLY_MAX, DIAGNOSIS_CODE
from .model import Assistance, DiagnosisFlag, PersonType, Scheme, Setting, day_number
from .policy_table import MAX_BANDS, _pack


# ------------------------------------------------------------------ compiler
class PolicyError(ValueError):
    """A policy file that does not compile; the message names the file and the key."""


class _Ctx:
    def __init__(self, source: str) -> None:
        self.source = source

    def err(self, key: str, msg: str) -> PolicyError:
        return PolicyError(f"{self.source}: {key}: {msg}")

    def table(self, d: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        if key not in d:
            raise self.err(_join(path, key), "missing key")
        v = d[key]
        if not isinstance(v, dict):
            raise self.err(_join(path, key), "must be a table")
        return v

    def int_(
        self,
        d: Mapping[str, Any],
        key: str,
        path: str,
        *,
        default: int | None = None,
        lo: int = 0,
        hi: int | None = None,
    ) -> int:
        if key not in d:
            if default is None:
                raise self.err(_join(path, key), "missing key")
            return default
        v = d[key]
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.err(_join(path, key), f"must be an integer, not {v!r}")
        return self.check_int(v, _join(path, key), lo, hi)

    def check_int(self, v: int, path: str, lo: int, hi: int | None) -> int:
        if v < lo:
            raise self.err(path, f"{v} is negative" if lo == 0 else f"{v} is below {lo}")
        if hi is not None and v > hi:
            what = "ratio" if hi == BP_FULL else "value"
            raise self.err(path, f"{what} {v} is over {hi}")
        return v

    def bool_(self, d: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
        v = d.get(key, default)
        if not isinstance(v, bool):
            raise self.err(_join(path, key), "must be true or false")
        return v

    def str_list(self, d: Mapping[str, Any], key: str, path: str) -> list[str]:
        if key not in d:
            raise self.err(_join(path, key), "missing key")
        v = d[key]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self.err(_join(path, key), "must be a list of strings")
        return list(v)

    def no_unknown(
        self, d: Mapping[str, Any], allowed: Iterable[str], path: str, what: str = "key"
    ) -> None:
        allowed_set = set(allowed)
        for k in d:
            if k not in allowed_set:
                raise self.err(_join(path, k), f"unknown {what}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_SETTING_VALUE_KEYS = {
    "payment",
    "account_buckets",
    "referral",
    "deductible_fen",
    "deductible_remote_fen",
    "deductible_per",
    "self_pay_band_fen",
    "band_fund",
    "ratio_bp",
    "bands",
    "bands_cumulative",
    "fund_cap_fen",
    "fund_cap_counter",
    "above_cap_fund",
    "above_cap_ratio_bp",
    "overrides_count_against_cap",
    "override_cap_fen",
}
_WHEN_SELECTORS = {"cohorts", "levels"}
_BOX_KEYS = ("birth", "work_start", "retire")


def _day(ctx: _Ctx, v: Any, path: str) -> int:
    if isinstance(v, _dt.datetime) or not isinstance(v, _dt.date):
        raise ctx.err(path, f"must be a date (YYYY-MM-DD), not {v!r}")
    return day_number(v)


def _compile_cohorts(
    ctx: _Ctx, scheme: Scheme, sdoc: Mapping[str, Any], path: str
) -> tuple[tuple[str, ...], bool, list[CohortBox]]:
    ptypes_names = ctx.str_list(sdoc, "person_types", path)
    allowed = {p.name: p for p in SCHEME_PERSON_TYPES[scheme]}
    ptypes: list[PersonType] = []
    for i, n in enumerate(ptypes_names):
        if n not in allowed:
            raise ctx.err(
                f"{path}.person_types[{i}]", f"unknown person type {n!r} for {scheme.name}"
            )
        ptypes.append(allowed[n])
    if set(ptypes) != set(allowed.values()) or len(ptypes) != len(allowed):
        raise ctx.err(f"{path}.person_types", f"must list each of {sorted(allowed)} once")
    if "cohorts" not in sdoc:
        boxes = [
            CohortBox(scheme, p, g, (DAY_MIN, DAY_MAX), (DAY_MIN, DAY_MAX), (DAY_MIN, DAY_MAX))
            for g, p in enumerate(ptypes)
        ]
        return tuple(p.name for p in ptypes), False, boxes
    cdoc = ctx.table(sdoc, "cohorts", path)
    names: list[str] = []
    boxes = []
    for g, (name, c) in enumerate(cdoc.items()):
        cpath = f"{path}.cohorts.{name}"
        if not isinstance(c, dict):
            raise ctx.err(cpath, "must be a table")
        ctx.no_unknown(c, {"person_type", "when"}, cpath)
        pt_name = c.get("person_type")
        if pt_name not in allowed:
            raise ctx.err(f"{cpath}.person_type", f"missing or unknown person type {pt_name!r}")
        when = c.get("when")
        if not isinstance(when, list) or not when:
            raise ctx.err(f"{cpath}.when", "missing key (a non-empty list of date ranges)")
        nonempty = False
        for j, w in enumerate(when):
            wpath = f"{cpath}.when[{j}]"
            if not isinstance(w, dict):
                raise ctx.err(wpath, "must be a table")
            ctx.no_unknown(w, {f"{k}_{e}" for k in _BOX_KEYS for e in ("from", "to")}, wpath)
            rng: list[tuple[int, int]] = []
            for k in _BOX_KEYS:
                lo = _day(ctx, w[f"{k}_from"], f"{wpath}.{k}_from") if f"{k}_from" in w else DAY_MIN
                hi = _day(ctx, w[f"{k}_to"], f"{wpath}.{k}_to") if f"{k}_to" in w else DAY_MAX
                rng.append((lo, hi))
            if all(lo <= hi for lo, hi in rng):
                nonempty = True
                boxes.append(CohortBox(scheme, allowed[pt_name], g, rng[0], rng[1], rng[2]))
        if not nonempty:
            raise ctx.err(cpath, "cohort matches nobody (every date range is empty)")
        names.append(name)
    if len(names) > 64:
        raise ctx.err(f"{path}.cohorts", "too many cohorts")
    for p in ptypes:
        _check_partition(ctx, [b for b in boxes if b.person_type == p], names, f"{path}.cohorts", p)
    return tuple(names), True, boxes


def _check_partition(
    ctx: _Ctx, boxes: list[CohortBox], names: list[str], path: str, ptype: PersonType
) -> None:
    """The cohorts of one person type must cover the date space exactly once."""
    if not boxes:
        raise ctx.err(path, f"no cohort for person type {ptype.name}")
    cuts: list[list[int]] = []
    for d in range(3):
        pts = {DAY_MIN, DAY_MAX + 1}
        for b in boxes:
            lo, hi = (b.birth, b.work_start, b.retire)[d]
            pts.add(lo)
            pts.add(hi + 1)
        cuts.append(sorted(pts))
    for x in cuts[0][:-1]:
        for y in cuts[1][:-1]:
            for z in cuts[2][:-1]:
                hits = [b for b in boxes if b.contains(x, y, z)]
                where = f"birth {_fmt_day(x)}, work start {_fmt_day(y)}, retirement {_fmt_day(z)}"
                if not hits:
                    raise ctx.err(path, f"no cohort of {ptype.name} matches {where}")
                if len(hits) > 1:
                    both = " and ".join(sorted({names[b.group] for b in hits}))
                    raise ctx.err(path, f"cohorts are ambiguous: {both} all match {where}")


def _fmt_day(n: int) -> str:
    if n <= DAY_MIN:
        return "-inf"
    if n > DAY_MAX:
        return "+inf"
    try:
        return (_dt.date(1970, 1, 1) + _dt.timedelta(days=n)).isoformat()
    except OverflowError:
        return str(n)


def _ratio_list(ctx: _Ctx, v: Any, path: str) -> list[int]:
    """`ratio_bp`: one integer, or a list of 3 by level."""
    if isinstance(v, bool):
        raise ctx.err(path, "must be an integer or a list of 3 integers by level")
    if isinstance(v, int):
        return [ctx.check_int(v, path, 0, BP_FULL)] * 3
    if (
        isinstance(v, list)
        and len(v) == 3
        and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
    ):
        return [ctx.check_int(x, f"{path}[{i}]", 0, BP_FULL) for i, x in enumerate(v)]
    raise ctx.err(path, "must be an integer or a list of 3 integers by level")


def _bands(ctx: _Ctx, v: Any, path: str) -> tuple[Band, ...]:
    if not isinstance(v, list) or not v:
        raise ctx.err(path, "must be a non-empty list of bands")
    if len(v) > MAX_BANDS:
        raise ctx.err(path, f"at most {MAX_BANDS} bands")
    out: list[Band] = []
    for i, b in enumerate(v):
        bpath = f"{path}[{i}]"
        if not isinstance(b, dict):
            raise ctx.err(bpath, "must be a table")
        ctx.no_unknown(b, {"from_fen", "to_fen", "ratio_bp"}, bpath)
        lo = ctx.int_(b, "from_fen", bpath)
        hi = ctx.int_(b, "to_fen", bpath, default=INF_FEN)
        bp = ctx.int_(b, "ratio_bp", bpath, hi=BP_FULL)
        if hi >= INF_FEN and i != len(v) - 1:
            raise ctx.err(bpath, "only the last band may be unbounded (no to_fen)")
        prev_to = out[-1].to_fen if out else 0
        if lo >= hi or lo != prev_to:
            raise ctx.err(
                bpath,
                "bands overlap or are unordered"
                if lo < prev_to or lo >= hi
                else "bands leave a gap (each band must start where the previous ends, the"
                " first at 0)",
            )
        out.append(Band(lo, hi, bp))
    return tuple(out)


def _resolve_rule(
    ctx: _Ctx, vals: Mapping[str, Any], src: Mapping[str, str], path: str, level: int
) -> Rule:
    """Turn the merged key values of one (cohort, level) into a checked Rule.

    ``src`` maps each key to the table it came from (the setting or one of its
    ``when`` entries), so an error names the key where the reader wrote it.
    """

    def kp(key: str) -> str:
        return f"{src.get(key, path)}.{key}"

    payment_name = vals.get("payment")
    if payment_name is None:
        raise ctx.err(kp("payment"), "missing key")
    if payment_name not in PAYMENT_NAMES:
        raise ctx.err(
            kp("payment"),
            f"unknown payment order {payment_name!r} (one of {sorted(PAYMENT_NAMES)})",
        )
    payment = PAYMENT_NAMES[payment_name]
    buckets = vals.get("account_buckets")
    if buckets is None:
        raise ctx.err(kp("account_buckets"), "missing key")
    if not isinstance(buckets, list) or any(b not in ("current", "prior") for b in buckets):
        raise ctx.err(kp("account_buckets"), "must be a list of 'current' / 'prior'")
    if len(set(buckets)) != len(buckets) or buckets == ["prior", "current"]:
        raise ctx.err(
            kp("account_buckets"), "buckets are used current first, then prior, each once"
        )
    mask = (BUCKET_CURRENT if "current" in buckets else 0) | (
        BUCKET_PRIOR if "prior" in buckets else 0
    )

    def geti(key: str, default: int | None, hi: int | None = None) -> int:
        return ctx.int_(vals, key, src.get(key, path), default=default, hi=hi)

    bands: tuple[Band, ...] = ()
    if payment != PAY_PERSONAL:
        if ("bands" in vals) == ("ratio_bp" in vals):
            raise ctx.err(kp("bands"), "missing key (give exactly one of bands / ratio_bp)")
        if "bands" in vals:
            bands = _bands(ctx, vals["bands"], kp("bands"))
        else:
            r = _ratio_list(ctx, vals["ratio_bp"], kp("ratio_bp"))[max(level, 1) - 1]
            bands = (Band(0, INF_FEN, r),)
    ded_per_name = vals.get("deductible_per", "year")
    if ded_per_name not in DED_PER_NAMES:
        raise ctx.err(kp("deductible_per"), "must be 'year' or 'admission'")
    ded = geti("deductible_fen", 0)
    ded_remote = geti("deductible_remote_fen", ded)
    band_fund_name = vals.get("band_fund", "pooled")
    if band_fund_name not in FUND_NAMES:
        raise ctx.err(kp("band_fund"), f"unknown fund {band_fund_name!r}")
    cap = geti("fund_cap_fen", 0) if "fund_cap_fen" in vals else -1
    counter_name = vals.get("fund_cap_counter", "pooled")
    if counter_name not in COUNTER_NAMES:
        raise ctx.err(kp("fund_cap_counter"), f"unknown counter {counter_name!r}")
    above_name = vals.get("above_cap_fund")
    above = -1
    if above_name is not None:
        if above_name not in FUND_NAMES:
            raise ctx.err(kp("above_cap_fund"), f"unknown fund {above_name!r}")
        above = FUND_NAMES[above_name]
        if "above_cap_ratio_bp" not in vals:
            raise ctx.err(kp("above_cap_ratio_bp"), "missing key")
    above_bp = geti("above_cap_ratio_bp", 0, BP_FULL)
    self_band = geti("self_pay_band_fen", 0)
    if payment == PAY_ACCOUNT_FIRST and ded:
        raise ctx.err(
            kp("deductible_fen"), "an account-first setting has a self-pay band, not a deductible"
        )
    if payment != PAY_ACCOUNT_FIRST and self_band:
        raise ctx.err(kp("self_pay_band_fen"), "only an account-first setting has a self-pay band")
    # Item overrides count against the pooled cap: `overrides_count_against_cap` uses the
    # setting's own fund cap (counter "pooled"); `override_cap_fen` names it where the
    # setting's band fund has no pooled cap (EMP OUTPATIENT).
    ov_counts = ctx.bool_(
        vals, "overrides_count_against_cap", src.get("overrides_count_against_cap", path), False
    )
    pooled_counter = COUNTER_NAMES[counter_name] == COUNTER_POOLED
    ov_cap = geti("override_cap_fen", 0) if "override_cap_fen" in vals else -1
    if ov_cap >= 0 and cap >= 0 and pooled_counter and ov_cap != cap:
        raise ctx.err(
            kp("override_cap_fen"), "must equal fund_cap_fen: both are the same pooled cap"
        )
    if ov_counts and ov_cap < 0:
        if cap < 0 or not pooled_counter:
            raise ctx.err(
                kp("overrides_count_against_cap"),
                "needs a pooled cap: fund_cap_fen with fund_cap_counter 'pooled',"
                " or override_cap_fen",
            )
        ov_cap = cap
    return Rule(
        payment=payment,
        account_mask=mask,
        referral=ctx.bool_(vals, "referral", src.get("referral", path), False)
        and payment != PAY_PERSONAL,
        deductible_fen=ded,
        deductible_remote_fen=ded_remote,
        deductible_per=DED_PER_NAMES[ded_per_name] if (ded or ded_remote) else DED_NONE,
        self_pay_band_fen=self_band,
        band_fund=FUND_NAMES[band_fund_name],
        bands=bands,
        bands_cumulative=ctx.bool_(
            vals, "bands_cumulative", src.get("bands_cumulative", path), False
        ),
        fund_cap_fen=cap,
        fund_cap_counter=COUNTER_NAMES[counter_name],
        above_cap_fund=above,
        above_cap_ratio_bp=above_bp,
        override_cap_fen=ov_cap if payment != PAY_PERSONAL else -1,
    )


def _compile_setting(
    ctx: _Ctx,
    scheme: Scheme,
    setting: Setting,
    doc: Mapping[str, Any],
    path: str,
    groups: tuple[str, ...],
) -> dict[tuple[Scheme, Setting, int, int], Rule]:
    ctx.no_unknown(doc, _SETTING_VALUE_KEYS | {"when"}, path)
    base = {k: v for k, v in doc.items() if k != "when"}
    whens = doc.get("when", [])
    if not isinstance(whens, list):
        raise ctx.err(f"{path}.when", "must be an array of tables ([[...when]])")
    parsed: list[tuple[set[int], set[int], dict[str, Any], str]] = []
    for j, w in enumerate(whens):
        wpath = f"{path}.when[{j}]"
        if not isinstance(w, dict):
            raise ctx.err(wpath, "must be a table")
        ctx.no_unknown(w, _SETTING_VALUE_KEYS | _WHEN_SELECTORS, wpath)
        sel_groups = set(range(len(groups)))
        if "cohorts" in w:
            names = ctx.str_list(w, "cohorts", wpath)
            for n in names:
                if n not in groups:
                    raise ctx.err(
                        f"{wpath}.cohorts", f"unknown cohort {n!r} (one of {list(groups)})"
                    )
            sel_groups = {groups.index(n) for n in names}
        sel_levels = {1, 2, 3}
        if "levels" in w:
            lv = w["levels"]
            if (
                not isinstance(lv, list)
                or not lv
                or any(x not in (1, 2, 3) or isinstance(x, bool) for x in lv)
            ):
                raise ctx.err(f"{wpath}.levels", "must be a list of levels 1, 2, 3")
            sel_levels = set(lv)
        parsed.append(
            (
                sel_groups,
                sel_levels,
                {k: v for k, v in w.items() if k not in _WHEN_SELECTORS},
                wpath,
            )
        )
    out: dict[tuple[Scheme, Setting, int, int], Rule] = {}
    for g in range(len(groups)):
        for level in (1, 2, 3):
            vals = dict(base)
            src = {k: path for k in base}
            for sel_g, sel_l, over, wpath in parsed:
                if g in sel_g and level in sel_l:
                    vals.update(over)
                    src.update({k: wpath for k in over})
                    if "bands" in over:  # bands and ratio_bp replace each other
                        vals.pop("ratio_bp", None)
                    if "ratio_bp" in over:
                        vals.pop("bands", None)
            rule = _resolve_rule(ctx, vals, src, path, level)
            if setting == Setting.PHARMACY and rule.payment != PAY_PERSONAL:
                raise ctx.err(
                    f"{path}.payment", "a pharmacy pays no fund: payment must be 'personal'"
                )
            out[(scheme, setting, g, level)] = rule
            if level == 1:
                out[(scheme, setting, g, 0)] = rule
    return out


def compile_policy(text: str, source: str) -> CompiledPolicy:
    """Compile policy TOML ``text``; ``source`` (a file name) prefixes every error message."""
    name = Path(source).name or source
    ctx = _Ctx(name)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"{name}: not valid TOML: {e}") from None
    ctx.no_unknown(
        doc,
        {
            "version",
            "description",
            "general",
            "assistance",
            "days_supply",
            "ledger",
            "diagnoses",
            "emp",
            "res",
        },
        "",
        "top-level key (or unknown scheme)",
    )
    version = doc.get("version")
    if not isinstance(version, str) or not version.strip():
        raise ctx.err("version", "missing key (a non-empty string)")
    gen = ctx.table(doc, "general", "")
    ctx.no_unknown(
        gen,
        {"referral_in_province_bp", "referral_out_of_province_bp", "remote_reduction_bp"},
        "general",
    )
    ref_in = ctx.int_(gen, "referral_in_province_bp", "general", hi=BP_FULL)
    ref_out = ctx.int_(gen, "referral_out_of_province_bp", "general", hi=BP_FULL)
    remote_cut = ctx.int_(gen, "remote_reduction_bp", "general", hi=BP_FULL)
    asd = ctx.table(doc, "assistance", "")
    ctx.no_unknown(asd, {"annual_cap_fen", "ratio_bp"}, "assistance")
    assist_cap = ctx.int_(asd, "annual_cap_fen", "assistance")
    assist_ratio_doc = ctx.table(asd, "ratio_bp", "assistance")
    ctx.no_unknown(
        assist_ratio_doc,
        [a.name for a in Assistance if a != Assistance.NONE],
        "assistance.ratio_bp",
        "assistance category",
    )
    assistance_bp = {int(Assistance.NONE): 0}
    for a in Assistance:
        if a != Assistance.NONE:
            assistance_bp[int(a)] = ctx.int_(
                assist_ratio_doc, a.name, "assistance.ratio_bp", hi=BP_FULL
            )
    ds = ctx.table(doc, "days_supply", "")
    ds_keys = (
        "acute_days_max",
        "chronic_days_max",
        "registered_chronic_days_max",
        "discharge_days_max",
        "refill_remaining_max_bp",
    )
    ctx.no_unknown(ds, ds_keys, "days_supply")
    dsv = {
        k: ctx.int_(ds, k, "days_supply", hi=BP_FULL if k.endswith("_bp") else DAYS_SUPPLY_MAX)
        for k in ds_keys
    }
    lg = ctx.table(doc, "ledger", "")
    lg_keys = ("reversal_window_days", "readmission_window_days", "settlements_per_day_max")
    ctx.no_unknown(lg, lg_keys, "ledger")
    ledger = {k: ctx.int_(lg, k, "ledger", hi=3660) for k in lg_keys}
    dg = ctx.table(doc, "diagnoses", "")
    ctx.no_unknown(
        dg, {"full_coverage", "excluded_cause", "major_outpatient", "chronic"}, "diagnoses"
    )
    for key in ("full_coverage", "excluded_cause", "major_outpatient", "chronic"):
        for i, c in enumerate(dg.get(key, [])):
            # The limits of a claim's diagnosis code (rules_compiled/limits.py).
            if isinstance(c, str) and c and (problem := DIAGNOSIS_CODE.problem(c)):
                raise ctx.err(f"diagnoses.{key}[{i}]", problem)
    diag = {
        int(DiagnosisFlag.FULL_COVERAGE): tuple(
            normalise_code(c) for c in ctx.str_list(dg, "full_coverage", "diagnoses")
        ),
        int(DiagnosisFlag.EXCLUDED_CAUSE): tuple(
            normalise_code(c) for c in ctx.str_list(dg, "excluded_cause", "diagnoses")
        ),
        int(DiagnosisFlag.MAJOR_OUTPATIENT): tuple(
            normalise_code(c) for c in ctx.str_list(dg, "major_outpatient", "diagnoses")
        ),
    }
    for key, codes in (
        ("full_coverage", diag[1]),
        ("excluded_cause", diag[2]),
        ("major_outpatient", diag[4]),
    ):
        for i, c in enumerate(codes):
            if not c:
                raise ctx.err(f"diagnoses.{key}[{i}]", "empty code prefix")
    chronic = tuple(normalise_code(c) for c in dg.get("chronic", []))
    if len(set(chronic)) != len(chronic) or any(not c for c in chronic):
        raise ctx.err("diagnoses.chronic", "codes must be non-empty and unique")

    groups: dict[Scheme, tuple[str, ...]] = {}
    named: dict[Scheme, bool] = {}
    boxes: list[CohortBox] = []
    rules: dict[tuple[Scheme, Setting, int, int], Rule] = {}
    for skey, scheme in SCHEME_KEYS.items():
        sdoc = ctx.table(doc, skey, "")
        ctx.no_unknown(sdoc, {"person_types", "cohorts"} | set(SETTING_KEYS), skey, "setting")
        g, nm, bx = _compile_cohorts(ctx, scheme, sdoc, skey)
        groups[scheme], named[scheme] = g, nm
        boxes.extend(bx)
        for setkey, setting in SETTING_KEYS.items():
            setdoc = ctx.table(sdoc, setkey, skey)
            rules.update(_compile_setting(ctx, scheme, setting, setdoc, f"{skey}.{setkey}", g))

    policy = CompiledPolicy(
        version=version.strip(),
        source=str(source),
        source_text=text,
        referral_bp={0: 0, 1: ref_in, 2: ref_out},
        remote_reduction_bp=remote_cut,
        assistance_bp=assistance_bp,
        assistance_cap_fen=assist_cap,
        acute_days_max=dsv["acute_days_max"],
        chronic_days_max=dsv["chronic_days_max"],
        registered_chronic_days_max=dsv["registered_chronic_days_max"],
        discharge_days_max=dsv["discharge_days_max"],
        refill_remaining_max_bp=dsv["refill_remaining_max_bp"],
        reversal_window_days=ledger["reversal_window_days"],
        readmission_window_days=ledger["readmission_window_days"],
        settlements_per_day_max=ledger["settlements_per_day_max"],
        diagnosis_prefixes=diag,
        chronic_codes=chronic,
        groups=groups,
        named_cohorts=named,
        cohorts=tuple(boxes),
        rules=rules,
        table=np.zeros(0, dtype=np.int64),
    )
    policy.table = _pack(policy)
    return policy


def load_policy_file(path: str | Path) -> CompiledPolicy:
    """Read and compile a policy file; errors name the file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise PolicyError(f"{p.name}: cannot read: {e.strerror}") from None
    return compile_policy(text, str(p))
