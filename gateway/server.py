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
from gateway.config import Config
from gateway.reference import Reference
from gateway.service import ClaimGatewayService
from gateway.store import Store

log = logging.getLogger("claimgate")

SERVICE_NAME = claims_pb2.DESCRIPTOR.services_by_name["ClaimGateway"].full_name


class NotSeeded(RuntimeError):
    pass


@dataclass(slots=True)
class RunningServer:
    server: grpc.aio.Server
    port: int
    service: ClaimGatewayService
    health: HealthServicer
    store: Store

    async def stop(self, grace_s: float | None) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)
        await self.store.close()


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
    service = ClaimGatewayService(store, reference)
    claims_pb2_grpc.add_ClaimGatewayServicer_to_server(service, server)
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME),
        server,
    )
    port = server.add_insecure_port(config.listen)
    if port == 0:
        raise OSError(f"could not bind {config.listen}")
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info(
        "serving %s on port %d, policy %s, %d catalogue items, %d institutions",
        SERVICE_NAME, port, reference.policy_version, len(reference.engine.items),
        len(reference.institutions),
    )
    return RunningServer(server, port, service, health_servicer, store)


@contextlib.asynccontextmanager
async def running(config: Config) -> AsyncIterator[RunningServer]:
    """The server as an async context manager (tests, embedding)."""
    srv = await start_server(config)
    try:
        yield srv
    finally:
        await srv.stop(config.grace_s)


async def serve_forever(config: Config) -> None:
    srv = await start_server(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: draining in-flight requests for up to %.1f s", config.grace_s)
    await srv.stop(config.grace_s)
