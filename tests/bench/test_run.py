"""Short bounded runs against a real gateway: report structure, PASS on a clean run,
FAIL when a balance is changed behind the gateway's back. No timing assertions."""

from __future__ import annotations

import json
from pathlib import Path

import redis

from bench.cli import main as bench_main
from bench.population import psn_no_of
from bench.report import write_all
from bench.runner import Bench, BenchConfig
from bench.worker import PhaseSpec
from gateway.keys import MemberKeys
from tests.bench.conftest import BenchTarget

MIX = ("pharmacy=50,outpatient=15,eligibility=10,reversal=8,cancel=8,bad_request=6,"
       "inpatient=3")


def _args(t: BenchTarget, out: Path, *extra: str) -> list[str]:
    return ["run", "--target", t.address, "--members", str(t.population), "--pool", "200",
            "--seed", str(t.seed), "--procs", "0", "--warmup", "0", "--inpatient-lines",
            "20:60", "--out", str(out), *extra]


def test_run_report_structure_and_pass(bench_target: BenchTarget, tmp_path: Path) -> None:
    code = bench_main(_args(bench_target, tmp_path, "--mix", MIX, "--rate", "400",
                            "--requests", "200"))
    report = json.loads((tmp_path / "run.json").read_text())
    assert report["correctness"]["verdict"] == "PASS", report["correctness"]
    assert code == 0
    assert (tmp_path / "run.md").read_text().startswith("# Bench report")
    assert (tmp_path / "run.png").read_bytes().startswith(b"\x89PNG")
    (phase,) = report["phases"]
    assert phase["requests"] == 200
    assert phase["violation_count"] == 0
    assert {"pharmacy", "pharmacy/Settle", "bad_request"} <= set(phase["scenarios"])
    for s in phase["scenarios"].values():
        assert {"count", "throughput_rps", "p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "max_ms",
                "errors_by_status", "hdr_histogram"} <= set(s)
        assert s["p50_ms"] <= s["p99_ms"] <= s["max_ms"]
    bad = phase["scenarios"].get("bad_request/Settle")
    if bad is not None:  # malformed requests are refused, and that is the expected outcome
        assert set(bad["errors_by_status"]) == {"INVALID_ARGUMENT"}
        assert bad["unexpected"] == 0
    assert phase["client"]["processes"][0]["cpu_s"] >= 0
    assert report["correctness"]["settlements"] > 0


def test_corrupted_balance_fails_the_check(bench_target: BenchTarget, tmp_path: Path) -> None:
    cfg = BenchConfig(target=bench_target.address, population=bench_target.population,
                      pool=150, seed=bench_target.seed + 1, procs=0,
                      inpatient_lines=(20, 40))
    with Bench(cfg, log=None) as bench:
        bench.snapshot()
        bench.phase(PhaseSpec(name="pharmacy", mix={"pharmacy": 1.0}, rate_per_s=400,
                              count=120))
        # Behind the gateway's back: one yuan more in every member's current bucket.
        r = redis.Redis.from_url(bench_target.redis_url)
        try:
            for i in range(bench_target.population):
                r.hincrby(MemberKeys.of(psn_no_of(i)).member, "cur", 100)
        finally:
            r.close()
        verdict = bench.verify()
    assert verdict["verdict"] == "FAIL"
    assert any("balances moved" in p for p in verdict["problems"])


def test_multiprocess_closed_loop(bench_target: BenchTarget, tmp_path: Path) -> None:
    cfg = BenchConfig(target=bench_target.address, population=bench_target.population,
                      pool=100, seed=bench_target.seed + 2, procs=1, cpus=[])
    with Bench(cfg, log=None) as bench:
        bench.snapshot()
        phase = bench.phase(PhaseSpec(name="closed", mix={"pharmacy": 1.0}, clients=4,
                                      count=80))
        verdict = bench.verify()
    assert verdict["verdict"] == "PASS", verdict
    assert phase["requests"] == 80
    report = {"title": "t", "phases": [phase], "step_loads": {"gw": {
        "p99_target_ms": 5.0, "max_sustainable_rps": phase["achieved_rps"],
        "steps": [{"offered_rps": 1, "achieved_rps": phase["achieved_rps"], "p50_ms": 1.0,
                   "p99_ms": 2.0, "p99_9_ms": 3.0, "unexpected": 0, "sustained": True}]}}}
    paths = write_all(report, tmp_path)
    assert [p.suffix for p in paths] == [".json", ".md", ".png"]
