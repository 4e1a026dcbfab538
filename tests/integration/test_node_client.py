"""An independent client: Node.js on @grpc/grpc-js and @grpc/proto-loader (tests/node),
int64 as strings, under mutual TLS with `claimgate dev-certs` certificates, drives the
main transactions against a real gateway; this side checks what it reports and what
the gateway then holds."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import redis
from prometheus_client import REGISTRY

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.config import Config
from gateway.devcerts import make_dev_certs
from gateway.redis_server import RedisServer
from tests.integration.harness import (
    HOSPITAL,
    PHARMACY,
    RELAXED_BUDGETS_MS,
    GatewayThread,
    base_member,
    put_members,
    put_reference,
)

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "node"
CST = dt.timezone(dt.timedelta(hours=8))  # the clearing day's time zone
CHECKS = {
    "reflection v1 lists the gateway", "eligibility", "pre-settle quotes", "settle",
    "fund total is the sum of the funds (int64 strings)", "settle replay",
    "get settlement by id", "get settlement by request id", "reconcile mismatch",
    "reconcile match", "reverse", "settle to cancel", "cancel reverses", "cancel tombstones",
    "late original refused", "invalid argument names the field",
    "another institution is refused", "admit", "upload fee details",
    "upload re-send is a no-op", "settle before discharge refused", "discharge",
    "inpatient settle",
}


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the Node.js client test needs it)")
    if not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.fail("tests/node has no node_modules: run `npm ci` in tests/node (.ci/run does)")
    return node


@pytest.fixture(scope="module")
def tls_setup(tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[GatewayThread, redis.Redis, Path]]:
    certs = tmp_path_factory.mktemp("node-certs")
    make_dev_certs(certs, [PHARMACY.code, HOSPITAL.code])
    with RedisServer(tmp_path_factory.mktemp("node-redis")) as server:
        r = redis.Redis.from_url(server.url)
        put_reference(r)
        cfg = Config(listen="127.0.0.1:0", redis_url=server.url, access_log=False,
                     budgets_ms=RELAXED_BUDGETS_MS, tls_cert=str(certs / "server.pem"),
                     tls_key=str(certs / "server.key"), tls_client_ca=str(certs / "ca.pem"))
        g = GatewayThread(cfg).start()
        yield g, r, certs
        g.stop()
        r.close()


def test_node_client_drives_the_transactions(
    tls_setup: tuple[GatewayThread, redis.Redis, Path], tmp_path: Path
) -> None:
    node = _node()
    g, r, certs = tls_setup
    pharmacy_member, hospital_member = base_member(), base_member()
    put_members(r, [pharmacy_member, hospital_member])
    today = dt.datetime.now(CST).date()
    clients = certs / "clients"
    config = {
        "address": f"localhost:{g.port}", "proto": str(ROOT / "proto/claims/v1/claims.proto"),
        "ca": str(certs / "ca.pem"),
        "certs": {"pharmacy": str(clients / f"{PHARMACY.code}.pem"),
                  "hospital": str(clients / f"{HOSPITAL.code}.pem")},
        "keys": {"pharmacy": str(clients / f"{PHARMACY.code}.key"),
                 "hospital": str(clients / f"{HOSPITAL.code}.key")},
        "institutions": {"pharmacy": PHARMACY.code, "hospital": HOSPITAL.code},
        "members": {
            "pharmacy": {"psn_no": pharmacy_member.psn_no, "card_no": pharmacy_member.card_no,
                         "acct_current_fen": pharmacy_member.acct_current_fen},
            "hospital": {"psn_no": hospital_member.psn_no, "card_no": hospital_member.card_no},
        },
        "items": {"drug": "T-A-DRUG", "material": "T-CAPPED"},
        "today": today.isoformat(),
        "admission_date": (today - dt.timedelta(days=5)).isoformat(),
        # The clearing day is the commit time in CST: a day either side covers midnight.
        "from_date": (today - dt.timedelta(days=1)).isoformat(),
        "to_date": (today + dt.timedelta(days=1)).isoformat(),
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    mismatches = ("claimgate_reconcile_mismatches_total", {"institution": PHARMACY.code})
    mismatches_before = REGISTRY.get_sample_value(*mismatches) or 0.0
    done = subprocess.run([node, str(NODE_DIR / "client.js"), str(tmp_path / "config.json")],
                          cwd=NODE_DIR, capture_output=True, text=True, timeout=300, check=False)
    lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    checks = {x["check"]: x for x in lines if "check" in x}
    failed = [x for x in checks.values() if not x["ok"]]
    assert not failed, json.dumps(failed, indent=1) + done.stderr[-2000:]
    assert set(checks) == CHECKS, done.stdout + done.stderr[-2000:]
    assert done.returncode == 0, done.stderr[-2000:]
    (summary,) = [x["summary"] for x in lines if "summary" in x]

    # What the Node client did is what the gateway holds, seen from a Python client.
    creds = grpc.ssl_channel_credentials(
        (certs / "ca.pem").read_bytes(), (clients / f"{PHARMACY.code}.key").read_bytes(),
        (clients / f"{PHARMACY.code}.pem").read_bytes())
    with grpc.secure_channel(f"localhost:{g.port}", creds) as ch:
        stub = pb_grpc.ClaimGatewayStub(ch)
        reversed_ = stub.GetSettlement(pb.GetSettlementRequest(
            institution_code=PHARMACY.code, settlement_id=summary["settlement_id"]), timeout=30)
        assert (reversed_.status, reversed_.reversal_id) == (pb.REVERSED, summary["reversal_id"])
        cancelled = stub.GetSettlement(pb.GetSettlementRequest(
            institution_code=PHARMACY.code, settlement_id=summary["cancelled_settlement_id"]),
            timeout=30)
        assert cancelled.status == pb.REVERSED
    assert summary["inpatient_settlement_id"].startswith("S")
    # One of the two Reconcile calls answered MISMATCH: the alerting counter saw it.
    assert (REGISTRY.get_sample_value(*mismatches) or 0.0) - mismatches_before == 1


def _secure_stub(g: GatewayThread, certs: Path, who: str) -> tuple[grpc.Channel,
                                                                   pb_grpc.ClaimGatewayStub]:
    clients = certs / "clients"
    creds = grpc.ssl_channel_credentials(
        (certs / "ca.pem").read_bytes(), (clients / f"{who}.key").read_bytes(),
        (clients / f"{who}.pem").read_bytes())
    ch = grpc.secure_channel(f"localhost:{g.port}", creds)
    return ch, pb_grpc.ClaimGatewayStub(ch)


def test_fee_detail_upload_under_mutual_tls_is_authorized_per_chunk(
    tls_setup: tuple[GatewayThread, redis.Redis, Path]
) -> None:
    """A client stream is authorized chunk by chunk: the hospital's own chunks are
    accepted, a chunk naming it from another institution's certificate is refused."""
    g, r, certs = tls_setup
    m = base_member()
    put_members(r, [m])
    today = dt.datetime.now(CST).date()
    ch, hospital = _secure_stub(g, certs, HOSPITAL.code)
    och, pharmacy = _secure_stub(g, certs, PHARMACY.code)
    with ch, och:
        ep = hospital.Admit(pb.AdmitRequest(
            request_id=f"{HOSPITAL.code}-tls-admit-{m.psn_no}", institution_code=HOSPITAL.code,
            psn_no=m.psn_no, card_no=m.card_no,
            admission_date=(today - dt.timedelta(days=2)).isoformat(), diagnosis_code="I21.0"),
            timeout=30)

        def chunk(request_id: str) -> pb.FeeDetailChunk:
            return pb.FeeDetailChunk(
                request_id=request_id, institution_code=HOSPITAL.code, psn_no=m.psn_no,
                episode_id=ep.episode_id, lines=[pb.FeeLine(
                    feedetl_sn=1, item_code="T-A-DRUG", unit_price_fen=500, quantity=2,
                    amount_fen=1000)])

        up = hospital.UploadFeeDetails(iter([chunk(f"{HOSPITAL.code}-tls-up-{m.psn_no}")]),
                                       timeout=30)
        assert (up.lines_added, up.episode_amount_fen) == (1, 1000)
        with pytest.raises(grpc.RpcError) as e:
            pharmacy.UploadFeeDetails(iter([chunk(f"{HOSPITAL.code}-tls-up2-{m.psn_no}")]),
                                      timeout=30)
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
