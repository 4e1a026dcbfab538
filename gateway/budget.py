"""Latency budgets: how long each method may take, and the deadline of the current request.

The effective budget is the smaller of the method's budget and the client's
own deadline. Work is checked against it between steps; Redis calls are
bounded by what is left of it. A claim whose budget runs out before its commit
fails with DEADLINE_EXCEEDED and commits nothing; once a commit has been sent
its outcome is decided by Redis alone (the script is atomic), and a client that
did not hear the answer recovers it by replaying the request id or with
GetSettlement.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import weakref
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import grpc

from gateway.errors import ClaimError

T = TypeVar("T")

# Reference defaults (pharmacy and outpatient settle 200 ms, inpatient 2 s,
# eligibility 100 ms). Keys are a method, or a method and a setting.
DEFAULT_BUDGETS_MS: dict[str, int] = {
    "CheckEligibility": 100,
    "PreSettle": 200,
    "Settle": 200,
    "PreSettle.INPATIENT": 2_000,
    "Settle.INPATIENT": 2_000,
    "ReverseSettlement": 500,
    "CancelByRequest": 500,
    "Admit": 500,
    "Discharge": 500,
    "UploadFeeDetails": 10_000,
    "GetSettlement": 200,
    "Reconcile": 10_000,
    "ExportSettlements": 120_000,
}
COMMIT_RESERVE_S = 0.002  # do not start a commit with less budget left than this

DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "claimgate_deadline", default=None
)


class DeadlineExceeded(ClaimError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = "BUDGET_SPENT"


_SETTING_NAMES = {1: "PHARMACY", 2: "OUTPATIENT", 3: "INPATIENT", 4: "MAJOR_OUTPATIENT"}


class Budgets:
    def __init__(self, overrides_ms: Mapping[str, int] | None = None) -> None:
        self.ms = {**DEFAULT_BUDGETS_MS, **(overrides_ms or {})}

    def budget_s(self, method: str, request: object) -> float:
        setting = getattr(request, "setting", 0)
        if setting:
            key = f"{method}.{_SETTING_NAMES.get(setting, '')}"
            if key in self.ms:
                return self.ms[key] / 1000
        return self.ms.get(method, 1_000) / 1000


def parse_budgets(text: str) -> dict[str, int]:
    """``"Settle=150,Settle.INPATIENT=1500"`` -> {"Settle": 150, "Settle.INPATIENT": 1500}."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if not value.strip().isdigit():
            raise ValueError(f"budget {part!r}: expected METHOD[.SETTING]=MILLISECONDS")
        out[name.strip()] = int(value)
    return out


# A wait of :func:`within`: [when, sequence, task, state]; state WAITING, FIRED or DONE.
_WAITING, _FIRED, _DONE = 0, 1, 2
TICK_S = 0.001  # a wait may end up to this much late (timers are not re-armed for less)


class _Expiries:
    """The deadlines of the waits in progress on one event loop, in a heap, with one
    timer armed at the earliest pending deadline. A timer handle per wait (what
    ``asyncio.timeout`` arms) costs more: under uvloop, arming and cancelling one is
    several µs, three times a claim. Here the timer is re-armed only when it fires, or
    when a wait comes due more than ``TICK_S`` before it.

    A finished wait drops its task at once; its entry leaves the heap when it reaches
    the top, or when finished entries are more than half of the heap (a request's
    10 s wait for its message ends in microseconds but would sit in the heap behind
    shorter ones). With no wait in progress there is no heap and no timer, so nothing
    here keeps a closed loop alive."""

    COMPACT_MIN = 256  # finished entries before the heap is rebuilt without them

    def __init__(self) -> None:
        self.heap: list[list[Any]] = []
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0  # when the timer fires (loop time), if armed
        self.sequence = 0
        self.finished = 0  # finished entries still in the heap
        self.pending = 0  # waits in progress

    @property
    def armed(self) -> bool:
        return self.timer is not None

    def add(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any], timeout_s: float
            ) -> list[Any]:
        self.sequence += 1
        when = loop.time() + timeout_s
        wait = [when, self.sequence, task, _WAITING]
        heapq.heappush(self.heap, wait)
        self.pending += 1
        if self.timer is None or when < self.timer_at - TICK_S:
            self._arm(loop, when)
        return wait

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = loop.call_at(when, self.fire, loop)
        self.timer_at = when

    def finish(self, wait: list[Any]) -> None:
        wait[3] = _DONE
        wait[2] = None
        self.pending -= 1
        self.finished += 1
        if not self.pending:  # nothing to time out: no heap, no timer (which holds the loop)
            self.heap = []
            self.finished = 0
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
        elif self.finished >= self.COMPACT_MIN and 2 * self.finished > len(self.heap):
            self.heap = [w for w in self.heap if w[3] != _DONE]
            heapq.heapify(self.heap)
            self.finished = 0

    def fire(self, loop: asyncio.AbstractEventLoop) -> None:
        """Cancel the waits that are due, drop finished ones from the top, and arm the
        timer at the next pending deadline."""
        self.timer = None
        try:
            now = loop.time()
            heap = self.heap
            while heap and (heap[0][3] == _DONE or heap[0][0] <= now):
                wait = heapq.heappop(heap)
                if wait[3] == _DONE:
                    self.finished -= 1
                elif wait[3] == _WAITING:
                    wait[3] = _FIRED
                    self.pending -= 1
                    wait[2].cancel()
        finally:  # re-armed whatever happened, or no later wait would time out
            if self.heap and self.timer is None:
                # Never early; a timer that fired just before a deadline waits a tick.
                self._arm(loop, max(self.heap[0][0], loop.time() + TICK_S))


# One per event loop (a worker runs one; tests run several, some at once in threads),
# dropped with its loop.
_EXPIRIES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Expiries] = (
    weakref.WeakKeyDictionary())


def _expiries(loop: asyncio.AbstractEventLoop) -> _Expiries:
    found = _EXPIRIES.get(loop)
    if found is None:
        found = _EXPIRIES[loop] = _Expiries()
    return found


async def within(aw: Awaitable[T], timeout_s: float) -> T:
    """``await aw``, or TimeoutError after ``timeout_s`` (up to ``TICK_S`` late), with
    ``asyncio.timeout``'s cancellation bookkeeping but without a timer handle and a
    context manager per call, for the waits every request makes. A cancellation from
    elsewhere stays a cancellation."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    cancelling = task.cancelling()
    expiries = _expiries(loop)
    wait = expiries.add(loop, task, timeout_s)
    try:
        return await aw
    except asyncio.CancelledError:
        if wait[3] == _FIRED:
            wait[3] = _DONE  # its cancellation is taken back here, once
            if task.uncancel() <= cancelling:
                raise TimeoutError from None
        raise
    finally:
        if wait[3] == _WAITING:
            expiries.finish(wait)
        elif wait[3] == _FIRED:  # fired, but the wait ended otherwise: take it back
            task.uncancel()


def remaining_s() -> float | None:
    deadline = DEADLINE.get()
    return None if deadline is None else deadline - asyncio.get_running_loop().time()


def check(step: str, reserve_s: float = 0.0) -> None:
    """Raise DEADLINE_EXCEEDED when the budget (less a reserve) is spent before ``step``."""
    left = remaining_s()
    if left is not None and left < reserve_s:
        raise DeadlineExceeded(f"latency budget spent before {step}; nothing was committed")
