"""Redis Cluster failover under settlement load: a master killed with SIGKILL and left dead.

The cluster is the module's own (3 masters, a replica each and one spare replica, seven
redis-servers on loopback; ``cluster-node-timeout`` 1 s so a failover completes in
seconds; the spare migrates to a promoted master left without a replica) behind a
real ``claimgate serve --workers 2 --redis-cluster`` process tree. Every wait is on a
state (a promotion, a health status, a count of answers) and bounded; nothing asserts
on a duration.

The drill counts money after each failover: every unknown outcome is resolved with
GetSettlement by request id; every acknowledged settlement is looked up by its id (one
that is gone is a *lost* settlement); for every member, balances before minus after
equal the account payments of its settlements; no request id took effect twice; and
Reconcile equals the client's own totals.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import orjson
import pytest
from grpc_health.v1 import health_pb2
from redis.crc import key_slot

from bench import catalogue as cat
from bench.ledger import Ledger, balances_of, verify
from bench.population import card_no_of, psn_no_of, traits_of, write_members_csv
from bench.scenarios import UNKNOWN
from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.cli import main as claimgate
from gateway.keys import MemberKeys
from gateway.redis_cluster import RedisCluster
from gateway.validate import today
from tests.integration.harness import health_status, served_process, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.cluster]

POPULATION = 600
SEED = 20260101
NODE_TIMEOUT_MS = 1000
STATE_LIMIT_S = 60.0  # bound of every wait for a state
CONCURRENCY = 12
SETTLE_TIMEOUT_S = 2.0
ATTEMPTS_MAX = 60  # a client re-sends an unknown outcome with the same request id
ANSWERS_PER_STEP = 20  # answers on the victim's slots that mark each step of the drill

_runs = itertools.count(1)


class Cluster:
    """The module's cluster, its members, and the repairs between tests."""

    def __init__(self, redis: RedisCluster, tmp: Path) -> None:
        self.redis = redis
        self.tmp = tmp
        self.members = [i for i in range(POPULATION) if traits_of(i, SEED).eligible]

    @property
    def url(self) -> str:
        running = next(n for n in self.redis.nodes if n.is_running())
        return running.url

    def slot_of(self, index: int) -> int:
        return int(key_slot(MemberKeys.of(psn_no_of(index)).member.encode()))

    def owner_of(self, index: int) -> int:
        return self.redis.owner_of_slot(self.slot_of(index))

    def heal(self) -> None:
        """Restart the nodes a test killed (each rejoins as a replica of whoever serves
        its slots now) and wait until every master has a linked replica again."""
        for index, node in enumerate(self.redis.nodes):
            if not node.is_running():
                node.start()
            self.redis.command(index, "CONFIG", "SET", "masterauth", "")  # see _lag_replication
        masters = self.redis.masters

        def healed() -> bool:
            owners = {self.redis.owner_of_slot(s) for s in (0, 8000, 16383)}
            if len(owners) != masters:
                return False
            for owner in owners:
                reps = self.redis.replicas_of(owner)
                if not reps or not all(self.redis._replica_linked(r) for r in reps):
                    return False
            return all(self.redis.cluster_info(i)["cluster_state"] == "ok"
                       for i in range(len(self.redis.nodes)))

        wait_for(healed, "every master with a linked replica", STATE_LIMIT_S)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("failover")
    redis = RedisCluster(tmp / "cluster", masters=3, replicas=1, spare_replicas=1,
                         cluster_node_timeout_ms=NODE_TIMEOUT_MS, ready_timeout_s=60)
    with redis:
        url = redis.url
        assert claimgate(["seed", "--members", "0", "--redis-url", url, "--redis-cluster"]) == 0
        csv_path = tmp / "members.csv"
        write_members_csv(csv_path, POPULATION, SEED)
        assert claimgate(["load", "members", str(csv_path), "--redis-url", url,
                          "--redis-cluster"]) == 0
        yield Cluster(redis, tmp)


def settle_request(index: int, inst: str, rid: str) -> pb.SettleRequest:
    day = today().isoformat()
    lines = []
    for sn in range(1, 3):
        code, price = cat.PHARMACY_ACUTE[(len(rid) * 7 + sn * 5 + index) % len(cat.PHARMACY_ACUTE)]
        # days_supply 0: no refill window, so every claim of the drill is payable
        lines.append(pb.FeeLine(feedetl_sn=sn, item_code=code, unit_price_fen=price, quantity=1,
                                amount_fen=price, days_supply=0, service_date=day,
                                prescription_no=f"RX{rid[-14:]}"))
    return pb.SettleRequest(
        request_id=rid, institution_code=inst, psn_no=psn_no_of(index), setting=pb.PHARMACY,
        card_no=card_no_of(index), service_date=day, use_account=True, lines=lines,
        operator_id="failover", terminal_id="drill",
    )


def _channel(address: str) -> grpc.Channel:
    """A channel with a connection of its own (so it lands on a worker of its own choice)."""
    return grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])


# --- health follows what the claim path can reach -------------------------------------------
def test_health_reports_unreachable_slots_and_every_worker_follows_the_promotion(
    cluster: Cluster,
) -> None:
    """A master dies while its replica may not take over (cluster-replica-no-failover):
    the workers say NOT_SERVING and a claim on its slots is UNAVAILABLE. Once the replica
    is promoted, every worker serves those slots again by itself, and the retried request
    (same id) takes effect once."""
    cluster.heal()
    r = cluster.redis
    member = cluster.members[0]
    victim = cluster.owner_of(member)
    replica = r.replicas_of(victim)[0]
    inst = "P31010001"
    run = next(_runs)
    log = cluster.tmp / f"gateway-health-{run}.log"
    with served_process(cluster.url, log, args=["--redis-cluster"],
                        budgets_ms="CheckEligibility=5000,GetSettlement=5000") as (_p, address):
        stub_ch = _channel(address)
        stub = pb_grpc.ClaimGatewayStub(stub_ch)
        first = stub.Settle(settle_request(member, inst, f"{inst}HC{run:03d}{time.time_ns()}"))
        assert first.status == pb.SETTLED
        r.command(replica, "CONFIG", "SET", "cluster-replica-no-failover", "yes")
        try:
            r.kill(victim)
            wait_for(lambda: health_status(stub_ch) == health_pb2.HealthCheckResponse.NOT_SERVING,
                     "NOT_SERVING while the dead master owns slots", STATE_LIMIT_S)
            down = settle_request(member, inst, f"{inst}HD{run:03d}{time.time_ns()}")
            with pytest.raises(grpc.RpcError) as e:
                stub.Settle(down, timeout=5)
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        finally:
            r.command(replica, "CONFIG", "SET", "cluster-replica-no-failover", "no")
        wait_for(lambda: cluster.owner_of(member) == replica, "the replica promoted",
                 STATE_LIMIT_S)
        wait_for(lambda: health_status(stub_ch) == health_pb2.HealthCheckResponse.SERVING,
                 "SERVING after the promotion", STATE_LIMIT_S)
        # Eight connections of their own, spread over the workers by the kernel: each one
        # settles on the promoted replica's slots without a restart.
        for k in range(8):
            with _channel(address) as ch:
                s = pb_grpc.ClaimGatewayStub(ch)
                rid = f"{inst}HW{run:03d}{k}{time.time_ns()}"
                outcome: list[int] = []

                def settled(s: Any = s, rid: str = rid, outcome: list[int] = outcome) -> bool:
                    try:
                        outcome.append(s.Settle(settle_request(member, inst, rid),
                                                timeout=5).status)
                    except grpc.RpcError as err:
                        assert err.code() in UNKNOWN, err
                        return False
                    return True

                wait_for(settled, f"a settlement on the promoted replica (connection {k})",
                         STATE_LIMIT_S)
                assert outcome[-1] == pb.SETTLED
        again = stub.Settle(down, timeout=5)  # the request that got UNAVAILABLE, same id
        assert again.status == pb.SETTLED and not again.replay
        by_id = stub.GetSettlement(pb.GetSettlementRequest(
            institution_code=inst, psn_no=down.psn_no, request_id=down.request_id))
        assert by_id.settlement_id == again.settlement_id
        stub_ch.close()


# --- the drill -----------------------------------------------------------------------------
@dataclass
class Stats:
    attempts: int = 0
    settled: int = 0
    unknown: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    gave_up: int = 0
    victim_answers: int = 0  # answers (any outcome, each attempt) on the victim's slots
    victim_settled: int = 0
    victim_settled_after_promotion: int = 0
    amounts: dict[str, pb.Amounts] = field(default_factory=dict)  # rid -> acknowledged amounts


async def _until(predicate: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + STATE_LIMIT_S
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _lag_replication(redis: RedisCluster, replica: int) -> None:
    """Make the replica stop receiving its master's writes while both keep running: it
    drops its link and cannot authenticate again (a wrong masterauth), so everything the
    master acknowledges from now on exists on the master only, as when replication lags."""
    redis.command(replica, "CONFIG", "SET", "masterauth", "not-the-password")
    redis.command(replica, "CLIENT", "KILL", "TYPE", "master")


def _declared(baseline: pb.ReconcileTotals, amounts: list[pb.Amounts]) -> pb.ReconcileTotals:
    """The institution's totals as the client knows them: the baseline plus this run."""
    t = pb.ReconcileTotals()
    t.CopyFrom(baseline)
    t.settlement_count += len(amounts)
    for name in ("medfee_sumamt_fen", "fund_pay_sumamt_fen", "hifp_pay_fen",
                 "supplementary_pay_fen", "hifmi_pay_fen", "maf_pay_fen", "acct_pay_fen",
                 "psn_cash_pay_fen"):
        setattr(t, name, getattr(t, name) + sum(getattr(a, name) for a in amounts))
    return t


async def _drill(cluster: Cluster, address: str, *, inst: str, lag: bool) -> dict[str, Any]:
    r = cluster.redis
    run = next(_runs)
    members = cluster.members
    victim = cluster.owner_of(members[0])
    victim_slot = cluster.slot_of(members[0])
    on_victim = {i for i in members if cluster.owner_of(i) == victim}
    stats = Stats()
    ledger = Ledger()
    stop = asyncio.Event()
    promoted = asyncio.Event()
    seq = itertools.count()
    # Connections of their own, which the kernel spreads over the workers.
    channels = [grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(4)]
    stubs = [pb_grpc.ClaimGatewayStub(c) for c in channels]
    async with grpc.aio.insecure_channel(address) as ch:
        stub = pb_grpc.ClaimGatewayStub(ch)
        before, failures = await balances_of(stub, [psn_no_of(i) for i in members])
        assert not failures, failures
        day = today()
        period = {"institution_code": inst, "to_date": day.isoformat(),
                  "from_date": (day - dt.timedelta(days=1)).isoformat()}
        # What earlier tests settled at this institution: the client's totals add to it.
        baseline = (await stub.Reconcile(pb.ReconcileRequest(**period), timeout=30)).gateway

        async def client(stub: pb_grpc.ClaimGatewayStub) -> None:
            while not stop.is_set():
                k = next(seq)
                index = members[k % len(members)]
                rid = f"{inst}FO{run:03d}{k:07d}"
                req = settle_request(index, inst, rid)
                for attempt in range(ATTEMPTS_MAX):
                    stats.attempts += 1
                    try:
                        resp = await stub.Settle(req, timeout=SETTLE_TIMEOUT_S)
                    except grpc.aio.AioRpcError as e:
                        stats.victim_answers += index in on_victim
                        if e.code() in UNKNOWN:  # may have taken effect: same id again
                            stats.unknown += 1
                            ledger.on_unknown_settle(rid, req.psn_no, inst)
                            await asyncio.sleep(min(0.02 * 2 ** attempt, 0.5))
                            continue
                        stats.refused[e.code().name] += 1
                        break
                    stats.victim_answers += index in on_victim
                    if resp.status == pb.SETTLED:
                        stats.settled += 1
                        stats.amounts[rid] = resp.amounts
                        ledger.on_settled(rid, inst, resp)
                        if index in on_victim:
                            stats.victim_settled += 1
                            if promoted.is_set():
                                stats.victim_settled_after_promotion += 1
                    else:
                        stats.refused[resp.refusal_reason or "REFUSED"] += 1
                    break
                else:
                    stats.gave_up += 1

        tasks = [asyncio.create_task(client(stubs[w % len(stubs)])) for w in range(CONCURRENCY)]
        try:
            await _until(lambda: stats.victim_settled >= ANSWERS_PER_STEP,
                         "settlements on the victim's slots")
            if lag:
                for rep in r.replicas_of(victim):
                    await asyncio.to_thread(_lag_replication, r, rep)
                mark = stats.victim_answers
                await _until(lambda: stats.victim_answers >= mark + ANSWERS_PER_STEP,
                             "answers on the victim's slots while its replica lags")
            await asyncio.to_thread(r.kill, victim)  # SIGKILL, and it stays dead
            end = time.monotonic() + STATE_LIMIT_S
            while await asyncio.to_thread(r.owner_of_slot, victim_slot) == victim:
                assert time.monotonic() < end, "the replica was not promoted"
                await asyncio.sleep(0.1)
            promoted.set()
            if lag:  # the promoted replica may become a replica again one day
                for rep in range(len(r.nodes)):
                    if r.nodes[rep].is_running():
                        await asyncio.to_thread(r.command, rep, "CONFIG", "SET", "masterauth",
                                                "")
            await _until(lambda: stats.victim_settled_after_promotion >= ANSWERS_PER_STEP,
                         "settlements on the promoted replica's slots")
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            for c in channels:
                await c.close()

        acknowledged = dict(ledger.settled)

        async def gone(rid: str, sid: str, psn: str) -> bool:
            try:
                await stub.GetSettlement(pb.GetSettlementRequest(
                    institution_code=inst, psn_no=psn, settlement_id=sid), timeout=10)
            except grpc.aio.AioRpcError as e:
                assert e.code() == grpc.StatusCode.NOT_FOUND, (rid, e.code())
                return True
            return False

        lost = [rid for rid, seen in acknowledged.items()
                if await gone(rid, seen.settlement_id, seen.psn_no)]
        for rid in lost:  # what a lost settlement did went with it: check the rest
            seen = ledger.settled.pop(rid)
            ledger.request_of.pop(seen.settlement_id, None)
            stats.amounts.pop(rid)
        verdict = (await verify(stub, ledger, before)).to_json()
        for rid, seen in ledger.settled.items():  # outcomes the client learnt afterwards
            if rid not in stats.amounts:
                resp = await stub.GetSettlement(pb.GetSettlementRequest(
                    institution_code=inst, psn_no=seen.psn_no, request_id=rid), timeout=10)
                stats.amounts[rid] = resp.amounts
        reconcile = await stub.Reconcile(pb.ReconcileRequest(
            **period, declared=_declared(baseline, list(stats.amounts.values()))), timeout=30)
        # The export reads all 1,024 partitions' journals across the cluster, as it is now.
        exported = {
            resp.settlement_id
            async for resp in stub.ExportSettlements(pb.ExportSettlementsRequest(**period),
                                                     timeout=120)
            if resp.request_id.startswith(f"{inst}FO{run:03d}")
        }
        expected = {seen.settlement_id for seen in ledger.settled.values()}
        # The audit journal, read from every partition by the operator's tool.
        journal_out = cluster.tmp / f"journal-{inst}-{run}.jsonl"
        status = await asyncio.to_thread(claimgate, [
            "journal", "export", "--from", period["from_date"], "--to", period["to_date"],
            "--format", "jsonl", "--institution", inst, "--out", str(journal_out),
            "--redis-url", cluster.url, "--redis-cluster"])
        assert status == 0
        journalled = {
            row["settlement_id"] for row in map(orjson.loads, journal_out.read_bytes().splitlines())
            if row.get("request_id", "").startswith(f"{inst}FO{run:03d}") and "settlement_id" in row
        }
    row = {
        "attempts": stats.attempts, "acknowledged": len(acknowledged), "unknown": stats.unknown,
        "unknown_resolved": verdict["unknown_resolved"], "gave_up": stats.gave_up,
        "refused": dict(stats.refused), "victim_settled": stats.victim_settled,
        "after_promotion": stats.victim_settled_after_promotion, "lost": len(lost),
        "verdict": verdict["verdict"], "problems": verdict["problems"],
        "reconcile": pb.ReconcileResponse.Result.Name(reconcile.result),
        "difference": str(reconcile.difference),
        "export_matches": exported == expected, "exported": len(exported),
        "journal_matches": journalled == expected,
    }
    print(f"\n[failover] inst={inst} lag={lag} " + " ".join(
        f"{k}={v}" for k, v in row.items() if k not in ("problems", "difference")))
    return row


@pytest.mark.parametrize(
    ("replica_ack", "lag"),
    [
        pytest.param(1, False, id="replica-ack"),
        pytest.param(1, True, id="replica-ack-lagging-replica"),
        pytest.param(0, True, id="no-ack-lagging-replica"),
    ],
)
def test_master_killed_under_load_and_left_dead(
    cluster: Cluster, replica_ack: int, lag: bool
) -> None:
    cluster.heal()
    inst = {(1, False): "P31010002", (1, True): "P31010003", (0, True): "P31010001"}[
        (replica_ack, lag)]
    log = cluster.tmp / f"gateway-drill-{inst}.log"
    with served_process(
        cluster.url, log, args=["--redis-cluster", "--replica-ack", str(replica_ack),
                                "--grace-s", "5"],
        budgets_ms="CheckEligibility=5000,GetSettlement=5000,Reconcile=30000",
    ) as (_proc, address):
        row = asyncio.run(_drill(cluster, address, inst=inst, lag=lag))
    assert row["gave_up"] == 0
    assert row["verdict"] == "PASS", row["problems"]
    assert row["reconcile"] == "MATCH", row["difference"]
    assert row["export_matches"], "ExportSettlements differs from the client's settlements"
    assert row["journal_matches"], "the journal export differs from the client's settlements"
    assert row["after_promotion"] >= ANSWERS_PER_STEP
    if replica_ack:
        assert row["lost"] == 0, "an acknowledged settlement was lost in the failover"
    else:
        # Without replica acknowledgement, what the master acknowledged while its replica
        # lagged is gone after the promotion, and the drill counts it.
        assert row["lost"] > 0
