"""A real gateway on loopback for the tests: its own thread, its own event loop (uvloop).

The tests talk to it through a real gRPC channel and inspect Redis with a real
client; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import grpc
import redis
import uvloop
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.budget import DEFAULT_BUDGETS_MS
from gateway.config import Config
from gateway.domain import Institution, Member
from gateway.keys import MemberKeys
from gateway.record_codecs import catalogue_json, institution_json, member_profile_json
from gateway.server import RunningServer, start_server
from rules_compiled import REFERENCE_POLICY_PATH
from rules_compiled.model import (
    Assistance,
    CardStatus,
    CatalogueItem,
    InstitutionKind,
    InstitutionStatus,
    ItemClass,
    ItemKind,
    MemberStatus,
    PersonType,
    Scheme,
    Sex,
)
from rules_compiled.policy import load_policy_file

# A small catalogue whose numbers the tests work out by hand.
CATALOGUE = [
    CatalogueItem("T-A-DRUG", "amoxicillin caps", ItemKind.DRUG, ItemClass.A),
    CatalogueItem(
        "T-B-DRUG", "class B drug, 10% pay-first", ItemKind.DRUG, ItemClass.B, preselfpay_bp=1000
    ),
    CatalogueItem("T-C-DRUG", "class C drug", ItemKind.DRUG, ItemClass.C),
    CatalogueItem(
        "T-CAPPED", "class A, price cap 5.00", ItemKind.MATERIAL, ItemClass.A, price_cap_fen=500
    ),
    CatalogueItem("T-COSMETIC", "face cream", ItemKind.NON_MEDICAL, ItemClass.C),
    CatalogueItem("T-B-MAT", "class B material, 10% pay-first", ItemKind.MATERIAL, ItemClass.B,
                  preselfpay_bp=1000),
    CatalogueItem("T-SVC-CAP", "service, price cap 500.00", ItemKind.SERVICE, ItemClass.A,
                  price_cap_fen=50_000),
]
PHARMACY = Institution("P-TEST-01", "Test Pharmacy", InstitutionKind.PHARMACY, 0, "310100")
HOSPITAL = Institution("H-TEST-03", "Test Hospital", InstitutionKind.HOSPITAL, 3, "310100")
OTHER_HOSPITAL = Institution("H-TEST-02", "Other Hospital", InstitutionKind.HOSPITAL, 2,
                             "310100")
OTHER_PHARMACY = Institution("P-TEST-03", "Other Pharmacy", InstitutionKind.PHARMACY, 0,
                             "310100")
REVOKED_PHARMACY = Institution(
    "P-TEST-02",
    "Revoked Pharmacy",
    InstitutionKind.PHARMACY,
    0,
    "310100",
    InstitutionStatus.REVOKED,
)
INSTITUTIONS = [PHARMACY, HOSPITAL, REVOKED_PHARMACY, OTHER_HOSPITAL, OTHER_PHARMACY]

_ids = itertools.count(1)

# Tests about behaviour, not budgets, must not fail on a busy machine: every method
# gets 30 s. Tests about budgets set their own.
RELAXED_BUDGETS_MS = {name: 30_000 for name in DEFAULT_BUDGETS_MS}


def base_member(**overrides: object) -> Member:
    """An EMP active member with an active card; override any field."""
    n = next(_ids)
    m = Member(
        psn_no=f"T{n:013d}",
        name="Test Member",
        sex=Sex.FEMALE,
        birth_date=dt.date(1980, 5, 17),
        scheme=Scheme.EMP,
        person_type=PersonType.ACTIVE,
        insured_region="310100",
        status=MemberStatus.ACTIVE,
        benefit_start=dt.date(2005, 1, 1),
        card_no=f"C{n:011d}",
        card_status=CardStatus.ACTIVE,
        assistance=Assistance.NONE,
        work_start_date=dt.date(2003, 7, 1),
        acct_current_fen=50_000,
        acct_prior_fen=200_000,
    )
    return replace(m, **overrides)  # type: ignore[arg-type]


Client = redis.Redis | redis.RedisCluster


def put_members(r: Client, members: Iterable[Member]) -> None:
    for m in members:
        keys = MemberKeys.of(m.psn_no)
        r.hset(
            keys.member,
            mapping={
                "p": member_profile_json(m),
                "cur": m.acct_current_fen,
                "pri": m.acct_prior_fen,
                "ver": 1,
            },
        )


def put_reference(r: Client) -> str:
    policy = load_policy_file(REFERENCE_POLICY_PATH)
    for key in ("ref:catalogue", "ref:institutions", "ref:policy"):  # one slot each
        r.delete(key)
    r.hset("ref:catalogue", mapping={i.code: catalogue_json(i) for i in CATALOGUE})
    r.hset("ref:institutions", mapping={i.code: institution_json(i) for i in INSTITUTIONS})
    r.hset("ref:policy", mapping={"version": policy.version, "text": policy.source_text})
    return policy.version


def member_state(r: Client, psn_no: str) -> dict[str, object]:
    """Everything the gateway keeps about one member, except the version counter
    (a concurrency token that every commit, and every reversal, moves forward)."""
    keys = MemberKeys.of(psn_no)
    member = {k: v for k, v in r.hgetall(keys.member).items() if k != b"ver"}
    days = sorted(r.scan_iter(match=f"day:{{p{keys.partition:04d}}}:{psn_no}:*"))
    return {
        "member": member,
        "fills": r.hgetall(keys.fills),
        "dups": r.hgetall(keys.dups),
        "day_counters": {k: r.get(k) for k in days},
    }


def _key_content(node: redis.Redis, key: bytes) -> object:
    kind = node.type(key)
    if kind == b"string":
        value: object = node.get(key)
    elif kind == b"hash":
        value = node.hgetall(key)
    elif kind == b"stream":
        value = node.xrange(key)
    elif kind == b"list":
        value = node.lrange(key, 0, -1)
    elif kind == b"set":
        value = node.smembers(key)
    elif kind == b"zset":
        value = node.zrange(key, 0, -1, withscores=True)
    else:
        value = None
    return kind, value, node.pttl(key) > 0


def snapshot(r: Client) -> dict[bytes, object]:
    """Every key with its type, its exact byte content and whether it expires: equal
    snapshots mean Redis is unchanged. (DUMP is not used: a hash's serialised field
    order can change on a mere read, when Redis rehashes incrementally.)
    On a cluster, every master is scanned."""
    nodes: list[redis.Redis] = (
        [r.get_redis_connection(n) for n in r.get_primaries()]
        if isinstance(r, redis.RedisCluster)
        else [r]
    )
    out = {}
    for node in nodes:
        for key in sorted(node.scan_iter(count=1000)):
            out[key] = _key_content(node, key)
    return out


class GatewayThread:
    """Runs ``start_server`` on a uvloop loop in a daemon thread."""

    def __init__(self, config: Config, *, loop: str = "uvloop") -> None:
        self.config = config
        self.loop_kind = loop  # "uvloop" or "asyncio": the server must work on both
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: RunningServer | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._grace_s = 1.0
        self._thread = threading.Thread(target=self._main, name="gateway", daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> GatewayThread:
        self._thread.start()
        if not self._ready.wait(120):
            raise TimeoutError("gateway did not start")
        if self._error is not None:
            raise RuntimeError("gateway failed to start") from self._error
        return self

    def _main(self) -> None:
        loop = uvloop.new_event_loop() if self.loop_kind == "uvloop" else asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._running = loop.run_until_complete(start_server(self.config))
            self.port = self._running.port
        except BaseException as e:  # reported by start()
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._running.stop(self._grace_s))
        loop.close()

    @property
    def running(self) -> RunningServer:
        assert self._running is not None
        return self._running

    def stop(self, grace_s: float = 1.0) -> None:
        """Stop (once): in-flight calls get ``grace_s`` to finish, then are cut."""
        if self._loop is not None and self._running is not None and self._thread.is_alive():
            self._grace_s = grace_s
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)


def worker_pids_from_log(log: Path) -> list[int]:
    """Live worker pids of a `claimgate serve` process tree, from the supervisor's log
    ('worker N (pid P) starting'; a restarted worker N replaces the earlier pid)."""
    started = re.findall(rb"worker (\d+) \(pid (\d+)\) starting", log.read_bytes())
    latest: dict[bytes, int] = {}
    for index, pid in started:
        latest[index] = int(pid)
    return [p for p in latest.values() if Path(f"/proc/{p}").exists()]


def wait_for(predicate: Callable[[], bool], what: str, limit_s: float = 20.0) -> None:
    """Poll a state, bounded: the tests wait for states, never for durations."""
    end = time.monotonic() + limit_s
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def health_status(channel: grpc.Channel) -> int:
    """The gateway's health status on a channel; -1 when it does not answer."""
    try:
        return int(health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="claims.v1.ClaimGateway"), timeout=2).status)
    except grpc.RpcError:
        return -1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def served_process(
    redis_url: str, log: Path, *, args: Sequence[str] = (), budgets_ms: str = "",
    workers: int = 2,
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`claimgate serve --workers N --plaintext` as a real process tree on a free port:
    yields (process, address) once it is SERVING with every worker started, and stops it
    (SIGTERM, then kill) on exit."""
    port = free_port()
    env = {**os.environ, "CLAIMGATE_BUDGETS_MS": budgets_ms} if budgets_ms else None
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--redis-url", redis_url,
             "--workers", str(workers), "--listen", f"127.0.0.1:{port}", "--plaintext",
             *args],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    address = f"127.0.0.1:{port}"
    try:
        with grpc.insecure_channel(address) as ch:
            wait_for(lambda: health_status(ch) == health_pb2.HealthCheckResponse.SERVING,
                     "workers SERVING", 60)
        wait_for(lambda: len(worker_pids_from_log(log)) == workers, "every worker", 60)
        yield proc, address
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class ClientCertificates:
    """A development CA for the mutual-TLS mode of the integration tests: the server's
    certificate, and a client certificate for any institution code, issued on first use."""

    def __init__(self, out: Path) -> None:
        from gateway.devcerts import DevCA, _write

        self.out = out
        self.ca = DevCA()
        out.mkdir(parents=True, exist_ok=True)
        (out / "ca.pem").write_bytes(self.ca.cert_pem)
        _write(out / "server.pem", *self.ca.server(["localhost"]))
        self._clients: dict[str, tuple[bytes, bytes]] = {}

    def config(self, **fields: object) -> Config:
        return Config(tls_cert=str(self.out / "server.pem"), tls_key=str(self.out / "server.key"),
                      tls_client_ca=str(self.out / "ca.pem"), **fields)  # type: ignore[arg-type]

    def channel(self, address: str, code: str) -> grpc.Channel:
        if code not in self._clients:
            self._clients[code] = self.ca.client_pem(code)
        key, cert = self._clients[code]
        creds = grpc.ssl_channel_credentials(self.ca.cert_pem, key, cert)
        port = address.rpartition(":")[2]
        return grpc.secure_channel(f"localhost:{port}", creds)


# Requests naming an institution code no certificate could carry (empty, too long,
# not printable) go over this institution's channel: the gateway must refuse the code
# itself (INVALID_ARGUMENT), whatever the certificate.
FALLBACK_INSTITUTION = PHARMACY.code


class InstitutionStub:
    """A ClaimGatewayStub that sends every call over a channel of the institution the
    call names (its request's, or an upload's first chunk's ``institution_code``).

    In plain text every institution shares one channel; under mutual TLS each has its
    own, with a client certificate whose common name is its code. The transaction
    tests use it unchanged in both modes, so a transaction that works in only one of
    them fails."""

    def __init__(self, channel_for: Callable[[str], grpc.Channel]) -> None:
        from claims.v1 import claims_pb2_grpc as pb_grpc
        from gateway.validate import LIMITS, check_code

        self._channel_for = channel_for
        self._stubs: dict[str, object] = {}
        self._make = pb_grpc.ClaimGatewayStub
        self._check = lambda code: check_code(code, "institution_code", LIMITS.code_len_max)

    def _stub(self, code: str) -> object:
        try:
            self._check(code)
        except Exception:
            code = FALLBACK_INSTITUTION
        if code not in self._stubs:
            self._stubs[code] = self._make(self._channel_for(code))
        return self._stubs[code]

    def __getattr__(self, method: str) -> Callable[..., object]:
        def call(request: object, *args: object, **kwargs: object) -> object:
            if hasattr(request, "DESCRIPTOR"):
                code = getattr(request, "institution_code", "")
                send = request
            else:  # a client stream: its first message names the institution
                items = list(request)  # type: ignore[call-overload]
                code = getattr(items[0], "institution_code", "") if items else ""
                send = iter(items)
            return getattr(self._stub(code), method)(send, *args, **kwargs)

        return call
