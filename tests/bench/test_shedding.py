"""Replies shed by the gateway's admission (RESOURCE_EXHAUSTED) are reported apart from
throughput and latency; a closed loop beyond the in-flight bounds warns that it measures
shedding; ``bench run`` writes its PNG. No timing assertions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import cli as bench_cli
from bench.recorder import SHED_STATUS, Recorder
from bench.report import _phase_table
from bench.runner import Bench, BenchConfig, merge_phase
from bench.steps import step_load
from bench.worker import PhaseSpec
from gateway.cli import main as claimgate
from gateway.config import Config
from tests.bench.conftest import BenchTarget
from tests.integration.harness import GatewayThread

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _worker_result(rec: Recorder, wall_s: float = 2.0) -> dict[str, Any]:
    out = rec.export()
    out.update(worker=0, sent=0, wall_s=wall_s, cpu_s=0.1, phase="p", offered_rate_per_s=0.0,
               ledger_problems=[])
    return out


def test_merge_counts_shed_replies_apart() -> None:
    rec = Recorder()
    for _ in range(4):
        rec.flow("pharmacy", 0.004, 0.0, "OK")
        rec.rpc("pharmacy/Settle", 0.004, "OK", expected=True)
    for _ in range(6):  # refused at once: fast replies that must not flatter the latency
        rec.flow("pharmacy", 0.0001, 0.0, SHED_STATUS)
        rec.rpc("pharmacy/Settle", 0.0001, SHED_STATUS, expected=False)
    rec.flow("eligibility", 0.0001, 0.0, SHED_STATUS)  # a scenario with nothing but shed
    phase = merge_phase([_worker_result(rec)])
    assert phase["requests"] == 4
    assert phase["achieved_rps"] == 2.0
    assert phase["shed"] == 7
    assert phase["shed_rps"] == 3.5
    assert phase["unexpected_errors"] == 0
    assert phase["all"]["count"] == 4
    assert phase["all"]["p50_ms"] >= 3.9  # only the answered transactions
    pharmacy = phase["scenarios"]["pharmacy"]
    assert (pharmacy["count"], pharmacy["shed"], pharmacy["throughput_rps"]) == (4, 6, 2.0)
    assert SHED_STATUS not in pharmacy["errors_by_status"]
    assert phase["scenarios"]["pharmacy/Settle"]["shed"] == 6
    assert phase["scenarios"]["eligibility"]["count"] == 0
    assert phase["scenarios"]["eligibility"]["shed"] == 1


def test_interval_progress_counts_shed_apart() -> None:
    rec = Recorder()
    rec.flow("pharmacy", 0.002, 0.0, "OK")
    rec.flow("pharmacy", 0.002, 0.0, SHED_STATUS)
    rec.flow("pharmacy", 0.002, 0.0, "UNAVAILABLE")
    count, errors, shed, _ = rec.take_interval()
    assert (count, errors, shed) == (2, 1, 1)


class _Phases:
    """Answers step_load's phases with a fixed answered rate and shed rate."""

    def __init__(self, shed: int) -> None:
        self.shed = shed

    def phase(self, spec: PhaseSpec) -> dict[str, Any]:
        rec = Recorder()
        n = round(spec.rate_per_s * (spec.duration_s or 1.0))
        for _ in range(n):
            rec.flow("pharmacy", 0.001, 0.0, "OK")
        for _ in range(self.shed):
            rec.flow("pharmacy", 0.0001, 0.0, SHED_STATUS)
        return merge_phase([_worker_result(rec, wall_s=spec.duration_s or 1.0)])


@pytest.mark.parametrize(("shed", "sustained"), [(0, True), (50, False)])
def test_a_step_with_shed_replies_is_not_sustained(shed: int, sustained: bool) -> None:
    steps, _ = step_load(_Phases(shed), "t", {"pharmacy": 1.0},  # type: ignore[arg-type]
                         start_rps=100, factor=2, step_s=1.0, p99_target_ms=50, steps_max=1)
    (step,) = steps["steps"]
    assert step["shed"] == shed
    assert step["sustained"] is sustained


def _bench(**bounds: int) -> Bench:
    return Bench(BenchConfig(target="127.0.0.1:1", procs=0, **bounds), log=None)


def test_closed_loop_beyond_the_bounds_warns() -> None:
    pharmacy = {"pharmacy": 1.0}  # 3 pharmacies
    b = _bench(inflight_max=32, per_institution_inflight_max=16)
    assert b.shedding_warnings(PhaseSpec(name="c", mix=pharmacy, clients=32)) == []
    (w,) = b.shedding_warnings(PhaseSpec(name="c", mix=pharmacy, clients=33))
    assert "in-flight bound of 32" in w and "measures shedding" in w
    assert b.shedding_warnings(PhaseSpec(name="o", mix=pharmacy, rate_per_s=5000)) == []
    b = _bench(inflight_max=256, per_institution_inflight_max=8)
    (w,) = b.shedding_warnings(PhaseSpec(name="c", mix=pharmacy, clients=25))
    assert "3 institutions, at most 8 in flight each" in w
    assert b.shedding_warnings(PhaseSpec(name="c", mix=pharmacy, clients=24)) == []
    assert _bench().shedding_warnings(PhaseSpec(name="c", mix=pharmacy, clients=10_000)) == []


def test_the_assumed_bounds_are_the_gateways_defaults() -> None:
    defaults = Config()
    assert bench_cli.GATEWAY_INFLIGHT_MAX == defaults.inflight_max
    assert bench_cli.GATEWAY_PER_INSTITUTION_INFLIGHT_MAX == defaults.per_institution_inflight_max
    args = bench_cli.build_parser().parse_args(["run", "--clients", "8"])
    assert (args.inflight_max, args.per_institution_inflight_max) == (
        defaults.inflight_max, defaults.per_institution_inflight_max)


def test_run_against_a_shedding_gateway(bench_target: BenchTarget, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A real gateway that admits one request at a time, driven by 8 closed-loop clients
    through ``claimgate bench run``."""
    config = Config(listen="127.0.0.1:0", redis_url=bench_target.redis_url, plaintext=True,
                    access_log=False, inflight_max=1, per_institution_inflight_max=1)
    g = GatewayThread(config).start()
    try:
        code = claimgate([
            "bench", "run", "--target", g.address, "--members", str(bench_target.population),
            "--pool", "100", "--seed", str(bench_target.seed), "--procs", "0", "--warmup", "0",
            "--mix", "pharmacy", "--clients", "8", "--requests", "120", "--no-verify",
            "--inflight-max", "1", "--per-institution-inflight-max", "1", "--out", str(tmp_path),
        ])
    finally:
        g.stop()
    assert code == 0
    report = json.loads((tmp_path / "run.json").read_text())
    (phase,) = report["phases"]
    assert phase["shed"] > 0
    assert phase["requests"] + phase["shed"] == 120
    assert phase["achieved_rps"] == pytest.approx(phase["requests"] / phase["wall_s"], rel=0.01)
    assert phase["unexpected_errors"] == 0
    pharmacy = phase["scenarios"]["pharmacy"]
    assert pharmacy["count"] == phase["requests"]
    assert SHED_STATUS not in pharmacy["errors_by_status"]
    assert len(phase["warnings"]) == 2
    assert report["meta"]["command"].startswith("python -m bench run --target ")
    md = (tmp_path / "run.md").read_text()
    assert "not counted in the throughput" in md
    assert "**WARNING**: closed loop with 8 clients" in md
    assert "WARNING: closed loop with 8 clients" in capsys.readouterr().err
    assert (tmp_path / "run.png").read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize(("forks", "says"), [
    (2, "Redis forked 2 time(s) during the phase"),
    (0, "Redis did not fork during the phase"),
    (None, None),
])
def test_phase_report_says_whether_redis_forked(forks: int | None, says: str | None) -> None:
    rec = Recorder()
    rec.flow("pharmacy", 0.004, 0.0, "OK")
    rec.rpc("pharmacy/Settle", 0.004, "OK", expected=True)
    phase = merge_phase([_worker_result(rec)])
    if forks is not None:
        phase["redis_forks"] = forks
    text = "\n".join(_phase_table(phase))
    if says is None:
        assert "fork" not in text
    else:
        assert says in text
