"""The one private ``redis-server`` of a data directory.

:func:`private_redis` leaves the server's address and password in ``server.json``
(mode 0600) beside its data, and every command that needs Redis finds the running
server there instead of starting a second one on the same files. Every process using
the server holds a shared lock on ``server.users``; the last one to leave stops it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis

from gateway.redis_server import (
    _DIR_MODE,
    _FILE_MODE,
    LOOPBACK_HOST,
    AppendFsync,
    RedisServer,
    RedisServerError,
    _write_private,
)

__all__ = ["RECORD_FILE", "ServerRecord", "private_redis", "redact_url"]

log = logging.getLogger("claimgate")

RECORD_FILE = "server.json"  # address and password of the data directory's running server
_LOCK_FILE = "server.lock"  # held while deciding to start, reuse or stop the server
_USERS_FILE = "server.users"  # every process using the server holds a shared lock on it


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
