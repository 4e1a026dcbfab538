from __future__ import annotations

import pytest

from rules_compiled import REFERENCE_POLICY_PATH
from rules_compiled.policy import CompiledPolicy, load_policy_file


@pytest.fixture(scope="session")
def policy() -> CompiledPolicy:
    return load_policy_file(REFERENCE_POLICY_PATH)
