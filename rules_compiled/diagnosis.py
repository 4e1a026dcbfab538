"""Diagnosis and chronic-disease codes: the diagnosis flags of an ICD-10 code under a
policy, and the ids of the known chronic diseases (the policy's, then the catalogue's).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from .model import CatalogueItem

if TYPE_CHECKING:
    from .compiled_policy import CompiledPolicy


def normalise_code(code: str) -> str:
    return code.strip().upper()


def diagnosis_flags(policy: CompiledPolicy, code: str) -> int:
    """DiagnosisFlag mask of an ICD-10 code: every flag with a listed prefix of it."""
    c = normalise_code(code)
    mask = 0
    if not c:
        return 0
    for flag, prefixes in policy.diagnosis_prefixes.items():
        if any(c.startswith(p) for p in prefixes):
            mask |= flag
    return mask


def disease_table(policy: CompiledPolicy, items: Iterable[CatalogueItem]) -> tuple[str, ...]:
    """Known chronic-disease codes: the policy's, then the catalogue's (sorted); id = index."""
    known = list(policy.chronic_codes)
    extra = sorted(
        {normalise_code(i.chronic_disease) for i in items if i.chronic_disease} - set(known)
    )
    return tuple(known + extra)


def disease_id_in(codes: Sequence[str], code: str) -> int:
    """Id of the longest known disease code that is a prefix of ``code``; -1 unknown."""
    c = normalise_code(code)
    best, best_len = -1, 0
    if not c:
        return -1
    for i, k in enumerate(codes):
        if c.startswith(k) and len(k) > best_len:
            best, best_len = i, len(k)
    return best
