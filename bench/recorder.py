"""Per-process measurements: HDR latency histograms, outcomes by gRPC status, violations."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

LATENCY_US_MIN = 1
LATENCY_US_MAX = 120_000_000  # two minutes
SIGNIFICANT_DIGITS = 3
VIOLATIONS_KEPT_MAX = 200  # examples kept; the count is exact
# The gateway's admission refuses work beyond its bounds with this status, at once. A shed
# reply is counted apart: never in throughput, latency histograms or errors.
SHED_STATUS = "RESOURCE_EXHAUSTED"


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LATENCY_US_MIN, LATENCY_US_MAX, SIGNIFICANT_DIGITS)


def record_us(h: HdrHistogram, seconds: float) -> None:
    h.record_value(min(LATENCY_US_MAX, max(LATENCY_US_MIN, round(seconds * 1e6))))


@dataclass
class Recorder:
    """What one client process measured in one phase.

    Keys are ``scenario`` (the whole transaction, timed from its intended send
    time) and ``scenario/Rpc`` (each call of a multi-call transaction). Replies shed
    by admission (:data:`SHED_STATUS`) go to ``shed`` only.
    """

    measuring: bool = True
    histograms: dict[str, HdrHistogram] = field(default_factory=dict)
    statuses: dict[str, Counter[str]] = field(default_factory=dict)
    unexpected: Counter[str] = field(default_factory=Counter)
    shed: Counter[str] = field(default_factory=Counter)
    lag: HdrHistogram = field(default_factory=new_histogram)
    interval: HdrHistogram = field(default_factory=new_histogram)
    interval_count: int = 0
    interval_errors: int = 0
    interval_shed: int = 0
    violations: list[str] = field(default_factory=list)
    violation_count: int = 0

    def violation(self, message: str) -> None:
        """A broken invariant: recorded during warm-up too, it is never discarded."""
        self.violation_count += 1
        if len(self.violations) < VIOLATIONS_KEPT_MAX:
            self.violations.append(message)

    def rpc(self, key: str, latency_s: float, status: str, *, expected: bool) -> None:
        if not self.measuring:
            return
        if status == SHED_STATUS:
            self.shed[key] += 1
            return
        h = self.histograms.get(key)
        if h is None:
            h = self.histograms[key] = new_histogram()
        record_us(h, latency_s)
        self.statuses.setdefault(key, Counter())[status] += 1
        if not expected:
            self.unexpected[key] += 1

    def flow(self, scenario: str, latency_s: float, lag_s: float, outcome: str) -> None:
        """One whole transaction; outcome "OK" or the first unexpected status."""
        if not self.measuring:
            return
        self.rpc(scenario, latency_s, outcome, expected=outcome == "OK")
        record_us(self.lag, max(lag_s, 0.0))
        if outcome == SHED_STATUS:
            self.interval_shed += 1
            return
        record_us(self.interval, latency_s)
        self.interval_count += 1
        if outcome != "OK":
            self.interval_errors += 1

    def take_interval(self) -> tuple[int, int, int, str]:
        """(count, errors, shed, encoded histogram) since the last call; resets them."""
        out = (self.interval_count, self.interval_errors, self.interval_shed,
               self.interval.encode().decode() if self.interval_count else "")
        self.interval = new_histogram()
        self.interval_count = self.interval_errors = self.interval_shed = 0
        return out

    def export(self) -> dict[str, object]:
        """A picklable summary: encoded histograms, plain counters."""
        return {
            "histograms": {k: h.encode().decode() for k, h in self.histograms.items()},
            "statuses": {k: dict(c) for k, c in self.statuses.items()},
            "unexpected": dict(self.unexpected),
            "shed": dict(self.shed),
            "lag": self.lag.encode().decode(),
            "violations": list(self.violations),
            "violation_count": self.violation_count,
        }
