"""Drive pharmacy Settle with h2load (Debian ``nghttp2-client``), a C HTTP/2 client.

The request body is a gRPC frame built once: a 5-byte prefix (0 = not
compressed, 4-byte big-endian length) and a serialized SettleRequest, sent with
``content-type: application/grpc`` and ``te: trailers``. h2load sends the same
body every time, so every request after the first carries the same request_id
and is an idempotent **replay** on the gateway (read the idempotency record,
return the stored response): it measures the replay path and the HTTP/2 + gRPC
framing, not adjudication. h2load counts HTTP statuses only; gRPC errors travel
in trailers with HTTP 200, so the first response is checked with a real client.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

from bench.population import card_no_of, psn_no_of
from claims.v1 import claims_pb2 as pb

H2LOAD_TIMEOUT_S = 600


def grpc_frame(message: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", len(message)) + message


def settle_body(index: int, tag: str) -> bytes:
    day = dt.date.today().isoformat()
    lines = [
        pb.FeeLine(feedetl_sn=1, item_code="D0001", unit_price_fen=1250, quantity=2,
                   amount_fen=2500, days_supply=3, service_date=day, prescription_no="RXH2"),
        pb.FeeLine(feedetl_sn=2, item_code="D0002", unit_price_fen=3680, quantity=1,
                   amount_fen=3680, days_supply=3, service_date=day, prescription_no="RXH2"),
        pb.FeeLine(feedetl_sn=3, item_code="D0019", unit_price_fen=1080, quantity=1,
                   amount_fen=1080, days_supply=3, service_date=day, prescription_no="RXH2"),
    ]
    req = pb.SettleRequest(
        request_id=f"P31010001H2{tag}", institution_code="P31010001", psn_no=psn_no_of(index),
        setting=pb.PHARMACY, card_no=card_no_of(index), service_date=day, use_account=True,
        lines=lines, operator_id="h2load", terminal_id="h2load",
    )
    return grpc_frame(req.SerializeToString())


def available() -> bool:
    return shutil.which("h2load") is not None


def parse(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    m = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", text)
    if m:
        out["seconds"], out["rps"] = float(m.group(1)), float(m.group(2))
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", text)
    if m:
        keys = ("total", "started", "done", "succeeded", "failed", "errored", "timeout")
        out["requests"] = dict(zip(keys, map(int, m.groups()), strict=True))
    m = re.search(r"time for request:\s+([\d.]+)(\w+)\s+([\d.]+)(\w+)\s+([\d.]+)(\w+)", text)
    if m:
        def ms(v: str, unit: str) -> float:
            return round(float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 3)

        out["min_ms"], out["max_ms"], out["mean_ms"] = (
            ms(m.group(1), m.group(2)), ms(m.group(3), m.group(4)), ms(m.group(5), m.group(6)))
    return out


def run(
    target: str, body_path: Path, *, requests: int, clients: int, streams: int,
    cpus: list[int] | None = None,
) -> dict[str, Any]:
    cmd = ["h2load", "-n", str(requests), "-c", str(clients), "-m", str(streams), "-t", "1",
           "-H", "content-type: application/grpc", "-H", "te: trailers",
           "-d", str(body_path), f"http://{target}/claims.v1.ClaimGateway/Settle"]
    if cpus and shutil.which("taskset"):
        cmd = ["taskset", "-c", ",".join(map(str, cpus)), *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=H2LOAD_TIMEOUT_S,
                          check=False)
    out = parse(done.stdout)
    out.update(command=" ".join(cmd), exit_code=done.returncode,
               clients=clients, streams_per_client=streams,
               raw=done.stdout[-2000:] + done.stderr[-500:])
    return out
