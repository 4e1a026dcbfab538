"""No client can lock the others out (mutual TLS, the default bounds).

One certificate holder keeps 200 calls open that never send their request and 40
exports running, re-opening each one as soon as the gateway ends it, while another
institution settles at a steady rate. The gateway admits the attacker up to its own
institution's bound, ends its idle calls when their request does not arrive, and
the other institution's claims go through. Health checks are never shed.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import threading
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
import redis
from grpc_health.v1 import health_pb2, health_pb2_grpc

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.keys import MemberKeys
from gateway.redis_server import RedisServer
from tests.integration.harness import (
    HOSPITAL,
    OTHER_HOSPITAL,
    OTHER_PHARMACY,
    PHARMACY,
    RELAXED_BUDGETS_MS,
    ClientCertificates,
    GatewayThread,
    InstitutionStub,
    base_member,
    put_members,
    put_reference,
)

IDLE_CALLS = 200
EXPORTS = 40
CLAIMS = 100
CLAIMS_PER_S = 25
SUCCESS_MIN = 0.99
REOPEN_S = 0.25  # the attacker re-opens each ended call after this (keeps the test light)
_seq = itertools.count(1)


@pytest.fixture(scope="module")
def lockout_gateway(tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[tuple[GatewayThread, ClientCertificates, redis.Redis]]:
    certs = ClientCertificates(tmp_path_factory.mktemp("lockout-certs"))
    with RedisServer(tmp_path_factory.mktemp("lockout-redis")) as server:
        r = redis.Redis.from_url(server.url)
        put_reference(r)
        # The default bounds (32 in flight, 16 per institution); a short wait for requests.
        cfg = certs.config(listen="127.0.0.1:0", redis_url=server.url, access_log=False,
                           budgets_ms=RELAXED_BUDGETS_MS, request_wait_s=1.0)
        g = GatewayThread(cfg).start()
        yield g, certs, r
        g.stop()
        r.close()


def _aio_channel(certs: ClientCertificates, port: int, code: str) -> grpc.aio.Channel:
    key, cert = certs._clients.get(code) or certs.ca.client_pem(code)
    creds = grpc.ssl_channel_credentials(certs.ca.cert_pem, key, cert)
    return grpc.aio.secure_channel(f"localhost:{port}", creds)


def _claim(m, inst: str) -> pb.SettleRequest:  # type: ignore[no-untyped-def]
    n = next(_seq)
    return pb.SettleRequest(
        request_id=f"{inst}-LOCK-{n:08d}", institution_code=inst, psn_no=m.psn_no,
        setting=pb.PHARMACY, card_no=m.card_no, service_date="2026-06-15", use_account=False,
        lines=[pb.FeeLine(feedetl_sn=1, item_code="T-A-DRUG", unit_price_fen=100, quantity=1,
                          amount_fen=100, prescription_no=f"RX-LOCK-{n}")])


async def _attack(ch: grpc.aio.Channel, code: str, stop: asyncio.Event,
                  seen: collections.Counter[str]) -> None:
    idle = ch.stream_unary("/claims.v1.ClaimGateway/Settle",
                           request_serializer=pb.SettleRequest.SerializeToString,
                           response_deserializer=pb.SettlementResponse.FromString)
    export = ch.unary_stream("/claims.v1.ClaimGateway/ExportSettlements",
                             request_serializer=pb.ExportSettlementsRequest.SerializeToString,
                             response_deserializer=pb.SettlementResponse.FromString)

    async def never() -> AsyncIterator[pb.SettleRequest]:
        await stop.wait()
        return
        yield  # an async generator that sends nothing

    async def hold_idle() -> None:
        while not stop.is_set():
            try:
                await idle(never())
                seen["OK"] += 1
            except grpc.aio.AioRpcError as e:
                seen[e.code().name] += 1
            await asyncio.sleep(REOPEN_S)

    async def hold_export() -> None:
        while not stop.is_set():
            try:
                async for _ in export(pb.ExportSettlementsRequest(
                        institution_code=code, from_date="2026-06-01",
                        to_date="2026-06-30")):
                    pass
                seen["export OK"] += 1
            except grpc.aio.AioRpcError as e:
                seen["export " + e.code().name] += 1
            await asyncio.sleep(REOPEN_S)

    await asyncio.gather(*(hold_idle() for _ in range(IDLE_CALLS)),
                         *(hold_export() for _ in range(EXPORTS)))


@pytest.mark.parametrize("attackers", [(OTHER_PHARMACY.code,),
                                       (OTHER_PHARMACY.code, OTHER_HOSPITAL.code)],
                         ids=["one-certificate", "two-certificates"])
def test_certificates_cannot_lock_out_another_institution(
    lockout_gateway: tuple[GatewayThread, ClientCertificates, redis.Redis],
    record_property: pytest.RecordProperty, attackers: tuple[str, ...],
) -> None:
    """Each attacking certificate holds 200 idle calls and 40 exports; together they
    could fill the worker's bound (32) if idle calls or exports counted against it."""
    g, certs, r = lockout_gateway
    members = [base_member(acct_current_fen=0, acct_prior_fen=0) for _ in range(CLAIMS)]
    put_members(r, members)

    async def main() -> tuple[collections.Counter[str], collections.Counter[str], list[int]]:
        channels = [_aio_channel(certs, g.port, code) for code in attackers]
        victim = _aio_channel(certs, g.port, PHARMACY.code)
        stop = asyncio.Event()
        seen: collections.Counter[str] = collections.Counter()
        outcomes: collections.Counter[str] = collections.Counter()
        health: list[int] = []
        attacks = [asyncio.create_task(_attack(ch, code, stop, seen))
                   for ch, code in zip(channels, attackers, strict=True)]
        settle = victim.unary_unary("/claims.v1.ClaimGateway/Settle",
                                    request_serializer=pb.SettleRequest.SerializeToString,
                                    response_deserializer=pb.SettlementResponse.FromString)
        check = health_pb2_grpc.HealthStub(victim).Check
        try:
            # The attack is in place: the attacker holds its institution's bound.
            for _ in range(1500):  # bounded: at most 30 s
                adm = g.running.service.admission
                if all(adm.institution_inflight(code) >= 16 for code in attackers):
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the attack never held its institution's bound")
            loop = asyncio.get_running_loop()
            start = loop.time()
            for i, m in enumerate(members):
                try:
                    await settle(_claim(m, PHARMACY.code), timeout=10)
                    outcomes["OK"] += 1
                except grpc.aio.AioRpcError as e:
                    outcomes[e.code().name] += 1
                if i % 20 == 0:
                    try:
                        health.append((await check(health_pb2.HealthCheckRequest(
                            service="claims.v1.ClaimGateway"), timeout=5)).status)
                    except grpc.aio.AioRpcError as e:
                        health.append(-e.code().value[0])
                await asyncio.sleep(max(0.0, start + (i + 1) / CLAIMS_PER_S - loop.time()))
        finally:
            stop.set()
            for ch in channels:
                await ch.close()  # ends the attacker's open calls
            await asyncio.gather(*attacks, return_exceptions=True)
            await victim.close()
        return outcomes, seen, health

    outcomes, seen, health = asyncio.run(main())
    rate = outcomes["OK"] / CLAIMS
    print(f"\nlock-out by {len(attackers)}: {outcomes['OK']}/{CLAIMS} claims of the other "
          f"institution succeeded "
          f"({rate:.1%}); its failures {dict(outcomes - collections.Counter(OK=outcomes['OK']))}"
          f"; the attacker's calls ended {dict(seen)}; health {sorted(set(health))}")
    record_property("lockout_success_rate", rate)
    assert rate >= SUCCESS_MIN
    # The attacker was bounded, not just slow: calls shed at once, idle ones ended.
    assert seen["RESOURCE_EXHAUSTED"] > 0 and seen["DEADLINE_EXCEEDED"] > 0
    assert set(health) == {health_pb2.HealthCheckResponse.SERVING}


def _sync_stub(certs: ClientCertificates, g: GatewayThread) -> InstitutionStub:
    return InstitutionStub(lambda c: certs.channel(g.address, c))


def test_an_upload_is_bound_per_chunk_and_an_idle_one_is_closed(
    lockout_gateway: tuple[GatewayThread, ClientCertificates, redis.Redis],
) -> None:
    g, certs, r = lockout_gateway
    m = base_member()
    put_members(r, [m])
    stub = _sync_stub(certs, g)
    ep = stub.Admit(pb.AdmitRequest(
        request_id=f"{HOSPITAL.code}-LOCK-A{next(_seq)}", institution_code=HOSPITAL.code,
        psn_no=m.psn_no, card_no=m.card_no, admission_date="2026-06-10",
        diagnosis_code="I21.0"))

    def chunk(sn: int, inst: str = HOSPITAL.code) -> pb.FeeDetailChunk:
        return pb.FeeDetailChunk(
            request_id=f"{inst}-LOCK-U{next(_seq)}", institution_code=inst, psn_no=m.psn_no,
            episode_id=ep.episode_id, lines=[pb.FeeLine(
                feedetl_sn=sn, item_code="T-A-DRUG", unit_price_fen=100, quantity=1,
                amount_fen=100, service_date="2026-06-11")])

    up = stub.UploadFeeDetails([chunk(1), chunk(2)])  # under mutual TLS, as itself
    assert up.lines_added == 2
    with certs.channel(g.address, HOSPITAL.code) as ch:
        upload = pb_grpc.ClaimGatewayStub(ch).UploadFeeDetails
        # A later chunk naming another institution: refused, that chunk changes nothing.
        with pytest.raises(grpc.RpcError) as e:
            upload(iter([chunk(3), chunk(4, OTHER_HOSPITAL.code)]))
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
        # One chunk, then nothing: the gateway closes the upload.
        release = threading.Event()

        def one_then_idle() -> Iterator[pb.FeeDetailChunk]:
            yield chunk(5)
            release.wait(30)

        try:
            with pytest.raises(grpc.RpcError) as e:
                upload(one_then_idle())
            assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        finally:
            release.set()
    sns = sorted(int(k) for k in r.hkeys(MemberKeys.of(m.psn_no).episode_lines(ep.episode_id)))
    assert sns == [1, 2, 3, 5]


def test_limits_are_charged_to_the_certificate_not_the_named_institution(
    lockout_gateway: tuple[GatewayThread, ClientCertificates, redis.Redis],
) -> None:
    g, certs, r = lockout_gateway
    m = base_member()
    put_members(r, [m])
    adm = g.running.service.admission
    adm.config.per_institution_rate_per_s = 0.001  # the burst (100), then next to nothing
    adm._buckets.clear()
    try:
        with certs.channel(g.address, OTHER_PHARMACY.code) as ch:
            stub = pb_grpc.ClaimGatewayStub(ch)
            codes = collections.Counter()
            for _ in range(150):  # naming PHARMACY, from OTHER_PHARMACY's certificate
                with pytest.raises(grpc.RpcError) as e:
                    stub.Settle(_claim(m, PHARMACY.code))
                codes[e.value.code().name] += 1
        # The certificate holder used up its own rate, not PHARMACY's.
        assert codes == {"PERMISSION_DENIED": 100, "RESOURCE_EXHAUSTED": 50}
        resp = _sync_stub(certs, g).Settle(_claim(m, PHARMACY.code))
        assert resp.status in (pb.SETTLED, pb.REFUSED)
    finally:
        adm.config.per_institution_rate_per_s = 0.0
        adm._buckets.clear()
