"""``python -m gateway.healthcheck``: SERVING, NOT_SERVING and "nothing answers" are
three different lines and three different exit codes (0, 1, 3)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tests.integration.harness import free_port


def _healthcheck(address: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.healthcheck", address, "--timeout-s", "5"],
        capture_output=True, text=True, timeout=60, check=False,
    )


@pytest.fixture
def health_server() -> Iterator[tuple[str, health.HealthServicer]]:
    """A real gRPC server with only the standard health service."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", servicer
    server.stop(None)


def test_nothing_listening_is_unreachable_not_not_serving() -> None:
    address = f"127.0.0.1:{free_port()}"
    done = _healthcheck(address)
    assert done.returncode == 3, done
    assert done.stdout.startswith(f"UNREACHABLE: could not connect to {address}"), done.stdout
    assert "NOT_SERVING" not in done.stdout


def test_not_serving_and_serving(health_server: tuple[str, health.HealthServicer]) -> None:
    address, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    done = _healthcheck(address)
    assert (done.returncode, done.stdout.strip()) == (1, "NOT_SERVING")
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    done = _healthcheck(address)
    assert (done.returncode, done.stdout.strip()) == (0, "SERVING")
