"""``python -m bench`` / ``claimgate bench``: the load-testing bench suite.

    python -m bench population --members 1000000 --out members.csv
    python -m bench run   --target 127.0.0.1:50051 --mix day --rate 500 --duration 30
    python -m bench run   --target 127.0.0.1:50051 --mix pharmacy --clients 32 --requests 20000
    python -m bench step  --target 127.0.0.1:50051 --mix pharmacy --start-rate 200
    python -m bench echo  --listen 127.0.0.1:50060
    python -m bench h2load --target 127.0.0.1:50051
    python -m bench suite --members 100000 --out bench-out
    python -m bench breakdown --out bench-out/breakdown
    python -m bench scaling --workers-list 1,2 --out bench-out/scaling

``run`` and ``step`` drive a running gateway whose members are the bench
population (``--population bench``, loaded with ``claimgate load members``) or
the demo population (``--population demo``, ``claimgate seed --members N``).
Reports go to ``--out``: JSON with HDR histograms, Markdown, and a PNG (latency
against throughput for ``step``, latency by percentile for ``run``); live progress to
stderr. Replies shed by the gateway's admission (RESOURCE_EXHAUSTED) are reported
apart, never counted in throughput or latency. Exit status: 0 on PASS, 1 on FAIL,
2 on usage errors.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from bench import report as rpt
from bench.population import write_members_csv
from bench.runner import Bench, BenchConfig, default_cpus
from bench.scenarios import parse_mix
from bench.steps import step_load
from bench.worker import PhaseSpec

# The gateway's default admission bounds (claimgate serve --inflight-max and
# --per-institution-inflight-max), assumed when a run is not told the target's own.
GATEWAY_INFLIGHT_MAX = 32
GATEWAY_PER_INSTITUTION_INFLIGHT_MAX = 16


def _cpus(text: str) -> list[int]:
    if text == "auto":
        return default_cpus()
    if text in ("", "any"):
        return []
    return [int(c) for c in text.split(",")]


def _lines(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition(":")
    return int(lo), int(hi or lo)


def _client_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", default="127.0.0.1:50051", help="gateway host:port")
    p.add_argument("--mix", default="day",
                   help="'day', a scenario name, or name=weight,... (default %(default)s)")
    p.add_argument("--population", choices=("bench", "demo"), default="bench",
                   help="whose members are loaded: bench CSV or claimgate seed")
    p.add_argument("--members", type=int, default=100_000, help="population size loaded")
    p.add_argument("--pool", type=int, default=5_000, help="members this run claims for")
    p.add_argument("--seed", type=int, default=20260101, help="population seed")
    p.add_argument("--procs", type=int, default=1, help="client processes (0 = inline)")
    p.add_argument("--cpus", default="auto",
                   help="client CPUs, e.g. '1' (auto: all but CPU 0; 'any': no pinning)")
    p.add_argument("--deadline-ms", type=float, default=5000.0)
    p.add_argument("--inpatient-lines", type=_lines, default=(200, 5000), metavar="MIN:MAX")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds (not measured)")
    p.add_argument("--poisson", action="store_true", help="Poisson arrivals (default constant)")
    p.add_argument("--no-verify", action="store_true",
                   help="skip the end-of-run money check (e.g. against the echo server)")
    p.add_argument("--inflight-max", type=int, default=GATEWAY_INFLIGHT_MAX,
                   help="the target's claimgate serve --inflight-max, times its --workers "
                        "(default: the gateway's default, %(default)s; 0: unknown): a closed "
                        "loop with more --clients measures shedding, and the bench warns")
    p.add_argument("--per-institution-inflight-max", type=int,
                   default=GATEWAY_PER_INSTITUTION_INFLIGHT_MAX,
                   help="the target's claimgate serve --per-institution-inflight-max, times "
                        "its --workers (default %(default)s; 0: unknown)")
    p.add_argument("--out", type=Path, default=Path("bench-out"))


def _bench_config(args: argparse.Namespace) -> BenchConfig:
    return BenchConfig(
        target=args.target, population=args.members, pool=args.pool, seed=args.seed,
        procs=args.procs, cpus=_cpus(args.cpus), traits_known=args.population == "bench",
        deadline_s=args.deadline_ms / 1000.0, inpatient_lines=args.inpatient_lines,
        verify=not args.no_verify, inflight_max=args.inflight_max,
        per_institution_inflight_max=args.per_institution_inflight_max,
    )


def _finish(report: dict[str, Any], args: argparse.Namespace, bench: Bench, stem: str) -> int:
    if not args.no_verify:
        verdict = bench.verify()
        verdict["violation_count"] = sum(p["violation_count"] for p in report["phases"])
        if verdict["violation_count"]:
            verdict["verdict"] = "FAIL"
            verdict["problems"] = ([v for p in report["phases"] for v in p["violations"]][:20]
                                   + verdict["problems"])
        report["correctness"] = verdict
    paths = rpt.write_all(report, args.out, stem)
    print(rpt.markdown(report))
    print(f"[bench] reports: {', '.join(map(str, paths))}", file=sys.stderr)
    if "correctness" in report:
        print(f"[bench] correctness: {report['correctness']['verdict']}", file=sys.stderr)
        return 0 if report["correctness"]["verdict"] == "PASS" else 1
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    if (args.rate is None) == (args.clients is None):
        print("give exactly one of --rate (open loop) or --clients (closed loop)",
              file=sys.stderr)
        return 2
    mix = parse_mix(args.mix)
    report: dict[str, Any] = {"title": f"run {args.mix}", "meta": _meta(args), "phases": []}
    with Bench(_bench_config(args)) as bench:
        if not args.no_verify:
            snap = bench.snapshot()
            report["meta"]["members_snapshotted"] = snap["members"]
        spec = PhaseSpec(
            name=args.mix, mix=mix, rate_per_s=args.rate or 0.0, clients=args.clients or 0,
            duration_s=args.duration if args.requests is None else None, count=args.requests,
            warmup_s=args.warmup, poisson=args.poisson,
        )
        report["phases"].append(bench.phase(spec))
        return _finish(report, args, bench, "run")


def cmd_step(args: argparse.Namespace) -> int:
    mix = parse_mix(args.mix)
    report: dict[str, Any] = {"title": f"step load {args.mix}", "meta": _meta(args),
                              "phases": [], "step_loads": {}}
    with Bench(_bench_config(args)) as bench:
        if not args.no_verify:
            bench.snapshot()
        steps, phases = step_load(
            bench, args.mix, mix, start_rps=args.start_rate, factor=args.factor,
            step_s=args.step_seconds, p99_target_ms=args.p99_ms, warmup_s=args.warmup,
            steps_max=args.steps_max,
        )
        report["step_loads"][args.target] = steps
        report["phases"] += phases
        return _finish(report, args, bench, "step")


def _meta(args: argparse.Namespace) -> dict[str, Any]:
    return {"when": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "target": args.target,
            "population": f"{args.population} ({args.members} members, seed {args.seed})",
            "pool": args.pool, "client_processes": args.procs, "client_cpus": args.cpus,
            "command": rpt.command_line(args)}


def cmd_population(args: argparse.Namespace) -> int:
    from gateway.progress import Progress  # standard library only

    t0 = time.perf_counter()
    with Progress("population", args.members, unit="members") as progress:
        n = write_members_csv(args.out, args.members, args.seed, advance=progress.advance)
    print(f"wrote {n} members to {args.out} in {time.perf_counter() - t0:.1f} s; load with:\n"
          f"  claimgate load members {args.out} [--redis-url URL]", file=sys.stderr)
    return 0


def cmd_echo(args: argparse.Namespace) -> int:
    from bench.echo_server import main as echo_main

    return echo_main(["--listen", args.listen])


def cmd_h2load(args: argparse.Namespace) -> int:
    from bench import h2load

    if not h2load.available():
        print("h2load not found: apt-get install -y nghttp2-client", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    body = args.out / "settle-body.bin"
    body.write_bytes(h2load.settle_body(args.member_index, time.strftime("%H%M%S")))
    result = h2load.run(args.target, body, requests=args.requests, clients=args.clients,
                        streams=args.streams, cpus=_cpus(args.cpus))
    print({k: v for k, v in result.items() if k != "raw"})
    return 0 if result.get("exit_code") == 0 else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="one open- or closed-loop run with a correctness check")
    _client_args(p)
    p.add_argument("--rate", type=float, help="open loop: arrivals per second")
    p.add_argument("--clients", type=int, help="closed loop: concurrent clients")
    p.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    p.add_argument("--requests", type=int, help="measured transactions (instead of duration)")
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("step", help="step load: maximum throughput under a p99 target")
    _client_args(p)
    p.add_argument("--start-rate", type=float, default=200.0)
    p.add_argument("--factor", type=float, default=1.25, help="rate multiplier per step")
    p.add_argument("--step-seconds", type=float, default=8.0)
    p.add_argument("--steps-max", type=int, default=15)
    p.add_argument("--p99-ms", type=float, default=3.0, help="p99 target")
    p.set_defaults(fn=cmd_step)

    p = sub.add_parser("population", help="write the bench population as a members CSV")
    p.add_argument("--members", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=20260101)
    p.add_argument("--out", type=Path, default=Path("members.csv"))
    p.set_defaults(fn=cmd_population)

    p = sub.add_parser("echo", help="serve the bare grpc.aio echo server (the ceiling)")
    p.add_argument("--listen", default="127.0.0.1:50060")
    p.set_defaults(fn=cmd_echo)

    p = sub.add_parser("h2load", help="pharmacy Settle with h2load (replays one request)")
    p.add_argument("--target", default="127.0.0.1:50051")
    p.add_argument("--requests", type=int, default=50_000)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--streams", type=int, default=16, help="concurrent streams per client")
    p.add_argument("--member-index", type=int, default=1)
    p.add_argument("--cpus", default="auto")
    p.add_argument("--out", type=Path, default=Path("bench-out"))
    p.set_defaults(fn=cmd_h2load)

    from bench.breakdown import add_breakdown_parser
    from bench.episode import add_episode_parser
    from bench.scaling import add_scaling_parser
    from bench.suite import add_suite_parser

    add_suite_parser(sub)
    add_breakdown_parser(sub)
    add_episode_parser(sub)
    add_scaling_parser(sub)
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the bench's own arguments (``argv`` excludes ``claimgate bench``)."""
    args = build_parser().parse_args(argv)
    args.argv = list(argv)  # the report header's command line
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    result: int = args.fn(args)
    return result
