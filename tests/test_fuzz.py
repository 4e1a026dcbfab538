"""Hostile input through the real server (docs/benefit-rules.md §3.1): hypothesis-generated
malformed, extreme and mismatched requests over a real gRPC channel to a real in-process gateway
backed by a real redis-server.

For every request: the answer is one of the allowed statuses (never INTERNAL or
UNKNOWN), and a refusal (a non-OK status, or an OK response with status REFUSED) leaves
Redis exactly as it was (``snapshot()`` before and after). Read-only calls leave Redis
unchanged whatever they answer. The data set is kept small so that a snapshot per
example stays cheap. No timing assertions.
"""

from __future__ import annotations

import datetime as dt
import itertools
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import redis
from google.protobuf.message import DecodeError, Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.invariants import settlement_violations
from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.config import Config
from gateway.domain import Member
from gateway.keys import PARTITIONS, partition_of
from gateway.redis_server import RedisServer
from rules_compiled.model import MemberStatus
from tests.integration.harness import (
    CATALOGUE,
    HOSPITAL,
    INSTITUTIONS,
    PHARMACY,
    RELAXED_BUDGETS_MS,
    GatewayThread,
    base_member,
    put_members,
    put_reference,
    snapshot,
)

OK = grpc.StatusCode.OK
ALLOWED = frozenset({
    OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,
})  # fmt: skip
TIMEOUT_S = 30.0
SERVICE = "/claims.v1.ClaimGateway/"
TODAY = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date()  # the gateway's calendar

_fresh = itertools.count(1)


def same_partition_psn(psn_no: str, prefix: str) -> str:
    """Another member id in the same partition as ``psn_no`` (so that keys share a tag)."""
    target = partition_of(psn_no)
    for n in range(PARTITIONS * 200):
        candidate = f"{prefix}{n:010d}"
        if zlib.crc32(candidate.encode()) % PARTITIONS == target and candidate != psn_no:
            return candidate
    raise AssertionError("no member id found in the partition")


@dataclass
class World:
    stub: pb_grpc.ClaimGatewayStub
    channel: grpc.Channel
    r: redis.Redis
    members: list[Member]
    settled: pb.SettlementResponse  # settled at PHARMACY for members[0]
    settled_request_id: str
    open_episode: str  # members[3] at HOSPITAL, some lines uploaded
    discharged_episode: str  # members[5] at HOSPITAL


def _line(sn: int, code: str = "T-A-DRUG", price: int = 1250, qty: int = 1) -> pb.FeeLine:
    return pb.FeeLine(feedetl_sn=sn, item_code=code, unit_price_fen=price, quantity=qty,
                      amount_fen=price * qty, prescription_no=f"RX{sn}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with RedisServer(tmp_path_factory.mktemp("fuzz-redis")) as server:
        r = redis.Redis.from_url(server.url)
        put_reference(r)
        m0 = base_member()
        m1 = base_member(psn_no=same_partition_psn(m0.psn_no, "TFZA"))  # m0's partition
        m2 = base_member(status=MemberStatus.SUSPENDED)
        m3 = base_member()
        m4 = base_member(psn_no=same_partition_psn(m3.psn_no, "TFZB"))  # m3's partition
        m5 = base_member()
        members = [m0, m1, m2, m3, m4, m5]
        put_members(r, members)
        config = Config(listen="127.0.0.1:0", redis_url=server.url, plaintext=True,
                        access_log=False, budgets_ms=RELAXED_BUDGETS_MS)
        g = GatewayThread(config).start()
        try:
            with grpc.insecure_channel(g.address) as ch:
                grpc.channel_ready_future(ch).result(timeout=30)
                stub = pb_grpc.ClaimGatewayStub(ch)
                day = TODAY.isoformat()
                rid = "FZSEED0000000001"
                settled = stub.Settle(pb.SettleRequest(
                    request_id=rid, institution_code=PHARMACY.code, psn_no=m0.psn_no,
                    setting=pb.PHARMACY, card_no=m0.card_no, service_date=day,
                    use_account=True, lines=[_line(1)], operator_id="op", terminal_id="t1",
                ), timeout=TIMEOUT_S)
                assert settled.status == pb.SETTLED
                episodes = []
                for m in (m3, m5):
                    ep = stub.Admit(pb.AdmitRequest(
                        request_id=f"FZSEEDADMIT{m.psn_no}", institution_code=HOSPITAL.code,
                        psn_no=m.psn_no, card_no=m.card_no,
                        admission_date=(TODAY - dt.timedelta(days=2)).isoformat(),
                        diagnosis_code="J18.9",
                    ), timeout=TIMEOUT_S).episode_id
                    stub.UploadFeeDetails(iter([pb.FeeDetailChunk(
                        request_id=f"FZSEEDUP{m.psn_no}", institution_code=HOSPITAL.code,
                        psn_no=m.psn_no, episode_id=ep, lines=[_line(1), _line(2, "T-B-DRUG")],
                    )]), timeout=TIMEOUT_S)
                    episodes.append(ep)
                stub.Discharge(pb.DischargeRequest(
                    request_id="FZSEEDDIS1", institution_code=HOSPITAL.code, psn_no=m5.psn_no,
                    episode_id=episodes[1], discharge_date=day,
                ), timeout=TIMEOUT_S)
                yield World(stub, ch, r, members, settled, rid, episodes[0], episodes[1])
        finally:
            g.stop()
            r.close()


# --- strategies ----------------------------------------------------------------------------
NO_SURROGATES = st.characters(exclude_categories=["Cs"])
CONTROL = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.sampled_from(
    ["\x7f", "\u200b", "\u202e", "\ufeff", "\u00a0", "\u3000", "医", "💊"])
HOSTILE_TEXT = st.one_of(
    st.just(""),
    st.text(NO_SURROGATES, max_size=40),
    st.text(CONTROL, min_size=1, max_size=8),
    st.text(NO_SURROGATES, min_size=65, max_size=300),
    st.sampled_from([" P-TEST-01", "P-TEST-01 ", "H-TEST-03\n", "T0000000000001\x00",
                     "' OR 1=1 --", "{p0001}", "*", "..\\..", "a" * 33, "R" * 65]),
)
INT64 = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, -1, 1, 2**63 - 1, -(2**63), 100_000_000, 100_000_001, 1_000_000_000,
                     1_000_000_001, 100_000, 100_001]),
)
INT32 = st.one_of(st.integers(-(2**31), 2**31 - 1),
                  st.sampled_from([0, -1, 1, 2, 366, 367, 2**31 - 1, -(2**31)]))
ENUM = st.one_of(st.integers(0, 5), st.integers(-(2**31), 2**31 - 1))
DATES = st.one_of(
    st.sampled_from([
        TODAY.isoformat(), (TODAY - dt.timedelta(days=1)).isoformat(),
        (TODAY - dt.timedelta(days=3)).isoformat(), (TODAY + dt.timedelta(days=1)).isoformat(),
        (TODAY + dt.timedelta(days=2)).isoformat(), "1989-12-31", "1990-01-01",
        "2026-02-30", "2026-13-01", "2026-00-10", "0000-01-01", "9999-12-31", "",
        "2026/01/01", "20260101", "2026-1-1", "２０２６-01-01", "2026-01-01T00:00",
    ]),
    HOSTILE_TEXT,
)


def pick(pool: list[str]) -> st.SearchStrategy[str]:
    """Mostly a value the gateway knows (so requests get past validation), else hostile."""
    known = st.sampled_from(pool)
    return st.one_of(known, known, known, HOSTILE_TEXT)


FRESH_IDS = st.integers(0, 2**40).map(lambda n: f"FZ{n:013d}")


@st.composite
def fee_line(draw: st.DrawFn, sn: int) -> pb.FeeLine:
    price = draw(st.one_of(st.sampled_from([1250, 0, 600, 50_000]), INT64))
    qty = draw(st.one_of(st.sampled_from([1, 2, 3]), INT64))
    product = price * qty
    amount = draw(st.one_of(
        st.just(product), st.just(product), st.just(product + 1), INT64,
    ).filter(lambda a: -(2**63) <= a < 2**63))
    return pb.FeeLine(
        feedetl_sn=draw(st.one_of(st.just(sn), st.just(sn), INT32)),
        item_code=draw(pick([i.code for i in CATALOGUE] + ["NOT-IN-CATALOGUE"])),
        unit_price_fen=price, quantity=qty, amount_fen=amount,
        days_supply=draw(st.one_of(st.sampled_from([0, 3, 7, 30]), INT32)),
        service_date=draw(st.one_of(st.just(""), DATES)),
        prescription_no=draw(st.one_of(st.just("RX1"), HOSTILE_TEXT)),
        practitioner_code=draw(st.one_of(st.just(""), HOSTILE_TEXT)),
        in_discharge_order=draw(st.booleans()),
    )


@st.composite
def fee_lines(draw: st.DrawFn) -> list[pb.FeeLine]:
    n = draw(st.one_of(st.integers(0, 4), st.integers(0, 4), st.just(1001)))
    if n == 1001:  # one over the limit: identical valid lines, only the count is wrong
        return [_line(i) for i in range(1, 1002)]
    lines = [draw(fee_line(i + 1)) for i in range(n)]
    if n >= 2 and draw(st.booleans()):
        lines[1].feedetl_sn = lines[0].feedetl_sn  # duplicate feedetl_sn
    return lines


# --- calls ---------------------------------------------------------------------------------
def _call(fn: Callable[..., Any], req: Any) -> tuple[grpc.StatusCode, Any, str]:
    try:
        return OK, fn(req, timeout=TIMEOUT_S), ""
    except grpc.RpcError as e:
        return e.code(), None, e.details() or ""


def check(w: World, what: str, call: Callable[[], tuple[grpc.StatusCode, Any, str]],
          *, read_only: bool = False) -> tuple[grpc.StatusCode, Any]:
    before = snapshot(w.r)
    code, resp, detail = call()
    after = snapshot(w.r)
    assert code in ALLOWED, f"{what}: {code.name} {detail!r}"
    refused = code != OK or (
        isinstance(resp, pb.SettlementResponse) and resp.status == pb.REFUSED
    )
    if refused or read_only:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        assert after == before, f"{what} ({code.name} {detail!r}) changed Redis: {changed[:8]}"
    return code, resp


def _members(w: World) -> list[str]:
    return [m.psn_no for m in w.members] + ["T9999999999999"]


INSTITUTION_CODES = [i.code for i in INSTITUTIONS] + ["X-UNKNOWN-01"]


def _fuzz(**kw: Any) -> Any:
    return settings(deadline=None, derandomize=False, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much], **kw)


# --- Settle / PreSettle ----------------------------------------------------------------------
@st.composite
def settle_requests(draw: st.DrawFn, w: World) -> pb.SettleRequest:
    psn = draw(pick(_members(w)))
    by_psn = {m.psn_no: m.card_no for m in w.members}
    card = draw(st.one_of(st.just(by_psn.get(psn, "C00000000000")), pick(list(by_psn.values()))))
    return pb.SettleRequest(
        request_id=draw(st.one_of(FRESH_IDS, FRESH_IDS, st.just(w.settled_request_id),
                                  HOSTILE_TEXT)),
        institution_code=draw(pick(INSTITUTION_CODES)),
        psn_no=psn,
        setting=draw(st.one_of(st.sampled_from([1, 2, 3, 4]), ENUM)),  # type: ignore[arg-type]
        card_no=card,
        service_date=draw(DATES),
        use_account=draw(st.booleans()),
        lines=draw(fee_lines()),
        diagnosis_code=draw(st.one_of(st.sampled_from(["", "J06.9", "A00.0", "X60"]),
                                      HOSTILE_TEXT)),
        referral=draw(ENUM),  # type: ignore[arg-type]
        emergency=draw(st.booleans()),
        episode_id=draw(st.one_of(st.just(""), st.just(""),
                                  pick([w.open_episode, w.discharged_episode]))),
        operator_id=draw(st.one_of(st.just("op1"), HOSTILE_TEXT)),
        terminal_id=draw(st.one_of(st.just("t1"), HOSTILE_TEXT)),
    )


def _settle_invariants(req: pb.SettleRequest, resp: pb.SettlementResponse | None) -> None:
    if resp is not None and resp.status in (pb.SETTLED, pb.QUOTED):
        assert settlement_violations(resp, use_account=req.use_account) == []


@pytest.mark.parametrize("method", ["Settle", "PreSettle"])
def test_fuzz_settle(world: World, method: str) -> None:
    @_fuzz(max_examples=260 if method == "Settle" else 160)
    @given(req=settle_requests(world))
    def run(req: pb.SettleRequest) -> None:
        _code, resp = check(world, method, lambda: _call(getattr(world.stub, method), req),
                            read_only=method == "PreSettle")
        _settle_invariants(req, resp)

    run()


# --- eligibility, reverse, cancel ------------------------------------------------------------
def test_fuzz_eligibility(world: World) -> None:
    @_fuzz(max_examples=200)
    @given(req=st.builds(
        pb.EligibilityRequest, institution_code=pick(INSTITUTION_CODES),
        psn_no=pick(_members(world)), card_no=st.one_of(st.just(""), HOSTILE_TEXT),
        service_date=st.one_of(st.just(""), DATES), setting=ENUM,
    ))
    def run(req: pb.EligibilityRequest) -> None:
        check(world, "CheckEligibility", lambda: _call(world.stub.CheckEligibility, req),
              read_only=True)

    run()


def _ids(w: World) -> list[str]:
    return [w.settled.settlement_id, w.settled.settlement_id.replace("S", "R", 1),
            "S0000" + w.settled.settlement_id[5:], "S9999x", "S" + "0" * 30]


def test_fuzz_reverse(world: World) -> None:
    @_fuzz(max_examples=300)
    @given(req=st.builds(
        pb.ReverseRequest, request_id=st.one_of(FRESH_IDS, st.just(world.settled_request_id),
                                                HOSTILE_TEXT),
        institution_code=pick(INSTITUTION_CODES), psn_no=pick(_members(world)),
        settlement_id=pick(_ids(world)), operator_id=HOSTILE_TEXT, terminal_id=HOSTILE_TEXT,
    ))
    def run(req: pb.ReverseRequest) -> None:
        check(world, "ReverseSettlement", lambda: _call(world.stub.ReverseSettlement, req))

    run()


def test_fuzz_cancel(world: World) -> None:
    @_fuzz(max_examples=240)
    @given(req=st.builds(
        pb.CancelRequest, request_id=st.one_of(FRESH_IDS, HOSTILE_TEXT),
        institution_code=pick(INSTITUTION_CODES), psn_no=pick(_members(world)),
        original_request_id=st.one_of(st.just(world.settled_request_id), FRESH_IDS,
                                      HOSTILE_TEXT),
        operator_id=HOSTILE_TEXT, terminal_id=HOSTILE_TEXT,
    ))
    def run(req: pb.CancelRequest) -> None:
        check(world, "CancelByRequest", lambda: _call(world.stub.CancelByRequest, req))

    run()


# --- episodes ------------------------------------------------------------------------------
def test_fuzz_admit(world: World) -> None:
    cards = [m.card_no for m in world.members]

    @_fuzz(max_examples=250)
    @given(req=st.builds(
        pb.AdmitRequest, request_id=st.one_of(FRESH_IDS, HOSTILE_TEXT),
        institution_code=pick(INSTITUTION_CODES), psn_no=pick(_members(world)),
        card_no=pick(cards), admission_date=DATES,
        diagnosis_code=st.one_of(st.just("J18.9"), HOSTILE_TEXT), referral=ENUM,
        emergency=st.booleans(), operator_id=HOSTILE_TEXT, terminal_id=HOSTILE_TEXT,
    ))
    def run(req: pb.AdmitRequest) -> None:
        check(world, "Admit", lambda: _call(world.stub.Admit, req))

    run()


def test_fuzz_discharge(world: World) -> None:
    @_fuzz(max_examples=250)
    @given(req=st.builds(
        pb.DischargeRequest, request_id=st.one_of(FRESH_IDS, HOSTILE_TEXT),
        institution_code=pick(INSTITUTION_CODES), psn_no=pick(_members(world)),
        episode_id=pick([world.open_episode, world.discharged_episode, "E0000", "E"]),
        discharge_date=DATES, discharge_order_date=st.one_of(st.just(""), DATES),
        diagnosis_code=st.one_of(st.just(""), HOSTILE_TEXT),
        operator_id=HOSTILE_TEXT, terminal_id=HOSTILE_TEXT,
    ))
    def run(req: pb.DischargeRequest) -> None:
        check(world, "Discharge", lambda: _call(world.stub.Discharge, req))

    run()


@st.composite
def chunks(draw: st.DrawFn, w: World) -> list[pb.FeeDetailChunk]:
    return [pb.FeeDetailChunk(
        request_id=draw(st.one_of(FRESH_IDS, HOSTILE_TEXT)),
        institution_code=draw(pick(INSTITUTION_CODES)), psn_no=draw(pick(_members(w))),
        episode_id=draw(pick([w.open_episode, w.discharged_episode, "E0000"])),
        lines=draw(fee_lines()), operator_id=draw(HOSTILE_TEXT),
        terminal_id=draw(HOSTILE_TEXT),
    )]


def test_fuzz_upload_one_chunk(world: World) -> None:
    """One chunk per upload: a chunk is applied all or nothing, so a refusal changes nothing."""
    @_fuzz(max_examples=220)
    @given(body=chunks(world))
    def run(body: list[pb.FeeDetailChunk]) -> None:
        check(world, "UploadFeeDetails",
              lambda: _call(world.stub.UploadFeeDetails, iter(body)))

    run()


def test_fuzz_upload_no_chunk(world: World) -> None:
    code, _ = check(world, "UploadFeeDetails(empty)",
                    lambda: _call(world.stub.UploadFeeDetails, iter([])))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


# --- reads -----------------------------------------------------------------------------------
def test_fuzz_get_settlement(world: World) -> None:
    @_fuzz(max_examples=200)
    @given(req=st.builds(
        pb.GetSettlementRequest, institution_code=pick(INSTITUTION_CODES),
        settlement_id=st.one_of(st.just(""), pick(_ids(world))), psn_no=pick(_members(world)),
        request_id=st.one_of(st.just(world.settled_request_id), FRESH_IDS, HOSTILE_TEXT),
    ))
    def run(req: pb.GetSettlementRequest) -> None:
        check(world, "GetSettlement", lambda: _call(world.stub.GetSettlement, req),
              read_only=True)

    run()


RANGE_DATES = pick([
    TODAY.isoformat(), (TODAY - dt.timedelta(days=1)).isoformat(),
    (TODAY + dt.timedelta(days=1)).isoformat(), (TODAY + dt.timedelta(days=2)).isoformat(),
    "2020-01-01", "2026-02-30", "", "1989-12-31",
])
# Declared totals over the whole int64 range: out-of-range ones are INVALID_ARGUMENT.
DECLARED = st.integers(-(2**63), 2**63 - 1) | st.sampled_from([0, -1, 1, 2**62, -(2**63)])


def test_fuzz_reconcile(world: World) -> None:
    @_fuzz(max_examples=150)
    @given(req=st.builds(
        pb.ReconcileRequest, institution_code=pick(INSTITUTION_CODES),
        from_date=RANGE_DATES, to_date=RANGE_DATES,
        declared=st.builds(pb.ReconcileTotals, settlement_count=DECLARED,
                           medfee_sumamt_fen=DECLARED, fund_pay_sumamt_fen=DECLARED,
                           acct_pay_fen=DECLARED, reversed_medfee_sumamt_fen=DECLARED),
    ))
    def run(req: pb.ReconcileRequest) -> None:
        check(world, "Reconcile", lambda: _call(world.stub.Reconcile, req), read_only=True)

    run()


def _export(w: World, req: Any) -> tuple[grpc.StatusCode, Any, str]:
    try:
        return OK, list(w.stub.ExportSettlements(req, timeout=TIMEOUT_S)), ""
    except grpc.RpcError as e:
        return e.code(), None, e.details() or ""


def test_fuzz_export(world: World) -> None:
    @_fuzz(max_examples=60)
    @given(req=st.builds(
        pb.ExportSettlementsRequest, institution_code=pick(INSTITUTION_CODES),
        from_date=RANGE_DATES, to_date=RANGE_DATES,
    ))
    def run(req: pb.ExportSettlementsRequest) -> None:
        check(world, "ExportSettlements", lambda: _export(world, req), read_only=True)

    run()


# --- bytes that are not a message ------------------------------------------------------------
METHODS: dict[str, tuple[str, type[Message]]] = {
    "CheckEligibility": ("unary", pb.EligibilityRequest),
    "PreSettle": ("unary", pb.SettleRequest),
    "Settle": ("unary", pb.SettleRequest),
    "ReverseSettlement": ("unary", pb.ReverseRequest),
    "CancelByRequest": ("unary", pb.CancelRequest),
    "Admit": ("unary", pb.AdmitRequest),
    "Discharge": ("unary", pb.DischargeRequest),
    "UploadFeeDetails": ("client_stream", pb.FeeDetailChunk),
    "GetSettlement": ("unary", pb.GetSettlementRequest),
    "Reconcile": ("unary", pb.ReconcileRequest),
    "ExportSettlements": ("server_stream", pb.ExportSettlementsRequest),
}
RAW = st.one_of(
    st.binary(max_size=64),
    # A valid tag with a bad payload: a length running past the end, invalid UTF-8 in a
    # string field, a truncated varint, a wrong wire type.
    st.sampled_from([b"\x0a\xff\x01", b"\x0a\x02\xff\xfe", b"\x12\x03\xc3\x28a", b"\x08",
                     b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", b"\x0b", b"\x0f\x00",
                     b"\x1a\x80\x80\x80\x80\x10", b"\x22\x05\xed\xa0\x80ab"]),
)


def _decodes(kind: type[Message], data: bytes) -> bool:
    try:
        kind.FromString(data)
    except DecodeError:
        return False
    return True


@pytest.mark.parametrize("method", sorted(METHODS))
def test_fuzz_raw_bytes(world: World, method: str) -> None:
    shape, kind = METHODS[method]
    path = SERVICE + method
    ch = world.channel

    def send(data: bytes) -> tuple[grpc.StatusCode, Any, str]:
        try:
            if shape == "unary":
                out: Any = ch.unary_unary(path, request_serializer=None,
                                          response_deserializer=None)(data, timeout=TIMEOUT_S)
            elif shape == "client_stream":
                out = ch.stream_unary(path, request_serializer=None,
                                      response_deserializer=None)(iter([data]),
                                                                  timeout=TIMEOUT_S)
            else:
                out = list(ch.unary_stream(path, request_serializer=None,
                                           response_deserializer=None)(data, timeout=TIMEOUT_S))
            return OK, out, ""
        except grpc.RpcError as e:
            return e.code(), None, e.details() or ""

    @_fuzz(max_examples=40)
    @given(data=RAW)
    def run(data: bytes) -> None:
        code, _ = check(world, f"{method}(raw {data[:24]!r})", lambda: send(data),
                        read_only=not _decodes(kind, data))
        if not _decodes(kind, data):
            assert code == grpc.StatusCode.INVALID_ARGUMENT, f"{method}: {code.name}"

    run()


# --- regressions: bugs the fuzzing found (members sharing a partition, overflow, dates) -----
def _pair(w: World) -> tuple[Member, Member]:
    """Two fresh members whose keys share a partition (hash tag)."""
    a = base_member()
    b = base_member(psn_no=same_partition_psn(a.psn_no, f"TFZP{next(_fresh):03d}"))
    put_members(w.r, [a, b])
    return a, b


def _settle_for(w: World, m: Member) -> tuple[str, pb.SettlementResponse]:
    rid = f"FZBUG{next(_fresh):08d}{m.psn_no}"
    resp = w.stub.Settle(pb.SettleRequest(
        request_id=rid, institution_code=PHARMACY.code, psn_no=m.psn_no, setting=pb.PHARMACY,
        card_no=m.card_no, service_date=TODAY.isoformat(), use_account=True,
        lines=[_line(1, price=1250 + next(_fresh))],
    ), timeout=TIMEOUT_S)
    assert resp.status == pb.SETTLED
    return rid, resp


def test_reconcile_refuses_declared_totals_out_of_range(world: World) -> None:
    day = TODAY.isoformat()
    req = pb.ReconcileRequest(institution_code=PHARMACY.code, from_date=day, to_date=day,
                              declared=pb.ReconcileTotals(settlement_count=-(2**63)))
    check(world, "Reconcile(declared -2**63)", lambda: _call(world.stub.Reconcile, req),
          read_only=True)


def test_cancel_naming_another_member_of_the_partition_is_refused(world: World) -> None:
    a, b = _pair(world)
    rid, _settled = _settle_for(world, a)
    req = pb.CancelRequest(request_id=f"FZC{next(_fresh):010d}", institution_code=PHARMACY.code,
                           psn_no=b.psn_no, original_request_id=rid)
    code, _ = check(world, "CancelByRequest(other member)",
                    lambda: _call(world.stub.CancelByRequest, req))
    assert code != OK, "a cancel naming another member reversed the settlement"


def test_get_settlement_by_request_id_of_another_member_is_not_found(world: World) -> None:
    a, b = _pair(world)
    rid, _settled = _settle_for(world, a)
    req = pb.GetSettlementRequest(institution_code=PHARMACY.code, psn_no=b.psn_no,
                                  request_id=rid)
    code, _ = check(world, "GetSettlement(other member)",
                    lambda: _call(world.stub.GetSettlement, req), read_only=True)
    assert code == grpc.StatusCode.NOT_FOUND


def _admit(w: World, m: Member) -> str:
    return str(w.stub.Admit(pb.AdmitRequest(
        request_id=f"FZADM{next(_fresh):08d}", institution_code=HOSPITAL.code, psn_no=m.psn_no,
        card_no=m.card_no, admission_date=(TODAY - dt.timedelta(days=1)).isoformat(),
        diagnosis_code="J18.9",
    ), timeout=TIMEOUT_S).episode_id)


def test_discharge_naming_another_member_is_refused(world: World) -> None:
    a, b = _pair(world)
    episode = _admit(world, a)
    req = pb.DischargeRequest(request_id=f"FZDIS{next(_fresh):08d}",
                              institution_code=HOSPITAL.code, psn_no=b.psn_no,
                              episode_id=episode, discharge_date=TODAY.isoformat())
    code, _ = check(world, "Discharge(other member)", lambda: _call(world.stub.Discharge, req))
    assert code != OK, "a discharge naming another member closed the episode"


def test_upload_naming_another_member_is_refused(world: World) -> None:
    a, b = _pair(world)
    episode = _admit(world, a)
    body = [pb.FeeDetailChunk(request_id=f"FZUP{next(_fresh):08d}",
                              institution_code=HOSPITAL.code, psn_no=b.psn_no,
                              episode_id=episode, lines=[_line(1)])]
    code, _ = check(world, "UploadFeeDetails(other member)",
                    lambda: _call(world.stub.UploadFeeDetails, iter(body)))
    assert code != OK, "lines for another member were added to the episode"


def test_iso_week_date_is_refused(world: World) -> None:
    week = f"{TODAY.year}-W01-1"
    req = pb.EligibilityRequest(institution_code=PHARMACY.code,
                                psn_no=world.members[0].psn_no, service_date=week)
    code, _ = check(world, "CheckEligibility(week date)",
                    lambda: _call(world.stub.CheckEligibility, req), read_only=True)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
