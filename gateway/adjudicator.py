"""One kernel call for the claims of one event-loop iteration.

Claims whose member reads come back together (one pipelined round trip) reach
adjudication in the same event-loop iteration. Each hands its input rows to the
batch and waits; in the next iteration one kernel call adjudicates all of them
(one numba dispatch, one allocation of the outputs), the outputs become Python
ints with one ``tolist`` per batch (a large claim's line rows stay an array), and
each claim's result is checked against the invariants of docs/benefit-rules.md §9.
Each claim then goes on alone: a claim whose result breaks an invariant fails by
itself, the others of its batch commit as usual. Batching pays only when claims come together (see
:class:`Adjudicator`); a claim that comes alone is adjudicated at once, the same
way.

A claim with more than ``BATCH_LINES_MAX`` lines (an inpatient episode) is
adjudicated on its own at once, so that a large claim never holds small ones
back. Claims adjudicated under different policy versions (a reference reload
during the iteration) go to their own engine's kernel call.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np

from gateway import metrics
from gateway.line_columns import COLUMNS_FROM_LINES
from rules_compiled import model as M
from rules_compiled.engine import Engine

BATCH_LINES_MAX = 256  # a claim with more lines is adjudicated alone, at once

_REJECTED = int(M.LineStatus.REJECTED)


class InvariantBroken(AssertionError):
    """An adjudication result breaks an invariant of docs/benefit-rules.md §9: never
    committed."""


@dataclass(slots=True)
class Verdict:
    """One claim's kernel output as Python ints, and its kernel input rows (kept with
    the settlement for ``claimgate policy explain --settlement``)."""

    co: list[int]  # the CO_* row
    # The LO_* rows, one per line; empty for a claim of more than COLUMNS_FROM_LINES
    # lines, whose rows are read from ``lines_out`` (gateway/line_columns.py).
    lo: list[list[int]]
    claim_in: np.ndarray  # the CI_* row
    lines_in: np.ndarray  # the LI_* rows
    lines_out: np.ndarray  # the LO_* rows as the kernel gave them (``lo`` as an array)


@dataclass(slots=True)
class _Claim:
    engine: Engine
    claim_in: np.ndarray
    lines_in: np.ndarray
    done: asyncio.Future[Verdict]


def broken_invariant(co: list[int], lo: list[list[int]], amounts: list[int]) -> str:
    """"" when one claim's result keeps every invariant of docs/benefit-rules.md §9,
    else which one it breaks. ``co`` is its CO_* row, ``lo`` its LO_* rows and
    ``amounts`` its lines' amounts (fen). On Python ints: for a few claims of a few
    lines, numpy's per-call cost is many times the arithmetic."""
    kept_fen = sum(a for a, r in zip(amounts, lo, strict=True) if r[M.LO_STATUS] != _REJECTED)
    return broken_invariant_of(co, kept_fen)


def kept_fen_of(lines_in: np.ndarray, lines_out: np.ndarray) -> int:
    """The amounts of the lines not rejected, from a claim's LI_* and LO_* arrays
    (a large claim's: ``broken_invariant`` reads Python lists). Exact: summed in int64
    only where no sum of these amounts can overflow it, else as Python ints."""
    amounts = lines_in[lines_out[:, M.LO_STATUS] != _REJECTED, M.LI_AMOUNT]
    n = len(amounts)
    if n == 0:
        return 0
    bound = (2**63 - 1) // n
    if int(amounts.max()) > bound or int(amounts.min()) < -bound:
        return sum(amounts.tolist())
    return int(amounts.sum())


def broken_invariant_of(co: list[int], kept_fen: int) -> str:
    """:func:`broken_invariant` of a claim whose kept lines' amounts add up to
    ``kept_fen``."""
    if co[M.CO_ERROR]:
        return f"kernel reported invariant {co[M.CO_ERROR]}"
    medfee = co[M.CO_MEDFEE]
    checks = (
        medfee == kept_fen,
        medfee == co[M.CO_FULAMT_OWNPAY] + co[M.CO_OVERLMT_SELFPAY] + co[M.CO_PRESELFPAY]
        + co[M.CO_INSCP],
        medfee == co[M.CO_FUND_PAY_SUM] + co[M.CO_PSN_PART],
        co[M.CO_PSN_PART] == co[M.CO_ACCT_PAY] + co[M.CO_CASH],
        co[M.CO_ACCT_PAY] == co[M.CO_ACCT_CURRENT_PAY] + co[M.CO_ACCT_PRIOR_PAY],
        co[M.CO_FUND_PAY_SUM] == co[M.CO_HIFP] + co[M.CO_SUPPLEMENTARY] + co[M.CO_HIFMI]
        + co[M.CO_MAF],
        min(co[M.CO_ACCT_CURRENT_PAY], co[M.CO_ACCT_PRIOR_PAY], co[M.CO_CASH]) >= 0,
    )
    if all(checks):
        return ""
    return f"invariant check {checks.index(False)} failed: {co}"


class Adjudicator:
    """Gathers the claims of one event-loop iteration into one kernel call, when that
    pays.

    Deferring a claim to the next iteration costs it a future and a wake-up, about
    4 µs, while a kernel call shared by N pharmacy claims saves little per claim: 9.7 µs
    alone, 6.9 in a call of 4, 5.2 of 8, 4.2 of 16 (``python -m bench.kernels``). So
    batching pays from about 8 claims an iteration. The adjudicator keeps a moving share
    of the claims that reached it in the same iteration as another one: above
    ``BATCH_ABOVE`` it batches, below ``SINGLE_BELOW`` it adjudicates each claim at once.
    ``batching`` True or False fixes the mode."""

    BATCH_ABOVE = 0.9  # about 10 claims an iteration
    SINGLE_BELOW = 0.8  # about 5
    WEIGHT = 1 / 64  # of each claim in the moving share

    def __init__(self, *, batching: bool | None = None) -> None:
        self._pending: list[_Claim] = []
        self._fixed = batching
        self.batching = bool(batching)
        self.together = 0.0  # the moving share of claims that met another in their iteration
        self._seen = False  # a claim reached adjudication in this iteration

    def adjudicate(self, engine: Engine, claim_in: np.ndarray, lines_in: np.ndarray
                   ) -> Verdict | asyncio.Future[Verdict]:
        """The claim's verdict now, or a future of it from the next kernel call.
        Raises :class:`InvariantBroken` (now or through the future) when the result
        breaks an invariant (docs/benefit-rules.md §9)."""
        if len(lines_in) > BATCH_LINES_MAX:
            return _one(engine, claim_in, lines_in)
        loop = asyncio.get_running_loop()
        if self._pending:  # a batch is forming: the iteration's claims join it
            self._note(1.0)
            return self._join(loop, engine, claim_in, lines_in)
        self._note(1.0 if self._seen else 0.0)
        if not self._seen:
            self._seen = True
            loop.call_soon(self._next_iteration)
        if self.batching:
            loop.call_soon(self._run_pending)
            return self._join(loop, engine, claim_in, lines_in)
        return _one(engine, claim_in, lines_in)

    def _join(self, loop: asyncio.AbstractEventLoop, engine: Engine, claim_in: np.ndarray,
              lines_in: np.ndarray) -> asyncio.Future[Verdict]:
        claim = _Claim(engine, claim_in, lines_in, loop.create_future())
        self._pending.append(claim)
        return claim.done

    def _note(self, together: float) -> None:
        self.together += (together - self.together) * self.WEIGHT
        if self._fixed is None:
            if self.together > self.BATCH_ABOVE:
                self.batching = True
            elif self.together < self.SINGLE_BELOW:
                self.batching = False

    def _next_iteration(self) -> None:
        self._seen = False

    def _run_pending(self) -> None:
        batch, self._pending = self._pending, []
        try:
            engines: dict[int, list[_Claim]] = {}
            for c in batch:
                engines.setdefault(id(c.engine), []).append(c)
            for claims in engines.values():
                _settle_futures(claims, _run(claims[0].engine,
                                             [(c.claim_in, c.lines_in) for c in claims]))
        except BaseException as e:  # no claim of the batch may be left waiting
            for c in batch:
                if not c.done.done():
                    c.done.set_exception(e)
            if not isinstance(e, Exception):
                raise


def _settle_futures(batch: list[_Claim], results: list[Verdict | Exception]) -> None:
    for c, result in zip(batch, results, strict=True):
        if c.done.done():  # its caller gave up
            continue
        if isinstance(result, Verdict):
            c.done.set_result(result)
        else:
            c.done.set_exception(result)


def _one(engine: Engine, claim_in: np.ndarray, lines_in: np.ndarray) -> Verdict:
    result = _run(engine, [(claim_in, lines_in)])[0]
    if isinstance(result, Verdict):
        return result
    raise result


def _run(engine: Engine, claims: list[tuple[np.ndarray, np.ndarray]]
         ) -> list[Verdict | Exception]:
    """One kernel call for a batch of (CI_* row, LI_* rows): each claim's verdict, or
    the error that fails it. When the call fails for a batch, each claim is tried
    alone, so that one claim's error is its own."""
    bounds = [0]
    for _c, li in claims:
        bounds.append(bounds[-1] + len(li))
    try:
        if len(claims) == 1:
            claims_in = claims[0][0].reshape(1, M.CI_N)
            lines_in = claims[0][1]
        else:
            claims_in = np.stack([c for c, _li in claims])
            lines_in = np.concatenate([li for _c, li in claims])
        t0 = time.perf_counter()
        claim_out, line_out = engine.adjudicate(claims_in, lines_in,
                                                np.array(bounds, dtype=np.int64))
        metrics.kernel_time(time.perf_counter() - t0)
        co_rows = claim_out.tolist()
        # A large claim's LO_* rows stay an array (gateway/line_columns.py reads them).
        small = any(len(li) <= COLUMNS_FROM_LINES for _c, li in claims)
        lo_rows = line_out.tolist() if small else []
        amounts = lines_in[:, M.LI_AMOUNT].tolist() if small else []
    except Exception as e:
        if len(claims) > 1:
            return [r for claim in claims for r in _run(engine, [claim])]
        return [e]
    out: list[Verdict | Exception] = []
    for i, (claim_in, li) in enumerate(claims):
        a, b = bounds[i], bounds[i + 1]
        try:
            if b - a > COLUMNS_FROM_LINES:
                lo: list[list[int]] = []
                problem = broken_invariant_of(co_rows[i], kept_fen_of(li, line_out[a:b]))
            else:
                lo = lo_rows[a:b]
                problem = broken_invariant(co_rows[i], lo, amounts[a:b])
        except Exception as e:  # a result the checks cannot read is not committed either
            out.append(e)
            continue
        out.append(InvariantBroken(problem) if problem
                   else Verdict(co_rows[i], lo, claim_in, li, line_out[a:b]))
    return out
