"""Exit 0 when the gateway at ADDRESS reports SERVING (container health checks, scripts).

    python -m gateway.healthcheck [127.0.0.1:50051] [--timeout-s 2]
    python -m gateway.healthcheck 127.0.0.1:50051 --ca ca.pem --cert ops.pem --key ops.key

With mutual TLS the check needs the CA that issued the server's certificate and
a client certificate of its own (``claimgate dev-certs`` makes ``clients/ops``);
``CLAIMGATE_HEALTH_CA``, ``CLAIMGATE_HEALTH_CERT`` and ``CLAIMGATE_HEALTH_KEY``
give them too.

It prints one line and exits with:

    0  SERVING          the gateway answered and serves (Redis reachable)
    1  NOT_SERVING      the gateway answered but does not serve (e.g. Redis down),
                        or refused the check (the status code follows)
    2                   bad arguments (argparse)
    3  UNREACHABLE      nothing answered: no listener, TLS handshake refused
                        (plain text against a TLS port, wrong CA), or no reply
                        within ``--timeout-s``
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

EXIT_SERVING = 0
EXIT_NOT_SERVING = 1
EXIT_UNREACHABLE = 3

# Status codes that mean the check never reached a gateway that could answer it.
_UNREACHABLE_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


@dataclass(frozen=True)
class Probe:
    """The outcome of one health check: the line to print and the exit code."""

    state: str  # SERVING, NOT_SERVING, UNREACHABLE
    detail: str = ""

    @property
    def exit_code(self) -> int:
        return {"SERVING": EXIT_SERVING, "UNREACHABLE": EXIT_UNREACHABLE}.get(
            self.state, EXIT_NOT_SERVING)

    def line(self) -> str:
        return f"{self.state}: {self.detail}" if self.detail else self.state


def _channel(address: str, ca: str, cert: str, key: str) -> grpc.Channel:
    if not ca:
        return grpc.insecure_channel(address)
    creds = grpc.ssl_channel_credentials(
        Path(ca).read_bytes(),
        Path(key).read_bytes() if key else None,
        Path(cert).read_bytes() if cert else None,
    )
    return grpc.secure_channel(address, creds)


def probe(address: str, timeout_s: float = 2.0, service: str = "", *, ca: str = "",
          cert: str = "", key: str = "") -> Probe:
    """Ask the health service at ``address``; tell "not serving" from "no answer"."""
    with _channel(address, ca, cert, key) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError as e:
            code = e.code()  # type: ignore[attr-defined]
            if code in _UNREACHABLE_CODES:
                return Probe("UNREACHABLE", f"could not connect to {address} "
                             f"({code.name}: {e.details()})")  # type: ignore[attr-defined]
            return Probe("NOT_SERVING", f"{code.name}: {e.details()}")  # type: ignore[attr-defined]
    if reply.status == health_pb2.HealthCheckResponse.SERVING:
        return Probe("SERVING")
    return Probe("NOT_SERVING",
                 "" if reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
                 else health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def check(address: str, timeout_s: float = 2.0, service: str = "", *, ca: str = "",
          cert: str = "", key: str = "") -> bool:
    """True when the gateway at ``address`` reports SERVING."""
    return probe(address, timeout_s, service, ca=ca, cert=cert, key=key).state == "SERVING"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                epilog="exit codes: 0 SERVING, 1 NOT_SERVING, 2 bad arguments, "
                                "3 UNREACHABLE (could not connect)")
    p.add_argument("address", nargs="?", default="127.0.0.1:50051")
    p.add_argument("--timeout-s", type=float, default=2.0)
    p.add_argument("--ca", default=os.environ.get("CLAIMGATE_HEALTH_CA", ""))
    p.add_argument("--cert", default=os.environ.get("CLAIMGATE_HEALTH_CERT", ""))
    p.add_argument("--key", default=os.environ.get("CLAIMGATE_HEALTH_KEY", ""))
    args = p.parse_args(argv)
    result = probe(args.address, args.timeout_s, ca=args.ca, cert=args.cert, key=args.key)
    print(result.line())
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
