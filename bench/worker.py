"""One client process: its own event loop, gRPC channels, members, recorder and ledger.

The parent sends commands over a pipe (``snapshot``, ``phase``, ``verify``,
``stop``); each answer is a picklable dict. Processes claim for disjoint sets of
members, so each one can check the money of its own members at the end.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import grpc
import uvloop

from bench.ledger import Balances, Ledger, balances_of, verify
from bench.population import psn_no_of
from bench.recorder import Recorder
from bench.scenarios import Ctx, Mix
from bench.scheduler import ClosedLoop, OpenLoop, Timing
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.collector import tune_gc

PROGRESS_INTERVAL_S = 1.0


@dataclass
class WorkerConfig:
    target: str
    worker_id: int
    population: int
    seed: int
    pool: list[int]
    inpatient_pool: list[int]
    run_tag: str
    traits_known: bool = True
    channels: int = 2
    deadline_s: float = 5.0
    inpatient_lines: tuple[int, int] = (200, 5000)
    chunk_lines: int = 500
    cpus: list[int] = field(default_factory=list)  # CPU affinity ([] = any)
    retry_share: float = 0.02  # POS re-sends (replays); 0 against a server without state


@dataclass
class PhaseSpec:
    name: str
    mix: dict[str, float]
    rate_per_s: float = 0.0  # this process's share; 0 = closed loop
    clients: int = 0  # closed loop: this process's clients
    duration_s: float | None = None
    count: int | None = None
    warmup_s: float = 0.0
    poisson: bool = False
    in_flight_max: int = 4096
    inpatient_lines: tuple[int, int] | None = None  # overrides the worker's range


Progress = Callable[[dict[str, Any]], None]


class Worker:
    def __init__(self, cfg: WorkerConfig, progress: Progress) -> None:
        self.cfg = cfg
        self.progress = progress
        self.ledger = Ledger()
        self.before: Balances = {}
        self.channels: list[grpc.aio.Channel] = []
        self.rng = random.Random(cfg.seed * 7919 + cfg.worker_id)
        self._stubs: list[pb_grpc.ClaimGatewayStub] = []
        self._next = 0
        self._ctx_obj: Ctx | None = None

    def _stub(self) -> pb_grpc.ClaimGatewayStub:
        if not self._stubs:
            for _ in range(max(1, self.cfg.channels)):
                ch = grpc.aio.insecure_channel(
                    self.cfg.target,
                    options=[("grpc.use_local_subchannel_pool", 1),
                             ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                             ("grpc.max_send_message_length", 64 * 1024 * 1024)],
                )
                self.channels.append(ch)
                self._stubs.append(pb_grpc.ClaimGatewayStub(ch))
        self._next = (self._next + 1) % len(self._stubs)
        return self._stubs[self._next]

    def _ctx(self, rec: Recorder) -> Ctx:
        """One context for the worker's life (request-id sequence, recent settlements)."""
        if self._ctx_obj is not None:
            self._ctx_obj.rec = rec
            return self._ctx_obj
        self._ctx_obj = Ctx(
            stub=_RoundRobin(self), rec=rec, ledger=self.ledger, rng=self.rng,  # type: ignore[arg-type]
            population=self.cfg.population, seed=self.cfg.seed, pool=self.cfg.pool,
            inpatient_free=deque(self.cfg.inpatient_pool, maxlen=len(self.cfg.inpatient_pool)),
            run_tag=self.cfg.run_tag, traits_known=self.cfg.traits_known,
            deadline_s=self.cfg.deadline_s, inpatient_lines=self.cfg.inpatient_lines,
            chunk_lines=self.cfg.chunk_lines, retry_share=self.cfg.retry_share,
        )
        return self._ctx_obj

    async def snapshot(self) -> dict[str, Any]:
        members = [psn_no_of(i) for i in self.cfg.pool + self.cfg.inpatient_pool]
        for ch in self.channels[:1]:
            await ch.channel_ready()
        self.before, failures = await balances_of(self._stub(), members)
        return {"members": len(self.before), "failures": failures[:20],
                "failure_count": len(failures)}

    async def phase(self, spec: PhaseSpec) -> dict[str, Any]:
        rec = Recorder(measuring=False)
        ctx = self._ctx(rec)
        ctx.inpatient_lines = spec.inpatient_lines or self.cfg.inpatient_lines
        mix = Mix(ctx, spec.mix)
        clock = time.perf_counter

        def on_done(t: Timing) -> None:
            name, _, outcome = t.outcome.partition("\t")
            rec.flow(name, t.latency_s, t.lag_s, outcome)

        async def run(duration_s: float | None, count: int | None) -> int:
            if spec.rate_per_s > 0:
                loop = OpenLoop(rate_per_s=spec.rate_per_s, clock=clock, sleep=asyncio.sleep,
                                in_flight_max=spec.in_flight_max, poisson=spec.poisson,
                                rng=random.Random(self.rng.random()))
                return await loop.run(mix.op, on_done, count=count, duration_s=duration_s)
            closed = ClosedLoop(clients=max(1, spec.clients), clock=clock)
            return await closed.run(mix.op, on_done, count=count, duration_s=duration_s)

        if spec.warmup_s > 0:
            await run(spec.warmup_s, None)
        rec.measuring = True
        stop = asyncio.Event()
        ticker = asyncio.create_task(self._tick(spec.name, rec, stop))
        cpu0, wall0 = time.process_time(), clock()
        sent = await run(spec.duration_s, spec.count)
        cpu_s, wall_s = time.process_time() - cpu0, clock() - wall0
        stop.set()
        await ticker
        out = rec.export()
        out.update(worker=self.cfg.worker_id, sent=sent, wall_s=wall_s, cpu_s=cpu_s,
                   phase=spec.name, offered_rate_per_s=spec.rate_per_s,
                   ledger_problems=list(self.ledger.problems))
        return out

    async def _tick(self, phase: str, rec: Recorder, stop: asyncio.Event) -> None:
        t0 = time.perf_counter()
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), PROGRESS_INTERVAL_S)
            except TimeoutError:
                pass
            count, errors, shed, hist = rec.take_interval()
            self.progress({"worker": self.cfg.worker_id, "phase": phase, "count": count,
                           "errors": errors, "shed": shed, "hist": hist,
                           "elapsed_s": time.perf_counter() - t0})

    async def verify(self) -> dict[str, Any]:
        if self.ledger.unknown_settles or self.ledger.unknown_reversals:
            await asyncio.sleep(min(self.cfg.deadline_s, 2.0))  # let abandoned calls land
        verdict = await verify(self._stub(), self.ledger, self.before)
        return verdict.to_json()

    async def close(self) -> None:
        for ch in self.channels:
            await ch.close(None)


class _RoundRobin:
    """A stub-like object spreading calls over the worker's channels."""

    def __init__(self, worker: Worker) -> None:
        self._w = worker

    def __getattr__(self, name: str) -> Any:
        return getattr(self._w._stub(), name)


async def handle(worker: Worker, cmd: tuple[Any, ...]) -> dict[str, Any]:
    kind = cmd[0]
    if kind == "snapshot":
        return await worker.snapshot()
    if kind == "phase":
        return await worker.phase(cmd[1])
    if kind == "verify":
        return await worker.verify()
    raise ValueError(f"unknown command {kind!r}")


def process_main(cfg: WorkerConfig, conn: Connection, progress_q: Any) -> None:
    """Entry point of a spawned client process."""
    if cfg.cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cfg.cpus)

    def progress(msg: dict[str, Any]) -> None:
        try:
            progress_q.put_nowait(msg)
        except Exception:  # queue full: progress is best effort, results are not
            pass

    # The gateway's loop, and its collector settings: the client's own pauses are in
    # every latency it measures (on the asyncio loop and default thresholds, about
    # 0.3-0.5 ms more at the median against the echo server).
    loop = uvloop.new_event_loop()
    worker = Worker(cfg, progress)
    tune_gc()
    try:
        while True:
            cmd = conn.recv()
            if cmd[0] == "stop":
                break
            try:
                conn.send(("ok", loop.run_until_complete(handle(worker, cmd))))
            except Exception as e:
                conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        loop.run_until_complete(worker.close())
        loop.close()
