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
retries, ``ASK`` is followed once. A node that refuses or drops the connection
is a reason to refresh the map too, from the nodes that still answer: when a
master dies, the map follows its replica's promotion without a restart. A
command that was never sent is retried on the new owner; one that was sent to
a node that died has an unknown outcome and fails with ``ConnectionError``.
Replies are parsed by hiredis.

Replica acknowledgement: a write sent with ``replicas=N`` is followed on its
connection by ``WAIT N timeout``; every write of one event-loop iteration shares
one ``WAIT`` (as ``appendfsync always`` groups fsyncs), and its reply says how
many replicas hold everything written on that connection so far.

Health: :meth:`FastRedis.probe` pings, on connections of its own, every node the
claim path would send to (for a cluster, every master of the current slot map,
refreshed first), so it reports what the claim path can reach.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlparse

import hiredis
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

CONNECT_TIMEOUT_S = 0.25
REDIRECTS_MAX = 3
REFRESH_MIN_INTERVAL_S = 0.1  # slot-map refreshes after connection errors, at most this often
SLOTS_TIMEOUT_S = 0.5  # a node that does not answer CLUSTER SLOTS by then: ask the next one
PENDING_MAX = 100_000  # replies awaited on one connection (a bound, never reached in practice)


class NotSent(RedisConnectionError):
    """The command never left this process (no connection): safe to send elsewhere."""


def _retrieve(fut: asyncio.Future[Any]) -> None:
    """Mark a shared future's exception as seen (its awaiters may all have gone)."""
    if not fut.cancelled():
        fut.exception()


_pack_command = hiredis.pack_command
_BULK_HEADERS = tuple(b"$%d\r\n" % n for n in range(1024))  # of the common lengths


@dataclass(frozen=True, slots=True)
class Encoded:
    """Arguments already encoded: ``count`` RESP bulk strings, one after the other in
    ``resp``. A command's arguments may hold one in place of those ``count`` arguments
    (an episode's thousands of duplicate-charge keys, encoded column-wise by
    gateway/line_wire.py)."""

    count: int
    resp: bytes


# What hiredis's packer is given: it also takes floats, which are refused here (money
# is integer fen), and it refuses bool, numpy integers and Encoded blocks. It writes an
# int through repr(), and crashes the process where repr() raises (an int of more than
# 4,300 digits): the claim path's ints are amounts, counts, days and times-to-live,
# int64 by construction (the kernel's outputs are int64), and no request field reaches
# here as a Python int of its own size.
_PACKABLE = frozenset((str, bytes, int))


def _encode(args: Sequence[Any]) -> bytes:
    """One command in RESP: an array of bulk strings (a claim's commit has ~100 of them).
    Arguments that are all str, bytes or int go to hiredis's packer (C): for a commit's
    93 arguments, 12 µs against 16 for :func:`_encode_each`."""
    if _PACKABLE.issuperset(map(type, args)):
        return _pack_command(tuple(args))
    return _encode_each(args)


def _encode_each(args: Sequence[Any]) -> bytes:
    """:func:`_encode` for any arguments: each adds three parts to one join (header,
    bytes, CRLF), so no formatting copies the bytes, and the headers of short arguments
    are built once."""
    out = [b""]
    append = out.append
    headers = _BULK_HEADERS
    spliced = 0  # arguments in Encoded blocks, besides the block itself
    for a in args:
        t = type(a)
        if t is str:
            b = a.encode()
        elif t is bytes:
            b = a
        elif t is int:
            b = b"%d" % a
        elif t is Encoded:
            append(a.resp)
            spliced += a.count - 1
            continue
        elif isinstance(a, bytearray | memoryview):
            b = bytes(a)
        elif isinstance(a, numbers.Integral):  # bool, numpy integers
            b = b"%d" % int(a)
        else:
            raise TypeError(f"cannot send {type(a).__name__} to redis (money is integer fen)")
        n = len(b)
        append(headers[n] if n < 1024 else b"$%d\r\n" % n)
        append(b)
        append(b"\r\n")
    out[0] = b"*%d\r\n" % (len(args) + spliced)
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
        self.barrier: asyncio.Future[Any] | None = None  # the WAIT of this iteration's writes
        self.barrier_args: tuple[int, int] = (0, 0)

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
        if self.barrier is not None:  # requested, not yet written
            if not self.barrier.done():
                self.barrier.set_exception(self.lost)
            self.barrier = None

    @property
    def up(self) -> bool:
        """Connected, and not closing: a command sent now is written."""
        return self.transport is not None and not self.transport.is_closing()

    # commands
    def send(self, payload: bytes) -> asyncio.Future[Any]:
        if not self.up:
            raise NotSent(str(self.lost or "not connected"))
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

    def wait_replicas(self, replicas: int, timeout_ms: int) -> asyncio.Future[Any]:
        """The reply of a ``WAIT replicas timeout_ms`` sent after every command queued
        on this connection in this event-loop iteration (one WAIT for all of them).
        Await it through :func:`asyncio.shield`: it is shared."""
        if not self.up:
            raise NotSent(str(self.lost or "not connected"))
        if self.barrier is None:
            loop = asyncio.get_running_loop()
            self.barrier = loop.create_future()
            self.barrier.add_done_callback(_retrieve)
            self.barrier_args = (replicas, timeout_ms)
            if not self.flush_scheduled:
                self.flush_scheduled = True
                loop.call_soon(self._flush)
        return self.barrier

    def _flush(self) -> None:
        self.flush_scheduled = False
        if self.barrier is not None and self.transport is not None:
            self.out.append(_encode(["WAIT", *self.barrier_args]))
            self.pending.append(self.barrier)
            self.barrier = None
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

    def ready(self) -> _Connection | None:
        """The connection, when it is up."""
        c = self.conn
        return c if c is not None and c.up else None

    async def connection(self) -> _Connection:
        c = self.ready()
        if c is not None:
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
            raise NotSent(f"cannot connect to redis {self.host}:{self.port}: {e}") from None
        if self.password:
            await proto.send(_encode(["AUTH", self.password]))
        if self.db:
            await proto.send(_encode(["SELECT", self.db]))
        self.conn = proto
        return proto

    async def execute(self, payload: bytes) -> Any:
        conn = await self.connection()
        return await conn.send(payload)

    async def execute_acked(self, payload: bytes, replicas: int, timeout_ms: int
                            ) -> tuple[Any, int]:
        """The reply, and how many replicas acknowledged it (``WAIT``)."""
        conn = await self.connection()
        reply = conn.send(payload)
        barrier = conn.wait_replicas(replicas, timeout_ms)
        result = await reply
        return result, int(await asyncio.shield(barrier))

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
        self._db = 0 if cluster else db
        self._seed = _Node(u.hostname or "127.0.0.1", u.port or 6379, self._db, u.password)
        self._password = u.password
        self._nodes: dict[tuple[str, int], _Node] = {(self._seed.host, self._seed.port): self._seed}
        self._probes: dict[tuple[str, int], _Node] = {}  # health and slot-map connections
        self._slots: list[_Node] | None = None  # slot -> node (cluster)
        self._refreshing: asyncio.Future[None] | None = None
        self._refreshed_at = -1e9
        self._last_good: tuple[str, int] | None = None  # the node that answered CLUSTER SLOTS

    async def close(self) -> None:
        for node in [*self._nodes.values(), *self._probes.values()]:
            await node.close()

    # --- routing (cluster) ------------------------------------------------------
    def _node(self, host: str, port: int) -> _Node:
        node = self._nodes.get((host, port))
        if node is None:
            node = self._nodes[(host, port)] = _Node(host, port, 0, self._password)
        return node

    def _probe_node(self, host: str, port: int) -> _Node:
        node = self._probes.get((host, port))
        if node is None:
            node = self._probes[(host, port)] = _Node(host, port, self._db, self._password)
        return node

    async def _refresh_slots(self) -> None:
        if self._refreshing is None:
            self._refreshing = asyncio.ensure_future(self._load_slots())
            self._refreshing.add_done_callback(_retrieve)
        try:
            await asyncio.shield(self._refreshing)
        finally:
            if self._refreshing is not None and self._refreshing.done():
                self._refreshing = None

    async def _refresh_after_error(self) -> None:
        """A node did not answer: re-read the slot map (at most every 100 ms), so a
        promoted replica is found; errors leave the map as it was."""
        loop = asyncio.get_running_loop()
        if loop.time() - self._refreshed_at < REFRESH_MIN_INTERVAL_S:
            return
        self._refreshed_at = loop.time()
        with contextlib.suppress(RedisConnectionError, ResponseError):
            await self._refresh_slots()

    async def _load_slots(self) -> None:
        """The slot map from the first node that answers ``CLUSTER SLOTS`` (the last one
        that did first), asked on the probe connections, which never queue behind
        claims."""
        self._refreshed_at = asyncio.get_running_loop().time()
        last: Exception | None = None
        addresses = list(dict.fromkeys([
            *([self._last_good] if self._last_good else []),
            *self._nodes, *self._probes,
        ]))
        for address in addresses:
            asker = self._probe_node(*address)
            try:
                async with asyncio.timeout(SLOTS_TIMEOUT_S):
                    ranges = await asker.execute(_encode(["CLUSTER", "SLOTS"]))
            except (RedisConnectionError, ResponseError, TimeoutError) as e:
                last = e
                continue
            table: list[_Node] = [self._seed] * 16384
            for entry in ranges:
                start, end, master = int(entry[0]), int(entry[1]), entry[2]
                owner = self._node(master[0].decode() or asker.host, int(master[1]))
                for s in range(start, end + 1):
                    table[s] = owner
            self._slots = table
            self._last_good = address
            return
        raise RedisConnectionError(f"no cluster node answered CLUSTER SLOTS: {last}")

    def _known_node(self, key: str | bytes | None) -> _Node | None:
        """The node of ``key`` (any node when None), or None while the cluster's slot
        map is still to be read."""
        if key is None or not self.cluster:
            return self._seed
        if self._slots is None:
            return None
        return self._slots[key_slot(key.encode() if isinstance(key, str) else key)]

    async def _route(self, key: str | bytes) -> _Node:
        node = self._known_node(key)
        if node is None:
            await self._refresh_slots()
            node = self._known_node(key)
        assert node is not None
        return node

    # --- commands ---------------------------------------------------------------
    async def execute(self, args: Sequence[Any], *, key: str | bytes | None = None) -> Any:
        """Send one command to the node of ``key`` (any node when None)."""
        reply, _acks = await self._execute(_encode(args), key, None)
        return reply

    async def execute_acked(self, args: Sequence[Any], *, key: str | bytes, replicas: int,
                            timeout_ms: int) -> tuple[Any, int]:
        """Send one write to the node of ``key`` and ``WAIT`` for ``replicas``: the reply
        and the number of replicas that acknowledged it within ``timeout_ms``."""
        reply, acks = await self._execute(_encode(args), key, (replicas, timeout_ms))
        assert acks is not None
        return reply, acks

    async def _send(self, node: _Node, payload: bytes, wait: tuple[int, int] | None
                    ) -> tuple[Any, int | None]:
        if wait is None:
            return await node.execute(payload), None
        return await node.execute_acked(payload, *wait)

    async def _execute(self, payload: bytes, key: str | bytes | None,
                       wait: tuple[int, int] | None) -> tuple[Any, int | None]:
        node = self._known_node(key)
        if node is None:
            assert key is not None
            node = await self._route(key)
        for _ in range(REDIRECTS_MAX + 1):
            try:
                # A connected node and no replica wait (every claim's command, unless
                # --replica-ack asks for one): sent without the general case's coroutines.
                conn = node.ready() if wait is None else None
                if conn is not None:
                    return await conn.send(payload), None
                return await self._send(node, payload, wait)
            except RedisConnectionError as e:
                if not self.cluster or key is None:
                    raise
                await self._refresh_after_error()
                owner = await self._route(key)
                if isinstance(e, NotSent) and owner is not node:
                    node = owner  # never sent: the new owner gets it
                    continue
                raise
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
                    barrier = conn.wait_replicas(*wait) if wait is not None else None
                    await asking
                    result = await reply
                    if barrier is None:
                        return result, None
                    return result, int(await asyncio.shield(barrier))
                raise
        raise RedisConnectionError("too many cluster redirections")

    async def evalsha(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        reply, _acks = await self._evalsha(script, keys, args, None)
        return reply

    async def evalsha_acked(self, script: Script, keys: Sequence[str], args: Sequence[Any], *,
                            replicas: int, timeout_ms: int) -> tuple[Any, int]:
        """A script that writes, then ``WAIT`` (see :meth:`execute_acked`)."""
        reply, acks = await self._evalsha(script, keys, args, (replicas, timeout_ms))
        assert acks is not None
        return reply, acks

    async def _evalsha(self, script: Script, keys: Sequence[str], args: Sequence[Any],
                       wait: tuple[int, int] | None) -> tuple[Any, int | None]:
        payload = _encode(["EVALSHA", script.sha, len(keys), *keys, *args])
        try:
            return await self._execute(payload, keys[0], wait)
        except ResponseError as e:
            if not str(e).startswith("NOSCRIPT"):
                raise
        await self.execute(["SCRIPT", "LOAD", script.text], key=keys[0])
        return await self._execute(payload, keys[0], wait)

    async def hgetall(self, key: str) -> dict[bytes, bytes]:
        flat = await self.execute(["HGETALL", key], key=key)
        it = iter(flat)
        return dict(zip(it, it, strict=True))

    # --- health -----------------------------------------------------------------
    async def probe(self, timeout_s: float) -> dict[str, bool]:
        """Every node the claim path sends to (``host:port``), and whether it answered
        PING within ``timeout_s``. For a cluster the slot map
        is re-read first (from any node that answers), so a promoted replica counts
        and a dead master that still owns slots does not go unnoticed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        if self.cluster:
            with contextlib.suppress(RedisConnectionError, ResponseError, TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._refresh_slots()
            owners = list(dict.fromkeys(self._slots)) if self._slots else [self._seed]
        else:
            owners = [self._seed]

        async def ping(node: _Node) -> bool:
            try:
                async with asyncio.timeout(max(deadline - loop.time(), 0.001)):
                    reply = await self._probe_node(node.host, node.port).execute(
                        _encode(["PING"]))
            except (RedisConnectionError, ResponseError, TimeoutError):
                return False
            return reply in (b"PONG", "PONG")

        answers = await asyncio.gather(*(ping(node) for node in owners))
        return {f"{n.host}:{n.port}": ok for n, ok in zip(owners, answers, strict=True)}
