"""Operator changes of data (seed, member/institution/catalogue loads, policy publishes)
are journaled with who and when, and `claimgate journal export` shows them (real
redis-server, the real command-line entry points)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import redis

from gateway.cli import main as claimgate
from gateway.demo_catalogue import demo_catalogue
from gateway.demo_institutions import demo_institutions
from gateway.demo_population import demo_population
from gateway.journal import CST, journal_main
from gateway.load_members import write_members_csv
from gateway.load_reference import write_catalogue_csv, write_institutions_csv
from gateway.store import POLICY_VERSIONS_KEY
from rules_compiled import REFERENCE_POLICY_PATH


def _export(url: str, out: Path) -> list[dict[str, object]]:
    today = dt.datetime.now(CST).date()
    span = [(today - dt.timedelta(days=1)).isoformat(), (today + dt.timedelta(days=1)).isoformat()]
    assert journal_main(["export", "--from", span[0], "--to", span[1], "--format", "jsonl",
                         "--out", str(out), "--redis-url", url]) == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_loads_seeds_and_publishes_are_journaled(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAIMGATE_OPERATOR", "")  # restored after the test
    assert claimgate(["--operator", "ops-alice", "seed", "--members", "20",
                      "--redis-url", redis_url]) == 0
    monkeypatch.setenv("CLAIMGATE_OPERATOR", "ops-bob")
    members = tmp_path / "members.csv"
    write_members_csv(members, demo_population(7, seed=5))
    institutions = tmp_path / "institutions.csv"
    write_institutions_csv(institutions, demo_institutions())
    catalogue = tmp_path / "catalogue.csv"
    write_catalogue_csv(catalogue, demo_catalogue())
    for kind, path in (("members", members), ("institutions", institutions),
                       ("catalogue", catalogue)):
        assert claimgate(["load", kind, str(path), "--redis-url", redis_url]) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("not,a,members,file\n")
    assert claimgate(["load", "members", str(bad), "--redis-url", redis_url]) == 1
    policy = tmp_path / "next.toml"
    policy.write_text(REFERENCE_POLICY_PATH.read_text().replace(
        'version = "reference-2024.1"', 'version = "reference-2024.2"', 1))
    assert claimgate(["policy", "publish", str(policy), "--redis-url", redis_url]) == 0

    rows = _export(redis_url, tmp_path / "journal.jsonl")
    by_type = {str(r["type"]): r for r in rows}
    assert [r["type"] for r in rows] == ["SEED", "LOAD_MEMBERS", "LOAD_INSTITUTIONS",
                                         "LOAD_CATALOGUE", "POLICY_PUBLISH"]  # not the bad file
    assert by_type["SEED"]["operator_id"] == "ops-alice"
    assert by_type["SEED"]["rows_loaded"] == 20
    assert by_type["SEED"]["policy_version"] == "reference-2024.1"
    assert by_type["LOAD_MEMBERS"]["operator_id"] == "ops-bob"
    assert by_type["LOAD_MEMBERS"]["rows_loaded"] == 7
    assert by_type["LOAD_MEMBERS"]["source"] == str(members)
    assert by_type["LOAD_INSTITUTIONS"]["rows_loaded"] == len(demo_institutions())
    assert by_type["LOAD_CATALOGUE"]["rows_loaded"] == len(demo_catalogue())
    assert by_type["POLICY_PUBLISH"]["policy_version"] == "reference-2024.2"
    for r in rows:
        assert r["partition"] is None and r["recorded_at"]
        when = dt.datetime.fromisoformat(str(r["time"]))
        assert abs(when - dt.datetime.now(dt.UTC)) < dt.timedelta(hours=1)
    # Both policy versions are kept, so settlements under either can be explained.
    client = redis.Redis.from_url(redis_url)
    try:
        assert set(client.hkeys(POLICY_VERSIONS_KEY)) == {b"reference-2024.1",
                                                          b"reference-2024.2"}
    finally:
        client.close()


def test_without_operator_the_os_user_is_recorded(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import getpass

    monkeypatch.delenv("CLAIMGATE_OPERATOR", raising=False)
    assert claimgate(["seed", "--members", "3", "--redis-url", redis_url]) == 0
    rows = _export(redis_url, tmp_path / "journal.jsonl")
    assert [(r["type"], r["operator_id"]) for r in rows] == [("SEED", getpass.getuser())]
