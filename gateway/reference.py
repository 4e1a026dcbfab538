"""Reference data in process memory: the compiled policy and catalogue, institutions.

A :class:`Reference` is immutable once built. Reload builds a new one and swaps
the pointer, so a request in flight keeps the version it started with and each
settlement records the version it used.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.domain import Institution
from gateway.store import ReferenceData
from rules_compiled.engine import Engine
from rules_compiled.policy import compile_policy


@dataclass(frozen=True, slots=True)
class Reference:
    engine: Engine
    institutions: dict[str, Institution]

    @property
    def policy_version(self) -> str:
        return self.engine.version

    @classmethod
    def build(cls, data: ReferenceData, *, warm: bool = True) -> Reference:
        policy = compile_policy(data.policy_text, f"ref:policy@{data.policy_version}")
        engine = Engine(policy, data.catalogue)
        if warm:
            engine.warm()
        return cls(engine=engine, institutions=dict(data.institutions))
