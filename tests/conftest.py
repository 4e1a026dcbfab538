"""Shared fixtures: a real private redis-server and a real Redis Cluster (3 masters, a
replica each).

Tests talk to real Redis on loopback, never to a mock. The servers are started
once per test session (in a temporary directory) and stopped at its end.
Add new fixtures in their own clearly named functions below.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from gateway.redis_cluster import RedisCluster
from gateway.redis_server import RedisServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cluster: the test needs a Redis Cluster (3 masters with a replica each: "
        "the redis_cluster fixture, or a cluster of its own)"
    )


# --- Redis: standalone server ---------------------------------------------------------
@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One private redis-server (AOF on) for the whole session."""
    server = RedisServer(tmp_path_factory.mktemp("redis-server"))
    with server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the session's redis-server, emptied (FLUSHALL) before the test."""
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server.url


# --- Redis: cluster -------------------------------------------------------------------
@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A 3-master Redis Cluster with a replica per master for the whole session, in state
    ok. (Tests that kill nodes start a cluster of their own.)"""
    cluster = RedisCluster(tmp_path_factory.mktemp("redis-cluster"), masters=3, replicas=1)
    with cluster:
        yield cluster
