"""``python -m bench scaling``: the arithmetic of the report on made-up runs, the reading
of ``/proc/stat``, and one end-to-end run on a few requests (structure only: no timing
is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import procstat
from bench import scaling as sc
from bench.cli import parse_args

ROOT = Path(__file__).resolve().parents[2]
META: dict[str, Any] = {
    "when": "2026-01-01 00:00:00 UTC", "cpus_available": [0, 1], "client_cpus": "1",
    "redis_cpus": "1", "server_cpus": {"1": "0", "2": "0,1"}, "workers_list": [1, 2],
    "clients": 64, "procs": 1, "channels": 32, "requests": 10_000, "seconds": None,
    "repeats": 3, "command": "python -m bench scaling",
    "load_average_at_start": (1.0, 1.0, 1.0), "load_average_at_end": (2.0, 1.0, 1.0),
}


def run(workers: int, repeat: int, ok: int, wall_s: float, worker_s: list[float],
        redis_s: float, client_s: float, busy_s: float, shed: int = 0) -> dict[str, Any]:
    return {
        "workers": workers, "repeat": repeat, "server_cpus": META["server_cpus"][str(workers)],
        "transactions": ok, "ok": ok, "shed": shed, "unexpected_errors": 0,
        "errors_by_status": {}, "violation_count": 0, "wall_s": wall_s,
        "measured_wall_s": wall_s, "worker_pids": list(range(len(worker_s))),
        "cpu_s": {"workers": sum(worker_s), "supervisor": 0.0, "redis": redis_s,
                  "client": client_s},
        "workers_cpu_s_each": worker_s,
        "machine": {"busy_s": busy_s, "busy_share_by_cpu": {"0": 1.0, "1": 0.9}},
        "p50_ms": 20.0, "p99_ms": 40.0,
    }


# N=1: 10,000 Settles in 10 s, the worker 5 s of CPU (500 µs each), Redis 1 s (100 µs),
# the client 3 s (300 µs). N=2: 10,000 in 6 s, workers 3.6 + 2.4 s (600 µs each).
RUNS = [
    run(1, 1, 10_000, 10.0, [5.0], 1.0, 3.0, 19.0),
    run(2, 1, 10_000, 6.0, [3.6, 2.4], 1.0, 3.0, 11.4, shed=3),
    run(1, 2, 10_000, 12.5, [5.0], 1.0, 3.0, 20.0),  # the slow one: not the median
    run(2, 2, 10_000, 6.25, [3.0, 3.0], 1.0, 3.0, 12.0),
    run(1, 3, 10_000, 8.0, [5.0], 1.0, 3.0, 15.0),
    run(2, 3, 10_000, 8.0, [3.0, 3.0], 1.0, 3.0, 15.0),
]


def test_derive_per_settle_and_cores() -> None:
    d = sc.derive(RUNS[0])
    assert d["rps"] == pytest.approx(1000.0)
    assert d["us_per_settle"] == pytest.approx(
        {"workers": 500.0, "supervisor": 0.0, "redis": 100.0, "client": 300.0})
    assert d["cores"]["workers"] == pytest.approx(0.5)
    assert d["machine_busy_cores"] == pytest.approx(1.9)
    assert d["other_cores"] == pytest.approx(1.9 - 0.5 - 0.1 - 0.3)
    two = sc.derive(RUNS[1])
    assert two["busiest_worker_share"] == pytest.approx(0.6)
    assert two["worker_cores_each"] == pytest.approx([0.6, 0.4])
    # Throughput is the workers' cores over their CPU per Settle.
    assert two["rps"] == pytest.approx(two["cores"]["workers"] * 1e6
                                       / two["us_per_settle"]["workers"])


def test_the_median_run_by_throughput() -> None:
    ones = [r for r in RUNS if r["workers"] == 1]
    assert sc.median_run(ones)["repeat"] == 1  # 800, 1000, 1250/s
    assert sc.median_run(ones[:2])["repeat"] == 2  # the lower middle of an even count


def test_sizing_arithmetic() -> None:
    s = sc.sizing(500.0, 100.0, 300.0, [1, 2, 4, 8, 16])
    assert s["per_worker_core_settles_per_s"] == 2000
    assert s["redis_master_settles_per_s"] == 10_000
    assert s["client_core_settles_per_s"] == 3333
    rows = {r["workers"]: r for r in s["table"]}
    assert rows[2]["settles_per_s"] == 4000 and rows[2]["limit"] == "worker cores"
    assert rows[4]["redis_cores"] == pytest.approx(0.8)
    assert rows[4]["client_cores"] == pytest.approx(2.4)
    # min(N × 2,000, 10,000): Redis is the limit from 5 worker cores on.
    assert rows[8]["settles_per_s"] == 10_000 and rows[8]["limit"] == "Redis"
    assert rows[16]["redis_cores"] == pytest.approx(1.0)
    unknown = sc.sizing(500.0, None, None, [1, 4])
    assert unknown["table"][1]["settles_per_s"] == 8000 and unknown["table"][1]["redis_cores"] \
        is None


def test_summary_speed_up_and_shared_cpus() -> None:
    summary = sc.summarize(RUNS, META)
    one, two = summary["by_workers"]["1"], summary["by_workers"]["2"]
    assert one["rps"] == pytest.approx(1000.0) and one["speedup"] == pytest.approx(1.0)
    assert two["rps"] == pytest.approx(1600.0)  # 1,667, 1,600, 1,250/s: the middle one
    assert two["speedup"] == pytest.approx(1.6) and two["share_of_linear"] == pytest.approx(0.8)
    assert two["rps_runs"] == [pytest.approx(1666.7, abs=0.1), 1600.0, 1250.0]
    assert two["shed"] == 3
    assert summary["sizing"]["worker_us"] == 500.0  # from N=1
    assert summary["sizing"]["per_worker_core_settles_per_s"] == 2000
    # On 2 CPUs the client and Redis (CPU 1) share a core with the workers of N=2; the
    # worker of N=1 (CPU 0) has its own.
    assert not one["shares_cpus"] and two["shares_cpus"]


def test_shares_cpus() -> None:
    eight = list(range(8))
    assert not sc.shares_cpus(2, "0,1", "7", "6", eight)
    assert sc.shares_cpus(2, "0,1", "1", "6", eight)
    assert sc.shares_cpus(2, "0,1", "", "6", eight)  # '' = any CPU
    assert sc.shares_cpus(1, "0", "1", "1", [0, 1]) is False
    assert sc.shares_cpus(2, "0,1", "1", "1", [0, 1])
    assert sc.shares_cpus(4, "0-3", "7", "7", eight) is False
    assert sc.shares_cpus(4, "0,1", "7", "7", eight)  # four workers on two CPUs


def test_default_cpus() -> None:
    assert sc.server_cpus_for(1, None, [0, 1]) == "0"
    assert sc.server_cpus_for(2, None, [0, 1]) == "0,1"
    assert sc.server_cpus_for(4, None, [0, 1]) == "0,1"  # fewer CPUs than workers
    assert sc.server_cpus_for(2, "2-3", [0, 1, 2, 3]) == "2-3"
    assert sc.last_cpu([0, 1, 2]) == "2"
    assert sc.parse_cpus("0-2,5") == [0, 1, 2, 5] and sc.parse_cpus("") == []


def test_markdown_renders_the_table_the_reasons_and_the_sizing() -> None:
    report = {"meta": META, "runs": RUNS, "summary": sc.summarize(RUNS, META),
              "correctness": {"1": {"verdict": "PASS", "members_checked": 10,
                                    "settlements": 30, "violation_count": 0,
                                    "problem_count": 0},
                              "2": {"verdict": "PASS", "members_checked": 10,
                                    "settlements": 30, "violation_count": 0,
                                    "problem_count": 0}},
              "notes": []}
    md = sc.markdown(report)
    assert "| median run | N=1 | N=2 |" in md
    assert "| **Settles/s** (OK) | **1,000** | **1,600** |" in md
    assert "| speed-up vs N=1 | 1.00× | 1.60× |" in md
    assert "| worker CPU µs / Settle | 500 | 600 |" in md
    assert "| Redis CPU µs / Settle | 100 | 100 |" in md
    assert "| client CPU µs / Settle | 300 | 300 |" in md
    # N=2 (median run 2): 0.96 cores against the one worker's 0.5 (96% of twice as much),
    # at 600 µs per Settle against 500 (83%): 80% of linear, as measured.
    assert "The workers got 0.96 cores' worth, 96% of 2 × the 0.50 of the one worker" in md
    assert "96% × 83% = 80% of linear, the measured 80%" in md
    assert "With N=1 the worker got 0.50 of its core" in md
    assert "This machine has 2 CPUs (0,1)" in md and "so they shared cores" in md
    assert "One worker core buys about **2,000 Settles/s**" in md
    assert "saturates near **10,000 Settles/s**" in md
    assert "| 8 | 10,000 | Redis |" in md
    assert "N=2: money check **PASS**" in md


def test_proc_stat_busy_share() -> None:
    a = procstat.parse_proc_stat("cpu  10 0 10 80 0 0 0 0 0 0\n"
                                 "cpu0 5 0 5 40 0 0 0 0 0 0\ncpu1 5 0 5 40 0 0 0 0 0 0\n"
                                 "intr 1 2 3\n")
    b = procstat.parse_proc_stat("cpu  60 0 20 120 0 0 0 0 0 0\n"
                                 "cpu0 45 0 5 50 0 0 0 0 0 0\ncpu1 10 0 10 70 10 0 0 0 0 0\n")
    d = procstat.machine_delta(a, b)
    assert d["busy_share_by_cpu"] == pytest.approx({0: 0.8, 1: 0.2})  # iowait is idle
    assert d["busy_s"] == pytest.approx(50 / procstat.CLK_TCK)
    live = procstat.machine_snapshot()
    assert live.cpus and all(busy <= total for busy, total in live.cpus.values())
    # Steal: the hypervisor's share of the CPUs' time (cpu1 lost 10 of its 50 ticks).
    c = procstat.parse_proc_stat("cpu0 45 0 5 50 0 0 0 0 0 0\ncpu1 10 0 10 70 10 0 0 10 0 0\n")
    e = procstat.machine_delta(b, c)
    assert e["steal_s"] == pytest.approx(10 / procstat.CLK_TCK)
    assert e["steal_share"] == pytest.approx(10 / 10)  # only cpu1 moved: 10 ticks, all stolen


def test_the_cli_knows_scaling() -> None:
    args = parse_args(["scaling", "--workers-list", "1,2,4", "--server-cpus", "0-3"])
    assert args.fn is sc.scaling and args.workers_list == [1, 2, 4]
    assert args.server_cpus == "0-3" and args.client_cpus is None
    with pytest.raises(SystemExit):
        parse_args(["scaling", "--workers-list", "0"])


def test_scaling_end_to_end_on_a_few_requests(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "bench", "scaling", "--out", str(out), "--requests", "200",
           "--repeats", "1", "--clients", "4", "--channels", "4", "--workers-list", "1,2",
           "--members", "600", "--pool", "400", "--warmup", "0.5"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "scaling.json").read_text())
    assert [(r["workers"], r["repeat"]) for r in report["runs"]] == [(1, 1), (2, 1)]
    for r in report["runs"]:
        assert r["transactions"] == 200 and r["ok"] + r["unexpected_errors"] == 200
        assert len(r["worker_pids"]) == r["workers"] == len(r["workers_cpu_s_each"])
        assert set(r["cpu_s"]) == set(sc.ROLES)
        assert r["cpu_s"]["workers"] > 0 and r["cpu_s"]["client"] > 0
        assert r["machine"]["busy_share_by_cpu"]
    by_n = report["summary"]["by_workers"]
    assert set(by_n) == {"1", "2"} and by_n["1"]["speedup"] == pytest.approx(1.0)
    assert report["summary"]["sizing"]["table"]
    assert {v["verdict"] for v in report["correctness"].values()} == {"PASS"}
    md = (out / "scaling.md").read_text()
    assert md in done.stdout
    for text in ("| median run | N=1 | N=2 |", "## Why not linear", "## Sizing",
                 "## Correctness"):
        assert text in md
