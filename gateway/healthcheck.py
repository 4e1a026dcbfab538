"""Exit 0 when the gateway at ADDRESS reports SERVING (container health checks, scripts).

    python -m gateway.healthcheck [127.0.0.1:50051] [--timeout-s 2]
    python -m gateway.healthcheck 127.0.0.1:50051 --ca ca.pem --cert ops.pem --key ops.key

With mutual TLS the check needs the CA that issued the server's certificate and
a client certificate of its own (``claimgate dev-certs`` makes ``clients/ops``);
``CLAIMGATE_HEALTH_CA``, ``CLAIMGATE_HEALTH_CERT`` and ``CLAIMGATE_HEALTH_KEY``
give them too.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def _channel(address: str, ca: str, cert: str, key: str) -> grpc.Channel:
    if not ca:
        return grpc.insecure_channel(address)
    creds = grpc.ssl_channel_credentials(
        Path(ca).read_bytes(),
        Path(key).read_bytes() if key else None,
        Path(cert).read_bytes() if cert else None,
    )
    return grpc.secure_channel(address, creds)


def check(address: str, timeout_s: float = 2.0, service: str = "", *, ca: str = "",
          cert: str = "", key: str = "") -> bool:
    with _channel(address, ca, cert, key) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("address", nargs="?", default="127.0.0.1:50051")
    p.add_argument("--timeout-s", type=float, default=2.0)
    p.add_argument("--ca", default=os.environ.get("CLAIMGATE_HEALTH_CA", ""))
    p.add_argument("--cert", default=os.environ.get("CLAIMGATE_HEALTH_CERT", ""))
    p.add_argument("--key", default=os.environ.get("CLAIMGATE_HEALTH_KEY", ""))
    args = p.parse_args(argv)
    ok = check(args.address, args.timeout_s, ca=args.ca, cert=args.cert, key=args.key)
    print("SERVING" if ok else "NOT_SERVING")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
