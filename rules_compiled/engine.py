"""The engine the gateway holds: one compiled policy + one catalogue, adjudicating batches.

An :class:`Engine` is immutable reference data: to load a new policy or
catalogue version, build a new Engine and swap the reference (no restart).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from . import model as m
from .compiled_policy import COUNTER_POOLED, DED_PER_YEAR, CompiledPolicy
from .diagnosis import diagnosis_flags, disease_id_in, disease_table
from .kernels import adjudicate_batch
from .policy_table import pack_catalogue

Int64Array = npt.NDArray[np.int64]


class Engine:
    """Adjudicates batches of claims under one policy version and one catalogue."""

    def __init__(self, policy: CompiledPolicy, catalogue: Sequence[m.CatalogueItem]) -> None:
        self.policy = policy
        self.version: str = policy.version
        self.items: list[m.CatalogueItem] = list(catalogue)
        self.item_index: dict[str, int] = {}
        for i, it in enumerate(self.items):
            if it.code in self.item_index:
                raise ValueError(f"catalogue: duplicate item code {it.code!r}")
            self.item_index[it.code] = i
        # By catalogue row: True for a drug (the items the refill check records).
        self.item_is_drug = np.array([it.kind == m.ItemKind.DRUG for it in self.items] or [False],
                                     dtype=np.bool_)
        self.diseases: tuple[str, ...] = disease_table(policy, self.items)
        self._table = policy.table
        self._items_table = pack_catalogue(policy, self.items)
        self._items_table.setflags(write=False)

    # --- hot path -------------------------------------------------------------
    def adjudicate(
        self, claims: Int64Array, lines: Int64Array, line_offsets: Int64Array
    ) -> tuple[Int64Array, Int64Array]:
        """Adjudicate a batch: claims (n, CI_N), lines (m, LI_N), line_offsets (n + 1).

        Returns new arrays (n, CO_N) and (m, LO_N). A claim whose input is bad,
        or whose result breaks a §8 invariant, has a non-zero ``CO_ERROR``.
        """
        # The kernel is compiled for C-contiguous int64; these are no-ops for such input.
        claims = np.ascontiguousarray(claims, dtype=np.int64)
        lines = np.ascontiguousarray(lines, dtype=np.int64)
        line_offsets = np.ascontiguousarray(line_offsets, dtype=np.int64)
        n = claims.shape[0]
        if claims.ndim != 2 or claims.shape[1] != m.CI_N:
            raise ValueError(f"claims must have shape (n, {m.CI_N})")
        if lines.ndim != 2 or lines.shape[1] != m.LI_N:
            raise ValueError(f"lines must have shape (m, {m.LI_N})")
        if line_offsets.shape != (n + 1,):
            raise ValueError("line_offsets must have n + 1 entries")
        claim_out = np.zeros((n, m.CO_N), dtype=np.int64)
        line_out = np.zeros((lines.shape[0], m.LO_N), dtype=np.int64)
        adjudicate_batch(
            claims, lines, line_offsets, self._table, self._items_table, claim_out, line_out
        )
        return claim_out, line_out

    # --- reference-data look-ups ----------------------------------------------
    def diagnosis_flags(self, code: str) -> int:
        """DiagnosisFlag mask of an ICD-10 code (prefix match on the policy's lists)."""
        return diagnosis_flags(self.policy, code)

    def disease_id(self, code: str) -> int:
        """Id of a chronic disease (for CI_CHRONIC_*): longest known code prefix; -1 unknown."""
        return disease_id_in(self.diseases, code)

    def cohort_name(
        self, scheme: int, person_type: int, birth_day: int, work_start_day: int, retire_day: int
    ) -> str:
        """Cohort of an EMP member ("A1".."A4", "R0".."R3"); "" for RES or no match."""
        s = m.Scheme(scheme)
        if not self.policy.named_cohorts.get(s, False):
            return ""
        g = self.policy.group_of(scheme, person_type, birth_day, work_start_day, retire_day)
        return self.policy.groups[s][g] if g >= 0 else ""

    def cohort_of(self, claim_row: Sequence[int] | Int64Array) -> str:
        """:meth:`cohort_name` of the member in a claim row (CI_* columns)."""
        return self.cohort_name(
            int(claim_row[m.CI_SCHEME]),
            int(claim_row[m.CI_PERSON_TYPE]),
            int(claim_row[m.CI_BIRTH_DAY]),
            int(claim_row[m.CI_WORK_START_DAY]),
            int(claim_row[m.CI_RETIRE_DAY]),
        )

    def remaining(self, claim_row: Sequence[int] | Int64Array) -> dict[str, int]:
        """What the member has left this year, for the eligibility query (1101).

        ``claim_row`` is a CI_* row holding the member and its accumulators; the
        setting columns may be anything. -1 means "no such limit".
        """
        c = [int(x) for x in claim_row]
        p = self.policy
        scheme = c[m.CI_SCHEME]
        group = p.group_of(
            scheme,
            c[m.CI_PERSON_TYPE],
            c[m.CI_BIRTH_DAY],
            c[m.CI_WORK_START_DAY],
            c[m.CI_RETIRE_DAY],
        )
        level = min(max(c[m.CI_INST_LEVEL], 1), 3)
        out = {
            "deductible_remaining_fen": -1,
            "pooled_cap_remaining_fen": -1,
            "outpatient_band_remaining_fen": -1,
            "outpatient_fund_cap_remaining_fen": -1,
            "banded_cost_ceiling_remaining_fen": -1,
            "assistance_cap_remaining_fen": -1,
        }
        if c[m.CI_ASSISTANCE] != 0:
            out["assistance_cap_remaining_fen"] = max(
                0, p.assistance_cap_fen - c[m.CI_ASSISTANCE_PAID]
            )
        if group < 0:
            return out
        inp = p.rule(scheme, m.Setting.INPATIENT, group, level)
        if inp is not None:
            ded = inp.deductible_remote_fen if c[m.CI_REMOTE] else inp.deductible_fen
            if inp.deductible_per == DED_PER_YEAR:
                out["deductible_remaining_fen"] = max(0, ded - c[m.CI_DEDUCTIBLE_PAID])
            elif inp.deductible_per != 0:
                out["deductible_remaining_fen"] = ded
            if inp.fund_cap_fen >= 0 and inp.fund_cap_counter == COUNTER_POOLED:
                out["pooled_cap_remaining_fen"] = max(0, inp.fund_cap_fen - c[m.CI_POOLED_PAID])
            if inp.bands_cumulative and inp.bands[-1].to_fen < (1 << 62):
                out["banded_cost_ceiling_remaining_fen"] = max(
                    0, inp.bands[-1].to_fen - c[m.CI_BANDED_COST]
                )
        outp = p.rule(scheme, m.Setting.OUTPATIENT, group, level)
        if outp is not None:
            if outp.self_pay_band_fen:
                out["outpatient_band_remaining_fen"] = max(
                    0, outp.self_pay_band_fen - c[m.CI_OUTPATIENT_BAND_USED]
                )
            if outp.fund_cap_fen >= 0 and outp.fund_cap_counter != COUNTER_POOLED:
                out["outpatient_fund_cap_remaining_fen"] = max(
                    0, outp.fund_cap_fen - c[m.CI_OUTPATIENT_FUND_PAID]
                )
        return out

    # --- start-up -------------------------------------------------------------
    def warm(self) -> dict[str, Any]:
        """Compile, or load from the on-disk cache, the kernels: a tiny batch of every setting."""
        from .rows import batch, claim_row, line_row

        claims = []
        for scheme, ptype in (
            (m.Scheme.EMP, m.PersonType.ACTIVE),
            (m.Scheme.RES, m.PersonType.ADULT),
        ):
            for setting in m.Setting:
                level = 0 if setting == m.Setting.PHARMACY else 2
                row = claim_row(
                    setting=int(setting),
                    scheme=int(scheme),
                    person_type=int(ptype),
                    inst_level=level,
                    acct_current=10_000,
                    acct_prior=10_000,
                    use_account=1,
                )
                lines = [line_row(i, 1_000) for i in range(min(len(self.items), 3))] or [
                    line_row(-1, 1_000)
                ]
                claims.append((row, lines))
        c, li, off = batch(claims)
        claim_out, _ = self.adjudicate(c, li, off)
        return {"claims": len(claims), "errors": int(np.count_nonzero(claim_out[:, m.CO_ERROR]))}
