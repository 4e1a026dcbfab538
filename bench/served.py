"""The latency of a phase as the gateway itself served it, from its access log.

The bench's own latencies run from each request's intended send time to its answer,
so they include the client: its send lag, its gRPC stack and its event loop. On a
2-core machine that is about 1.5-2 ms at the median (the echo server, which does no
work, is measured at that). The gateway's access log has, for every call, the time
from the call's start in the handler to its answer (``latency_ms``) and the wall-clock
time it ended (``ts``). Reading the lines of one method that ended within a phase's
measured window gives the server's share of the latency, without the client.

It leaves out what gRPC does in the server before the handler starts and after the
answer is handed over, a fraction of a millisecond. A point-of-sale re-send of a
settled request (a replay, about 2% of the bench's Settles) is a Settle here too,
where the client reports it apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.episode import percentile

ACCESS_LOG_BATCH_S = 0.005  # the gateway's log thread writes a batch at most this often


def served_latencies_ms(lines: Iterable[str], method: str, since: float, until: float
                        ) -> list[float]:
    """``latency_ms`` of the access-log lines of ``method`` that ended within
    [since, until] (Unix seconds). Other log lines are skipped."""
    out: list[float] = []
    for line in lines:
        if not line.startswith("{") or '"latency_ms"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("method") == method and since <= entry.get("ts", 0.0) <= until:
            out.append(float(entry["latency_ms"]))
    return out


def served_summary(log: Path, method: str, since: float, until: float) -> dict[str, Any]:
    """Count and percentiles (ms) of what :func:`served_latencies_ms` finds in ``log``."""
    with log.open(encoding="utf-8", errors="replace") as f:
        ms = served_latencies_ms(f, method, since, until)
    if not ms:
        return {"method": method, "count": 0}
    return {"method": method, "count": len(ms),
            "p50_ms": round(percentile(ms, 0.50), 3), "p99_ms": round(percentile(ms, 0.99), 3),
            "p99_9_ms": round(percentile(ms, 0.999), 3), "max_ms": round(max(ms), 3)}
