from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
import redis

from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.config import Config
from tests.integration.harness import GatewayThread, put_reference


@pytest.fixture(scope="session")
def gateway_redis(redis_server) -> Iterator[redis.Redis]:  # type: ignore[no-untyped-def]
    r = redis.Redis.from_url(redis_server.url)
    r.flushall()
    put_reference(r)
    yield r
    r.close()


@pytest.fixture(scope="session")
def gateway(redis_server, gateway_redis: redis.Redis) -> Iterator[GatewayThread]:  # type: ignore[no-untyped-def]
    g = GatewayThread(Config(listen="127.0.0.1:0", redis_url=redis_server.url)).start()
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
def r(gateway_redis: redis.Redis) -> redis.Redis:
    return gateway_redis
