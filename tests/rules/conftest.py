from __future__ import annotations

import pytest

from rules_compiled import REFERENCE_POLICY_PATH
from rules_compiled.compiled_policy import CompiledPolicy
from rules_compiled.policy import load_policy_file


@pytest.fixture(scope="session")
def policy() -> CompiledPolicy:
    return load_policy_file(REFERENCE_POLICY_PATH)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How often the random claims reached each feature and pair of features."""
    from .test_agreement import COVERAGE

    if not COVERAGE:
        return
    tr = terminalreporter
    tr.section("random claims: features reached (kernel and reference agree on all)")
    claims = COVERAGE["claims"]
    for key, n in sorted(COVERAGE.items(), key=lambda kv: (kv[0].count(" x "), kv[0])):
        if key != "claims":
            tr.write_line(f"  {key:<36} {n:6d}  {100 * n / claims:5.1f}%")
    tr.write_line(f"  {'claims':<36} {claims:6d}")
