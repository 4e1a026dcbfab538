"""``python -m bench suite``: the whole measurement, self-contained and reproducible.

1. a private redis-server (temporary directory, AOF ``--appendfsync``): the binary the
   gateway itself would start (``find_redis_server()``: PATH, else the one its package
   ships), asked of the installed ``gateway`` package in a subprocess; reference
   data with ``claimgate seed --members 0``, the bench population written as CSV
   and loaded with ``claimgate load members`` (subprocesses: no gateway imports);
2. the ceiling: the echo server pinned to the server CPU, pharmacy Settle driven
   closed-loop (capacity) and step-load (max rate under the p99 target);
3. the gateway, ``claimgate serve`` pinned to the same CPU: the same two
   measurements, then a fixed-rate pharmacy run at 50% of the maximum, the
   realistic-day mix, inpatient discharges of 5,000 lines, and the money check;
4. optionally py-spy on the gateway and h2load against both servers;
5. report.json / report.md / report.png in ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bench import h2load
from bench import report as rpt
from bench.population import write_members_csv
from bench.runner import Bench, BenchConfig
from bench.scenarios import DAY_MIX
from bench.served import ACCESS_LOG_BATCH_S, served_summary
from bench.steps import step_load
from bench.worker import PhaseSpec

PHARMACY = {"pharmacy": 1.0}
READY_TIMEOUT_S = 120.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pin(cmd: list[str], cpus: str) -> list[str]:
    if cpus and shutil.which("taskset"):
        return ["taskset", "-c", cpus, *cmd]
    return cmd


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not listen on {port}")


def _wait_serving(target: str) -> None:
    """Ready when a real RPC answers (the gateway warms its kernels before serving)."""
    import grpc

    from claims.v1 import claims_pb2 as pb
    from claims.v1 import claims_pb2_grpc as pb_grpc

    deadline = time.monotonic() + READY_TIMEOUT_S
    with grpc.insecure_channel(target) as ch:
        stub = pb_grpc.ClaimGatewayStub(ch)
        while time.monotonic() < deadline:
            try:
                stub.CheckEligibility(pb.EligibilityRequest(institution_code="P31010001",
                                                            psn_no="31010000000001"), timeout=5)
                return
            except grpc.RpcError as e:
                if e.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                    return
                time.sleep(0.3)
    raise TimeoutError(f"{target} not serving")


@contextlib.contextmanager
def _process(cmd: list[str], log: Path, what: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()  # our own child, by pid
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def pin_this_process(cpus: str) -> None:
    """Keep this process (a client) on ``cpus`` ("1", "0,1"; "" leaves it anywhere)."""
    chosen = [int(c) for c in cpus.split(",")] if cpus else []
    if chosen and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, chosen)


def command_start(name: str, out: Path) -> Callable[[str], None]:
    """What a bench command does first: its output directory made, SIGTERM made to
    unwind like an exception (so the servers and redis it started are stopped), and
    its ``say``: a progress line on stderr, tagged with the command's name."""
    out.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    def say(text: str) -> None:
        print(f"[{name}] {text}", file=sys.stderr, flush=True)

    return say


def checkout_env(checkout: Path | None) -> list[str]:
    """The command prefix that runs another checkout of the project (a baseline) with
    its code first on the import path, in this virtualenv; [] for this checkout."""
    return ["env", f"PYTHONPATH={checkout}:{checkout / 'proto'}"] if checkout else []


def is_checkout(path: Path) -> bool:
    return (path / "gateway").is_dir()


def claimgate_cli() -> list[str]:
    """The ``claimgate`` of the Python running the bench (its virtualenv's, activated or not)."""
    script = Path(sys.executable).with_name("claimgate")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "gateway.cli"]


def redis_server_binary() -> str:
    """The redis-server ``make run`` would start: ``gateway.redis_server.find_redis_server``
    of the installed package, run in a child process (the bench imports no gateway module)."""
    code = "from gateway.redis_server import find_redis_server as f; print(f())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"no redis-server for the suite: {reason}")
    return lines[-1]


@dataclass(frozen=True)
class RedisProcess:
    url: str
    pid: int  # the redis-server's own (taskset executes it in place)


@contextlib.contextmanager
def private_redis_process(data_dir: Path, log: Path, appendfsync: str, cpus: str = "",
                          binary: str | None = None) -> Iterator[RedisProcess]:
    """A redis-server (default :func:`redis_server_binary`) on a free loopback port with its
    data in ``data_dir``; yields its URL and process id."""
    port = _free_port()
    cmd = [binary or redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
           "--dir", str(data_dir), "--save", "", "--appendonly", "yes",
           "--appendfsync", appendfsync]
    print(f"[suite] $ {' '.join(cmd)}", file=sys.stderr, flush=True)
    with _process(_pin(cmd, cpus), log, "redis") as proc:
        _wait_port(port, proc, "redis-server")
        yield RedisProcess(f"redis://127.0.0.1:{port}/0", proc.pid)


@contextlib.contextmanager
def private_redis(data_dir: Path, log: Path, appendfsync: str, cpus: str = "",
                  binary: str | None = None) -> Iterator[str]:
    """:func:`private_redis_process`, its URL only."""
    with private_redis_process(data_dir, log, appendfsync, cpus, binary) as server:
        yield server.url


def redis_forks(url: str) -> int:
    """How often the server has forked since it started (``total_forks``). The suite's
    Redis forks for its AOF rewrites only, and the child runs on the CPUs of Redis and
    the client: a phase during which it forked has shared them with the rewrite."""
    r = redis.Redis.from_url(url)
    try:
        return int(r.info("stats").get("total_forks", 0))
    finally:
        r.close()


def _run(cmd: list[str]) -> None:
    print(f"[suite] $ {' '.join(cmd)}", file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True)


def load_population(cg: list[str], url: str, work_dir: Path, members: int, seed: int) -> float:
    """Reference data (``claimgate seed --members 0``: policy, catalogue, institutions),
    then the bench population written as CSV in ``work_dir`` and loaded with
    ``claimgate load members``; returns the seconds the population's write and load took."""
    _run([*cg, "seed", "--members", "0", "--redis-url", url])
    csv_path = work_dir / "members.csv"
    t0 = time.perf_counter()
    write_members_csv(csv_path, members, seed)
    _run([*cg, "load", "members", str(csv_path), "--redis-url", url])
    return time.perf_counter() - t0


@contextlib.contextmanager
def serve_gateway(cg: list[str], url: str, log: Path, cpus: str = "", workers: int = 0,
                  inflight_bound: int = 0, extra: Sequence[str] = (),
                  ) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``claimgate serve --plaintext`` on a free loopback port, pinned to ``cpus``; yields
    the process (the supervisor, with ``--workers``) and its target once a real RPC
    answers. ``inflight_bound`` > 0 sets both in-flight bounds (capacity, not shedding)."""
    port = _free_port()
    target = f"127.0.0.1:{port}"
    cmd = [*cg, "serve", "--redis-url", url, "--listen", target, "--plaintext"]
    if inflight_bound:
        cmd += ["--inflight-max", str(inflight_bound), "--per-institution-inflight-max",
                str(inflight_bound)]
    if workers:
        cmd += ["--workers", str(workers)]
    cmd += extra
    with _process(_pin(cmd, cpus), log, "gateway") as proc:
        _wait_port(port, proc, "gateway")
        _wait_serving(target)
        yield proc, target


def _py_spy(pid: int, seconds: int, out: Path) -> dict[str, Any]:
    """Sample the gateway; return the top frames by own time (collapsed stacks)."""
    beside = Path(sys.executable).with_name("py-spy")  # a virtualenv's, activated or not
    py_spy = str(beside) if beside.is_file() else shutil.which("py-spy")
    if py_spy is None:
        return {"error": "py-spy not installed (pip install py-spy)"}
    raw = out / "gateway-py-spy.txt"
    cmd = [py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "250",
           "--format", "raw", "--output", str(raw), "--nonblocking", "--subprocesses"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=seconds + 60)
    if done.returncode != 0 or not raw.exists():
        return {"error": done.stderr[-500:]}
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        own[stack.split(";")[-1]] += int(n)
    return {"samples": total, "raw": str(raw),
            "top_own": [(f, round(100.0 * n / total, 1)) for f, n in own.most_common(20)]}


def suite(args: argparse.Namespace) -> int:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    server_cpus, client_cpus = args.server_cpus, args.client_cpus
    cg = claimgate_cli()
    report: dict[str, Any] = {
        "title": "suite", "phases": [], "step_loads": {}, "notes": [],
        "meta": {"when": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cpus": os.cpu_count(),
                 "server_cpus": server_cpus, "client_cpus": client_cpus,
                 "members": args.members, "appendfsync": args.appendfsync,
                 "client_processes": args.procs,
                 "command": rpt.command_line(args)},
    }
    cpus = [int(c) for c in client_cpus.split(",")] if client_cpus else []
    if args.h2load and not h2load.available():
        report["notes"].append("h2load was asked for but is not on PATH "
                               "(apt-get install -y nghttp2-client): no h2load measurements.")

    def config(target: str, verify: bool, **kw: Any) -> BenchConfig:
        return BenchConfig(target=target, population=args.members, pool=args.pool,
                           seed=args.seed, procs=args.procs, cpus=cpus, verify=verify, **kw)

    with tempfile.TemporaryDirectory(prefix="bench-suite-") as tmp_s:
        tmp = Path(tmp_s)
        # --- 1. redis, reference data, population --------------------------------------
        binary = report["meta"]["redis_server"] = redis_server_binary()
        with private_redis(tmp, out / "redis.log", args.appendfsync, args.redis_cpus,
                           binary) as url:
            load_s = load_population(cg, url, tmp, args.members, args.seed)
            report["meta"]["population_write_and_load_s"] = round(load_s, 1)

            # --- 2. the ceiling: echo server --------------------------------------------
            echo_port = _free_port()
            echo_target = f"127.0.0.1:{echo_port}"
            echo_cmd = _pin([sys.executable, "-m", "bench.echo_server", "--listen", echo_target],
                            server_cpus)
            ceiling: dict[str, Any] = {}
            with _process(echo_cmd, out / "echo.log", "echo") as echo_p:
                _wait_port(echo_port, echo_p, "echo server")
                with Bench(config(echo_target, False)) as b:
                    cap = b.phase(PhaseSpec(name="echo pharmacy closed loop", mix=PHARMACY,
                                            clients=args.clients, duration_s=args.seconds,
                                            warmup_s=2.0))
                    report["phases"].append(cap)
                    steps, phases = step_load(b, "echo pharmacy", PHARMACY,
                                              start_rps=args.start_rate, factor=args.factor,
                                              step_s=args.step_seconds,
                                              p99_target_ms=args.p99_ms)
                    report["step_loads"]["echo"] = steps
                    report["phases"] += phases
                ceiling["echo_closed_loop_rps"] = cap["achieved_rps"]
                ceiling["echo_max_sustainable_rps"] = steps["max_sustainable_rps"]
                if args.h2load and h2load.available():
                    body = out / "settle-body.bin"
                    body.write_bytes(h2load.settle_body(1, time.strftime("%H%M%S")))
                    report.setdefault("h2load", {})["echo"] = h2load.run(
                        echo_target, body, requests=args.h2load_requests, clients=4,
                        streams=16, cpus=cpus)

            # --- 3. the gateway -------------------------------------------------------
            # Capacity, not shedding, is measured here: bounds above the closed loop's clients.
            bound = max(256, 2 * args.clients)
            with serve_gateway(cg, url, out / "gateway.log", server_cpus, args.workers,
                               bound) as (gw_p, gw_target):
                with Bench(config(gw_target, True, inflight_max=bound,
                                  per_institution_inflight_max=bound)) as b:
                    snap = b.snapshot()
                    report["meta"]["members_snapshotted"] = snap["members"]
                    cap = b.phase(PhaseSpec(name="gateway pharmacy closed loop", mix=PHARMACY,
                                            clients=args.clients, duration_s=args.seconds,
                                            warmup_s=2.0))
                    report["phases"].append(cap)
                    ceiling["gateway_closed_loop_rps"] = cap["achieved_rps"]
                    steps, phases = step_load(b, "gateway pharmacy", PHARMACY,
                                              start_rps=args.start_rate, factor=args.factor,
                                              step_s=args.step_seconds,
                                              p99_target_ms=args.p99_ms)
                    report["step_loads"]["gateway"] = steps
                    report["phases"] += phases
                    # The target: p99 at half of the maximum rate, which is what
                    # the closed loop achieved (the p99-bound steps stop far lower).
                    forks = redis_forks(url)
                    half = b.phase(PhaseSpec(name="gateway pharmacy @ 50% of its maximum rate",
                                             mix=PHARMACY,
                                             rate_per_s=max(1.0, cap["achieved_rps"] / 2),
                                             duration_s=args.seconds, warmup_s=1.0))
                    half["redis_forks"] = redis_forks(url) - forks
                    # The same Settles as the gateway served them (its access log), without
                    # the client's share: those that ended in the measured seconds.
                    time.sleep(2 * ACCESS_LOG_BATCH_S)  # its last lines written
                    ended = time.time()
                    half["served"] = served_summary(out / "gateway.log", "Settle",
                                                    ended - args.seconds, ended)
                    report["phases"].append(half)
                    # The day mix has calls of several steps each (inpatient, reversals):
                    # it runs at half the best step's rate, as before, a lower one.
                    best = steps["max_sustainable_rps"] or max(
                        s["achieved_rps"] for s in steps["steps"])
                    spy: dict[str, Any] = {}
                    if args.py_spy:
                        import threading

                        def sample() -> None:
                            spy.update(_py_spy(gw_p.pid, max(3, int(args.seconds) - 2), out))

                        t = threading.Thread(target=sample)
                        t.start()
                    day = b.phase(PhaseSpec(name="gateway realistic day mix", mix=DAY_MIX,
                                            rate_per_s=max(1.0, best / 2),
                                            duration_s=args.seconds, warmup_s=1.0))
                    report["phases"].append(day)
                    if args.py_spy:
                        t.join()
                        report["py_spy_day_mix"] = spy
                    inpatient = b.phase(PhaseSpec(name="gateway inpatient 5000 lines",
                                                  mix={"inpatient": 1.0}, rate_per_s=1.0,
                                                  count=args.inpatient_count,
                                                  inpatient_lines=(5000, 5000)))
                    report["phases"].append(inpatient)
                    verdict = b.verify()
                    verdict["violation_count"] = sum(
                        p["violation_count"] for p in report["phases"]
                        if p["phase"].startswith("gateway"))
                    if verdict["violation_count"]:
                        verdict["verdict"] = "FAIL"
                    report["correctness"] = verdict
                if args.h2load and h2load.available():
                    body = out / "settle-body.bin"
                    report.setdefault("h2load", {})["gateway"] = h2load.run(
                        gw_target, body, requests=args.h2load_requests, clients=4, streams=16,
                        cpus=cpus)
                    report["notes"].append(
                        "h2load sends one prebuilt body: after the first request every "
                        "request is an idempotent replay of the same request_id (the replay "
                        "path, not adjudication); gRPC statuses are in trailers, unseen by "
                        "h2load.")

    gw_steps = report["step_loads"]["gateway"]
    ceiling["gateway_max_sustainable_rps"] = gw_steps["max_sustainable_rps"]
    if ceiling["echo_closed_loop_rps"]:
        ceiling["closed_loop_fraction_of_echo"] = round(
            ceiling["gateway_closed_loop_rps"] / ceiling["echo_closed_loop_rps"], 3)
    if ceiling["echo_max_sustainable_rps"]:
        ceiling["sustainable_fraction_of_echo"] = round(
            ceiling["gateway_max_sustainable_rps"] / ceiling["echo_max_sustainable_rps"], 3)
    report["ceiling"] = ceiling
    inp = inpatient["scenarios"].get("inpatient/Settle", {})
    half_p99 = half["scenarios"].get("pharmacy/Settle", {}).get("p99_ms")
    ceiling["half_load_rps"] = half["offered_rate_rps"]
    ceiling["half_load_settles_served"] = half["served"]["count"]  # POS re-sends included
    ceiling["half_load_redis_forks"] = half["redis_forks"]  # AOF rewrites during it
    report["targets"] = {  # those of BENCHMARKS.md, "The throughput targets"
        "pharmacy Settle >= 0.60 of echo, each at the steps' p99 target (share)": ceiling.get(
            "sustainable_fraction_of_echo"),
        "pharmacy Settle >= 0.60 of echo, closed loop (share)": ceiling.get(
            "closed_loop_fraction_of_echo"),
        "pharmacy Settle p99 <= 3 ms at 50% of its maximum rate (ms)": half_p99,
        "the same, as the gateway served it (access log) (ms)": half["served"].get("p99_ms"),
        "inpatient 5,000-line Settle p99 <= 50 ms (ms)": inp.get("p99_ms"),
    }
    report["ceiling"].update({f"target: {k}": v for k, v in report["targets"].items()})
    paths = rpt.write_all(report, out, "report")
    print(rpt.markdown(report))
    print(f"[suite] reports: {', '.join(map(str, paths))}", file=sys.stderr)
    return 0 if report["correctness"]["verdict"] == "PASS" else 1


def add_suite_parser(sub: Any) -> None:
    p = sub.add_parser("suite", help="private redis + echo + gateway, every measurement")
    p.add_argument("--members", type=int, default=100_000, help="population (1000000 = full)")
    p.add_argument("--pool", type=int, default=5_000, help="members the runs claim for")
    p.add_argument("--seed", type=int, default=20260101)
    p.add_argument("--procs", type=int, default=1, help="client processes")
    p.add_argument("--server-cpus", default="0", help="taskset CPUs of echo / gateway")
    p.add_argument("--client-cpus", default="1", help="CPUs of the client processes")
    p.add_argument("--redis-cpus", default="", help="taskset CPUs of redis ('' = any)")
    p.add_argument("--appendfsync", default="everysec", choices=("always", "everysec", "no"))
    p.add_argument("--workers", type=int, default=0, help="claimgate serve --workers N")
    p.add_argument("--clients", type=int, default=64, help="closed-loop clients")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds per fixed phase")
    p.add_argument("--start-rate", type=float, default=300.0)
    p.add_argument("--factor", type=float, default=1.3)
    p.add_argument("--step-seconds", type=float, default=6.0)
    p.add_argument("--p99-ms", type=float, default=3.0,
                   help="the p99 a step of rising load must keep to count as sustained")
    p.add_argument("--inpatient-count", type=int, default=10)
    p.add_argument("--h2load", action="store_true", help="also drive Settle with h2load")
    p.add_argument("--h2load-requests", type=int, default=30_000)
    p.add_argument("--py-spy", action="store_true", help="sample the gateway with py-spy")
    p.add_argument("--out", type=Path, default=Path("bench-out"))
    p.set_defaults(fn=suite)
