"""`claimgate policy explain --settlement S…` on settlements committed by a real gateway
over a real redis-server: the replay runs under the policy version each settlement used,
and its totals equal the stored settlement's."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import grpc
import pytest
import redis

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.cli import main as claimgate
from gateway.config import Config
from gateway.redis_server import RedisServer
from rules_compiled import REFERENCE_POLICY_PATH
from rules_compiled.reference import yuan
from tests.integration.harness import (
    HOSPITAL,
    PHARMACY,
    RELAXED_BUDGETS_MS,
    GatewayThread,
    base_member,
    put_members,
    put_reference,
    wait_for,
)

_seq = itertools.count(1)
TODAY = dt.date.today()


def settle(stub: pb_grpc.ClaimGatewayStub, m) -> pb.SettlementResponse:  # type: ignore[no-untyped-def]
    n = next(_seq)
    lines = [pb.FeeLine(feedetl_sn=i + 1, item_code=code, unit_price_fen=price, quantity=qty,
                        amount_fen=price * qty, prescription_no=f"RX-EXP-{n}", days_supply=7)
             for i, (code, price, qty) in enumerate([("T-A-DRUG", 1250, 2),
                                                     ("T-B-DRUG", 4000, 1),
                                                     ("T-C-DRUG", 800, 3)])]
    resp = stub.Settle(pb.SettleRequest(
        request_id=f"EXPLAIN{TODAY:%Y%m%d}{n:07d}", institution_code=PHARMACY.code,
        psn_no=m.psn_no, setting=pb.PHARMACY, card_no=m.card_no,
        service_date=TODAY.isoformat(), use_account=True, lines=lines))
    assert resp.status == pb.SETTLED
    return resp


def settle_episode(stub: pb_grpc.ClaimGatewayStub, m, n_lines: int) -> pb.SettlementResponse:  # type: ignore[no-untyped-def]
    """Admit, upload ``n_lines`` lines, discharge, settle: an inpatient settlement."""
    n = next(_seq)
    ids = (f"EXPLAIN-EP{TODAY:%Y%m%d}{n:07d}-{k}" for k in range(4))
    common = dict(institution_code=HOSPITAL.code, psn_no=m.psn_no)
    ep = stub.Admit(pb.AdmitRequest(
        request_id=next(ids), card_no=m.card_no, diagnosis_code="I21.0",
        admission_date=(TODAY - dt.timedelta(days=5)).isoformat(), **common))
    codes = ["T-A-DRUG", "T-B-MAT", "T-C-DRUG", "T-SVC-CAP"]
    lines = [pb.FeeLine(feedetl_sn=sn, item_code=codes[sn % 4], unit_price_fen=900 + sn,
                        quantity=1 + sn % 2, amount_fen=(900 + sn) * (1 + sn % 2))
             for sn in range(1, n_lines + 1)]
    stub.UploadFeeDetails(iter([pb.FeeDetailChunk(
        request_id=next(ids), episode_id=ep.episode_id, lines=lines, **common)]))
    stub.Discharge(pb.DischargeRequest(request_id=next(ids), episode_id=ep.episode_id,
                                       discharge_date=TODAY.isoformat(), **common))
    resp = stub.Settle(pb.SettleRequest(
        request_id=next(ids), setting=pb.INPATIENT, card_no=m.card_no,
        service_date=TODAY.isoformat(), use_account=True, episode_id=ep.episode_id, **common))
    assert resp.status == pb.SETTLED and len(resp.lines) == n_lines
    return resp


def explain(url: str, settlement_id: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    status = claimgate(["policy", "explain", "--settlement", settlement_id, "--redis-url", url])
    return status, capsys.readouterr().out


def result_block(out: str) -> dict[str, str]:
    """The ``result:`` lines of an explanation: name -> amount in yuan, as printed."""
    lines = out.split("\nresult:\n", 1)[1].splitlines()
    block: dict[str, str] = {}
    for line in lines:
        if not line.startswith("  ") or line.startswith("  notes:"):
            break
        name, amount = line.split()
        block[name] = amount
    return block


def test_explain_a_committed_settlement_under_its_policy_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with RedisServer(tmp_path / "redis") as server:
        r = redis.Redis.from_url(server.url)
        put_reference(r)
        # Published through the command, so the version's text is kept.
        assert claimgate(["policy", "publish", str(REFERENCE_POLICY_PATH),
                          "--redis-url", server.url]) == 0
        m = base_member(acct_current_fen=3_000, acct_prior_fen=0)  # the account runs short
        patient = base_member()
        put_members(r, [m, patient])
        r.close()
        g = GatewayThread(Config(listen="127.0.0.1:0", redis_url=server.url, plaintext=True,
                                 access_log=False, budgets_ms=RELAXED_BUDGETS_MS)).start()
        try:
            with grpc.insecure_channel(g.address) as ch:
                stub = pb_grpc.ClaimGatewayStub(ch)
                first = settle(stub, m)
                # A new policy version becomes current; the first settlement keeps its own.
                nxt = tmp_path / "next.toml"
                nxt.write_text(REFERENCE_POLICY_PATH.read_text().replace(
                    'version = "reference-2024.1"', 'version = "reference-2024.2"', 1))
                assert claimgate(["policy", "publish", str(nxt), "--redis-url",
                                  server.url]) == 0
                wait_for(lambda: g.running.service.reference.policy_version
                         == "reference-2024.2", "the new policy loaded")
                second = settle(stub, m)
                inpatient = settle_episode(stub, patient, 200)  # its lines kept compressed
        finally:
            g.stop()

        for resp, version in ((first, "reference-2024.1"), (second, "reference-2024.2"),
                              (inpatient, "reference-2024.2")):
            assert resp.policy_version == version
            status, out = explain(server.url, resp.settlement_id, capsys)
            assert status == 0, out
            assert f"settlement {resp.settlement_id}" in out
            assert f"policy {version};" in out
            assert "the replay equals the settlement: yes" in out
            a = resp.amounts
            block = result_block(out)
            assert block["medfee"] == yuan(a.medfee_sumamt_fen)
            assert block["hifp"] == yuan(a.hifp_pay_fen)
            assert block["fund_pay_sum"] == yuan(a.fund_pay_sumamt_fen)
            assert block["acct_current_pay"] == yuan(a.acct_current_pay_fen)
            assert block["acct_prior_pay"] == yuan(a.acct_prior_pay_fen)
            assert block["cash"] == yuan(a.psn_cash_pay_fen)
        # The second claim depended on state the first left (refills refused, the account
        # spent): the replay used the state stored with it, not today's.
        assert first.amounts.acct_current_pay_fen > 0
        assert any("REFILL_TOO_SOON" in ln.reasons for ln in second.lines)
        assert second.amounts.acct_current_pay_fen == 0

        status, _ = explain(server.url, "S000020260101ffffffffffffffff", capsys)
        assert status == 1
