"""The ``claimgate load KIND FILE.csv`` command: members, institutions or the catalogue,
and for going live during a benefit year accumulators, fills or charges.

Each kind's load is in a module of its own: :mod:`gateway.load_members`,
:mod:`gateway.load_reference` (institutions, catalogue) and :mod:`gateway.load_state`
(accumulators, fills, charges); what they share (the two passes, the report, the field
checks) is in :mod:`gateway.load_csv`. The column layout of every file is in
``docs/csv-formats.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from redis.exceptions import RedisError

from gateway.config import Config
from gateway.journal import record_admin
from gateway.load_csv import LoadReport
from gateway.load_members import load_members_csv
from gateway.load_reference import load_catalogue_csv, load_institutions_csv
from gateway.load_state import load_accumulators_csv, load_charges_csv, load_fills_csv
from gateway.store import Store

__all__ = ["EXIT_OK", "EXIT_REDIS_FAILED", "EXIT_REJECTED", "load_main"]

_LOADERS = {
    "members": load_members_csv,
    "institutions": load_institutions_csv,
    "catalogue": load_catalogue_csv,
    "accumulators": load_accumulators_csv,
    "fills": load_fills_csv,
    "charges": load_charges_csv,
}

EXIT_OK = 0
EXIT_REJECTED = 1  # bad file, or no policy for a reference load: nothing was written
EXIT_REDIS_FAILED = 2  # Redis failed while writing: re-run the same file


async def _load(kind: str, path: str, url: str, cluster: bool) -> LoadReport:
    store = Store.from_url(url, cluster=cluster)
    try:
        report = await _LOADERS[kind](store, path)
        if report.ok:
            await record_admin(store, f"LOAD_{kind.upper()}", src=path, rows=report.rows_loaded)
        return report
    finally:
        await store.close()


def _config_from_env() -> Config:
    """The ``CLAIMGATE_*`` settings a load uses (Redis URL, cluster, data dir, fsync)."""
    # Read here rather than with Config.from_env(), which fails as of this writing
    # (its defaults are read from a slots dataclass's class attributes).
    cfg = Config()
    env = os.environ.get
    cfg.redis_url = env("CLAIMGATE_REDIS_URL", cfg.redis_url)
    cfg.redis_cluster = env("CLAIMGATE_REDIS_CLUSTER", "0") in ("1", "true", "yes")
    cfg.data_dir = env("CLAIMGATE_DATA_DIR", cfg.data_dir)
    cfg.appendfsync = env("CLAIMGATE_APPENDFSYNC", cfg.appendfsync)
    return cfg


def load_main(argv: list[str]) -> int:
    """``claimgate load KIND FILE.csv [--redis-url URL] [--redis-cluster]``.

    ``argv`` are the arguments after ``load``. Without a Redis URL (flag or
    ``CLAIMGATE_REDIS_URL``) the private redis-server in the data directory is
    used, as ``claimgate seed`` does.
    """
    defaults = _config_from_env()
    parser = argparse.ArgumentParser(
        prog="claimgate load",
        description="Load members, institutions or the catalogue from a CSV file, or the "
        "year-to-date state of members already loaded (accumulators, last fills, settled "
        "charges) when going live during a benefit year (formats: docs/csv-formats.md). "
        "The whole file is validated first; a file with any bad row loads nothing.",
    )
    parser.add_argument("kind", choices=tuple(_LOADERS), help="what the file holds")
    parser.add_argument("file", help="the CSV file (UTF-8, header row first)")
    parser.add_argument(
        "--redis-url",
        default=defaults.redis_url,
        help="Redis to load into (default: CLAIMGATE_REDIS_URL, else the "
        "private redis-server in --data-dir)",
    )
    parser.add_argument(
        "--redis-cluster",
        action="store_true",
        default=defaults.redis_cluster,
        help="the Redis URL is a node of a Redis Cluster",
    )
    parser.add_argument(
        "--data-dir",
        default=defaults.data_dir,
        help="data dir of the private redis-server (default %(default)s)",
    )
    args = parser.parse_args(argv)

    from gateway.cli import redis_for

    cfg = defaults
    cfg.redis_url, cfg.redis_cluster, cfg.data_dir = (
        args.redis_url,
        args.redis_cluster,
        args.data_dir,
    )
    try:
        with redis_for(cfg) as url:
            report = asyncio.run(_load(args.kind, args.file, url, cfg.redis_cluster))
    except RedisError as e:
        print(
            f"{args.file}: Redis failed while loading {args.kind}: {e}\n"
            "The file was valid; some rows may be written. Loads are upserts and "
            "replacements: re-run the same command to finish.",
            file=sys.stderr,
        )
        return EXIT_REDIS_FAILED
    if not report.ok:
        for message in report.error_lines():
            print(message, file=sys.stderr)
        if report.bad_rows:
            print(f"{args.file}: {report.bad_rows} bad rows; nothing was loaded", file=sys.stderr)
        return EXIT_REJECTED
    print(f"loaded {report.rows_loaded} {args.kind} from {args.file} in {report.elapsed_s:.1f} s")
    return EXIT_OK
