"""Prometheus metrics, correct with several worker processes.

``claimgate serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before any worker imports
this module; every worker writes its values to files there, and the
supervisor's metrics process serves their sum on ``/metrics``
(``MultiProcessCollector``, see ``gateway.supervisor``). A single in-process
server (the tests) uses the default registry.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    Counter,
    Gauge,
    Histogram,
)

# 100 µs to 5 s: server-side latency histograms per method.
LATENCY_BUCKETS_S = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
)

REQUESTS = Counter(
    "claimgate_requests_total", "Requests by method, gRPC status and reason code",
    ["method", "code", "reason"],
)
LATENCY = Histogram(
    "claimgate_request_seconds", "Server-side latency per method", ["method"],
    buckets=LATENCY_BUCKETS_S,
)
KERNEL = Histogram(
    "claimgate_kernel_seconds", "Time in the adjudication kernel per call",
    buckets=LATENCY_BUCKETS_S,
)
REDIS = Histogram(
    "claimgate_redis_seconds", "Redis round-trip time per operation", ["op"],
    buckets=LATENCY_BUCKETS_S,
)
INFLIGHT = Gauge(
    "claimgate_inflight_requests", "Requests being served", multiprocess_mode="livesum"
)
SHED = Counter("claimgate_shed_total", "Requests refused by load shedding", ["reason"])
STALE_RETRIES = Counter(
    "claimgate_stale_retries_total", "Claims adjudicated again after a stale read"
)
WARNINGS = Counter("claimgate_warnings_total", "Abuse-check warnings by kind", ["kind"])
PAID_FEN = Counter("claimgate_paid_fen_total", "Amounts paid, in fen, per fund", ["fund"])
REDIS_UP = Gauge(
    "claimgate_redis_up", "1 while the state store answers (the least over live workers)",
    multiprocess_mode="livemin",
)
RECONCILE_MISMATCHES = Counter(
    "claimgate_reconcile_mismatches_total",
    "Reconcile answers of MISMATCH (declared totals differ from the gateway's)", ["institution"],
)
LOG_DROPPED = Counter("claimgate_log_lines_dropped_total", "Access-log lines dropped (queue full)")


_REQUEST_CHILDREN: dict[tuple[str, str, str], Any] = {}
_LATENCY_CHILDREN: dict[str, Any] = {}
_REDIS_CHILDREN: dict[str, Any] = {}
CHILDREN_MAX = 10_000  # label combinations are few; this only bounds the caches


def request_done(method: str, code: str, reason: str, latency_s: float) -> None:
    """Count one finished call (label lookups cached: they cost more than the count)."""
    key = (method, code, reason)
    child = _REQUEST_CHILDREN.get(key)
    if child is None:
        child = REQUESTS.labels(method, code, reason)
        if len(_REQUEST_CHILDREN) < CHILDREN_MAX:
            _REQUEST_CHILDREN[key] = child
    child.inc()
    hist = _LATENCY_CHILDREN.get(method)
    if hist is None:
        hist = _LATENCY_CHILDREN[method] = LATENCY.labels(method)
    hist.observe(latency_s)


def redis_time(op: str, seconds: float) -> None:
    hist = _REDIS_CHILDREN.get(op)
    if hist is None:
        hist = _REDIS_CHILDREN[op] = REDIS.labels(op)
    hist.observe(seconds)
