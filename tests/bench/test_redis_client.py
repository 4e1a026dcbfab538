"""bench.redis_client: the fast client's CPU per command, here and in another checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import redis_client

ROOT = Path(__file__).resolve().parents[2]


def _rows(out: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")]
            for line in out.splitlines() if line.startswith("| /")]


def test_the_baseline_is_measured_with_its_own_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A checkout whose gateway package is its own (its modules are this checkout's), given
    # as a relative path: the row must name it, not the checkout the bench runs from.
    stub = tmp_path / "old" / "gateway"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text(f"__path__.append({str(ROOT / 'gateway')!r})\n")
    monkeypatch.chdir(tmp_path)
    argv = ["--commands", "50", "--rounds", "2", "--turns", "2", "--baseline", "old"]
    assert redis_client.main(argv) == 0
    rows = _rows(capsys.readouterr().out)
    assert [Path(r[0]) for r in rows] == [ROOT, (tmp_path / "old").resolve()]
    for _, *figures in rows:
        assert all(float(f) > 0 for f in figures)


def test_a_baseline_that_is_not_a_checkout_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as e:
        redis_client.main(["--commands", "5", "--rounds", "1", "--baseline", str(tmp_path)])
    assert e.value.code == 2
