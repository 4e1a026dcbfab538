"""The cost of ``--replica-ack``: pharmacy throughput with and without it, same run.

    python -m bench.replica_ack --members 2000 --clients 32 --duration 10 --rounds 3

Starts a Redis Cluster on loopback (3 masters, a replica each), loads the bench
population, serves two gateways on it (``--replica-ack 0`` and ``--replica-ack 1``, one
worker each) and alternates closed-loop ``bench run`` phases against them (A B A B ...,
so drift in the machine's load hits both alike). Prints each phase's throughput and the
ratio of the medians. On a shared machine the ratio is indicative only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.population import write_members_csv
from gateway.redis_cluster import RedisCluster


def _serve(url: str, port: int, ack: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--redis-url", url, "--redis-cluster",
             "--workers", "1", "--listen", f"127.0.0.1:{port}", "--plaintext",
             "--no-access-log", "--replica-ack", str(ack)],
            stdout=out, stderr=subprocess.STDOUT,
        )


def _wait_serving(address: str, limit_s: float = 120.0) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    end = time.monotonic() + limit_s
    with grpc.insecure_channel(address) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while time.monotonic() < end:
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status == 1:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    raise TimeoutError(f"{address} not SERVING")


def _phase(address: str, args: argparse.Namespace, out: Path) -> float:
    subprocess.run(
        [sys.executable, "-m", "bench", "run", "--target", address, "--mix", "pharmacy",
         "--population", "bench", "--members", str(args.members), "--procs", "1",
         "--cpus", "any", "--clients", str(args.clients), "--duration", str(args.duration),
         "--warmup", "1", "--no-verify", "--out", str(out)],
        check=False, stdout=subprocess.DEVNULL,
    )
    report = json.loads(next(out.glob("*.json")).read_text())
    return float(report["phases"][-1]["achieved_rps"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.replica_ack", description=__doc__)
    p.add_argument("--members", type=int, default=2000)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="replica-ack-"))
    with RedisCluster(tmp / "cluster", masters=3, replicas=1, appendfsync="everysec") as cl:
        env_cli = [sys.executable, "-m", "gateway.cli"]
        subprocess.run([*env_cli, "seed", "--members", "0", "--redis-url", cl.url,
                        "--redis-cluster"], check=True)
        csv_path = tmp / "members.csv"
        write_members_csv(csv_path, args.members, 20260101)
        subprocess.run([*env_cli, "load", "members", str(csv_path), "--redis-url", cl.url,
                        "--redis-cluster"], check=True)
        ports = {0: 50161, 1: 50162}
        procs = {ack: _serve(cl.url, port, ack, tmp / f"gw-{ack}.log")
                 for ack, port in ports.items()}
        try:
            for port in ports.values():
                _wait_serving(f"127.0.0.1:{port}")
            results: dict[int, list[float]] = {0: [], 1: []}
            for r in range(args.rounds):
                for ack, port in ports.items():
                    out = tmp / f"run-{r}-{ack}"
                    out.mkdir()
                    tput = _phase(f"127.0.0.1:{port}", args, out)
                    results[ack].append(tput)
                    print(f"round {r + 1} replica-ack {ack}: {tput:,.0f} settlements/s",
                          flush=True)
        finally:
            for proc in procs.values():
                proc.terminate()
                proc.wait(30)
    base, acked = statistics.median(results[0]), statistics.median(results[1])
    print(f"median: replica-ack 0 {base:,.0f}/s, replica-ack 1 {acked:,.0f}/s, "
          f"ratio {acked / base:.2f} (cpu count {os.cpu_count()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
