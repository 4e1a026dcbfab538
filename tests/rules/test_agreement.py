"""The numba kernels and the plain-Python reference agree to the fen (and both keep §8)."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_compiled import model as m
from rules_compiled.engine import Engine
from rules_compiled.policy import CompiledPolicy
from rules_compiled.reference import evaluate
from rules_compiled.rows import batch

from .gen import random_catalogue, random_claim

CLAIMS_PER_BATCH = 150


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_kernel_agrees_with_reference(policy: CompiledPolicy, seed: int) -> None:
    rnd = random.Random(seed)
    items = random_catalogue(rnd)
    engine = Engine(policy, items)
    disease_ids = list(range(len(engine.diseases)))
    claims = [random_claim(rnd, len(items), disease_ids) for _ in range(CLAIMS_PER_BATCH)]
    c, li, off = batch(claims)
    claim_out, line_out = engine.adjudicate(c, li, off)
    for k, (row, lines) in enumerate(claims):
        ref_out, ref_lines, trace = evaluate(policy, items, row, lines)
        got = claim_out[k].tolist()
        got_lines = line_out[off[k] : off[k + 1]].tolist()
        assert got_lines == ref_lines, (k, row, lines, trace)
        assert got == ref_out, (k, row, lines, _diff(got, ref_out), trace)
        # §8 invariants hold (both evaluators assert them; no claim may break one)
        assert ref_out[m.CO_ERROR] == 0, (row, lines, trace)


def _diff(a: list[int], b: list[int]) -> dict[str, tuple[int, int]]:
    names = {getattr(m, n): n for n in dir(m) if n.startswith("CO_") and n != "CO_N"}
    return {names[i]: (x, y) for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y}


def test_batch_equals_one_by_one(policy: CompiledPolicy) -> None:
    rnd = random.Random(7)
    items = random_catalogue(rnd)
    engine = Engine(policy, items)
    claims = [random_claim(rnd, len(items), [0, 1, 2]) for _ in range(60)]
    c, li, off = batch(claims)
    all_out, all_lines = engine.adjudicate(c, li, off)
    for k, claim in enumerate(claims):
        c1, l1, o1 = batch([claim])
        one_out, one_lines = engine.adjudicate(c1, l1, o1)
        assert np.array_equal(one_out[0], all_out[k])
        assert np.array_equal(one_lines, all_lines[off[k] : off[k + 1]])
