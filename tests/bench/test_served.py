"""The gateway's own view of a phase's latency, read from its access log."""

from __future__ import annotations

import json
from pathlib import Path

from bench.served import served_latencies_ms, served_summary


def _line(method: str, ms: float, ts: float) -> str:
    return json.dumps({"request_id": "r", "method": method, "status": "OK",
                       "latency_ms": ms, "ts": ts}) + "\n"


def test_only_the_method_within_the_window_counts(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_text(
        "2026-12-07 08:00:00,000 INFO serving claims.v1.ClaimGateway on port 1\n"
        + _line("Settle", 9.0, 99.9)  # before the window
        + "".join(_line("Settle", float(i), 100.0 + i / 100) for i in range(1, 101))
        + _line("PreSettle", 50.0, 100.5)  # another method
        + '{"latency_ms": 1.0, "ts": 100.2, "method": "Settle"\n'  # cut short
        + _line("Settle", 70.0, 102.0)  # after the window
    )
    assert served_latencies_ms(log.read_text().splitlines(), "Settle", 100.0, 101.0) == [
        float(i) for i in range(1, 101)]
    s = served_summary(log, "Settle", 100.0, 101.0)
    assert s == {"method": "Settle", "count": 100, "p50_ms": 50.0, "p99_ms": 99.0,
                 "p99_9_ms": 100.0, "max_ms": 100.0}


def test_an_empty_window_has_no_percentiles(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_text(_line("Settle", 1.0, 5.0))
    assert served_summary(log, "Settle", 10.0, 20.0) == {"method": "Settle", "count": 0}
