"""Going live during a benefit year: a member's state loaded from CSV files adjudicates the
next claim exactly as if the earlier claims had been settled on this gateway.

Two real gateways on two real redis-servers: claims A settle on gateway X; X's state of
the member is exported to the go-live CSV files; a fresh Redis behind gateway Y is loaded
from them with ``claimgate load``; then the same claims B settle on both gateways and
must give the same numbers, line reasons and balances.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
import redis

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.config import Config
from gateway.keys import MemberKeys
from gateway.load_members import write_members_csv
from gateway.load_state import export_member_state, write_state_csv
from gateway.loader import load_main
from gateway.record_codecs import member_from_profile
from gateway.redis_server import RedisServer
from gateway.store import Store
from gateway.validate import today
from rules_compiled.model import Assistance
from tests.integration.harness import (
    HOSPITAL,
    PHARMACY,
    RELAXED_BUDGETS_MS,
    GatewayThread,
    base_member,
    put_members,
    put_reference,
)

TODAY = today().isoformat()
# Claims A are of the day before: the settlements-per-day counter behind the HIGH_FREQUENCY
# warning is not part of the go-live state (it counts settlements on this gateway only).
YESTERDAY = (today() - dt.timedelta(days=1)).isoformat()


class Side:
    """One gateway with its own redis-server."""

    def __init__(self, tmp: Path) -> None:
        self.server = RedisServer(tmp)
        self.server.start()
        self.client = redis.Redis.from_url(self.server.url)
        put_reference(self.client)
        config = Config(listen="127.0.0.1:0", redis_url=self.server.url, plaintext=True,
                        access_log=False, budgets_ms=RELAXED_BUDGETS_MS)
        self.gateway = GatewayThread(config).start()
        self.channel = grpc.insecure_channel(self.gateway.address)
        self.stub = pb_grpc.ClaimGatewayStub(self.channel)

    def close(self) -> None:
        self.channel.close()
        self.gateway.stop()
        self.client.close()
        self.server.stop()


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Side, Side]]:
    x = Side(tmp_path_factory.mktemp("go-live-x"))
    try:
        y = Side(tmp_path_factory.mktemp("go-live-y"))
    except BaseException:
        x.close()
        raise
    yield x, y
    y.close()
    x.close()


_sn = iter(range(1, 10**6))


def _line(code: str, price_fen: int, qty: int = 1, days: int = 0, rx: str = "RX-A",
          on: str = TODAY) -> pb.FeeLine:
    return pb.FeeLine(feedetl_sn=next(_sn), item_code=code, unit_price_fen=price_fen,
                      quantity=qty, amount_fen=price_fen * qty, days_supply=days,
                      prescription_no=rx, service_date=on)


def _claim(rid: str, psn_no: str, card_no: str, setting: int, lines: list[pb.FeeLine],
           institution: str = HOSPITAL.code, on: str = TODAY) -> pb.SettleRequest:
    return pb.SettleRequest(
        request_id=rid, institution_code=institution, psn_no=psn_no, setting=setting,  # type: ignore[arg-type]
        card_no=card_no, service_date=on, use_account=True, lines=lines,
        diagnosis_code="J18.9",
    )


def _comparable(resp: pb.SettlementResponse) -> pb.SettlementResponse:
    """The response without what names this gateway's record (ids, time)."""
    out = pb.SettlementResponse()
    out.CopyFrom(resp)
    out.settlement_id = ""
    out.settled_at = ""
    out.request_id = ""
    return out


async def _export(url: str, psn_no: str, tmp: Path) -> dict[str, Path]:
    store = Store.from_url(url)
    try:
        keys = MemberKeys.of(psn_no)
        h = await store.client.hgetall(keys.member)
        member = member_from_profile(psn_no, h[b"p"], int(h[b"cur"]), int(h[b"pri"]))
        state = await export_member_state(store, psn_no)
    finally:
        await store.close()
    files = {kind: tmp / f"{kind}.csv" for kind in ("members", "accumulators", "fills", "charges")}
    write_members_csv(files["members"], [member])
    write_state_csv(files["accumulators"], "accumulators", state.accumulators)
    write_state_csv(files["fills"], "fills", state.fills)
    write_state_csv(files["charges"], "charges", state.charges)
    return files


def test_loaded_state_adjudicates_like_settled_claims(
    sides: tuple[Side, Side], tmp_path: Path
) -> None:
    x, y = sides
    # A DIBAO member, so that assistance accumulates too.
    m = replace(base_member(), assistance=Assistance.DIBAO, acct_current_fen=30_000,
                acct_prior_fen=80_000)
    put_members(x.client, [m])

    # Claims A, settled on gateway X: outpatient into the band, an inpatient stay past the
    # deductible, and a pharmacy fill with a days supply.
    y_ = YESTERDAY
    a_claims = [
        _claim("A-OUT-1", m.psn_no, m.card_no, pb.OUTPATIENT,
               [_line("T-A-DRUG", 120_000, on=y_), _line("T-B-MAT", 50_000, rx="RX-OUT", on=y_)],
               on=y_),
        _claim("A-INP-1", m.psn_no, m.card_no, pb.INPATIENT,
               [_line("T-SVC-CAP", 52_000, qty=3, on=y_),
                _line("T-A-DRUG", 90_000, rx="RX-INP", on=y_)], on=y_),
        _claim("A-PHA-1", m.psn_no, m.card_no, pb.PHARMACY,
               [_line("T-A-DRUG", 2_500, qty=2, days=5, rx="RX-PHA", on=y_)], PHARMACY.code,
               on=y_),
    ]
    for req in a_claims:
        resp = x.stub.Settle(req)
        assert resp.status == pb.SETTLED, resp
    files = asyncio.run(_export(x.server.url, m.psn_no, tmp_path))
    assert files["accumulators"].read_text().count("\n") == 2  # header and this year
    assert files["fills"].read_text().count("\n") == 2
    assert files["charges"].read_text().count("\n") == 1 + 5  # one per line of claims A

    # The go-live load on Y's fresh Redis, through the command line.
    for kind in ("members", "accumulators", "fills", "charges"):
        assert load_main([kind, str(files[kind]), "--redis-url", y.server.url]) == 0, kind

    # Claims B on both gateways: the same request, the same answer.
    b_claims = [
        _claim("B-OUT-1", m.psn_no, m.card_no, pb.OUTPATIENT,
               [_line("T-A-DRUG", 150_000, rx="RX-B1"), _line("T-C-DRUG", 3_000, rx="RX-B1")]),
        _claim("B-INP-1", m.psn_no, m.card_no, pb.INPATIENT,
               [_line("T-A-DRUG", 400_000, rx="RX-B2"), _line("T-B-DRUG", 80_000, rx="RX-B2")]),
        _claim("B-PHA-1", m.psn_no, m.card_no, pb.PHARMACY,
               [_line("T-A-DRUG", 2_500, qty=2, days=5, rx="RX-B3"),  # refill too soon
                replace_line(a_claims[2].lines[0]),  # the same charge again
                _line("T-B-DRUG", 1_000, rx="RX-B3")], PHARMACY.code),
    ]
    for req in b_claims:
        on_x, on_y = x.stub.Settle(req), y.stub.Settle(req)
        assert on_x.status == pb.SETTLED, on_x
        assert _comparable(on_x) == _comparable(on_y)
    # The claims B really met the loaded state: the band and deductible were partly used,
    # and the pharmacy lines were refused by the refill and duplicate checks.
    pharmacy = y.stub.GetSettlement(pb.GetSettlementRequest(
        institution_code=PHARMACY.code, psn_no=m.psn_no, request_id="B-PHA-1"))
    reasons = [list(ln.reasons) for ln in pharmacy.lines]
    assert "REFILL_TOO_SOON" in reasons[0] and "DUPLICATE_CHARGE" in reasons[1], reasons
    assert reasons[2] == []
    fresh = replace(base_member(), assistance=Assistance.DIBAO, acct_current_fen=30_000,
                    acct_prior_fen=80_000)
    put_members(y.client, [fresh])
    fresh_b = y.stub.PreSettle(replace_claim(b_claims[0], fresh.psn_no, fresh.card_no))
    assert fresh_b.amounts != on_x_amounts(x, m.psn_no, "B-OUT-1")


def replace_line(line: pb.FeeLine) -> pb.FeeLine:
    """The same charge (institution, item, date, prescription) under a new line number."""
    out = pb.FeeLine()
    out.CopyFrom(line)
    out.feedetl_sn = next(_sn)
    return out


def replace_claim(req: pb.SettleRequest, psn_no: str, card_no: str) -> pb.SettleRequest:
    out = pb.SettleRequest()
    out.CopyFrom(req)
    out.psn_no, out.card_no, out.request_id = psn_no, card_no, ""
    return out


def on_x_amounts(x: Side, psn_no: str, rid: str) -> pb.Amounts:
    return x.stub.GetSettlement(pb.GetSettlementRequest(
        institution_code=HOSPITAL.code, psn_no=psn_no, request_id=rid)).amounts
