"""The open-loop scheduler measures latency from the intended send time.

A controlled clock: ``sleep`` advances it, and the fake call is a server with one
slot that takes 1.0 s per request while requests are due every 0.1 s. A closed-loop
(coordinated-omission) measurement would report 1.0 s for every request; the open
loop must report the queueing too. No wall-clock timing anywhere.
"""

from __future__ import annotations

import asyncio

from bench.scheduler import ClosedLoop, OpenLoop, Timing


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def test_open_loop_counts_queueing_from_intended_time() -> None:
    clock = FakeClock()
    done_at: dict[float, float] = {}

    async def slow_call(intended: float) -> str:
        clock.now = max(clock.now, intended) + 1.0  # one slot, 1.0 s service time
        done_at[intended] = clock.now
        return "OK"

    timings: list[Timing] = []
    sent = await OpenLoop(rate_per_s=10, clock=clock, sleep=clock.sleep).run(
        slow_call, timings.append, count=20)
    assert sent == 20
    intended = sorted(t.intended_s for t in timings)
    assert intended == [round(i * 0.1, 9) for i in range(20)] or all(
        abs(a - i * 0.1) < 1e-9 for i, a in enumerate(intended))
    for t in timings:
        assert t.latency_s == t.done_s - t.intended_s
        assert t.done_s == done_at[t.intended_s]
    latencies = [t.latency_s for t in sorted(timings, key=lambda t: t.intended_s)]
    # The service time is 1.0 s, but requests queue behind each other: the open loop
    # reports latencies far above it, growing with the queue.
    assert latencies[-1] > 10.0
    assert latencies == sorted(latencies)
    # The generator itself fell behind its schedule and says so.
    assert max(t.lag_s for t in timings) > 0


async def test_open_loop_bounds_in_flight() -> None:
    clock = FakeClock()
    in_flight = peak = 0
    gate = asyncio.Event()

    async def call(intended: float) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await gate.wait()
        in_flight -= 1
        return "OK"

    async def release() -> None:
        for _ in range(1000):
            await asyncio.sleep(0)
        gate.set()

    timings: list[Timing] = []
    rel = asyncio.create_task(release())
    await OpenLoop(rate_per_s=1000, clock=clock, sleep=clock.sleep, in_flight_max=5).run(
        call, timings.append, count=50)
    await rel
    assert peak <= 5 and len(timings) == 50


async def test_closed_loop_times_from_its_own_send() -> None:
    clock = FakeClock()

    async def call(intended: float) -> str:
        clock.now += 0.5
        return "OK"

    timings: list[Timing] = []
    sent = await ClosedLoop(clients=1, clock=clock).run(call, timings.append, count=4)
    assert sent == 4
    assert [t.latency_s for t in timings] == [0.5] * 4
