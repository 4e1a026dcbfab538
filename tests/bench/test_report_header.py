"""The report header names the bench command as ``python -m bench`` takes it, however
the bench was started (``claimgate bench ...`` or ``python -m bench ...``)."""

from __future__ import annotations

import sys

import pytest

from bench.cli import _meta, parse_args


@pytest.mark.parametrize("process_argv", [
    ["/venv/bin/claimgate", "bench", "run", "--mix", "pharmacy", "--rate", "100"],
    ["/venv/lib/bench/__main__.py", "run", "--mix", "pharmacy", "--rate", "100"],
])
def test_report_command_is_the_bench_command(
    monkeypatch: pytest.MonkeyPatch, process_argv: list[str]
) -> None:
    monkeypatch.setattr(sys, "argv", process_argv)
    args = parse_args(["run", "--mix", "pharmacy", "--rate", "100"])
    assert _meta(args)["command"] == "python -m bench run --mix pharmacy --rate 100"
