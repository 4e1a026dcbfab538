"""Rules engine: policy file format and compiler, numba kernels, reference evaluator.

Public surface (used by the gateway):

- :func:`rules_compiled.policy.load_policy_file`, :func:`rules_compiled.policy.compile_policy`
- :class:`rules_compiled.engine.Engine`
- :func:`rules_compiled.reference.evaluate`
- :data:`REFERENCE_POLICY_PATH`: the shipped reference policy (docs/benefit-rules.md §4-§6)
"""

from __future__ import annotations

from pathlib import Path

REFERENCE_POLICY_PATH = Path(__file__).resolve().parent / "policies" / "reference.toml"

__all__ = ["REFERENCE_POLICY_PATH"]
