"""``claimgate policy ...``: check a policy file, or explain a claim step by step.

    claimgate policy check FILE
    claimgate policy explain --claim CLAIM.json [--policy FILE] [--catalogue FILE.csv]
    claimgate policy explain --settlement S...   (gateway.explain: a committed settlement)

The claim description is JSON (see ``examples/worked_example.json``): member
fields, setting, accumulators and lines with catalogue item codes. Without
``--catalogue`` a small built-in demo catalogue is used.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from . import REFERENCE_POLICY_PATH
from . import model as m
from .catalogue import DEMO_CATALOGUE, load_catalogue_csv
from .policy import PolicyError, load_policy_file
from .reference import evaluate, yuan
from .rows import claim_row, line_row

_ACCUMULATORS = {
    "outpatient_band_used_fen": m.CI_OUTPATIENT_BAND_USED,
    "deductible_paid_fen": m.CI_DEDUCTIBLE_PAID,
    "pooled_paid_fen": m.CI_POOLED_PAID,
    "banded_cost_fen": m.CI_BANDED_COST,
    "assistance_paid_fen": m.CI_ASSISTANCE_PAID,
    "outpatient_fund_paid_fen": m.CI_OUTPATIENT_FUND_PAID,
}


def policy_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="claimgate policy", description="Check, explain or publish a benefit policy."
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    # Served by gateway.cli (it reaches Redis); listed here so that --help names it.
    sub.add_parser("publish", help="make a policy file the current version in Redis "
                   "(claimgate policy publish --help)")
    check = sub.add_parser("check", help="validate a policy file and print a summary")
    check.add_argument("file")
    explain = sub.add_parser("explain", help="adjudicate one claim and print every step")
    what = explain.add_mutually_exclusive_group(required=True)
    what.add_argument("--claim", help="claim description (JSON)")
    what.add_argument("--settlement", metavar="SETTLEMENT_ID",
                      help="a committed settlement (S...): its stored record replayed under "
                      "the policy version it used; reads Redis like the other commands "
                      "(--redis-url, --data-dir)")
    explain.add_argument("--policy", default=str(REFERENCE_POLICY_PATH))
    explain.add_argument("--catalogue", help="catalogue CSV (default: the built-in demo catalogue)")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "check":
            return _check(args.file)
        if args.settlement:  # `claimgate policy` hands --settlement to gateway.explain
            parser.error("--settlement reads the gateway's Redis: run it as "
                         "`claimgate policy explain --settlement S...`")
        return _explain(args.claim, args.policy, args.catalogue)
    except PolicyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def _check(path: str) -> int:
    p = load_policy_file(path)
    print(f"{Path(path).name}: OK, policy version {p.version}")
    for scheme, groups in p.groups.items():
        kind = "cohorts" if p.named_cohorts[scheme] else "person types"
        print(f"  {scheme.name}: {kind} {', '.join(groups)}")
        for setting in m.Setting:
            r = p.rules[(scheme, setting, 0, 1)]
            payment = {0: "personal", 1: "fund first", 2: "account first"}[r.payment]
            bands = ", ".join(f"{b.ratio_bp}bp" for b in r.bands) or "-"
            print(f"    {setting.name:<17} {payment:<13} ratios (first group, level 1): {bands}")
    print(f"  rules: {len(p.rules)}; packed table: {p.table.size} int64")
    return 0


def _day(s: str | None) -> int:
    return m.day_number(dt.date.fromisoformat(s)) if s else m.NONE


def build_claim(
    doc: dict[str, Any], item_index: dict[str, int], disease_id: Any, diag_flags: Any
) -> tuple[list[int], list[list[int]]]:
    """CI_* / LI_* rows of a JSON claim description."""
    service = dt.date.fromisoformat(doc["service_date"])
    birth = dt.date.fromisoformat(doc["birth_date"])
    chronic = tuple(i for i in (disease_id(c) for c in doc.get("chronic", [])) if i >= 0)
    fields: dict[str, int] = dict(
        setting=int(m.Setting[doc["setting"]]),
        inst_kind=int(m.InstitutionKind[doc.get("institution_kind", "HOSPITAL")]),
        inst_level=int(doc.get("institution_level", 0)),
        service_day=m.day_number(service),
        scheme=int(m.Scheme[doc["scheme"]]),
        person_type=int(m.PersonType[doc["person_type"]]),
        sex=int(m.Sex[doc.get("sex", "UNKNOWN")]),
        age_years=m.age_years(birth, service),
        birth_day=m.day_number(birth),
        work_start_day=_day(doc.get("work_start_date")),
        retire_day=_day(doc.get("retire_date")),
        assistance=int(m.Assistance[doc.get("assistance", "NONE")]),
        referral=int(m.Referral[doc.get("referral", "NONE")]),
        remote=int(bool(doc.get("remote", False))),
        remote_registered=int(bool(doc.get("remote_registered", False))),
        emergency=int(bool(doc.get("emergency", False))),
        diag_flags=diag_flags(doc.get("diagnosis", "")),
        use_account=int(bool(doc.get("use_account", False))),
        discharge_order_day=_day(doc.get("discharge_order_date")),
        acct_current=int(doc.get("acct_current_fen", 0)),
        acct_prior=int(doc.get("acct_prior_fen", 0)),
        benefit_start_day=_day(doc.get("benefit_start_date")),
    )
    row = claim_row(chronic_ids=chronic, **fields)
    for key, v in doc.get("accumulators", {}).items():
        if key not in _ACCUMULATORS:
            raise ValueError(f"unknown accumulator {key!r} (one of {sorted(_ACCUMULATORS)})")
        row[_ACCUMULATORS[key]] = int(v)
    lines = []
    for ln in doc["lines"]:
        lines.append(
            line_row(
                item_index.get(ln["item"], -1),
                int(ln["unit_price_fen"]),
                int(ln.get("qty", 1)),
                days_supply=int(ln.get("days_supply", 0)),
                day=_day(ln.get("date")),
                in_discharge_order=int(bool(ln.get("in_discharge_order", False))),
                practitioner_suspended=int(bool(ln.get("practitioner_suspended", False))),
                dup_seen=int(bool(ln.get("duplicate", False))),
                prev_fill_day=_day(ln.get("prev_fill_date")),
                prev_fill_days=int(ln.get("prev_fill_days", 0)),
            )
        )
    return row, lines


def _explain(claim_path: str, policy_path: str, catalogue_path: str | None) -> int:
    from .engine import Engine

    policy = load_policy_file(policy_path)
    items = load_catalogue_csv(catalogue_path) if catalogue_path else list(DEMO_CATALOGUE)
    engine = Engine(policy, items)
    doc = json.loads(Path(claim_path).read_text(encoding="utf-8"))
    row, lines = build_claim(doc, engine.item_index, engine.disease_id, engine.diagnosis_flags)
    return explain_rows(engine, row, lines)


def explain_rows(
    engine: Any, row: list[int], lines: list[list[int]], *, result: list[int] | None = None
) -> int:
    """Print every step of one claim's computation (CI_* row, LI_* rows) under the
    engine's policy and catalogue; the exit status (0: the kernel agrees). ``result``
    receives the CO_* row."""
    from .rows import batch

    policy, items = engine.policy, engine.items
    out, line_out, trace = evaluate(policy, items, row, lines)
    if result is not None:
        result[:] = out
    cohort = engine.cohort_of(row)
    print(f"policy {policy.version}; member cohort {cohort or '-'}")
    for n, step in enumerate(trace, start=1):
        print(f"{n:3d}. {step}")
    print("result:")
    for name in (
        "CO_MEDFEE",
        "CO_FULAMT_OWNPAY",
        "CO_OVERLMT_SELFPAY",
        "CO_PRESELFPAY",
        "CO_INSCP",
        "CO_REFERRAL_PAYFIRST",
        "CO_DEDUCTIBLE",
        "CO_BAND_SELFPAY",
        "CO_HIFP",
        "CO_SUPPLEMENTARY",
        "CO_HIFMI",
        "CO_MAF",
        "CO_FUND_PAY_SUM",
        "CO_ACCT_CURRENT_PAY",
        "CO_ACCT_PRIOR_PAY",
        "CO_CASH",
    ):
        print(f"  {name[3:].lower():<20} {yuan(out[getattr(m, name)]):>14}")
    notes = m.note_names(out[m.CO_NOTES])
    if notes:
        print(f"  notes: {', '.join(notes)}")
    c, li, off = batch([(row, lines)])
    k_out, k_lines = engine.adjudicate(c, li, off)
    agree = k_out[0].tolist() == out and k_lines.tolist() == line_out
    print(f"kernel agrees with the reference: {'yes' if agree else 'NO'}")
    if out[m.CO_ERROR]:
        print(f"error: invariant {out[m.CO_ERROR]} broken", file=sys.stderr)
        return 1
    return 0 if agree else 1


def main() -> None:  # pragma: no cover - convenience: python -m rules_compiled.cli
    raise SystemExit(policy_main(sys.argv[1:]))


if __name__ == "__main__":  # pragma: no cover
    main()
