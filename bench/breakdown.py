"""``python -m bench breakdown``: where every microsecond of a request goes.

    python -m bench breakdown --out bench-out/breakdown --requests 10000 --repeats 2

CPU time per request, by stage, for ``CheckEligibility``, ``PreSettle`` and
``Settle`` of a 3-line pharmacy claim on one gateway worker, and for the same
three methods on the bare ceiling (``bench.echo_server``: canned responses).

The method:

1. a private redis-server (the suite's: ``redis_server_binary()``) pinned to the
   client CPU, ``claimgate seed --members 0`` and the bench population loaded
   with ``claimgate load members``;
2. the server under test pinned to one CPU (``taskset -c 0 claimgate serve
   --workers 1``, its in-flight bounds above the client count so nothing is shed;
   the measured process is the worker the supervisor forks);
3. for each method: a warm-up, then ``--repeats`` closed-loop runs of exactly
   ``--requests`` requests from this process (pinned to the client CPU), against the
   gateway and the echo server in turn (gateway, echo, gateway, echo: both see the
   same machine). Around each run the server's CPU time (utime + stime of
   ``/proc/PID/stat``: every thread, gRPC's own included) is read, so CPU µs per
   request depends little on how busy the shared machine is;
4. one more run per server under ``py-spy record --native --threads --format raw``
   (``--profile-requests``, as many as a run by default). Each sample's stack is read from
   the innermost frame outwards and the first frame that :data:`RULES` knows gives its
   stage (protobuf, numpy or the Redis client under ``commit_settlement`` count as the
   commit, and so on); gRPC and the event loop (:data:`FALLBACK_RULES`) only decide for
   stacks without a known frame; project code that no rule knows is "other",
   reported with its top frames, never hidden. Samples of a blocked thread (epoll, a
   condition variable, the GIL) are left out. A thread's CPU time is split over the
   stages in the proportions of its samples; threads py-spy cannot see (gRPC's C-core
   threads) are given a stage by name (:data:`THREAD_RULES`).

The profiled run only gives proportions; the CPU per request comes from the
unprofiled runs (py-spy ``--native`` pauses the process to sample it). Output in
``--out``: ``breakdown.json``, ``breakdown.md`` (the table) and the raw py-spy
profiles. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.population import card_no_of, psn_no_of, traits_of
from bench.procstat import (
    children_of,
    context_switches,
    cpu_delta,
    cpu_snapshot,
    machine_delta,
    machine_snapshot,
)
from bench.scheduler import ClosedLoop, Timing

METHODS = ("CheckEligibility", "PreSettle", "Settle")
PHARMACIES = ("P31010001", "P31010002", "P31010003")
# The 3-line pharmacy claim: acute drugs without restrictions, (code, unit price fen, qty).
CLAIM_LINES: tuple[tuple[str, int, int], ...] = (
    ("D0001", 1250, 2), ("D0002", 3680, 1), ("D0015", 1890, 1),
)  # fmt: skip

# --- stages ------------------------------------------------------------------------------
STAGES: tuple[str, ...] = (
    "gRPC in and out", "event loop", "decode and validation", "admission and budget",
    "Redis read", "row building", "kernel", "invariant checks", "response building",
    "commit arguments", "commit", "Redis socket I/O", "metrics", "access log",
    "garbage collector", "handler glue", "other",
)  # fmt: skip
OTHER = "other"
WAITING = "(waiting)"  # a blocked thread: no CPU, left out of the proportions


def _py(module: str, functions: str = r"[^ ]+") -> str:
    """A Python frame of ``module`` (a path regex), as py-spy writes it:
    ``[Class.]function (path/module.py:line)``."""
    return rf"^(?:[\w<>]+\.)*(?:{functions}) \((?:[^()]*/)?{module}\.py(?::\d+)?\)$"


def _native(functions: str) -> str:
    """A native frame whose function name matches (any library or file)."""
    return rf"^(?:{functions}) \("


Rule = tuple[str, str, tuple[str, ...]]  # (stage, pattern of the frame, patterns of others)
ENCODE = (r"\w*(?:SerializeToString|SerializePartialToString|upb_Encode|_upb_Encoder)\w*|"
          r"encode_message")  # protobuf serialization

# A sample's stack is read from the innermost frame outwards; the first frame that a
# rule's pattern matches gives the stage (on one frame the rules are tried in order). A
# rule with context patterns also needs each of them to match some frame of the stack:
# the Redis client under ``read_member`` is the Redis read, under ``commit_settlement`` the
# commit. gRPC's and the event loop's frames hold every request up, so they are only
# looked for when no rule here matched (FALLBACK_RULES).
RULES: tuple[Rule, ...] = (
    # The cycle collector runs wherever an allocation triggers it.
    ("garbage collector", _native(r"gc_collect_main|gc_collect_with_callback|"
                                  r"_PyObject_GC_Collect|collect_generations|gc_collect"), ()),
    ("access log", _py(r"gateway/accesslog"), ()),
    ("metrics", _py(r"gateway/metrics"), ()),
    ("metrics", _py(r"prometheus_client/[^ ]+"), ()),
    ("commit arguments", _native(ENCODE), (_py(r"gateway/settlement", r"request_hash"),)),
    ("commit arguments", _py(r"gateway/settlement", r"commit_plan|_kept_lines\w*|request_hash|"
                                                    r"stamp|clearing_day"), ()),
    ("commit arguments", _py(r"gateway/keys", r"new_settlement_id|_unique_hex"), ()),
    ("commit arguments", _py(r"gateway/fastredis", r"_encode"),
     (_py(r"gateway/store", r"commit_settlement"),)),
    ("commit", _py(r"gateway/(?:store|keys|record_codecs|fastredis)"),
     (_py(r"gateway/store", r"commit_settlement"),)),
    ("Redis read", _py(r"gateway/(?:store|keys|record_codecs|fastredis)"),
     (_py(r"gateway/store", r"read_member|read_abuse_state"),)),
    ("kernel", _py(r"rules_compiled/engine", r"adjudicate|remaining|cohort_of|cohort_name"),
     ()),
    ("kernel", _py(r"rules_compiled/kernels"), ()),
    ("invariant checks", _py(r"gateway/adjudicator", r"broken_invariant|<genexpr>"), ()),
    ("kernel", _py(r"gateway/adjudicator"), ()),  # the batch: rows stacked, outputs split
    ("row building", _py(r"gateway/settlement", r"claim_row|line_rows\w*|plan_claim\w*|"
                                                r"dup_key|gate_reason|remote_registered"), ()),
    # A large claim's columns (gateway/line_columns.py, an episode's from the stored
    # lines' wire bytes: gateway/line_wire.py): rows, then its line results.
    ("row building", _py(r"gateway/line_columns",
                         r"(?:LineColumns\.of|line_rows)(?:\.<locals>\.(?:<\w+>|\w+))*"), ()),
    ("row building", _py(r"gateway/line_wire"), ()),
    ("response building", _py(r"gateway/line_columns"), ()),
    ("row building", _py(r"rules_compiled/rows"), ()),
    ("row building", _py(r"rules_compiled/engine", r"diagnosis_flags|disease_id"), ()),
    ("row building", _py(r"gateway/claims", r"institution_of|check_setting"), ()),
    ("response building", _py(r"gateway/settlement", r"amounts|add_line_results|warnings|_reasons"),
     ()),
    ("response building", _py(r"rules_compiled/model", r"note_names"), ()),
    ("decode and validation", _py(r"gateway/validate"), ()),
    ("decode and validation", _py(r"gateway/security"), ()),
    ("admission and budget", _py(r"gateway/(?:admission|budget|memberlock)"), ()),
    ("response building", _py(r"gateway/wire"), ()),
    # The response serialized by the handler (a Settle's bytes are stored and sent).
    ("response building", _native(ENCODE), (r"\((?:gateway|bench)/",)),
    ("decode and validation", _py(r"gateway/claims", r"decode"), ()),
    ("response building", _py(r"gateway/claims", r"ClaimPath\.(?:adjudicate|eligibility)"), ()),
    ("response building", _py(r"bench/echo_server"), ()),  # the ceiling's canned answers
    ("metrics", _py(r"gateway/calls", r"_record"), ()),
    ("Redis socket I/O", _py(r"gateway/fastredis"), ()),
    ("Redis socket I/O", _py(r"redis/[^ ]+"), ()),
    ("admission and budget", _py(r"gateway/calls", r"(?:_served\.<locals>\.)?wrapped"), ()),
    ("handler glue", _py(r"gateway/(?:service|claims|calls)"), ()),
)
FALLBACK_RULES: tuple[Rule, ...] = (
    # protobuf outside any project frame: gRPC serializing a response, decoding a request
    # (protobuf under a project frame belongs to that frame's stage)
    ("response building", _native(ENCODE), ()),
    ("decode and validation", _native(r"PyUpb_\w*|upb_\w*|_upb_\w*"), ()),
    ("gRPC in and out", r"cygrpc|\(grpc/|libgrpc", ()),
    ("event loop", r"\((?:uvloop|asyncio)/|\((?:loop|core|linux|loop-watcher|queue|handles|"
                   r"stream|tcp|timer|_asynciomodule)\.[ch](?::\d+)?\)|\buv__?\w+ \(", ()),
)
# Frames that wait on the work inside them, the bounded wait of gateway/budget.py: what
# runs inside them belongs to that work (gRPC reading a request, the Redis client); only
# what no other rule knows is theirs ("admission and budget").
WRAPPER = re.compile(_py(r"gateway/budget", r"within"))
# Frames that hold a blocked thread (epoll, a condition variable, the GIL): not CPU.
WAIT_PATTERN = re.compile(
    r"^(?:epoll_wait|epoll_pwait|pthread_cond_wait|pthread_cond_timedwait|sem_wait|"
    r"sem_timedwait|sem_clockwait|PyThread_acquire_lock_timed|take_gil|PyCOND_TIMEDWAIT|"
    r"nanosleep|clock_nanosleep|__futex_abstimed_wait\w*|futex_wait\w*|select|poll) \(")
WAIT_DEPTH = 3  # looked for among the innermost frames only
# The frames that start a process or thread and run its loop: never matched.
BOOTSTRAP_END = re.compile(r"^(?:uv_run|Thread\.run|BaseEventLoop\._run_once) \(")
# Project code: a sample in one of these that no rule knows is "other", never hidden
# under gRPC or the event loop.
PROJECT_FRAME = re.compile(r"\((?:gateway|rules_compiled|bench|claims)/[^()]*\.py(?::\d+)?\)$")

# Threads without a CPU sample (gRPC's C-core threads have no Python thread state; a
# thread that only ever woke to wait for the GIL) are given a stage by name.
THREAD_RULES: tuple[tuple[str, str], ...] = (
    (r"^access-log$", "access log"),
    (r"_poll_wrapper", "gRPC in and out"),
    (r"grpc|default-execu|resolver-exec|event_engine|timer_manager|global_tim|"
     r"ThreadPoolForegr|Thread(?:Pool)?\d*$", "gRPC in and out"),
)

CompiledRule = tuple[str, re.Pattern[str], list[re.Pattern[str]]]


def compile_rules(rules: tuple[Rule, ...]) -> list[CompiledRule]:
    return [(stage, re.compile(p), [re.compile(c) for c in ctx]) for stage, p, ctx in rules]


_RULES = compile_rules(RULES)
_FALLBACK = compile_rules(FALLBACK_RULES)


def _strip_bootstrap(frames: list[str]) -> list[str]:
    for i, f in enumerate(frames):
        if BOOTSTRAP_END.match(f):
            return frames[i + 1:]
    return frames


def stage_of(frames: list[str]) -> str:
    """The stage of one sampled stack (frames root first, as py-spy writes them), or
    WAITING for a blocked thread."""
    if any(WAIT_PATTERN.match(f) for f in frames[-WAIT_DEPTH:]):
        return WAITING
    frames = _strip_bootstrap(frames)
    if not frames:
        return "event loop"  # in the loop's own run call
    for i in range(len(frames) - 1, -1, -1):
        f = frames[i]
        if WRAPPER.search(f):
            for g in reversed(frames[i + 1:]):
                for stage, pattern, _ in _FALLBACK:
                    if pattern.search(g):
                        return stage
            return "admission and budget"
        for stage, pattern, ctx in _RULES:
            if pattern.search(f) and all(any(c.search(g) for g in frames) for c in ctx):
                return stage
    for f in reversed(frames):
        if PROJECT_FRAME.search(f):
            return OTHER  # project code that no rule knows
        for stage, pattern, _ in _FALLBACK:
            if pattern.search(f):
                return stage
    return OTHER


def stage_of_thread(name: str) -> str:
    for pattern, stage in THREAD_RULES:
        if re.search(pattern, name):
            return stage
    return OTHER


MIN_SAMPLES = 20  # fewer active samples of a thread: it is given a stage by name

_THREAD_FRAME = re.compile(r"^thread \((0x[0-9A-Fa-f]+|\d+)\)")


@dataclass
class Profile:
    """Samples per thread and stage, from one ``py-spy record --format raw --threads``."""

    samples: dict[int, Counter[str]] = field(default_factory=dict)  # tid -> stage -> n
    names: dict[int, str] = field(default_factory=dict)
    unmatched: Counter[str] = field(default_factory=Counter)  # inner frames of "other"

    @property
    def total(self) -> int:
        return sum(n for c in self.samples.values() for s, n in c.items() if s != WAITING)

    @property
    def waiting(self) -> int:
        return sum(c.get(WAITING, 0) for c in self.samples.values())


def parse_raw(text: str) -> Profile:
    """Collapsed stacks (``frame;frame;... count``, the thread frame first) by thread."""
    prof = Profile()
    for line in text.splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit() or not stack:
            continue
        frames = stack.split(";")
        tid = 0
        m = _THREAD_FRAME.match(frames[0])
        if m:
            tid = int(m.group(1), 0)
            prof.names[tid] = frames[0].partition(": ")[2]
            frames = frames[1:]
        stage = stage_of(frames)
        prof.samples.setdefault(tid, Counter())[stage] += int(n)
        if stage == OTHER and frames:
            prof.unmatched[" <- ".join(re.sub(r":\d+\)$", ")", f)
                                       for f in reversed(frames[-3:]))] += int(n)
    return prof


# --- the load: exactly N requests, closed loop ------------------------------------------
@dataclass
class Members:
    """Eligible members of the bench population: Settle gets a fresh one each time (its
    3 lines would otherwise be refills of the same day), the others cycle."""

    indices: list[int]
    _fresh: Iterator[int] = field(init=False)
    _cycle: Iterator[int] = field(init=False)

    def __post_init__(self) -> None:
        self._fresh = iter(self.indices)
        self._cycle = itertools.cycle(self.indices)

    def fresh(self) -> int:
        try:
            return next(self._fresh)
        except StopIteration:
            raise RuntimeError("out of fresh members: raise --members") from None

    def any(self) -> int:
        return next(self._cycle)


def eligible_members(population: int, seed: int) -> list[int]:
    return [i for i in range(population) if traits_of(i, seed).eligible]


class Driver:
    """A grpc.aio client sending one method's requests; counts the outcomes."""

    def __init__(self, target: str, members: Members, run_tag: str, channels: int = 2) -> None:
        import grpc

        from claims.v1 import claims_pb2_grpc as pb_grpc

        self.channels = [grpc.aio.insecure_channel(target) for _ in range(channels)]
        self.stubs = [pb_grpc.ClaimGatewayStub(ch) for ch in self.channels]
        self.members = members
        self.run_tag = run_tag
        self.seq = itertools.count(1)
        self.outcomes: Counter[str] = Counter()
        self.today = dt.date.today().isoformat()

    def _stub(self, n: int) -> Any:
        return self.stubs[n % len(self.stubs)]

    def settle_request(self, index: int, n: int) -> Any:
        from claims.v1 import claims_pb2 as pb

        inst = PHARMACIES[n % len(PHARMACIES)]
        lines = [pb.FeeLine(feedetl_sn=sn, item_code=code, unit_price_fen=price, quantity=qty,
                            amount_fen=price * qty, days_supply=3, service_date=self.today,
                            prescription_no=f"RX{self.run_tag}{n:08d}")
                 for sn, (code, price, qty) in enumerate(CLAIM_LINES, start=1)]
        return pb.SettleRequest(
            request_id=f"{inst}{self.run_tag}{n:010d}", institution_code=inst,
            psn_no=psn_no_of(index), setting=pb.PHARMACY, card_no=card_no_of(index),
            service_date=self.today, use_account=True, lines=lines, operator_id="breakdown")

    def op(self, method: str) -> Callable[[float], Any]:
        import grpc

        from claims.v1 import claims_pb2 as pb

        async def call(_intended: float) -> str:
            n = next(self.seq)
            stub = self._stub(n)
            try:
                if method == "CheckEligibility":
                    index = self.members.any()
                    req = pb.EligibilityRequest(institution_code=PHARMACIES[n % 3],
                                                psn_no=psn_no_of(index),
                                                card_no=card_no_of(index))
                    resp = await stub.CheckEligibility(req, timeout=10)
                    outcome = "eligible" if resp.eligible else f"refused {resp.refusal_reason}"
                else:
                    index = self.members.fresh() if method == "Settle" else self.members.any()
                    req = self.settle_request(index, n)
                    fn = stub.Settle if method == "Settle" else stub.PreSettle
                    resp = await fn(req, timeout=10)
                    outcome = pb.SettlementStatus.Name(resp.status)
                    if resp.status != pb.REFUSED:
                        outcome += f" {len(resp.lines)} lines"
            except grpc.aio.AioRpcError as e:
                outcome = f"error {e.code().name}"
            self.outcomes[outcome] += 1
            return outcome

        return call

    async def run(self, method: str, requests: int, clients: int) -> float:
        """Send exactly ``requests`` requests; the wall time they took."""
        loop = ClosedLoop(clients=clients, clock=time.perf_counter)
        t0 = time.perf_counter()

        def done(_t: Timing) -> None:
            pass

        await loop.run(self.op(method), done, count=requests)
        return time.perf_counter() - t0

    async def close(self) -> None:
        for ch in self.channels:
            await ch.close(None)


# --- attribution --------------------------------------------------------------------------
def middle_runs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The median run (the two middle ones of an even count): a run disturbed by the
    shared machine does not move the figures."""
    ordered = sorted(runs, key=lambda r: r["total_s"])
    k = len(ordered)
    return ordered[(k - 1) // 2:k // 2 + 1]


def attribute(cpu_runs: list[dict[str, Any]], requests: int, pid: int,
              prof: Profile) -> dict[str, Any]:
    """µs per request per stage: each thread's CPU (mean of the runs) split by its
    samples' stages; unsampled threads by name; exited threads' CPU as "other"."""
    n = len(cpu_runs)
    per_thread: dict[int, tuple[str, float]] = {}
    exited = 0.0
    for run in cpu_runs:
        live = sum(s for _, s in run["threads"].values())
        # Each thread's ticks are rounded down apart: their sum can pass the process's.
        scale = run["total_s"] / live if live > run["total_s"] > 0 else 1.0
        for tid, (name, s) in run["threads"].items():
            old = per_thread.get(tid, (name, 0.0))[1]
            per_thread[tid] = (name, old + s * scale / n)
        exited += max(0.0, run["total_s"] - live) / n
    stages: dict[str, float] = dict.fromkeys(STAGES, 0.0)
    threads_out = []
    for tid, (name, s) in sorted(per_thread.items(), key=lambda kv: -kv[1][1]):
        us = s * 1e6 / requests
        if us <= 0:
            continue
        samples = Counter({k: v for k, v in prof.samples.get(tid, Counter()).items()
                           if k != WAITING})
        role = "event loop thread" if tid == pid else prof.names.get(tid, name)
        if sum(samples.values()) >= MIN_SAMPLES:
            total = sum(samples.values())
            for stage, k in samples.items():
                stages[stage] += us * k / total
            how = f"{total} samples"
        else:
            stage = stage_of_thread(prof.names.get(tid, name))
            if stage == OTHER:
                stage = stage_of_thread(name)
            stages[stage] += us
            how = f"by thread name: {stage}"
        threads_out.append({"tid": tid, "name": name, "role": role,
                            "cpu_us_per_request": round(us, 1), "attributed": how})
    if exited > 0:
        stages[OTHER] += exited * 1e6 / requests
        threads_out.append({"tid": 0, "name": "(exited threads)", "role": "",
                            "cpu_us_per_request": round(exited * 1e6 / requests, 1),
                            "attributed": OTHER})
    return {"stages_us": {s: round(stages.get(s, 0.0), 1) for s in STAGES},
            "threads": threads_out}


# --- orchestration ----------------------------------------------------------------------
def _py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")  # a virtualenv's, activated or not
    return str(beside) if beside.is_file() else shutil.which("py-spy")


@contextlib.contextmanager
def py_spy_record(pid: int, out: Path, rate: int) -> Iterator[subprocess.Popen[bytes]]:
    """``py-spy record --native --threads --format raw`` of ``pid`` until the block ends."""
    binary = _py_spy()
    if binary is None:
        raise RuntimeError("py-spy not installed (pip install '.[bench]' or pip install py-spy)")
    cmd = [binary, "record", "--pid", str(pid), "--native", "--threads", "--rate", str(rate),
           "--format", "raw", "--output", str(out), "--duration", "3600"]
    log = out.with_suffix(".log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(1.0)  # py-spy attaches
        if proc.poll() is not None:
            raise RuntimeError(f"py-spy exited with {proc.returncode}: "
                               f"see {out.with_suffix('.log')}")
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # our own child: py-spy writes its output and exits
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        log.close()


@dataclass
class Server:
    label: str  # "gateway" or "echo"
    pid: int  # the process measured
    target: str
    members: Members


def measure(servers: list[Server], args: argparse.Namespace, out: Path,
            say: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """Every method against every server. The servers' runs alternate (gateway, echo,
    gateway, echo, ...) so that both see the same machine; then one profiled run each."""
    results: dict[str, dict[str, Any]] = {s.label: {} for s in servers}
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # grpc.aio binds its channels to the current loop
    tag = time.strftime("%H%M%S")

    async def make(s: Server) -> Driver:
        return Driver(s.target, s.members, run_tag=tag + s.label[:1].upper())

    drivers = [loop.run_until_complete(make(s)) for s in servers]
    try:
        for method in args.methods:
            runs: dict[str, list[dict[str, Any]]] = {s.label: [] for s in servers}
            for d in drivers:
                loop.run_until_complete(d.run(method, args.warmup, args.clients))
                d.outcomes.clear()
            for r in range(args.repeats):
                for s, d in zip(servers, drivers, strict=True):
                    a, m0 = cpu_snapshot(s.pid), machine_snapshot()
                    switches = context_switches(s.pid)
                    wall = loop.run_until_complete(d.run(method, args.requests, args.clients))
                    delta = cpu_delta(a, cpu_snapshot(s.pid))
                    delta["context_switches"] = context_switches(s.pid) - switches
                    delta["wall_s"] = wall
                    delta["steal_share"] = machine_delta(m0, machine_snapshot())["steal_share"]
                    runs[s.label].append(delta)
                    say(f"{s.label} {method} run {r + 1}: "
                        f"{delta['total_s'] * 1e6 / args.requests:.0f} µs CPU/request "
                        f"({args.requests / wall:.0f}/s, server CPU "
                        f"{delta['total_s'] / wall:.0%} of a core)")
            for s, d in zip(servers, drivers, strict=True):
                outcomes = dict(d.outcomes)
                d.outcomes.clear()
                failed = sum(n for k, n in outcomes.items() if k.startswith("error "))
                if failed > 0.01 * sum(outcomes.values()):
                    say(f"WARNING: {s.label} {method}: {failed} of {sum(outcomes.values())} "
                        "requests failed (see the outcomes): their CPU is in the figures")
                raw = out / f"{s.label}-{method}.pyspy.txt"
                with py_spy_record(s.pid, raw, args.rate):
                    loop.run_until_complete(d.run(method, args.profile_requests, args.clients))
                d.outcomes.clear()
                prof = parse_raw(raw.read_text() if raw.exists() else "")
                say(f"{s.label} {method} profile: {prof.total} samples")
                mine = runs[s.label]
                per_req = [x["total_s"] * 1e6 / args.requests for x in mine]
                results[s.label][method] = {
                    "cpu_us_per_request": round(statistics.median(per_req), 1),
                    "cpu_us_per_request_runs": [round(x, 1) for x in per_req],
                    "user_us_per_request": round(
                        sum(x["utime_s"] for x in mine) * 1e6 / args.requests / len(mine), 1),
                    "system_us_per_request": round(
                        sum(x["stime_s"] for x in mine) * 1e6 / args.requests / len(mine), 1),
                    "requests_per_s_runs": [round(args.requests / x["wall_s"]) for x in mine],
                    "server_cpu_share_runs": [round(x["total_s"] / x["wall_s"], 2)
                                              for x in mine],
                    "steal_share_runs": [round(x.get("steal_share", 0.0), 3) for x in mine],
                    "context_switches_per_request": round(statistics.median(
                        x.get("context_switches", 0) for x in mine) / args.requests, 2),
                    "outcomes": outcomes,
                    "profile_samples": prof.total,
                    "profile_other_top": prof.unmatched.most_common(15),
                    "profile_raw": raw.name,
                    "pid": s.pid,
                    "requests": args.requests,
                    "cpu_runs": [{**x, "threads": {str(t): list(v)
                                                   for t, v in x["threads"].items()}}
                                 for x in mine],
                    **attribute(middle_runs(mine), args.requests, s.pid, prof),
                }
    finally:
        for d in drivers:
            loop.run_until_complete(d.close())
        asyncio.set_event_loop(None)
        loop.close()
    return results


def breakdown(args: argparse.Namespace) -> int:
    from bench.suite import (
        _free_port,
        _pin,
        _process,
        _wait_port,
        checkout_env,
        claimgate_cli,
        command_start,
        is_checkout,
        load_population,
        pin_this_process,
        private_redis,
        redis_server_binary,
        serve_gateway,
    )

    out: Path = args.out
    say = command_start("breakdown", out)  # and SIGTERM stops what the command started

    if _py_spy() is None:
        say("py-spy not installed: pip install '.[bench]' (or pip install py-spy)")
        return 2
    pin_this_process(args.client_cpus)  # the client is this process
    gateways = 2 if args.baseline else 1  # each settles for members of its own
    needed = args.repeats * args.requests + args.profile_requests + args.warmup
    population = max(args.members, int(gateways * needed * 1.4) + 100)
    eligible = eligible_members(population, args.seed)
    if len(eligible) < gateways * needed:
        say(f"only {len(eligible)} eligible members for {gateways * needed} Settles: "
            "raise --members")
        return 2
    if args.baseline is not None and not is_checkout(args.baseline):
        say(f"--baseline {args.baseline}: not a checkout of the project (no gateway/)")
        return 2
    cg = claimgate_cli()
    report: dict[str, Any] = {
        "meta": {"when": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cpus": os.cpu_count(),
                 "server_cpus": args.server_cpus, "client_cpus": args.client_cpus,
                 "requests": args.requests, "repeats": args.repeats,
                 "profile_requests": args.profile_requests, "clients": args.clients,
                 "py_spy_rate_hz": args.rate, "population": population,
                 "load_average_at_start": os.getloadavg(),
                 "claim_lines": [list(x) for x in CLAIM_LINES],
                 "baseline": str(args.baseline) if args.baseline else None,
                 "command": "python -m bench " + " ".join(getattr(args, "argv", []))},
        "stages": list(STAGES), "targets": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-breakdown-") as tmp_s:
        tmp = Path(tmp_s)
        binary = report["meta"]["redis_server"] = redis_server_binary()
        with private_redis(tmp, out / "redis.log", "everysec", args.client_cpus,
                           binary) as url:
            load_population(cg, url, tmp, population, args.seed)

            with contextlib.ExitStack() as stack:
                servers: list[Server] = []
                halves = [eligible[i::gateways] for i in range(gateways)]
                for label, checkout in [("gateway", None), ("baseline", args.baseline)][
                        :gateways]:
                    # The baseline's gateway is the same command with the other checkout's
                    # code first on the import path (same virtualenv, same dependencies).
                    env = checkout_env(checkout)
                    proc, target = stack.enter_context(serve_gateway(
                        [*env, *cg], url, out / f"{label}.log", args.server_cpus, workers=1,
                        inflight_bound=max(256, 4 * args.clients)))
                    workers = children_of(proc.pid)
                    if len(workers) != 1:
                        raise RuntimeError(f"expected one {label} worker, found {workers}")
                    report["meta"][f"{label}_worker_pid"] = workers[0]
                    servers.append(Server(label, workers[0], target,
                                          Members(halves[len(servers)])))
                echoes: list[tuple[str, list[str]]] = [] if args.no_echo else [("echo", [])]
                if args.echo_as_streams:
                    echoes.append(("echo-streams", ["--as-streams"]))
                for label, flags in echoes:
                    port = _free_port()
                    target = f"127.0.0.1:{port}"
                    cmd = _pin([sys.executable, "-m", "bench.echo_server", "--listen", target,
                                *flags], args.server_cpus)
                    proc = stack.enter_context(_process(cmd, out / f"{label}.log", label))
                    _wait_port(port, proc, label)
                    servers.append(Server(label, proc.pid, target, Members(eligible)))
                report["targets"] = measure(servers, args, out, say)
    report["meta"]["load_average_at_end"] = os.getloadavg()
    (out / "breakdown.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    md = markdown(report)
    (out / "breakdown.md").write_text(md)
    print(md)
    say(f"reports: {out / 'breakdown.md'}, {out / 'breakdown.json'}")
    return 0


def markdown(report: dict[str, Any]) -> str:
    """The stage table (µs of CPU per request), the totals and the share of the ceiling."""
    cols: list[tuple[str, str, dict[str, Any]]] = []
    for label in ("gateway", "baseline", "echo", "echo-streams"):
        for method, r in report["targets"].get(label, {}).items():
            cols.append((label, method, r))
    if not cols:
        return "no measurements\n"
    head = ["stage (µs CPU / request)"] + [f"{m} ({lb})" for lb, m, _ in cols]
    rows = ["| " + " | ".join(head) + " |", "|---" + "|---:" * len(cols) + "|"]
    for stage in report["stages"]:
        vals = [r["stages_us"].get(stage, 0.0) for _, _, r in cols]
        if not any(vals) and stage != OTHER:
            continue
        rows.append(f"| {stage} | " + " | ".join(f"{v:,.1f}" for v in vals) + " |")
    rows.append("| **total (measured, median run)** | " + " | ".join(
        f"**{r['cpu_us_per_request']:,.1f}**" for _, _, r in cols) + " |")
    rows.append("| runs | " + " | ".join(
        " / ".join(f"{x:,.0f}" for x in r["cpu_us_per_request_runs"]) for _, _, r in cols)
        + " |")
    rows.append("| user / system | " + " | ".join(
        f"{r['user_us_per_request']:,.0f} / {r['system_us_per_request']:,.0f}"
        for _, _, r in cols) + " |")
    echo = report["targets"].get("echo", {})

    def ratio(base: dict[str, Any], m: str, r: dict[str, Any]) -> str:
        if m not in base or not r["cpu_us_per_request"]:
            return ""
        pairs = zip(base[m]["cpu_us_per_request_runs"], r["cpu_us_per_request_runs"],
                    strict=False)
        each = " / ".join(f"{e / g:.2f}" for e, g in pairs if g)
        return f"{base[m]['cpu_us_per_request'] / r['cpu_us_per_request']:.2f} ({each})"

    def share(m: str, r: dict[str, Any]) -> str:
        return ratio(echo, m, r)

    rows.append("| echo CPU / this CPU (share of the ceiling; per run) | " + " | ".join(
        share(m, r) for _, m, r in cols) + " |")
    baseline = report["targets"].get("baseline", {})
    if baseline:
        rows.append("| baseline CPU / this CPU (per run) | " + " | ".join(
            ratio(baseline, m, r) if lb == "gateway" else "" for lb, m, r in cols) + " |")
    rows.append("| requests/s in the runs (closed loop) | " + " | ".join(
        " / ".join(f"{x:,}" for x in r["requests_per_s_runs"]) for _, _, r in cols) + " |")
    rows.append("| CPU time stolen by the hypervisor in the runs | " + " | ".join(
        " / ".join(f"{x:.0%}" for x in r.get("steal_share_runs", [])) for _, _, r in cols)
        + " |")
    rows.append("| server context switches / request (median run) | " + " | ".join(
        f"{r.get('context_switches_per_request', 0):.1f}" for _, _, r in cols) + " |")
    rows.append("| server CPU busy in the runs | " + " | ".join(
        " / ".join(f"{x:.0%}" for x in r["server_cpu_share_runs"]) for _, _, r in cols) + " |")
    rows.append("| profile samples | " + " | ".join(
        f"{r['profile_samples']:,}" for _, _, r in cols) + " |")
    meta = report["meta"]
    lines = [
        "# Where every microsecond goes",
        "",
        f"{meta['when']}; server on CPU {meta['server_cpus']}, client and redis on CPU "
        f"{meta['client_cpus']}; {meta['repeats']} × {meta['requests']:,} requests per method "
        "and server, the servers in turn "
        f"(closed loop, {meta['clients']} clients), then {meta['profile_requests']:,} under "
        f"py-spy at {meta['py_spy_rate_hz']} Hz; load average "
        + " → ".join(f"{la[0]:.1f}" for la in (meta.get("load_average_at_start"),
                                               meta.get("load_average_at_end")) if la)
        + ". Claim: "
        + ", ".join(f"{c} ×{q}" for c, _, q in meta["claim_lines"]) + ".",
        "",
        f"`{meta['command']}`",
        "",
        *rows,
        "",
        "Outcomes:",
        "",
    ]
    for label, method, r in cols:
        lines.append(f"- {label} {method}: " + ", ".join(
            f"{k} {v:,}" for k, v in sorted(r["outcomes"].items())))
    lines += ["", "Threads (µs CPU / request, the median run):", ""]
    for label, method, r in cols:
        lines.append(f"- {label} {method}: " + "; ".join(
            f"{t['role'] or t['name']} {t['cpu_us_per_request']:,.1f} ({t['attributed']})"
            for t in r["threads"]))
    lines += ["", "Top frames of the samples no rule matched (\"other\"):", ""]
    for label, method, r in cols:
        top = r["profile_other_top"][:5]
        if top:
            lines.append(f"- {label} {method}: " + "; ".join(
                f"`{f}` {n}" for f, n in top))
    return "\n".join(lines) + "\n"


def _methods(text: str) -> list[str]:
    out = [m for m in text.split(",") if m]
    unknown = [m for m in out if m not in METHODS]
    if unknown or not out:
        raise argparse.ArgumentTypeError(f"methods are {', '.join(METHODS)}")
    return out


def add_breakdown_parser(sub: Any) -> None:
    p = sub.add_parser("breakdown", help="CPU µs per request by stage (gateway and echo)")
    p.add_argument("--requests", type=int, default=10_000, help="requests per measured run")
    p.add_argument("--repeats", type=int, default=2, help="measured runs per method")
    p.add_argument("--profile-requests", type=int, default=0,
                   help="requests of the py-spy run (default: --requests)")
    p.add_argument("--warmup", type=int, default=1_000, help="requests before measuring")
    p.add_argument("--clients", type=int, default=16, help="closed-loop clients")
    p.add_argument("--rate", type=int, default=100,
                   help="py-spy samples per second (each sample pauses the server)")
    p.add_argument("--members", type=int, default=1_000, help="population (at least)")
    p.add_argument("--seed", type=int, default=20260101)
    p.add_argument("--server-cpus", default="0", help="taskset CPUs of the server")
    p.add_argument("--client-cpus", default="1", help="CPUs of this client and of redis")
    p.add_argument("--methods", type=_methods, default=list(METHODS),
                   help="comma-separated, default: " + ",".join(METHODS))
    p.add_argument("--no-echo", action="store_true", help="skip the echo server (the ceiling)")
    p.add_argument("--echo-as-streams", action="store_true",
                   help="also measure the echo server serving its methods as client streams, "
                        "as the gateway does (the price of that on the ceiling)")
    p.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                   help="also measure the gateway of another checkout of the project (e.g. "
                        "`git worktree add DIR main`), in turn with this one, on members of "
                        "its own: a before/after of a change in one run")
    p.add_argument("--from", dest="from_dir", type=Path, default=None, metavar="DIR",
                   help="measure nothing: attribute the CPU runs and py-spy profiles kept in "
                        "DIR again with the current stage table, and rewrite its reports")
    p.add_argument("--out", type=Path, default=Path("bench-out/breakdown"))
    p.set_defaults(fn=_main)


def reattribute(out: Path) -> dict[str, Any]:
    """The report of an earlier run, its stages computed again from its raw profiles."""
    report: dict[str, Any] = json.loads((out / "breakdown.json").read_text())
    report["stages"] = list(STAGES)
    for target in report["targets"].values():
        for r in target.values():
            raw = out / r["profile_raw"]
            prof = parse_raw(raw.read_text() if raw.exists() else "")
            runs = [{**run, "threads": {int(t): (v[0], float(v[1]))
                                        for t, v in run["threads"].items()}}
                    for run in r["cpu_runs"]]
            r.update(attribute(middle_runs(runs), r["requests"], r["pid"], prof))
            r["profile_samples"] = prof.total
            r["profile_other_top"] = prof.unmatched.most_common(15)
    return report


def _main(args: argparse.Namespace) -> int:
    if args.from_dir is not None:
        report = reattribute(args.from_dir)
        (args.from_dir / "breakdown.json").write_text(
            json.dumps(report, indent=1, ensure_ascii=False))
        md = markdown(report)
        (args.from_dir / "breakdown.md").write_text(md)
        print(md)
        return 0
    if args.profile_requests <= 0:
        args.profile_requests = args.requests
    return breakdown(args)
