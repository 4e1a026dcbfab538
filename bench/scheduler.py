"""Open-loop and closed-loop request schedulers, free of coordinated omission.

Open loop: request ``k`` has an *intended* send time ``start + k / rate`` (or a
Poisson arrival), fixed before the run. Its latency is measured from that
intended time, not from when the generator managed to send it: when the server
(or the generator) falls behind, the time a request spent waiting to be sent is
part of its latency, as it is for a customer queueing at the counter.

The clock and sleep are injected so the accounting can be tested with a
controlled clock. Every queue is bounded: at most ``in_flight_max`` requests are
outstanding; the wait for a slot is counted in the latency, since it happens
after the intended send time.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
# op(intended_s) performs one transaction and returns its outcome label.
Operation = Callable[[float], Awaitable[str]]

REQUESTS_MAX = 50_000_000  # hard bound on one run's requests


@dataclass(frozen=True, slots=True)
class Timing:
    """One transaction's clock readings, in seconds of the scheduler's clock."""

    intended_s: float
    sent_s: float
    done_s: float
    outcome: str

    @property
    def latency_s(self) -> float:
        """Latency as the customer sees it: from the intended send time."""
        return self.done_s - self.intended_s

    @property
    def lag_s(self) -> float:
        """How late the generator sent it (0 when it kept up)."""
        return self.sent_s - self.intended_s


OnDone = Callable[[Timing], None]


class OpenLoop:
    """Sends at a constant (or Poisson) arrival rate, whatever the responses do."""

    def __init__(
        self, *, rate_per_s: float, clock: Clock, sleep: Sleep, in_flight_max: int = 4096,
        poisson: bool = False, rng: random.Random | None = None,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be > 0")
        self.rate_per_s = rate_per_s
        self.clock = clock
        self.sleep = sleep
        self.in_flight_max = in_flight_max
        self.poisson = poisson
        self.rng = rng or random.Random(1)

    def _gap_s(self) -> float:
        if self.poisson:
            return self.rng.expovariate(self.rate_per_s)
        return 1.0 / self.rate_per_s

    async def run(
        self, op: Operation, on_done: OnDone, *, count: int | None = None,
        duration_s: float | None = None, start_s: float | None = None,
    ) -> int:
        """Schedule ``count`` requests, or as many as are due within ``duration_s``.

        Returns how many were sent; waits for all of them to finish.
        """
        if count is None and duration_s is None:
            raise ValueError("give count or duration_s")
        limit = min(count if count is not None else REQUESTS_MAX, REQUESTS_MAX)
        start = self.clock() if start_s is None else start_s
        end = start + duration_s if duration_s is not None else float("inf")
        slots = asyncio.Semaphore(self.in_flight_max)
        tasks: set[asyncio.Task[None]] = set()

        async def one(intended: float) -> None:
            try:
                sent = self.clock()
                outcome = await op(intended)
                on_done(Timing(intended, sent, self.clock(), outcome))
            finally:
                slots.release()

        intended = start
        sent = 0
        while sent < limit and intended < end:
            now = self.clock()
            if intended > now:
                await self.sleep(intended - now)
            await slots.acquire()  # bounded: waiting here is counted in the latency
            task = asyncio.create_task(one(intended))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
            intended += self._gap_s()
        if tasks:
            await asyncio.gather(*list(tasks), return_exceptions=True)
        return sent


class ClosedLoop:
    """``clients`` concurrent clients, each sending its next request when the last ends.

    The intended send time of a request is the end of the previous one, so the
    latency is the plain service time (closed-loop numbers understate latency
    under overload; use them for capacity, the open loop for latency).
    """

    def __init__(self, *, clients: int, clock: Clock) -> None:
        if clients <= 0:
            raise ValueError("clients must be > 0")
        self.clients = clients
        self.clock = clock

    async def run(
        self, op: Operation, on_done: OnDone, *, count: int | None = None,
        duration_s: float | None = None,
    ) -> int:
        if count is None and duration_s is None:
            raise ValueError("give count or duration_s")
        limit = min(count if count is not None else REQUESTS_MAX, REQUESTS_MAX)
        end = self.clock() + duration_s if duration_s is not None else float("inf")
        sent = 0

        async def client() -> None:
            nonlocal sent
            while sent < limit and self.clock() < end:
                sent += 1
                t0 = self.clock()
                outcome = await op(t0)
                on_done(Timing(t0, t0, self.clock(), outcome))

        await asyncio.gather(*(client() for _ in range(self.clients)))
        return sent
