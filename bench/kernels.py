"""Rules-engine kernel benchmark (not a test): ``python -m bench.kernels``.

Measures one claim of 1, 5, 50 and 5,000 lines adjudicated three ways, in one
run, and prints ratios against the numba kernel:

- the numba kernel (``Engine.adjudicate``) on prepared int64 arrays;
- the plain-Python reference evaluator (``rules_compiled.reference.evaluate``);
- zen-engine (``pip install zen-engine``) running the same EMP inpatient benefit
  computation as a JSON decision model: line pricing, deductible, ratio and
  cap decision tables, and the fund / over-cap expression.

Plus the gateway's small-claim path: a 5-line pharmacy claim including building
the numpy inputs from Python lists and reading the outputs back (target <= 20 us),
and the same for N claims of one event-loop iteration in one kernel call, with and
without the cost of deferring each claim to the next iteration.
Imports only ``rules_compiled`` (and zen-engine).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from rules_compiled import REFERENCE_POLICY_PATH
from rules_compiled import model as m
from rules_compiled.catalogue import DEMO_CATALOGUE
from rules_compiled.compiled_policy import CompiledPolicy
from rules_compiled.engine import Engine
from rules_compiled.policy import load_policy_file
from rules_compiled.reference import evaluate
from rules_compiled.rows import batch, claim_row, line_row

SIZES = (1, 5, 50, 5_000)


def _time_per_call(fn: Callable[[], Any], budget_s: float) -> float:
    """Best-of-5 mean seconds per call, each round lasting about budget_s / 5."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    n = max(1, int(budget_s / 5 / once))
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def _inpatient_claim(engine: Engine, n_lines: int) -> tuple[list[int], list[list[int]]]:
    d = m.day_number
    row = claim_row(
        setting=int(m.Setting.INPATIENT),
        inst_kind=1,
        inst_level=3,
        scheme=1,
        person_type=2,
        birth_day=d(dt.date(1950, 3, 1)),
        work_start_day=d(dt.date(1970, 1, 1)),
        retire_day=d(dt.date(2005, 1, 1)),
        age_years=74,
        acct_prior=200_000,
        use_account=1,
        pooled_paid=6_000_000,
    )
    codes = ["D-AMOX", "M-STENT", "D-VITC", "S-CT", "F-BED", "S-CONS", "D-MET"]
    lines = [
        line_row(engine.item_index[codes[i % len(codes)]], 1_000 + 37 * (i % 50), 1 + i % 3)
        for i in range(n_lines)
    ]
    return row, lines


def _zen_model(policy: CompiledPolicy) -> dict[str, Any]:
    """EMP inpatient benefit as a JDM graph: tables generated from the compiled policy."""
    groups = policy.groups[m.Scheme.EMP]
    ded_rules = []
    ratio_rules = []
    for g, name in enumerate(groups):
        rule = policy.rules[(m.Scheme.EMP, m.Setting.INPATIENT, g, 3)]
        ded_rules.append({"_id": f"d{g}", "c": f'"{name}"', "o": str(rule.deductible_fen)})
        for level in (1, 2, 3):
            r = policy.rules[(m.Scheme.EMP, m.Setting.INPATIENT, g, level)]
            ratio_rules.append(
                {
                    "_id": f"r{g}{level}",
                    "c": f'"{name}"',
                    "l": str(level),
                    "o": str(r.bands[0].ratio_bp),
                }
            )
    cap_rule = policy.rules[(m.Scheme.EMP, m.Setting.INPATIENT, 0, 3)]
    pos = {"x": 0, "y": 0}

    def table(
        node_id: str,
        inputs: list[dict[str, str]],
        outputs: list[dict[str, str]],
        rules: list[dict[str, str]],
    ) -> dict[str, Any]:
        return {
            "id": node_id,
            "type": "decisionTableNode",
            "name": node_id,
            "position": pos,
            "content": {
                "hitPolicy": "first",
                "passThrough": True,
                "inputField": None,
                "outputPath": None,
                "inputs": inputs,
                "outputs": outputs,
                "rules": rules,
            },
        }

    def expr(node_id: str, exprs: list[tuple[str, str]]) -> dict[str, Any]:
        return {
            "id": node_id,
            "type": "expressionNode",
            "name": node_id,
            "position": pos,
            "content": {
                "passThrough": True,
                "inputField": None,
                "outputPath": None,
                "expressions": [
                    {"id": f"{node_id}{i}", "key": k, "value": v} for i, (k, v) in enumerate(exprs)
                ],
            },
        }

    nodes = [
        {"id": "in", "type": "inputNode", "name": "claim", "position": pos},
        expr(
            "pricing",
            [
                ("capped", "map(lines, min([#.price, #.cap]) * #.qty)"),
                (
                    "inscope",
                    "sum(map(lines, #.klass == 'C' ? 0 : "
                    "min([#.price, #.cap]) * #.qty - round(min([#.price, #.cap]) * #.qty *"
                    " #.pre_bp / 10000)))",
                ),
            ],
        ),
        table(
            "deductible",
            [{"id": "c", "name": "cohort", "field": "cohort"}],
            [{"id": "o", "name": "deductible", "field": "deductible_fen"}],
            ded_rules,
        ),
        table(
            "ratio",
            [
                {"id": "c", "name": "cohort", "field": "cohort"},
                {"id": "l", "name": "level", "field": "level"},
            ],
            [{"id": "o", "name": "ratio", "field": "ratio_bp"}],
            ratio_rules,
        ),
        table(
            "cap",
            [{"id": "s", "name": "setting", "field": "setting"}],
            [
                {"id": "o", "name": "cap", "field": "cap_fen"},
                {"id": "a", "name": "above", "field": "above_bp"},
            ],
            [
                {
                    "_id": "c1",
                    "s": '"INPATIENT"',
                    "o": str(cap_rule.fund_cap_fen),
                    "a": str(cap_rule.above_cap_ratio_bp),
                }
            ],
        ),
        expr(
            "benefit",
            [
                ("deductible", "min([inscope, max([0, deductible_fen - deductible_paid])])"),
                ("banded", "inscope - $.deductible"),  # $: values computed earlier in this node
                ("due", "round($.banded * ratio_bp / 10000)"),
                ("cap_left", "max([0, cap_fen - pooled_paid])"),
                ("hifp", "min([$.due, $.cap_left])"),
                ("covered", "$.due > $.cap_left ? ceil($.cap_left * 10000 / ratio_bp) : $.banded"),
                ("supplementary", "round(($.banded - $.covered) * above_bp / 10000)"),
            ],
        ),
        {"id": "out", "type": "outputNode", "name": "result", "position": pos},
    ]
    order = ["in", "pricing", "deductible", "ratio", "cap", "benefit", "out"]
    edges = [
        {"id": f"e{i}", "sourceId": a, "targetId": b, "type": "edge"}
        for i, (a, b) in enumerate(itertools.pairwise(order))
    ]
    return {"nodes": nodes, "edges": edges}


def _zen_input(engine: Engine, row: list[int], lines: list[list[int]]) -> dict[str, Any]:
    lns = []
    for ln in lines:
        it = engine.items[ln[m.LI_ITEM]]
        cap = it.price_cap_fen if it.price_cap_fen >= 0 else 1 << 50
        lns.append(
            {
                "price": ln[m.LI_UNIT_PRICE],
                "qty": ln[m.LI_QTY],
                "cap": cap,
                "klass": it.item_class.name,
                "pre_bp": it.preselfpay_bp,
            }
        )
    cohort = engine.cohort_of(row)
    return {
        "cohort": cohort,
        "level": row[m.CI_INST_LEVEL],
        "setting": "INPATIENT",
        "lines": lns,
        "deductible_paid": row[m.CI_DEDUCTIBLE_PAID],
        "pooled_paid": row[m.CI_POOLED_PAID],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.kernels")
    ap.add_argument("--budget", type=float, default=1.0, help="seconds per measurement (default 1)")
    args = ap.parse_args(argv)
    policy = load_policy_file(REFERENCE_POLICY_PATH)
    engine = Engine(policy, DEMO_CATALOGUE)
    engine.warm()
    try:
        import zen  # type: ignore[import-not-found]

        zen_engine = zen.ZenEngine()
        zen_decision = zen_engine.create_decision(json.dumps(_zen_model(policy)))
    except ImportError:
        zen_decision = None
        print("zen-engine not installed (pip install zen-engine): its column is skipped")

    rows: list[tuple[str, float, float, float | None]] = []
    for n in SIZES:
        row, lines = _inpatient_claim(engine, n)
        c, li, off = batch([(row, lines)])
        t_kernel = _time_per_call(functools.partial(engine.adjudicate, c, li, off), args.budget)
        t_ref = _time_per_call(
            functools.partial(evaluate, policy, engine.items, row, lines), args.budget
        )
        t_zen = None
        if zen_decision is not None:
            zin = _zen_input(engine, row, lines)
            ref_out = evaluate(policy, engine.items, row, lines)[0]
            zres = zen_decision.evaluate(zin)["result"]
            assert int(zres["hifp"]) == ref_out[m.CO_HIFP], (zres, ref_out[m.CO_HIFP])
            t_zen = _time_per_call(functools.partial(zen_decision.evaluate, zin), args.budget)
        rows.append((f"inpatient, {n:>5} lines", t_kernel, t_ref, t_zen))

    # The gateway's small-claim path, from Python lists to Python lists.
    ph_row = claim_row(acct_current=100_000, use_account=1)
    ph_lines = [
        line_row(engine.item_index[c], 1_234, 2)
        for c in ("D-AMOX", "D-MET", "D-VITC", "D-AMOX", "S-CONS")
    ]

    def pharmacy_end_to_end() -> tuple[list[int], list[list[int]]]:
        c = np.array([ph_row], dtype=np.int64)
        li = np.array(ph_lines, dtype=np.int64)
        off = np.array([0, len(ph_lines)], dtype=np.int64)
        co, lo = engine.adjudicate(c, li, off)
        return co[0].tolist(), lo.tolist()

    t_ph = _time_per_call(pharmacy_end_to_end, args.budget)
    t_ph_ref = _time_per_call(lambda: evaluate(policy, engine.items, ph_row, ph_lines), args.budget)
    rows.append(("pharmacy 5 lines, lists->numpy->lists", t_ph, t_ph_ref, None))

    # Batched: 1,000 claims of 5 lines in one kernel call.
    many = [_inpatient_claim(engine, 5) for _ in range(1_000)]
    cb, lb, ob = batch(many)
    t_batch = _time_per_call(lambda: engine.adjudicate(cb, lb, ob), args.budget) / 1_000
    t_batch_ref = _time_per_call(
        lambda: evaluate(policy, engine.items, many[0][0], many[0][1]), args.budget
    )
    rows.append(("inpatient 5 lines, batch of 1,000", t_batch, t_batch_ref, None))

    batch_rows = _iteration_batches(engine, ph_row, ph_lines, args.budget)
    print(
        f"policy {policy.version}; numba kernel vs plain-Python reference vs zen-engine; per claim"
    )
    print(
        f"{'case':<40} {'kernel us':>10} {'reference us':>13} {'ref/kernel':>10}"
        f" {'zen us':>10} {'zen/kernel':>10}"
    )
    for name, tk, tr, tz in rows:
        zen_cols = (
            f"{tz * 1e6:>10.1f} {tz / tk:>9.1f}x" if tz is not None else f"{'-':>10} {'-':>10}"
        )
        print(f"{name:<40} {tk * 1e6:>10.2f} {tr * 1e6:>13.1f} {tr / tk:>9.1f}x {zen_cols}")
    t5000 = rows[SIZES.index(5_000)][1]
    print(
        f"targets: 5,000-line inpatient {t5000 * 1e3:.3f} ms (< 2 ms); kernel/reference at"
        f" 5,000 lines "
        f"{rows[SIZES.index(5_000)][2] / t5000:.0f}x (>= 50x); 5-line pharmacy end to end"
        f" {t_ph * 1e6:.1f} us "
        f"(<= 20 us)"
    )
    print()
    print("claims of one event-loop iteration in one kernel call (the gateway's adjudicator):")
    print(f"{'claims in the call':<20} {'us per claim':>13} {'+ deferral us':>14}")
    for n, t_claim, t_defer in batch_rows:
        print(f"{n:<20} {t_claim * 1e6:>13.2f} {(t_claim + t_defer) * 1e6:>14.2f}")
    return 0


def _iteration_batches(engine: Engine, row: list[int], lines: list[list[int]], budget: float
                       ) -> list[tuple[int, float, float]]:
    """Per claim, a kernel call for N pharmacy claims as the gateway's adjudicator makes it
    (rows stacked, offsets, outputs back to lists), and the same plus the cost of deferring
    each claim to the next event-loop iteration (a future, a scheduled call, a wake-up):
    batching pays when the call's saving exceeds the deferral."""
    import asyncio

    async def deferrals(count: int) -> float:
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        for _ in range(count):
            fut: asyncio.Future[None] = loop.create_future()
            loop.call_soon(fut.set_result, None)
            await fut
        return (time.perf_counter() - t0) / count

    try:
        import uvloop

        t_defer = uvloop.run(deferrals(20_000))
    except ImportError:
        t_defer = asyncio.run(deferrals(20_000))
    claim_in = np.array(row, dtype=np.int64)
    lines_in = np.array(lines, dtype=np.int64)
    out = []
    for n in (1, 2, 4, 8, 16):
        def call(n: int = n) -> None:
            bounds = [i * len(lines) for i in range(n + 1)]
            c = claim_in.reshape(1, m.CI_N) if n == 1 else np.stack([claim_in] * n)
            li = lines_in if n == 1 else np.concatenate([lines_in] * n)
            co, lo = engine.adjudicate(c, li, np.array(bounds, dtype=np.int64))
            co.tolist()
            lo.tolist()

        t_call = _time_per_call(call, budget) / n
        out.append((n, t_call, t_defer))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
