"""Regenerate the Python stubs of the wire contract.

    python proto/generate.py            # writes next to the .proto files
    python proto/generate.py --out DIR  # writes under DIR (the drift test uses this)

The stubs are checked in so that a client (the bench suite, a vendor's POS
integration) needs only the runtime packages; ``tests/test_proto_drift.py``
fails when they no longer match the ``.proto``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
PROTOS = [PROTO_ROOT / "claims" / "v1" / "claims.proto"]


def generate(out_dir: Path) -> None:
    from grpc_tools import protoc  # dev dependency: grpcio-tools

    out_dir.mkdir(parents=True, exist_ok=True)
    for proto in PROTOS:
        args = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"--python_out={out_dir}",
            f"--pyi_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            str(proto.relative_to(PROTO_ROOT)),
        ]
        if protoc.main(args) != 0:
            raise SystemExit(f"protoc failed for {proto}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROTO_ROOT)
    generate(parser.parse_args(argv).out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
