"""One kernel call for the claims of one event-loop iteration.

Claims whose member reads come back together (one pipelined round trip) reach
adjudication in the same event-loop iteration. Each hands its input rows to the
batch and waits; in the next iteration one kernel call adjudicates all of them
(one numba dispatch, one allocation of the outputs), the §8 invariants of
docs/benefit-rules.md are checked column-wise for the whole batch, and the
outputs are turned into Python ints with one ``tolist`` per batch. Each claim
then goes on alone: a claim whose result breaks an invariant fails by itself,
the others of its batch commit as usual.

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
    lo: list[list[int]]  # the LO_* rows, one per line
    claim_in: np.ndarray  # the CI_* row
    lines_in: np.ndarray  # the LI_* rows


@dataclass(slots=True)
class _Claim:
    engine: Engine
    claim_in: np.ndarray
    lines_in: np.ndarray
    done: asyncio.Future[Verdict]


def broken_invariants(claim_out: np.ndarray, line_out: np.ndarray, lines_in: np.ndarray,
                      offsets: np.ndarray) -> list[str]:
    """For each claim of a batch, "" or why its result breaks a §8 invariant
    (docs/benefit-rules.md §9), checked column-wise for the whole batch."""
    c = claim_out
    kept = np.where(line_out[:, M.LO_STATUS] != _REJECTED, lines_in[:, M.LI_AMOUNT], 0)
    running = np.concatenate(([0], np.cumsum(kept)))
    kept_fen = running[offsets[1:]] - running[offsets[:-1]]
    checks = (
        c[:, M.CO_MEDFEE] == kept_fen,
        c[:, M.CO_MEDFEE] == c[:, M.CO_FULAMT_OWNPAY] + c[:, M.CO_OVERLMT_SELFPAY]
        + c[:, M.CO_PRESELFPAY] + c[:, M.CO_INSCP],
        c[:, M.CO_MEDFEE] == c[:, M.CO_FUND_PAY_SUM] + c[:, M.CO_PSN_PART],
        c[:, M.CO_PSN_PART] == c[:, M.CO_ACCT_PAY] + c[:, M.CO_CASH],
        c[:, M.CO_ACCT_PAY] == c[:, M.CO_ACCT_CURRENT_PAY] + c[:, M.CO_ACCT_PRIOR_PAY],
        c[:, M.CO_FUND_PAY_SUM] == c[:, M.CO_HIFP] + c[:, M.CO_SUPPLEMENTARY]
        + c[:, M.CO_HIFMI] + c[:, M.CO_MAF],
        (c[:, M.CO_ACCT_CURRENT_PAY] >= 0) & (c[:, M.CO_ACCT_PRIOR_PAY] >= 0)
        & (c[:, M.CO_CASH] >= 0),
    )
    ok = np.logical_and.reduce(checks) & (c[:, M.CO_ERROR] == 0)
    if ok.all():
        return [""] * len(c)
    out = []
    for i, good in enumerate(ok.tolist()):
        if good:
            out.append("")
        elif c[i, M.CO_ERROR]:
            out.append(f"kernel reported invariant {int(c[i, M.CO_ERROR])}")
        else:
            failed = next(k for k, check in enumerate(checks) if not check[i])
            out.append(f"§8 invariant check {failed} failed: {c[i].tolist()}")
    return out


class Adjudicator:
    """Gathers the claims of one event-loop iteration into one kernel call."""

    def __init__(self) -> None:
        self._pending: list[_Claim] = []

    def adjudicate(self, engine: Engine, claim_in: np.ndarray, lines_in: np.ndarray
                   ) -> asyncio.Future[Verdict]:
        """The claim's verdict, from the next kernel call (or at once for a large claim).
        Raises :class:`InvariantBroken` through the future when the result breaks a §8
        invariant."""
        loop = asyncio.get_running_loop()
        claim = _Claim(engine, claim_in, lines_in, loop.create_future())
        if len(lines_in) > BATCH_LINES_MAX:
            _run(engine, [claim])
            return claim.done
        if not self._pending:
            loop.call_soon(self._run_pending)
        self._pending.append(claim)
        return claim.done

    def _run_pending(self) -> None:
        batch, self._pending = self._pending, []
        first = batch[0].engine
        if all(c.engine is first for c in batch):
            _run(first, batch)
            return
        engines: dict[int, list[_Claim]] = {}
        for c in batch:
            engines.setdefault(id(c.engine), []).append(c)
        for claims in engines.values():
            _run(claims[0].engine, claims)


def _run(engine: Engine, batch: list[_Claim]) -> None:
    """One kernel call for ``batch``; every claim's future gets its verdict or error."""
    try:
        if len(batch) == 1:
            claims_in = batch[0].claim_in.reshape(1, M.CI_N)
            lines_in = batch[0].lines_in
        else:
            claims_in = np.stack([c.claim_in for c in batch])
            lines_in = np.concatenate([c.lines_in for c in batch])
        offsets = np.zeros(len(batch) + 1, dtype=np.int64)
        np.cumsum([len(c.lines_in) for c in batch], out=offsets[1:])
        t0 = time.perf_counter()
        claim_out, line_out = engine.adjudicate(claims_in, lines_in, offsets)
        metrics.kernel_time(time.perf_counter() - t0)
        problems = broken_invariants(claim_out, line_out, lines_in, offsets)
        co_rows = claim_out.tolist()
        lo_rows = line_out.tolist()
    except Exception as e:  # the whole batch fails the same way
        for c in batch:
            if not c.done.done():
                c.done.set_exception(e)
        return
    bounds = offsets.tolist()
    for i, c in enumerate(batch):
        if c.done.done():  # its caller gave up
            continue
        if problems[i]:
            c.done.set_exception(InvariantBroken(problems[i]))
        else:
            c.done.set_result(Verdict(co_rows[i], lo_rows[bounds[i]:bounds[i + 1]],
                                      c.claim_in, c.lines_in))
