"""``claimgate load accumulators|fills|charges``: a member's year-to-date state, for going
live during a benefit year. Against the session's real redis-server."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from gateway.demo import DEMO_YEAR
from gateway.demo_catalogue import demo_catalogue
from gateway.demo_institutions import demo_institutions
from gateway.demo_population import demo_population
from gateway.keys import MemberKeys, dup_key, member_key
from gateway.load_members import load_members_csv, write_members_csv
from gateway.load_reference import write_catalogue_csv, write_institutions_csv
from gateway.load_state import (
    ACCUMULATOR_FILE_COLUMNS,
    CHARGE_COLUMNS,
    FILL_COLUMNS,
    LOADED_CHARGE,
    export_member_state,
    load_accumulators_csv,
    load_charges_csv,
    load_fills_csv,
    write_state_csv,
)
from gateway.loader import load_main
from gateway.redis_cluster import RedisCluster
from gateway.store import ACCUMULATORS, SettlementCommit, Store
from rules_compiled.model import ItemKind, day_number

MEMBERS_N = 12
DRUGS = sorted(i.code for i in demo_catalogue() if i.kind is ItemKind.DRUG)
NOT_A_DRUG = next(i.code for i in demo_catalogue() if i.kind is not ItemKind.DRUG)
INSTITUTIONS = sorted(i.code for i in demo_institutions())


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Store]:
    s = Store.from_url(redis_url)
    await s.save_reference(
        policy_version="test-policy-1",
        policy_text="# policy\n",
        catalogue=demo_catalogue(),
        institutions=demo_institutions(),
    )
    yield s
    await s.close()


@pytest.fixture
def sync_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
async def members(tmp_path: Path, store: Store) -> list[str]:
    path = tmp_path / "members.csv"
    write_members_csv(path, demo_population(MEMBERS_N))
    assert (await load_members_csv(store, path)).ok
    return [m.psn_no for m in demo_population(MEMBERS_N)]


def _snapshot(client: redis.Redis) -> dict[bytes, object]:
    return {
        key: client.hgetall(key) if client.type(key) == b"hash" else client.get(key)
        for key in sorted(client.scan_iter(count=1000))
    }


def _version(client: redis.Redis, psn_no: str) -> int:
    return int(client.hget(member_key(psn_no), "ver") or 0)


async def test_state_round_trip_sets_state_and_bumps_versions(
    tmp_path: Path, store: Store, sync_client: redis.Redis, members: list[str]
) -> None:
    a, b = members[0], members[1]
    accumulators = [
        (a, DEMO_YEAR, 150_000, 0, 1_234_567, 2_000_000, 0, 0),
        (a, DEMO_YEAR - 1, 0, 150_000, 0, 0, 0, 0),
        (b, DEMO_YEAR, 1, 2, 3, 4, 5, 6),
    ]
    fills = [(a, DRUGS[0], f"{DEMO_YEAR}-03-01", 30), (a, DRUGS[1], f"{DEMO_YEAR}-03-02", 7)]
    charges = [
        (b, INSTITUTIONS[0], DRUGS[0], f"{DEMO_YEAR}-03-01", "RX-1"),
        (b, INSTITUTIONS[0], "ANY-ITEM-CODE", f"{DEMO_YEAR}-03-01", ""),
        (b, INSTITUTIONS[0], "ANY-ITEM-CODE", f"{DEMO_YEAR}-03-01", ""),  # stored once
    ]
    before = {psn: _version(sync_client, psn) for psn in (a, b)}
    sync_client.hset(member_key(b), f"y{DEMO_YEAR}:band", 999)  # replaced by the load

    for kind, rows, load in (
        ("accumulators", accumulators, load_accumulators_csv),
        ("fills", fills, load_fills_csv),
        ("charges", charges, load_charges_csv),
    ):
        path = tmp_path / f"{kind}.csv"
        write_state_csv(path, kind, rows)
        report = await load(store, path)
        assert report.ok, report.errors
        assert report.rows_loaded == len(rows)

    # Every row moved its member's version forward: a claim read before fails its commit.
    assert _version(sync_client, a) == before[a] + len(accumulators[:2]) + len(fills)
    assert _version(sync_client, b) == before[b] + 1 + len(charges)
    snap = await store.read_member(
        a, year=DEMO_YEAR, day=0, fill_items=[DRUGS[0], DRUGS[1]],
    )
    assert snap is not None
    assert snap.accumulators == dict(zip(ACCUMULATORS, accumulators[0][2:], strict=True))
    assert snap.fills == {
        DRUGS[0]: (day_number(dt.date(DEMO_YEAR, 3, 1)), 30),
        DRUGS[1]: (day_number(dt.date(DEMO_YEAR, 3, 2)), 7),
    }
    day = day_number(dt.date(DEMO_YEAR, 3, 1))
    keys = [dup_key(INSTITUTIONS[0], DRUGS[0], day, "RX-1"),
            dup_key(INSTITUTIONS[0], "ANY-ITEM-CODE", day, ""),
            dup_key(INSTITUTIONS[0], DRUGS[0], day, "RX-2")]
    snap_b = await store.read_member(b, year=DEMO_YEAR, day=0, dup_keys=keys)
    assert snap_b is not None and snap_b.dup_seen == frozenset(keys[:2])
    assert snap_b.accumulators == dict(zip(ACCUMULATORS, (1, 2, 3, 4, 5, 6), strict=True))
    assert sync_client.hlen(MemberKeys.of(b).dups) == 2
    assert sync_client.hget(MemberKeys.of(b).dups, keys[0]) == LOADED_CHARGE.encode()
    # Zero accumulators are absent fields, as a reversal leaves them.
    assert sync_client.hget(member_key(a), f"y{DEMO_YEAR}:ded") is None

    # The export gives back the rows that were loaded.
    state_a = await export_member_state(store, a)
    assert state_a.accumulators == [
        tuple(str(v) for v in row) for row in sorted(accumulators[:2], key=lambda r: r[1])
    ]
    assert state_a.fills == [tuple(str(v) for v in row) for row in fills]
    state_b = await export_member_state(store, b)
    assert sorted(state_b.charges) == sorted({tuple(str(v) for v in r) for r in charges})


async def test_a_load_makes_a_claim_read_before_it_stale(
    tmp_path: Path, store: Store, members: list[str]
) -> None:
    psn = members[2]
    snap = await store.read_member(psn, year=DEMO_YEAR, day=0)
    assert snap is not None
    path = tmp_path / "fills.csv"
    write_state_csv(path, "fills", [(psn, DRUGS[0], f"{DEMO_YEAR}-03-01", 3)])
    assert (await load_fills_csv(store, path)).ok

    outcome = await store.commit_settlement(snap, SettlementCommit(
        request_id="REQ-STALE-1", request_hash="h", settlement_id="S0000202603010000000000000001",
        acct_current_pay_fen=0, acct_prior_pay_fen=0, accumulator_increments={},
        institution_code=INSTITUTIONS[0],
    ))

    assert outcome.status == "STALE"


async def test_bad_state_rows_are_all_reported_and_nothing_is_written(
    tmp_path: Path, store: Store, sync_client: redis.Redis, members: list[str]
) -> None:
    a = members[0]
    future = (dt.date.today() + dt.timedelta(days=5)).isoformat()
    cases: dict[str, tuple[list[tuple[object, ...]], list[str]]] = {
        "accumulators": (
            [
                (a, DEMO_YEAR, 1, 2, 3, 4, 5, 6),
                (a, DEMO_YEAR, 1, 2, 3, 4, 5, 6),
                (a, 1989, 0, 0, 0, 0, 0, 0),
                (a, DEMO_YEAR - 1, "12.5", 0, 0, 0, -1, 0),
                ("NO-SUCH-MEMBER", DEMO_YEAR, 0, 0, 0, 0, 0, 0),
                ("X" * 33, DEMO_YEAR, 0, 0, 0, 0, 0, 0),
            ],
            [
                f":3: year: duplicate '{a}\\x1f{DEMO_YEAR}', first on line 2",
                ":4: year: out of range 1990 to ",
                ":5: band_used_fen: not an integer: '12.5'",
                ":5: assistance_paid_fen: must not be negative: '-1'",
                ":7: psn_no: longer than 32 characters: ",
                # found by the member check only when the file itself is clean: listed below
            ],
        ),
        "fills": (
            [
                (a, DRUGS[0], f"{DEMO_YEAR}-03-01", 3),
                (a, NOT_A_DRUG, f"{DEMO_YEAR}-03-01", 3),
                (a, DRUGS[1], future, 3),
                (a, DRUGS[2], "1989-12-31", 3),
                (a, DRUGS[3], f"{DEMO_YEAR}-02-30", 0),
                (a, DRUGS[4], f"{DEMO_YEAR}-03-01", 367),
                (a, DRUGS[0], f"{DEMO_YEAR}-03-02", 3),
            ],
            [
                f":3: item_code: not a DRUG of the catalogue: '{NOT_A_DRUG}'",
                ":4: fill_date: out of range 1990-01-01 to ",
                ":5: fill_date: out of range 1990-01-01 to ",
                f":6: fill_date: not a valid date: '{DEMO_YEAR}-02-30'",
                ":6: days_supply: must be at least 1",
                ":7: days_supply: more than 366: 367",
                f":8: item_code: duplicate '{a}\\x1f{DRUGS[0]}', first on line 2",
            ],
        ),
        "charges": (
            [
                (a, "NO-SUCH-INST", DRUGS[0], f"{DEMO_YEAR}-03-01", ""),
                (a, INSTITUTIONS[0], "BAD|ITEM", f"{DEMO_YEAR}-03-01", ""),
                (a, INSTITUTIONS[0], DRUGS[0], f"{DEMO_YEAR}-03-01", " RX"),
            ],
            [
                ":2: institution_code: not an institution in Redis: 'NO-SUCH-INST'",
                ":3: item_code: not a code (1-64 of A-Z a-z 0-9 _ . -, starting with a letter "
                "or digit): 'BAD|ITEM'",
                ":4: prescription_no: must be printable ASCII without surrounding spaces: ' RX'",
            ],
        ),
    }
    loaders = {"accumulators": load_accumulators_csv, "fills": load_fills_csv,
               "charges": load_charges_csv}
    before = _snapshot(sync_client)
    for kind, (rows, expected) in cases.items():
        path = tmp_path / f"{kind}.csv"
        write_state_csv(path, kind, rows)
        report = await loaders[kind](store, path)
        assert not report.ok
        assert len(report.errors) == len(expected), (kind, report.errors)
        for got, want in zip(report.errors, expected, strict=True):
            assert got.startswith(str(path) + want.split(" out of range")[0]), (got, want)
            assert want.split(" out of range")[0] in got

    # A clean file naming a member that is not in Redis loads nothing either.
    path = tmp_path / "missing.csv"
    write_state_csv(path, "charges", [
        (a, INSTITUTIONS[0], DRUGS[0], f"{DEMO_YEAR}-03-01", ""),
        ("NO-SUCH-MEMBER", INSTITUTIONS[0], DRUGS[0], f"{DEMO_YEAR}-03-01", ""),
    ])
    report = await load_charges_csv(store, path)
    assert report.errors == [
        f"{path}:3: psn_no: no member 'NO-SUCH-MEMBER' in Redis (load members first)"
    ]
    assert _snapshot(sync_client) == before


async def test_state_load_without_policy_is_refused(tmp_path: Path, redis_url: str) -> None:
    s = Store.from_url(redis_url)
    try:
        path = tmp_path / "fills.csv"
        write_state_csv(path, "fills", [])
        report = await load_fills_csv(s, path)
        assert not report.ok and "no policy in Redis" in report.errors[0]
    finally:
        await s.close()


@pytest.mark.parametrize(
    ("kind", "columns"),
    [("accumulators", ACCUMULATOR_FILE_COLUMNS), ("fills", FILL_COLUMNS),
     ("charges", CHARGE_COLUMNS)],
)
def test_cli_loads_state_and_refuses_a_bad_header(
    tmp_path: Path, redis_url: str, kind: str, columns: tuple[str, ...],
    capsys: pytest.CaptureFixture[str], members_in_redis: str,
) -> None:
    path = tmp_path / f"{kind}.csv"
    path.write_text(",".join(reversed(columns)) + "\n")
    assert load_main([kind, str(path), "--redis-url", redis_url]) == 1
    assert f"{path}:1: bad header (columns out of order)" in capsys.readouterr().err

    row = {
        "accumulators": (members_in_redis, DEMO_YEAR, 1, 0, 0, 0, 0, 0),
        "fills": (members_in_redis, DRUGS[0], f"{DEMO_YEAR}-01-02", 3),
        "charges": (members_in_redis, INSTITUTIONS[0], DRUGS[0], f"{DEMO_YEAR}-01-02", "RX"),
    }[kind]
    write_state_csv(path, kind, [row])
    assert load_main([kind, str(path), "--redis-url", redis_url]) == 0
    assert f"loaded 1 {kind}" in capsys.readouterr().out


@pytest.fixture
def members_in_redis(tmp_path: Path, redis_url: str) -> str:
    """One demo member and the demo reference data, loaded through the command line."""
    path = tmp_path / "members.csv"
    write_members_csv(path, demo_population(1))
    client = redis.Redis.from_url(redis_url)
    try:
        client.hset("ref:policy", mapping={"version": "v", "text": "# policy\n"})
    finally:
        client.close()
    store_path = tmp_path / "catalogue.csv"
    write_catalogue_csv(store_path, demo_catalogue())
    write_institutions_csv(tmp_path / "institutions.csv", demo_institutions())
    for kind, p in (("members", path), ("catalogue", store_path),
                    ("institutions", tmp_path / "institutions.csv")):
        assert load_main([kind, str(p), "--redis-url", redis_url]) == 0
    return next(iter(demo_population(1))).psn_no


@pytest.mark.cluster
async def test_state_loads_into_a_cluster(tmp_path: Path, redis_cluster: RedisCluster) -> None:
    """Members of many partitions (hash slots on every master): the script is loaded on
    every node, and each member's keys are written in their own slot."""
    store = Store.from_url(redis_cluster.url, cluster=True)
    try:
        await store.save_reference(policy_version="test-policy-1", policy_text="# policy\n",
                                   catalogue=demo_catalogue(), institutions=demo_institutions())
        path = tmp_path / "members.csv"
        write_members_csv(path, demo_population(30))
        assert (await load_members_csv(store, path)).ok
        psn_nos = [m.psn_no for m in demo_population(30)]
        files = {
            "accumulators": [(p, DEMO_YEAR, n + 1, 0, 0, 0, 0, 0) for n, p in enumerate(psn_nos)],
            "fills": [(p, DRUGS[0], f"{DEMO_YEAR}-03-01", 3) for p in psn_nos],
            "charges": [(p, INSTITUTIONS[0], DRUGS[0], f"{DEMO_YEAR}-03-01", "") for p in psn_nos],
        }
        loaders = {"accumulators": load_accumulators_csv, "fills": load_fills_csv,
                   "charges": load_charges_csv}
        for kind, rows in files.items():
            write_state_csv(tmp_path / f"{kind}.csv", kind, rows)
            report = await loaders[kind](store, tmp_path / f"{kind}.csv")
            assert report.ok and report.rows_loaded == 30, report.errors
        key = dup_key(INSTITUTIONS[0], DRUGS[0], day_number(dt.date(DEMO_YEAR, 3, 1)), "")
        for n, psn in enumerate(psn_nos):
            snap = await store.read_member(psn, year=DEMO_YEAR, day=0, fill_items=[DRUGS[0]],
                                           dup_keys=[key])
            assert snap is not None
            assert snap.accumulators["band"] == n + 1
            assert DRUGS[0] in snap.fills and snap.dup_seen == {key}
    finally:
        await store.close()
