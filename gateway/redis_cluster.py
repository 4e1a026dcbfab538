"""A small Redis Cluster on loopback for the tests and the benches: N cluster-enabled
masters, each with its replicas, joined from Python the way ``redis-cli --cluster create``
does, every node a :class:`~gateway.redis_server.RedisServer`.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from types import TracebackType

import redis

from gateway.redis_server import AppendFsync, RedisServer, RedisServerError, find_redis_server

__all__ = ["CLUSTER_SLOTS", "RedisCluster"]

CLUSTER_SLOTS = 16384


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
