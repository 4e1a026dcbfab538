"""Two gateway "hosts" behind haproxy (HTTP/2), one stopped mid-load.

Each gateway is its own ``claimgate serve`` process tree with its own port, data
directory and /metrics port; both use one Redis, the state they share. haproxy
(Debian's) proxies HTTP/2 to both and checks each one's health on its /metrics
endpoint (``claimgate_redis_up 1``). Clients settle through haproxy; one gateway is
stopped (SIGTERM) while they do; every request ends in a known outcome, and the money
check passes.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from bench.ledger import Ledger, balances_of, verify
from bench.population import psn_no_of, traits_of, write_members_csv
from bench.scenarios import UNKNOWN
from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.cli import main as claimgate
from gateway.redis_server import RedisServer
from tests.faults.test_failover import settle_request
from tests.integration.harness import free_port, health_status, served_process, wait_for

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed"),
]

POPULATION = 300
SEED = 20260101
CONCURRENCY = 8
STATE_LIMIT_S = 60.0
ATTEMPTS_MAX = 60
STEP = 40  # settlements before the stop, and after it

HAPROXY_CFG = """\
global
    maxconn 1000

defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch 1

frontend claims
    bind 127.0.0.1:{port} proto h2
    default_backend gateways

backend gateways
    balance roundrobin
    option httpchk GET /metrics
    http-check expect rstring claimgate_redis_up(\\{{[^}}]*\\}})?\\s+1
{servers}
"""
SERVER_LINE = ("    server {name} 127.0.0.1:{port} proto h2 check port {metrics} check-proto h1 "
               "inter 300ms fall 2 rise 1")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("lb")
    with RedisServer(tmp / "redis", appendfsync="always") as server:
        assert claimgate(["seed", "--members", "0", "--redis-url", server.url]) == 0
        csv_path = tmp / "members.csv"
        write_members_csv(csv_path, POPULATION, SEED)
        assert claimgate(["load", "members", str(csv_path), "--redis-url", server.url]) == 0
        yield server.url


def _access_lines(log: Path) -> int:
    return log.read_bytes().count(b'"method":"Settle"')


async def _load(address: str, stop_one: subprocess.Popen[bytes]) -> dict[str, object]:
    members = [i for i in range(POPULATION) if traits_of(i, SEED).eligible]
    inst = "P31010001"
    ledger = Ledger()
    seq = itertools.count()
    settled = 0
    after_stop = 0
    unknown = 0
    gave_up = 0
    refused: Counter[str] = Counter()
    stopped = asyncio.Event()
    stop = asyncio.Event()
    run = time.strftime("%H%M%S")
    async with grpc.aio.insecure_channel(address) as ch:
        stub = pb_grpc.ClaimGatewayStub(ch)
        before, failures = await balances_of(stub, [psn_no_of(i) for i in members])
        assert not failures, failures

        async def client() -> None:
            nonlocal settled, after_stop, unknown, gave_up
            while not stop.is_set():
                k = next(seq)
                rid = f"{inst}LB{run}{k:07d}"
                req = settle_request(members[k % len(members)], inst, rid)
                for attempt in range(ATTEMPTS_MAX):
                    try:
                        resp = await stub.Settle(req, timeout=2.0)
                    except grpc.aio.AioRpcError as e:
                        if e.code() in UNKNOWN:
                            unknown += 1
                            ledger.on_unknown_settle(rid, req.psn_no, inst)
                            await asyncio.sleep(min(0.02 * 2 ** attempt, 0.5))
                            continue
                        refused[e.code().name] += 1
                        break
                    if resp.status == pb.SETTLED:
                        ledger.on_settled(rid, inst, resp)
                        settled += 1
                        after_stop += stopped.is_set()
                    else:
                        refused[resp.refusal_reason] += 1
                    break
                else:
                    gave_up += 1

        async def until(pred: object, what: str) -> None:
            end = time.monotonic() + STATE_LIMIT_S
            while not pred():  # type: ignore[operator]
                assert time.monotonic() < end, f"timed out waiting for {what}"
                await asyncio.sleep(0.02)

        tasks = [asyncio.create_task(client()) for _ in range(CONCURRENCY)]
        try:
            await until(lambda: settled >= STEP, "settlements through haproxy")
            stop_one.send_signal(signal.SIGTERM)  # one "host" goes away mid-load
            await asyncio.to_thread(stop_one.wait, 60)
            stopped.set()
            await until(lambda: after_stop >= STEP, "settlements after one gateway stopped")
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        verdict = (await verify(stub, ledger, before)).to_json()
    return {"settled": settled, "after_stop": after_stop, "unknown": unknown,
            "gave_up": gave_up, "refused": dict(refused), "verdict": verdict["verdict"],
            "problems": verdict["problems"], "unknown_resolved": verdict["unknown_resolved"]}


def test_two_gateways_behind_haproxy_one_stopped_mid_load(
    redis_url: str, tmp_path: Path
) -> None:
    metrics = [free_port(), free_port()]
    logs = [tmp_path / "gw1.log", tmp_path / "gw2.log"]
    with served_process(redis_url, logs[0], workers=1, args=[
            "--metrics-port", str(metrics[0]), "--data-dir", str(tmp_path / "gw1")]) as (
            gw1, address1), served_process(redis_url, logs[1], workers=1, args=[
            "--metrics-port", str(metrics[1]), "--data-dir", str(tmp_path / "gw2")]) as (
            _gw2, address2):
        port = free_port()
        servers = "\n".join(
            SERVER_LINE.format(name=f"gw{n + 1}", port=a.rpartition(":")[2], metrics=m)
            for n, (a, m) in enumerate(zip((address1, address2), metrics, strict=True)))
        cfg = tmp_path / "haproxy.cfg"
        cfg.write_text(HAPROXY_CFG.format(port=port, servers=servers))
        check = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True)
        assert check.returncode == 0, check.stderr.decode() + check.stdout.decode()
        with (tmp_path / "haproxy.log").open("wb") as out:
            haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=out,
                                       stderr=subprocess.STDOUT)
        try:
            address = f"127.0.0.1:{port}"
            with grpc.insecure_channel(address) as ch:
                wait_for(lambda: health_status(ch) == health_pb2.HealthCheckResponse.SERVING,
                         "SERVING through haproxy", STATE_LIMIT_S)
            row = asyncio.run(_load(address, gw1))
        finally:
            haproxy.terminate()
            haproxy.wait(30)
        served = [_access_lines(log) for log in logs]
    print(f"\n[haproxy] settled={row['settled']} after_stop={row['after_stop']} "
          f"unknown={row['unknown']} unknown_resolved={row['unknown_resolved']} "
          f"gave_up={row['gave_up']} refused={row['refused']} served_by={served} "
          f"verdict={row['verdict']}")
    assert row["verdict"] == "PASS", row["problems"]
    assert row["gave_up"] == 0
    assert all(n > 0 for n in served), "haproxy did not spread the load over both gateways"
