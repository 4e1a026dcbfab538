"""The claim path's Redis client, measured alone: CPU per command and per encoding.

    python -m bench.redis_client [--commands 2000] [--rounds 15] [--turns 3] [--baseline DIR]

Against a private redis-server, the gateway's fast client (``gateway/fastredis.py``)
sends ``--commands`` commands at once, as concurrent claims do (they share a write
per event-loop iteration), and the event-loop thread's CPU time is divided by their
number: a plain ``GET``, and an ``EVALSHA`` of a short script with four arguments.
It also times the RESP encoding of 93 arguments of str and int, the shape of a
pharmacy claim's commit. Each figure is the best of ``--rounds`` in a process, and
of ``--turns`` processes: the machine's noise only ever adds.

``--baseline DIR`` measures another checkout's client the same way, in turn, in a
process of its own with that checkout first on the import path. This file imports
only the gateway, uvloop and the standard library, so it runs against an older
checkout that does not have it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

COMMIT_SHAPE = [f"abc{i}" if i % 3 else i * 1000 for i in range(93)]


async def _per_command_us(url: str, commands: int, rounds: int) -> dict[str, float]:
    from gateway.fastredis import FastRedis, Script

    fast = FastRedis(url)
    try:
        await fast.execute(["SET", "k", "v"], key="k")
        script = Script("return redis.call('GET', KEYS[1])")
        await fast.evalsha(script, ["k"], [])  # loaded before timing (not 2,000 NOSCRIPTs)
        best = {"execute_us": float("inf"), "evalsha_us": float("inf")}
        for _ in range(rounds):
            t = time.thread_time_ns()
            await asyncio.gather(*(fast.execute(["GET", "k"], key="k") for _ in range(commands)))
            best["execute_us"] = min(best["execute_us"],
                                     (time.thread_time_ns() - t) / commands / 1000)
            t = time.thread_time_ns()
            await asyncio.gather(*(fast.evalsha(script, ["k"], ["a", 1, "b", 2])
                                   for _ in range(commands)))
            best["evalsha_us"] = min(best["evalsha_us"],
                                     (time.thread_time_ns() - t) / commands / 1000)
        return {k: round(v, 2) for k, v in best.items()}
    finally:
        await fast.close()


def measure(commands: int, rounds: int) -> dict[str, Any]:
    import uvloop

    from gateway.fastredis import _encode
    from gateway.redis_server import RedisServer

    encode = timeit.Timer(lambda: _encode(COMMIT_SHAPE))
    number = 2000
    encode_us = min(encode.repeat(repeat=rounds, number=number)) / number * 1e6
    with tempfile.TemporaryDirectory() as d, RedisServer(Path(d)) as server:
        per_command = uvloop.run(_per_command_us(server.url, commands, rounds))
    import gateway

    return {"checkout": str(Path(gateway.__file__).resolve().parent.parent), **per_command,
            "encode_93_args_us": round(encode_us, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.redis_client", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commands", type=int, default=2000, help="commands sent at once")
    ap.add_argument("--rounds", type=int, default=15, help="best of this many")
    ap.add_argument("--baseline", type=Path, help="another checkout, measured in turn")
    ap.add_argument("--turns", type=int, default=3,
                    help="times each checkout is measured, in turn (the best is kept)")
    ap.add_argument("--json", action="store_true", help="print this checkout's figures as JSON")
    args = ap.parse_args(argv)
    if min(args.commands, args.rounds, args.turns) < 1:
        ap.error("--commands, --rounds and --turns must be at least 1")
    if args.json:
        print(json.dumps(measure(args.commands, args.rounds)))
        return 0
    from bench.suite import is_checkout  # not in --json: the child imports only the gateway

    if args.baseline is not None:
        args.baseline = args.baseline.resolve()  # the child runs in it: no relative paths
        if not is_checkout(args.baseline):
            ap.error(f"--baseline {args.baseline}: not a checkout of the project (no gateway/)")
    checkouts: list[Path | None] = [None] + ([args.baseline] if args.baseline else [])
    best: dict[int, dict[str, Any]] = {}
    for _ in range(args.turns):  # the checkouts in turn: the first run of a process is slower
        for i, checkout in enumerate(checkouts):
            r = measure(args.commands, args.rounds) if checkout is None else _elsewhere(
                checkout, args.commands, args.rounds)
            mine = best.setdefault(i, r)
            for k, v in r.items():
                if k != "checkout":
                    mine[k] = min(mine[k], v)
    print("| checkout | execute µs | evalsha µs | encode 93 args µs |")
    print("|---|---:|---:|---:|")
    for r in best.values():
        print(f"| {r['checkout']} | {r['execute_us']} | {r['evalsha_us']} | "
              f"{r['encode_93_args_us']} |")
    return 0


def _elsewhere(checkout: Path, commands: int, rounds: int) -> dict[str, Any]:
    """:func:`measure` in a process that imports ``checkout``'s gateway."""
    from bench.suite import checkout_env

    done = subprocess.run(
        [*checkout_env(checkout), sys.executable, str(Path(__file__).resolve()), "--json",
         "--commands", str(commands), "--rounds", str(rounds)],
        cwd=checkout, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {checkout} failed:\n{done.stderr}")
    r = dict(json.loads(done.stdout))
    if Path(r["checkout"]) != checkout:  # the import path did not lead to the baseline
        raise RuntimeError(f"measuring {checkout} imported the gateway of {r['checkout']}")
    return r


if __name__ == "__main__":
    sys.exit(main())
