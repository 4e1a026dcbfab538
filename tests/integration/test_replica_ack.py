"""``--replica-ack``: a commit no replica confirmed is not acknowledged, and its retry
with the same request id resolves it once a replica holds it."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
import redis

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.config import Config
from gateway.keys import MemberKeys
from gateway.redis_server import RedisServer
from tests.integration.harness import (
    PHARMACY,
    RELAXED_BUDGETS_MS,
    GatewayThread,
    base_member,
    put_members,
    put_reference,
    wait_for,
)


def _claim(m: object, n: int) -> pb.SettleRequest:
    return pb.SettleRequest(
        request_id=f"{PHARMACY.code}ACK{n:06d}", institution_code=PHARMACY.code,
        psn_no=m.psn_no, setting=pb.PHARMACY, card_no=m.card_no,  # type: ignore[attr-defined]
        service_date="2026-06-15", use_account=True,
        lines=[pb.FeeLine(feedetl_sn=1, item_code="T-A-DRUG", unit_price_fen=1250, quantity=1,
                          amount_fen=1250, prescription_no=f"RXA{n}")],
    )


def _settle_retrying(stub: pb_grpc.ClaimGatewayStub, req: pb.SettleRequest,
                     tries_max: int = 50) -> tuple[pb.SettlementResponse, int]:
    """Settle, retrying UNAVAILABLE with the same request id (bounded); the answer and
    how many UNAVAILABLE answers came first."""
    for unavailable in range(tries_max):
        try:
            return stub.Settle(req, timeout=30), unavailable
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNAVAILABLE, e
    raise AssertionError(f"still UNAVAILABLE after {tries_max} tries")


def test_unconfirmed_commit_is_unavailable_and_its_retry_settles_once(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "master") as master:
        r = redis.Redis.from_url(master.url)
        put_reference(r)
        m = base_member(acct_current_fen=10_000, acct_prior_fen=0)
        put_members(r, [m])
        g = GatewayThread(Config(listen="127.0.0.1:0", redis_url=master.url, plaintext=True,
                                 access_log=False, budgets_ms=RELAXED_BUDGETS_MS,
                                 replica_ack=1, replica_ack_timeout_ms=50)).start()
        try:
            with grpc.insecure_channel(g.address) as ch:
                stub = pb_grpc.ClaimGatewayStub(ch)
                req = _claim(m, 1)
                # No replica yet: the master commits, nobody confirms it.
                with pytest.raises(grpc.RpcError) as e:
                    stub.Settle(req, timeout=30)
                assert e.value.code() == grpc.StatusCode.UNAVAILABLE
                assert "replica" in (e.value.details() or "")
                assert int(r.hget(MemberKeys.of(m.psn_no).member, "cur")) < 10_000  # it did
                # Nor is the settlement shown while no replica holds it.
                with pytest.raises(grpc.RpcError) as e:
                    stub.Settle(req, timeout=30)
                assert e.value.code() == grpc.StatusCode.UNAVAILABLE
                with RedisServer(tmp_path / "replica") as replica:
                    rr = redis.Redis.from_url(replica.url)
                    rr.execute_command("REPLICAOF", master.host, str(master.port))
                    wait_for(lambda: rr.info("replication").get("master_link_status") == "up",
                             "the replica in sync", 30)
                    wait_for(lambda: r.execute_command("WAIT", 1, 1000) >= 1,
                             "the master counting the replica", 30)
                    # A client retries UNAVAILABLE with the same request id; a loaded
                    # machine may still miss the 50 ms confirmation once.
                    again, unavailable = _settle_retrying(stub, req)
                    assert again.status == pb.SETTLED and again.replay
                    assert again.acct_current_balance_fen == int(
                        r.hget(MemberKeys.of(m.psn_no).member, "cur"))
                    fresh, unavailable = _settle_retrying(stub, _claim(m, 2))
                    assert fresh.status == pb.SETTLED
                    assert fresh.replay == (unavailable > 0)  # new unless a retry
                    assert rr.hget(MemberKeys.of(m.psn_no).member, "cur") == r.hget(
                        MemberKeys.of(m.psn_no).member, "cur")
                    rr.close()
        finally:
            g.stop()
            r.close()
