"""The parent side: starts the client processes, drives phases, merges their results.

``procs=0`` runs a single client inline (same process, own event loop): the tests
use it; benches use ``procs>=1`` spawned processes, each pinned to ``cpus`` when given.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import queue
import random
import sys
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TextIO

from hdrh.histogram import HdrHistogram

from bench.population import traits_of
from bench.recorder import new_histogram
from bench.scenarios import institutions_of
from bench.worker import PhaseSpec, Worker, WorkerConfig, handle, process_main

CPU_SATURATED = 0.9  # share of one core above which a client process is the bottleneck
PROGRESS_QUEUE_MAX = 1024
INPATIENT_RESERVE_PER_PROC = 16


@dataclass
class BenchConfig:
    target: str
    population: int = 10_000
    pool: int = 2_000  # members the run claims for (split over processes)
    seed: int = 20260101
    procs: int = 1
    cpus: list[int] = field(default_factory=list)
    traits_known: bool = True  # False: the demo population of `claimgate seed`
    channels: int = 2
    deadline_s: float = 5.0
    inpatient_lines: tuple[int, int] = (200, 5000)
    chunk_lines: int = 500
    verify: bool = True
    # The target's admission bounds (claimgate serve --inflight-max and
    # --per-institution-inflight-max); 0 = unknown. A closed loop with more clients
    # than these measures shedding, not capacity, and the bench says so.
    inflight_max: int = 0
    per_institution_inflight_max: int = 0
    # (k, n): claim only for the k-th of n disjoint shares of the pool, so that n benches
    # (one per target, sharing one Redis) each check the money of members of their own.
    pool_part: tuple[int, int] = (0, 1)


def percentiles_ms(h: HdrHistogram) -> dict[str, float]:
    def ms(v: float) -> float:
        return round(v / 1000.0, 3)

    return {
        "p50_ms": ms(h.get_value_at_percentile(50)),
        "p90_ms": ms(h.get_value_at_percentile(90)),
        "p99_ms": ms(h.get_value_at_percentile(99)),
        "p99_9_ms": ms(h.get_value_at_percentile(99.9)),
        "max_ms": ms(h.get_max_value()),
        "mean_ms": ms(h.get_mean_value()),
    }


def merge_phase(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge the processes' answers to one phase into one report section."""
    hists: dict[str, HdrHistogram] = {}
    statuses: dict[str, dict[str, int]] = {}
    unexpected: dict[str, int] = {}
    shed: dict[str, int] = {}
    lag = new_histogram()
    violations: list[str] = []
    violation_count = 0
    wall_s = max(r["wall_s"] for r in results)
    for r in results:
        for k, enc in r["histograms"].items():
            h = HdrHistogram.decode(enc.encode())
            if k in hists:
                hists[k].add(h)
            else:
                hists[k] = h
        for k, c in r["statuses"].items():
            dst = statuses.setdefault(k, {})
            for s, n in c.items():
                dst[s] = dst.get(s, 0) + n
        for k, n in r["unexpected"].items():
            unexpected[k] = unexpected.get(k, 0) + n
        for k, n in r.get("shed", {}).items():
            shed[k] = shed.get(k, 0) + n
        lag.add(HdrHistogram.decode(r["lag"].encode()))
        violations += r["violations"]
        violation_count += r["violation_count"]

    def rate(n: int) -> float:
        return round(n / wall_s, 1) if wall_s > 0 else 0.0

    keys: dict[str, Any] = {}
    for k in sorted(hists.keys() | shed.keys()):
        h = hists.setdefault(k, new_histogram())
        count = h.get_total_count()
        keys[k] = {
            "count": count,  # answered, shed replies excluded
            "throughput_rps": rate(count),
            **percentiles_ms(h),
            "errors_by_status": {s: n for s, n in statuses.get(k, {}).items() if s != "OK"},
            "unexpected": unexpected.get(k, 0),
            "shed": shed.get(k, 0),
            "shed_rps": rate(shed.get(k, 0)),
            "hdr_histogram": h.encode().decode(),
        }
    flows = {k: v for k, v in keys.items() if "/" not in k}
    total = sum(v["count"] for v in flows.values())
    shed_total = sum(v["shed"] for v in flows.values())
    all_flows = new_histogram()
    for k in flows:
        all_flows.add(hists[k])
    clients = [
        {"worker": r["worker"], "cpu_s": round(r["cpu_s"], 3), "wall_s": round(r["wall_s"], 3),
         "cpu_share": round(r["cpu_s"] / r["wall_s"], 3) if r["wall_s"] else 0.0}
        for r in results
    ]
    saturated = [c["worker"] for c in clients if c["cpu_share"] >= CPU_SATURATED]
    lag_p99_ms = round(lag.get_value_at_percentile(99) / 1000.0, 3)
    return {
        "phase": results[0]["phase"],
        "offered_rate_rps": round(sum(r["offered_rate_per_s"] for r in results), 1),
        "achieved_rps": rate(total),
        "requests": total,
        "shed": shed_total,
        "shed_rps": rate(shed_total),
        "unexpected_errors": sum(v["unexpected"] for v in flows.values()),
        "wall_s": round(wall_s, 3),
        "all": {**percentiles_ms(all_flows), "count": total} if total else {},
        "scenarios": keys,
        "client": {"processes": clients, "saturated": saturated,
                   "send_lag_p99_ms": lag_p99_ms},
        "violations": violations[:50],
        "violation_count": violation_count,
        "warnings": [],
    }


class Bench:
    """Client processes for one target; use as a context manager."""

    def __init__(self, cfg: BenchConfig,
                 log: TextIO | Literal["stderr"] | None = "stderr") -> None:
        self.cfg = cfg
        self.log = sys.stderr if log == "stderr" else log  # the stream of now, not of import
        self.run_tag = time.strftime("%y%m%d%H%M%S") + uuid.uuid4().hex[:4]
        self._procs: list[Any] = []
        self._conns: list[Any] = []
        self._inline: Worker | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._progress_q: Any = None
        self._last_progress = 0.0
        self._interval: dict[int, tuple[int, int, int, str]] = {}

    # --- set-up -----------------------------------------------------------------------
    def _worker_configs(self) -> list[WorkerConfig]:
        cfg = self.cfg
        n = max(1, cfg.procs)
        rng = random.Random(cfg.seed)
        size = min(cfg.pool, cfg.population)
        k, parts = cfg.pool_part
        members = rng.sample(range(cfg.population), size)[k::max(1, parts)]
        reserve_n = min(INPATIENT_RESERVE_PER_PROC, max(1, size // 10))
        out = []
        for w in range(n):
            mine = members[w::n]
            reserve: list[int] = []
            for i in mine:
                if len(reserve) >= reserve_n:
                    break
                if not cfg.traits_known or traits_of(i, cfg.seed).eligible:
                    reserve.append(i)
            pool = [i for i in mine if i not in set(reserve)] or mine
            out.append(WorkerConfig(
                target=cfg.target, worker_id=w, population=cfg.population, seed=cfg.seed,
                pool=pool, inpatient_pool=reserve, run_tag=f"{self.run_tag}{w:02d}",
                traits_known=cfg.traits_known, channels=cfg.channels, deadline_s=cfg.deadline_s,
                inpatient_lines=cfg.inpatient_lines, chunk_lines=cfg.chunk_lines,
                cpus=list(cfg.cpus), retry_share=0.02 if cfg.verify else 0.0,
            ))
        return out

    def __enter__(self) -> Bench:
        configs = self._worker_configs()
        if self.cfg.procs <= 0:
            self._loop = asyncio.new_event_loop()
            self._inline = Worker(configs[0], self._on_progress)
            return self
        ctx = mp.get_context("spawn")  # no gRPC state crosses a fork
        self._progress_q = ctx.Queue(PROGRESS_QUEUE_MAX)
        for wc in configs:
            parent, child = ctx.Pipe()
            p = ctx.Process(target=process_main, args=(wc, child, self._progress_q),
                            name=f"bench-client-{wc.worker_id}", daemon=True)
            p.start()
            self._procs.append(p)
            self._conns.append(parent)
        return self

    @property
    def pids(self) -> list[int]:
        """The client processes (this process when the client runs inline)."""
        if self._inline is not None:
            return [os.getpid()]
        return [p.pid for p in self._procs if p.pid is not None]

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._inline is not None and self._loop is not None:
            self._loop.run_until_complete(self._inline.close())
            self._loop.close()
            self._inline = None
        for c in self._conns:
            try:
                c.send(("stop",))
            except (BrokenPipeError, OSError):
                pass
        for p in self._procs:
            p.join(10)
            if p.is_alive():
                p.terminate()  # our own child, by handle
        self._procs, self._conns = [], []

    # --- commands ---------------------------------------------------------------------
    def _all(self, cmd: tuple[Any, ...]) -> list[dict[str, Any]]:
        if self._inline is not None and self._loop is not None:
            return [self._loop.run_until_complete(handle(self._inline, cmd))]
        for c in self._conns:
            c.send(cmd)
        results: list[dict[str, Any] | None] = [None] * len(self._conns)
        pending = set(range(len(self._conns)))
        while pending:
            self._drain_progress()
            for i in list(pending):
                if self._conns[i].poll(0.05):
                    status, value = self._conns[i].recv()
                    if status != "ok":
                        raise RuntimeError(f"client process {i}: {value}")
                    results[i] = value
                    pending.discard(i)
                elif not self._procs[i].is_alive():
                    raise RuntimeError(f"client process {i} died")
        self._drain_progress()
        return [r for r in results if r is not None]

    def snapshot(self) -> dict[str, Any]:
        """Balances of every member the run may touch, before the first request."""
        rs = self._all(("snapshot",))
        return {"members": sum(r["members"] for r in rs),
                "failures": [f for r in rs for f in r["failures"]],
                "failure_count": sum(r["failure_count"] for r in rs)}

    def phase(self, spec: PhaseSpec) -> dict[str, Any]:
        n = max(1, self.cfg.procs)
        share = replace(
            spec,
            rate_per_s=spec.rate_per_s / n,
            clients=max(1, spec.clients // n) if spec.clients else 0,
            count=None if spec.count is None else max(1, spec.count // n),
        )
        self._say(f"phase {spec.name}: "
                  + (f"open loop {spec.rate_per_s:.0f}/s" if spec.rate_per_s
                     else f"closed loop {spec.clients} clients")
                  + (f", {spec.duration_s:.0f} s" if spec.duration_s else f", {spec.count} req")
                  + (f" after {spec.warmup_s:.0f} s warm-up" if spec.warmup_s else ""))
        warnings = self.shedding_warnings(spec)
        for w in warnings:
            self._say(f"WARNING: {w}")
        merged = merge_phase(self._all(("phase", share)))
        merged["warnings"] = warnings
        a = merged["all"]
        self._say(f"phase {spec.name} done: {merged['achieved_rps']:.0f}/s, "
                  f"p50 {a.get('p50_ms', 0):.2f} ms, p99 {a.get('p99_ms', 0):.2f} ms, "
                  f"unexpected {merged['unexpected_errors']}, violations "
                  f"{merged['violation_count']}"
                  + (f", shed {merged['shed']} ({merged['shed_rps']:.0f}/s, not in the "
                     "throughput)" if merged["shed"] else ""))
        for w in merged["client"]["saturated"]:
            self._say(f"WARNING: client process {w} used >= {CPU_SATURATED:.0%} of a core: "
                      "the generator may be the bottleneck; add --procs or CPUs")
        return merged

    def shedding_warnings(self, spec: PhaseSpec) -> list[str]:
        """Why a closed loop of ``spec.clients`` would measure the target's shedding."""
        if not spec.clients:
            return []
        out = []
        bound = self.cfg.inflight_max
        if bound and spec.clients > bound:
            out.append(
                f"closed loop with {spec.clients} clients against an in-flight bound of "
                f"{bound}: the gateway sheds the excess at once (RESOURCE_EXHAUSTED), so "
                "this run measures shedding, not capacity; lower --clients or serve with "
                "a higher --inflight-max (and pass it here)")
        per_inst = self.cfg.per_institution_inflight_max
        institutions = institutions_of(spec.mix)
        if per_inst and institutions and spec.clients > per_inst * len(institutions):
            out.append(
                f"closed loop with {spec.clients} clients over {len(institutions)} "
                f"institutions, at most {per_inst} in flight each: the gateway sheds the "
                "excess (RESOURCE_EXHAUSTED), so this run measures shedding, not capacity; "
                "lower --clients or serve with a higher --per-institution-inflight-max "
                "(and pass it here)")
        return out

    def verify(self) -> dict[str, Any]:
        rs = self._all(("verify",))
        problems = [p for r in rs for p in r["problems"]]
        return {
            "verdict": "PASS" if all(r["verdict"] == "PASS" for r in rs) else "FAIL",
            "members_checked": sum(r["members_checked"] for r in rs),
            "settlements": sum(r["settlements"] for r in rs),
            "reversed": sum(r["reversed"] for r in rs),
            "unknown_resolved": sum(r["unknown_resolved"] for r in rs),
            "crosschecked": sum(r["crosschecked"] for r in rs),
            "problems": problems[:50],
            "problem_count": sum(r["problem_count"] for r in rs),
        }

    # --- progress ---------------------------------------------------------------------
    def _say(self, text: str) -> None:
        if self.log is not None:
            print(f"[bench] {text}", file=self.log, flush=True)

    def _on_progress(self, msg: dict[str, Any]) -> None:
        self._interval[msg["worker"]] = (msg["count"], msg["errors"], msg.get("shed", 0),
                                         msg["hist"])
        if len(self._interval) >= max(1, self.cfg.procs):
            h = new_histogram()
            count = errors = shed = 0
            for c, e, sh, enc in self._interval.values():
                count, errors, shed = count + c, errors + e, shed + sh
                if enc:
                    h.add(HdrHistogram.decode(enc.encode()))
            self._interval = {}
            if count or shed:
                self._say(f"  {msg['phase']} t={msg['elapsed_s']:5.1f}s {count:7d}/s "
                          f"p50 {h.get_value_at_percentile(50) / 1000:7.2f} ms "
                          f"p99 {h.get_value_at_percentile(99) / 1000:7.2f} ms errors {errors}"
                          + (f" shed {shed}" if shed else ""))

    def _drain_progress(self) -> None:
        if self._progress_q is None:
            return
        for _ in range(PROGRESS_QUEUE_MAX):
            try:
                self._on_progress(self._progress_q.get_nowait())
            except queue.Empty:
                return


def default_cpus() -> list[int]:
    """CPUs for the client processes: all but CPU 0 (the gateway's) when there are two+."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return cpus[1:] if len(cpus) >= 2 else cpus
