"""A lean, pipelined Redis client for the claim path (scripts and a few reads).

redis-py is used for everything else; on the claim path its per-command cost
(connection pool, retry wrapper, command packing, stream writer) was the largest
piece of the gateway's own CPU time. This client keeps one connection per Redis
node and matches replies to requests in order (RESP is FIFO), so:

- concurrent claims share round trips: the commands issued during one event-loop
  iteration go out in one write (the architecture's "pipelining");
- a caller that stops waiting (its budget ran out) leaves its slot in the queue,
  and the late reply is read and dropped, so the next reply still goes to the
  right caller;
- a lost connection fails every waiting caller with ``ConnectionError`` and the
  next command connects again (no restart needed when Redis comes back).

For a cluster, commands go to the node that owns the slot of their first key
(every key of one claim shares its slot); ``MOVED`` refreshes the slot map and
retries, ``ASK`` is followed once. Replies are parsed by hiredis.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import numbers
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import urlparse

import hiredis
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

CONNECT_TIMEOUT_S = 0.25
REDIRECTS_MAX = 3
PENDING_MAX = 100_000  # replies awaited on one connection (a bound, never reached in practice)


def _encode(args: Sequence[Any]) -> bytes:
    """One command in RESP: an array of bulk strings (a claim's commit has ~100 of them)."""
    out = [b"*%d\r\n" % len(args)]
    append = out.append
    for a in args:
        t = type(a)
        if t is bytes:
            append(b"$%d\r\n%b\r\n" % (len(a), a))
        elif t is str:
            b = a.encode()
            append(b"$%d\r\n%b\r\n" % (len(b), b))
        elif t is int:
            b = b"%d" % a
            append(b"$%d\r\n%b\r\n" % (len(b), b))
        elif isinstance(a, bytearray | memoryview):
            b = bytes(a)
            append(b"$%d\r\n%b\r\n" % (len(b), b))
        elif isinstance(a, numbers.Integral):  # bool, numpy integers
            b = b"%d" % int(a)
            append(b"$%d\r\n%b\r\n" % (len(b), b))
        else:
            raise TypeError(f"cannot send {type(a).__name__} to redis (money is integer fen)")
    return b"".join(out)


class _Connection(asyncio.Protocol):
    """One TCP connection to one node; FIFO futures for its replies."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader(replyError=ResponseError)
        self.pending: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.out: list[bytes] = []
        self.flush_scheduled = False
        self.lost: Exception | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        pending = self.pending
        while True:
            reply = self.reader.gets()
            if reply is False:
                return
            fut = pending.popleft()
            if not fut.done():  # a caller that gave up leaves a done (cancelled) future
                if isinstance(reply, ResponseError):
                    fut.set_exception(reply)
                else:
                    fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = RedisConnectionError(
            f"connection to redis {self.host}:{self.port} lost" + (f": {exc}" if exc else "")
        )
        self.transport = None
        if not self.closed.done():
            self.closed.set_result(None)
        while self.pending:
            fut = self.pending.popleft()
            if not fut.done():
                fut.set_exception(self.lost)

    # commands
    def send(self, payload: bytes) -> asyncio.Future[Any]:
        if self.transport is None or self.transport.is_closing():
            raise self.lost or RedisConnectionError("not connected")
        if len(self.pending) >= PENDING_MAX:
            raise RedisConnectionError("too many replies pending on one connection")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self.pending.append(fut)
        self.out.append(payload)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self.flush_scheduled = False
        if self.out and self.transport is not None:
            self.transport.write(b"".join(self.out))
        self.out.clear()

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        await self.closed


class _Node:
    """A node address with its (re)connecting connection."""

    def __init__(self, host: str, port: int, db: int = 0, password: str | None = None) -> None:
        self.host, self.port, self.db, self.password = host, port, db, password
        self.conn: _Connection | None = None
        self._connecting: asyncio.Future[_Connection] | None = None

    async def connection(self) -> _Connection:
        c = self.conn
        if c is not None and c.transport is not None and not c.transport.is_closing():
            return c
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
        try:
            return await asyncio.shield(self._connecting)
        finally:
            if self._connecting is not None and self._connecting.done():
                self._connecting = None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                _t, proto = await loop.create_connection(
                    lambda: _Connection(self.host, self.port), self.host, self.port
                )
        except (OSError, TimeoutError) as e:
            raise RedisConnectionError(f"cannot connect to redis {self.host}:{self.port}: {e}"
                                       ) from None
        if self.password:
            await proto.send(_encode(["AUTH", self.password]))
        if self.db:
            await proto.send(_encode(["SELECT", self.db]))
        self.conn = proto
        return proto

    async def execute(self, payload: bytes) -> Any:
        conn = await self.connection()
        return await conn.send(payload)

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None
        if self.conn is not None:
            conn, self.conn = self.conn, None
            await conn.close()


class Script:
    """A Lua script called by SHA1, loaded on a node when it answers NOSCRIPT."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()


class FastRedis:
    """Standalone server or Redis Cluster, chosen by ``cluster``."""

    def __init__(self, url: str, *, cluster: bool = False) -> None:
        u = urlparse(url)
        self.cluster = cluster
        db = int((u.path or "/0").lstrip("/") or 0)
        self._seed = _Node(u.hostname or "127.0.0.1", u.port or 6379, 0 if cluster else db,
                           u.password)
        self._password = u.password
        self._nodes: dict[tuple[str, int], _Node] = {(self._seed.host, self._seed.port): self._seed}
        self._slots: list[_Node] | None = None  # slot -> node (cluster)
        self._refreshing: asyncio.Future[None] | None = None

    async def close(self) -> None:
        for node in list(self._nodes.values()):
            await node.close()

    # --- routing (cluster) ------------------------------------------------------
    def _node(self, host: str, port: int) -> _Node:
        node = self._nodes.get((host, port))
        if node is None:
            node = self._nodes[(host, port)] = _Node(host, port, 0, self._password)
        return node

    async def _refresh_slots(self) -> None:
        if self._refreshing is None:
            self._refreshing = asyncio.ensure_future(self._load_slots())
        try:
            await asyncio.shield(self._refreshing)
        finally:
            if self._refreshing is not None and self._refreshing.done():
                self._refreshing = None

    async def _load_slots(self) -> None:
        last: Exception | None = None
        for node in [self._seed, *self._nodes.values()]:
            try:
                ranges = await node.execute(_encode(["CLUSTER", "SLOTS"]))
            except (RedisConnectionError, ResponseError) as e:
                last = e
                continue
            table: list[_Node] = [self._seed] * 16384
            for entry in ranges:
                start, end, master = int(entry[0]), int(entry[1]), entry[2]
                owner = self._node(master[0].decode() or node.host, int(master[1]))
                for s in range(start, end + 1):
                    table[s] = owner
            self._slots = table
            return
        raise RedisConnectionError(f"no cluster node answered CLUSTER SLOTS: {last}")

    async def _route(self, key: str | bytes) -> _Node:
        if not self.cluster:
            return self._seed
        if self._slots is None:
            await self._refresh_slots()
        assert self._slots is not None
        return self._slots[key_slot(key.encode() if isinstance(key, str) else key)]

    # --- commands ---------------------------------------------------------------
    async def execute(self, args: Sequence[Any], *, key: str | bytes | None = None) -> Any:
        """Send one command to the node of ``key`` (any node when None)."""
        payload = _encode(args)
        node = await self._route(key) if key is not None else self._seed
        for _ in range(REDIRECTS_MAX + 1):
            try:
                return await node.execute(payload)
            except ResponseError as e:
                message = str(e)
                if message.startswith("MOVED "):
                    await self._refresh_slots()
                    host, _, port = message.split()[2].rpartition(":")
                    node = self._node(host, int(port))
                    continue
                if message.startswith("ASK "):
                    host, _, port = message.split()[2].rpartition(":")
                    target = self._node(host, int(port))
                    conn = await target.connection()
                    asking = conn.send(_encode(["ASKING"]))
                    reply = conn.send(payload)
                    await asking
                    return await reply
                raise
        raise RedisConnectionError("too many cluster redirections")

    async def evalsha(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        cmd = ["EVALSHA", script.sha, len(keys), *keys, *args]
        try:
            return await self.execute(cmd, key=keys[0])
        except ResponseError as e:
            if not str(e).startswith("NOSCRIPT"):
                raise
        await self.execute(["SCRIPT", "LOAD", script.text], key=keys[0])
        return await self.execute(cmd, key=keys[0])

    async def hgetall(self, key: str) -> dict[bytes, bytes]:
        flat = await self.execute(["HGETALL", key], key=key)
        it = iter(flat)
        return dict(zip(it, it, strict=True))
