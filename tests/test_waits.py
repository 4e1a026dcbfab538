"""The two waits every claim makes: the per-member lock (gateway/memberlock.py) and the
bounded wait (gateway/budget.py ``within``)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.budget import within
from gateway.memberlock import MemberLocks


def test_claims_of_one_member_take_turns_in_arrival_order() -> None:
    async def run() -> list[str]:
        locks, order = MemberLocks(), []

        async def claim(psn: str, name: str) -> None:
            await locks.acquire(psn)
            try:
                order.append(f"{name} in")
                await asyncio.sleep(0.001)
                order.append(f"{name} out")
            finally:
                locks.release(psn)

        await asyncio.gather(claim("A", "a1"), claim("A", "a2"), claim("A", "a3"))
        assert len(locks) == 0  # the table holds only members in use
        return order

    assert asyncio.run(run()) == ["a1 in", "a1 out", "a2 in", "a2 out", "a3 in", "a3 out"]


def test_other_members_never_wait() -> None:
    async def run() -> None:
        locks = MemberLocks()
        await locks.acquire("A")
        await asyncio.wait_for(locks.acquire("B"), 0.1)
        assert len(locks) == 2
        locks.release("A")
        locks.release("B")
        assert len(locks) == 0

    asyncio.run(run())


def test_a_waiter_cancelled_leaves_the_queue_and_the_lock_goes_on() -> None:
    async def run() -> None:
        locks = MemberLocks()
        await locks.acquire("A")
        gone = asyncio.ensure_future(locks.acquire("A"))
        after = asyncio.ensure_future(locks.acquire("A"))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0)
        locks.release("A")  # skips the cancelled waiter
        await asyncio.wait_for(after, 0.1)
        locks.release("A")
        assert len(locks) == 0

    asyncio.run(run())


def test_a_waiter_cancelled_as_the_lock_is_handed_over_passes_it_on() -> None:
    async def run() -> None:
        locks = MemberLocks()
        await locks.acquire("A")
        handed = asyncio.ensure_future(locks.acquire("A"))
        after = asyncio.ensure_future(locks.acquire("A"))
        await asyncio.sleep(0)
        locks.release("A")  # hands the lock to ``handed`` ...
        handed.cancel()  # ... which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await handed
        await asyncio.wait_for(after, 0.1)  # so it passed the lock on
        locks.release("A")
        assert len(locks) == 0

    asyncio.run(run())


def test_within_answers_times_out_and_keeps_outside_cancellations() -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        assert await within(asyncio.sleep(0, "done"), 1.0) == "done"
        with pytest.raises(TimeoutError):
            await within(loop.create_future(), 0.01)
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0  # the timeout was taken back

        async def waits() -> None:
            await within(loop.create_future(), 10.0)

        t = asyncio.ensure_future(waits())
        await asyncio.sleep(0)
        t.cancel()  # from outside: stays a cancellation
        with pytest.raises(asyncio.CancelledError):
            await t

    asyncio.run(run())


def test_many_waits_share_one_timer_and_leave_nothing_behind() -> None:
    from gateway import budget

    async def run() -> None:
        loop = asyncio.get_running_loop()
        never = [loop.create_future() for _ in range(50)]
        answered = [loop.create_future() for _ in range(50)]
        waits = [asyncio.ensure_future(within(f, 0.02)) for f in never] + [
            asyncio.ensure_future(within(f, 10.0)) for f in answered]
        await asyncio.sleep(0)
        for i, f in enumerate(answered):
            f.set_result(i)
        results = await asyncio.gather(*waits, return_exceptions=True)
        assert all(isinstance(r, TimeoutError) for r in results[:50])
        assert results[50:] == list(range(50))
        await asyncio.sleep(3 * budget.TICK_S)
        expiries = budget._expiries(loop)
        assert expiries.heap == [] and not expiries.armed

    asyncio.run(run())


def test_event_loops_in_threads_keep_their_own_waits() -> None:
    import threading

    results: dict[str, object] = {}

    def run(name: str, timeout_s: float) -> None:
        async def main() -> None:
            loop = asyncio.get_running_loop()
            for _ in range(20):  # alternate with the other thread's loop
                try:
                    await within(loop.create_future(), timeout_s)
                except TimeoutError:
                    pass
            results[name] = "timed out each time"

        asyncio.run(main())

    threads = [threading.Thread(target=run, args=(n, t)) for n, t in (("a", 0.002),
                                                                     ("b", 0.003))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == {"a": "timed out each time", "b": "timed out each time"}


def test_finished_long_waits_do_not_pile_up_behind_short_ones() -> None:
    """A request's 10 s wait for its message ends at once; thousands of them must not
    stay in the heap (holding their tasks) behind the short waits still pending."""
    from gateway import budget

    async def run() -> None:
        loop = asyncio.get_running_loop()
        pending = loop.create_future()
        short = asyncio.ensure_future(within(pending, 5.0))  # stays on top of the heap
        await asyncio.sleep(0)
        for i in range(2_000):
            assert await within(asyncio.sleep(0, i), 10.0) == i
        expiries = budget._expiries(loop)
        assert len(expiries.heap) < 2 * budget._Expiries.COMPACT_MIN
        assert all(w[2] is None for w in expiries.heap if w[3] != 0)  # no task kept
        pending.set_result("done")
        assert await short == "done"

    asyncio.run(run())


def test_a_shorter_wait_after_a_longer_one_still_times_out_on_time() -> None:
    """The one timer is armed at the earliest deadline: a short wait that comes after a
    long one re-arms it (and a wait is never ended early)."""
    async def run() -> None:
        loop = asyncio.get_running_loop()
        long = asyncio.ensure_future(within(loop.create_future(), 10.0))
        await asyncio.sleep(0)
        t0 = loop.time()
        with pytest.raises(TimeoutError):
            await within(loop.create_future(), 0.05)
        waited = loop.time() - t0
        assert 0.05 <= waited < 5.0  # on time (a loaded machine may add some), not at 10 s
        long.cancel()
        with pytest.raises(asyncio.CancelledError):
            await long

    asyncio.run(run())


def test_a_finished_event_loop_is_not_kept_alive() -> None:
    import gc
    import weakref

    async def run() -> weakref.ref[asyncio.AbstractEventLoop]:
        loop = asyncio.get_running_loop()
        slow = asyncio.ensure_future(within(loop.create_future(), 10.0))
        assert await within(asyncio.sleep(0, "done"), 10.0) == "done"
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        return weakref.ref(loop)

    loop_ref = asyncio.run(run())
    gc.collect()
    assert loop_ref() is None
