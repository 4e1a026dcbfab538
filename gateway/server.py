"""Build and run the gRPC server: ClaimGateway, health, reflection, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer  # = grpc_health.v1.health.aio
from grpc_reflection.v1alpha import reflection

from claims.v1 import claims_pb2, claims_pb2_grpc
from gateway import metrics
from gateway.accesslog import AccessLog
from gateway.admission import AdmissionConfig
from gateway.budget import Budgets
from gateway.config import Config
from gateway.reference import Reference
from gateway.service import ClaimGatewayService
from gateway.store import Store

log = logging.getLogger("claimgate")

SERVICE_NAME = claims_pb2.DESCRIPTOR.services_by_name["ClaimGateway"].full_name


class NotSeeded(RuntimeError):
    pass


STORE_PROBE_INTERVAL_S = 0.25
STORE_PROBE_TIMEOUT_S = 0.25


@dataclass(slots=True)
class RunningServer:
    server: grpc.aio.Server
    port: int
    service: ClaimGatewayService
    health: HealthServicer
    store: Store
    monitor: asyncio.Task[None]

    async def stop(self, grace_s: float | None) -> None:
        """Stop accepting, let in-flight requests finish within the grace period."""
        self.monitor.cancel()
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)
        await self.store.close()
        self.service.access_log.close()


async def _monitor_store(service: ClaimGatewayService, health: HealthServicer) -> None:
    """Health follows Redis: NOT_SERVING while it does not answer, SERVING once it does.
    Requests meanwhile fail fast with UNAVAILABLE; no restart is needed either way."""
    up: bool | None = None
    while True:
        try:
            ok = bool(await asyncio.wait_for(service.store.ping(), STORE_PROBE_TIMEOUT_S))
        except Exception:  # any failure to answer counts as down
            ok = False
        if ok != up:
            up = ok
            service.store_up = ok
            metrics.REDIS_UP.set(1 if ok else 0)
            status = (
                health_pb2.HealthCheckResponse.SERVING
                if ok
                else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            for name in ("", SERVICE_NAME):
                await health.set(name, status)
            log.log(logging.INFO if ok else logging.ERROR,
                    "state store %s", "reachable: SERVING" if ok else "unreachable: NOT_SERVING")
        await asyncio.sleep(STORE_PROBE_INTERVAL_S)


async def start_server(config: Config) -> RunningServer:
    """Load reference data, warm the kernels, bind, and report SERVING."""
    store = Store.from_url(config.redis_url, cluster=config.redis_cluster)
    data = await store.load_reference()
    if data is None:
        await store.close()
        raise NotSeeded("no policy in Redis: run `claimgate seed` first")
    reference = Reference.build(data, warm=True)
    server = grpc.aio.server(
        options=[
            ("grpc.so_reuseport", 1),
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
        ]
    )
    service = ClaimGatewayService(
        store,
        reference,
        budgets=Budgets(config.budgets_ms),
        admission=AdmissionConfig(
            inflight_max=config.inflight_max,
            per_institution_inflight_max=config.per_institution_inflight_max,
            per_institution_rate_per_s=config.per_institution_rate_per_s,
        ),
        access_log=AccessLog(enabled=config.access_log).start(),
    )
    claims_pb2_grpc.add_ClaimGatewayServicer_to_server(service, server)
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME),
        server,
    )
    for name in ("", SERVICE_NAME):  # until the store monitor's first probe answers
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    port = server.add_insecure_port(config.listen)
    if port == 0:
        raise OSError(f"could not bind {config.listen}")
    await server.start()
    monitor = asyncio.create_task(_monitor_store(service, health_servicer))
    log.info(
        "serving %s on port %d, policy %s, %d catalogue items, %d institutions",
        SERVICE_NAME, port, reference.policy_version, len(reference.engine.items),
        len(reference.institutions),
    )
    return RunningServer(server, port, service, health_servicer, store, monitor)


@contextlib.asynccontextmanager
async def running(config: Config) -> AsyncIterator[RunningServer]:
    """The server as an async context manager (tests, embedding)."""
    srv = await start_server(config)
    try:
        yield srv
    finally:
        await srv.stop(config.grace_s)


async def serve_forever(config: Config) -> None:
    """One process: serve until SIGTERM or SIGINT, then drain."""
    srv = await start_server(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: draining in-flight requests for up to %.1f s", config.grace_s)
    await srv.stop(config.grace_s)
