"""The per-iteration kernel batch (gateway/adjudicator.py): claims submitted in one
event-loop iteration share one kernel call and get exactly what each would get alone;
a claim whose result breaks a §8 invariant fails by itself; large claims and claims of
another policy version are kept apart."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.adjudicator import (
    BATCH_LINES_MAX,
    Adjudicator,
    InvariantBroken,
    Verdict,
    broken_invariant,
    kept_fen_of,
)
from rules_compiled import model as m
from rules_compiled.engine import Engine
from rules_compiled.policy import CompiledPolicy

from .gen import random_catalogue, random_claim


class CountingEngine(Engine):
    """The real engine, counting its kernel calls (and the claims in each)."""

    def __init__(self, *args: Any, corrupt: int | None = None) -> None:
        super().__init__(*args)
        self.calls: list[int] = []
        self.corrupt = corrupt  # the batch position whose cash is bumped by one fen

    def adjudicate(self, claims: Any, lines: Any, line_offsets: Any) -> Any:
        self.calls.append(len(claims))
        claim_out, line_out = super().adjudicate(claims, lines, line_offsets)
        if self.corrupt is not None and self.corrupt < len(claim_out):
            claim_out[self.corrupt, m.CO_CASH] += 1
        return claim_out, line_out


def _claims(seed: int, n: int, engine_items: Any, policy: CompiledPolicy
            ) -> list[tuple[np.ndarray, np.ndarray]]:
    rnd = random.Random(seed)
    disease_ids = list(range(len(Engine(policy, engine_items).diseases)))
    out = []
    for _ in range(n):
        row, lines = random_claim(rnd, len(engine_items), disease_ids)
        out.append((np.array(row, dtype=np.int64), np.array(lines, dtype=np.int64)))
    return out


def _alone(engine: Engine, claim_in: np.ndarray, lines_in: np.ndarray
           ) -> tuple[list[int], list[list[int]]]:
    offsets = np.array([0, len(lines_in)], dtype=np.int64)
    co, lo = Engine.adjudicate(engine, claim_in.reshape(1, m.CI_N), lines_in, offsets)
    return co[0].tolist(), lo.tolist()


async def _submit_together(adj: Adjudicator, engine: Engine,
                           claims: list[tuple[np.ndarray, np.ndarray]]) -> list[Any]:
    futures = [adj.adjudicate(engine, c, li) for c, li in claims]  # one iteration
    return await asyncio.gather(*futures, return_exceptions=True)


def test_claims_of_one_iteration_share_one_kernel_call(policy: CompiledPolicy) -> None:
    items = random_catalogue(random.Random(3))
    engine = CountingEngine(policy, items)
    claims = _claims(5, 40, items, policy)
    verdicts = asyncio.run(_submit_together(Adjudicator(batching=True), engine, claims))
    assert engine.calls == [40]
    for (claim_in, lines_in), v in zip(claims, verdicts, strict=True):
        assert isinstance(v, Verdict)
        assert (v.co, v.lo) == _alone(engine, claim_in, lines_in)
        assert v.claim_in is claim_in and v.lines_in is lines_in


def test_claims_of_later_iterations_get_their_own_call(policy: CompiledPolicy) -> None:
    items = random_catalogue(random.Random(3))
    engine = CountingEngine(policy, items)
    claims = _claims(6, 6, items, policy)

    async def run() -> None:
        adj = Adjudicator(batching=True)
        await _submit_together(adj, engine, claims[:4])
        await _submit_together(adj, engine, claims[4:])

    asyncio.run(run())
    assert engine.calls == [4, 2]


def test_a_claim_breaking_an_invariant_fails_alone(policy: CompiledPolicy) -> None:
    items = random_catalogue(random.Random(3))
    engine = CountingEngine(policy, items, corrupt=2)
    claims = _claims(7, 5, items, policy)
    verdicts = asyncio.run(_submit_together(Adjudicator(batching=True), engine, claims))
    assert isinstance(verdicts[2], InvariantBroken)
    assert "invariant check" in str(verdicts[2])
    for i in (0, 1, 3, 4):
        assert isinstance(verdicts[i], Verdict)
        assert (verdicts[i].co, verdicts[i].lo) == _alone(engine, *claims[i])


def test_large_claims_and_other_policy_versions_are_kept_apart(
    policy: CompiledPolicy,
) -> None:
    items = random_catalogue(random.Random(3))
    first, second = CountingEngine(policy, items), CountingEngine(policy, items)
    small = _claims(8, 4, items, policy)
    row, lines = small[0]
    large = (row, np.repeat(lines[:1], BATCH_LINES_MAX + 1, axis=0))

    async def run() -> list[Any]:
        adj = Adjudicator(batching=True)
        futures = [adj.adjudicate(first, *small[0]), adj.adjudicate(second, *small[1]),
                   adj.adjudicate(first, *large), adj.adjudicate(first, *small[2]),
                   adj.adjudicate(second, *small[3])]
        assert isinstance(futures[2], Verdict)  # the large claim ran at once, alone
        return [f if isinstance(f, Verdict) else await f for f in futures]

    verdicts = asyncio.run(run())
    assert first.calls == [1, 2] and second.calls == [2]
    # A large claim's LO_* rows stay an array (gateway/line_columns.py reads them).
    assert verdicts[2].lo == []
    assert (verdicts[2].co, verdicts[2].lines_out.tolist()) == _alone(first, *large)
    assert (verdicts[4].co, verdicts[4].lo) == _alone(second, *small[3])


def test_a_large_claim_breaking_an_invariant_fails(policy: CompiledPolicy) -> None:
    """The checks of a large claim read its arrays: each still catches a break."""
    items = random_catalogue(random.Random(3))
    row, lines = _claims(8, 1, items, policy)[0]
    large = (row, np.repeat(lines[:1], BATCH_LINES_MAX + 1, axis=0))
    good = Adjudicator(batching=True).adjudicate(CountingEngine(policy, items), *large)
    assert isinstance(good, Verdict) and good.lo == []
    with pytest.raises(InvariantBroken, match="invariant check"):
        Adjudicator(batching=True).adjudicate(CountingEngine(policy, items, corrupt=0), *large)


def test_a_caller_that_gave_up_does_not_break_the_batch(policy: CompiledPolicy) -> None:
    items = random_catalogue(random.Random(3))
    engine = CountingEngine(policy, items)
    claims = _claims(9, 3, items, policy)

    async def run() -> list[Any]:
        adj = Adjudicator(batching=True)
        futures = [adj.adjudicate(engine, c, li) for c, li in claims]
        futures[1].cancel()
        return await asyncio.gather(futures[0], futures[2])

    verdicts = asyncio.run(run())
    assert engine.calls == [3]
    assert [(v.co, v.lo) for v in verdicts] == [_alone(engine, *claims[0]),
                                                 _alone(engine, *claims[2])]


@pytest.mark.parametrize("broken", range(7))
def test_every_invariant_is_checked(policy: CompiledPolicy, broken: int) -> None:
    """Each of the seven column checks catches a result that breaks only it."""
    items = random_catalogue(random.Random(3))
    engine = Engine(policy, items)
    claim_in, lines_in = _claims(10, 1, items, policy)[0]
    offsets = np.array([0, len(lines_in)], dtype=np.int64)
    co, lo = engine.adjudicate(claim_in.reshape(1, m.CI_N), lines_in, offsets)
    amounts = lines_in[:, m.LI_AMOUNT].tolist()
    assert broken_invariant(co[0].tolist(), lo.tolist(), amounts) == ""
    # One change per check that leaves every other check true.
    col = [m.CO_MEDFEE, m.CO_FULAMT_OWNPAY, m.CO_FUND_PAY_SUM, m.CO_CASH,
           m.CO_ACCT_CURRENT_PAY, m.CO_HIFP, None][broken]
    bad = co.copy()
    if broken == 0:  # medfee against the kept lines: every sum moves with it
        for c in (m.CO_MEDFEE, m.CO_FULAMT_OWNPAY, m.CO_FUND_PAY_SUM, m.CO_HIFP):
            bad[0, c] += 1
    elif broken == 6:  # cash below zero, the account paying for it: every sum holds
        moved = int(bad[0, m.CO_CASH]) + 1
        bad[0, m.CO_CASH] = -1
        bad[0, m.CO_ACCT_PRIOR_PAY] += moved
        bad[0, m.CO_ACCT_PAY] += moved
    else:
        assert col is not None
        bad[0, col] += 1
    assert broken_invariant(bad[0].tolist(), lo.tolist(), amounts) == (
        f"invariant check {broken} failed: {bad[0].tolist()}"
    )


def test_batching_follows_how_claims_arrive(policy: CompiledPolicy) -> None:
    """Claims that come one per iteration are adjudicated at once; claims that come in
    bursts switch the adjudicator to batches, and back when the bursts stop."""
    items = random_catalogue(random.Random(3))
    engine = CountingEngine(policy, items)
    claims = _claims(11, 16, items, policy)

    async def one_per_iteration(adj: Adjudicator, n: int) -> None:
        for i in range(n):
            verdict = adj.adjudicate(engine, *claims[i % 16])
            if not adj.batching:
                assert isinstance(verdict, Verdict)  # at once, no future
            elif not isinstance(verdict, Verdict):
                await verdict
            await asyncio.sleep(0)

    async def bursts(adj: Adjudicator, n: int, size: int) -> None:
        for i in range(n):
            got = [adj.adjudicate(engine, *claims[(i + k) % 16]) for k in range(size)]
            for g, (c, li) in zip(got, [claims[(i + k) % 16] for k in range(size)],
                                  strict=True):
                v = g if isinstance(g, Verdict) else await g
                assert (v.co, v.lo) == _alone(engine, c, li)
            await asyncio.sleep(0)

    async def run() -> None:
        adj = Adjudicator()
        await one_per_iteration(adj, 200)
        assert not adj.batching and engine.calls == [1] * 200
        engine.calls.clear()
        await bursts(adj, 10, 4)  # 4 an iteration: not enough to pay
        assert not adj.batching and engine.calls[-4:] == [1] * 4
        await bursts(adj, 100, 16)
        assert adj.batching and adj.together > Adjudicator.BATCH_ABOVE
        assert engine.calls[-10:] == [16] * 10  # one kernel call per burst
        await one_per_iteration(adj, 200)
        assert not adj.batching and adj.together < Adjudicator.SINGLE_BELOW
        assert engine.calls[-10:] == [1] * 10

    asyncio.run(run())


def test_a_kernel_error_in_a_batch_fails_only_its_own_claim(policy: CompiledPolicy) -> None:
    """When the batch's kernel call fails, each claim is tried alone: the others keep
    their verdicts, and the failing claim gets its own error."""
    items = random_catalogue(random.Random(3))
    claims = _claims(12, 4, items, policy)
    bad_row = claims[1][0]

    class Refusing(CountingEngine):
        def adjudicate(self, c: Any, li: Any, off: Any) -> Any:
            if any((row == bad_row).all() for row in c):
                self.calls.append(-len(c))
                raise ValueError("this claim's rows are refused")
            return super().adjudicate(c, li, off)

    engine = Refusing(policy, items)
    verdicts = asyncio.run(_submit_together(Adjudicator(batching=True), engine, claims))
    assert isinstance(verdicts[1], ValueError)
    for i in (0, 2, 3):
        assert isinstance(verdicts[i], Verdict)
        assert (verdicts[i].co, verdicts[i].lo) == _alone(engine, *claims[i])
    assert engine.calls[:5] == [-4, 1, -1, 1, 1]  # the batch, then one by one


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.integers(0, 10**6), st.integers(-(2**62), 2**62),
                                    st.sampled_from([2**63 - 1, -(2**63), 2**53 - 1])),
                          st.sampled_from([0, 1, 2, 3])), max_size=300))
def test_the_kept_amount_of_a_large_claim_is_exact(lines: list[tuple[int, int]]) -> None:
    """Summed in int64 only where that cannot overflow: otherwise as Python ints, so
    that a wrapped sum never meets a wrapped kernel total."""
    li = np.zeros((len(lines), m.LI_N), dtype=np.int64)
    lo = np.zeros((len(lines), m.LO_N), dtype=np.int64)
    for i, (amount, status) in enumerate(lines):
        li[i, m.LI_AMOUNT] = amount
        lo[i, m.LO_STATUS] = status
    rejected = int(m.LineStatus.REJECTED)
    assert kept_fen_of(li, lo) == sum(a for a, s in lines if s != rejected)
