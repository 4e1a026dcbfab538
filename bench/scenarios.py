"""Claim scenarios: each is one transaction of a real day, possibly several calls.

A scenario is ``async def run(ctx, intended_s) -> outcome`` where ``outcome`` is
"OK" or the name of the first unexpected gRPC status. Its first call is timed
from the intended send time (no coordinated omission); later calls of the same
transaction from their own start. Every response is checked against the
invariants of docs/benefit-rules.md §9 and logged in the ledger.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from bench import catalogue as cat
from bench.invariants import same_numbers, settlement_violations
from bench.ledger import Ledger
from bench.population import MemberTraits, card_no_of, psn_no_of, traits_of
from bench.recorder import Recorder
from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc

PHARMACIES = ("P31010001", "P31010002", "P31010003")
HOSPITALS = ("H31010001", "H31010002", "H31010003", "H31010004")
CLINICS = ("C31010001",)
RECENT_MAX = 2048  # recent settlements kept for reversals
UNKNOWN = frozenset({
    grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
    grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.RESOURCE_EXHAUSTED,
})  # the request may or may not have taken effect

# The realistic day: relative weights of the scenarios in the mix.
DAY_MIX: dict[str, float] = {
    "pharmacy": 55, "outpatient": 20, "eligibility": 15, "reversal": 3, "cancel": 2,
    "bad_request": 2, "inpatient": 0.3,
}  # fmt: skip


@dataclass
class Ctx:
    stub: pb_grpc.ClaimGatewayStub
    rec: Recorder
    ledger: Ledger
    rng: random.Random
    population: int
    seed: int
    pool: list[int]  # member indices this process may claim for (disjoint per process)
    inpatient_free: deque[int]  # members reserved for inpatient episodes, not in use
    run_tag: str  # unique per run and process: makes request ids unique across runs
    traits_known: bool = True  # the bench population (False: the demo population)
    deadline_s: float = 5.0
    upload_deadline_s: float = 60.0
    inpatient_lines: tuple[int, int] = (200, 5000)
    chunk_lines: int = 500
    retry_share: float = 0.02  # POS re-sends of the same request: must replay
    clock: Callable[[], float] = time.perf_counter
    seq: int = 0
    recent: deque[tuple[str, str, str, str]] = field(
        default_factory=lambda: deque(maxlen=RECENT_MAX))  # (rid, sid, psn, inst)
    today: dt.date = field(default_factory=dt.date.today)

    def request_id(self, inst: str) -> str:
        self.seq += 1
        return f"{inst}{self.run_tag}{self.seq:010d}"

    def member(self) -> MemberTraits | None:
        index = self.pool[int(self.rng.random() * len(self.pool))]
        if self.traits_known:
            return traits_of(index, self.seed)
        return None if index < 0 else _demo_traits(index)


def _demo_traits(index: int) -> MemberTraits:
    """What the bench knows of a demo-population member: its ids only."""
    return MemberTraits(index, psn_no_of(index), card_no_of(index), "", "", "", 1980, "ACTIVE",
                        "ACTIVE", True, (), 0, 0)


async def _call(
    ctx: Ctx, key: str, fn: Callable[..., Awaitable[Any]], req: Any, start_s: float,
    *, expect: frozenset[grpc.StatusCode] = frozenset(), timeout_s: float | None = None,
) -> tuple[Any, grpc.StatusCode]:
    """One timed call: (response or None, status)."""
    try:
        resp = await fn(req, timeout=timeout_s or ctx.deadline_s)
        code = grpc.StatusCode.OK
    except grpc.aio.AioRpcError as e:
        resp, code = None, e.code()
    ok = code == grpc.StatusCode.OK or code in expect
    ctx.rec.rpc(key, ctx.clock() - start_s, code.name, expected=ok)
    return resp, code


def _outcome(code: grpc.StatusCode, expect: frozenset[grpc.StatusCode] = frozenset()) -> str:
    return "OK" if code == grpc.StatusCode.OK or code in expect else code.name


def _line(sn: int, code: str, price: int, qty: int, days: int, day: str, rx: str) -> pb.FeeLine:
    return pb.FeeLine(feedetl_sn=sn, item_code=code, unit_price_fen=price, quantity=qty,
                      amount_fen=price * qty, days_supply=days, service_date=day,
                      prescription_no=rx)


def pharmacy_basket(ctx: Ctx, m: MemberTraits | None, rx: str) -> list[pb.FeeLine]:
    """1-8 lines, most baskets small; chronic refills for registered members."""
    rng, day = ctx.rng, ctx.today.isoformat()
    n = min(8, 1 + int(rng.expovariate(0.6)))
    lines: list[pb.FeeLine] = []
    used: set[str] = set()
    for _ in range(n):
        draw = rng.random()
        if m is not None and m.chronic and draw < 0.5:
            options = [c for c in cat.CHRONIC if c[2] in m.chronic] or list(cat.CHRONIC)
            code, price, _ = options[int(rng.random() * len(options))]
            qty, days = 1 + int(rng.random() * 3), 30
        elif draw < 0.25:
            code, price, _ = cat.CHRONIC[int(rng.random() * len(cat.CHRONIC))]
            qty, days = 1, 7
        elif draw < 0.9:
            code, price = cat.PHARMACY_ACUTE[int(rng.random() * len(cat.PHARMACY_ACUTE))]
            qty, days = 1 + int(rng.random() * 2), 3
        else:
            code, price = cat.SELF_PAID[int(rng.random() * len(cat.SELF_PAID))]
            qty, days = 1, 0
        if code in used:
            continue
        used.add(code)
        lines.append(_line(len(lines) + 1, code, price, qty, days, day, rx))
    return lines


async def _settle(
    ctx: Ctx, key: str, req: pb.SettleRequest, start_s: float,
    *, expect: frozenset[grpc.StatusCode] = frozenset(), timeout_s: float | None = None,
) -> tuple[pb.SettlementResponse | None, grpc.StatusCode]:
    resp, code = await _call(ctx, key, ctx.stub.Settle, req, start_s, expect=expect,
                             timeout_s=timeout_s)
    if code == grpc.StatusCode.OK:
        _check(ctx, resp, req)
        if resp.status == pb.SETTLED:
            ctx.ledger.on_settled(req.request_id, req.institution_code, resp)
    elif code in UNKNOWN:
        ctx.ledger.on_unknown_settle(req.request_id, req.psn_no, req.institution_code)
    return resp, code


def _check(ctx: Ctx, resp: pb.SettlementResponse, req: pb.SettleRequest) -> None:
    for v in settlement_violations(resp, use_account=req.use_account):
        ctx.rec.violation(v)
    if resp.status == pb.SETTLED and resp.psn_no != req.psn_no:
        ctx.rec.violation(f"{req.request_id}: response for member {resp.psn_no}")


def _pharmacy_request(ctx: Ctx) -> pb.SettleRequest:
    """A point-of-sale basket at a random pharmacy, for one member of the pool."""
    m = ctx.member()
    assert m is not None
    inst = PHARMACIES[int(ctx.rng.random() * len(PHARMACIES))]
    rid = ctx.request_id(inst)
    return pb.SettleRequest(
        request_id=rid, institution_code=inst, psn_no=m.psn_no, setting=pb.PHARMACY,
        card_no=m.card_no, service_date=ctx.today.isoformat(),
        use_account=ctx.rng.random() < 0.9, lines=pharmacy_basket(ctx, m, f"RX{rid[-12:]}"),
        operator_id="bench", terminal_id=f"pos-{int(ctx.rng.random() * 40)}",
    )


async def pharmacy(ctx: Ctx, intended_s: float) -> str:
    req = _pharmacy_request(ctx)
    rid, inst = req.request_id, req.institution_code
    resp, code = await _settle(ctx, "pharmacy/Settle", req, intended_s)
    if code == grpc.StatusCode.OK and resp is not None and resp.status == pb.SETTLED:
        ctx.recent.append((rid, resp.settlement_id, req.psn_no, inst))
        if ctx.rng.random() < ctx.retry_share:  # the POS did not see the answer: re-send
            again, code2 = await _settle(ctx, "pharmacy/Settle(replay)", req, ctx.clock())
            if code2 == grpc.StatusCode.OK and again is not None:
                if not again.replay or again.settlement_id != resp.settlement_id:
                    ctx.rec.violation(f"{rid}: re-sent request was not replayed "
                                      f"({resp.settlement_id} then {again.settlement_id})")
            return _outcome(code2)
    return _outcome(code)


async def pharmacy_quote(ctx: Ctx, intended_s: float) -> str:
    """The pharmacy basket as a PreSettle: the same work as Settle without the commit,
    so pharmacy vs pharmacy_quote measures what the commit path costs."""
    req = _pharmacy_request(ctx)
    rid = req.request_id
    resp, code = await _call(ctx, "pharmacy/PreSettle", ctx.stub.PreSettle, req, intended_s)
    if code == grpc.StatusCode.OK and resp is not None:
        _check(ctx, resp, req)
        if resp.status not in (pb.QUOTED, pb.REFUSED):
            ctx.rec.violation(f"{rid}: a pre-settlement came back {resp.status}")
    return _outcome(code)


async def outpatient(ctx: Ctx, intended_s: float) -> str:
    m = ctx.member()
    assert m is not None
    rng, day = ctx.rng, ctx.today.isoformat()
    inst = (HOSPITALS + CLINICS)[int(rng.random() * (len(HOSPITALS) + len(CLINICS)))]
    rid = ctx.request_id(inst)
    rx = f"RX{rid[-12:]}"
    lines = [_line(1, cat.CONSULTATION[0], cat.CONSULTATION[1], 1, 0, day, rx)]
    for _ in range(int(rng.random() * 4)):
        code, price = cat.OUTPATIENT_SERVICES[int(rng.random() * len(cat.OUTPATIENT_SERVICES))]
        if all(ln.item_code != code for ln in lines):
            lines.append(_line(len(lines) + 1, code, price, 1, 0, day, rx))
    for _ in range(1 + int(rng.random() * 3)):
        code, price = cat.PHARMACY_ACUTE[int(rng.random() * len(cat.PHARMACY_ACUTE))]
        if all(ln.item_code != code for ln in lines):
            lines.append(_line(len(lines) + 1, code, price, 1, 3, day, rx))
    req = pb.SettleRequest(
        request_id=rid, institution_code=inst, psn_no=m.psn_no, setting=pb.OUTPATIENT,
        card_no=m.card_no, service_date=day, use_account=rng.random() < 0.8, lines=lines,
        diagnosis_code=rng.choice(("J06.9", "K29.7", "I10", "M54.5", "R51")),
        operator_id="bench", terminal_id="his-1",
    )
    _resp, status = await _settle(ctx, "outpatient/Settle", req, intended_s)
    return _outcome(status)


async def eligibility(ctx: Ctx, intended_s: float) -> str:
    index = int(ctx.rng.random() * ctx.population)  # anyone: read only
    inst = PHARMACIES[index % len(PHARMACIES)]
    req = pb.EligibilityRequest(institution_code=inst, psn_no=psn_no_of(index),
                                card_no=card_no_of(index), service_date=ctx.today.isoformat())
    resp, code = await _call(ctx, "eligibility/CheckEligibility", ctx.stub.CheckEligibility,
                             req, intended_s)
    if resp is not None and min(resp.acct_current_balance_fen, resp.acct_prior_balance_fen) < 0:
        ctx.rec.violation(f"member {req.psn_no}: negative balance in CheckEligibility")
    return _outcome(code)


async def reversal(ctx: Ctx, intended_s: float) -> str:
    """Reverse (结算撤销) a recent settlement of this process, or settle one and reverse it."""
    start = intended_s
    if ctx.recent and ctx.rng.random() < 0.7:
        rid, sid, psn, inst = ctx.recent.popleft()
    else:
        m = ctx.member()
        assert m is not None
        inst = PHARMACIES[0]
        rid = ctx.request_id(inst)
        req = pb.SettleRequest(
            request_id=rid, institution_code=inst, psn_no=m.psn_no, setting=pb.PHARMACY,
            card_no=m.card_no, service_date=ctx.today.isoformat(), use_account=True,
            lines=pharmacy_basket(ctx, m, f"RX{rid[-12:]}"), operator_id="bench",
        )
        resp, code = await _settle(ctx, "reversal/Settle", req, start)
        if code != grpc.StatusCode.OK or resp is None:
            return _outcome(code)
        if resp.status != pb.SETTLED:
            return "OK"  # refused at the gate: nothing to reverse
        sid, psn, start = resp.settlement_id, m.psn_no, ctx.clock()
    rreq = pb.ReverseRequest(request_id=ctx.request_id(inst), institution_code=inst,
                             psn_no=psn, settlement_id=sid, operator_id="bench")
    rresp, code = await _call(ctx, "reversal/ReverseSettlement", ctx.stub.ReverseSettlement,
                              rreq, start)
    if code == grpc.StatusCode.OK and rresp is not None:
        if rresp.settlement_id != sid or not rresp.reversal_id:
            ctx.rec.violation(f"reversal of {sid}: answered for {rresp.settlement_id!r}")
        ctx.ledger.on_reversed(sid)
    elif code in UNKNOWN:
        ctx.ledger.on_unknown_reversal(sid, psn, inst)
    return _outcome(code)


async def cancel(ctx: Ctx, intended_s: float) -> str:
    """Cancel by request id (冲正): of a settled request, or of one never sent (tombstone,
    then the late original must be refused)."""
    late = not ctx.recent or ctx.rng.random() < 0.4
    if late:
        m = ctx.member()
        assert m is not None
        inst, psn = PHARMACIES[1], m.psn_no
        orig_rid, sid = ctx.request_id(inst), ""
    else:
        orig_rid, sid, psn, inst = ctx.recent.popleft()
    creq = pb.CancelRequest(request_id=ctx.request_id(inst), institution_code=inst, psn_no=psn,
                            original_request_id=orig_rid, operator_id="bench")
    cresp, code = await _call(ctx, "cancel/CancelByRequest", ctx.stub.CancelByRequest, creq,
                              intended_s)
    if code != grpc.StatusCode.OK or cresp is None:
        if code in UNKNOWN and sid:
            ctx.ledger.on_unknown_reversal(sid, psn, inst)
        return _outcome(code)
    if not late:
        if cresp.outcome != pb.CancelResponse.REVERSED or cresp.settlement_id != sid:
            ctx.rec.violation(f"cancel of settled {orig_rid}: outcome "
                              f"{pb.CancelResponse.Outcome.Name(cresp.outcome)}")
        if cresp.outcome == pb.CancelResponse.REVERSED:
            ctx.ledger.on_reversed(cresp.settlement_id)
        return "OK"
    if cresp.outcome != pb.CancelResponse.TOMBSTONED:
        ctx.rec.violation(f"cancel of unsent {orig_rid}: outcome "
                          f"{pb.CancelResponse.Outcome.Name(cresp.outcome)}")
    req = pb.SettleRequest(
        request_id=orig_rid, institution_code=inst, psn_no=psn, setting=pb.PHARMACY,
        card_no=card_no_of(int(psn[6:])), service_date=ctx.today.isoformat(), use_account=True,
        lines=pharmacy_basket(ctx, None, f"RX{orig_rid[-12:]}"), operator_id="bench",
    )
    resp, code = await _settle(ctx, "cancel/Settle(late original)", req, ctx.clock(),
                               expect=frozenset({grpc.StatusCode.FAILED_PRECONDITION}))
    if code == grpc.StatusCode.OK and resp is not None and resp.status == pb.SETTLED:
        ctx.rec.violation(f"{orig_rid}: settled after it was cancelled (tombstone ignored)")
    return _outcome(code, frozenset({grpc.StatusCode.FAILED_PRECONDITION}))


_BAD_KINDS = ("quantity_zero", "negative_amount", "amount_mismatch", "no_member",
              "bad_date", "too_many_lines", "unknown_setting", "long_request_id")


def bad_settle_request(ctx: Ctx, kind: str) -> pb.SettleRequest:
    """A malformed SettleRequest (docs/benefit-rules.md §3.1): the gateway must answer
    INVALID_ARGUMENT."""
    m = _demo_traits(ctx.pool[0])
    inst = PHARMACIES[2]
    rid = ctx.request_id(inst)
    day = ctx.today.isoformat()
    lines = [_line(1, "D0001", 1250, 1, 3, day, "RXBAD")]
    req = pb.SettleRequest(request_id=rid, institution_code=inst, psn_no=m.psn_no,
                           setting=pb.PHARMACY, card_no=m.card_no, service_date=day,
                           use_account=True, lines=lines)
    if kind == "quantity_zero":
        req.lines[0].quantity, req.lines[0].amount_fen = 0, 0
    elif kind == "negative_amount":
        req.lines[0].unit_price_fen, req.lines[0].amount_fen = -1250, -1250
    elif kind == "amount_mismatch":
        req.lines[0].amount_fen = 999_999
    elif kind == "no_member":
        req.psn_no = ""
    elif kind == "bad_date":
        req.service_date = "2026-02-30"
    elif kind == "too_many_lines":
        del req.lines[:]
        req.lines.extend(_line(i, "D0001", 1250, 1, 3, day, "RXBAD") for i in range(1, 1002))
    elif kind == "unknown_setting":
        req.setting = 99  # type: ignore[assignment]
    else:
        req.request_id = "R" * 65
    return req


async def bad_request(ctx: Ctx, intended_s: float) -> str:
    req = bad_settle_request(ctx, _BAD_KINDS[int(ctx.rng.random() * len(_BAD_KINDS))])
    expect = frozenset({grpc.StatusCode.INVALID_ARGUMENT})
    resp, code = await _call(ctx, "bad_request/Settle", ctx.stub.Settle, req, intended_s,
                             expect=expect)
    if code == grpc.StatusCode.OK:
        ctx.rec.violation(f"malformed request {req.request_id[:40]} was accepted")
        if resp is not None and resp.status == pb.SETTLED:
            ctx.ledger.on_settled(req.request_id, req.institution_code, resp)
    elif code in UNKNOWN:
        ctx.ledger.on_unknown_settle(req.request_id, req.psn_no, req.institution_code)
    return _outcome(code, expect)


def inpatient_lines(ctx: Ctx, count: int, admitted: dt.date) -> list[pb.FeeLine]:
    rng = ctx.rng
    stay_days = max(1, (ctx.today - admitted).days)
    out = []
    for sn in range(1, count + 1):
        code, price, days = cat.INPATIENT_LINES[int(rng.random() * len(cat.INPATIENT_LINES))]
        day = admitted + dt.timedelta(days=int(rng.random() * stay_days))
        out.append(_line(sn, code, price, 1 + int(rng.random() * 3), days, day.isoformat(),
                         f"ORD{sn:05d}"))
    return out


async def inpatient(ctx: Ctx, intended_s: float) -> str:
    """Admit, upload 200-5,000 fee lines in chunks, discharge, pre-settle, settle."""
    if not ctx.inpatient_free:
        return await outpatient(ctx, intended_s)  # every reserved member is in hospital
    index = ctx.inpatient_free.popleft()
    try:
        return await _inpatient(ctx, intended_s, index)
    finally:
        ctx.inpatient_free.append(index)


async def _inpatient(ctx: Ctx, intended_s: float, index: int) -> str:
    rng = ctx.rng
    psn, card = psn_no_of(index), card_no_of(index)
    inst = HOSPITALS[int(rng.random() * len(HOSPITALS))]
    admitted = ctx.today - dt.timedelta(days=3 + int(rng.random() * 10))
    diag = rng.choice(("J18.9", "I21.9", "K35.8", "S72.0", "I63.9"))
    areq = pb.AdmitRequest(request_id=ctx.request_id(inst), institution_code=inst, psn_no=psn,
                           card_no=card, admission_date=admitted.isoformat(),
                           diagnosis_code=diag, operator_id="bench")
    refused = frozenset({grpc.StatusCode.FAILED_PRECONDITION})  # gate refusal: not an error
    aresp, code = await _call(ctx, "inpatient/Admit", ctx.stub.Admit, areq, intended_s,
                              expect=refused if not ctx.traits_known else frozenset())
    if code != grpc.StatusCode.OK or aresp is None:
        return _outcome(code, refused if not ctx.traits_known else frozenset())
    if aresp.status == "REFUSED":  # refused by the gate: a normal answer, no episode
        return "OK" if not ctx.traits_known else "REFUSED"
    episode = aresp.episode_id
    lo, hi = ctx.inpatient_lines
    count = lo if lo >= hi else lo + int(rng.random() * (hi - lo + 1))
    lines = inpatient_lines(ctx, count, admitted)
    step = max(1, ctx.chunk_lines)
    chunks = [pb.FeeDetailChunk(request_id=ctx.request_id(inst), institution_code=inst,
                                psn_no=psn, episode_id=episode, lines=lines[i:i + step])
              for i in range(0, len(lines), step)]
    t0 = ctx.clock()
    try:
        up = await ctx.stub.UploadFeeDetails(iter(chunks), timeout=ctx.upload_deadline_s)
        ucode = grpc.StatusCode.OK
    except grpc.aio.AioRpcError as e:
        up, ucode = None, e.code()
    ctx.rec.rpc("inpatient/UploadFeeDetails", ctx.clock() - t0, ucode.name,
                expected=ucode == grpc.StatusCode.OK)
    if ucode != grpc.StatusCode.OK or up is None:
        return _outcome(ucode)
    if up.episode_line_count != count:
        ctx.rec.violation(f"episode {episode}: {up.episode_line_count} lines, sent {count}")
    day = ctx.today.isoformat()
    dreq = pb.DischargeRequest(request_id=ctx.request_id(inst), institution_code=inst,
                               psn_no=psn, episode_id=episode, discharge_date=day,
                               operator_id="bench")
    _d, code = await _call(ctx, "inpatient/Discharge", ctx.stub.Discharge, dreq, ctx.clock())
    if code != grpc.StatusCode.OK:
        return _outcome(code)
    sreq = pb.SettleRequest(request_id=ctx.request_id(inst), institution_code=inst, psn_no=psn,
                            setting=pb.INPATIENT, card_no=card, service_date=day,
                            use_account=rng.random() < 0.8, episode_id=episode,
                            diagnosis_code=diag, operator_id="bench")
    quote, code = await _call(ctx, "inpatient/PreSettle", ctx.stub.PreSettle, sreq, ctx.clock(),
                              timeout_s=ctx.upload_deadline_s)
    if code != grpc.StatusCode.OK:
        return _outcome(code)
    _check(ctx, quote, sreq)
    settled, code = await _settle(ctx, "inpatient/Settle", sreq, ctx.clock(),
                                  timeout_s=ctx.upload_deadline_s)
    if settled is not None and settled.status == pb.SETTLED and not same_numbers(quote, settled):
        ctx.rec.violation(f"episode {episode}: pre-settle and settle differ")
    return _outcome(code)


Scenario = Callable[[Ctx, float], Awaitable[str]]
SCENARIOS: dict[str, Scenario] = {
    "pharmacy": pharmacy, "pharmacy_quote": pharmacy_quote, "outpatient": outpatient,
    "eligibility": eligibility,
    "reversal": reversal, "cancel": cancel, "bad_request": bad_request, "inpatient": inpatient,
}  # fmt: skip
# The institutions each scenario sends for (the gateway bounds in-flight work per institution).
INSTITUTIONS: dict[str, tuple[str, ...]] = {
    "pharmacy": PHARMACIES, "pharmacy_quote": PHARMACIES, "outpatient": HOSPITALS + CLINICS,
    "eligibility": PHARMACIES, "reversal": PHARMACIES, "cancel": PHARMACIES,
    "bad_request": PHARMACIES[2:], "inpatient": HOSPITALS,
}  # fmt: skip


def institutions_of(mix: dict[str, float]) -> set[str]:
    """Every institution a mix sends for."""
    return {i for name, w in mix.items() if w > 0 for i in INSTITUTIONS.get(name, ())}


def parse_mix(text: str) -> dict[str, float]:
    """``pharmacy=55,outpatient=20`` or a scenario name or ``day``."""
    if text == "day":
        return dict(DAY_MIX)
    if text in SCENARIOS:
        return {text: 1.0}
    out: dict[str, float] = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
        out[name] = float(weight or 1)
    return out


class Mix:
    """Picks a scenario by weight for each arrival, then runs it and records it."""

    def __init__(self, ctx: Ctx, weights: dict[str, float]) -> None:
        self.ctx = ctx
        self.names = [n for n, w in weights.items() if w > 0]
        total = sum(weights[n] for n in self.names)
        acc = 0.0
        self.bounds: list[float] = []
        for n in self.names:
            acc += weights[n] / total
            self.bounds.append(acc)

    def pick(self) -> str:
        draw = self.ctx.rng.random()
        for name, bound in zip(self.names, self.bounds, strict=True):
            if draw < bound:
                return name
        return self.names[-1]

    async def op(self, intended_s: float) -> str:
        """Runs one transaction; returns ``"scenario\toutcome"`` for the recorder."""
        name = self.pick()
        try:
            outcome = await SCENARIOS[name](self.ctx, intended_s)
        except Exception as e:  # a bench bug must not stop the run silently
            self.ctx.rec.violation(f"{name}: client error {type(e).__name__}: {e}")
            outcome = "CLIENT_ERROR"
        return f"{name}\t{outcome}"
