"""``python -m bench episode``: its percentiles, its report, and a run end to end against
this checkout and, as the baseline, the same checkout (the before/after machinery)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench import episode as ep

ROOT = Path(__file__).resolve().parents[2]


def test_percentiles_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]  # 1..20
    assert ep.percentile(values, 0.5) == 10
    assert ep.percentile(values, 0.9) == 18
    assert ep.percentile(values, 0.99) == 20  # of 20 values, the largest
    assert ep.percentile([3.0], 0.99) == 3
    s = ep.summary_ms([0.001 * v for v in values])
    assert (s["n"], s["p50"], s["p99"], s["max"]) == (20, 10.5, 20.0, 20.0)


def test_episode_end_to_end_with_a_baseline(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "bench", "episode", "--out", str(out), "--lines", "150",
           "--episodes", "2", "--members", "300", "--server-cpus", "", "--client-cpus", "",
           "--baseline", str(ROOT)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "episode.json").read_text())
    assert set(report["results"]) == {"gateway", "baseline"}
    for label, methods in report["results"].items():
        assert set(methods) == {"PreSettle", "Settle"}, label
        for method, s in methods.items():
            assert s["n"] == 2 and 0 < s["p50"] <= s["p99"] <= s["max"], (label, method, s)
    md = (out / "episode.md").read_text()
    assert "| gateway | Settle | 2 |" in md and "baseline / gateway" in md
