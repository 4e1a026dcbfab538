"""The settlement ledger over gRPC: reversal, cancel (冲正), episodes, query, reconcile,
concurrency. Runs against a standalone redis-server and a real Redis Cluster."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.cluster import key_slot

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.keys import MemberKeys, dup_key
from rules_compiled.model import PersonType, day_number
from tests.integration.harness import (
    HOSPITAL,
    OTHER_HOSPITAL,
    OTHER_PHARMACY,
    PHARMACY,
    Client,
    base_member,
    member_state,
    put_members,
    snapshot,
)

_seq = itertools.count(1)
TODAY = dt.date.today()


def rid(inst: str = PHARMACY.code) -> str:
    return f"{inst}{TODAY:%Y%m%d}120000{next(_seq):07d}"


def line(sn: int, code: str, price_fen: int, qty: int = 1, **kw: object) -> pb.FeeLine:
    return pb.FeeLine(feedetl_sn=sn, item_code=code, unit_price_fen=price_fen, quantity=qty,
                      amount_fen=price_fen * qty, **kw)  # type: ignore[arg-type]


def pharmacy_claim(m, lines: list[pb.FeeLine], *, inst: str = PHARMACY.code,  # type: ignore[no-untyped-def]
                   service_date: dt.date = TODAY) -> pb.SettleRequest:
    return pb.SettleRequest(
        request_id=rid(inst), institution_code=inst, psn_no=m.psn_no, setting=pb.PHARMACY,
        card_no=m.card_no, service_date=service_date.isoformat(), use_account=True,
        lines=lines,
    )


BASKET = [line(1, "T-A-DRUG", 1250, 2, prescription_no="RX-A"),
          line(2, "T-B-DRUG", 4000, 1, prescription_no="RX-A"),
          line(3, "T-C-DRUG", 800, 1, prescription_no="RX-A")]


def test_settle_then_reverse_restores_the_member_exactly(
    stub: pb_grpc.ClaimGatewayStub, r: Client
) -> None:
    m = base_member(acct_current_fen=3_000, acct_prior_fen=10_000)
    put_members(r, [m])
    before = member_state(r, m.psn_no)
    s = stub.Settle(pharmacy_claim(m, BASKET))
    assert s.status == pb.SETTLED and member_state(r, m.psn_no) != before
    rev = stub.ReverseSettlement(pb.ReverseRequest(
        request_id=rid(), institution_code=PHARMACY.code, psn_no=m.psn_no,
        settlement_id=s.settlement_id, operator_id="op-1"))
    assert not rev.replay and rev.reversal_id.startswith("R")
    assert rev.reversed_amounts == s.amounts
    assert (rev.acct_current_balance_fen, rev.acct_prior_balance_fen) == (3_000, 10_000)
    assert member_state(r, m.psn_no) == before
    got = stub.GetSettlement(pb.GetSettlementRequest(institution_code=PHARMACY.code,
                                                     settlement_id=s.settlement_id))
    assert got.status == pb.REVERSED and got.reversal_id == rev.reversal_id
    assert got.amounts == s.amounts


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    current=st.integers(0, 20_000),
    prior=st.integers(0, 20_000),
    basket=st.lists(
        st.tuples(st.sampled_from(["T-A-DRUG", "T-B-DRUG", "T-C-DRUG", "T-CAPPED",
                                   "T-COSMETIC", "NOT-LISTED"]),
                  st.integers(1, 9_000), st.integers(1, 4)),
        min_size=1, max_size=6),
    use_account=st.booleans(),
)
def test_reverse_restores_state_property(
    stub: pb_grpc.ClaimGatewayStub, r: Client, current: int, prior: int,
    basket: list[tuple[str, int, int]], use_account: bool,
) -> None:
    m = base_member(acct_current_fen=current, acct_prior_fen=prior)
    put_members(r, [m])
    before = member_state(r, m.psn_no)
    lines = [line(i + 1, code, price, qty, prescription_no="RX-P")
             for i, (code, price, qty) in enumerate(basket)]
    req = pharmacy_claim(m, lines)
    req.use_account = use_account
    s = stub.Settle(req)
    a = s.amounts
    assert a.medfee_sumamt_fen == a.fund_pay_sumamt_fen + a.acct_pay_fen + a.psn_cash_pay_fen
    assert (s.acct_current_balance_fen, s.acct_prior_balance_fen) == (
        current - a.acct_current_pay_fen, prior - a.acct_prior_pay_fen)
    assert min(s.acct_current_balance_fen, s.acct_prior_balance_fen) >= 0
    stub.ReverseSettlement(pb.ReverseRequest(
        request_id=rid(), institution_code=PHARMACY.code, psn_no=m.psn_no,
        settlement_id=s.settlement_id))
    assert member_state(r, m.psn_no) == before


def test_reversing_twice_returns_the_first_reversal(stub: pb_grpc.ClaimGatewayStub,
                                                   r: Client) -> None:
    m = base_member()
    put_members(r, [m])
    s = stub.Settle(pharmacy_claim(m, BASKET))
    req = pb.ReverseRequest(request_id=rid(), institution_code=PHARMACY.code, psn_no=m.psn_no,
                            settlement_id=s.settlement_id)
    first = stub.ReverseSettlement(req)
    again_same_id = stub.ReverseSettlement(req)
    req2 = pb.ReverseRequest(request_id=rid(), institution_code=PHARMACY.code,
                             psn_no=m.psn_no, settlement_id=s.settlement_id)
    again_new_id = stub.ReverseSettlement(req2)
    assert again_same_id.replay and again_new_id.replay
    assert first.reversal_id == again_same_id.reversal_id == again_new_id.reversal_id
    assert r.hget(MemberKeys.of(m.psn_no).member, "cur") == b"50000"


def _refusal(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as e:
        call()
    return e.value.code(), e.value.details()


def test_another_institutions_settlement_answers_as_an_unknown_one(
    stub: pb_grpc.ClaimGatewayStub, r: Client
) -> None:
    m = base_member()
    put_members(r, [m])
    s = stub.Settle(pharmacy_claim(m, BASKET))
    # An id of the same member partition and day that was never issued.
    unknown = s.settlement_id[:13] + "0" * (len(s.settlement_id) - 13)
    before = snapshot(r)
    answers: dict[str, list[tuple[grpc.StatusCode, str]]] = {}
    for sid in (s.settlement_id, unknown):
        answers[sid] = [
            _refusal(lambda sid=sid: stub.ReverseSettlement(pb.ReverseRequest(  # type: ignore[misc]
                request_id=rid(OTHER_PHARMACY.code), institution_code=OTHER_PHARMACY.code,
                psn_no=m.psn_no, settlement_id=sid))),
            _refusal(lambda sid=sid: stub.GetSettlement(pb.GetSettlementRequest(  # type: ignore[misc]
                institution_code=OTHER_PHARMACY.code, settlement_id=sid))),
        ]
    for code, _ in answers[s.settlement_id]:
        assert code == grpc.StatusCode.NOT_FOUND
    known = [(c, d.replace(s.settlement_id, "<id>")) for c, d in answers[s.settlement_id]]
    assert known == [(c, d.replace(unknown, "<id>")) for c, d in answers[unknown]]
    assert snapshot(r) == before


def test_settlement_ids_are_not_guessable_from_one_another(
    stub: pb_grpc.ClaimGatewayStub, r: Client
) -> None:
    m = base_member(acct_current_fen=10_000_000)
    put_members(r, [m])
    ids = [stub.Settle(pharmacy_claim(m, [line(1, "T-A-DRUG", 100, prescription_no=f"RX-G{i}")]))
           .settlement_id for i in range(2)]
    p = f"S{MemberKeys.of(m.psn_no).partition:04d}"
    assert all(i.startswith(p) for i in ids)  # the partition stays readable
    tails = [int(i[-16:], 16) for i in ids]
    # 64 random bits each: two ids of one process differ in many bits, not by a counter.
    assert bin(tails[0] ^ tails[1]).count("1") > 8


def test_reversal_outside_the_window_is_refused(stub: pb_grpc.ClaimGatewayStub,
                                               r: Client) -> None:
    m = base_member()
    put_members(r, [m])
    s = stub.Settle(pharmacy_claim(m, BASKET))
    # Move the settlement's clearing day back 91 days, as if it were settled then.
    key = MemberKeys.of(m.psn_no).settlement(s.settlement_id)
    r.hincrby(key, "sday", -91)
    with pytest.raises(grpc.RpcError) as e:
        stub.ReverseSettlement(pb.ReverseRequest(
            request_id=rid(), institution_code=PHARMACY.code, psn_no=m.psn_no,
            settlement_id=s.settlement_id))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "window" in e.value.details()


def test_get_settlement_by_request_id(stub: pb_grpc.ClaimGatewayStub, r: Client) -> None:
    m = base_member()
    put_members(r, [m])
    req = pharmacy_claim(m, BASKET)
    s = stub.Settle(req)
    got = stub.GetSettlement(pb.GetSettlementRequest(
        institution_code=PHARMACY.code, psn_no=m.psn_no, request_id=req.request_id))
    assert got.settlement_id == s.settlement_id and got.amounts == s.amounts
    with pytest.raises(grpc.RpcError) as e:
        stub.GetSettlement(pb.GetSettlementRequest(
            institution_code=PHARMACY.code, psn_no=m.psn_no, request_id=rid()))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_cancel_of_a_settled_request_reverses_it(stub: pb_grpc.ClaimGatewayStub,
                                                r: Client) -> None:
    m = base_member()
    put_members(r, [m])
    before = member_state(r, m.psn_no)
    req = pharmacy_claim(m, BASKET)
    s = stub.Settle(req)
    cancel = pb.CancelRequest(request_id=rid(), institution_code=PHARMACY.code,
                              psn_no=m.psn_no, original_request_id=req.request_id)
    c = stub.CancelByRequest(cancel)
    assert c.outcome == pb.CancelResponse.REVERSED and c.settlement_id == s.settlement_id
    assert member_state(r, m.psn_no) == before
    again = stub.CancelByRequest(cancel)
    assert again.replay and again.reversal_id == c.reversal_id


def test_cancel_before_the_original_leaves_a_tombstone(stub: pb_grpc.ClaimGatewayStub,
                                                      r: Client) -> None:
    m = base_member()
    put_members(r, [m])
    req = pharmacy_claim(m, BASKET)
    c = stub.CancelByRequest(pb.CancelRequest(
        request_id=rid(), institution_code=PHARMACY.code, psn_no=m.psn_no,
        original_request_id=req.request_id))
    assert c.outcome == pb.CancelResponse.TOMBSTONED
    before = snapshot(r)
    with pytest.raises(grpc.RpcError) as e:
        stub.Settle(req)  # the original, arriving late
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert snapshot(r) == before


def test_request_ids_belong_to_the_institution_that_sends_them(
    stub: pb_grpc.ClaimGatewayStub, r: Client
) -> None:
    """Another institution cannot cancel, replay or probe a request id: its cancel of
    an id acts on its own id space only, sent first or after the original."""
    m = base_member()
    put_members(r, [m])
    early = pharmacy_claim(m, BASKET)
    # Cancelled by another pharmacy before the original is sent: the original still settles.
    other = stub.CancelByRequest(pb.CancelRequest(
        request_id=rid(OTHER_PHARMACY.code), institution_code=OTHER_PHARMACY.code,
        psn_no=m.psn_no, original_request_id=early.request_id))
    assert other.outcome == pb.CancelResponse.TOMBSTONED
    settled = stub.Settle(early)
    assert settled.status == pb.SETTLED and not settled.replay
    # Cancelled by another pharmacy after it settled: the same answer as for an unused
    # id, and the settlement stays.
    again = stub.CancelByRequest(pb.CancelRequest(
        request_id=rid(OTHER_PHARMACY.code), institution_code=OTHER_PHARMACY.code,
        psn_no=m.psn_no, original_request_id=early.request_id))
    assert again.outcome == other.outcome and not again.replay
    got = stub.GetSettlement(pb.GetSettlementRequest(institution_code=PHARMACY.code,
                                                     settlement_id=settled.settlement_id))
    assert got.status == pb.SETTLED
    # The same id with the same content from the other pharmacy is its own new claim.
    with pytest.raises(grpc.RpcError) as e:
        stub.GetSettlement(pb.GetSettlementRequest(
            institution_code=OTHER_PHARMACY.code, psn_no=m.psn_no,
            request_id=early.request_id))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_duplicate_charge_under_a_new_request_id_is_refused_per_line(
    stub: pb_grpc.ClaimGatewayStub, r: Client
) -> None:
    m = base_member()
    put_members(r, [m])
    stub.Settle(pharmacy_claim(m, BASKET))
    second = stub.Settle(pharmacy_claim(m, BASKET))
    assert [ln.status for ln in second.lines] == [pb.REJECTED] * 3
    assert all("DUPLICATE_CHARGE" in ln.reasons for ln in second.lines)
    assert second.amounts.medfee_sumamt_fen == 0


def test_a_large_episode_finds_the_duplicate_charges_of_an_earlier_one(
        stub: pb_grpc.ClaimGatewayStub, r: Client) -> None:
    """An episode's stored lines are read column-wise (more than 64 lines): the
    duplicate-charge keys it writes are keys.dup_key's, line dates included, and a
    later episode's lines are checked against them."""
    m = base_member()
    put_members(r, [m])
    codes = ["T-A-DRUG", "T-B-MAT", "T-C-DRUG", "T-SVC-CAP"]
    dates = ["", (TODAY - dt.timedelta(days=1)).isoformat(),
             (TODAY - dt.timedelta(days=2)).isoformat()]

    def lines(rx: str) -> list[pb.FeeLine]:
        return [line(sn, codes[sn % 4], 1_000, service_date=dates[sn % 3],
                     prescription_no=f"RX{sn}" if sn <= 10 else f"{rx}{sn}")
                for sn in range(1, 101)]

    def settle(sent: list[pb.FeeLine]) -> pb.SettlementResponse:
        ep = _admit(stub, m)
        stub.UploadFeeDetails(iter([_chunk(m, ep.episode_id, sent)]))
        _discharge(stub, m, ep.episode_id)
        return stub.Settle(pb.SettleRequest(
            request_id=rid(HOSPITAL.code), institution_code=HOSPITAL.code, psn_no=m.psn_no,
            setting=pb.INPATIENT, card_no=m.card_no, service_date=TODAY.isoformat(),
            use_account=True, episode_id=ep.episode_id))

    first_lines = lines("A")
    first = settle(first_lines)
    kept = {x.feedetl_sn for x in first.lines if x.status != pb.REJECTED}
    assert len(kept) > 64
    keys = MemberKeys.of(m.psn_no)
    assert {k.decode() for k in r.hkeys(keys.dups)} == {
        dup_key(HOSPITAL.code, ln.item_code,
                day_number(dt.date.fromisoformat(ln.service_date or TODAY.isoformat())),
                ln.prescription_no)
        for ln in first_lines if ln.feedetl_sn in kept}
    second = settle(lines("B"))  # lines 1 to 10 as before, the rest new
    assert [x.feedetl_sn for x in second.lines if "DUPLICATE_CHARGE" in x.reasons] == [
        sn for sn in range(1, 11) if sn in kept]


@pytest.mark.parametrize("count", [3, 100])  # per line, and read column-wise
def test_an_uploaded_line_dated_after_the_discharge_is_named(
        stub: pb_grpc.ClaimGatewayStub, r: Client, count: int) -> None:
    m = base_member()
    put_members(r, [m])
    ep = _admit(stub, m)
    late = count - 1  # the last line in feedetl_sn order, uploaded first
    sent = [line(sn, "T-B-MAT", 1_000, prescription_no=f"RX{sn}",
                 service_date=(TODAY if sn == late + 1 else TODAY - dt.timedelta(days=2))
                 .isoformat())
            for sn in range(count, 0, -1)]
    stub.UploadFeeDetails(iter([_chunk(m, ep.episode_id, sent)]))
    discharged = TODAY - dt.timedelta(days=1)
    _discharge(stub, m, ep.episode_id, day=discharged)
    before = member_state(r, m.psn_no)
    with pytest.raises(grpc.RpcError) as e:
        stub.Settle(pb.SettleRequest(
            request_id=rid(HOSPITAL.code), institution_code=HOSPITAL.code, psn_no=m.psn_no,
            setting=pb.INPATIENT, card_no=m.card_no, service_date=discharged.isoformat(),
            use_account=True, episode_id=ep.episode_id))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"lines[{late}].service_date" in (e.value.details() or "")
    assert member_state(r, m.psn_no) == before


def _slots_of_member(r: Client, psn_no: str) -> set[int]:
    keys = MemberKeys.of(psn_no)
    tag = f"{{p{keys.partition:04d}}}"
    found = [k for k in r.scan_iter(match=f"*{tag}*", count=1000)]
    assert found
    if isinstance(r, redis.RedisCluster):
        node = r.get_node_from_key(found[0])
        conn = r.get_redis_connection(node)
        return {int(conn.execute_command("CLUSTER", "KEYSLOT", k)) for k in found}
    return {key_slot(k) for k in found}


def test_every_key_of_a_settlement_shares_one_slot(stub: pb_grpc.ClaimGatewayStub,
                                                  r: Client) -> None:
    m = base_member()
    put_members(r, [m])
    s = stub.Settle(pharmacy_claim(m, BASKET))
    stub.ReverseSettlement(pb.ReverseRequest(
        request_id=rid(), institution_code=PHARMACY.code, psn_no=m.psn_no,
        settlement_id=s.settlement_id))
    assert len(_slots_of_member(r, m.psn_no)) == 1


def test_ten_concurrent_identical_requests_take_effect_once(
    stub: pb_grpc.ClaimGatewayStub, r: Client
) -> None:
    m = base_member(acct_current_fen=100_000, acct_prior_fen=0)
    put_members(r, [m])
    req = pharmacy_claim(m, BASKET)
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: stub.Settle(req), range(10)))
    assert len({x.settlement_id for x in results}) == 1
    assert sum(not x.replay for x in results) == 1
    paid = results[0].amounts.acct_current_pay_fen
    assert r.hget(MemberKeys.of(m.psn_no).member, "cur") == str(100_000 - paid).encode()


def test_hundred_concurrent_claims_never_overdraw(stub: pb_grpc.ClaimGatewayStub,
                                                 r: Client) -> None:
    start_cur, start_pri = 5_000, 2_500
    m = base_member(acct_current_fen=start_cur, acct_prior_fen=start_pri)
    put_members(r, [m])

    def one(i: int) -> pb.SettlementResponse:
        # A different prescription each time, so no line is a duplicate charge.
        lines = [line(1, "T-A-DRUG", 137 + i, 1, prescription_no=f"RX-{i}")]
        return stub.Settle(pharmacy_claim(m, lines))

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(100)))
    assert all(x.status == pb.SETTLED for x in results)
    cur = int(r.hget(MemberKeys.of(m.psn_no).member, "cur"))
    pri = int(r.hget(MemberKeys.of(m.psn_no).member, "pri"))
    assert cur >= 0 and pri >= 0
    assert start_cur - cur == sum(x.amounts.acct_current_pay_fen for x in results)
    assert start_pri - pri == sum(x.amounts.acct_prior_pay_fen for x in results)
    total = sum(137 + i for i in range(100))
    assert sum(x.amounts.psn_cash_pay_fen for x in results) == total - (start_cur - cur) - (
        start_pri - pri)
    assert cur == 0 and pri == 0  # 17,450 of claims against 75.00 of balance


def _admit(stub: pb_grpc.ClaimGatewayStub, m, inst: str = HOSPITAL.code,  # type: ignore[no-untyped-def]
           day: dt.date | None = None, diagnosis: str = "I21.0") -> pb.EpisodeResponse:
    return stub.Admit(pb.AdmitRequest(
        request_id=rid(inst), institution_code=inst, psn_no=m.psn_no, card_no=m.card_no,
        admission_date=(day or TODAY - dt.timedelta(days=10)).isoformat(),
        diagnosis_code=diagnosis))


def _discharge(stub: pb_grpc.ClaimGatewayStub, m, episode_id: str,  # type: ignore[no-untyped-def]
               inst: str = HOSPITAL.code, day: dt.date | None = None,
               order: dt.date | None = None) -> pb.EpisodeResponse:
    return stub.Discharge(pb.DischargeRequest(
        request_id=rid(inst), institution_code=inst, psn_no=m.psn_no, episode_id=episode_id,
        discharge_date=(day or TODAY).isoformat(),
        discharge_order_date=order.isoformat() if order else ""))


def _chunk(m, episode_id: str, lines: list[pb.FeeLine], request_id: str | None = None,  # type: ignore[no-untyped-def]
           inst: str = HOSPITAL.code) -> pb.FeeDetailChunk:
    return pb.FeeDetailChunk(request_id=request_id or rid(inst), institution_code=inst,
                             psn_no=m.psn_no, episode_id=episode_id, lines=lines)


def test_an_admission_elsewhere_does_not_reveal_the_other_episode(
    stub: pb_grpc.ClaimGatewayStub, r: Client
) -> None:
    m = base_member()
    put_members(r, [m])
    ep = _admit(stub, m)
    with pytest.raises(grpc.RpcError) as own:
        _admit(stub, m)
    assert ep.episode_id in own.value.details()  # its own episode: named
    with pytest.raises(grpc.RpcError) as other:
        _admit(stub, m, inst=OTHER_HOSPITAL.code)
    assert other.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert ep.episode_id not in other.value.details()


def test_inpatient_episode_worked_example(stub: pb_grpc.ClaimGatewayStub, r: Client) -> None:
    """The worked example of docs/benefit-rules.md §10 through the whole inpatient flow:
    admit, upload, discharge, settle."""
    m = base_member(birth_date=dt.date(1950, 3, 1), work_start_date=dt.date(1968, 9, 1),
                    retire_date=dt.date(2005, 3, 1), person_type=PersonType.RETIRED,
                    acct_current_fen=0, acct_prior_fen=200_000)
    put_members(r, [m])
    before = member_state(r, m.psn_no)
    ep = _admit(stub, m)
    assert ep.status == "OPEN" and ep.episode_id.startswith("E")
    elig = stub.CheckEligibility(pb.EligibilityRequest(institution_code=HOSPITAL.code,
                                                       psn_no=m.psn_no, card_no=m.card_no))
    assert elig.open_episode_id == ep.episode_id and elig.cohort == "R1"
    chunk1 = _chunk(m, ep.episode_id, [line(1, "T-A-DRUG", 80_000),
                                       line(2, "T-B-MAT", 100_000)])
    chunk2 = _chunk(m, ep.episode_id, [line(3, "T-C-DRUG", 15_000),
                                       line(4, "T-SVC-CAP", 52_000)])
    up = stub.UploadFeeDetails(iter([chunk1, chunk2]))
    assert (up.lines_received, up.lines_added, up.episode_line_count,
            up.episode_amount_fen) == (4, 4, 4, 247_000)
    # Re-sending a line with the same content is a no-op ...
    resend = _chunk(m, ep.episode_id, [line(2, "T-B-MAT", 100_000)])
    again = stub.UploadFeeDetails(iter([resend]))
    assert (again.lines_added, again.lines_unchanged, again.episode_line_count) == (0, 1, 4)
    # ... and with other content it is refused, changing nothing.
    before_conflict = snapshot(r)
    with pytest.raises(grpc.RpcError) as e:
        stub.UploadFeeDetails(iter([_chunk(m, ep.episode_id, [line(2, "T-B-MAT", 99_000)])]))
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS and "feedetl_sn 2" in e.value.details()
    assert snapshot(r) == before_conflict
    # Settling before discharge is refused.
    settle = pb.SettleRequest(request_id=rid(HOSPITAL.code), institution_code=HOSPITAL.code,
                              psn_no=m.psn_no, setting=pb.INPATIENT, card_no=m.card_no,
                              service_date=TODAY.isoformat(), use_account=True,
                              episode_id=ep.episode_id)
    with pytest.raises(grpc.RpcError) as e:
        stub.Settle(settle)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    _discharge(stub, m, ep.episode_id)
    quote = stub.PreSettle(settle)
    s = stub.Settle(settle)
    assert quote.amounts == s.amounts
    a = s.amounts
    assert (a.medfee_sumamt_fen, a.fulamt_ownpay_fen, a.overlmt_selfpay_fen, a.preselfpay_fen,
            a.inscp_scp_amt_fen) == (247_000, 15_000, 2_000, 10_000, 220_000)
    assert (a.deductible_fen, a.hifp_pay_fen, a.fund_pay_sumamt_fen) == (120_000, 92_000, 92_000)
    assert (a.acct_prior_pay_fen, a.acct_current_pay_fen, a.psn_cash_pay_fen) == (155_000, 0, 0)
    assert s.acct_prior_balance_fen == 45_000
    with pytest.raises(grpc.RpcError) as e:  # an episode is settled once
        stub.Settle(pb.SettleRequest(**{**_fields(settle), "request_id": rid(HOSPITAL.code)}))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    rev = stub.ReverseSettlement(pb.ReverseRequest(
        request_id=rid(HOSPITAL.code), institution_code=HOSPITAL.code, psn_no=m.psn_no,
        settlement_id=s.settlement_id))
    assert rev.acct_prior_balance_fen == 200_000
    state = member_state(r, m.psn_no)
    # The member is as before admission, apart from the record of the last discharge.
    assert {k: v for k, v in state["member"].items() if k != b"ep_last"} == before["member"]  # type: ignore[union-attr]
    # After the reversal the episode can be settled again.
    s2 = stub.Settle(pb.SettleRequest(**{**_fields(settle), "request_id": rid(HOSPITAL.code)}))
    assert s2.amounts == s.amounts


def _fields(msg: pb.SettleRequest) -> dict[str, object]:
    return {f.name: v for f, v in msg.ListFields()}


def test_open_episode_and_readmission_warnings(stub: pb_grpc.ClaimGatewayStub,
                                              r: Client) -> None:
    m = base_member()
    put_members(r, [m])
    ep = _admit(stub, m, day=TODAY - dt.timedelta(days=30), diagnosis="J18.9")
    s = stub.Settle(pharmacy_claim(m, [line(1, "T-A-DRUG", 1250, prescription_no="RX-W")]))
    assert "OPEN_INPATIENT_EPISODE" in s.warnings  # 挂床: in hospital, buying elsewhere
    with pytest.raises(grpc.RpcError) as e:
        _admit(stub, m, inst=OTHER_HOSPITAL.code)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    _discharge(stub, m, ep.episode_id, day=TODAY - dt.timedelta(days=20))
    again = _admit(stub, m, day=TODAY - dt.timedelta(days=8), diagnosis="J18.9")
    assert list(again.warnings) == ["READMISSION_15D"]


def test_reconcile_matches_the_settlements_made(stub: pb_grpc.ClaimGatewayStub,
                                               r: Client) -> None:
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    span = {"institution_code": OTHER_PHARMACY.code, "from_date": today, "to_date": today}
    start = stub.Reconcile(pb.ReconcileRequest(**span)).gateway  # type: ignore[arg-type]
    m = base_member(acct_current_fen=2_000, acct_prior_fen=0)
    put_members(r, [m])
    made = [stub.Settle(pharmacy_claim(m, [line(1, "T-A-DRUG", 1000 + i, 1,
                                                 prescription_no=f"RX-R{i}")],
                                       inst=OTHER_PHARMACY.code)) for i in range(3)]
    stub.ReverseSettlement(pb.ReverseRequest(
        request_id=rid(OTHER_PHARMACY.code), institution_code=OTHER_PHARMACY.code,
        psn_no=m.psn_no, settlement_id=made[0].settlement_id))
    declared = pb.ReconcileTotals(
        settlement_count=start.settlement_count + 3,
        medfee_sumamt_fen=start.medfee_sumamt_fen + sum(x.amounts.medfee_sumamt_fen
                                                        for x in made),
        fund_pay_sumamt_fen=start.fund_pay_sumamt_fen,
        acct_pay_fen=start.acct_pay_fen + sum(x.amounts.acct_pay_fen for x in made),
        psn_cash_pay_fen=start.psn_cash_pay_fen + sum(x.amounts.psn_cash_pay_fen for x in made),
        reversal_count=start.reversal_count + 1,
        reversed_medfee_sumamt_fen=start.reversed_medfee_sumamt_fen
        + made[0].amounts.medfee_sumamt_fen,
    )
    ok = stub.Reconcile(pb.ReconcileRequest(declared=declared, **span))  # type: ignore[arg-type]
    assert ok.result == pb.ReconcileResponse.MATCH, ok.difference
    declared.psn_cash_pay_fen += 1
    bad = stub.Reconcile(pb.ReconcileRequest(declared=declared, **span))  # type: ignore[arg-type]
    assert bad.result == pb.ReconcileResponse.MISMATCH and bad.difference.psn_cash_pay_fen == -1
    exported = {x.settlement_id: x for x in stub.ExportSettlements(
        pb.ExportSettlementsRequest(**span))}  # type: ignore[arg-type]
    assert {x.settlement_id for x in made} <= set(exported)
    assert exported[made[0].settlement_id].status == pb.REVERSED


def test_large_episode_settles_and_reverses_exactly(stub: pb_grpc.ClaimGatewayStub,
                                                   r: Client) -> None:
    """3,000 uploaded lines (three chunks): past every batch size in the scripts."""
    m = base_member(birth_date=dt.date(1950, 3, 1), work_start_date=dt.date(1968, 9, 1),
                    retire_date=dt.date(2005, 3, 1), person_type=PersonType.RETIRED,
                    acct_current_fen=0, acct_prior_fen=5_000_000)
    put_members(r, [m])
    before = member_state(r, m.psn_no)
    ep = _admit(stub, m)
    codes = ["T-A-DRUG", "T-B-MAT", "T-C-DRUG", "T-SVC-CAP"]
    chunks = [
        _chunk(m, ep.episode_id, [
            line(sn, codes[sn % 4], 1_000 + sn % 97, 1 + sn % 3, prescription_no=f"RX{sn}")
            for sn in range(k * 1000 + 1, (k + 1) * 1000 + 1)
        ])
        for k in range(3)
    ]
    up = stub.UploadFeeDetails(iter(chunks))
    assert (up.lines_added, up.episode_line_count) == (3000, 3000)
    total = sum(ln.amount_fen for c in chunks for ln in c.lines)
    assert up.episode_amount_fen == total
    _discharge(stub, m, ep.episode_id)
    s = stub.Settle(pb.SettleRequest(
        request_id=rid(HOSPITAL.code), institution_code=HOSPITAL.code, psn_no=m.psn_no,
        setting=pb.INPATIENT, card_no=m.card_no, service_date=TODAY.isoformat(),
        use_account=True, episode_id=ep.episode_id))
    assert s.amounts.medfee_sumamt_fen == total and len(s.lines) == 3000
    # The line results (encoded column-wise for a claim this large) answer each uploaded
    # line, in line order, and add up to the claim's amounts.
    sent = sorted((ln for c in chunks for ln in c.lines), key=lambda ln: ln.feedetl_sn)
    assert [(x.feedetl_sn, x.item_code, x.amount_fen) for x in s.lines] == [
        (ln.feedetl_sn, ln.item_code, ln.amount_fen) for ln in sent]
    kept = [x for x in s.lines if x.status != pb.REJECTED]
    a = s.amounts
    for field in ("fulamt_ownpay_fen", "overlmt_selfpay_fen", "preselfpay_fen",
                  "inscp_scp_amt_fen"):
        assert sum(getattr(x, field) for x in kept) == getattr(a, field), field
    assert stub.GetSettlement(pb.GetSettlementRequest(
        institution_code=HOSPITAL.code, settlement_id=s.settlement_id)) == s
    keys = MemberKeys.of(m.psn_no)
    assert r.hlen(keys.dups) == 3000  # one duplicate-charge key per line
    stub.ReverseSettlement(pb.ReverseRequest(
        request_id=rid(HOSPITAL.code), institution_code=HOSPITAL.code, psn_no=m.psn_no,
        settlement_id=s.settlement_id))
    state = member_state(r, m.psn_no)
    assert state["dups"] == {} and state["fills"] == before["fills"]
    assert {k: v for k, v in state["member"].items() if k != b"ep_last"} == before["member"]  # type: ignore[union-attr]
