"""Faults under bench load, each ending with the bench's reconciliation check (invariant 6
of docs/benefit-rules.md §9: over any run, whatever the faults, no money appears or
disappears, and no request id takes effect twice).

Each test drives a bounded open-loop bench phase (procs=0: the bench's client runs inline)
against the real `claimgate serve --workers 2` process tree of the ``stack`` fixture; a
thread injects the fault while the load runs (its sleep only places the fault mid-run, it
asserts nothing). Requests the client never saw answered are resolved by the bench with
GetSettlement by request id before balances are compared.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest

from bench import catalogue as cat
from bench.ledger import Ledger, balances_of, verify
from bench.population import card_no_of, psn_no_of, traits_of
from bench.runner import Bench, BenchConfig
from bench.scenarios import UNKNOWN, parse_mix
from bench.worker import PhaseSpec
from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.validate import today
from tests.faults.conftest import POPULATION, SEED, Stack
from tests.integration.harness import wait_for

pytestmark = pytest.mark.faults

MIX = "pharmacy=55,outpatient=15,eligibility=10,reversal=8,cancel=8,inpatient=4"
RATE_PER_S = 250.0
LOAD_S = 4.0
FAULT_AT_S = 1.5
# Expected refusals that the bench's mix produces on purpose (a late original after its
# cancel); not counted as errors.
EXPECTED = {("cancel/Settle(late original)", "FAILED_PRECONDITION")}


def _inject_later(delay_s: float, fault: Callable[[], None]) -> Callable[[], None]:
    """Run ``fault`` in a thread after ``delay_s``; the returned join re-raises its error."""
    errors: list[BaseException] = []

    def main() -> None:
        time.sleep(delay_s)
        try:
            fault()
        except BaseException as e:  # reported by join()
            errors.append(e)

    t = threading.Thread(target=main, name="fault", daemon=True)
    t.start()

    def join() -> None:
        t.join(60)
        assert not t.is_alive(), "fault injection did not finish"
        if errors:
            raise errors[0]

    return join


def _summarise(name: str, phase: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
    calls = 0
    errors: Counter[str] = Counter()
    for key, s in phase["scenarios"].items():
        if "/" not in key:
            continue
        calls += s["count"]
        for status, n in s["errors_by_status"].items():
            if (key, status) not in EXPECTED:
                errors[status] += n
    row = {"fault": name, "transactions": phase["requests"], "rpcs": calls,
           "errors": sum(errors.values()), "by_status": dict(errors),
           "violations": phase["violation_count"], "reconciliation": verdict["verdict"],
           "settlements": verdict["settlements"], "reversed": verdict["reversed"],
           "unknown_resolved": verdict["unknown_resolved"]}
    print(f"\n[faults] {name}: transactions={row['transactions']} rpcs={calls} "
          f"errors={row['errors']} {dict(errors)} violations={row['violations']} "
          f"reconciliation={row['reconciliation']} settlements={row['settlements']} "
          f"reversed={row['reversed']} unknown_resolved={row['unknown_resolved']}")
    return row


def _load_with_fault(stack: Stack, name: str, fault: Callable[[], None]) -> dict[str, Any]:
    cfg = BenchConfig(target=stack.address, population=POPULATION, pool=200, seed=SEED,
                      procs=0, deadline_s=2.0, inpatient_lines=(20, 40))
    with Bench(cfg, log=None) as bench:
        snap = bench.snapshot()
        assert snap["failure_count"] == 0, snap["failures"]
        join = _inject_later(FAULT_AT_S, fault)
        phase = bench.phase(PhaseSpec(name=name, mix=parse_mix(MIX), rate_per_s=RATE_PER_S,
                                      duration_s=LOAD_S))
        join()
        stack.wait_serving()  # the check reads balances through the gateway
        verdict = bench.verify()
    row = _summarise(name, phase, verdict)
    assert verdict["verdict"] == "PASS", verdict["problems"]
    assert phase["violation_count"] == 0, phase["violations"]
    return row


def test_worker_killed_mid_load(stack: Stack) -> None:
    killed: list[int] = []

    def kill_worker() -> None:
        victim = stack.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)  # a worker of our own gateway, by pid
        killed.append(victim)

    _load_with_fault(stack, "kill -9 worker", kill_worker)
    wait_for(lambda: killed[0] not in stack.worker_pids() and len(stack.worker_pids()) == 2,
             "the supervisor restarted the worker", 60)
    assert stack.process.poll() is None


def test_redis_restarted_mid_load(stack: Stack) -> None:
    pids: list[int | None] = []
    url = stack.redis.url

    def restart() -> None:
        pids.append(stack.redis.pid)
        stack.redis.stop()  # SIGTERM: the AOF is flushed
        time.sleep(0.5)
        stack.redis.start()  # same port, same data directory: state comes back from the AOF
        pids.append(stack.redis.pid)

    _load_with_fault(stack, "redis restart (AOF)", restart)
    assert pids[0] != pids[1] and stack.redis.url == url


def test_redis_paused_past_the_budget_mid_load(stack: Stack) -> None:
    def pause() -> None:
        r = stack.client()
        try:
            # Writes wait 1.5 s, far past Settle's 200 ms budget: the gateway answers
            # UNAVAILABLE while some commits are queued and land after the pause.
            r.execute_command("CLIENT", "PAUSE", 1500, "WRITE")
        finally:
            r.close()

    _load_with_fault(stack, "redis CLIENT PAUSE 1500 WRITE", pause)


# --- clients that retry a timed-out request with the same request id -----------------------
RETRY_REQUESTS = 400
RETRY_CONCURRENCY = 16
RETRY_ATTEMPTS_MAX = 30
FIRST_DEADLINE_S = 0.001  # shorter than a settlement takes: the first attempts time out
DEADLINE_MAX_S = 2.0
PHARMACY_CODE = "P31010001"


@dataclass
class RetryStats:
    attempts: int = 0
    timeouts: int = 0
    settled: int = 0
    replays: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    gave_up: int = 0


async def _retrying_clients(address: str, run_tag: str) -> tuple[RetryStats, dict[str, Any]]:
    stats = RetryStats()
    ledger = Ledger()
    members = [i for i in range(POPULATION) if traits_of(i, SEED).eligible][:100]
    day = today().isoformat()
    async with grpc.aio.insecure_channel(address) as ch:
        stub = pb_grpc.ClaimGatewayStub(ch)
        before, failures = await balances_of(stub, [psn_no_of(i) for i in members])
        assert not failures, failures
        sem = asyncio.Semaphore(RETRY_CONCURRENCY)

        async def one(k: int) -> None:
            i = members[k % len(members)]
            rid = f"{PHARMACY_CODE}RT{run_tag}{k:06d}"
            lines = []
            for sn in range(1, 4):
                code, price = cat.PHARMACY_ACUTE[(k + sn * 7) % len(cat.PHARMACY_ACUTE)]
                lines.append(pb.FeeLine(feedetl_sn=sn, item_code=code, unit_price_fen=price,
                                        quantity=1, amount_fen=price, days_supply=3,
                                        service_date=day, prescription_no=f"RX{rid[-12:]}"))
            req = pb.SettleRequest(
                request_id=rid, institution_code=PHARMACY_CODE, psn_no=psn_no_of(i),
                setting=pb.PHARMACY, card_no=card_no_of(i), service_date=day, use_account=True,
                lines=lines, operator_id="faults", terminal_id="retry",
            )
            timeout = FIRST_DEADLINE_S
            async with sem:
                for _ in range(RETRY_ATTEMPTS_MAX):
                    stats.attempts += 1
                    try:
                        resp = await stub.Settle(req, timeout=timeout)
                    except grpc.aio.AioRpcError as e:
                        if e.code() in UNKNOWN:  # outcome unknown: re-send the same request
                            stats.timeouts += 1
                            ledger.on_unknown_settle(rid, req.psn_no, PHARMACY_CODE)
                            timeout = min(timeout * 2, DEADLINE_MAX_S)
                            continue
                        stats.refused[e.code().name] += 1
                        return
                    if resp.status == pb.SETTLED:
                        stats.settled += 1
                        stats.replays += resp.replay
                        ledger.on_settled(rid, PHARMACY_CODE, resp)
                    else:
                        stats.refused[pb.SettlementStatus.Name(resp.status)] += 1
                    return
                stats.gave_up += 1

        await asyncio.gather(*(one(k) for k in range(RETRY_REQUESTS)))
        verdict = await verify(stub, ledger, before)
    return stats, verdict.to_json()


def test_clients_retry_timed_out_requests_with_the_same_id(stack: Stack) -> None:
    stats, verdict = asyncio.run(_retrying_clients(stack.address, time.strftime("%H%M%S")))
    print(f"\n[faults] client retries (same request id): requests={RETRY_REQUESTS} "
          f"attempts={stats.attempts} timed_out={stats.timeouts} settled={stats.settled} "
          f"replays={stats.replays} refused={dict(stats.refused)} gave_up={stats.gave_up} "
          f"reconciliation={verdict['verdict']} unknown_resolved={verdict['unknown_resolved']}")
    assert verdict["verdict"] == "PASS", verdict["problems"]
    assert stats.gave_up == 0
    assert stats.timeouts > 0, "no attempt timed out: the fault was not exercised"
    assert stats.settled == verdict["settlements"]
