"""Latency budgets, load shedding, Redis trouble, logs and metrics of a real gateway.

Each test runs its own gateway (and where it stops or pauses Redis, its own
redis-server). No test asserts on a duration: where timing matters, the test
waits for a state (in-flight count, health status) with a bounded poll.
"""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import grpc
import orjson
import pytest
import redis
from grpc_health.v1 import health_pb2

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.accesslog import AccessLog
from gateway.config import Config
from gateway.keys import MemberKeys
from gateway.redis_server import RedisServer
from tests.integration.harness import (
    HOSPITAL,
    PHARMACY,
    RELAXED_BUDGETS_MS,
    GatewayThread,
    base_member,
    health_status,
    put_members,
    put_reference,
    snapshot,
    wait_for,
)

_seq = itertools.count(1)


def claim(m, inst: str = PHARMACY.code, rx: str | None = None) -> pb.SettleRequest:  # type: ignore[no-untyped-def]
    n = next(_seq)
    return pb.SettleRequest(
        request_id=f"{inst}20260615100000{n:07d}", institution_code=inst, psn_no=m.psn_no,
        setting=pb.PHARMACY if inst == PHARMACY.code else pb.OUTPATIENT, card_no=m.card_no,
        service_date="2026-06-15", use_account=True,
        lines=[pb.FeeLine(feedetl_sn=1, item_code="T-A-DRUG", unit_price_fen=1250, quantity=1,
                          amount_fen=1250, prescription_no=rx or f"RX{n}")],
    )


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        r = redis.Redis.from_url(server.url)
        put_reference(r)
        r.close()
        yield server


def start_gateway(server: RedisServer, **config: object) -> GatewayThread:
    cfg = Config(listen="127.0.0.1:0", redis_url=server.url, access_log=False, plaintext=True,
                 budgets_ms=dict(RELAXED_BUDGETS_MS), inflight_max=256,
                 per_institution_inflight_max=256)
    for k, v in config.items():
        setattr(cfg, k, v)
    return GatewayThread(cfg).start()


def test_budget_spent_before_the_commit_commits_nothing(own_redis: RedisServer) -> None:
    g = start_gateway(own_redis, budgets_ms={**RELAXED_BUDGETS_MS, "Settle": 0})
    r = redis.Redis.from_url(own_redis.url)
    try:
        m = base_member()
        put_members(r, [m])
        before = snapshot(r)
        with grpc.insecure_channel(g.address) as ch:
            stub = pb_grpc.ClaimGatewayStub(ch)
            request = claim(m)
            # With no budget left, the member read still gets its floor of a few ms; on
            # a loaded machine it can take longer and answer UNAVAILABLE ("retry with
            # the same request_id"), which commits nothing either. Retried as it says.
            for _attempt in range(5):
                with pytest.raises(grpc.RpcError) as e:
                    stub.Settle(request)
                if e.value.code() != grpc.StatusCode.UNAVAILABLE:
                    break
                assert "retry with the same request_id" in e.value.details()
                assert snapshot(r) == before
            assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "nothing was committed" in e.value.details()
            # PreSettle has its own budget and still answers.
            assert stub.PreSettle(claim(m)).status == pb.QUOTED
        assert snapshot(r) == before
    finally:
        g.stop()
        r.close()


def test_inflight_bound_sheds_at_once(own_redis: RedisServer) -> None:
    g = start_gateway(own_redis, inflight_max=2)
    r = redis.Redis.from_url(own_redis.url)
    try:
        members = [base_member() for _ in range(3)]
        put_members(r, members)
        with grpc.insecure_channel(g.address) as ch, ThreadPoolExecutor(2) as pool:
            stub = pb_grpc.ClaimGatewayStub(ch)
            r.execute_command("CLIENT", "PAUSE", 5000, "WRITE")  # requests now wait on Redis
            try:
                held: list[Future[pb.SettlementResponse]] = [
                    pool.submit(stub.Settle, claim(m)) for m in members[:2]
                ]
                wait_for(lambda: g.running.service.admission.inflight == 2, "2 in flight")
                with pytest.raises(grpc.RpcError) as e:
                    stub.Settle(claim(members[2]))
                assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            finally:
                r.execute_command("CLIENT", "UNPAUSE")
            outcomes = []
            for f in held:
                try:
                    outcomes.append(f.result(timeout=30).status)
                except grpc.RpcError as err:  # the Redis call may have run out of time
                    outcomes.append(err.code())
            assert set(outcomes) <= {pb.SETTLED, grpc.StatusCode.UNAVAILABLE}
            assert g.running.service.admission.inflight == 0
    finally:
        g.stop()
        r.close()


def test_one_institution_cannot_starve_the_others(own_redis: RedisServer) -> None:
    g = start_gateway(own_redis, per_institution_inflight_max=1)
    r = redis.Redis.from_url(own_redis.url)
    try:
        a, b, c = base_member(), base_member(), base_member()
        put_members(r, [a, b, c])
        with grpc.insecure_channel(g.address) as ch, ThreadPoolExecutor(2) as pool:
            stub = pb_grpc.ClaimGatewayStub(ch)
            r.execute_command("CLIENT", "PAUSE", 5000, "WRITE")
            try:
                hospital = pool.submit(stub.Settle, claim(a, HOSPITAL.code))
                wait_for(lambda: g.running.service.admission.inflight == 1, "hospital in flight")
                with pytest.raises(grpc.RpcError) as e:  # the same hospital again: shed
                    stub.Settle(claim(b, HOSPITAL.code))
                assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "institution_code" in e.value.details()
                pharmacy = pool.submit(stub.Settle, claim(c))  # a pharmacy is still admitted
                wait_for(lambda: g.running.service.admission.inflight == 2, "pharmacy admitted")
            finally:
                r.execute_command("CLIENT", "UNPAUSE")
            for f in (hospital, pharmacy):
                try:
                    f.result(timeout=30)
                except grpc.RpcError as err:
                    assert err.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        g.stop()
        r.close()


def test_dead_redis_is_unavailable_then_service_comes_back(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    r = redis.Redis.from_url(server.url)
    put_reference(r)
    m = base_member(acct_current_fen=10_000, acct_prior_fen=0)
    put_members(r, [m])
    r.close()
    g = start_gateway(server)
    try:
        with grpc.insecure_channel(g.address) as ch:
            stub = pb_grpc.ClaimGatewayStub(ch)
            wait_for(lambda: health_status(ch) == health_pb2.HealthCheckResponse.SERVING,
                     "SERVING")
            first = stub.Settle(claim(m))
            server.stop()
            wait_for(lambda: health_status(ch) == health_pb2.HealthCheckResponse.NOT_SERVING,
                     "NOT_SERVING")
            down = claim(m)
            with pytest.raises(grpc.RpcError) as e:
                stub.Settle(down)
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE
            server.start()  # same port, same AOF
            wait_for(lambda: health_status(ch) == health_pb2.HealthCheckResponse.SERVING,
                     "SERVING again")
            second = stub.Settle(down)  # the retried request, same request id
            assert second.status == pb.SETTLED and not second.replay
        r = redis.Redis.from_url(server.url)
        paid = first.amounts.acct_pay_fen + second.amounts.acct_pay_fen
        assert int(r.hget(MemberKeys.of(m.psn_no).member, "cur")) == 10_000 - paid
        r.close()
    finally:
        g.stop()
        server.stop()


def test_paused_redis_past_the_budget_is_unavailable_and_retry_is_exactly_once(
    own_redis: RedisServer,
) -> None:
    g = start_gateway(own_redis, budgets_ms={**RELAXED_BUDGETS_MS, "Settle": 200})
    r = redis.Redis.from_url(own_redis.url)
    try:
        m = base_member(acct_current_fen=10_000, acct_prior_fen=0)
        put_members(r, [m])
        req = claim(m)
        with grpc.insecure_channel(g.address) as ch:
            stub = pb_grpc.ClaimGatewayStub(ch)
            r.execute_command("CLIENT", "PAUSE", 1500, "WRITE")
            with pytest.raises(grpc.RpcError) as e:
                stub.Settle(req)
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE
            r.set("after-the-pause", 1)  # a write waits until the pause is over
            retried = stub.Settle(req)
            again = stub.Settle(req)
        assert retried.status == pb.SETTLED and again.replay
        assert again.settlement_id == retried.settlement_id
        paid = retried.amounts.acct_pay_fen
        assert int(r.hget(MemberKeys.of(m.psn_no).member, "cur")) == 10_000 - paid
    finally:
        g.stop()
        r.close()


def test_access_log_is_one_json_line_per_request_without_personal_data(
    own_redis: RedisServer,
) -> None:
    g = start_gateway(own_redis)
    r = redis.Redis.from_url(own_redis.url)
    buf = io.BytesIO()
    log = AccessLog(out=buf).start()
    g.running.service.access_log = log
    try:
        m = base_member()
        put_members(r, [m])
        with grpc.insecure_channel(g.address) as ch:
            stub = pb_grpc.ClaimGatewayStub(ch)
            ok = claim(m)
            stub.Settle(ok)
            bad = claim(m)
            bad.lines[0].quantity = 0
            with pytest.raises(grpc.RpcError):
                stub.Settle(bad)
        log.close()
        lines = [orjson.loads(x) for x in buf.getvalue().splitlines()]
        assert [(x["request_id"], x["status"]) for x in lines] == [
            (ok.request_id, "OK"), (bad.request_id, "INVALID_ARGUMENT")]
        for x in lines:
            assert set(x) == {"ts", "request_id", "institution", "psn_no", "method", "status",
                              "latency_ms", "reasons"}
            assert x["method"] == "Settle" and x["institution"] == PHARMACY.code
            assert m.name not in orjson.dumps(x).decode() and m.card_no not in str(x)
    finally:
        g.stop()
        r.close()


def test_every_call_is_logged_once_with_its_final_status_and_fields_cut(
    own_redis: RedisServer,
) -> None:
    """Shed, cancelled, timed-out and exported calls reach the access log too, each
    once, with its real status; a huge request id is cut to the field limit."""
    g = start_gateway(own_redis, per_connection_inflight_max=1, request_wait_s=60.0)
    r = redis.Redis.from_url(own_redis.url)
    buf = io.BytesIO()
    log = AccessLog(out=buf).start()
    g.running.service.access_log = log
    release = threading.Event()

    def never() -> Iterator[pb.SettleRequest]:
        release.wait(30)
        return
        yield

    try:
        m = base_member()
        put_members(r, [m])
        with grpc.insecure_channel(g.address) as ch:
            stub = pb_grpc.ClaimGatewayStub(ch)
            idle = ch.stream_unary("/claims.v1.ClaimGateway/Settle",
                                   request_serializer=pb.SettleRequest.SerializeToString,
                                   response_deserializer=pb.SettlementResponse.FromString)
            # While one waits, a second on the same connection is shed.
            held = idle.future(never())
            wait_for(lambda: bool(g.running.service.admission._per_connection),
                     "one call waiting")
            with pytest.raises(grpc.RpcError) as e:
                idle(never())
            assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            held.cancel()  # the client gives up: CANCELLED
            wait_for(lambda: not g.running.service.admission._per_connection, "cancel seen")
            # A call that never sends its request: ended when the wait runs out.
            g.running.service.admission.config.request_wait_s = 0.5
            with pytest.raises(grpc.RpcError) as e:
                idle(never())
            assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            huge = claim(m)
            huge.request_id = "X" * 100_000
            with pytest.raises(grpc.RpcError):
                stub.Settle(huge)
            chunk = pb.FeeDetailChunk(
                request_id="UPLOAD-LOG-1", institution_code=HOSPITAL.code, psn_no=m.psn_no,
                episode_id="E0000" + "0" * 24, lines=[pb.FeeLine(
                    feedetl_sn=1, item_code="T-A-DRUG", unit_price_fen=1, quantity=1,
                    amount_fen=1)])
            with pytest.raises(grpc.RpcError):
                stub.UploadFeeDetails(iter([chunk]))
            exported = list(stub.ExportSettlements(pb.ExportSettlementsRequest(
                institution_code=PHARMACY.code, from_date="2026-06-01", to_date="2026-06-30")))
            assert exported == []
        release.set()
        wait_for(lambda: len(buf.getvalue().splitlines()) >= 6, "six log lines")
        log.close()
        lines = [orjson.loads(x) for x in buf.getvalue().splitlines()]
        assert sorted((x["method"], x["status"]) for x in lines) == sorted([
            ("Settle", "DEADLINE_EXCEEDED"), ("Settle", "RESOURCE_EXHAUSTED"),
            ("Settle", "CANCELLED"), ("Settle", "INVALID_ARGUMENT"),
            ("UploadFeeDetails", "NOT_FOUND"), ("ExportSettlements", "OK")])
        upload = next(x for x in lines if x["method"] == "UploadFeeDetails")
        assert (upload["request_id"], upload["institution"], upload["psn_no"]) == (
            chunk.request_id, HOSPITAL.code, m.psn_no)
        assert max(len(orjson.dumps(x)) for x in lines) < 1000
        cut = next(x for x in lines if x["status"] == "INVALID_ARGUMENT")
        assert cut["request_id"].startswith("XXXX") and len(cut["request_id"]) <= 67
        assert cut["institution"] == PHARMACY.code
    finally:
        release.set()
        g.stop()
        r.close()


def test_a_call_cut_by_shutdown_is_cancelled_logged_and_retriable(
    own_redis: RedisServer,
) -> None:
    g = start_gateway(own_redis)
    r = redis.Redis.from_url(own_redis.url)
    buf = io.BytesIO()
    log = AccessLog(out=buf).start()
    g.running.service.access_log = log
    m = base_member()
    put_members(r, [m])
    req = claim(m)
    try:
        with grpc.insecure_channel(g.address) as ch, ThreadPoolExecutor(1) as pool:
            r.execute_command("CLIENT", "PAUSE", 10_000, "WRITE")  # the call waits on Redis
            try:
                held = pool.submit(pb_grpc.ClaimGatewayStub(ch).Settle, req)
                wait_for(lambda: g.running.service.admission.inflight == 1, "in flight")
                g.stop(grace_s=0.1)  # what is left after the grace period is cut
                with pytest.raises(grpc.RpcError) as e:
                    held.result(timeout=30)
                # gRPC's core answers the client one or the other, by timing.
                assert e.value.code() in (grpc.StatusCode.CANCELLED,
                                          grpc.StatusCode.UNAVAILABLE)
            finally:
                r.execute_command("CLIENT", "UNPAUSE")
        wait_for(lambda: b"CANCELLED" in buf.getvalue(), "the cut call logged")
        log.close()
        [line] = [orjson.loads(x) for x in buf.getvalue().splitlines()]
        assert (line["request_id"], line["status"]) == (req.request_id, "CANCELLED")
        # Retried with the same request id on a new gateway: settled exactly once.
        g2 = start_gateway(own_redis)
        try:
            with grpc.insecure_channel(g2.address) as ch:
                stub = pb_grpc.ClaimGatewayStub(ch)
                first = stub.Settle(req)
                again = stub.Settle(req)
            assert first.status == pb.SETTLED and again.replay
            assert again.settlement_id == first.settlement_id
        finally:
            g2.stop()
    finally:
        g.stop()
        r.close()


def test_metrics_count_requests_kernel_redis_and_money(own_redis: RedisServer) -> None:
    from prometheus_client import REGISTRY

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    g = start_gateway(own_redis)
    r = redis.Redis.from_url(own_redis.url)
    try:
        m = base_member()
        put_members(r, [m])
        before = (value("claimgate_requests_total", method="Settle", code="OK", reason=""),
                  value("claimgate_paid_fen_total", fund="acct"),
                  value("claimgate_kernel_seconds_count"),
                  value("claimgate_redis_seconds_count", op="commit"),
                  value("claimgate_request_seconds_count", method="Settle"))
        with grpc.insecure_channel(g.address) as ch:
            resp = pb_grpc.ClaimGatewayStub(ch).Settle(claim(m))
        after = (value("claimgate_requests_total", method="Settle", code="OK", reason=""),
                 value("claimgate_paid_fen_total", fund="acct"),
                 value("claimgate_kernel_seconds_count"),
                 value("claimgate_redis_seconds_count", op="commit"),
                 value("claimgate_request_seconds_count", method="Settle"))
        assert [b - a for a, b in zip(before, after, strict=True)] == [
            1, resp.amounts.acct_pay_fen, 1, 1, 1]
    finally:
        g.stop()
        r.close()


def test_start_up_waits_for_redis(tmp_path: Path) -> None:
    """A gateway started before its Redis (a restart of both, a compose file) waits for it."""
    import threading

    server = RedisServer(tmp_path / "redis").start()
    r = redis.Redis.from_url(server.url)
    put_reference(r)
    m = base_member()
    put_members(r, [m])
    r.close()
    server.stop()
    later = threading.Timer(1.0, server.start)
    later.start()
    try:
        g = start_gateway(server)  # returns once Redis is up and the reference data loaded
        try:
            with grpc.insecure_channel(g.address) as ch:
                assert pb_grpc.ClaimGatewayStub(ch).Settle(claim(m)).status == pb.SETTLED
        finally:
            g.stop()
    finally:
        later.join()
        server.stop()
