"""The ``claimgate`` command: serve, seed, policy."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from gateway.config import Config

log = logging.getLogger("claimgate")


@contextlib.contextmanager
def redis_for(config: Config) -> Iterator[str]:
    """The Redis URL every command uses: the configured one, else the private server of
    the data directory (the running one, found through ``redis/server.json``, or one
    started for as long as the command runs)."""
    if config.redis_url:
        yield config.redis_url
        return
    from gateway.private_redis import private_redis

    with private_redis(Path(config.data_dir) / "redis",
                       appendfsync=config.appendfsync) as url:  # type: ignore[arg-type]
        yield url


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def _add_redis_flags(p: argparse.ArgumentParser, defaults: Config) -> None:
    p.add_argument("--redis-url", default=defaults.redis_url,
                   help="use this Redis instead of a private redis-server")
    p.add_argument("--redis-cluster", action="store_true", default=defaults.redis_cluster,
                   help="the Redis URL is a node of a Redis Cluster")
    p.add_argument("--data-dir", default=defaults.data_dir,
                   help="where the private redis-server keeps its data (default %(default)s)")
    p.add_argument("--appendfsync", choices=("always", "everysec", "no"),
                   default=defaults.appendfsync,
                   help="private redis-server AOF fsync policy (default %(default)s)")


def _config(args: argparse.Namespace, defaults: Config) -> Config:
    cfg = dataclasses.replace(defaults)
    if getattr(args, "budget", None):
        from gateway.budget import parse_budgets

        cfg.budgets_ms = {**cfg.budgets_ms, **parse_budgets(",".join(args.budget))}
    if getattr(args, "no_access_log", False):
        cfg.access_log = False
    for name in ("replica_ack", "replica_ack_timeout_ms"):
        if hasattr(args, name):
            setattr(cfg, name, getattr(args, name))
    for name in ("redis_url", "redis_cluster", "data_dir", "appendfsync", "listen", "grace_s",
                 "workers", "metrics_port", "metrics_addr", "inflight_max",
                 "per_institution_inflight_max", "per_institution_rate_per_s",
                 "per_connection_inflight_max", "request_wait_s", "tls_cert",
                 "tls_key", "tls_client_ca", "plaintext"):
        if hasattr(args, name):
            setattr(cfg, name, getattr(args, name))
    return cfg


def cmd_serve(args: argparse.Namespace, defaults: Config) -> int:
    from gateway.supervisor import address_in_use, multiprocess_metrics_dir, serve_workers

    # Before anything imports prometheus-client's metrics: workers then write theirs
    # to files that the /metrics process adds up.
    metrics_dir = multiprocess_metrics_dir()
    cfg = _config(args, defaults)
    from gateway.server import ConfigError, validate_config

    try:
        validate_config(cfg)
    except ConfigError as e:
        log.error("%s", e)
        return 2
    if address_in_use(cfg.listen):
        log.error("%s is in use (another gateway?): stop it, or serve on another --listen",
                  cfg.listen)
        shutil.rmtree(metrics_dir, ignore_errors=True)
        return 2
    with redis_for(cfg) as url:
        cfg.redis_url = url
        import redis.exceptions

        try:
            seeded = asyncio.run(_has_reference(url, cfg.redis_cluster))
        except redis.exceptions.ConnectionError as e:
            log.error("%s", e)
            return 1
        if args.seed_demo and not seeded:
            asyncio.run(_seed(url, cfg.redis_cluster, members=args.members, seed=args.seed,
                              if_empty=True))
        elif not seeded:
            log.error("no policy in Redis: run `claimgate seed` first (or serve --seed-demo)")
            return 2
        return serve_workers(cfg, metrics_dir)


async def _has_reference(url: str, cluster: bool) -> bool:
    from gateway.store import Store

    store = Store.from_url(url, cluster=cluster)
    try:
        await store.wait_ready()
        return await store.load_reference() is not None
    finally:
        await store.close()


async def _seed(
    url: str, cluster: bool, *, members: int, seed: int, if_empty: bool,
    policy_path: str | None = None,
) -> bool:
    from gateway.demo_catalogue import demo_catalogue
    from gateway.demo_institutions import demo_institutions
    from gateway.demo_population import demo_population
    from gateway.journal import record_admin
    from gateway.progress import counted
    from gateway.store import Store
    from rules_compiled import REFERENCE_POLICY_PATH
    from rules_compiled.policy import load_policy_file

    store = Store.from_url(url, cluster=cluster)
    try:
        if if_empty and await store.load_reference() is not None:
            log.info("demo data already present; not seeding again")
            return False
        policy = load_policy_file(Path(policy_path) if policy_path else REFERENCE_POLICY_PATH)
        t0 = time.perf_counter()
        await store.save_reference(
            policy_version=policy.version,
            policy_text=policy.source_text,
            catalogue=demo_catalogue(),
            institutions=demo_institutions(),
        )
        count = await store.save_members(counted(demo_population(members, seed=seed),
                                                 "seed members", members, unit="members"))
        await record_admin(store, "SEED", pver=policy.version, rows=count)
        log.info("seeded policy %s, %d members in %.1f s", policy.version, count,
                 time.perf_counter() - t0)
        return True
    finally:
        await store.close()


def cmd_seed(args: argparse.Namespace, defaults: Config) -> int:
    cfg = _config(args, defaults)
    with redis_for(cfg) as url:
        asyncio.run(_seed(url, cfg.redis_cluster, members=args.members, seed=args.seed,
                          if_empty=args.if_empty, policy_path=args.policy))
    return 0


def cmd_policy(argv: list[str]) -> int:
    if argv and argv[0] == "publish":
        return cmd_policy_publish(argv[1:])
    if argv[:1] == ["explain"] and any(a.startswith("--settlement") for a in argv):
        from gateway.explain import explain_settlement_main

        return explain_settlement_main(argv[1:])
    from rules_compiled.cli import policy_main

    return policy_main(argv)


def cmd_policy_publish(argv: list[str]) -> int:
    """``claimgate policy publish FILE``: an admin operation against Redis (its own
    credential: whoever can write the gateway's Redis). Gateways reload within a second."""
    from gateway.journal import record_admin
    from gateway.store import Store
    from rules_compiled.policy import PolicyError, load_policy_file

    defaults = Config.from_env()
    p = argparse.ArgumentParser(prog="claimgate policy publish",
                                description="Validate a policy file and make it current.")
    p.add_argument("file")
    _add_redis_flags(p, defaults)
    args = p.parse_args(argv)
    try:
        policy = load_policy_file(Path(args.file))
    except PolicyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    cfg = _config(args, defaults)

    async def publish(url: str) -> None:
        store = Store.from_url(url, cluster=cfg.redis_cluster)
        try:
            await store.publish_policy(policy_version=policy.version,
                                       policy_text=policy.source_text)
            await record_admin(store, "POLICY_PUBLISH", pver=policy.version, src=args.file)
        finally:
            await store.close()

    with redis_for(cfg) as url:
        try:
            asyncio.run(publish(url))
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    print(f"published policy {policy.version}")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C before serving (or of a one-shot command)
        log.info("interrupted")
        return 130


def _main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--operator"] and len(argv) > 1:  # who runs it, for the admin journal
        os.environ["CLAIMGATE_OPERATOR"] = argv[1]
        argv = argv[2:]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if argv and argv[0] == "policy":
        return cmd_policy(argv[1:])
    if argv and argv[0] == "load":
        from gateway.loader import load_main

        return load_main(argv[1:])
    if argv and argv[0] == "journal":
        from gateway.journal import journal_main

        return journal_main(argv[1:])
    if argv and argv[0] == "dev-certs":
        from gateway.devcerts import main as dev_certs_main

        return dev_certs_main(argv[1:])
    if argv and argv[0] == "bench":
        from bench.cli import main as bench_main  # the bench suite is a client of the gateway

        return bench_main(argv[1:])
    defaults = Config.from_env()
    parser = argparse.ArgumentParser(prog="claimgate", description=__doc__)
    parser.add_argument("--operator", metavar="NAME",
                        help="who runs the command, for the audit journal of loads, seeds "
                             "and publishes (first argument; default: CLAIMGATE_OPERATOR, "
                             "else the OS user)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="serve the gRPC gateway")
    p.add_argument("--listen", default=defaults.listen, help="host:port (default %(default)s)")
    p.add_argument("--grace-s", dest="grace_s", type=float, default=defaults.grace_s,
                   help="drain time on SIGTERM (default %(default)s)")
    p.add_argument("--workers", type=int, default=defaults.workers,
                   help="worker processes sharing the port (default: one per core)")
    p.add_argument("--metrics-port", type=int, default=defaults.metrics_port,
                   help="serve Prometheus /metrics on this port (default: off)")
    p.add_argument("--metrics-addr", default=defaults.metrics_addr,
                   help="address of the /metrics endpoint (default %(default)s)")
    p.add_argument("--budget", action="append", default=[], metavar="METHOD[.SETTING]=MS",
                   help="latency budget override, e.g. Settle.INPATIENT=1500 (repeatable)")
    p.add_argument("--inflight-max", type=int, default=defaults.inflight_max,
                   help="in-flight requests per worker before shedding (default %(default)s)")
    p.add_argument("--per-institution-inflight-max", type=int,
                   default=defaults.per_institution_inflight_max,
                   help="in-flight requests per institution per worker (default %(default)s)")
    p.add_argument("--per-institution-rate", dest="per_institution_rate_per_s", type=float,
                   default=defaults.per_institution_rate_per_s,
                   help="requests/s per institution per worker, 0 = no limit")
    p.add_argument("--per-connection-inflight-max", type=int,
                   default=defaults.per_connection_inflight_max,
                   help="in-flight calls per connection per worker (default: the "
                        "per-institution bound)")
    p.add_argument("--request-wait-s", type=float, default=defaults.request_wait_s,
                   help="how long a call may wait for its request, and between stream "
                        "messages (default %(default)s)")
    p.add_argument("--no-access-log", action="store_true", help="no JSON line per request")
    p.add_argument("--tls-cert", default=defaults.tls_cert, help="server certificate (PEM)")
    p.add_argument("--tls-key", default=defaults.tls_key, help="server private key (PEM)")
    p.add_argument("--tls-client-ca", default=defaults.tls_client_ca,
                   help="CA of the institutions' client certificates (mutual TLS)")
    p.add_argument("--plaintext", action="store_true", default=defaults.plaintext,
                   help="serve without TLS (development; warns on a non-loopback address)")
    p.add_argument("--replica-ack", type=_non_negative, default=defaults.replica_ack,
                   metavar="N", help="acknowledge a commit only once N replicas hold it "
                   "(WAIT; default %(default)s: once the master has it)")
    p.add_argument("--replica-ack-timeout-ms", type=_non_negative,
                   default=defaults.replica_ack_timeout_ms, metavar="MS",
                   help="how long a commit waits for its replicas before the call is answered "
                   "UNAVAILABLE, retriable with the same request id (default %(default)s)")
    p.add_argument("--seed-demo", action="store_true",
                   help="seed demo data first when Redis holds none")
    p.add_argument("--members", type=int, default=10_000, help="demo population size")
    p.add_argument("--seed", type=int, default=20260101, help="demo data random seed")
    _add_redis_flags(p, defaults)
    p.set_defaults(fn=cmd_serve)

    p = sub.add_parser("seed", help="load the reference policy and demo data")
    p.add_argument("--members", type=int, default=10_000, help="population size")
    p.add_argument("--seed", type=int, default=20260101, help="random seed")
    p.add_argument("--policy", default=None, help="policy file (default: the reference policy)")
    p.add_argument("--if-empty", action="store_true", help="do nothing when data is present")
    _add_redis_flags(p, defaults)
    p.set_defaults(fn=cmd_seed)

    sub.add_parser("policy", help="check or explain a policy (claimgate policy --help)")
    sub.add_parser("load", help="bulk-load members|institutions|catalogue, or members' "
                   "year-to-date accumulators|fills|charges, from CSV")
    sub.add_parser("bench", help="the load-testing bench suite (claimgate bench --help)")
    sub.add_parser("dev-certs", help="development CA, server and institution certificates")
    sub.add_parser("journal", help="export the audit journal (claimgate journal export --help)")

    args = parser.parse_args(argv)
    return int(args.fn(args, defaults))


if __name__ == "__main__":
    sys.exit(main())
