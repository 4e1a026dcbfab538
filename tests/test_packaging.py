"""The package builds without a warning from our configuration, and the wheel carries the
data the gateway reads at run time (Lua scripts, the reference policy, the proto)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_builds_quietly_with_its_data_files(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True, text=True, timeout=300, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PIP_CONFIG_FILE": "/dev/null"},
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr + done.stdout, done.stderr + done.stdout
    (wheel,) = (tmp_path / "dist").glob("claimgate-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"gateway/scripts/commit_settlement.lua", "rules_compiled/policies/reference.toml",
            "claims/v1/claims.proto", "claims/v1/claims_pb2.py"} <= names
    assert "License-Expression: Apache-2.0" in zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("/METADATA"))).decode()
