"""Pharmacy settlement end to end: real gateway, real gRPC channel, real redis-server.

Every expected number is worked out by hand in the test (amounts in fen).
"""

from __future__ import annotations

import datetime as dt
import itertools

import grpc
import pytest
import redis

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.domain import ChronicRegistration
from gateway.keys import MemberKeys
from rules_compiled.model import Assistance, CardStatus, PersonType, Scheme
from tests.integration.harness import PHARMACY, base_member, put_members, snapshot

SERVICE_DATE = "2026-06-15"
_req = itertools.count(1)


def request_id() -> str:
    # The platform's msgid shape: institution code + yyyyMMddHHmmss + sequence.
    return f"{PHARMACY.code}20260615093000{next(_req):06d}"


def line(sn: int, code: str, price_fen: int, qty: int, days: int = 0) -> pb.FeeLine:
    return pb.FeeLine(
        feedetl_sn=sn,
        item_code=code,
        unit_price_fen=price_fen,
        quantity=qty,
        amount_fen=price_fen * qty,
        days_supply=days,
        prescription_no="RX1",
    )


# The basket most tests use, priced by hand:
#   1 T-A-DRUG   2 x 12.50 = 25.00  class A            in scope 25.00
#   2 T-B-DRUG   1 x 40.00 = 40.00  class B, 10% first preselfpay 4.00, in scope 36.00
#   3 T-C-DRUG   1 x  8.00 =  8.00  class C            fulamt_ownpay 8.00
#   4 T-CAPPED   3 x  6.00 = 18.00  cap 5.00           overlmt (6-5)x3 = 3.00, in scope 15.00
#   5 T-COSMETIC 1 x 30.00          NON_MEDICAL at a pharmacy: REJECTED, not in the bill
# medfee 25 + 40 + 8 + 18 = 91.00 = 8.00 + 3.00 + 4.00 + 76.00
BASKET = [
    line(1, "T-A-DRUG", 1250, 2, days=3),
    line(2, "T-B-DRUG", 4000, 1, days=2),
    line(3, "T-C-DRUG", 800, 1),
    line(4, "T-CAPPED", 600, 3),
    line(5, "T-COSMETIC", 3000, 1),
]
MEDFEE = 9100


def settle_request(
    psn_no: str,
    card_no: str,
    *,
    use_account: bool = True,
    lines: list[pb.FeeLine] | None = None,
    rid: str | None = None,
) -> pb.SettleRequest:
    return pb.SettleRequest(
        request_id=rid or request_id(),
        institution_code=PHARMACY.code,
        psn_no=psn_no,
        setting=pb.PHARMACY,
        card_no=card_no,
        service_date=SERVICE_DATE,
        use_account=use_account,
        lines=BASKET if lines is None else lines,
        operator_id="op-7",
        terminal_id="pos-3",
    )


def balances(r: redis.Redis, psn_no: str) -> tuple[int, int]:
    cur, pri = r.hmget(MemberKeys.of(psn_no).member, "cur", "pri")
    return int(cur), int(pri)


def check_section8(resp: pb.SettlementResponse) -> None:
    a = resp.amounts
    kept = [ln for ln in resp.lines if ln.status != pb.REJECTED]
    assert a.medfee_sumamt_fen == sum(ln.amount_fen for ln in kept)
    assert a.medfee_sumamt_fen == (
        a.fulamt_ownpay_fen + a.overlmt_selfpay_fen + a.preselfpay_fen + a.inscp_scp_amt_fen
    )
    assert a.medfee_sumamt_fen == a.fund_pay_sumamt_fen + a.psn_part_amt_fen
    assert a.psn_part_amt_fen == a.acct_pay_fen + a.psn_cash_pay_fen
    assert a.acct_pay_fen == a.acct_current_pay_fen + a.acct_prior_pay_fen
    assert a.fund_pay_sumamt_fen == (
        a.hifp_pay_fen + a.supplementary_pay_fen + a.hifmi_pay_fen + a.maf_pay_fen
    )


def test_pharmacy_basket_paid_from_current_bucket(
    stub: pb_grpc.ClaimGatewayStub, r: redis.Redis
) -> None:
    m = base_member(acct_current_fen=50_000, acct_prior_fen=200_000)
    put_members(r, [m])
    resp = stub.Settle(settle_request(m.psn_no, m.card_no))
    check_section8(resp)
    assert resp.status == pb.SETTLED and not resp.replay
    assert resp.settlement_id.startswith(f"S{MemberKeys.of(m.psn_no).partition:04d}20260615")
    a = resp.amounts
    assert (
        a.medfee_sumamt_fen,
        a.fulamt_ownpay_fen,
        a.overlmt_selfpay_fen,
        a.preselfpay_fen,
        a.inscp_scp_amt_fen,
    ) == (MEDFEE, 800, 300, 400, 7600)
    assert a.fund_pay_sumamt_fen == 0  # pharmacies get no fund payment
    # The current-year bucket (500.00) covers the whole 91.00.
    assert (a.acct_current_pay_fen, a.acct_prior_pay_fen, a.psn_cash_pay_fen) == (9100, 0, 0)
    assert (resp.acct_current_balance_fen, resp.acct_prior_balance_fen) == (40_900, 200_000)
    assert balances(r, m.psn_no) == (40_900, 200_000)
    by_sn = {ln.feedetl_sn: ln for ln in resp.lines}
    assert by_sn[1].status == pb.PAID and by_sn[1].inscp_scp_amt_fen == 2500
    assert by_sn[2].preselfpay_fen == 400 and by_sn[2].inscp_scp_amt_fen == 3600
    assert by_sn[3].status == pb.SELF_PAY and by_sn[3].fulamt_ownpay_fen == 800
    assert by_sn[4].overlmt_selfpay_fen == 300 and "PRICE_OVER_CAP" in by_sn[4].reasons
    assert by_sn[5].status == pb.REJECTED and list(by_sn[5].reasons) == ["NON_MEDICAL"]
    assert resp.policy_version


def test_low_balance_spills_to_prior_then_cash(
    stub: pb_grpc.ClaimGatewayStub, r: redis.Redis
) -> None:
    # current 10.00 and prior 5.00 pay 15.00 of 91.00; cash pays 76.00.
    m = base_member(acct_current_fen=1_000, acct_prior_fen=500)
    put_members(r, [m])
    resp = stub.Settle(settle_request(m.psn_no, m.card_no))
    check_section8(resp)
    a = resp.amounts
    assert (a.acct_current_pay_fen, a.acct_prior_pay_fen, a.psn_cash_pay_fen) == (1000, 500, 7600)
    assert a.psn_part_amt_fen == MEDFEE
    assert balances(r, m.psn_no) == (0, 0)


def test_account_not_allowed_means_cash(stub: pb_grpc.ClaimGatewayStub, r: redis.Redis) -> None:
    m = base_member()
    put_members(r, [m])
    resp = stub.Settle(settle_request(m.psn_no, m.card_no, use_account=False))
    assert (resp.amounts.acct_pay_fen, resp.amounts.psn_cash_pay_fen) == (0, MEDFEE)
    assert balances(r, m.psn_no) == (50_000, 200_000)


def test_resident_has_no_account_and_pays_cash(
    stub: pb_grpc.ClaimGatewayStub, r: redis.Redis
) -> None:
    m = base_member(
        scheme=Scheme.RES,
        person_type=PersonType.ADULT,
        work_start_date=None,
        acct_current_fen=0,
        acct_prior_fen=0,
    )
    put_members(r, [m])
    resp = stub.Settle(settle_request(m.psn_no, m.card_no))
    check_section8(resp)
    assert (resp.amounts.fund_pay_sumamt_fen, resp.amounts.psn_cash_pay_fen) == (0, MEDFEE)


def test_presettle_quotes_the_same_numbers_and_writes_nothing(
    stub: pb_grpc.ClaimGatewayStub, r: redis.Redis
) -> None:
    m = base_member(acct_current_fen=5_000, acct_prior_fen=3_000)
    put_members(r, [m])
    before = snapshot(r)
    quote = stub.PreSettle(settle_request(m.psn_no, m.card_no))
    assert snapshot(r) == before
    assert quote.status == pb.QUOTED and not quote.settlement_id
    settled = stub.Settle(settle_request(m.psn_no, m.card_no))
    assert settled.amounts == quote.amounts
    assert list(settled.lines) == list(quote.lines)
    # 50.00 + 30.00 from the account, 11.00 in cash.
    assert (
        settled.amounts.acct_current_pay_fen,
        settled.amounts.acct_prior_pay_fen,
        settled.amounts.psn_cash_pay_fen,
    ) == (5_000, 3_000, 1_100)


def test_replay_returns_the_original_and_charges_once(
    stub: pb_grpc.ClaimGatewayStub, r: redis.Redis
) -> None:
    m = base_member()
    put_members(r, [m])
    req = settle_request(m.psn_no, m.card_no)
    first = stub.Settle(req)
    second = stub.Settle(req)
    assert not first.replay and second.replay
    assert second.settlement_id == first.settlement_id
    assert second.amounts == first.amounts
    assert balances(r, m.psn_no) == (50_000 - MEDFEE, 200_000)


def test_conflicting_replay_is_refused_and_changes_nothing(
    stub: pb_grpc.ClaimGatewayStub, r: redis.Redis
) -> None:
    m = base_member()
    put_members(r, [m])
    rid = request_id()
    stub.Settle(settle_request(m.psn_no, m.card_no, rid=rid))
    before = snapshot(r)
    other = settle_request(m.psn_no, m.card_no, rid=rid, lines=[line(1, "T-A-DRUG", 1250, 1)])
    with pytest.raises(grpc.RpcError) as e:
        stub.Settle(other)
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "request_id" in e.value.details()
    assert snapshot(r) == before


def test_lost_card_is_refused_with_a_reason(stub: pb_grpc.ClaimGatewayStub, r: redis.Redis) -> None:
    m = base_member(card_status=CardStatus.LOST)
    put_members(r, [m])
    before = snapshot(r)
    resp = stub.Settle(settle_request(m.psn_no, m.card_no))
    assert resp.status == pb.REFUSED and resp.refusal_reason == "CARD_INVALID"
    assert not resp.settlement_id
    assert snapshot(r) == before


def test_card_of_someone_else_is_refused(stub: pb_grpc.ClaimGatewayStub, r: redis.Redis) -> None:
    m = base_member()
    put_members(r, [m])
    resp = stub.Settle(settle_request(m.psn_no, "C99999999999"))
    assert resp.status == pb.REFUSED and resp.refusal_reason == "CARD_INVALID"


def test_unknown_member_is_not_found(stub: pb_grpc.ClaimGatewayStub, r: redis.Redis) -> None:
    before = snapshot(r)
    with pytest.raises(grpc.RpcError) as e:
        stub.Settle(settle_request("T9999999999999", "C00000000000"))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert "psn_no" in e.value.details()
    assert snapshot(r) == before


def test_unknown_institution_is_not_found(stub: pb_grpc.ClaimGatewayStub, r: redis.Redis) -> None:
    m = base_member()
    put_members(r, [m])
    req = settle_request(m.psn_no, m.card_no)
    req.institution_code = "P-NOBODY"
    with pytest.raises(grpc.RpcError) as e:
        stub.Settle(req)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert "institution_code" in e.value.details()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda q: q.lines[1].__setattr__("quantity", 0), "lines[1].quantity"),
        (lambda q: q.lines[0].__setattr__("amount_fen", 2499), "lines[0].amount_fen"),
        (lambda q: q.lines[2].__setattr__("unit_price_fen", -800), "lines[2].unit_price_fen"),
        (lambda q: q.lines[3].__setattr__("feedetl_sn", 1), "lines[3].feedetl_sn"),
        (lambda q: q.__setattr__("psn_no", ""), "psn_no"),
        (lambda q: q.__setattr__("institution_code", ""), "institution_code"),
        (lambda q: q.__setattr__("request_id", "x" * 65), "request_id"),
        (lambda q: q.__setattr__("service_date", "2026-02-30"), "service_date"),
        (lambda q: q.__setattr__("service_date", "1890-01-01"), "service_date"),
        (lambda q: q.__setattr__("setting", 9), "setting"),
        (lambda q: q.ClearField("lines"), "lines"),
    ],
)
def test_malformed_request_names_the_field_and_changes_nothing(
    stub: pb_grpc.ClaimGatewayStub,
    r: redis.Redis,
    mutate,
    field: str,  # type: ignore[no-untyped-def]
) -> None:
    m = base_member()
    put_members(r, [m])
    req = settle_request(m.psn_no, m.card_no)
    mutate(req)
    before = snapshot(r)
    with pytest.raises(grpc.RpcError) as e:
        stub.Settle(req)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details().startswith(field + ":"), e.value.details()
    assert snapshot(r) == before


def test_eligibility_reports_balances(stub: pb_grpc.ClaimGatewayStub, r: redis.Redis) -> None:
    m = base_member(acct_current_fen=12_345, acct_prior_fen=67_890)
    put_members(r, [m])
    resp = stub.CheckEligibility(
        pb.EligibilityRequest(
            institution_code=PHARMACY.code,
            psn_no=m.psn_no,
            card_no=m.card_no,
            service_date=SERVICE_DATE,
        )
    )
    assert resp.eligible and resp.refusal_reason == ""
    assert (resp.acct_current_balance_fen, resp.acct_prior_balance_fen) == (12_345, 67_890)
    assert resp.scheme == pb.EMP and resp.person_type == pb.ACTIVE
    assert resp.cohort == "A4"  # started work in 2003
    assert resp.benefit_year == 2026


@pytest.mark.parametrize("card", ["wrong", "none", "lost"])
def test_eligibility_without_the_members_valid_card_answers_only_the_refusal(
    stub: pb_grpc.ClaimGatewayStub, r: redis.Redis, card: str
) -> None:
    m = base_member(
        acct_current_fen=12_345, acct_prior_fen=67_890, assistance=Assistance.DIBAO,
        chronic=(ChronicRegistration("M01600", dt.date(2020, 1, 1), dt.date(2030, 1, 1)),),
        card_status=CardStatus.LOST if card == "lost" else CardStatus.ACTIVE,
    )
    put_members(r, [m])
    card_no = {"wrong": m.card_no[:-1] + "X", "none": "", "lost": m.card_no}[card]
    resp = stub.CheckEligibility(pb.EligibilityRequest(
        institution_code=PHARMACY.code, psn_no=m.psn_no, card_no=card_no,
        service_date=SERVICE_DATE))
    assert not resp.eligible and resp.refusal_reason == "CARD_INVALID"
    # Nothing about the person: every field but the member id, the refusal and the
    # policy version is at its default.
    shown = {f.name for f, _ in resp.ListFields()}
    assert shown <= {"psn_no", "eligible", "refusal_reason", "policy_version"}, shown
    # With the card, the same member's data is there.
    if card != "lost":
        full = stub.CheckEligibility(pb.EligibilityRequest(
            institution_code=PHARMACY.code, psn_no=m.psn_no, card_no=m.card_no,
            service_date=SERVICE_DATE))
        assert full.acct_current_balance_fen == 12_345
        assert [c.disease_code for c in full.chronic_registrations] == ["M01600"]
        assert full.assistance == pb.DIBAO


def test_service_date_in_the_future_is_refused(
    stub: pb_grpc.ClaimGatewayStub, r: redis.Redis
) -> None:
    m = base_member()
    put_members(r, [m])
    req = settle_request(m.psn_no, m.card_no)
    req.service_date = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    with pytest.raises(grpc.RpcError) as e:
        stub.Settle(req)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
