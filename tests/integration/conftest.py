"""A real gateway per mode: every integration test runs against a standalone
redis-server and against a real Redis Cluster, 3 masters with a replica each (``-m cluster``
selects the latter), and the standalone uvloop gateway both in plain text and under mutual
TLS (every call then goes over the certificate of the institution it names)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest
import redis

from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.config import Config
from gateway.redis_cluster import RedisCluster
from gateway.redis_server import RedisServer
from tests.integration.harness import (
    FALLBACK_INSTITUTION,
    RELAXED_BUDGETS_MS,
    Client,
    ClientCertificates,
    GatewayThread,
    InstitutionStub,
    put_reference,
)

# Redis mode x event loop x transport: the plain asyncio loop checks the uvloop fast
# path's conformance; "mtls" serves mutual TLS, as in production.
MODES = [
    pytest.param(("standalone", "uvloop", "plaintext"), id="standalone-uvloop"),
    pytest.param(("standalone", "uvloop", "mtls"), id="standalone-uvloop-mtls"),
    pytest.param(("standalone", "asyncio", "plaintext"), id="standalone-asyncio"),
    pytest.param(("cluster", "uvloop", "plaintext"), id="cluster-uvloop",
                 marks=pytest.mark.cluster),
]


@pytest.fixture(scope="session")
def gateway_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The integration tests' own server: other tests flush theirs between tests."""
    with RedisServer(tmp_path_factory.mktemp("gateway-redis")) as server:
        yield server


@pytest.fixture(scope="session", params=MODES)
def mode(request: pytest.FixtureRequest) -> tuple[str, str, str]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def backend(
    request: pytest.FixtureRequest, mode: tuple[str, str, str]
) -> Iterator[tuple[str, Client, bool]]:
    """(url, client, is_cluster) with the reference data loaded."""
    if mode[0] == "cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        client: Client = redis.RedisCluster.from_url(cluster.url)
        put_reference(client)
        yield cluster.url, client, True
    else:
        server: RedisServer = request.getfixturevalue("gateway_redis_server")
        client = redis.Redis.from_url(server.url)
        put_reference(client)
        yield server.url, client, False
    client.close()


@pytest.fixture(scope="session")
def client_certificates(tmp_path_factory: pytest.TempPathFactory) -> ClientCertificates:
    return ClientCertificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def gateway(request: pytest.FixtureRequest, backend: tuple[str, Client, bool],
            mode: tuple[str, str, str]) -> Iterator[GatewayThread]:
    url, _client, cluster = backend
    fields = dict(listen="127.0.0.1:0", redis_url=url, redis_cluster=cluster, access_log=False,
                  budgets_ms=RELAXED_BUDGETS_MS, inflight_max=256,
                  per_institution_inflight_max=256)
    if mode[2] == "mtls":
        config = request.getfixturevalue("client_certificates").config(**fields)
    else:
        config = Config(plaintext=True, **fields)  # type: ignore[arg-type]
    g = GatewayThread(config, loop=mode[1]).start()
    yield g
    g.stop()


@pytest.fixture(scope="session")
def channels(request: pytest.FixtureRequest, gateway: GatewayThread,
             mode: tuple[str, str, str]) -> Iterator[Callable[[str], grpc.Channel]]:
    """The channel an institution's calls go over: one shared channel in plain text,
    one per institution (with its certificate) under mutual TLS."""
    opened: dict[str, grpc.Channel] = {}
    certs: ClientCertificates | None = (
        request.getfixturevalue("client_certificates") if mode[2] == "mtls" else None
    )

    def channel_for(code: str) -> grpc.Channel:
        key = code if certs is not None else ""
        if key not in opened:
            ch = (certs.channel(gateway.address, code) if certs is not None
                  else grpc.insecure_channel(gateway.address))
            grpc.channel_ready_future(ch).result(timeout=30)
            opened[key] = ch
        return opened[key]

    yield channel_for
    for ch in opened.values():
        ch.close()


@pytest.fixture(scope="session")
def channel(channels: Callable[[str], grpc.Channel]) -> grpc.Channel:
    return channels(FALLBACK_INSTITUTION)


@pytest.fixture
def stub(channels: Callable[[str], grpc.Channel]) -> pb_grpc.ClaimGatewayStub:
    return InstitutionStub(channels)  # type: ignore[return-value]


@pytest.fixture
def r(backend: tuple[str, Client, bool]) -> Client:
    return backend[1]
