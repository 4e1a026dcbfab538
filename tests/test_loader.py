"""``claimgate load``: CSV files in, Redis out, against the session's real redis-server."""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from gateway.demo import DEMO_YEAR
from gateway.demo_catalogue import demo_catalogue
from gateway.demo_institutions import demo_institutions
from gateway.demo_population import demo_population
from gateway.domain import Institution
from gateway.keys import member_key
from gateway.load_csv import ERRORS_LISTED_MAX
from gateway.load_members import MEMBER_COLUMNS, load_members_csv, write_members_csv
from gateway.load_reference import (
    INSTITUTION_COLUMNS,
    load_catalogue_csv,
    load_institutions_csv,
    write_catalogue_csv,
    write_institutions_csv,
)
from gateway.loader import load_main
from gateway.record_codecs import member_profile_json
from gateway.redis_cluster import RedisCluster
from gateway.store import Store
from rules_compiled.catalogue import CATALOGUE_COLUMNS
from rules_compiled.model import InstitutionStatus

MEMBERS_N = 60
POLICY_VERSION = "test-policy-1"
POLICY_TEXT = "# a policy text the loader must keep as it is\n"


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Store]:
    s = Store.from_url(redis_url)
    yield s
    await s.close()


@pytest.fixture
def sync_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _snapshot(client: redis.Redis) -> dict[bytes, bytes | None]:
    """Every key with its serialised value: equal snapshots mean nothing was written."""
    return {key: client.dump(key) for key in client.scan_iter(count=1000)}


def _read_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def _members_file(tmp_path: Path, n: int = MEMBERS_N) -> Path:
    path = tmp_path / "members.csv"
    assert write_members_csv(path, demo_population(n)) == n
    return path


async def _seed_reference(store: Store) -> None:
    await store.save_reference(
        policy_version=POLICY_VERSION,
        policy_text=POLICY_TEXT,
        catalogue=demo_catalogue(),
        institutions=demo_institutions(),
    )


# --- members -------------------------------------------------------------------------------


async def test_members_round_trip(tmp_path: Path, store: Store, sync_client: redis.Redis) -> None:
    members = list(demo_population(MEMBERS_N))
    assert any(m.chronic for m in members) and any(m.remote for m in members)
    path = _members_file(tmp_path)

    report = await load_members_csv(store, path)

    assert report.ok, report.errors
    assert report.rows_loaded == MEMBERS_N
    assert sync_client.dbsize() == MEMBERS_N
    for m in members:
        snap = await store.read_member(m.psn_no, year=DEMO_YEAR, day=0)
        assert snap is not None
        assert snap.member == m
        assert snap.version == "1"
        # Byte for byte what the store's own serialiser writes.
        assert sync_client.hget(member_key(m.psn_no), "p") == member_profile_json(m)


async def test_members_round_trip_keeps_dates_before_1970(tmp_path: Path, store: Store) -> None:
    members = list(demo_population(MEMBERS_N))
    assert any(m.work_start_date and m.work_start_date.year < 1970 for m in members)
    assert (await load_members_csv(store, _members_file(tmp_path))).ok
    for m in members:
        snap = await store.read_member(m.psn_no, year=DEMO_YEAR, day=0)
        assert snap is not None and snap.member == m


async def test_reloading_members_bumps_version_and_keeps_accumulators(
    tmp_path: Path, store: Store, sync_client: redis.Redis
) -> None:
    path = _members_file(tmp_path, 20)
    assert (await load_members_csv(store, path)).ok
    first = next(iter(demo_population(1)))
    key = member_key(first.psn_no)
    sync_client.hset(key, mapping={f"y{DEMO_YEAR}:band": 1234, "cur": 1})

    report = await load_members_csv(store, path)

    assert report.ok and report.rows_loaded == 20
    assert sync_client.hget(key, "ver") == b"2"  # a claim read before the load goes STALE
    assert sync_client.hget(key, f"y{DEMO_YEAR}:band") == b"1234"
    assert sync_client.hget(key, "cur") == str(first.acct_current_fen).encode()


async def test_bad_member_rows_are_all_reported_and_nothing_is_written(
    tmp_path: Path, store: Store, sync_client: redis.Redis
) -> None:
    sync_client.set("unrelated", "kept")
    before = _snapshot(sync_client)
    path = _members_file(tmp_path, 30)
    rows = _read_rows(path)
    col = {name: i for i, name in enumerate(MEMBER_COLUMNS)}
    # rows[k] is file line k + 1 (the header is line 1).
    rows[16][col["acct_current_fen"]] = "12.5"
    rows[17][col["birth_date"]] = "2020-13-01"
    rows[18][col["sex"]] = "M"
    rows[19][col["acct_prior_fen"]] = "-5"
    rows[20][col["benefit_start"]] = "2020/01/01"
    rows[21][col["chronic"]] = "I10:2021-01-01:2020-01-01"
    rows[22][col["remote"]] = "H1|H2|H3|H4:2025-01-01:2027-12-31"
    rows[23][col["person_type"]] = "STUDENT"
    rows[23][col["scheme"]] = "EMP"
    rows[24] = rows[24][:5]
    rows[25][col["psn_no"]] = rows[2][col["psn_no"]]
    _write_rows(path, rows)

    report = await load_members_csv(store, path)

    assert not report.ok
    assert report.rows_loaded == 0
    name = str(path)
    assert report.errors == [
        f"{name}:17: acct_current_fen: not an integer: '12.5'",
        f"{name}:18: birth_date: not a valid date: '2020-13-01'",
        f"{name}:19: sex: unknown value 'M'; one of UNKNOWN|MALE|FEMALE",
        f"{name}:20: acct_prior_fen: must not be negative: '-5'",
        f"{name}:21: benefit_start: not a YYYY-MM-DD date: '2020/01/01'",
        f"{name}:22: chronic: I10: valid_from 2021-01-01 is after valid_to 2020-01-01",
        f"{name}:23: remote: 1 to 3 institutions, found 4",
        f"{name}:24: person_type: STUDENT is not a person type of scheme EMP",
        f"{name}:25: expected 18 fields, found 5",
        f"{name}:26: psn_no: duplicate '{rows[2][0]}', first on line 3",
    ]
    assert report.bad_rows == 10
    assert _snapshot(sync_client) == before


async def test_many_bad_rows_are_capped_and_counted(tmp_path: Path, store: Store) -> None:
    bad_n = ERRORS_LISTED_MAX + 50
    path = _members_file(tmp_path, bad_n)
    rows = _read_rows(path)
    for row in rows[1:]:
        row[MEMBER_COLUMNS.index("card_status")] = "STOLEN"
    _write_rows(path, rows)

    report = await load_members_csv(store, path)

    assert report.errors_total == bad_n and report.bad_rows == bad_n
    assert len(report.errors) == ERRORS_LISTED_MAX
    assert report.error_lines()[-1] == "... and 50 more problems"


async def test_bad_header_is_refused(tmp_path: Path, store: Store) -> None:
    path = _members_file(tmp_path, 3)
    rows = _read_rows(path)
    rows[0][MEMBER_COLUMNS.index("acct_current_fen")] = "acct_current"
    _write_rows(path, rows)

    report = await load_members_csv(store, path)

    assert report.errors_total == 1
    assert report.errors[0].startswith(f"{path}:1: bad header (missing columns acct_current_fen;")


async def test_header_only_members_file_loads_nothing(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "empty.csv"
    write_members_csv(path, [])
    report = await load_members_csv(store, path)
    assert report.ok and report.rows_loaded == 0


# --- institutions and catalogue -----------------------------------------------------------------


async def test_institutions_load_replaces_institutions_only(tmp_path: Path, store: Store) -> None:
    await _seed_reference(store)
    new = [
        dataclasses.replace(i, status=InstitutionStatus.REVOKED) if i.code == "H31010002" else i
        for i in demo_institutions()[:-1]
    ] + [Institution("H31010099", "New Hospital", demo_institutions()[0].kind, 2, "310100")]
    path = tmp_path / "institutions.csv"
    write_institutions_csv(path, new)

    report = await load_institutions_csv(store, path)

    assert report.ok, report.errors
    assert report.rows_loaded == len(new)
    ref = await store.load_reference()
    assert ref is not None
    assert ref.institutions == {i.code: i for i in new}
    assert ref.catalogue == sorted(demo_catalogue(), key=lambda item: item.code)
    assert (ref.policy_version, ref.policy_text) == (POLICY_VERSION, POLICY_TEXT)


async def test_catalogue_round_trip(tmp_path: Path, store: Store) -> None:
    await store.save_reference(
        policy_version=POLICY_VERSION,
        policy_text=POLICY_TEXT,
        catalogue=[],
        institutions=demo_institutions(),
    )
    path = tmp_path / "catalogue.csv"
    write_catalogue_csv(path, demo_catalogue())

    report = await load_catalogue_csv(store, path)

    assert report.ok, report.errors
    ref = await store.load_reference()
    assert ref is not None
    assert ref.catalogue == sorted(demo_catalogue(), key=lambda item: item.code)
    assert ref.institutions == {i.code: i for i in demo_institutions()}
    assert (ref.policy_version, ref.policy_text) == (POLICY_VERSION, POLICY_TEXT)


async def test_bad_reference_rows_and_duplicates_are_refused(
    tmp_path: Path, store: Store, sync_client: redis.Redis
) -> None:
    await _seed_reference(store)
    before = _snapshot(sync_client)
    inst_path = tmp_path / "institutions.csv"
    write_institutions_csv(inst_path, demo_institutions())
    rows = _read_rows(inst_path)
    col = {name: i for i, name in enumerate(INSTITUTION_COLUMNS)}
    rows[2][col["level"]] = "4"
    rows[3][col["suspended_practitioners"]] = "DR1|DR 2"
    rows[8][col["level"]] = "1"  # a pharmacy
    rows.append(rows[1])
    _write_rows(inst_path, rows)
    cat_path = tmp_path / "catalogue.csv"
    write_catalogue_csv(cat_path, demo_catalogue()[:10])
    rows = _read_rows(cat_path)
    ccol = {name: i for i, name in enumerate(CATALOGUE_COLUMNS)}
    rows[1][ccol["settings"]] = "INPATIENT|WARD"
    rows[2][ccol["preselfpay_bp"]] = "10001"
    rows[3][ccol["age_min"]], rows[3][ccol["age_max"]] = "60", "14"
    rows.append(rows[5])
    _write_rows(cat_path, rows)

    inst = await load_institutions_csv(store, inst_path)
    cat = await load_catalogue_csv(store, cat_path)

    assert inst.errors == [
        f"{inst_path}:3: level: more than 3: 4",
        f"{inst_path}:4: suspended_practitioners: not a code (1-32 of A-Z a-z 0-9 _ . -, "
        "starting with a letter or digit): 'DR 2'",
        f"{inst_path}:9: level: must be 0 for a PHARMACY",
        f"{inst_path}:12: code: duplicate 'H31010001', first on line 2",
    ]
    assert cat.errors == [
        f"{cat_path}:2: settings: unknown value 'WARD'; "
        "one of PHARMACY|OUTPATIENT|INPATIENT|MAJOR_OUTPATIENT",
        f"{cat_path}:3: preselfpay_bp: more than 10000: 10001",
        f"{cat_path}:4: age_max: age_min 60 is above age_max 14",
        f"{cat_path}:12: code: duplicate '{rows[5][0]}', first on line 6",
    ]
    assert _snapshot(sync_client) == before


async def test_reference_load_without_policy_is_refused(
    tmp_path: Path, store: Store, sync_client: redis.Redis
) -> None:
    path = tmp_path / "catalogue.csv"
    write_catalogue_csv(path, demo_catalogue())

    report = await load_catalogue_csv(store, path)

    assert not report.ok
    assert "claimgate seed" in report.errors[0]
    assert sync_client.dbsize() == 0


async def test_empty_reference_file_is_refused(tmp_path: Path, store: Store) -> None:
    await _seed_reference(store)
    path = tmp_path / "institutions.csv"
    write_institutions_csv(path, [])

    report = await load_institutions_csv(store, path)

    assert not report.ok and "no data rows" in report.errors[0]
    ref = await store.load_reference()
    assert ref is not None and len(ref.institutions) == len(demo_institutions())


# --- command line ---------------------------------------------------------------------------


def test_cli_returns_1_on_a_bad_file(
    tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _members_file(tmp_path, 5)
    rows = _read_rows(path)
    rows[3][MEMBER_COLUMNS.index("acct_current_fen")] = "12.5"
    _write_rows(path, rows)

    assert load_main(["members", str(path), "--redis-url", redis_url]) == 1

    err = capsys.readouterr().err
    assert f"{path}:4: acct_current_fen: not an integer: '12.5'" in err
    assert "nothing was loaded" in err
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.dbsize() == 0
    finally:
        client.close()


def test_cli_loads_a_good_file(
    tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _members_file(tmp_path, 7)

    assert load_main(["members", str(path), "--redis-url", redis_url]) == 0

    assert "loaded 7 members" in capsys.readouterr().out


def test_cli_returns_1_on_a_missing_file(tmp_path: Path, redis_url: str) -> None:
    assert load_main(["members", str(tmp_path / "nope.csv"), "--redis-url", redis_url]) == 1


@pytest.mark.cluster
async def test_members_load_into_a_cluster(tmp_path: Path, redis_cluster: RedisCluster) -> None:
    store = Store.from_url(redis_cluster.url, cluster=True)
    try:
        members = list(demo_population(30))
        report = await load_members_csv(store, _members_file(tmp_path, 30))
        assert report.ok and report.rows_loaded == 30
        for m in members:
            snap = await store.read_member(m.psn_no, year=DEMO_YEAR, day=0)
            assert snap is not None and snap.member.card_no == m.card_no
    finally:
        await store.close()


def test_policy_explain_reads_the_catalogue_format_the_loader_writes(tmp_path: Path) -> None:
    """One catalogue CSV format: what `claimgate load catalogue` takes, `policy explain` reads."""
    from gateway.demo_catalogue import demo_catalogue
    from gateway.load_reference import write_catalogue_csv
    from rules_compiled.catalogue import load_catalogue_csv as explain_reader

    path = tmp_path / "catalogue.csv"
    items = demo_catalogue()
    write_catalogue_csv(path, items)
    assert sorted(explain_reader(path), key=lambda i: i.code) == sorted(items, key=lambda i: i.code)
