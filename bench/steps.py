"""Step load: raise the open-loop rate until the p99 target breaks."""

from __future__ import annotations

from typing import Any

from bench.runner import Bench
from bench.worker import PhaseSpec

STEPS_MAX = 40
ACHIEVED_SHARE_MIN = 0.95  # a step is sustained only if the generator got 95% of the rate out
ERROR_SHARE_MAX = 0.001


def step_load(
    bench: Bench, name: str, mix: dict[str, float], *, start_rps: float, factor: float,
    step_s: float, p99_target_ms: float, warmup_s: float = 2.0, steps_max: int = 12,
    failures_max: int = 2,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Returns the step summary and the phases (for the report)."""
    rate = start_rps
    steps: list[dict[str, Any]] = []
    phases: list[dict[str, Any]] = []
    failures = 0
    best = 0.0
    for i in range(min(steps_max, STEPS_MAX)):
        phase = bench.phase(PhaseSpec(name=f"{name} step {i + 1} @ {rate:.0f}/s", mix=mix,
                                      rate_per_s=rate, duration_s=step_s,
                                      warmup_s=warmup_s if i == 0 else 1.0))
        phases.append(phase)
        a = phase["all"]
        count = a.get("count", 0)
        shed = phase.get("shed", 0)  # refused by admission: a rate the target did not sustain
        sustained = (
            count > 0 and a["p99_ms"] <= p99_target_ms
            and phase["achieved_rps"] >= ACHIEVED_SHARE_MIN * rate
            and phase["unexpected_errors"] <= ERROR_SHARE_MAX * count
            and shed <= ERROR_SHARE_MAX * (count + shed)
        )
        steps.append({"offered_rps": round(rate, 1), "achieved_rps": phase["achieved_rps"],
                      "p50_ms": a.get("p50_ms", 0), "p99_ms": a.get("p99_ms", 0),
                      "p99_9_ms": a.get("p99_9_ms", 0), "unexpected": phase["unexpected_errors"],
                      "shed": shed,
                      "client_cpu": [c["cpu_share"] for c in phase["client"]["processes"]],
                      "sustained": sustained})
        if sustained:
            best = max(best, phase["achieved_rps"])
            failures = 0
        else:
            failures += 1
            if failures >= failures_max:
                break
        rate *= factor
    return {"p99_target_ms": p99_target_ms, "max_sustainable_rps": best, "steps": steps}, phases
