"""Time ``claimgate load members`` and measure Redis memory per member.

    python -m bench.load_members --members 1000000 [--baseline]

Writes ``demo_population(N)`` to a CSV file, starts a private redis-server
(AOF on, ``appendfsync everysec``) in a temporary directory, runs the loader's
command-line entry point against it and reports the load time, the rate and
``used_memory`` (``INFO memory``) after minus before, divided by the member count.
``--baseline`` also times ``Store.save_members`` (member objects generated in
memory, no CSV) on an emptied server in the same run, and prints the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import redis

from gateway.demo import DEMO_SEED
from gateway.demo_population import demo_population
from gateway.load_members import write_members_csv
from gateway.loader import load_main
from gateway.redis_server import RedisServer
from gateway.store import Store


def _used_memory_bytes(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


async def _save_members(url: str, members: int, seed: int) -> int:
    store = Store.from_url(url)
    try:
        return await store.save_members(demo_population(members, seed=seed))
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load_members", description=__doc__)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=DEMO_SEED)
    parser.add_argument("--baseline", action="store_true",
                        help="also time Store.save_members on the same population")  # fmt: skip
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        csv_path = Path(tmp) / "members.csv"
        t0 = time.perf_counter()
        count = write_members_csv(csv_path, demo_population(args.members, seed=args.seed))
        write_s = time.perf_counter() - t0
        size_mb = csv_path.stat().st_size / 1e6
        print(f"wrote {count} members to CSV ({size_mb:.0f} MB) in {write_s:.1f} s")

        with RedisServer(Path(tmp) / "redis", appendfsync="everysec") as server:
            client = redis.Redis.from_url(server.url)
            try:
                before_bytes = _used_memory_bytes(client)
                t0 = time.perf_counter()
                code = load_main(["members", str(csv_path), "--redis-url", server.url])
                load_s = time.perf_counter() - t0
                if code != 0:
                    print(f"load failed with exit code {code}")
                    return code
                after_bytes = _used_memory_bytes(client)
                keys = int(client.dbsize())
                per_member_bytes = (after_bytes - before_bytes) / max(count, 1)
                print(
                    f"load members: {count} in {load_s:.1f} s "
                    f"({count / load_s:,.0f} members/s); {keys} keys"
                )
                print(
                    f"redis used_memory: {before_bytes / 1e6:.1f} MB -> "
                    f"{after_bytes / 1e6:.1f} MB, {per_member_bytes:.0f} bytes per member"
                )
                if args.baseline:
                    client.flushall()
                    t0 = time.perf_counter()
                    asyncio.run(_save_members(server.url, args.members, args.seed))
                    base_s = time.perf_counter() - t0
                    print(
                        f"baseline Store.save_members(demo_population): {base_s:.1f} s; "
                        f"load members / baseline = {load_s / base_s:.2f}"
                    )
            finally:
                client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
