"""The claim path to the letter of DOMAIN.md §5-§6, over gRPC against a real server:
the refill check on every line of a drug, benefits that start during an inpatient
stay, and a refused admission answered as a normal response."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.keys import MemberKeys
from rules_compiled.model import MemberStatus
from tests.integration.harness import HOSPITAL, PHARMACY, Client, base_member, put_members, snapshot

_seq = itertools.count(1)
TODAY = dt.date.today()


def rid(inst: str = PHARMACY.code) -> str:
    return f"{inst}{TODAY:%Y%m%d}130000{next(_seq):07d}"


def line(sn: int, code: str, price_fen: int, **kw: object) -> pb.FeeLine:
    return pb.FeeLine(feedetl_sn=sn, item_code=code, unit_price_fen=price_fen, quantity=1,
                      amount_fen=price_fen, **kw)  # type: ignore[arg-type]


def pharmacy(m, lines: list[pb.FeeLine]) -> pb.SettleRequest:  # type: ignore[no-untyped-def]
    return pb.SettleRequest(
        request_id=rid(), institution_code=PHARMACY.code, psn_no=m.psn_no, setting=pb.PHARMACY,
        card_no=m.card_no, service_date=TODAY.isoformat(), use_account=True, lines=lines)


def test_refill_check_applies_to_a_line_without_days_supply(
    stub: pb_grpc.ClaimGatewayStub, r: Client
) -> None:
    """§6: the refill check 'applies to every line of that drug, whether or not the new line
    states a days supply; only a line with a days supply records a new fill'. A 30-day fill
    today leaves 30 days: 30 x 5 > 30, so the same drug today is too soon, alone or not."""
    m = base_member()
    put_members(r, [m])
    first = stub.Settle(pharmacy(m, [line(1, "T-A-DRUG", 1_000, days_supply=30,
                                          prescription_no="RX-1")]))
    assert first.status == pb.SETTLED and first.lines[0].status == pb.PAID
    fills = MemberKeys.of(m.psn_no).fills
    assert r.hget(fills, "T-A-DRUG") == f"{(TODAY - dt.date(1970, 1, 1)).days}:30".encode()
    alone = stub.PreSettle(pharmacy(m, [line(1, "T-A-DRUG", 1_000, prescription_no="RX-2")]))
    assert [(x.status, list(x.reasons)) for x in alone.lines] == [
        (pb.REJECTED, ["REFILL_TOO_SOON"])]
    with_supply = stub.PreSettle(pharmacy(m, [
        line(1, "T-A-DRUG", 1_000, prescription_no="RX-2"),
        line(2, "T-A-DRUG", 1_000, days_supply=3, prescription_no="RX-2")]))
    assert [(x.status, list(x.reasons)) for x in with_supply.lines] == [
        (pb.REJECTED, ["REFILL_TOO_SOON"])] * 2
    # A line without a days supply records no fill.
    stub.Settle(pharmacy(m, [line(1, "T-B-DRUG", 1_000, prescription_no="RX-3")]))
    assert r.hget(fills, "T-B-DRUG") is None


def test_benefits_starting_during_an_inpatient_stay(
    stub: pb_grpc.ClaimGatewayStub, r: Client
) -> None:
    """§5 step 2: admission applies the gate except benefit start; the claim is gated on the
    discharge date; lines dated before the benefit start are fulamt_ownpay, NOT_YET_COVERED.
    EMP active (A4): line 1 (before the start) 1,000 self-paid; line 2 3,000 in scope:
    deductible 1,500, 85% x 1,500 = 1,275; prior-years bucket pays the personal share."""
    start = TODAY - dt.timedelta(days=5)
    m = base_member(benefit_start=start, acct_current_fen=0, acct_prior_fen=1_000_000)
    put_members(r, [m])
    ep = stub.Admit(pb.AdmitRequest(
        request_id=rid(HOSPITAL.code), institution_code=HOSPITAL.code, psn_no=m.psn_no,
        card_no=m.card_no, admission_date=(TODAY - dt.timedelta(days=10)).isoformat(),
        diagnosis_code="I21.0"))
    assert (ep.status, ep.refusal_reason) == ("OPEN", "") and ep.episode_id
    chunk = pb.FeeDetailChunk(
        request_id=rid(HOSPITAL.code), institution_code=HOSPITAL.code, psn_no=m.psn_no,
        episode_id=ep.episode_id,
        lines=[line(1, "T-A-DRUG", 100_000,
                    service_date=(start - dt.timedelta(days=1)).isoformat()),
               line(2, "T-A-DRUG", 300_000, service_date=start.isoformat())])
    stub.UploadFeeDetails(iter([chunk]))
    stub.Discharge(pb.DischargeRequest(
        request_id=rid(HOSPITAL.code), institution_code=HOSPITAL.code, psn_no=m.psn_no,
        episode_id=ep.episode_id, discharge_date=TODAY.isoformat()))
    s = stub.Settle(pb.SettleRequest(
        request_id=rid(HOSPITAL.code), institution_code=HOSPITAL.code, psn_no=m.psn_no,
        setting=pb.INPATIENT, card_no=m.card_no, service_date=TODAY.isoformat(),
        use_account=True, episode_id=ep.episode_id))
    assert s.status == pb.SETTLED
    assert [(x.status, list(x.reasons), x.fulamt_ownpay_fen, x.inscp_scp_amt_fen)
            for x in s.lines] == [(pb.SELF_PAY, ["NOT_YET_COVERED"], 100_000, 0),
                                  (pb.PAID, [], 0, 300_000)]
    a = s.amounts
    assert (a.medfee_sumamt_fen, a.fulamt_ownpay_fen, a.deductible_fen, a.hifp_pay_fen,
            a.acct_prior_pay_fen, a.psn_cash_pay_fen) == (400_000, 100_000, 150_000, 127_500,
                                                          272_500, 0)


@pytest.mark.parametrize(("change", "reason"), [
    ({"status": MemberStatus.SUSPENDED}, "MEMBER_SUSPENDED"),
    ({"card_no": "C-NOT-THIS-ONE"}, "CARD_INVALID"),
])
def test_refused_admission_is_a_normal_response(
    stub: pb_grpc.ClaimGatewayStub, r: Client, change: dict[str, object], reason: str
) -> None:
    """§5 step 2 and §7: 'a refused admission is a normal response with the reason code,
    like a refused claim'; it writes nothing."""
    m = base_member()
    stored = base_member(psn_no=m.psn_no, card_no=m.card_no,
                         status=change.get("status", MemberStatus.ACTIVE))
    put_members(r, [stored])
    before = snapshot(r)
    ep = stub.Admit(pb.AdmitRequest(
        request_id=rid(HOSPITAL.code), institution_code=HOSPITAL.code, psn_no=m.psn_no,
        card_no=str(change.get("card_no", m.card_no)),
        admission_date=TODAY.isoformat(), diagnosis_code="I21.0"))
    assert (ep.status, ep.refusal_reason, ep.episode_id) == ("REFUSED", reason, "")
    assert snapshot(r) == before


def test_inpatient_claim_is_gated_on_the_discharge_date(
    stub: pb_grpc.ClaimGatewayStub, r: Client
) -> None:
    """§5 step 2: 'For an inpatient claim the service date is the discharge date'. Benefits
    that start only after the discharge: the admission opens (no benefit-start gate), the
    claim is refused NOT_YET_COVERED."""
    m = base_member(benefit_start=TODAY + dt.timedelta(days=1))
    put_members(r, [m])
    ep = stub.Admit(pb.AdmitRequest(
        request_id=rid(HOSPITAL.code), institution_code=HOSPITAL.code, psn_no=m.psn_no,
        card_no=m.card_no, admission_date=(TODAY - dt.timedelta(days=3)).isoformat(),
        diagnosis_code="I21.0"))
    assert ep.status == "OPEN"
    stub.UploadFeeDetails(iter([pb.FeeDetailChunk(
        request_id=rid(HOSPITAL.code), institution_code=HOSPITAL.code, psn_no=m.psn_no,
        episode_id=ep.episode_id, lines=[line(1, "T-A-DRUG", 10_000)])]))
    stub.Discharge(pb.DischargeRequest(
        request_id=rid(HOSPITAL.code), institution_code=HOSPITAL.code, psn_no=m.psn_no,
        episode_id=ep.episode_id, discharge_date=TODAY.isoformat()))
    quote = stub.PreSettle(pb.SettleRequest(
        request_id=rid(HOSPITAL.code), institution_code=HOSPITAL.code, psn_no=m.psn_no,
        setting=pb.INPATIENT, card_no=m.card_no, service_date=TODAY.isoformat(),
        use_account=True, episode_id=ep.episode_id))
    assert (quote.status, quote.refusal_reason) == (pb.REFUSED, "NOT_YET_COVERED")
