"""`claimgate journal export`: mutations driven through a real gateway (over a real
redis-server) appear in the exported audit trail, in CSV and JSONL, with institution,
operator, terminal and time; the CST date range and the institution filter select."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import redis

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.config import Config
from gateway.journal import COLUMNS, CST, journal_main
from gateway.redis_server import RedisServer
from tests.integration.harness import (
    HOSPITAL,
    PHARMACY,
    RELAXED_BUDGETS_MS,
    GatewayThread,
    base_member,
    put_members,
    put_reference,
)

TODAY = dt.datetime.now(CST).date()


@dataclass
class Done:
    url: str
    expected: dict[str, dict[str, str]]  # request id -> expected columns
    t0_ms: int
    t1_ms: int


def _line(sn: int, price: int = 1250) -> pb.FeeLine:
    return pb.FeeLine(feedetl_sn=sn, item_code="T-A-DRUG", unit_price_fen=price, quantity=1,
                      amount_fen=price, prescription_no=f"RXJ{sn}")


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Done]:
    with RedisServer(tmp_path_factory.mktemp("journal-redis")) as server:
        r = redis.Redis.from_url(server.url)
        put_reference(r)
        a, b, c = base_member(), base_member(), base_member()
        put_members(r, [a, b, c])
        g = GatewayThread(Config(listen="127.0.0.1:0", redis_url=server.url, plaintext=True,
                                 access_log=False, budgets_ms=RELAXED_BUDGETS_MS)).start()
        expected: dict[str, dict[str, str]] = {}
        day = TODAY.isoformat()
        t0_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        try:
            with grpc.insecure_channel(g.address) as ch:
                stub = pb_grpc.ClaimGatewayStub(ch)

                def settle(rid: str, m: object, sn: int) -> pb.SettlementResponse:
                    resp = stub.Settle(pb.SettleRequest(
                        request_id=rid, institution_code=PHARMACY.code,
                        psn_no=m.psn_no, setting=pb.PHARMACY,  # type: ignore[attr-defined]
                        card_no=m.card_no, service_date=day,  # type: ignore[attr-defined]
                        use_account=True, lines=[_line(sn, 1000 + sn)],
                        operator_id="op-settle", terminal_id="pos-7",
                    ), timeout=30)
                    assert resp.status == pb.SETTLED
                    expected[rid] = {"type": "SETTLE", "institution_code": PHARMACY.code,
                                     "operator_id": "op-settle", "terminal_id": "pos-7",
                                     "psn_no": a.psn_no, "settlement_id": resp.settlement_id,
                                     "medfee_sumamt_fen": str(1000 + sn)}
                    return resp

                s1 = settle("JRN-SETTLE-1", a, 1)
                settle("JRN-SETTLE-2", a, 2)
                rev = stub.ReverseSettlement(pb.ReverseRequest(
                    request_id="JRN-REVERSE-1", institution_code=PHARMACY.code, psn_no=a.psn_no,
                    settlement_id=s1.settlement_id, operator_id="op-rev", terminal_id="pos-8",
                ), timeout=30)
                expected["JRN-REVERSE-1"] = {
                    "type": "REVERSE", "institution_code": PHARMACY.code,
                    "operator_id": "op-rev", "terminal_id": "pos-8", "psn_no": a.psn_no,
                    "settlement_id": s1.settlement_id, "reversal_id": rev.reversal_id}
                cancel = stub.CancelByRequest(pb.CancelRequest(
                    request_id="JRN-CANCEL-1", institution_code=PHARMACY.code, psn_no=a.psn_no,
                    original_request_id="JRN-SETTLE-2", operator_id="op-can",
                    terminal_id="pos-9"), timeout=30)
                assert cancel.outcome == pb.CancelResponse.REVERSED
                expected["JRN-CANCEL-1"] = {
                    "type": "CANCEL", "institution_code": PHARMACY.code, "operator_id": "op-can",
                    "terminal_id": "pos-9", "psn_no": a.psn_no,
                    "settlement_id": cancel.settlement_id, "reversal_id": cancel.reversal_id}
                tomb = stub.CancelByRequest(pb.CancelRequest(
                    request_id="JRN-CANCEL-2", institution_code=PHARMACY.code, psn_no=b.psn_no,
                    original_request_id="JRN-NEVER-SENT", operator_id="op-can",
                    terminal_id="pos-9"), timeout=30)
                assert tomb.outcome == pb.CancelResponse.TOMBSTONED
                expected["JRN-CANCEL-2"] = {
                    "type": "TOMBSTONE", "institution_code": PHARMACY.code,
                    "operator_id": "op-can", "terminal_id": "pos-9", "psn_no": b.psn_no,
                    "original_request_id": "JRN-NEVER-SENT"}
                ep = stub.Admit(pb.AdmitRequest(
                    request_id="JRN-ADMIT-1", institution_code=HOSPITAL.code, psn_no=c.psn_no,
                    card_no=c.card_no, admission_date=day, diagnosis_code="J18.9",
                    operator_id="op-ward", terminal_id="his-1"), timeout=30).episode_id
                stub.UploadFeeDetails(iter([pb.FeeDetailChunk(
                    request_id="JRN-UPLOAD-1", institution_code=HOSPITAL.code, psn_no=c.psn_no,
                    episode_id=ep, lines=[_line(1), _line(2, 3000)], operator_id="op-ward",
                    terminal_id="his-2")]), timeout=30)
                stub.Discharge(pb.DischargeRequest(
                    request_id="JRN-DISCHARGE-1", institution_code=HOSPITAL.code,
                    psn_no=c.psn_no, episode_id=ep, discharge_date=day, operator_id="op-ward",
                    terminal_id="his-3"), timeout=30)
                common = {"institution_code": HOSPITAL.code, "operator_id": "op-ward",
                          "psn_no": c.psn_no, "episode_id": ep}
                expected["JRN-ADMIT-1"] = {"type": "ADMIT", "terminal_id": "his-1", **common}
                expected["JRN-UPLOAD-1"] = {"type": "UPLOAD", "terminal_id": "his-2",
                                            "lines_added": "2", "upload_amount_fen": "4250",
                                            **common}
                expected["JRN-DISCHARGE-1"] = {"type": "DISCHARGE", "terminal_id": "his-3",
                                               **common}
        finally:
            g.stop()
        t1_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        yield Done(server.url, expected, t0_ms, t1_ms)
        r.close()


def _export(done: Done, out: Path, *extra: str, fmt: str = "csv") -> int:
    return journal_main(["export", "--from", TODAY.isoformat(), "--to", TODAY.isoformat(),
                         "--format", fmt, "--out", str(out), "--redis-url", done.url, *extra])


def _check_rows(done: Done, rows: list[dict[str, str]]) -> None:
    by_request = {row["request_id"]: row for row in rows}
    assert set(by_request) == set(done.expected)
    for rid, want in done.expected.items():
        row = by_request[rid]
        assert {k: str(row.get(k, "")) for k in want} == want, rid
        when = dt.datetime.fromisoformat(row["time"])
        assert when.utcoffset() == dt.timedelta(hours=8)
        assert done.t0_ms <= when.timestamp() * 1000 <= done.t1_ms
        assert row["recorded_at"].endswith("Z")
    times = [dt.datetime.fromisoformat(row["time"]) for row in rows]
    assert times == sorted(times)
    # The order of the rows is the order of the commits.
    order = [row["request_id"] for row in rows]
    assert order.index("JRN-SETTLE-1") < order.index("JRN-REVERSE-1")
    assert order.index("JRN-ADMIT-1") < order.index("JRN-UPLOAD-1")
    assert order.index("JRN-UPLOAD-1") < order.index("JRN-DISCHARGE-1")


def test_csv_export_has_every_mutation(done: Done, tmp_path: Path) -> None:
    out = tmp_path / "journal.csv"
    assert _export(done, out) == 0
    with out.open(newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        rows = list(reader)
    _check_rows(done, rows)


def test_jsonl_export_has_every_mutation(done: Done, tmp_path: Path) -> None:
    out = tmp_path / "journal.jsonl"
    assert _export(done, out, fmt="jsonl") == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    _check_rows(done, rows)
    settle = next(r for r in rows if r["request_id"] == "JRN-SETTLE-1")
    assert isinstance(settle["medfee_sumamt_fen"], int)
    assert settle["medfee_sumamt_fen"] == settle["fund_pay_sumamt_fen"] + (
        settle["acct_current_pay_fen"] + settle["acct_prior_pay_fen"]
        + settle["psn_cash_pay_fen"])


def test_date_range_selects_by_china_standard_time(done: Done, tmp_path: Path) -> None:
    out = tmp_path / "other-days.jsonl"
    before = (TODAY - dt.timedelta(days=3)).isoformat()
    yesterday = (TODAY - dt.timedelta(days=1)).isoformat()
    tomorrow = (TODAY + dt.timedelta(days=1)).isoformat()
    assert journal_main(["export", "--from", before, "--to", yesterday, "--format", "jsonl",
                         "--out", str(out), "--redis-url", done.url]) == 0
    assert out.read_text() == ""
    assert journal_main(["export", "--from", tomorrow, "--to", tomorrow, "--format", "jsonl",
                         "--out", str(out), "--redis-url", done.url]) == 0
    assert out.read_text() == ""
    assert journal_main(["export", "--from", yesterday, "--to", tomorrow, "--format", "jsonl",
                         "--out", str(out), "--redis-url", done.url]) == 0
    assert len(out.read_text().splitlines()) == len(done.expected)


def test_institution_filter(done: Done, tmp_path: Path) -> None:
    out = tmp_path / "hospital.jsonl"
    assert _export(done, out, "--institution", HOSPITAL.code, fmt="jsonl") == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["request_id"] for r in rows} == {"JRN-ADMIT-1", "JRN-UPLOAD-1",
                                               "JRN-DISCHARGE-1"}


def test_usage_errors(done: Done, tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    assert journal_main(["export", "--from", "2026-02-30", "--to", "2026-03-01",
                         "--out", str(out), "--redis-url", done.url]) == 2
    assert journal_main(["export", "--from", "2026-03-02", "--to", "2026-03-01",
                         "--out", str(out), "--redis-url", done.url]) == 2
