"""Mutual TLS: every request is bound to the institution of the client certificate."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import redis

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.config import Config
from gateway.devcerts import make_dev_certs
from gateway.redis_server import RedisServer
from gateway.server import ConfigError, validate_config
from tests.integration.harness import (
    OTHER_PHARMACY,
    PHARMACY,
    RELAXED_BUDGETS_MS,
    GatewayThread,
    base_member,
    put_members,
    put_reference,
    snapshot,
)

_seq = itertools.count(1)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("certs")
    make_dev_certs(out, [PHARMACY.code, OTHER_PHARMACY.code])
    make_dev_certs(out / "rogue", [PHARMACY.code])  # same name, another CA
    return out


@pytest.fixture(scope="module")
def tls_gateway(certs: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[tuple[GatewayThread, redis.Redis]]:
    with RedisServer(tmp_path_factory.mktemp("tls-redis")) as server:
        r = redis.Redis.from_url(server.url)
        put_reference(r)
        cfg = Config(listen="127.0.0.1:0", redis_url=server.url, access_log=False,
                     budgets_ms=RELAXED_BUDGETS_MS, tls_cert=str(certs / "server.pem"),
                     tls_key=str(certs / "server.key"), tls_client_ca=str(certs / "ca.pem"))
        g = GatewayThread(cfg).start()
        yield g, r
        g.stop()
        r.close()


def channel(g: GatewayThread, certs: Path, who: str | None) -> grpc.Channel:
    key = cert = None
    if who is not None:
        key = (certs / "clients" / f"{who}.key").read_bytes()
        cert = (certs / "clients" / f"{who}.pem").read_bytes()
    creds = grpc.ssl_channel_credentials((certs / "ca.pem").read_bytes(), key, cert)
    return grpc.secure_channel(f"localhost:{g.port}", creds)


def settle_request(m, inst: str) -> pb.SettleRequest:  # type: ignore[no-untyped-def]
    return pb.SettleRequest(
        request_id=f"{inst}20260615080000{next(_seq):06d}", institution_code=inst,
        psn_no=m.psn_no, setting=pb.PHARMACY, card_no=m.card_no, service_date="2026-06-15",
        use_account=True,
        lines=[pb.FeeLine(feedetl_sn=1, item_code="T-A-DRUG", unit_price_fen=1250, quantity=1,
                          amount_fen=1250, prescription_no=f"RX{next(_seq)}")])


def test_an_institution_acts_as_itself(tls_gateway: tuple[GatewayThread, redis.Redis],
                                       certs: Path) -> None:
    g, r = tls_gateway
    m = base_member()
    put_members(r, [m])
    with channel(g, certs, PHARMACY.code) as ch:
        resp = pb_grpc.ClaimGatewayStub(ch).Settle(settle_request(m, PHARMACY.code))
    assert resp.status == pb.SETTLED


def test_an_institution_cannot_act_as_another(tls_gateway: tuple[GatewayThread, redis.Redis],
                                              certs: Path) -> None:
    g, r = tls_gateway
    m = base_member()
    put_members(r, [m])
    with channel(g, certs, PHARMACY.code) as ch:
        stub = pb_grpc.ClaimGatewayStub(ch)
        settled = stub.Settle(settle_request(m, PHARMACY.code))
    before = snapshot(r)
    with channel(g, certs, OTHER_PHARMACY.code) as ch:
        stub = pb_grpc.ClaimGatewayStub(ch)
        for call in (
            lambda: stub.Settle(settle_request(m, PHARMACY.code)),
            lambda: stub.ReverseSettlement(pb.ReverseRequest(
                request_id="X1", institution_code=PHARMACY.code, psn_no=m.psn_no,
                settlement_id=settled.settlement_id)),
            lambda: stub.GetSettlement(pb.GetSettlementRequest(
                institution_code=PHARMACY.code, settlement_id=settled.settlement_id)),
            lambda: stub.Reconcile(pb.ReconcileRequest(
                institution_code=PHARMACY.code, from_date="2026-06-15", to_date="2026-06-15")),
        ):
            with pytest.raises(grpc.RpcError) as e:
                call()
            assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert PHARMACY.code in e.value.details()
        # Its own view of that settlement: exactly what an unknown id of the same
        # partition answers, so nothing tells it the id exists.
        unknown = settled.settlement_id[:13] + "0" * (len(settled.settlement_id) - 13)
        answers = []
        for sid in (settled.settlement_id, unknown):
            with pytest.raises(grpc.RpcError) as e:
                stub.GetSettlement(pb.GetSettlementRequest(
                    institution_code=OTHER_PHARMACY.code, settlement_id=sid))
            answers.append((e.value.code(), e.value.details().replace(sid, "<id>")))
        assert answers[0] == answers[1]
        assert answers[0][0] == grpc.StatusCode.NOT_FOUND
    assert snapshot(r) == before


@pytest.mark.parametrize("who", [None, "rogue"])
def test_no_certificate_or_a_foreign_ca_gets_no_service(
    tls_gateway: tuple[GatewayThread, redis.Redis], certs: Path, who: str | None
) -> None:
    g, _r = tls_gateway
    if who == "rogue":
        key = (certs / "rogue" / "clients" / f"{PHARMACY.code}.key").read_bytes()
        cert = (certs / "rogue" / "clients" / f"{PHARMACY.code}.pem").read_bytes()
        creds = grpc.ssl_channel_credentials((certs / "ca.pem").read_bytes(), key, cert)
        ch = grpc.secure_channel(f"localhost:{g.port}", creds)
    else:
        ch = channel(g, certs, None)
    with ch, pytest.raises(grpc.RpcError) as e:
        pb_grpc.ClaimGatewayStub(ch).CheckEligibility(
            pb.EligibilityRequest(institution_code=PHARMACY.code, psn_no="T1"), timeout=10)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE


def test_plain_text_must_be_asked_for() -> None:
    with pytest.raises(ConfigError, match="--plaintext"):
        validate_config(Config())
    with pytest.raises(ConfigError, match="needs"):
        validate_config(Config(tls_cert="server.pem"))
    validate_config(Config(plaintext=True))


def test_health_check_over_mutual_tls_with_the_ops_certificate(
    tls_gateway: tuple[GatewayThread, redis.Redis], certs: Path
) -> None:
    from gateway.healthcheck import check

    g, r = tls_gateway
    ops = certs / "clients"
    assert check(f"localhost:{g.port}", 10, ca=str(certs / "ca.pem"),
                 cert=str(ops / "ops.pem"), key=str(ops / "ops.key"))
    assert not check(f"localhost:{g.port}", 10)  # plain text gets nothing
    m = base_member()
    put_members(r, [m])
    with channel(g, certs, "ops") as ch, pytest.raises(grpc.RpcError) as e:
        pb_grpc.ClaimGatewayStub(ch).Settle(settle_request(m, PHARMACY.code))
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_the_ca_key_is_not_in_the_mounted_directory(tmp_path: Path) -> None:
    from gateway.devcerts import main

    assert main(["--out", str(tmp_path / "certs"), "--institution", PHARMACY.code]) == 0
    mounted = {p.name for p in (tmp_path / "certs").rglob("*")}
    assert "ca.pem" in mounted and not any(n.startswith("ca") and n.endswith(".key")
                                           for n in mounted)
    ca_key = tmp_path / "ca-private" / "ca.key"
    assert ca_key.exists() and ca_key.stat().st_mode & 0o077 == 0
    assert main(["--out", str(tmp_path / "certs"),
                 "--ca-key-out", str(tmp_path / "certs" / "ca.key")]) == 2


def test_the_access_log_names_the_certificate_of_a_refused_or_shed_call(
    tls_gateway: tuple[GatewayThread, redis.Redis], certs: Path
) -> None:
    """Under mutual TLS the access log names the institution of the certificate: a call
    naming another institution, and a call shed before its request is read, are the
    caller's, never the named victim's or nobody's."""
    import io

    import orjson

    from gateway.accesslog import AccessLog
    from tests.integration.harness import wait_for

    g, r = tls_gateway
    svc = g.running.service  # type: ignore[union-attr]
    buf = io.BytesIO()
    log = AccessLog(out=buf).start()
    previous_log, svc.access_log = svc.access_log, log
    bounds = svc.admission.config
    m = base_member()
    put_members(r, [m])
    try:
        with channel(g, certs, OTHER_PHARMACY.code) as ch:
            stub = pb_grpc.ClaimGatewayStub(ch)
            with pytest.raises(grpc.RpcError) as e:  # names the victim
                stub.Settle(settle_request(m, PHARMACY.code))
            assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
            saved = bounds.per_institution_inflight_max, bounds.per_connection_inflight_max
            try:  # shed before its request is read: by its connection, its institution
                for per_connection in (0, 16):
                    bounds.per_institution_inflight_max = 0
                    bounds.per_connection_inflight_max = per_connection
                    with pytest.raises(grpc.RpcError) as e:
                        stub.CheckEligibility(pb.EligibilityRequest(
                            institution_code=OTHER_PHARMACY.code, psn_no=m.psn_no))
                    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            finally:
                bounds.per_institution_inflight_max, bounds.per_connection_inflight_max = saved
        wait_for(lambda: buf.getvalue().count(b"\n") >= 3, "three log lines")
    finally:
        svc.access_log = previous_log
        log.close()
    lines = [orjson.loads(x) for x in buf.getvalue().splitlines()]
    assert [(x["method"], x["status"], x["institution"], x["reasons"]) for x in lines] == [
        ("Settle", "PERMISSION_DENIED", OTHER_PHARMACY.code, []),
        ("CheckEligibility", "RESOURCE_EXHAUSTED", OTHER_PHARMACY.code, ["connection_waiting"]),
        ("CheckEligibility", "RESOURCE_EXHAUSTED", OTHER_PHARMACY.code,
         ["institution_inflight"]),
    ]


def test_unreadable_tls_files_are_refused_before_serving(certs: Path, tmp_path: Path) -> None:
    """A TLS file that is missing, a directory or not PEM (a key the server's user
    cannot read, as in a container whose user does not own it) is named at once with
    exit status 2, not found by every worker in turn."""
    import subprocess
    import sys

    (tmp_path / "empty.key").write_bytes(b"")
    good = {"tls_cert": str(certs / "server.pem"), "tls_key": str(certs / "server.key"),
            "tls_client_ca": str(certs / "ca.pem")}
    validate_config(Config(**good))  # type: ignore[arg-type]
    for field, flag, bad in (("tls_key", "--tls-key", tmp_path / "missing.key"),
                             ("tls_cert", "--tls-cert", tmp_path),
                             ("tls_client_ca", "--tls-client-ca", tmp_path / "empty.key")):
        with pytest.raises(ConfigError, match=f"{flag} {bad}"):
            validate_config(Config(**{**good, field: str(bad)}))  # type: ignore[arg-type]
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--listen", "127.0.0.1:0",
         "--tls-cert", good["tls_cert"], "--tls-key", str(tmp_path / "missing.key"),
         "--tls-client-ca", good["tls_client_ca"], "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert f"--tls-key {tmp_path / 'missing.key'}" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "data").exists()


def test_connections_that_never_handshake_or_stay_idle_are_closed(
    certs: Path, tmp_path: Path
) -> None:
    """A connection holds a file descriptor whoever opens it: one that never finishes
    its TLS handshake (no certificate needed for that), and a certificate holder's
    connection that carries no call, are closed after their bounds, so that opening
    connections by the thousand cannot use up the server's descriptors for good."""
    import socket

    from tests.integration.harness import wait_for

    with RedisServer(tmp_path / "redis") as server:
        r = redis.Redis.from_url(server.url)
        put_reference(r)
        cfg = Config(listen="127.0.0.1:0", redis_url=server.url, access_log=False,
                     budgets_ms=RELAXED_BUDGETS_MS, tls_cert=str(certs / "server.pem"),
                     tls_key=str(certs / "server.key"), tls_client_ca=str(certs / "ca.pem"),
                     handshake_timeout_s=0.5, connection_idle_s=0.5)
        g = GatewayThread(cfg).start()
        try:
            with socket.create_connection(("127.0.0.1", g.port), timeout=30) as raw:
                assert raw.recv(1) == b""  # closed by the server, not by our timeout
            with channel(g, certs, PHARMACY.code) as ch:
                grpc.channel_ready_future(ch).result(timeout=30)
                states: list[grpc.ChannelConnectivity] = []
                ch.subscribe(states.append)
                wait_for(lambda: grpc.ChannelConnectivity.IDLE in states,
                         "the idle connection closed by the server", 30)
        finally:
            g.stop()
            r.close()
