"""A real gateway (thread, uvloop) over its own private redis-server, loaded the way an
operator loads a bench: ``claimgate seed --members 0`` for the reference data, then the
bench population CSV through ``claimgate load members``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.population import write_members_csv
from gateway.cli import main as claimgate
from gateway.config import Config
from gateway.redis_server import RedisServer
from tests.integration.harness import GatewayThread

POPULATION = 400
SEED = 20260101


@dataclass(frozen=True)
class BenchTarget:
    address: str
    redis_url: str
    population: int
    seed: int


@pytest.fixture(scope="session")
def bench_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchTarget]:
    tmp = tmp_path_factory.mktemp("bench")
    with RedisServer(tmp / "redis") as server:
        assert claimgate(["seed", "--members", "0", "--redis-url", server.url]) == 0
        csv_path = Path(tmp) / "members.csv"
        write_members_csv(csv_path, POPULATION, SEED)
        assert claimgate(["load", "members", str(csv_path), "--redis-url", server.url]) == 0
        config = Config(listen="127.0.0.1:0", redis_url=server.url, plaintext=True)
        g = GatewayThread(config).start()
        try:
            yield BenchTarget(g.address, server.url, POPULATION, SEED)
        finally:
            g.stop()
