"""Health hysteresis: one slow Redis answer turns nothing away; a sustained outage does."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
import redis
from grpc_health.v1 import health_pb2

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.config import Config
from gateway.redis_server import RedisServer
from gateway.server import STORE_DOWN_AFTER_S, STORE_PROBE_TIMEOUT_S
from tests.integration.harness import (
    PHARMACY,
    RELAXED_BUDGETS_MS,
    GatewayThread,
    base_member,
    health_status,
    put_members,
    put_reference,
    wait_for,
)

STALL_S = 0.45  # longer than a probe's timeout, well under the down threshold
assert STORE_PROBE_TIMEOUT_S < STALL_S <= STORE_DOWN_AFTER_S / 2


def _stall(url: str, seconds: float) -> threading.Thread:
    """Redis holds every command for ``seconds`` (CLIENT PAUSE ALL); the thread ends when
    Redis answers again."""
    def main() -> None:
        with redis.Redis.from_url(url) as r, redis.Redis.from_url(url) as other:
            r.execute_command("CLIENT", "PAUSE", int(seconds * 1000), "ALL")
            other.ping()  # held until the pause ends

    t = threading.Thread(target=main)
    t.start()
    return t


def _pings(r: redis.Redis) -> int:
    """PING commands Redis has executed (the gateway's health probes send them)."""
    return int(r.info("commandstats").get("cmdstat_ping", {}).get("calls", 0))


def _claim(m: object, n: int) -> pb.SettleRequest:
    return pb.SettleRequest(
        request_id=f"{PHARMACY.code}HEALTH{n:06d}", institution_code=PHARMACY.code,
        psn_no=m.psn_no, setting=pb.PHARMACY, card_no=m.card_no,  # type: ignore[attr-defined]
        service_date="2026-06-15", use_account=True,
        lines=[pb.FeeLine(feedetl_sn=1, item_code="T-A-DRUG", unit_price_fen=1250, quantity=1,
                          amount_fen=1250, prescription_no=f"RXH{n}")],
    )


def test_one_slow_redis_answer_does_not_turn_calls_away(tmp_path: Path) -> None:
    """Redis stalls once (CLIENT PAUSE ALL) for longer than a health probe waits: the worker
    stays SERVING and keeps admitting calls, which are merely late."""
    with RedisServer(tmp_path / "redis") as server:
        r = redis.Redis.from_url(server.url)
        put_reference(r)
        m = base_member()
        put_members(r, [m])
        g = GatewayThread(Config(listen="127.0.0.1:0", redis_url=server.url, plaintext=True,
                                 access_log=False, budgets_ms=RELAXED_BUDGETS_MS)).start()
        try:
            with grpc.insecure_channel(g.address) as ch:
                stub = pb_grpc.ClaimGatewayStub(ch)
                wait_for(lambda: health_status(ch) == health_pb2.HealthCheckResponse.SERVING,
                         "SERVING")
                service = g.running.service
                flips: list[str] = []
                for n in range(3):
                    stalled = _stall(server.url, STALL_S)
                    while stalled.is_alive():
                        if not service.store_up:
                            flips.append("calls refused")
                        stalled.join(0.005)
                    # Two more PINGs answered: a whole probe ran after the stall (the
                    # next stall must not run into this one, or it is one long outage).
                    pinged = _pings(r)
                    wait_for(lambda p=pinged: _pings(r) >= p + 2, "a health probe after the stall")
                    if health_status(ch) != health_pb2.HealthCheckResponse.SERVING:
                        flips.append("NOT_SERVING")
                    resp = stub.Settle(_claim(m, n), timeout=30)
                    assert resp.status == pb.SETTLED
                assert flips == []
        finally:
            g.stop()
            r.close()


def test_a_sustained_outage_is_not_serving_and_refused(tmp_path: Path) -> None:
    """Redis frozen for longer than the down threshold: NOT_SERVING and calls refused
    with UNAVAILABLE; SERVING again once it answers, without a restart."""
    with RedisServer(tmp_path / "redis") as server:
        r = redis.Redis.from_url(server.url)
        put_reference(r)
        m = base_member()
        put_members(r, [m])
        g = GatewayThread(Config(listen="127.0.0.1:0", redis_url=server.url, plaintext=True,
                                 access_log=False, budgets_ms=RELAXED_BUDGETS_MS)).start()
        try:
            with grpc.insecure_channel(g.address) as ch:
                stub = pb_grpc.ClaimGatewayStub(ch)
                wait_for(lambda: health_status(ch) == health_pb2.HealthCheckResponse.SERVING,
                         "SERVING")
                stalled = _stall(server.url, 4 * STORE_DOWN_AFTER_S)
                wait_for(lambda: health_status(ch) == health_pb2.HealthCheckResponse.NOT_SERVING,
                         "NOT_SERVING")
                assert not g.running.service.store_up
                try:
                    stub.Settle(_claim(m, 100), timeout=30)
                    raised = None
                except grpc.RpcError as e:
                    raised = e.code()
                assert raised == grpc.StatusCode.UNAVAILABLE
                stalled.join(30)
                wait_for(lambda: health_status(ch) == health_pb2.HealthCheckResponse.SERVING,
                         "SERVING again")
                assert stub.Settle(_claim(m, 101), timeout=30).status == pb.SETTLED
        finally:
            g.stop()
            r.close()
