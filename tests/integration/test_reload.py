"""A new policy version is loaded by a running gateway without a restart and without
failing requests in flight; each settlement records the version it used."""

from __future__ import annotations

import asyncio
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
import redis

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.redis_server import RedisServer
from gateway.store import Store
from rules_compiled import REFERENCE_POLICY_PATH
from rules_compiled.policy import compile_policy
from tests.integration.harness import base_member, put_members, wait_for
from tests.integration.test_serving import claim, own_redis, start_gateway

_ = own_redis  # fixture
_n = itertools.count()


def _publish(url: str, text: str, version: str) -> None:
    async def go() -> None:
        store = Store.from_url(url)
        try:
            await store.publish_policy(policy_version=version, policy_text=text)
        finally:
            await store.close()

    asyncio.run(go())


def test_new_policy_is_served_without_restart_and_no_request_fails(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    original = REFERENCE_POLICY_PATH.read_text()
    old_version = compile_policy(original, "reference.toml").version
    new_text = original.replace(f'version = "{old_version}"', 'version = "reference-2026.2"')
    assert compile_policy(new_text, "new.toml").version == "reference-2026.2"
    g = start_gateway(own_redis)
    r = redis.Redis.from_url(own_redis.url)
    members = [base_member() for _ in range(8)]
    put_members(r, members)
    seen: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()
    try:
        with grpc.insecure_channel(g.address) as ch:
            stub = pb_grpc.ClaimGatewayStub(ch)

            def load(m) -> None:  # type: ignore[no-untyped-def]
                while not stop.is_set():
                    try:
                        seen.append(stub.Settle(claim(m)).policy_version)
                    except grpc.RpcError as e:
                        errors.append(e)
                        return

            with ThreadPoolExecutor(4) as pool:
                for m in members[:4]:
                    pool.submit(load, m)
                wait_for(lambda: len(seen) >= 10, "settlements on the old policy")
                _publish(own_redis.url, new_text, "reference-2026.2")
                wait_for(lambda: "reference-2026.2" in seen[-3:], "the new policy in use", 30)
                stop.set()
            assert not errors, errors
            assert seen[0] == old_version
            after = stub.Settle(claim(members[5]))
            assert after.policy_version == "reference-2026.2"
            got = stub.GetSettlement(pb.GetSettlementRequest(
                institution_code=after.institution_code, settlement_id=after.settlement_id))
            assert got.policy_version == "reference-2026.2"
    finally:
        stop.set()
        g.stop()
        r.close()


def test_a_version_names_one_text(own_redis: RedisServer) -> None:
    text = REFERENCE_POLICY_PATH.read_text()
    version = compile_policy(text, "reference.toml").version
    _publish(own_redis.url, text, version)  # the same text again: fine
    with pytest.raises(ValueError, match="already published"):
        _publish(own_redis.url, text + "\n# changed\n", version)
