"""Redis store: reference data, member snapshots and the commit script.

The key layout (every key one settlement touches shares the hash tag of the member's
partition, so the same scripts run on a standalone server and on a Redis Cluster) is
in :mod:`gateway.keys`; the JSON of profiles, catalogue items and institutions in
:mod:`gateway.record_codecs`.

Reference data (read at start-up and on reload, never on the claim path):
``ref:policy`` (hash: version, text), ``ref:policy:versions`` (hash: version ->
text of every version ever made current, so a settlement can be explained under the
policy it used), ``ref:catalogue`` and ``ref:institutions`` (hashes: code -> JSON).
Loads and publishes are journaled in ``jrnl:admin`` (stream, ids are times in ms).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway import metrics
from gateway.budget import DEADLINE, within
from gateway.domain import Institution, Member
from gateway.fastredis import Encoded, FastRedis, Script
from gateway.keys import PARTITIONS, MemberKeys, partition_of_settlement, tag, totals_key
from gateway.record_codecs import (
    catalogue_from_json,
    catalogue_json,
    institution_from_json,
    institution_json,
    member_from_profile,
    member_profile_json,
)
from rules_compiled.model import CatalogueItem

REFERENCE_GENERATION_KEY = "ref:generation"
POLICY_VERSIONS_KEY = "ref:policy:versions"
ADMIN_JOURNAL_KEY = "jrnl:admin"
ADMIN_JOURNAL = -1  # the admin journal's place among the partitions' journals
IDEMPOTENCY_TTL_S = 8 * 24 * 3600  # request ids are kept at least 7 days (README)
DAY_COUNTER_TTL_S = 3 * 24 * 3600

# Annual accumulator names, as stored in ``y<year>:<name>`` fields.
ACCUMULATORS = ("band", "ded", "pool", "bcost", "assist", "opfund")


# --- snapshots and commits ----------------------------------------------------------


@dataclass(slots=True)
class MemberSnapshot:
    """What one claim read of a member, with the version its commit must match."""

    keys: MemberKeys
    member: Member
    version: str
    accumulators: dict[str, int]  # this benefit year's, by name in ACCUMULATORS
    fills: dict[str, tuple[int, int]]  # item code -> (day, days supply)
    dup_seen: frozenset[str]
    idem: dict[str, str]  # the request id's record, empty when new
    settlements_today: int
    open_episode: str = ""  # "<episode id>|<institution>|<admission day>" when in hospital
    episode: dict[str, str] = field(default_factory=dict)  # the claim's episode, if any
    episode_lines: list[bytes] = field(default_factory=list)  # its uploaded lines


@dataclass(slots=True)
class SettlementCommit:
    request_id: str
    request_hash: str
    settlement_id: str
    acct_current_pay_fen: int
    acct_prior_pay_fen: int
    accumulator_increments: dict[str, int]  # full field names (``y2026:band``) -> fen
    fills: dict[str, str] = field(default_factory=dict)  # item code -> "<day>:<days>"
    dup_keys: Sequence[str] = ()
    dup_keys_resp: Encoded | None = None  # ``dup_keys`` encoded, to send as they are
    # The settlement record; the script also takes the journal entry and the
    # reconciliation totals from its fields.
    record: dict[str, bytes | str | int] = field(default_factory=dict)
    service_day: int = 0
    settle_day: int = 0  # the clearing day (China Standard Time) the totals count under
    institution_code: str = ""
    episode_id: str = ""
    episode_line_count: int = 0


@dataclass(frozen=True, slots=True)
class CommitOutcome:
    status: str  # OK | REPLAY | CONFLICT | TOMBSTONE | STALE | OVERDRAW
    version: int = 0
    acct_current_fen: int = 0
    acct_prior_fen: int = 0
    settlement_id: str = ""


@dataclass(frozen=True, slots=True)
class ReferenceData:
    policy_version: str
    policy_text: str
    catalogue: list[CatalogueItem]
    institutions: dict[str, Institution]


def _pairs(flat: Sequence[Any]) -> dict[str, Any]:
    it = iter(flat)
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in zip(it, it, strict=True)}


@dataclass(frozen=True, slots=True)
class ReplicaAck:
    """Durability across failover: a write is acknowledged to the client only once
    ``replicas`` replicas hold it (``WAIT``), or it fails with :class:`NotReplicated`
    after ``timeout_ms``. 0 replicas: acknowledged once the master has it."""

    replicas: int = 0
    timeout_ms: int = 200


class _ScriptCall:
    """One Lua script of ``gateway/scripts``, called by SHA1 over the fast client.
    A script that writes (``ack`` given) waits for the replicas ``ack`` asks for."""

    def __init__(self, fast: FastRedis, name: str, ack: ReplicaAck | None = None) -> None:
        self.fast = fast
        self.script = Script(_script(name))
        self.ack = ack

    def __call__(self, *, keys: Sequence[str], args: Sequence[Any]) -> Any:
        if self.ack is None or not self.ack.replicas:
            return self.fast.evalsha(self.script, keys, args)
        return self._acked(self.ack, keys, args)

    async def _acked(self, ack: ReplicaAck, keys: Sequence[str], args: Sequence[Any]) -> Any:
        out, acks = await self.fast.evalsha_acked(self.script, keys, args,
                                                  replicas=ack.replicas, timeout_ms=ack.timeout_ms)
        if acks < ack.replicas:
            raise NotReplicated(acks, ack)
        return out


class StoreTimeout(Exception):
    """Redis did not answer within the time left for the request."""


class NotReplicated(StoreTimeout):
    """The master answered but fewer replicas than required confirmed the write in time.
    The write may have happened: the client gets UNAVAILABLE and a retry with the same
    request id answers from the record (once it is replicated) or commits afresh (when
    a failover lost it, unacknowledged)."""

    def __init__(self, acks: int, ack: ReplicaAck) -> None:
        super().__init__(f"redis write confirmed by {acks} of {ack.replicas} replicas "
                         f"within {ack.timeout_ms} ms")


OP_TIMEOUT_S = 1.0  # any single Redis call, whatever the request's budget
STARTUP_WAIT_S = 120.0  # how long start-up waits for Redis (loading a large AOF takes time)
OP_TIMEOUT_MIN_S = 0.005  # a call is given at least this long


def _counted_pairs(fields: Mapping[str, Any]) -> list[Any]:
    """A script's counted group of (field, value) pairs: n, then n x (field, value)."""
    out: list[Any] = [len(fields)]
    for name, value in fields.items():
        out += [name, value]
    return out


def _strings(reply: Sequence[Any]) -> list[str]:
    """A script's reply as strings."""
    return [v.decode() if isinstance(v, bytes) else str(v) for v in reply]


def _script(name: str) -> str:
    return resources.files("gateway").joinpath("scripts", name).read_text()


class Store:
    """Async access to the gateway's Redis, standalone or cluster."""

    def __init__(self, client: aioredis.Redis | RedisCluster, fast: FastRedis,
                 replica_ack: ReplicaAck | None = None) -> None:
        # redis-py's annotations mix its sync and async return types; the calls
        # below are all awaited, and what they return is checked where it is used.
        self.client: Any = client  # reference data, loading, reconciliation, journal
        self.fast = fast  # the claim path: every script and the record reads
        self.replica_ack = ack = replica_ack or ReplicaAck()
        self._read = _ScriptCall(fast, "read_member.lua")
        self._commit = _ScriptCall(fast, "commit_settlement.lua", ack)
        self._reverse = _ScriptCall(fast, "reverse_settlement.lua", ack)
        self._tombstone = _ScriptCall(fast, "tombstone.lua", ack)
        self._admit = _ScriptCall(fast, "admit.lua", ack)
        self._discharge = _ScriptCall(fast, "discharge.lua", ack)
        self._upload = _ScriptCall(fast, "upload_lines.lua", ack)

    @classmethod
    def from_url(cls, url: str, *, cluster: bool = False, replica_ack: ReplicaAck | None = None,
                 **kwargs: Any) -> Store:
        """A client that fails fast: no retries with back-off inside redis-py (the
        gateway answers UNAVAILABLE and the client retries with the same request id).

        The claim path runs on the fast client, whose connect timeout is 0.25 s; the
        redis-py client serves reference data, admin tools and exports (which open many
        connections at once) and the health probe (bounded by its own timeout), so it
        gets an ordinary connect timeout."""
        kwargs.setdefault("socket_connect_timeout", 2.0)
        fast = FastRedis(url, cluster=cluster)
        if cluster:
            return cls(RedisCluster.from_url(url, **kwargs), fast, replica_ack)
        kwargs.setdefault("retry", Retry(NoBackoff(), 0))
        return cls(aioredis.Redis.from_url(url, **kwargs), fast, replica_ack)

    async def _bounded(self, op: str, aw: Any) -> Any:
        """Await one Redis call within what is left of the request's budget."""
        deadline = DEADLINE.get()
        loop = asyncio.get_running_loop()
        timeout = OP_TIMEOUT_S
        if deadline is not None:
            timeout = min(timeout, max(deadline - loop.time(), OP_TIMEOUT_MIN_S))
        t0 = time.perf_counter()
        try:
            return await within(aw, timeout)
        except TimeoutError:
            raise StoreTimeout(f"redis {op}: no answer within {timeout * 1000:.0f} ms") from None
        finally:
            metrics.redis_time(op, time.perf_counter() - t0)

    async def close(self) -> None:
        await self.fast.close()
        await self.client.aclose()

    async def wait_ready(self, timeout_s: float = STARTUP_WAIT_S) -> None:
        """Wait until Redis answers and has loaded its data (it refuses commands while
        it replays its append-only file after a restart). Bounded; raises when it
        is still not ready, naming why."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        last: Exception | None = None
        while loop.time() < deadline:
            try:
                if await self.client.ping():
                    await self.client.exists("ref:policy")  # refused while loading
                    return
            except (redis.exceptions.BusyLoadingError, redis.exceptions.ConnectionError,
                    redis.exceptions.TimeoutError) as e:
                if last is None:  # say so at once: a wrong URL is not a long AOF load
                    logging.getLogger(__name__).warning(
                        "redis not answering (%s); waiting up to %.0f s", e, timeout_s)
                last = e
            await asyncio.sleep(0.2)
        raise redis.exceptions.ConnectionError(
            f"redis not ready after {timeout_s:.0f} s: {last}"
        )

    async def reachability(self, timeout_s: float) -> dict[str, bool]:
        """Each Redis node the claim path sends to, and whether it answers (on
        connections of their own: a PING queued behind writes that Redis is holding
        would say "down" when Redis is up)."""
        return await self.fast.probe(timeout_s)

    async def ping(self) -> bool:
        """Reachability, on its own connection: a PING queued behind writes that Redis
        is holding (CLIENT PAUSE WRITE) would say "down" when Redis is up."""
        return bool(await self.client.ping())

    # --- reference data ---------------------------------------------------------
    async def save_reference(
        self,
        *,
        policy_version: str,
        policy_text: str,
        catalogue: Iterable[CatalogueItem],
        institutions: Iterable[Institution],
    ) -> None:
        cat = {item.code: catalogue_json(item) for item in catalogue}
        inst = {i.code: institution_json(i) for i in institutions}
        # One key at a time: on a cluster these three keys live in different slots.
        await self.client.delete("ref:catalogue")
        if cat:
            await self.client.hset("ref:catalogue", mapping=cat)  # type: ignore[misc]
        await self.client.delete("ref:institutions")
        if inst:
            await self.client.hset("ref:institutions", mapping=inst)  # type: ignore[misc]
        await self.client.hset(POLICY_VERSIONS_KEY, policy_version, policy_text)
        await self.client.hset(
            "ref:policy", mapping={"version": policy_version, "text": policy_text}
        )
        await self.client.incr(REFERENCE_GENERATION_KEY)  # last: gateways reload on it

    async def publish_policy(self, *, policy_version: str, policy_text: str) -> None:
        """Make a new policy version current; running gateways load it without a restart.
        A version string names one text: publishing it again with other text is refused."""
        current = _pairs_dict(await self.client.hgetall("ref:policy"))
        if current.get("version", b"").decode() == policy_version and current.get(
            "text", b""
        ).decode() != policy_text:
            raise ValueError(f"policy version {policy_version!r} is already published "
                             "with other text: give the new text a new version")
        kept = await self.client.hget(POLICY_VERSIONS_KEY, policy_version)
        if kept is not None and kept.decode() != policy_text:
            raise ValueError(f"policy version {policy_version!r} was published before "
                             "with other text: give the new text a new version")
        await self.client.hset(POLICY_VERSIONS_KEY, policy_version, policy_text)
        await self.client.hset(
            "ref:policy", mapping={"version": policy_version, "text": policy_text}
        )
        await self.client.incr(REFERENCE_GENERATION_KEY)

    async def policy_text(self, version: str) -> str | None:
        """The text of a policy version that was made current, or None when unknown."""
        raw = await self.client.hget(POLICY_VERSIONS_KEY, version)
        if raw is None:  # published before versions were kept: only the current one
            current = _pairs_dict(await self.client.hgetall("ref:policy"))
            if current.get("version", b"").decode() != version:
                return None
            raw = current["text"]
        return bytes(raw).decode()

    async def append_admin_journal(self, fields: Mapping[str, str | int]) -> bytes:
        """One entry of the admin journal (a load, a policy publish); returns its id."""
        return await self.client.xadd(ADMIN_JOURNAL_KEY, dict(fields))  # type: ignore[arg-type]

    async def reference_generation(self) -> int:
        """Bumped by every change of reference data (policy, catalogue, institutions)."""
        return int(await self._bounded("generation", self.client.get(REFERENCE_GENERATION_KEY))
                   or 0)

    async def load_reference(self) -> ReferenceData | None:
        policy = _pairs_dict(await self.client.hgetall("ref:policy"))  # type: ignore[misc]
        if not policy:
            return None
        cat = await self.client.hgetall("ref:catalogue")  # type: ignore[misc]
        inst = await self.client.hgetall("ref:institutions")  # type: ignore[misc]
        items = sorted((catalogue_from_json(v) for v in cat.values()), key=lambda i: i.code)
        institutions = {
            i.code: i for i in (institution_from_json(v) for v in inst.values())
        }
        return ReferenceData(
            policy_version=policy["version"].decode(),
            policy_text=policy["text"].decode(),
            catalogue=items,
            institutions=institutions,
        )

    # --- members ----------------------------------------------------------------
    async def save_members(self, members: Iterable[Member], *, batch: int = 2000) -> int:
        """Write members (profile and balances) in pipelined batches; returns the count."""
        count = 0
        pipe = self.client.pipeline(transaction=False)
        pending = 0
        for m in members:
            keys = MemberKeys.of(m.psn_no)
            pipe.hset(
                keys.member,
                mapping={
                    "p": member_profile_json(m),
                    "cur": m.acct_current_fen,
                    "pri": m.acct_prior_fen,
                    "ver": 1,
                },
            )
            pending += 1
            count += 1
            if pending >= batch:
                await pipe.execute()
                pipe = self.client.pipeline(transaction=False)
                pending = 0
        if pending:
            await pipe.execute()
        return count

    async def read_member(
        self,
        psn_no: str,
        *,
        year: int,
        day: int,
        fill_items: Sequence[str] = (),
        dup_keys: Sequence[str] = (),
        request_id: str = "",
        institution_code: str = "",
        episode_id: str = "",
    ) -> MemberSnapshot | None:
        """One round trip: member, this year's accumulators, fills, duplicates, request id,
        and for an inpatient settlement the episode with its uploaded lines."""
        keys = MemberKeys.of(psn_no)
        idem_key = keys.idem(institution_code, request_id) if request_id else (
            f"idem:{tag(keys.partition)}:")
        raw = await self._bounded("read", self._read(
            keys=[keys.member, keys.fills, keys.dups, idem_key, keys.day_counter(psn_no, day),
                  keys.episode(episode_id), keys.episode_lines(episode_id)],
            args=[1 if episode_id else 0, len(fill_items), *fill_items, len(dup_keys),
                  *dup_keys],
        ))
        member_flat, fills_raw, dups_raw, idem_flat, today, ep_flat, ep_lines = raw
        if not member_flat:
            return None
        h = _pairs(member_flat)
        member = member_from_profile(psn_no, h["p"], int(h.get("cur", 0)), int(h.get("pri", 0)))
        prefix = f"y{year}:"
        accumulators = {name: int(h.get(prefix + name, 0)) for name in ACCUMULATORS}
        fills: dict[str, tuple[int, int]] = {}
        for code, value in zip(fill_items, fills_raw, strict=True):
            if value:
                a, b = value.split(b":")
                fills[code] = (int(a), int(b))
        dup_seen = frozenset(k for k, v in zip(dup_keys, dups_raw, strict=True) if v)
        idem = {k: v.decode() for k, v in _pairs(idem_flat).items()}
        return MemberSnapshot(
            keys=keys,
            member=member,
            version=h["ver"].decode(),
            accumulators=accumulators,
            fills=fills,
            dup_seen=dup_seen,
            idem=idem,
            settlements_today=int(today),
            open_episode=h["ep_open"].decode() if "ep_open" in h else "",
            episode={k: v.decode() for k, v in _pairs(ep_flat).items()},
            episode_lines=list(ep_lines),
        )

    async def commit_settlement(self, snap: MemberSnapshot, c: SettlementCommit) -> CommitOutcome:
        """ONE script call: checks request id and version, then writes everything."""
        keys = snap.keys
        psn_no = snap.member.psn_no
        args: list[Any] = [
            snap.version,
            c.request_hash,
            IDEMPOTENCY_TTL_S,
            c.settlement_id,
            c.acct_current_pay_fen,
            c.acct_prior_pay_fen,
            DAY_COUNTER_TTL_S,
            c.episode_id,
            c.institution_code,
            c.episode_line_count,
            len(c.accumulator_increments),
        ]
        pairs = itertools.chain.from_iterable
        args += pairs(c.accumulator_increments.items())
        args.append(len(c.fills))
        args += pairs(c.fills.items())
        args.append(len(c.dup_keys))
        if c.dup_keys_resp is not None:
            args.append(c.dup_keys_resp)
        else:
            args += c.dup_keys
        args.append(len(c.record))
        args += pairs(c.record.items())
        out = await self._bounded("commit", self._commit(
            keys=[
                keys.member,
                keys.fills,
                keys.dups,
                keys.idem(c.institution_code, c.request_id),
                keys.settlement(c.settlement_id),
                keys.journal,
                keys.day_counter(psn_no, c.service_day),
                keys.totals(c.institution_code, c.settle_day),
                keys.episode(c.episode_id),
            ],
            args=args,
        ))
        status = out[0].decode()
        if status == "OK":
            return CommitOutcome(status, int(out[1]), int(out[2]), int(out[3]))
        if status in ("REPLAY", "EPISODE"):
            return CommitOutcome(status, settlement_id=out[1].decode())
        return CommitOutcome(status)

    async def reverse_settlement(
        self,
        psn_no: str,
        settlement_id: str,
        record: dict[str, bytes],
        *,
        request_id: str,
        request_hash: str,
        institution_code: str,
        reversal_id: str,
        today_day: int,
        window_days: int,
        reversed_at: str,
        journal: dict[str, str | int],
        expected_request_id: str = "",
    ) -> list[str]:
        """ONE script call that undoes a settlement; returns the script's reply as strings."""
        keys = MemberKeys.of(psn_no)
        service_day = int(record.get("day", b"0"))
        episode_id = record.get("ep", b"").decode()
        args: list[Any] = [
            request_hash, IDEMPOTENCY_TTL_S, reversal_id, institution_code, today_day,
            window_days, reversed_at, request_id, expected_request_id, psn_no,
            *_counted_pairs(journal),
        ]
        out = await self._bounded("reverse", self._reverse(
            keys=[
                keys.member, keys.fills, keys.dups, keys.idem(institution_code, request_id),
                keys.settlement(settlement_id), keys.journal,
                keys.day_counter(psn_no, service_day),
                keys.totals(institution_code, today_day),
                keys.episode(episode_id),
            ],
            args=args,
        ))
        return _strings(out)

    async def tombstone(
        self, psn_no: str, original_request_id: str, *, request_id: str, request_hash: str,
        institution_code: str, journal: dict[str, str | int],
    ) -> list[str]:
        keys = MemberKeys.of(psn_no)
        args: list[Any] = [
            request_hash, IDEMPOTENCY_TTL_S, institution_code, *_counted_pairs(journal)
        ]
        out = await self._bounded("tombstone", self._tombstone(
            keys=[keys.idem(institution_code, original_request_id),
                  keys.idem(institution_code, request_id), keys.journal],
            args=args,
        ))
        return _strings(out)

    async def admit(
        self, psn_no: str, *, request_id: str, request_hash: str, episode_id: str,
        institution_code: str, admission_day: int, diagnosis_code: str, referral: int,
        emergency: bool, readmission_days: int, journal: dict[str, str | int],
    ) -> list[str]:
        keys = MemberKeys.of(psn_no)
        args: list[Any] = [
            request_hash, IDEMPOTENCY_TTL_S, episode_id, institution_code, admission_day,
            diagnosis_code, referral, int(emergency), readmission_days, psn_no,
            *_counted_pairs(journal),
        ]
        out = await self._bounded("admit", self._admit(
            keys=[keys.member, keys.idem(institution_code, request_id),
                  keys.episode(episode_id), keys.journal],
            args=args,
        ))
        return _strings(out)

    async def discharge(
        self, psn_no: str, episode_id: str, *, request_id: str, request_hash: str,
        institution_code: str, discharge_day: int, order_day: int, diagnosis_code: str,
        journal: dict[str, str | int],
    ) -> list[str]:
        keys = MemberKeys.of(psn_no)
        args: list[Any] = [
            request_hash, IDEMPOTENCY_TTL_S, institution_code, discharge_day, order_day,
            diagnosis_code, psn_no, *_counted_pairs(journal),
        ]
        out = await self._bounded("discharge", self._discharge(
            keys=[keys.member, keys.idem(institution_code, request_id),
                  keys.episode(episode_id), keys.journal],
            args=args,
        ))
        return _strings(out)

    async def upload_lines(
        self, psn_no: str, episode_id: str, *, request_id: str, request_hash: str,
        institution_code: str, lines_per_episode_max: int,
        lines: Sequence[tuple[int, bytes, int]], journal: dict[str, str | int],
    ) -> list[str]:
        """One chunk of fee lines: (feedetl_sn, canonical line bytes, amount in fen)."""
        keys = MemberKeys.of(psn_no)
        args: list[Any] = [
            request_hash, IDEMPOTENCY_TTL_S, institution_code, lines_per_episode_max, psn_no,
            len(lines),
        ]
        for sn, body, amount_fen in lines:
            args += [sn, body, amount_fen]
        args += _counted_pairs(journal)
        out = await self._bounded("upload", self._upload(
            keys=[keys.episode(episode_id), keys.episode_lines(episode_id),
                  keys.idem(institution_code, request_id), keys.journal],
            args=args,
        ))
        return _strings(out)

    async def read_abuse_state(
        self, keys: MemberKeys, fill_items: Sequence[str], dup_keys: Sequence[str],
        dup_keys_resp: Encoded | None = None,
    ) -> tuple[dict[str, tuple[int, int]], frozenset[str]]:
        """Fills and duplicate keys for lines known only after the first read (episodes).
        Any commit that changes them also bumps the member version the commit checks.
        ``dup_keys_resp``: the same keys already encoded."""
        dup_args: Sequence[Any] = dup_keys or ["-"]
        if dup_keys and dup_keys_resp is not None:
            dup_args = [dup_keys_resp]
        fills_raw, dups_raw = await self._bounded("abuse_state", asyncio.gather(
            self.fast.execute(["HMGET", keys.fills, *(fill_items or ["-"])], key=keys.fills),
            self.fast.execute(["HMGET", keys.dups, *dup_args], key=keys.dups),
        ))
        fills: dict[str, tuple[int, int]] = {}
        for code, value in zip(fill_items, fills_raw, strict=False):
            if value:
                a, b = value.split(b":")
                fills[code] = (int(a), int(b))
        seen = frozenset(k for k, v in zip(dup_keys, dups_raw, strict=False) if v)
        return fills, seen

    async def episode(self, psn_no: str, episode_id: str) -> dict[str, str]:
        raw = await self.client.hgetall(  # type: ignore[misc]
            MemberKeys.of(psn_no).episode(episode_id)
        )
        return {k.decode(): v.decode() for k, v in raw.items()}

    async def reconcile_totals(
        self, institution_code: str, days: Sequence[int]
    ) -> dict[str, int]:
        """Sum the per-partition totals of an institution over days (one pipelined pass)."""
        out: dict[str, int] = {}
        pipe = self.client.pipeline(transaction=False)
        count = 0
        for day in days:
            for p in range(PARTITIONS):
                pipe.hgetall(totals_key(p, institution_code, day))
                count += 1
        if count == 0:
            return out
        for h in await pipe.execute():
            for k, v in h.items():
                name = k.decode()
                out[name] = out.get(name, 0) + int(v)
        return out

    async def journal_entries(
        self, partition: int, start_ms: int, end_ms: int, *, page: int = 500
    ) -> list[tuple[bytes, dict[str, bytes]]]:
        """Journal entries of one partition (or of the admin journal, ``ADMIN_JOURNAL``)
        with stream ids in [start_ms, end_ms]."""
        key = ADMIN_JOURNAL_KEY if partition == ADMIN_JOURNAL else f"jrnl:{tag(partition)}"
        entries: list[tuple[bytes, dict[str, bytes]]] = []
        lo = str(start_ms)
        while True:
            batch = await self.client.xrange(key, min=lo, max=str(end_ms), count=page)
            entries += [(eid, {k.decode(): v for k, v in f.items()}) for eid, f in batch]
            if len(batch) < page:
                return entries
            lo = "(" + batch[-1][0].decode()  # exclusive: after the last one read

    async def idempotency_record(
        self, psn_no: str, institution_code: str, request_id: str
    ) -> dict[str, str]:
        key = MemberKeys.of(psn_no).idem(institution_code, request_id)
        raw = await self._bounded("idempotency", self.fast.hgetall(key))
        return {k.decode(): v.decode() for k, v in raw.items()}

    async def settlement_record(self, settlement_id: str, *, confirm: bool = True
                                ) -> dict[str, bytes] | None:
        """The record; with replica acknowledgement on, only once the replicas hold it
        (``confirm=False``: the caller has called :meth:`replicated` for its partition)."""
        p = partition_of_settlement(settlement_id)
        if p is None:
            return None
        raw = await self._bounded("record", self.fast.hgetall(f"setl:{tag(p)}:{settlement_id}"))
        if raw and confirm and self.replica_ack.replicas:
            await self._bounded("replica_ack", self.replicated(p))
        return {k.decode(): v for k, v in raw.items()} if raw else None

    async def replicated(self, partition: int) -> None:
        """Before a settlement read back (a replay, GetSettlement) is shown to a client:
        the replicas hold everything the partition's master has written so far. ``WAIT``
        counts the writes of its own connection, so it follows a small write of its own
        (``ack:{pNNNN}``), which the master replicates after every write before it."""
        ack = self.replica_ack
        if not ack.replicas:
            return
        key = f"ack:{tag(partition)}"
        _n, acks = await self.fast.execute_acked(["INCR", key], key=key, replicas=ack.replicas,
                                                 timeout_ms=ack.timeout_ms)
        if acks < ack.replicas:
            raise NotReplicated(acks, ack)


def _pairs_dict(raw: Mapping[bytes, bytes]) -> dict[str, bytes]:
    return {k.decode(): v for k, v in raw.items()}
