"""Operator commands against a running `claimgate serve` on its private Redis.

Everything runs as real processes: the gateway (`claimgate serve --data-dir D`, which
starts the data directory's redis-server), and `claimgate load`, `policy publish`,
`seed` and `journal export` with the same `--data-dir`. They must all reach the
gateway's Redis, found through `D/redis/server.json`, never a second server.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import redis
from grpc_health.v1 import health_pb2

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.demo_population import demo_population
from gateway.load_members import write_members_csv
from gateway.private_redis import RECORD_FILE, ServerRecord
from rules_compiled import REFERENCE_POLICY_PATH
from tests.integration.harness import free_port, health_status, wait_for

PHARMACY = "P31010001"
TODAY = dt.date.today()


def _env() -> dict[str, str]:
    """The environment without any CLAIMGATE_* setting: only the flags decide."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CLAIMGATE_")}


def claimgate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], env=_env(),
                          capture_output=True, text=True, timeout=120, check=False)


def redis_servers_in(directory: Path) -> list[int]:
    """Pids of the processes whose working directory is ``directory`` (a redis-server
    started by gateway.redis_server runs in its data directory)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if Path(os.readlink(entry / "cwd")) == directory:
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str, subprocess.Popen[bytes]]]:
    """(data dir, address, process) of `claimgate serve --seed-demo --members 0` on a
    private Redis in a fresh data directory."""
    data_dir = tmp_path / "data"
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--seed-demo", "--members", "0",
             "--plaintext", "--workers", "1", "--listen", f"127.0.0.1:{port}",
             "--data-dir", str(data_dir), "--appendfsync", "everysec"],
            stdout=out, stderr=subprocess.STDOUT, env=_env())
    address = f"127.0.0.1:{port}"
    try:
        with grpc.insecure_channel(address) as ch:
            wait_for(lambda: health_status(ch) == health_pb2.HealthCheckResponse.SERVING
                     or proc.poll() is not None, "gateway SERVING", 120)
        assert proc.poll() is None, log.read_text(errors="replace")
        yield data_dir, address, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _claim(psn_no: str, card_no: str, request_id: str) -> pb.SettleRequest:
    return pb.SettleRequest(
        request_id=request_id, institution_code=PHARMACY, psn_no=psn_no, card_no=card_no,
        setting=pb.PHARMACY, service_date=TODAY.isoformat(), use_account=True,
        lines=[pb.FeeLine(feedetl_sn=1, item_code="D0001", unit_price_fen=1250, quantity=2,
                          amount_fen=2500, days_supply=3, service_date=TODAY.isoformat(),
                          prescription_no=f"RX{request_id[-8:]}")])


def test_operator_commands_reach_the_running_gateway(
    served: tuple[Path, str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    data_dir, address, proc = served
    redis_dir = (data_dir / "redis").resolve()
    record = ServerRecord.read(redis_dir)
    assert record is not None and redis_servers_in(redis_dir) == [record.pid]
    assert stat.S_IMODE((redis_dir / RECORD_FILE).stat().st_mode) == 0o600

    member = next(iter(demo_population(1)))
    members_csv = tmp_path / "members.csv"
    write_members_csv(members_csv, [member])
    channel = grpc.insecure_channel(address)
    stub = pb_grpc.ClaimGatewayStub(channel)
    try:
        with pytest.raises(grpc.RpcError) as unknown:
            stub.CheckEligibility(pb.EligibilityRequest(
                institution_code=PHARMACY, psn_no=member.psn_no, card_no=member.card_no,
                service_date=TODAY.isoformat()))
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

        # A member loaded while the gateway runs can settle at once.
        loaded = claimgate("load", "members", str(members_csv), "--data-dir", str(data_dir))
        assert loaded.returncode == 0, loaded.stderr
        settled = stub.Settle(_claim(member.psn_no, member.card_no,
                                     f"{PHARMACY}{TODAY:%Y%m%d}0900000000001"))
        assert settled.status == pb.SETTLED
        assert settled.policy_version == "reference-2024.1"

        # A published policy is in use shortly after (each worker polls for it).
        policy = tmp_path / "next.toml"
        policy.write_text(REFERENCE_POLICY_PATH.read_text().replace(
            'version = "reference-2024.1"', 'version = "reference-2024.1-op"', 1))
        published = claimgate("policy", "publish", str(policy), "--data-dir", str(data_dir))
        assert published.returncode == 0, published.stderr
        quote = _claim(member.psn_no, member.card_no, f"{PHARMACY}{TODAY:%Y%m%d}0900000000002")
        wait_for(lambda: stub.PreSettle(quote).policy_version == "reference-2024.1-op",
                 "the published policy in use")

        # seed --if-empty sees the gateway's data; it does not seed a second server.
        seeded = claimgate("seed", "--if-empty", "--members", "0", "--data-dir", str(data_dir))
        assert seeded.returncode == 0, seeded.stderr
        assert "already present" in seeded.stderr

        # The audit journal comes from the same Redis.
        day = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date()
        exported = claimgate("journal", "export",
                             "--from", (day - dt.timedelta(days=1)).isoformat(),
                             "--to", day.isoformat(), "--out", str(tmp_path / "journal.csv"),
                             "--data-dir", str(data_dir))
        assert exported.returncode == 0, exported.stderr
        with (tmp_path / "journal.csv").open() as f:
            rows = list(csv.DictReader(f))
        assert [r["settlement_id"] for r in rows if r["type"] == "SETTLE"] == [
            settled.settlement_id]
    finally:
        channel.close()

    # Still the one server, still the gateway's, still password-protected.
    assert redis_servers_in(redis_dir) == [record.pid]
    assert ServerRecord.read(redis_dir) == record
    port = record.url.rsplit(":", 1)[1].split("/")[0]
    anonymous = redis.Redis(host="127.0.0.1", port=int(port), protocol=2)
    try:
        with pytest.raises(redis.exceptions.AuthenticationError):
            anonymous.config_get("dir")
    finally:
        anonymous.close()
    for path in [redis_dir, *redis_dir.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))

    # The gateway's stop stops its Redis too, and removes the record.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    wait_for(lambda: not redis_servers_in(redis_dir), "the private redis-server stopped")
    assert not (redis_dir / RECORD_FILE).exists()


@pytest.mark.parametrize("held, listen", [("127.0.0.1", "127.0.0.1"),
                                          ("127.0.0.1", "0.0.0.0")])
def test_serve_refuses_a_port_another_gateway_listens_on(tmp_path: Path, held: str,
                                                         listen: str) -> None:
    """A gateway's workers bind with SO_REUSEPORT; a second gateway on the same port
    (the README's TLS example while `make run` still serves, say) would share it and take
    some of its connections. It refuses to start instead, before it starts any Redis."""
    port = free_port()
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as other:  # like a gRPC worker
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind((f"::ffff:{held}", port))
        other.listen()
        done = claimgate("serve", "--listen", f"{listen}:{port}", "--plaintext",
                         "--data-dir", str(tmp_path / "data"), "--workers", "1")
    assert done.returncode == 2, done.stderr
    assert f"{listen}:{port} is in use" in done.stderr
    assert not (tmp_path / "data" / "redis" / RECORD_FILE).exists()
