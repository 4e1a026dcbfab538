"""Final reports: JSON (with encoded HDR histograms), Markdown, and a PNG plot."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

PERCENTILES = ("p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "max_ms")
PLOT_PERCENTILES = (0.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99)
PLOT_TICKS = (0.0, 50.0, 90.0, 99.0, 99.9, 99.99)


def command_line(args: argparse.Namespace) -> str:
    """The bench command for a report header, as ``python -m bench`` would take it.

    ``claimgate bench run ...`` and ``python -m bench run ...`` give the same line:
    it is built from the arguments the bench parser received (``args.argv``), not
    from the process's own command line.
    """
    argv = getattr(args, "argv", None)
    return "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)


def write_json(report: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(report, indent=1, sort_keys=False) + "\n", encoding="utf-8")


def _phase_table(phase: dict[str, Any]) -> list[str]:
    out = [
        f"### {phase['phase']}",
        "",
        f"offered {phase['offered_rate_rps']}/s, achieved {phase['achieved_rps']}/s, "
        f"{phase['requests']} transactions in {phase['wall_s']} s, unexpected errors "
        f"{phase['unexpected_errors']}, invariant violations {phase['violation_count']}, "
        f"client send lag p99 {phase['client']['send_lag_p99_ms']} ms, client CPU "
        + ", ".join(f"{c['cpu_share']:.0%}" for c in phase["client"]["processes"]),
        "",
    ]
    if phase.get("shed"):
        out += [f"**Shed**: {phase['shed']} transactions ({phase['shed_rps']}/s) were refused "
                "by admission (RESOURCE_EXHAUSTED); they are not counted in the throughput "
                "or the latencies.", ""]
    out += [f"**WARNING**: {w}" for w in phase.get("warnings", [])]
    if phase.get("warnings"):
        out.append("")
    out += [
        "| scenario | count | rps | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | shed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for key, s in phase["scenarios"].items():
        errors = ", ".join(f"{k} {v}" for k, v in s["errors_by_status"].items()) or "-"
        out.append(f"| {key} | {s['count']} | {s['throughput_rps']} | "
                   + " | ".join(str(s[p]) for p in PERCENTILES)
                   + f" | {errors} | {s.get('shed', 0)} |")
    served = phase.get("served")
    if served and served.get("count"):
        out += ["", f"As the gateway served them (its access log, from the handler's start "
                f"to the answer): {served['count']} {served['method']} calls, p50 "
                f"{served['p50_ms']} ms, p99 {served['p99_ms']} ms, p99.9 "
                f"{served['p99_9_ms']} ms, max {served['max_ms']} ms."]
    forks = phase.get("redis_forks")
    if forks is not None:
        out += ["", f"Redis forked {forks} time(s) during the phase (AOF rewrites, whose "
                "child shares the CPU of Redis and the client)." if forks else
                "Redis did not fork during the phase (no AOF rewrite)."]
    if phase["client"]["saturated"]:
        out += ["", f"**WARNING**: client processes {phase['client']['saturated']} were "
                "CPU-saturated; the generator may have limited the throughput."]
    return [*out, ""]


def _steps_table(title: str, steps: dict[str, Any]) -> list[str]:
    out = [f"### {title}", "",
           f"p99 target {steps['p99_target_ms']} ms; maximum sustainable throughput "
           f"**{steps['max_sustainable_rps']}/s**", "",
           "| offered /s | achieved /s | p50 ms | p99 ms | p99.9 ms | unexpected | shed | ok |",
           "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for s in steps["steps"]:
        out.append(f"| {s['offered_rps']} | {s['achieved_rps']} | {s['p50_ms']} | "
                   f"{s['p99_ms']} | {s['p99_9_ms']} | {s['unexpected']} | {s.get('shed', 0)} | "
                   f"{'yes' if s['sustained'] else 'no'} |")
    return [*out, ""]


def markdown(report: dict[str, Any]) -> str:
    out = [f"# Bench report: {report.get('title', 'claimgate')}", ""]
    meta = report.get("meta", {})
    if meta:
        out += [f"- {k}: {v}" for k, v in meta.items()] + [""]
    if "correctness" in report:
        c = report["correctness"]
        out += [f"## Correctness: **{c['verdict']}**", "",
                f"{c['members_checked']} members checked, {c['settlements']} settlements, "
                f"{c['reversed']} reversed, {c['unknown_resolved']} unseen outcomes resolved, "
                f"{c['crosschecked']} request ids re-read, invariant violations "
                f"{c.get('violation_count', 0)}.", ""]
        out += [f"- {p}" for p in c.get("problems", [])[:20]] + [""]
    if "ceiling" in report:
        out += ["## Ceiling", ""]
        out += [f"- {k}: {v}" for k, v in report["ceiling"].items()] + [""]
    for title, steps in report.get("step_loads", {}).items():
        out += _steps_table(title, steps)
    out += ["## Phases", ""]
    for phase in report.get("phases", []):
        out += _phase_table(phase)
    if "h2load" in report:
        out += ["## h2load", ""]
        for name, h in report["h2load"].items():
            out += [f"- {name}: {json.dumps({k: v for k, v in h.items() if k != 'raw'})}"]
        out += [""]
    for note in report.get("notes", []):
        out += [f"> {note}", ""]
    return "\n".join(out)


def plot_steps(step_loads: dict[str, dict[str, Any]], path: Path) -> None:
    """Latency (p50, p99) against achieved throughput, one line per target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, steps in step_loads.items():
        xs = [s["achieved_rps"] for s in steps["steps"]]
        ax.plot(xs, [s["p99_ms"] for s in steps["steps"]], marker="o", label=f"{name} p99")
        ax.plot(xs, [s["p50_ms"] for s in steps["steps"]], marker=".", linestyle="--",
                label=f"{name} p50")
        target = steps["p99_target_ms"]
    if step_loads:
        ax.axhline(target, color="grey", linestyle=":", label=f"p99 target {target} ms")
    ax.set_xlabel("achieved throughput (transactions/s)")
    ax.set_ylabel("latency from intended send time (ms)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title("Latency vs throughput (open-loop step load)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_percentiles(phases: list[dict[str, Any]], path: Path) -> None:
    """The latency distribution of each phase's transactions, by percentile (HDR style)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from hdrh.histogram import HdrHistogram

    fig, ax = plt.subplots(figsize=(8, 5))
    for phase in phases:
        for key, s in phase["scenarios"].items():
            if "/" in key or not s["count"]:
                continue
            h = HdrHistogram.decode(s["hdr_histogram"].encode())
            xs = [1.0 / (1.0 - p / 100.0) for p in PLOT_PERCENTILES]
            ys = [h.get_value_at_percentile(p) / 1000.0 for p in PLOT_PERCENTILES]
            label = key if len(phases) == 1 else f"{phase['phase']}: {key}"
            ax.plot(xs, ys, marker=".", label=f"{label} ({s['throughput_rps']}/s)")
    ax.set_xscale("log")
    ax.set_xticks([1.0 / (1.0 - p / 100.0) for p in PLOT_TICKS])
    ax.set_xticklabels([f"p{p:g}" for p in PLOT_TICKS])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency from intended send time (ms)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    if ax.lines:
        ax.legend()
    ax.set_title("Latency by percentile (shed replies excluded)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_all(report: dict[str, Any], out_dir: Path, stem: str = "report") -> list[Path]:
    """JSON and Markdown; the PNG: latency against throughput when the report has step
    loads, else the latency distribution of its phases."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.json", out_dir / f"{stem}.md"]
    write_json(report, paths[0])
    paths[1].write_text(markdown(report) + "\n", encoding="utf-8")
    png = out_dir / f"{stem}.png"
    if report.get("step_loads"):
        plot_steps(report["step_loads"], png)
        paths.append(png)
    elif report.get("phases"):
        plot_percentiles(report["phases"], png)
        paths.append(png)
    return paths
