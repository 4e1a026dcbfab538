"""``python -m bench scaling``: does ``claimgate serve --workers N`` scale with cores?

    python -m bench scaling --workers-list 1,2 --requests 20000 --repeats 3 --out bench-out/scaling

How far from linear it is, why, and what one core (and N cores) buys, so that an
operator can size a deployment. The method:

1. one private redis-server (the suite's: :func:`bench.suite.redis_server_binary`),
   pinned to ``--redis-cpus``, the reference data and the bench population loaded
   as the suite loads them (:func:`bench.suite.load_population`);
2. for each N of ``--workers-list``: ``claimgate serve --workers N --plaintext``, its
   in-flight bounds above the client count (capacity, not shedding), pinned with
   taskset to ``--server-cpus`` (default: the first N CPUs). The gateways run side by
   side; each has its own client (the bench's closed-loop driver, pharmacy Settle, as
   ``bench run`` and the suite drive it; ``--procs`` processes pinned to
   ``--client-cpus``), which claims for a share of the pool of its own, so each one
   checks the money of its own members at the end;
3. a warm-up per N, then ``--repeats`` rounds of one run per N in turn (1, 2, 1, 2, ...:
   every N sees the same machine), each run exactly ``--requests`` transactions (or
   ``--seconds``). Around each run: utime + stime from ``/proc`` of the gateway's
   workers (the supervisor's children), the supervisor, the redis-server and the client
   processes, and the busy time of every CPU from ``/proc/stat``;
4. per N the median run (by throughput): Settles/s (OK transactions; replies shed with
   RESOURCE_EXHAUSTED and unexpected errors counted apart), the speed-up over N=1 of
   the same invocation, CPU µs per Settle of workers, Redis and client, and the cores'
   worth each got; then the sizing arithmetic (:func:`sizing`) and why the speed-up
   falls short of N (:func:`why`): the cores the workers did not get, and the growth of
   their CPU per Settle;
5. the money check of every client (``Bench.verify``, as the suite does);
   ``scaling.json`` and ``scaling.md`` in ``--out``; the markdown is printed.

Nothing here asserts a timing. The bench imports nothing of the gateway: it runs the
``claimgate`` CLI as subprocesses.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procstat import (
    children_of,
    cpu_snapshot,
    machine_delta,
    machine_snapshot,
)
from bench.runner import Bench, BenchConfig
from bench.worker import PhaseSpec

PHARMACY = {"pharmacy": 1.0}
SIZING_WORKERS = (1, 2, 4, 8, 16)  # worker cores of the sizing table (and the list's own)
BUSY = 0.9  # share of a CPU above which it counts as saturated
ROLES = ("workers", "supervisor", "redis", "client")


# --- CPUs -------------------------------------------------------------------------------
def available_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def parse_cpus(text: str) -> list[int]:
    """``"0,1"`` or ``"0-3"`` (taskset's list form) -> CPUs; ``""`` -> none (any)."""
    out: list[int] = []
    for part in (p for p in text.split(",") if p):
        lo, _, hi = part.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


def cpu_text(cpus: list[int]) -> str:
    return ",".join(map(str, cpus))


def server_cpus_for(n: int, explicit: str | None, cpus: list[int]) -> str:
    """The taskset CPUs of the gateway with N workers: ``explicit``, else the first N CPUs
    (all of them when the machine has fewer)."""
    if explicit is not None:
        return explicit
    return cpu_text(cpus[:max(1, n)])


def last_cpu(cpus: list[int]) -> str:
    return str(cpus[-1]) if cpus else ""


# --- one run ------------------------------------------------------------------------------
@dataclass
class Target:
    """One gateway (a supervisor and its workers) and the bench that drives it."""

    workers: int
    server_cpus: str
    supervisor_pid: int
    target: str
    bench: Bench
    violations: int = 0


def _cpu_s(pids: list[int]) -> dict[int, float]:
    out: dict[int, float] = {}
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            out[pid] = cpu_snapshot(pid).total_s
    return out


def measure_run(t: Target, redis_pid: int, spec: PhaseSpec, repeat: int) -> dict[str, Any]:
    """One closed-loop run against ``t`` with the CPU time of every process around it."""
    workers = children_of(t.supervisor_pid)
    groups = {"workers": workers, "supervisor": [t.supervisor_pid], "redis": [redis_pid],
              "client": t.bench.pids}
    before = {g: _cpu_s(p) for g, p in groups.items()}
    m0, t0 = machine_snapshot(), time.perf_counter()
    phase = t.bench.phase(spec)
    wall = time.perf_counter() - t0
    m1 = machine_snapshot()
    after = {g: _cpu_s(p) for g, p in groups.items()}
    each = {g: [after[g][p] - before[g][p] for p in groups[g] if p in before[g] and p in after[g]]
            for g in groups}
    machine = machine_delta(m0, m1)
    t.violations += phase["violation_count"]
    return {
        "workers": t.workers, "repeat": repeat, "server_cpus": t.server_cpus,
        "transactions": phase["requests"],
        "ok": phase["requests"] - phase["unexpected_errors"],
        "shed": phase["shed"], "unexpected_errors": phase["unexpected_errors"],
        "errors_by_status": {k: v["errors_by_status"] for k, v in phase["scenarios"].items()
                             if v["errors_by_status"]},
        "violation_count": phase["violation_count"],
        "wall_s": phase["wall_s"],  # the client's: first request sent to last answer
        "measured_wall_s": round(wall, 3),  # between the /proc readings
        "worker_pids": workers,
        "cpu_s": {g: round(sum(v), 4) for g, v in each.items()},
        "workers_cpu_s_each": [round(x, 4) for x in each["workers"]],
        "machine": {"busy_s": round(machine["busy_s"], 4),
                    "busy_share_by_cpu": {str(c): round(s, 3) for c, s
                                          in machine["busy_share_by_cpu"].items()}},
        "p50_ms": phase["all"].get("p50_ms"), "p99_ms": phase["all"].get("p99_ms"),
    }


# --- derived figures ----------------------------------------------------------------------
def derive(run: dict[str, Any]) -> dict[str, Any]:
    """Settles/s, CPU µs per Settle and cores' worth of each role, of one run.

    The processes' cores are their CPU seconds over the client's wall time (first request
    sent to last answer: the CPU is spent then), so Settles/s = worker cores × 1e6 / worker
    µs per Settle exactly; the machine's busy cores are over the wall time between the
    /proc readings (which also holds the command's round trip to the client process)."""
    ok, wall, mwall = run["ok"], run["wall_s"], run["measured_wall_s"]
    each = run["workers_cpu_s_each"]

    def per(seconds: float, over: float) -> float:
        return seconds / over if over > 0 else 0.0

    cores = {g: per(s, wall) for g, s in run["cpu_s"].items()}
    machine = per(run["machine"]["busy_s"], mwall)
    return {
        "rps": per(ok, wall),
        "us_per_settle": {g: (s * 1e6 / ok if ok else None) for g, s in run["cpu_s"].items()},
        "cores": cores,
        "worker_cores_each": [per(x, wall) for x in each],
        "busiest_worker_share": max(each) / sum(each) if each and sum(each) > 0 else None,
        "machine_busy_cores": machine,
        "other_cores": max(0.0, machine - sum(cores.values())),
    }


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run by throughput (the lower middle one of an even count)."""
    ordered = sorted(runs, key=lambda r: derive(r)["rps"])
    return ordered[(len(ordered) - 1) // 2]


def sizing(worker_us: float, redis_us: float | None, client_us: float | None,
           workers: list[int]) -> dict[str, Any]:
    """What one worker core buys, where a Redis master saturates, and about what N
    worker cores give: ``min(N * 1e6 / worker_us, 1e6 / redis_us)`` per master."""
    per_core = 1e6 / worker_us
    redis_max = 1e6 / redis_us if redis_us else None
    rows = []
    for n in workers:
        by_workers = n * per_core
        rate = min(by_workers, redis_max) if redis_max else by_workers
        rows.append({
            "workers": n, "settles_per_s": round(rate),
            "limit": "Redis" if redis_max and redis_max < by_workers else "worker cores",
            "redis_cores": round(rate * redis_us / 1e6, 2) if redis_us else None,
            "client_cores": round(rate * client_us / 1e6, 2) if client_us else None,
        })
    return {"worker_us": round(worker_us, 1),
            "per_worker_core_settles_per_s": round(per_core),
            "redis_us": round(redis_us, 1) if redis_us else None,
            "redis_master_settles_per_s": round(redis_max) if redis_max else None,
            "client_us": round(client_us, 1) if client_us else None,
            "client_core_settles_per_s": round(1e6 / client_us) if client_us else None,
            "table": rows}


def shares_cpus(n: int, server_cpus: str, client_cpus: str, redis_cpus: str,
                cpus: list[int]) -> bool:
    """Whether the N workers share cores: with the client or Redis ('' = any CPU), or
    among themselves (fewer CPUs than workers)."""
    server = set(parse_cpus(server_cpus)) or set(cpus)
    others: set[int] = set()
    for text in (client_cpus, redis_cpus):
        others |= set(parse_cpus(text)) or set(cpus)
    return bool(server & others) or len(server) < n


def summarize(runs: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """Per N the median run and its derived figures, the speed-up over N=1, the sizing
    and the explanation of the shortfall."""
    ns = sorted({r["workers"] for r in runs})
    by_n: dict[str, Any] = {}
    for n in ns:
        mine = [r for r in runs if r["workers"] == n]
        med = median_run(mine)
        by_n[str(n)] = {"median_repeat": med["repeat"], "run": med, **derive(med),
                        "rps_runs": [round(derive(r)["rps"], 1) for r in mine],
                        "shed": sum(r["shed"] for r in mine),
                        "unexpected_errors": sum(r["unexpected_errors"] for r in mine)}
    base = by_n.get("1")
    for n in ns:
        row = by_n[str(n)]
        row["speedup"] = row["rps"] / base["rps"] if base and base["rps"] else None
        row["share_of_linear"] = row["speedup"] / n if row["speedup"] is not None else None
        row["shares_cpus"] = shares_cpus(n, row["run"]["server_cpus"], meta["client_cpus"],
                                         meta["redis_cpus"], meta["cpus_available"])
    ref = base or by_n[str(ns[0])]  # one worker, on a core of its own where possible
    us = ref["us_per_settle"]
    size = None
    if us.get("workers"):
        size = sizing(us["workers"], us.get("redis"), us.get("client"),
                      sorted(set(SIZING_WORKERS) | set(ns)))
    return {"by_workers": by_n, "sizing": size}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def why(n: int, row: dict[str, Any], base: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    """The shortfall from linear of N workers, in words: the cores the workers got, and
    their CPU per Settle against N=1's."""
    out: list[str] = []
    w1, wn = base["us_per_settle"]["workers"], row["us_per_settle"]["workers"]
    got = row["cores"]["workers"]
    if row["speedup"] is None or not w1 or not wn:
        return out
    linear = n * base["rps"]
    got1 = base["cores"]["workers"]
    core_share, cost = (got / (n * got1) if got1 else 0.0), w1 / wn
    out.append(
        f"**N={n}**: {row['rps']:,.0f} Settles/s, {row['speedup']:.2f}× N=1, "
        f"{row['share_of_linear']:.0%} of linear ({linear:,.0f}/s). The workers got "
        f"{got:.2f} cores' worth, {core_share:.0%} of {n} × the {got1:.2f} of the one "
        f"worker of N=1, and each Settle cost {wn:,.0f} µs of "
        f"worker CPU against {w1:,.0f} µs ({wn / w1 - 1:+.0%}): {core_share:.0%} × "
        f"{cost:.0%} = {core_share * cost:.0%} of linear, the measured "
        f"{row['share_of_linear']:.0%} (throughput is the workers' cores over their CPU "
        "per Settle).")
    busiest = row["busiest_worker_share"]
    if busiest is not None and n > 1:
        out.append(f"The busiest worker used {busiest:.0%} of the workers' CPU (even: "
                   f"{1 / n:.0%}); the kernel spreads connections over workers "
                   "(SO_REUSEPORT), not requests.")
    cpus = meta["cpus_available"]
    busy = row["machine_busy_cores"]
    per_cpu = ", ".join(f"CPU {c} {s:.0%}" for c, s in
                        row["run"]["machine"]["busy_share_by_cpu"].items())
    c = row["cores"]
    if row["shares_cpus"]:
        need = n + c["client"] + c["redis"]
        out.append(
            f"This machine has {len(cpus)} CPUs ({cpu_text(cpus)}): the {n} workers ran on "
            f"CPUs {row['run']['server_cpus'] or 'any'}, the client on "
            f"{meta['client_cpus'] or 'any CPU'}, Redis on {meta['redis_cpus'] or 'any CPU'}, "
            f"so they shared cores: {n} worker cores + the client ({c['client']:.2f}) + Redis "
            f"({c['redis']:.2f}) need about {need:.1f} cores. The machine was "
            f"{busy / len(cpus):.0%} busy ({per_cpu}); the workers got {got:.2f} cores' "
            f"worth, the client {c['client']:.2f}, Redis {c['redis']:.2f}, everything else "
            f"(other processes, interrupts) {row['other_cores']:.2f}.")
    elif busy < BUSY * len(cpus) and core_share < BUSY:
        out.append(
            f"The machine was {busy / len(cpus):.0%} busy ({per_cpu}): the workers were "
            "waiting, not short of CPU (the client, Redis round trips or the spread of "
            "connections over workers held them back).")
    return out


def markdown(report: dict[str, Any]) -> str:
    meta, summary = report["meta"], report["summary"]
    by_n = summary["by_workers"]
    ns = sorted(by_n, key=int)
    base = by_n.get("1")

    def row(label: str, cell: Any) -> str:
        return f"| {label} | " + " | ".join(cell(by_n[n]) for n in ns) + " |"

    def us(role: str) -> Any:
        def cell(r: dict[str, Any]) -> str:
            v = r["us_per_settle"].get(role)
            return "n/a" if v is None else f"{v:,.0f}"
        return cell

    amount = (f"{meta['requests']:,} transactions" if meta.get("requests")
              else f"{meta['seconds']:g} s")
    lines = [
        "# Scaling with cores: `claimgate serve --workers N`",
        "",
        f"{meta['when']}; {len(meta['cpus_available'])} CPUs; Redis on CPU "
        f"{meta['redis_cpus'] or 'any'}, the client on CPU {meta['client_cpus'] or 'any'} "
        f"({meta['procs']} process(es), {meta['clients']} closed-loop clients, "
        f"{meta['channels']} connections); pharmacy Settle, {meta['repeats']} run(s) of "
        f"{amount} per N, the N in turn; load average "
        + " → ".join(f"{la[0]:.1f}" for la in (meta.get("load_average_at_start"),
                                               meta.get("load_average_at_end")) if la)
        + ".",
        "",
        f"`{meta['command']}`",
        "",
        "| median run | " + " | ".join(f"N={n}" for n in ns) + " |",
        "|---" + "|---:" * len(ns) + "|",
        row("gateway CPUs (taskset)", lambda r: r["run"]["server_cpus"]),
        row("**Settles/s** (OK)", lambda r: f"**{r['rps']:,.0f}**"),
        row("runs (Settles/s)", lambda r: " / ".join(f"{x:,.0f}" for x in r["rps_runs"])),
        row("speed-up vs N=1", lambda r: "n/a" if r["speedup"] is None
            else f"{r['speedup']:.2f}×"),
        row("share of linear (speed-up / N)", lambda r: _pct(r["share_of_linear"])),
        row("worker CPU µs / Settle", us("workers")),
        row("Redis CPU µs / Settle", us("redis")),
        row("client CPU µs / Settle", us("client")),
        row("supervisor CPU µs / Settle", us("supervisor")),
        row("workers: cores' worth (each)", lambda r: f"{r['cores']['workers']:.2f} ("
            + " / ".join(f"{x:.2f}" for x in r["worker_cores_each"]) + ")"),
        row("Redis / client: cores' worth",
            lambda r: f"{r['cores']['redis']:.2f} / {r['cores']['client']:.2f}"),
        row("everything else: cores' worth", lambda r: f"{r['other_cores']:.2f}"),
        row("machine busy: cores (per CPU)", lambda r: f"{r['machine_busy_cores']:.2f} ("
            + ", ".join(f"{s:.0%}" for s in r["run"]["machine"]["busy_share_by_cpu"].values())
            + ")"),
        row("of which stolen by the hypervisor",
            lambda r: f"{r['run']['machine'].get('steal_share', 0.0):.0%} of the CPUs' time"),
        row("latency p50 / p99 ms", lambda r: f"{r['run']['p50_ms'] or 0:.1f} / "
            f"{r['run']['p99_ms'] or 0:.1f}"),
        row("shed / unexpected errors (all runs)",
            lambda r: f"{r['shed']:,} / {r['unexpected_errors']:,}"),
        "",
        "CPU µs per Settle: utime + stime from `/proc` over the run, divided by the OK "
        "transactions (about 2% of them carry a POS re-send, as in the suite). Cores' worth: "
        "CPU seconds over wall seconds. Everything else: the machine's busy time "
        "(`/proc/stat`) less the processes above.",
        "",
    ]
    if base:
        lines += ["## Why not linear", ""]
        got1 = base["cores"]["workers"]
        if got1 < BUSY:
            lines += [
                f"With N=1 the worker got {got1:.2f} of its core (the machine "
                f"{base['machine_busy_cores'] / len(meta['cpus_available']):.0%} busy; "
                f"everything else {base['other_cores']:.2f} cores): one worker was held back "
                "too, by other processes or by waiting.", ""]
        for n in ns:
            if n != "1":
                lines += [*why(int(n), by_n[n], base, meta), ""]
    size = summary.get("sizing")
    if size:
        ref = "N=1" if base else f"N={ns[0]}"
        para = (f"One worker core buys about **{size['per_worker_core_settles_per_s']:,} "
                f"Settles/s** ({size['worker_us']:,.0f} µs of worker CPU per Settle, the {ref} "
                "median run). ")
        if size["redis_master_settles_per_s"]:
            para += (f"A Redis master is single-threaded: at {size['redis_us']:,.0f} µs per "
                     f"Settle it saturates near **{size['redis_master_settles_per_s']:,} "
                     "Settles/s**. ")
        para += ("So N worker cores give about min(N × "
                 f"{size['per_worker_core_settles_per_s']:,}, "
                 f"{size['redis_master_settles_per_s'] or '∞'}) Settles/s per Redis master. ")
        if size["client_us"]:
            para += (f"The clients need CPU of their own: the bench's client used "
                     f"{size['client_us']:,.0f} µs per Settle ("
                     f"{size['client_core_settles_per_s']:,}/s per core), which a "
                     "deployment's point-of-sale terminals spend on their own machines, "
                     "but a load test must not take from the gateway's cores. ")
        para += ("These figures assume each worker has a core to itself; the table below "
                 "is arithmetic, not a measurement.")
        lines += ["## Sizing", "", para, "",
                  "| worker cores | about Settles/s | limited by | Redis cores busy | "
                  "load-test client cores |", "|---:|---:|---|---:|---:|"]
        for r in size["table"]:
            lines.append(f"| {r['workers']} | {r['settles_per_s']:,} | {r['limit']} | "
                         f"{r['redis_cores'] if r['redis_cores'] is not None else 'n/a'} | "
                         f"{r['client_cores'] if r['client_cores'] is not None else 'n/a'} |")
        lines.append("")
    verdicts = report.get("correctness", {})
    if verdicts:
        lines += ["## Correctness", ""]
        for n, v in sorted(verdicts.items(), key=lambda kv: int(kv[0])):
            lines.append(f"- N={n}: money check **{v['verdict']}** ({v['members_checked']:,} "
                         f"members, {v['settlements']:,} settlements, invariant violations "
                         f"{v['violation_count']}, problems {v['problem_count']})")
        lines.append("")
    for note in report.get("notes", []):
        lines.append(f"Note: {note}")
    return "\n".join(lines).rstrip() + "\n"


# --- orchestration ------------------------------------------------------------------------
def scaling(args: argparse.Namespace) -> int:
    from bench.suite import (
        claimgate_cli,
        command_start,
        load_population,
        private_redis_process,
        redis_server_binary,
        serve_gateway,
    )

    out: Path = args.out
    say = command_start("scaling", out)  # and SIGTERM stops what the command started

    ns: list[int] = args.workers_list
    cpus = available_cpus()
    client_cpus = last_cpu(cpus) if args.client_cpus is None else args.client_cpus
    redis_cpus = last_cpu(cpus) if args.redis_cpus is None else args.redis_cpus
    cg = claimgate_cli()
    bound = max(256, 2 * args.clients)
    meta: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cpus_available": cpus,
        "client_cpus": client_cpus, "redis_cpus": redis_cpus,
        "server_cpus": {str(n): server_cpus_for(n, args.server_cpus, cpus) for n in ns},
        "workers_list": ns, "clients": args.clients, "procs": args.procs,
        "channels": args.channels, "requests": None if args.seconds else args.requests,
        "seconds": args.seconds, "repeats": args.repeats, "warmup_s": args.warmup,
        "members": args.members, "pool": args.pool, "inflight_bound": bound,
        "load_average_at_start": os.getloadavg(),
        "command": "python -m bench " + " ".join(getattr(args, "argv", [])),
    }
    report: dict[str, Any] = {"meta": meta, "runs": [], "notes": []}
    spec_kw: dict[str, Any] = ({"duration_s": args.seconds} if args.seconds
                               else {"count": args.requests})
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp_s, \
            contextlib.ExitStack() as stack:
        tmp = Path(tmp_s)
        meta["redis_server"] = binary = redis_server_binary()
        redis = stack.enter_context(private_redis_process(
            tmp, out / "redis.log", args.appendfsync, redis_cpus, binary))
        load_population(cg, redis.url, tmp, args.members, args.seed)
        targets: list[Target] = []
        for i, n in enumerate(ns):
            server_cpus = meta["server_cpus"][str(n)]
            proc, target = stack.enter_context(serve_gateway(
                cg, redis.url, out / f"gateway-{n}.log", server_cpus, workers=n,
                inflight_bound=bound))
            workers = children_of(proc.pid)
            if len(workers) != n:
                report["notes"].append(f"N={n}: the supervisor has {len(workers)} children "
                                       f"({workers}), not {n}: all are counted as workers")
            cfg = BenchConfig(target=target, population=args.members, pool=args.pool,
                              seed=args.seed, procs=args.procs,
                              cpus=parse_cpus(client_cpus), channels=args.channels,
                              verify=True, inflight_max=bound,
                              per_institution_inflight_max=bound, pool_part=(i, len(ns)))
            bench = stack.enter_context(Bench(cfg))
            targets.append(Target(n, server_cpus, proc.pid, target, bench))
        for t in targets:
            snap = t.bench.snapshot()
            say(f"N={t.workers}: {snap['members']} members snapshotted; warm-up "
                f"{args.warmup:g} s")
            if args.warmup > 0:
                warm = t.bench.phase(PhaseSpec(name=f"N={t.workers} warm-up", mix=PHARMACY,
                                               clients=args.clients, duration_s=args.warmup))
                t.violations += warm["violation_count"]
        for r in range(args.repeats):
            for t in targets:
                spec = PhaseSpec(name=f"N={t.workers} run {r + 1}", mix=PHARMACY,
                                 clients=args.clients, **spec_kw)
                run = measure_run(t, redis.pid, spec, r + 1)
                report["runs"].append(run)
                d = derive(run)
                say(f"N={t.workers} run {r + 1}: {d['rps']:,.0f} Settles/s; CPU µs/Settle "
                    + ", ".join(f"{g} {v:,.0f}" for g, v in d["us_per_settle"].items() if v)
                    + f"; machine busy {d['machine_busy_cores']:.2f} cores")
        correctness: dict[str, Any] = {}
        for t in targets:
            v = t.bench.verify()
            v["violation_count"] = t.violations
            if t.violations:
                v["verdict"] = "FAIL"
            correctness[str(t.workers)] = v
        report["correctness"] = correctness
    meta["load_average_at_end"] = os.getloadavg()
    report["summary"] = summarize(report["runs"], meta)
    (out / "scaling.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    md = markdown(report)
    (out / "scaling.md").write_text(md)
    print(md)
    say(f"reports: {out / 'scaling.md'}, {out / 'scaling.json'}")
    ok = all(v["verdict"] == "PASS" for v in correctness.values())
    return 0 if ok else 1


def _workers_list(text: str) -> list[int]:
    try:
        out = [int(x) for x in text.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of worker counts") from None
    if not out or min(out) < 1 or len(set(out)) != len(out):
        raise argparse.ArgumentTypeError("distinct worker counts >= 1, e.g. 1,2")
    return out


def add_scaling_parser(sub: Any) -> None:
    p = sub.add_parser("scaling", help="claimgate serve --workers N: speed-up, CPU per "
                                       "Settle, sizing")
    p.add_argument("--workers-list", type=_workers_list, default=[1, 2],
                   help="worker counts to compare (default 1,2)")
    p.add_argument("--requests", type=int, default=20_000, help="transactions per run")
    p.add_argument("--seconds", type=float, default=None,
                   help="seconds per run instead of --requests")
    p.add_argument("--repeats", type=int, default=3, help="runs per N, the N in turn")
    p.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per N")
    p.add_argument("--clients", type=int, default=64, help="closed-loop clients")
    p.add_argument("--procs", type=int, default=1, help="client processes per N")
    p.add_argument("--channels", type=int, default=32,
                   help="connections per client process: the kernel spreads connections, "
                        "not requests, over the workers")
    p.add_argument("--server-cpus", default=None,
                   help="taskset CPUs of the gateway (default: the first N CPUs)")
    p.add_argument("--client-cpus", default=None,
                   help="CPUs of the client processes (default: the last CPU; '' = any)")
    p.add_argument("--redis-cpus", default=None,
                   help="taskset CPUs of redis (default: the last CPU; '' = any)")
    p.add_argument("--members", type=int, default=100_000, help="population loaded")
    p.add_argument("--pool", type=int, default=20_000,
                   help="members the runs claim for (split between the N)")
    p.add_argument("--seed", type=int, default=20260101)
    p.add_argument("--appendfsync", default="everysec", choices=("always", "everysec", "no"))
    p.add_argument("--out", type=Path, default=Path("bench-out/scaling"))
    p.set_defaults(fn=scaling)
