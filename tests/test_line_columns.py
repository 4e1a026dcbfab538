"""A large claim's column-wise path (gateway/line_columns.py) gives what the per-line
path of gateway/settlement.py gives: the same kernel rows, the same lines kept and
fills recorded, and the same response once parsed."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from claims.v1 import claims_pb2 as pb
from gateway import line_columns as LC
from gateway import settlement as S
from gateway import validate as V
from gateway.adjudicator import Verdict
from gateway.domain import Institution
from gateway.keys import dup_key
from gateway.reference import Reference
from gateway.store import MemberSnapshot, ReferenceData
from rules_compiled import model as M

CODES = ["D0001", "D0002", "S0001", "X-UNKNOWN", "", "L" * 64, "D0015"]
INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
AMOUNT = st.one_of(st.integers(0, 300), st.integers(0, 2**40), INT64)


def fee_line(draw: st.DrawFn, sn: int) -> pb.FeeLine:
    return pb.FeeLine(
        feedetl_sn=draw(st.one_of(st.just(sn), INT32)),
        item_code=draw(st.sampled_from(CODES)),
        unit_price_fen=draw(st.integers(0, 10**6)),
        quantity=draw(st.integers(0, 100)),
        amount_fen=draw(AMOUNT),
        days_supply=draw(st.integers(0, 30)),
        in_discharge_order=draw(st.booleans()),
        practitioner_code=draw(st.sampled_from(["", "DR1", "DR2"])),
        prescription_no=draw(st.sampled_from(["", "RX1", "RX 2"])),
    )


@st.composite
def claims(draw: st.DrawFn) -> tuple[list[pb.FeeLine], np.ndarray]:
    """Lines and the LO_* rows of a kernel's answer, including values no kernel gives
    (negative, 64-bit, every reason bit) so that the encoding is held to protobuf's."""
    n = draw(st.integers(0, 150))
    lines = [fee_line(draw, sn) for sn in range(1, n + 1)]
    lo = np.array([[draw(st.sampled_from([0, 1, 2, 3])), draw(st.integers(0, 2**12 - 1)),
                    draw(AMOUNT), draw(AMOUNT), draw(AMOUNT), draw(AMOUNT)]
                   for _ in range(n)], dtype=np.int64).reshape(n, M.LO_N)
    return lines, lo


@settings(max_examples=150, deadline=None)
@given(claims())
def test_wire_lines_parse_as_the_lines_added_one_by_one(claim: tuple) -> None:  # type: ignore[type-arg]
    lines, lo = claim
    one_by_one = pb.SettlementResponse(status=pb.QUOTED, psn_no="31010000000000")
    S.add_line_results(one_by_one.lines, lines, lo.tolist())
    head = pb.SettlementResponse(status=pb.QUOTED, psn_no="31010000000000")
    wire = LC.line_results_wire(LC.LineColumns.of(lines), lo, {})
    assert pb.SettlementResponse.FromString(head.SerializeToString() + wire) == one_by_one
    # Field by field as protobuf's own serializer writes them, line after line.
    assert wire == b"".join(
        bytes([LC._TAG_LINES]) + LC.varint(len(b)) + b
        for b in (x.SerializeToString() for x in one_by_one.lines))


def reference() -> Reference:
    from gateway.demo_catalogue import demo_catalogue
    from rules_compiled import REFERENCE_POLICY_PATH

    return Reference.build(ReferenceData(
        policy_version="test", policy_text=REFERENCE_POLICY_PATH.read_text(),
        catalogue=demo_catalogue(), institutions={}), warm=False)


REF = reference()
DRUGS = [it.code for it in REF.engine.items if it.kind == M.ItemKind.DRUG][:3]
OTHERS = [it.code for it in REF.engine.items if it.kind != M.ItemKind.DRUG][:2]


@st.composite
def episodes(draw: st.DrawFn) -> tuple[list[pb.FeeLine], list[int], MemberSnapshot]:
    n = draw(st.integers(1, 150))
    lines = [pb.FeeLine(
        feedetl_sn=sn, item_code=draw(st.sampled_from([*DRUGS, *OTHERS, "NOT-LISTED"])),
        unit_price_fen=100, quantity=1, amount_fen=100,
        days_supply=draw(st.integers(0, 7)), in_discharge_order=draw(st.booleans()),
        practitioner_code=draw(st.sampled_from(["", "DR1", "DR9"])),
        prescription_no=draw(st.sampled_from(["", "RX1", "RX2"])),
    ) for sn in range(1, n + 1)]
    days = [20_000 + draw(st.integers(0, 3)) for _ in lines]
    fills = {c: (19_990, 5) for c in draw(st.sets(st.sampled_from(DRUGS)))}
    dups = frozenset(draw(st.sets(st.sampled_from(
        [dup_key("H1", ln.item_code, d, ln.prescription_no)
         for ln, d in zip(lines, days, strict=True)]))))
    snap = MemberSnapshot(keys=None, member=None, version="1", accumulators={},  # type: ignore[arg-type]
                          fills=fills, dup_seen=dups, idem={}, settlements_today=0)
    return lines, days, snap


@settings(max_examples=100, deadline=None)
@given(episodes(), st.lists(st.sampled_from([0, 1, 2, 3]), min_size=150, max_size=150))
def test_columns_give_the_rows_and_the_commit_of_the_per_line_path(
        episode: tuple, statuses: list[int]) -> None:  # type: ignore[type-arg]
    lines, days, snap = episode
    inst = Institution(code="H1", name="h", kind=M.InstitutionKind.HOSPITAL, level=3,
                       region="310100", suspended_practitioners=frozenset({"DR9"}))
    plan = S.plan_claim_days("H1", lines, days)
    assert plan.dup_keys == [dup_key("H1", ln.item_code, d, ln.prescription_no)
                             for ln, d in zip(lines, days, strict=True)]
    assert S.plan_claim("H1", lines, [M.from_day_number(d) for d in days]) == plan
    cols = LC.LineColumns.of(lines)
    rows = S.line_rows(REF.engine, lines, plan, inst, snap)
    assert np.array_equal(S.line_rows_of_columns(REF.engine, cols, plan, inst, snap), rows)

    lo = np.zeros((len(lines), M.LO_N), dtype=np.int64)
    lo[:, M.LO_STATUS] = statuses[: len(lines)]
    verdict = Verdict([0] * M.CO_N, lo.tolist(), np.zeros(M.CI_N, np.int64), rows, lo)
    assert S._kept_lines_of_columns(plan, verdict, REF.engine) == S._kept_lines(
        lines, plan, verdict.lo, REF.engine)

    def commit(columns: LC.LineColumns | None) -> object:
        return S.commit_plan(
            pb.SettleRequest(request_id="R1"), [] if columns else lines, snap, plan,
            verdict, REF.engine, year=2024, service_day=20_003, settle_day=20_003,
            settlement_id="S1", req_hash="h", response_bytes=b"", settled_at="t",
            columns=columns)

    assert commit(cols) == commit(None)


def test_today_is_the_date_in_china_standard_time() -> None:
    before = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date()
    got = V.today()
    after = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date()
    assert got in (before, after)


def test_a_remembered_date_is_still_checked_under_other_limits() -> None:
    day = V.today().isoformat()
    assert V.parse_date(day, "service_date") == V.today()  # now remembered
    strict = V.Limits(date_min=V.today() + dt.timedelta(days=1))
    try:
        V.parse_date(day, "service_date", limits=strict)
    except V.InvalidArgument as e:
        assert e.violations[0][0] == "service_date"
    else:
        raise AssertionError("a date before date_min was accepted")
