"""A real gateway per Redis mode: every integration test runs against a standalone
redis-server and against a real Redis Cluster, 3 masters with a replica each (``-m cluster``
selects the latter)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
import redis

from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.config import Config
from gateway.redis_server import RedisCluster, RedisServer
from tests.integration.harness import RELAXED_BUDGETS_MS, Client, GatewayThread, put_reference

# Redis mode x event loop: the plain asyncio loop checks the uvloop fast path's conformance.
MODES = [
    pytest.param(("standalone", "uvloop"), id="standalone-uvloop"),
    pytest.param(("standalone", "asyncio"), id="standalone-asyncio"),
    pytest.param(("cluster", "uvloop"), id="cluster-uvloop", marks=pytest.mark.cluster),
]


@pytest.fixture(scope="session")
def gateway_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The integration tests' own server: other tests flush theirs between tests."""
    with RedisServer(tmp_path_factory.mktemp("gateway-redis")) as server:
        yield server


@pytest.fixture(scope="session", params=MODES)
def mode(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def backend(
    request: pytest.FixtureRequest, mode: tuple[str, str]
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
def gateway(backend: tuple[str, Client, bool], mode: tuple[str, str]) -> Iterator[GatewayThread]:
    url, _client, cluster = backend
    config = Config(listen="127.0.0.1:0", redis_url=url, redis_cluster=cluster, plaintext=True,
                    access_log=False, budgets_ms=RELAXED_BUDGETS_MS, inflight_max=256,
                    per_institution_inflight_max=256)
    g = GatewayThread(config, loop=mode[1]).start()
    yield g
    g.stop()


@pytest.fixture(scope="session")
def channel(gateway: GatewayThread) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(gateway.address) as ch:
        grpc.channel_ready_future(ch).result(timeout=30)
        yield ch


@pytest.fixture
def stub(channel: grpc.Channel) -> pb_grpc.ClaimGatewayStub:
    return pb_grpc.ClaimGatewayStub(channel)


@pytest.fixture
def r(backend: tuple[str, Client, bool]) -> Client:
    return backend[1]
