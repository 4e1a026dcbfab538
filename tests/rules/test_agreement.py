"""The numba kernels and the plain-Python reference agree to the fen (and both keep §8),
on random claims that reach every combination of the features of :data:`gen.FEATURES`."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_compiled import model as m
from rules_compiled.compiled_policy import CompiledPolicy
from rules_compiled.engine import Engine
from rules_compiled.model import CatalogueItem
from rules_compiled.reference import evaluate
from rules_compiled.rows import batch

from .gen import FEATURES, features, random_catalogue, random_claim

CLAIMS_PER_BATCH = 150
COVERAGE_BATCHES = 40  # fixed seeds: 6,000 claims
# Every feature, and every pair of features, must be reached at least this often over the
# fixed-seed run (the generators reach each several times more; a regression falls below).
FEATURE_MIN = 300
PAIR_MIN = 25
# Counts of the fixed-seed run, printed in the terminal summary (see conftest.py).
COVERAGE: Counter[str] = Counter()


def _check_batch(
    policy: CompiledPolicy,
    items: list[CatalogueItem],
    claims: list[tuple[list[int], list[list[int]]]],
    reached: Counter[str] | None = None,
) -> None:
    engine = Engine(policy, items)
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
        if reached is not None:
            f = sorted(features(policy, items, row, lines, ref_out, ref_lines))
            reached["claims"] += 1
            reached.update(f)
            reached.update(f"{a} x {b}" for a, b in itertools.combinations(f, 2))
            reached[f"{len(f)} features"] += 1


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_kernel_agrees_with_reference(policy: CompiledPolicy, seed: int) -> None:
    rnd = random.Random(seed)
    items = random_catalogue(rnd)
    disease_ids = list(range(len(Engine(policy, items).diseases)))
    claims = [random_claim(rnd, len(items), disease_ids) for _ in range(CLAIMS_PER_BATCH)]
    _check_batch(policy, items, claims)


def test_generators_reach_every_combination(policy: CompiledPolicy) -> None:
    """Agreement on fixed seeds, counting what the claims exercised: each feature and each
    pair of features must be reached, so a generator that narrows fails here."""
    reached: Counter[str] = Counter()
    for seed in range(COVERAGE_BATCHES):
        rnd = random.Random(seed)
        items = random_catalogue(rnd)
        disease_ids = list(range(len(Engine(policy, items).diseases)))
        claims = [random_claim(rnd, len(items), disease_ids) for _ in range(CLAIMS_PER_BATCH)]
        _check_batch(policy, items, claims, reached)
    COVERAGE.clear()
    COVERAGE.update(reached)
    low = {f: reached[f] for f in FEATURES if reached[f] < FEATURE_MIN}
    assert not low, f"features reached too rarely: {low}"
    pairs = {
        f"{a} x {b}": reached[f"{a} x {b}"] for a, b in itertools.combinations(sorted(FEATURES), 2)
    }
    low_pairs = {k: v for k, v in pairs.items() if v < PAIR_MIN}
    assert not low_pairs, f"feature pairs reached too rarely: {low_pairs}"
    assert reached[f"{len(FEATURES)} features"] + reached[f"{len(FEATURES) - 1} features"] > 0


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
