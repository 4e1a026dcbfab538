"""The gateway's metric helpers count exactly what prometheus-client's own calls
count, in one process and in forked multiprocess workers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import REGISTRY, Histogram

from gateway import metrics


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_helpers_count_like_the_public_calls() -> None:
    before = {
        "req": _value("claimgate_requests_total", method="T", code="OK", reason=""),
        "warn": _value("claimgate_warnings_total", kind="T_KIND"),
        "hifp": _value("claimgate_paid_fen_total", fund="hifp"),
        "cash": _value("claimgate_paid_fen_total", fund="cash"),
        "redis": _value("claimgate_redis_seconds_count", op="T_OP"),
    }
    metrics.request_done("T", "OK", "", 0.0003)
    metrics.request_done("T", "OK", "", 7.0)  # above every bound: only the +Inf bucket
    metrics.warned(["T_KIND", "T_KIND"])
    metrics.paid([("hifp", 1234), ("cash", 0)])
    metrics.redis_time("T_OP", 0.001)
    assert _value("claimgate_requests_total", method="T", code="OK", reason="") == (
        before["req"] + 2)
    assert _value("claimgate_warnings_total", kind="T_KIND") == before["warn"] + 2
    assert _value("claimgate_paid_fen_total", fund="hifp") == before["hifp"] + 1234
    assert _value("claimgate_paid_fen_total", fund="cash") == before["cash"]
    assert _value("claimgate_redis_seconds_count", op="T_OP") == before["redis"] + 1
    # Bucket for bucket, as Histogram.observe: a value on a bound counts in that bound.
    ref = Histogram("t_reference_seconds", "reference", buckets=metrics.LATENCY_BUCKETS_S,
                    registry=None)
    for s in (0.0003, 7.0):
        ref.observe(s)
    mine = {s.labels["le"]: s.value for s in next(iter(metrics.LATENCY.collect())).samples
            if s.name.endswith("_bucket") and s.labels["method"] == "T"}
    theirs = {s.labels["le"]: s.value for s in next(iter(ref.collect())).samples
              if s.name.endswith("_bucket")}
    assert mine == theirs and mine["+Inf"] == 2 and mine["0.0005"] == 1
    metrics.redis_time("T_BOUND", metrics.LATENCY_BUCKETS_S[3])
    assert _value("claimgate_redis_seconds_bucket", op="T_BOUND",
                  le=str(metrics.LATENCY_BUCKETS_S[2])) == 0
    assert _value("claimgate_redis_seconds_bucket", op="T_BOUND",
                  le=str(metrics.LATENCY_BUCKETS_S[3])) == 1


FORKED = """
import os
from gateway import metrics
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
metrics.request_done("M", "OK", "", 0.0002)
pid = os.fork()
if pid == 0:
    for _ in range(3):
        metrics.request_done("M", "OK", "", 0.0002)
        metrics.paid([("hifp", 5)])
    os._exit(0)
os.waitpid(pid, 0)
reg = CollectorRegistry()
MultiProcessCollector(reg)
print(reg.get_sample_value("claimgate_requests_total",
                           {"method": "M", "code": "OK", "reason": ""}),
      reg.get_sample_value("claimgate_paid_fen_total", {"fund": "hifp"}),
      reg.get_sample_value("claimgate_request_seconds_bucket", {"method": "M", "le": "0.00025"}))
print(sorted(n.split("_")[-1] for n in os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])
             if n.startswith("counter_")) == sorted([f"{os.getpid()}.db", f"{pid}.db"]))
"""


def test_a_forked_worker_writes_its_own_files(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", FORKED], env=env, capture_output=True,
                         text=True, check=True, timeout=60).stdout.split("\n")
    assert out[:2] == ["4.0 15.0 4.0", "True"]
