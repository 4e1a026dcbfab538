"""`claimgate serve --workers 2` as a real process tree: SO_REUSEPORT workers under a
supervisor, crash restart, graceful drain on SIGTERM, and /metrics scraped by a real
Prometheus server."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
import orjson
import pytest
import redis

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.redis_server import RedisServer
from tests.integration.harness import (
    base_member,
    free_port,
    put_members,
    put_reference,
    served_process,
    wait_for,
    worker_pids_from_log,
)
from tests.integration.test_serving import claim

_seq = itertools.count(1)


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    address: str
    metrics_port: int
    log: Path

    def worker_pids(self) -> list[int]:
        return worker_pids_from_log(self.log)

    def metric(self, name: str) -> float | None:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as f:
            for line in f.read().decode().splitlines():
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    return float(line.rsplit(" ", 1)[1])
        return None


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, redis.Redis]]:
    server = RedisServer(tmp_path / "redis").start()
    r = redis.Redis.from_url(server.url)
    put_reference(r)
    metrics_port = free_port()
    log = tmp_path / "gateway.log"
    try:
        with served_process(
            server.url, log, args=["--metrics-port", str(metrics_port), "--grace-s", "20"],
            budgets_ms="Settle=20000,CheckEligibility=20000",
        ) as (proc, address):
            yield Served(proc, address, metrics_port, log), r
    finally:
        r.close()
        server.stop()


def test_a_killed_worker_is_restarted_and_service_continues(
    served: tuple[Served, redis.Redis],
) -> None:
    s, r = served
    m = base_member()
    put_members(r, [m])
    victim = s.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: victim not in s.worker_pids() and len(s.worker_pids()) == 2,
             "a new worker")
    with grpc.insecure_channel(s.address) as ch:
        stub = pb_grpc.ClaimGatewayStub(ch)
        assert all(stub.Settle(claim(m)).status == pb.SETTLED for _ in range(4))
    assert s.process.poll() is None


def test_sigterm_drains_in_flight_requests(served: tuple[Served, redis.Redis]) -> None:
    s, r = served
    m = base_member()
    put_members(r, [m])
    with grpc.insecure_channel(s.address) as ch, ThreadPoolExecutor(1) as pool:
        stub = pb_grpc.ClaimGatewayStub(ch)
        stub.CheckEligibility(pb.EligibilityRequest(institution_code="P-TEST-01",
                                                    psn_no=m.psn_no))
        r.execute_command("CLIENT", "PAUSE", 3000, "WRITE")
        try:
            pending = pool.submit(stub.Settle, claim(m))
            wait_for(lambda: (s.metric("claimgate_inflight_requests") or 0) >= 1, "in flight")
            s.process.send_signal(signal.SIGTERM)
            time.sleep(0.2)  # let the workers stop accepting before the pause ends
        finally:
            r.execute_command("CLIENT", "UNPAUSE")
        assert pending.result(timeout=30).status == pb.SETTLED
    assert s.process.wait(30) == 0
    assert b"draining" in s.log.read_bytes()


def test_access_log_lines_come_from_every_worker(served: tuple[Served, redis.Redis]) -> None:
    s, r = served
    members = [base_member() for _ in range(8)]
    put_members(r, members)
    for m in members:  # a channel each: connections spread over the workers
        with grpc.insecure_channel(s.address) as ch:
            pb_grpc.ClaimGatewayStub(ch).Settle(claim(m))
    s.process.send_signal(signal.SIGTERM)
    s.process.wait(30)
    lines = [orjson.loads(x) for x in s.log.read_bytes().splitlines() if x.startswith(b"{")]
    settled = {x["psn_no"] for x in lines if x["method"] == "Settle" and x["status"] == "OK"}
    assert settled == {m.psn_no for m in members}


@pytest.mark.skipif(shutil.which("prometheus") is None and not os.environ.get("CI"),
                    reason="Debian's prometheus is not installed (.ci/run installs it)")
def test_prometheus_scrapes_the_gateway(served: tuple[Served, redis.Redis],
                                        tmp_path: Path) -> None:
    s, r = served
    m = base_member()
    put_members(r, [m])
    with grpc.insecure_channel(s.address) as ch:
        pb_grpc.ClaimGatewayStub(ch).Settle(claim(m))
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: claimgate\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{s.metrics_port}']}}]\n"
    )
    prom = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    query = urllib.parse.quote('sum(claimgate_requests_total{method="Settle",code="OK"})')

    def settled_in_prometheus() -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{prom_port}/api/v1/query?query={query}", timeout=2
            ) as f:
                result = orjson.loads(f.read())["data"]["result"]
        except OSError:
            return False
        return bool(result) and float(result[0]["value"][1]) >= 1

    try:
        wait_for(settled_in_prometheus, "the Settle count in Prometheus", 60)
    finally:
        prom.terminate()
        prom.wait(30)
