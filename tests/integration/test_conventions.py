"""gRPC conventions an integrator relies on, checked with a real client against a real
server: google.rpc.Status details on errors (decoded with ``grpc_status``), replays of
uploads, and the clearing day's time zone on reconciliation."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
import redis
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2
from grpc_status import rpc_status

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.config import Config
from gateway.errors import DOMAIN
from gateway.keys import MemberKeys
from gateway.redis_server import RedisServer
from rules_compiled.model import MemberStatus
from tests.integration.harness import (
    HOSPITAL,
    PHARMACY,
    RELAXED_BUDGETS_MS,
    Client,
    GatewayThread,
    base_member,
    health_status,
    put_members,
    put_reference,
    snapshot,
    wait_for,
)

_seq = itertools.count(1)
TODAY = dt.date.today()


def rid(inst: str = PHARMACY.code) -> str:
    return f"{inst}{TODAY:%Y%m%d}130000{next(_seq):07d}"


def line(sn: int, code: str = "T-A-DRUG", price_fen: int = 1250, qty: int = 1) -> pb.FeeLine:
    return pb.FeeLine(feedetl_sn=sn, item_code=code, unit_price_fen=price_fen, quantity=qty,
                      amount_fen=price_fen * qty, prescription_no=f"RX-{next(_seq)}")


def claim(m, lines: list[pb.FeeLine] | None = None) -> pb.SettleRequest:  # type: ignore[no-untyped-def]
    return pb.SettleRequest(
        request_id=rid(), institution_code=PHARMACY.code, psn_no=m.psn_no, setting=pb.PHARMACY,
        card_no=m.card_no, service_date=TODAY.isoformat(), use_account=True,
        lines=lines or [line(1)],
    )


def details(err: grpc.RpcError) -> dict[str, object]:
    """The google.rpc.Status details of a failed call, by type name."""
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None, f"no status details on {err.code()}: {err.details()}"
    assert status.message == err.details()
    out: dict[str, object] = {}
    for any_ in status.details:
        for cls in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest,
                    error_details_pb2.RetryInfo):
            if any_.Is(cls.DESCRIPTOR):
                msg = cls()
                any_.Unpack(msg)
                out[cls.DESCRIPTOR.name] = msg
    return out


def reason(err: grpc.RpcError) -> str:
    info = details(err)["ErrorInfo"]
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.domain == DOMAIN
    return info.reason


def test_every_bad_field_is_a_field_violation(stub: pb_grpc.ClaimGatewayStub,
                                              r: Client) -> None:
    m = base_member()
    put_members(r, [m])
    bad_quantity = line(4)
    bad_quantity.quantity, bad_quantity.amount_fen = 0, 0
    bad_sn = line(5)
    bad_sn.feedetl_sn = 0
    req = claim(m, [line(1), line(2), line(3), bad_quantity, bad_sn])
    req.card_no = ""
    before = snapshot(r)
    with pytest.raises(grpc.RpcError) as e:
        stub.Settle(req)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # The first bad field leads the message, as before; every one is in the details.
    assert e.value.details().startswith("card_no: required"), e.value.details()
    got = details(e.value)
    bad = got["BadRequest"]
    assert isinstance(bad, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("card_no", "required"),
        ("lines[3].quantity", "must be >= 1"),
        ("lines[4].feedetl_sn", "must be >= 1"),
    ]
    assert reason(e.value) == "INVALID_FIELD"
    assert "RetryInfo" not in got
    assert snapshot(r) == before


def test_reason_codes_let_a_client_branch(stub: pb_grpc.ClaimGatewayStub, r: Client) -> None:
    m = base_member()
    suspended = base_member(status=MemberStatus.SUSPENDED)
    put_members(r, [m, suspended])
    # A request id cancelled before its original arrived: TOMBSTONED.
    late = claim(m)
    cancel = pb.CancelRequest(request_id=rid(), institution_code=PHARMACY.code, psn_no=m.psn_no,
                              original_request_id=late.request_id)
    assert stub.CancelByRequest(cancel).outcome == pb.CancelResponse.TOMBSTONED
    with pytest.raises(grpc.RpcError) as e:
        stub.Settle(late)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(e.value) == "TOMBSTONED"
    # The same request id with other content: REQUEST_ID_REUSED.
    first = claim(m)
    stub.Settle(first)
    other = claim(m)
    other.request_id = first.request_id
    with pytest.raises(grpc.RpcError) as e:
        stub.Settle(other)
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert reason(e.value) == "REQUEST_ID_REUSED"
    # Admission of a suspended member: a refused admission is an answer with the
    # eligibility reason, not an error.
    ep = stub.Admit(pb.AdmitRequest(
        request_id=rid(HOSPITAL.code), institution_code=HOSPITAL.code,
        psn_no=suspended.psn_no, card_no=suspended.card_no, diagnosis_code="J18.9",
        admission_date=TODAY.isoformat()))
    assert (ep.status, ep.refusal_reason) == ("REFUSED", "MEMBER_SUSPENDED")
    # Unknown member: UNKNOWN_MEMBER, no retry advice.
    with pytest.raises(grpc.RpcError) as e:
        stub.Settle(claim(base_member()))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason(e.value) == "UNKNOWN_MEMBER"
    assert "RetryInfo" not in details(e.value)


def _chunk(m, episode_id: str, lines: list[pb.FeeLine], request_id: str = "",  # type: ignore[no-untyped-def]
           ) -> pb.FeeDetailChunk:
    return pb.FeeDetailChunk(request_id=request_id or rid(HOSPITAL.code),
                             institution_code=HOSPITAL.code, psn_no=m.psn_no,
                             episode_id=episode_id, lines=lines)


def test_a_resent_upload_says_replay(stub: pb_grpc.ClaimGatewayStub, r: Client) -> None:
    m = base_member()
    put_members(r, [m])
    ep = stub.Admit(pb.AdmitRequest(
        request_id=rid(HOSPITAL.code), institution_code=HOSPITAL.code, psn_no=m.psn_no,
        card_no=m.card_no, diagnosis_code="J18.9", admission_date=TODAY.isoformat()))
    first = _chunk(m, ep.episode_id, [line(1, "T-A-DRUG", 8_000)])
    up = stub.UploadFeeDetails(iter([first]))
    assert not up.replay and up.lines_added == 1
    again = stub.UploadFeeDetails(iter([first]))  # same request id, same content
    assert again.replay
    assert (again.lines_added, again.episode_line_count) == (up.lines_added, 1)
    # A new chunk alongside the re-sent one: not a replay as a whole.
    mixed = stub.UploadFeeDetails(iter([first, _chunk(m, ep.episode_id, [line(2)])]))
    assert not mixed.replay and mixed.episode_line_count == 2


def test_reconcile_and_export_name_the_clearing_time_zone(stub: pb_grpc.ClaimGatewayStub,
                                                          r: Client) -> None:
    m = base_member()
    put_members(r, [m])
    stub.Settle(claim(m))
    cst_today = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date().isoformat()
    span = dict(institution_code=PHARMACY.code, from_date=cst_today, to_date=cst_today)
    rec = stub.Reconcile(pb.ReconcileRequest(**span))  # type: ignore[arg-type]
    assert rec.clearing_time_zone == "Asia/Shanghai"
    assert rec.gateway.settlement_count >= 1
    call = stub.ExportSettlements(pb.ExportSettlementsRequest(**span))  # type: ignore[arg-type]
    assert dict(call.initial_metadata())["clearing-time-zone"] == "Asia/Shanghai"
    exported = list(call)
    assert any(s.psn_no == m.psn_no for s in exported)


def test_unavailable_and_shed_say_when_to_retry(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    rc = redis.Redis.from_url(server.url)
    put_reference(rc)
    m = base_member()
    put_members(rc, [m])
    rc.close()
    cfg = Config(listen="127.0.0.1:0", redis_url=server.url, access_log=False, plaintext=True,
                 budgets_ms=dict(RELAXED_BUDGETS_MS), inflight_max=256,
                 per_institution_inflight_max=256)
    g = GatewayThread(cfg).start()
    try:
        with grpc.insecure_channel(g.address) as ch:
            stub = pb_grpc.ClaimGatewayStub(ch)
            wait_for(lambda: health_status(ch) == health_pb2.HealthCheckResponse.SERVING,
                     "SERVING")
            server.stop()
            wait_for(lambda: health_status(ch) == health_pb2.HealthCheckResponse.NOT_SERVING,
                     "NOT_SERVING")
            with pytest.raises(grpc.RpcError) as e:
                stub.Settle(claim(m))
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE
            assert reason(e.value) == "STORE_UNAVAILABLE"
            retry = details(e.value)["RetryInfo"]
            assert isinstance(retry, error_details_pb2.RetryInfo)
            assert retry.retry_delay.ToNanoseconds() > 0
            # Shedding (before the store is consulted): RESOURCE_EXHAUSTED with RetryInfo.
            g.running.service.admission.config.per_connection_inflight_max = 16
            g.running.service.admission.config.per_institution_inflight_max = 0
            with pytest.raises(grpc.RpcError) as e:
                stub.Settle(claim(m))
            assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert reason(e.value) == "SHED_INSTITUTION_INFLIGHT"
            retry = details(e.value)["RetryInfo"]
            assert isinstance(retry, error_details_pb2.RetryInfo)
            assert retry.retry_delay.ToNanoseconds() > 0
    finally:
        g.stop()
        server.stop()


def test_a_call_cut_by_shutdown_is_retried_with_the_same_id(tmp_path: Path) -> None:
    """A call in flight when the server stops (past its grace period) ends with a
    retriable status; the retry with the same request id, on the next server, settles
    once."""
    server = RedisServer(tmp_path / "redis").start()
    rc = redis.Redis.from_url(server.url)
    put_reference(rc)
    m = base_member(acct_current_fen=10_000, acct_prior_fen=0)
    put_members(rc, [m])
    cfg = Config(listen="127.0.0.1:0", redis_url=server.url, access_log=False, plaintext=True,
                 budgets_ms=dict(RELAXED_BUDGETS_MS))
    first = GatewayThread(cfg).start()
    second: GatewayThread | None = None
    req = claim(m)
    try:
        with grpc.insecure_channel(first.address) as ch, ThreadPoolExecutor(1) as pool:
            stub = pb_grpc.ClaimGatewayStub(ch)
            rc.execute_command("CLIENT", "PAUSE", 3000, "WRITE")  # the call waits on Redis
            try:
                call = pool.submit(stub.Settle, req)
                wait_for(lambda: first.running.service.admission.inflight == 1, "in flight")
                loop = first._loop  # stop gRPC alone, with a grace shorter than the wait
                assert loop is not None
                asyncio.run_coroutine_threadsafe(
                    first.running.server.stop(0.05), loop).result(timeout=30)
                with pytest.raises(grpc.RpcError) as e:
                    call.result(timeout=30)
            finally:
                rc.execute_command("CLIENT", "UNPAUSE")
            # grpc's core says UNAVAILABLE ("Cancelling all calls"); some clients CANCELLED.
            assert e.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
        second = GatewayThread(cfg).start()
        with grpc.insecure_channel(second.address) as ch:
            again = pb_grpc.ClaimGatewayStub(ch).Settle(req)
        assert again.status == pb.SETTLED
        paid = again.amounts.acct_pay_fen
        assert int(rc.hget(MemberKeys.of(m.psn_no).member, "cur")) == 10_000 - paid
    finally:
        first.stop()
        if second is not None:
            second.stop()
        rc.close()
        server.stop()
