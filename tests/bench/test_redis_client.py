"""bench.redis_client: the fast client's CPU per command, here and in another checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import redis_client

ROOT = Path(__file__).resolve().parents[2]


def test_both_checkouts_are_measured_and_named(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--commands", "50", "--rounds", "2", "--turns", "2", "--baseline", str(ROOT)]
    assert redis_client.main(argv) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| /")]
    assert len(rows) == 2
    for row in rows:
        checkout, *figures = (cell.strip() for cell in row.strip("|").split("|"))
        assert Path(checkout) == ROOT
        assert all(float(f) > 0 for f in figures)


def test_a_baseline_that_is_not_a_checkout_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as e:
        redis_client.main(["--commands", "5", "--rounds", "1", "--baseline", str(tmp_path)])
    assert e.value.code == 2
