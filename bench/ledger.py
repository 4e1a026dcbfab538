"""Client-side ledger of what the gateway told us, and the end-of-run money check.

During the run every settlement, reversal and cancel outcome is logged, and every
request whose outcome the client never saw (deadline, UNAVAILABLE, ...) is kept
aside. After the run (docs/benefit-rules.md §9, "over any run, whatever the faults"):

1. outcomes never seen are resolved with GetSettlement by (psn_no, request_id),
   reversals with GetSettlement by settlement id;
2. for every member touched: balances before (CheckEligibility, before the
   first request) minus balances after (CheckEligibility, after the run) must
   equal, bucket by bucket, the account payments of its settlements that were
   not reversed;
3. no request id took effect twice: each settled request id maps to exactly one
   settlement id and each settlement id to one request id, both in the
   responses and in GetSettlement by request id (cross-checked on a sample).

Memory is one small record per mutating request of the run (bounded by the
run's request count, itself bounded by the scheduler).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import grpc

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc

ELIGIBILITY_INSTITUTION = "P31010001"
CROSSCHECK_MAX = 2000  # settled request ids re-read with GetSettlement after the run
CONCURRENCY = 32  # verification calls in flight


@dataclass(slots=True)
class Seen:
    psn_no: str
    institution: str
    settlement_id: str
    acct_current_fen: int
    acct_prior_fen: int


@dataclass
class Ledger:
    settled: dict[str, Seen] = field(default_factory=dict)  # request_id -> settlement
    request_of: dict[str, str] = field(default_factory=dict)  # settlement_id -> request_id
    reversed: set[str] = field(default_factory=set)  # settlement ids
    unknown_settles: dict[str, tuple[str, str]] = field(default_factory=dict)  # rid -> psn, inst
    unknown_reversals: dict[str, tuple[str, str]] = field(default_factory=dict)  # sid -> psn, inst
    touched: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def problem(self, message: str) -> None:
        if len(self.problems) < 200:
            self.problems.append(message)

    def on_settled(self, request_id: str, institution: str, resp: pb.SettlementResponse) -> None:
        """A SETTLED (or REVERSED, when read back) response for ``request_id``."""
        sid = resp.settlement_id
        prior = self.settled.get(request_id)
        if prior is not None and prior.settlement_id != sid:
            self.problem(f"request {request_id} applied twice: {prior.settlement_id} and {sid}")
            return
        other = self.request_of.get(sid)
        if other is not None and other != request_id:
            self.problem(f"settlement {sid} returned for two request ids: {other}, {request_id}")
            return
        self.unknown_settles.pop(request_id, None)
        self.touched.add(resp.psn_no)
        a = resp.amounts
        self.settled[request_id] = Seen(resp.psn_no, institution, sid, a.acct_current_pay_fen,
                                        a.acct_prior_pay_fen)
        self.request_of[sid] = request_id

    def on_unknown_settle(self, request_id: str, psn_no: str, institution: str) -> None:
        self.touched.add(psn_no)
        if request_id not in self.settled:
            self.unknown_settles[request_id] = (psn_no, institution)

    def on_reversed(self, settlement_id: str) -> None:
        self.reversed.add(settlement_id)
        self.unknown_reversals.pop(settlement_id, None)

    def on_unknown_reversal(self, settlement_id: str, psn_no: str, institution: str) -> None:
        if settlement_id not in self.reversed:
            self.unknown_reversals[settlement_id] = (psn_no, institution)

    def expected_payments(self) -> dict[str, tuple[int, int]]:
        """psn_no -> (current, prior) account payments of unreversed settlements."""
        out: dict[str, tuple[int, int]] = {}
        for seen in self.settled.values():
            if seen.settlement_id in self.reversed:
                continue
            cur, pri = out.get(seen.psn_no, (0, 0))
            out[seen.psn_no] = (cur + seen.acct_current_fen, pri + seen.acct_prior_fen)
        return out


Balances = dict[str, tuple[int, int]]


RETRIABLE = frozenset({grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE})
RETRIES_MAX = 30
RETRY_PAUSE_MAX_S = 1.0


async def _retrying(call: Any, request: Any, *, timeout_s: float) -> Any:
    """A read of the verification, retried while the gateway sheds load or Redis is
    away (as any client should); the last error is raised after RETRIES_MAX tries."""
    pause = 0.02
    for attempt in range(RETRIES_MAX + 1):
        try:
            return await call(request, timeout=timeout_s)
        except grpc.aio.AioRpcError as e:
            if e.code() not in RETRIABLE or attempt == RETRIES_MAX:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, RETRY_PAUSE_MAX_S)
    raise AssertionError("unreachable")


async def _bounded(coros: list, limit: int = CONCURRENCY) -> list:  # type: ignore[type-arg]
    sem = asyncio.Semaphore(limit)

    async def one(c):  # type: ignore[no-untyped-def]
        async with sem:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


def card_of_psn_no(psn_no: str) -> str:
    """The card bound to a member of the bench and demo populations (``card_no_of`` of
    the member's index): "K", the region's first four digits, the 8-digit index."""
    return f"K{psn_no[:4]}{psn_no[-8:]}"


async def balances_of(
    stub: pb_grpc.ClaimGatewayStub, psn_nos: list[str], *, timeout_s: float = 10.0
) -> tuple[Balances, list[str]]:
    """(current, prior) balances of each member, via CheckEligibility; and failures."""
    failures: list[str] = []

    async def one(psn: str) -> tuple[str, tuple[int, int] | None]:
        try:
            r = await _retrying(
                stub.CheckEligibility,
                # The gateway answers balances only to the member's card.
                pb.EligibilityRequest(institution_code=ELIGIBILITY_INSTITUTION, psn_no=psn,
                                      card_no=card_of_psn_no(psn)),
                timeout_s=timeout_s,
            )
        except grpc.aio.AioRpcError as e:
            failures.append(f"CheckEligibility {psn}: {e.code().name}")
            return psn, None
        return psn, (r.acct_current_balance_fen, r.acct_prior_balance_fen)

    results = await _bounded([one(p) for p in psn_nos])
    return {p: b for p, b in results if b is not None}, failures


@dataclass
class Verdict:
    passed: bool
    members_checked: int
    settlements: int
    reversed: int
    unknown_resolved: int
    crosschecked: int
    problems: list[str]

    def to_json(self) -> dict[str, object]:
        return {
            "verdict": "PASS" if self.passed else "FAIL",
            "members_checked": self.members_checked,
            "settlements": self.settlements,
            "reversed": self.reversed,
            "unknown_resolved": self.unknown_resolved,
            "crosschecked": self.crosschecked,
            "problems": self.problems[:50],
            "problem_count": len(self.problems),
        }


async def verify(
    stub: pb_grpc.ClaimGatewayStub, ledger: Ledger, before: Balances,
    *, crosscheck_max: int = CROSSCHECK_MAX,
) -> Verdict:
    """The end-of-run check; call it once no request of this ledger is in flight."""
    resolved = 0

    async def resolve_settle(rid: str, psn: str, inst: str) -> None:
        nonlocal resolved
        try:
            r = await _retrying(
                stub.GetSettlement,
                pb.GetSettlementRequest(institution_code=inst, psn_no=psn, request_id=rid),
                timeout_s=10,
            )
        except grpc.aio.AioRpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                ledger.unknown_settles.pop(rid, None)  # never took effect
                resolved += 1
            else:
                ledger.problem(f"unresolved request {rid}: {e.code().name}")
            return
        resolved += 1
        ledger.on_settled(rid, inst, r)
        if r.status == pb.REVERSED:
            ledger.on_reversed(r.settlement_id)

    async def resolve_reversal(sid: str, psn: str, inst: str) -> None:
        nonlocal resolved
        try:
            r = await _retrying(
                stub.GetSettlement,
                pb.GetSettlementRequest(institution_code=inst, settlement_id=sid), timeout_s=10,
            )
        except grpc.aio.AioRpcError as e:
            ledger.problem(f"unresolved reversal of {sid}: {e.code().name}")
            return
        resolved += 1
        if r.status == pb.REVERSED:
            ledger.on_reversed(sid)
        else:
            ledger.unknown_reversals.pop(sid, None)

    await _bounded([resolve_settle(rid, p, i) for rid, (p, i) in
                    list(ledger.unknown_settles.items())])
    await _bounded([resolve_reversal(sid, p, i) for sid, (p, i) in
                    list(ledger.unknown_reversals.items())])

    # No request id applied twice, read back from the gateway's side.
    sample = list(ledger.settled.items())[:crosscheck_max]

    async def crosscheck(rid: str, seen: Seen) -> None:
        try:
            r = await _retrying(
                stub.GetSettlement,
                pb.GetSettlementRequest(institution_code=seen.institution, psn_no=seen.psn_no,
                                        request_id=rid), timeout_s=10,
            )
        except grpc.aio.AioRpcError as e:
            ledger.problem(f"GetSettlement {rid}: {e.code().name}")
            return
        if r.settlement_id != seen.settlement_id:
            ledger.problem(f"request {rid}: settlement {seen.settlement_id} in the response, "
                           f"{r.settlement_id} in GetSettlement")
        if (r.status == pb.REVERSED) != (seen.settlement_id in ledger.reversed):
            ledger.problem(f"settlement {seen.settlement_id}: status "
                           f"{pb.SettlementStatus.Name(r.status)} but the client saw "
                           f"{'a' if seen.settlement_id in ledger.reversed else 'no'} reversal")

    await _bounded([crosscheck(rid, seen) for rid, seen in sample])

    touched = sorted(ledger.touched)
    after, failures = await balances_of(stub, touched)
    for f in failures:
        ledger.problem(f)
    expected = ledger.expected_payments()
    for psn in touched:
        if psn not in before:
            ledger.problem(f"member {psn} touched but not in the before-snapshot")
            continue
        if psn not in after:
            continue
        (b_cur, b_pri), (a_cur, a_pri) = before[psn], after[psn]
        e_cur, e_pri = expected.get(psn, (0, 0))
        if (b_cur - a_cur, b_pri - a_pri) != (e_cur, e_pri):
            ledger.problem(
                f"member {psn}: balances moved by current {b_cur - a_cur}, prior {b_pri - a_pri}"
                f" but unreversed settlements paid current {e_cur}, prior {e_pri}"
            )
        if min(a_cur, a_pri) < 0:
            ledger.problem(f"member {psn}: negative balance after the run")
    for rid in ledger.unknown_settles:
        ledger.problem(f"request {rid}: outcome never resolved")
    return Verdict(
        passed=not ledger.problems,
        members_checked=len(touched),
        settlements=len(ledger.settled),
        reversed=len(ledger.reversed),
        unknown_resolved=resolved,
        crosschecked=len(sample),
        problems=list(ledger.problems),
    )
