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

from claims.v1 import claims_pb2
from gateway import line_columns, line_wire, metrics
from gateway.accesslog import AccessLog
from gateway.admission import AdmissionConfig
from gateway.budget import Budgets
from gateway.collector import tune_gc
from gateway.config import Config
from gateway.reference import Reference
from gateway.reflection import enable_server_reflection
from gateway.security import safe_deserializer
from gateway.service import ClaimGatewayService
from gateway.store import ReplicaAck, Store
from gateway.wire import serializer

log = logging.getLogger("claimgate")

SERVICE_NAME = claims_pb2.DESCRIPTOR.services_by_name["ClaimGateway"].full_name


class NotSeeded(RuntimeError):
    pass


class ConfigError(RuntimeError):
    pass


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


def validate_config(config: Config) -> None:
    """Refuse a listening configuration before any process is forked."""
    if config.tls and not (config.tls_cert and config.tls_key and config.tls_client_ca):
        raise ConfigError("mutual TLS needs --tls-cert, --tls-key and --tls-client-ca")
    if not config.tls and not config.plaintext:
        raise ConfigError(
            "no TLS configured: give --tls-cert/--tls-key/--tls-client-ca for mutual TLS, "
            "or --plaintext to serve without it (development, loopback)"
        )
    if config.tls:
        for flag, path in (("--tls-cert", config.tls_cert), ("--tls-key", config.tls_key),
                           ("--tls-client-ca", config.tls_client_ca)):
            _check_pem(flag, path)


def _check_pem(flag: str, path: str) -> None:
    """A TLS file every worker will read: readable by this user, and PEM."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 20)
    except OSError as e:
        raise ConfigError(f"{flag} {path}: cannot be read ({e.strerror or e}); the file "
                          "must be readable by the user the gateway runs as") from e
    if b"-----BEGIN " not in head:
        raise ConfigError(f"{flag} {path}: not a PEM file")


def _bind(server: grpc.aio.Server, config: Config) -> int:
    """Mutual TLS when configured; plain text only when asked for explicitly."""
    validate_config(config)
    if config.tls:
        with open(config.tls_key, "rb") as k, open(config.tls_cert, "rb") as c, open(
            config.tls_client_ca, "rb"
        ) as ca:
            credentials = grpc.ssl_server_credentials(
                [(k.read(), c.read())], root_certificates=ca.read(), require_client_auth=True
            )
        return server.add_secure_port(config.listen, credentials)
    host = config.listen.rpartition(":")[0]
    if host not in LOOPBACK_HOSTS:
        log.warning("serving PLAIN TEXT on %s, a non-loopback address: requests are not "
                    "authenticated and institutions are not bound to certificates", host)
    return server.add_insecure_port(config.listen)


STORE_PROBE_INTERVAL_S = 0.25
STORE_PROBE_TIMEOUT_S = 0.25
# NOT_SERVING only after the store has failed this long: one slow probe (a busy
# machine, a fork for a rewrite) must not turn every call away.
STORE_DOWN_AFTER_S = 1.0
REFERENCE_POLL_S = 1.0  # how soon a new policy, catalogue or institution list is seen


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


async def reload_reference(service: ClaimGatewayService) -> bool:
    """Load the current reference data and swap it in, without a restart.

    The new tables are compiled and the kernels warmed in a thread; requests in
    flight keep the version they started with (each reads ``service.reference``
    once), new ones get the new version. A policy that does not compile is
    logged and the running version stays.
    """
    data = await service.store.load_reference()
    if data is None:
        return False
    if data.policy_version == service.reference.policy_version and (
        data.catalogue == service.reference.engine.items
        and data.institutions == service.reference.institutions
    ):
        return False
    loop = asyncio.get_running_loop()
    try:
        reference = await loop.run_in_executor(None, Reference.build, data)
    except Exception as e:
        log.error("reference data not loaded, keeping policy %s: %s",
                  service.reference.policy_version, e)
        return False
    old = service.reference.policy_version
    service.reference = reference
    log.info("reference data reloaded: policy %s -> %s, %d items, %d institutions", old,
             reference.policy_version, len(reference.engine.items),
             len(reference.institutions))
    return True


async def _monitor_store(service: ClaimGatewayService, health: HealthServicer) -> None:
    """Health follows what the claim path can reach: every Redis node it sends to
    (for a cluster, the master of every slot, from a slot map re-read at each probe,
    so a promoted replica is picked up without traffic).

    SERVING once every node answers; NOT_SERVING once some node has failed to
    answer for ``STORE_DOWN_AFTER_S`` (a single slow probe changes nothing). While
    no node at all answers, calls are refused at once with UNAVAILABLE; while only
    some do (a dead master before its replica is promoted), calls for the others
    are served and calls for the missing slots fail fast with UNAVAILABLE. No
    restart is needed either way. The monitor also notices new reference data
    (``ref:generation``) and reloads it."""
    serving: bool | None = None  # as reported; None before the first probe
    failing_since: float | None = None
    generation: int | None = None
    next_reference_check = 0.0
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            nodes = await asyncio.wait_for(service.store.reachability(STORE_PROBE_TIMEOUT_S),
                                           2 * STORE_PROBE_TIMEOUT_S)
        except Exception:  # any failure to answer counts as down
            nodes = {}
        ok = bool(nodes) and all(nodes.values())
        if ok:
            failing_since = None
        elif failing_since is None:
            failing_since = started
        now_serving = ok or (serving is True and failing_since is not None
                             and loop.time() - failing_since < STORE_DOWN_AFTER_S)
        service.store_up = now_serving or any(nodes.values())
        if now_serving != serving:
            serving = now_serving
            metrics.REDIS_UP.set(1 if now_serving else 0)
            status = (
                health_pb2.HealthCheckResponse.SERVING
                if now_serving
                else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            for name in ("", SERVICE_NAME):
                await health.set(name, status)
            if now_serving:
                log.info("state store reachable: SERVING")
            else:
                down = sorted(a for a, up in nodes.items() if not up) or ["every node"]
                log.error("state store unreachable (%s): NOT_SERVING", ", ".join(down))
        if ok and loop.time() >= next_reference_check:
            next_reference_check = loop.time() + REFERENCE_POLL_S
            try:
                current = await service.store.reference_generation()
                if generation is None:
                    generation = current
                elif current != generation:
                    generation = current
                    await reload_reference(service)
            except Exception as e:  # a failed check is retried at the next poll
                log.warning("reference check failed: %s", e)
        await asyncio.sleep(STORE_PROBE_INTERVAL_S)


def add_claim_gateway(service: ClaimGatewayService, server: grpc.aio.Server) -> None:
    """Register the servicer with deserializers that never raise: bytes that are not a
    valid message reach the handler as ``Malformed`` and get INVALID_ARGUMENT (grpc's
    own answer to a failing deserializer would be INTERNAL).

    Every method is served as a client stream (the wire is the same for a unary
    request): the handler then starts when the call does, not when its request has
    arrived, so it can admit the caller first and bound the wait for the request."""
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    descriptor = claims_pb2.DESCRIPTOR.services_by_name["ClaimGateway"]
    for method in descriptor.methods:
        request_type = getattr(claims_pb2, method.input_type.name)
        response_type = getattr(claims_pb2, method.output_type.name)
        behaviour = getattr(service, method.name)
        make = {
            (False, False): grpc.unary_unary_rpc_method_handler,
            (True, False): grpc.stream_unary_rpc_method_handler,
            (False, True): grpc.unary_stream_rpc_method_handler,
            (True, True): grpc.stream_stream_rpc_method_handler,
        }[(True, method.server_streaming)]
        handlers[method.name] = make(
            behaviour,
            request_deserializer=safe_deserializer(request_type.FromString,
                                                   method.input_type.full_name),
            response_serializer=serializer(response_type),
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(descriptor.full_name, handlers),)
    )


async def start_server(config: Config) -> RunningServer:
    """Load reference data, warm the kernels, bind, and report SERVING."""
    store = Store.from_url(config.redis_url, cluster=config.redis_cluster,
                           replica_ack=ReplicaAck(config.replica_ack,
                                                  config.replica_ack_timeout_ms))
    try:
        await store.wait_ready()
    except BaseException:
        await store.close()
        raise
    data = await store.load_reference()
    if data is None:
        await store.close()
        raise NotSeeded("no policy in Redis: run `claimgate seed` first")
    reference = Reference.build(data, warm=True)
    line_columns.warm()
    line_wire.warm()
    server = grpc.aio.server(
        # No maximum_concurrent_rpcs: gRPC's core would count health checks and calls
        # still waiting for their request against it. The handlers' admission bounds
        # calls per connection, per institution and per process instead.
        options=[
            ("grpc.so_reuseport", 1),
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
            ("grpc.server_handshake_timeout_ms", int(config.handshake_timeout_s * 1000)),
            ("grpc.max_connection_idle_ms", int(config.connection_idle_s * 1000)),
        ]
    )
    service = ClaimGatewayService(
        store,
        reference,
        require_client_certificate=config.tls,
        budgets=Budgets(config.budgets_ms),
        admission=AdmissionConfig(
            inflight_max=config.inflight_max,
            per_institution_inflight_max=config.per_institution_inflight_max,
            per_institution_rate_per_s=config.per_institution_rate_per_s,
            per_connection_inflight_max=config.per_connection_inflight_max,
            request_wait_s=config.request_wait_s,
        ),
        access_log=AccessLog(enabled=config.access_log).start(),
    )
    add_claim_gateway(service, server)
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    enable_server_reflection(  # grpc.reflection.v1 and v1alpha
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name), server
    )
    for name in ("", SERVICE_NAME):  # until the store monitor's first probe answers
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    try:
        port = _bind(server, config)
    except BaseException:
        await store.close()
        raise
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
    tune_gc()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: draining in-flight requests for up to %.1f s", config.grace_s)
    await srv.stop(config.grace_s)
