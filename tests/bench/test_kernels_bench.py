"""``python -m bench.kernels`` runs and prints every table (structure only, never timings)."""

from __future__ import annotations

import pytest

from bench import kernels


def test_kernel_benchmark_prints_every_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert kernels.main(["--budget", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "pharmacy 5 lines, lists->numpy->lists" in out
    assert "claims of one event-loop iteration in one kernel call" in out
    rows = [ln.split() for ln in out.splitlines() if ln[:2].strip().isdigit()]
    assert [int(r[0]) for r in rows] == [1, 2, 4, 8, 16]
    assert all(float(r[2]) >= float(r[1]) > 0 for r in rows)  # deferral adds, never subtracts
