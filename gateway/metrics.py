"""Prometheus metrics, correct with several worker processes.

``claimgate serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before any worker imports
this module; every worker writes its values to files there, and the
supervisor's metrics process serves their sum on ``/metrics``
(``MultiProcessCollector``, see ``gateway.supervisor``). A single in-process
server (the tests) uses the default registry.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Iterable
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
_WARNING_CHILDREN: dict[str, Any] = {}
_PAID_VALUES: dict[str, Any] = {}
CHILDREN_MAX = 10_000  # label combinations are few; this only bounds the caches

# The per-request path bumps the values under the metric children directly: in
# multiprocess mode prometheus-client's own ``inc`` takes a lock and calls getpid()
# before every mmap write, which costs several times the write. The values are only
# bumped from the event loop's thread, so the lock guards nothing here; a fork is
# noticed by the hook below instead of by getpid(), and the first bump after it goes
# through the public ``inc``, which moves every value to the new process's files.
_MMAP = bool(getattr(STALE_RETRIES._value, "_multiprocess", False)) and all(
    hasattr(STALE_RETRIES._value, a) for a in ("_file", "_key", "_value"))
_same_process = _MMAP


def _forked() -> None:
    global _same_process
    _same_process = False


if _MMAP:
    os.register_at_fork(after_in_child=_forked)


def _bump(value: Any, amount: float) -> None:
    """``value.inc(amount)`` without the per-call pid check and lock (see above)."""
    global _same_process
    if _same_process:
        value._value += amount
        value._timestamp = 0.0
        value._file.write_value(value._key, value._value, 0.0)
    else:
        value.inc(amount)
        _same_process = _MMAP


def _observe(hist: Any, seconds: float) -> None:
    """``Histogram.observe`` of a histogram child: its sum and its one bucket (the
    first bound at or above the value, found by bisection)."""
    _bump(hist._sum, seconds)
    bounds = hist._upper_bounds
    i = bisect_left(bounds, seconds)
    if i < len(bounds) and seconds <= bounds[i]:  # NaN falls in no bucket, as with observe
        _bump(hist._buckets[i], 1)


def request_done(method: str, code: str, reason: str, latency_s: float) -> None:
    """Count one finished call (label lookups cached: they cost more than the count)."""
    key = (method, code, reason)
    value = _REQUEST_CHILDREN.get(key)
    if value is None:
        value = REQUESTS.labels(method, code, reason)._value
        if len(_REQUEST_CHILDREN) < CHILDREN_MAX:
            _REQUEST_CHILDREN[key] = value
    _bump(value, 1)
    hist = _LATENCY_CHILDREN.get(method)
    if hist is None:
        hist = _LATENCY_CHILDREN[method] = LATENCY.labels(method)
    _observe(hist, latency_s)


def inflight(delta: int) -> None:
    """A call starts (+1) or ends (-1) being served."""
    _bump(INFLIGHT._value, delta)


def redis_time(op: str, seconds: float) -> None:
    hist = _REDIS_CHILDREN.get(op)
    if hist is None:
        hist = _REDIS_CHILDREN[op] = REDIS.labels(op)
    _observe(hist, seconds)


def kernel_time(seconds: float) -> None:
    _observe(KERNEL, seconds)


def warned(kinds: Iterable[str]) -> None:
    """Count abuse-check warnings, one per kind given."""
    for kind in kinds:
        value = _WARNING_CHILDREN.get(kind)
        if value is None:
            value = WARNINGS.labels(kind)._value
            if len(_WARNING_CHILDREN) < CHILDREN_MAX:
                _WARNING_CHILDREN[kind] = value
        _bump(value, 1)


def paid(amounts: Iterable[tuple[str, int]]) -> None:
    """Add the fen paid per fund (funds that paid nothing are left alone)."""
    for fund, fen in amounts:
        if fen:
            value = _PAID_VALUES.get(fund)
            if value is None:
                value = PAID_FEN.labels(fund)._value
                if len(_PAID_VALUES) < CHILDREN_MAX:
                    _PAID_VALUES[fund] = value
            _bump(value, fen)
