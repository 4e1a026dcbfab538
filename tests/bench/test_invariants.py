from __future__ import annotations

from bench import catalogue
from bench.echo_server import settlement_for
from bench.invariants import settlement_violations
from bench.population import card_no_of, psn_no_of
from claims.v1 import claims_pb2 as pb
from gateway import demo_catalogue, demo_population


def _req() -> pb.SettleRequest:
    return pb.SettleRequest(
        request_id="R1", institution_code="P31010001", psn_no="31010000000001",
        setting=pb.PHARMACY, service_date="2026-01-05", use_account=True,
        lines=[pb.FeeLine(feedetl_sn=1, item_code="D0001", unit_price_fen=1250, quantity=2,
                          amount_fen=2500)],
    )


def test_consistent_settlement_passes() -> None:
    assert settlement_violations(settlement_for(_req(), pb.SETTLED)) == []


def test_each_broken_identity_is_reported() -> None:
    resp = settlement_for(_req(), pb.SETTLED)
    resp.amounts.psn_cash_pay_fen -= 1
    assert any("psn_part_amt" in v for v in settlement_violations(resp))
    resp = settlement_for(_req(), pb.SETTLED)
    resp.amounts.hifp_pay_fen = 5
    assert any("fund_pay_sumamt" in v for v in settlement_violations(resp))
    resp = settlement_for(_req(), pb.SETTLED)
    resp.acct_prior_balance_fen = -1
    assert any("negative" in v for v in settlement_violations(resp))
    resp = settlement_for(_req(), pb.SETTLED)
    resp.lines[0].status = pb.REJECTED
    assert any("non-REJECTED" in v for v in settlement_violations(resp))


def test_bench_catalogue_and_ids_follow_the_demo_conventions() -> None:
    prices = demo_catalogue.demo_catalogue_prices()
    for code, price in catalogue.all_codes().items():
        assert prices[code] == price, code
    for i in (0, 1, 49, 99, 123_456):
        assert psn_no_of(i) == demo_population.psn_no_of(i)
        assert card_no_of(i) == demo_population.card_no_of(i)
