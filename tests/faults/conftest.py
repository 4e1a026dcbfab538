"""Fault injection under bench load: a real `claimgate serve --workers 2` process tree over
its own redis-server (AOF, appendfsync always), loaded with the bench population.

One gateway per module: each fault test snapshots the balances it will check before its
own load, so the faults of earlier tests do not disturb later checks.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2
from redis import Redis

from bench.population import write_members_csv
from gateway.cli import main as claimgate
from gateway.redis_server import RedisServer
from tests.integration.harness import (
    health_status,
    served_process,
    wait_for,
    worker_pids_from_log,
)

POPULATION = 400
SEED = 20260101


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "faults: fault injection (worker kill, Redis restart/pause, client "
        "retries) under bench load, ending with the bench's reconciliation check",
    )


@dataclass
class Stack:
    redis: RedisServer
    process: subprocess.Popen[bytes]
    address: str
    log: Path

    def worker_pids(self) -> list[int]:
        return worker_pids_from_log(self.log)

    def client(self) -> Redis:
        return Redis.from_url(self.redis.url)

    def wait_serving(self, limit_s: float = 60.0) -> None:
        with grpc.insecure_channel(self.address) as ch:
            wait_for(lambda: health_status(ch) == health_pb2.HealthCheckResponse.SERVING,
                     "gateway SERVING", limit_s)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("faults")
    server = RedisServer(tmp / "redis", appendfsync="always").start()
    assert claimgate(["seed", "--members", "0", "--redis-url", server.url]) == 0
    csv_path = tmp / "members.csv"
    write_members_csv(csv_path, POPULATION, SEED)
    assert claimgate(["load", "members", str(csv_path), "--redis-url", server.url]) == 0
    log = tmp / "gateway.log"
    try:
        # The end-of-run check reads every member and settlement through the gateway,
        # 32 calls at a time: its reads get room; Settle keeps its 200 ms budget.
        with served_process(
            server.url, log, args=["--grace-s", "5"],
            budgets_ms="CheckEligibility=5000,GetSettlement=5000",
        ) as (proc, address):
            yield Stack(server, proc, address, log)
    finally:
        server.stop()
