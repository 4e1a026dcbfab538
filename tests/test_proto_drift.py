"""The checked-in stubs must be exactly what `python proto/generate.py` makes of the .proto."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUBS = ["claims_pb2.py", "claims_pb2.pyi", "claims_pb2_grpc.py"]


def test_checked_in_stubs_match_the_proto(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "proto" / "generate.py"), "--out", str(tmp_path)],
                   check=True)
    for name in STUBS:
        built = (tmp_path / "claims" / "v1" / name).read_text()
        checked_in = (ROOT / "proto" / "claims" / "v1" / name).read_text()
        assert built == checked_in, f"{name} drifted from claims.proto: run `make proto`"


def test_every_domain_transaction_is_declared() -> None:
    from claims.v1 import claims_pb2

    methods = set(claims_pb2.DESCRIPTOR.services_by_name["ClaimGateway"].methods_by_name)
    assert methods == {
        "CheckEligibility", "PreSettle", "Settle", "ReverseSettlement", "CancelByRequest",
        "Admit", "Discharge", "UploadFeeDetails", "GetSettlement", "Reconcile",
        "ExportSettlements",
    }
