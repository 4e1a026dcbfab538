"""Time the go-live loads (members, then their year-to-date state) and measure memory.

    python -m bench.load_state --members 1000000 [--dir DIR]

Writes ``demo_population(N)`` and, for every member, year-to-date state to CSV files:
one accumulators row (this benefit year), last fills of 1 or 2 drugs, and 2 settled
charges. Starts a private redis-server (AOF on, ``appendfsync everysec``), seeds the
reference policy, the demo catalogue and institutions, then runs each load as its own
process under ``/usr/bin/time -v``:

    python -m gateway.cli load KIND FILE.csv --redis-url URL

and reports, per load, the rows, the wall time, the loader's peak resident memory
(``Maximum resident set size``) and Redis ``used_memory`` after it.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from gateway.demo import DEMO_SEED, DEMO_YEAR
from gateway.demo_catalogue import demo_catalogue
from gateway.demo_institutions import demo_institutions
from gateway.demo_population import demo_population
from gateway.load_members import write_members_csv
from gateway.load_state import write_state_csv
from gateway.redis_server import RedisServer
from gateway.store import Store
from rules_compiled import REFERENCE_POLICY_PATH
from rules_compiled.model import InstitutionKind, ItemKind
from rules_compiled.policy import load_policy_file

KINDS = ("members", "accumulators", "fills", "charges")


def _state_rows(psn_nos: list[str]) -> dict[str, Iterator[tuple[object, ...]]]:
    drugs = sorted(i.code for i in demo_catalogue() if i.kind is ItemKind.DRUG)
    items = sorted(i.code for i in demo_catalogue())
    pharmacies = sorted(i.code for i in demo_institutions() if i.kind is InstitutionKind.PHARMACY)
    hospitals = sorted(i.code for i in demo_institutions() if i.kind is InstitutionKind.HOSPITAL)

    def accumulators() -> Iterator[tuple[object, ...]]:
        for n, psn in enumerate(psn_nos):
            band = (n * 7919) % 150_001
            ded = (n * 104_729) % 150_001 if n % 3 == 0 else 0
            pool = ded * 4 if ded else 0
            yield psn, DEMO_YEAR, band, ded, pool, 0, 0, 0

    def fills() -> Iterator[tuple[object, ...]]:
        for n, psn in enumerate(psn_nos):
            for k in range(1 + n % 2):
                month, day = 1 + (n + k) % 11, 1 + (n * 31 + k) % 28
                date = f"{DEMO_YEAR}-{month:02d}-{day:02d}"
                yield psn, drugs[(n + 17 * k) % len(drugs)], date, 3 + (n + k) % 28

    def charges() -> Iterator[tuple[object, ...]]:
        for n, psn in enumerate(psn_nos):
            month, day = 1 + n % 11, 1 + n % 28
            date = f"{DEMO_YEAR}-{month:02d}-{day:02d}"
            yield psn, pharmacies[n % len(pharmacies)], drugs[n % len(drugs)], date, f"RX{n}"
            yield psn, hospitals[n % len(hospitals)], items[(n * 13) % len(items)], date, ""

    return {"accumulators": accumulators(), "fills": fills(), "charges": charges()}


def _time_v(output: str) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB) from the output of ``/usr/bin/time -v``."""
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)",
                     output)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", output)
    assert wall is not None and rss is not None, output
    seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    return seconds, int(rss.group(1))


async def _seed_reference(url: str) -> None:
    policy = load_policy_file(REFERENCE_POLICY_PATH)
    store = Store.from_url(url)
    try:
        await store.save_reference(policy_version=policy.version, policy_text=policy.source_text,
                                   catalogue=demo_catalogue(), institutions=demo_institutions())
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load_state", description=__doc__)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=DEMO_SEED)
    parser.add_argument("--dir", default=None, help="where the CSV files and Redis go "
                        "(default: a temporary directory)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-load-state-", dir=args.dir) as tmp:
        files = {kind: Path(tmp) / f"{kind}.csv" for kind in KINDS}
        t0 = time.perf_counter()
        members = list(demo_population(args.members, seed=args.seed))
        rows = {"members": write_members_csv(files["members"], members)}
        psn_nos = [m.psn_no for m in members]
        del members
        for kind, it in _state_rows(psn_nos).items():
            rows[kind] = write_state_csv(files[kind], kind, it)
        print(f"wrote {', '.join(f'{rows[k]:,} {k}' for k in KINDS)} in "
              f"{time.perf_counter() - t0:.0f} s "
              f"({sum(f.stat().st_size for f in files.values()) / 1e6:.0f} MB of CSV)")

        with RedisServer(Path(tmp) / "redis", appendfsync="everysec") as server:
            client = redis.Redis.from_url(server.url)
            try:
                asyncio.run(_seed_reference(server.url))
                before_mb = client.info("memory")["used_memory"] / 1e6
                print(f"redis used_memory before: {before_mb:.0f} MB")
                print(f"{'load':<13}{'rows':>11}{'wall s':>9}{'rows/s':>10}{'loader RSS MB':>15}"
                      f"{'redis MB':>10}")
                for kind in KINDS:
                    command = [sys.executable, "-m", "gateway.cli", "load", kind,
                               str(files[kind]), "--redis-url", server.url]
                    done = subprocess.run(["/usr/bin/time", "-v", *command],
                                          capture_output=True, text=True, check=False)
                    if done.returncode != 0:
                        print(done.stdout, done.stderr)
                        return done.returncode
                    wall_s, rss_kib = _time_v(done.stderr)
                    used_mb = client.info("memory")["used_memory"] / 1e6
                    print(f"{kind:<13}{rows[kind]:>11,}{wall_s:>9.1f}{rows[kind] / wall_s:>10,.0f}"
                          f"{rss_kib / 1024:>15.0f}{used_mb:>10.0f}")
                print(f"keys: {client.dbsize():,}")
            finally:
                client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
