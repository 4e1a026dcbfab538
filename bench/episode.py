"""``python -m bench episode``: the latency of settling a large inpatient episode.

    python -m bench episode --lines 5000 --episodes 20
    python -m bench episode --lines 5000 --episodes 20 --baseline DIR   # before/after

One episode is: ``Admit``, ``UploadFeeDetails`` of ``--lines`` fee lines (chunks of
1,000), ``Discharge``, then ``PreSettle`` and ``Settle`` of the episode, each timed
from this client. Every episode is a member of its own, one episode at a time, so
the latencies are those of one large claim on an idle gateway (the issue's target: a
5,000-line inpatient Settle p99 under 50 ms).

The set-up is the suite's: a private ``redis-server`` (AOF, ``appendfsync everysec``)
and this client on ``--client-cpus``, the bench population loaded with ``claimgate load
members``, and ``claimgate serve --workers 1 --no-access-log`` on ``--server-cpus``.
With ``--baseline DIR`` the gateway of another checkout (same virtualenv) is measured
in turn with this one, round by round (``--rounds``; each goes first in every other
round), each on members of its own, so a change is compared with the code before it on
the same machine at the same time. Each gateway is started afresh every round, and
its first ``--warmup`` episodes are not measured.
Reports: ``episode.md`` and ``episode.json`` in ``--out``. Nothing here asserts a
timing.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import catalogue as cat
from bench.population import card_no_of, psn_no_of

HOSPITAL = "H31010001"  # level 3, in the members' region
CHUNK_LINES = 1_000


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank: with 20 values, p99 is the largest."""
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(q * len(ordered))))
    return ordered[rank - 1]


def summary_ms(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {"n": len(ms), "p50": round(statistics.median(ms), 1),
            "p90": round(percentile(ms, 0.90), 1), "p99": round(percentile(ms, 0.99), 1),
            "max": round(max(ms), 1)}


def fee_lines(rng: random.Random, count: int, admitted: dt.date, days: int) -> list[Any]:
    from claims.v1 import claims_pb2 as pb

    out = []
    for sn in range(1, count + 1):
        code, price, supply = cat.INPATIENT_LINES[int(rng.random() * len(cat.INPATIENT_LINES))]
        qty = 1 + int(rng.random() * 3)
        day = admitted + dt.timedelta(days=int(rng.random() * days))
        out.append(pb.FeeLine(feedetl_sn=sn, item_code=code, unit_price_fen=price,
                              quantity=qty, amount_fen=price * qty, days_supply=supply,
                              service_date=day.isoformat(), prescription_no=f"ORD{sn:05d}"))
    return out


async def episodes(target: str, members: list[int], lines: int, seed: int, tag: str,
                   warmup: int = 0) -> dict[str, list[float]]:
    """One episode per member, one after another; the PreSettle and Settle latencies of
    all but the first ``warmup`` episodes (a fresh gateway's first large claim pays for
    its first allocations)."""
    import grpc

    from claims.v1 import claims_pb2 as pb
    from claims.v1 import claims_pb2_grpc as pb_grpc

    big = 64 << 20
    channel = grpc.aio.insecure_channel(target, options=[
        ("grpc.max_receive_message_length", big), ("grpc.max_send_message_length", big)])
    stub = pb_grpc.ClaimGatewayStub(channel)
    rng = random.Random(seed)
    # The gateway's calendar: today in China Standard Time (a service date may not be
    # later than that).
    today = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date()
    admitted = today - dt.timedelta(days=5)
    ids = iter(range(1, 1 << 30))
    times: dict[str, list[float]] = {"PreSettle": [], "Settle": []}

    def rid() -> str:
        return f"{HOSPITAL}EP{tag}{next(ids):08d}"

    try:
        for n, index in enumerate(members):
            psn, card = psn_no_of(index), card_no_of(index)
            a = await stub.Admit(pb.AdmitRequest(
                request_id=rid(), institution_code=HOSPITAL, psn_no=psn, card_no=card,
                admission_date=admitted.isoformat(), diagnosis_code="J18.9",
                operator_id="bench"), timeout=30)
            if not a.episode_id:
                raise RuntimeError(f"member {psn}: admission refused ({a.refusal_reason})")
            sent = fee_lines(rng, lines, admitted, 5)
            chunks = [pb.FeeDetailChunk(request_id=rid(), institution_code=HOSPITAL,
                                        psn_no=psn, episode_id=a.episode_id,
                                        lines=sent[i:i + CHUNK_LINES])
                      for i in range(0, len(sent), CHUNK_LINES)]
            await stub.UploadFeeDetails(iter(chunks), timeout=60)
            await stub.Discharge(pb.DischargeRequest(
                request_id=rid(), institution_code=HOSPITAL, psn_no=psn,
                episode_id=a.episode_id, discharge_date=today.isoformat(),
                operator_id="bench"), timeout=30)
            req = pb.SettleRequest(
                request_id=rid(), institution_code=HOSPITAL, psn_no=psn,
                setting=pb.INPATIENT, card_no=card, service_date=today.isoformat(),
                use_account=True, episode_id=a.episode_id, diagnosis_code="J18.9",
                operator_id="bench")
            t0 = time.perf_counter()
            quote = await stub.PreSettle(req, timeout=60)
            t1 = time.perf_counter()
            settled = await stub.Settle(req, timeout=60)
            t2 = time.perf_counter()
            if n >= warmup:
                times["PreSettle"].append(t1 - t0)
                times["Settle"].append(t2 - t1)
            if settled.status != pb.SETTLED or len(settled.lines) != lines:
                raise RuntimeError(f"member {psn}: {pb.SettlementStatus.Name(settled.status)}"
                                   f" with {len(settled.lines)} lines")
            if settled.amounts != quote.amounts:
                raise RuntimeError(f"member {psn}: the settlement differs from its quote")
    finally:
        await channel.close(None)
    return times


def markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    out = [
        "# Large inpatient episodes: PreSettle and Settle latency",
        "",
        f"{meta['when']}; {meta['lines']:,} lines an episode, {meta['episodes']} episodes "
        f"a round after {meta.get('warmup', 0)} not measured, {meta['rounds']} round(s), the "
        f"gateways in turn; server on CPU {meta['server_cpus']}, client "
        f"and redis on CPU {meta['client_cpus']}.",
        "",
        f"`{meta['command']}`",
        "",
        "| gateway | method | n | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for label, methods in report["results"].items():
        for method, s in methods.items():
            out.append(f"| {label} | {method} | {s['n']} | {s['p50']} | {s['p90']} | "
                       f"{s['p99']} | {s['max']} |")
    base = report["results"].get("baseline")
    if base:
        mine = report["results"]["gateway"]
        out += ["", "baseline / gateway (p50, p99): " + "; ".join(
            f"{m} {base[m]['p50'] / mine[m]['p50']:.2f}, {base[m]['p99'] / mine[m]['p99']:.2f}"
            for m in mine)]
    return "\n".join(out) + "\n"


def run(args: argparse.Namespace) -> int:
    from bench.breakdown import eligible_members
    from bench.suite import (
        checkout_env,
        claimgate_cli,
        command_start,
        is_checkout,
        load_population,
        pin_this_process,
        private_redis,
        redis_server_binary,
        serve_gateway,
    )

    out: Path = args.out
    say = command_start("episode", out)  # and SIGTERM stops what the command started

    if args.baseline is not None and not is_checkout(args.baseline):
        say(f"--baseline {args.baseline}: not a checkout of the project (no gateway/)")
        return 2
    pin_this_process(args.client_cpus)
    servers = [("gateway", None)] + ([("baseline", args.baseline)] if args.baseline else [])
    needed = len(servers) * args.rounds * (args.episodes + args.warmup)
    population = max(args.members, 4 * needed + 100)
    eligible = eligible_members(population, args.seed)
    if len(eligible) < needed:
        say(f"only {len(eligible)} eligible members for {needed} episodes: raise --members")
        return 2
    fresh = iter(eligible)
    times: dict[str, dict[str, list[float]]] = {label: {} for label, _ in servers}
    cg = claimgate_cli()
    with tempfile.TemporaryDirectory(prefix="bench-episode-") as tmp_s:
        tmp = Path(tmp_s)
        with private_redis(tmp, out / "redis.log", "everysec", args.client_cpus,
                           redis_server_binary()) as url:
            load_population(cg, url, tmp, population, args.seed)
            for r in range(args.rounds):
                # The gateways take turns, and each goes first in every other round.
                for label, checkout in (servers if r % 2 == 0 else servers[::-1]):
                    env = checkout_env(checkout)
                    members = [next(fresh) for _ in range(args.warmup + args.episodes)]
                    with serve_gateway([*env, *cg], url, out / f"{label}.log",
                                       args.server_cpus, workers=1,
                                       extra=["--no-access-log"]) as (_proc, target):
                        got = asyncio.run(episodes(target, members, args.lines,
                                                   args.seed + r, f"{label[0]}{r}",
                                                   args.warmup))
                    for method, values in got.items():
                        times[label].setdefault(method, []).extend(values)
                    s = summary_ms(got["Settle"])
                    say(f"round {r + 1} {label}: Settle p50 {s['p50']} ms, p99 {s['p99']} ms")
    report = {
        "meta": {"when": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "lines": args.lines,
                 "episodes": args.episodes, "warmup": args.warmup, "rounds": args.rounds,
                 "server_cpus": args.server_cpus, "client_cpus": args.client_cpus,
                 "baseline": str(args.baseline) if args.baseline else None,
                 "command": "python -m bench " + " ".join(getattr(args, "argv", []))},
        "results": {label: {m: summary_ms(v) for m, v in methods.items()}
                    for label, methods in times.items()},
        "latencies_ms": {label: {m: [round(x * 1000, 2) for x in v] for m, v in methods.items()}
                         for label, methods in times.items()},
    }
    (out / "episode.json").write_text(json.dumps(report, indent=1))
    md = markdown(report)
    (out / "episode.md").write_text(md)
    print(md)
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_episode_parser(sub: Any) -> None:
    p = sub.add_parser("episode", help="latency of settling large inpatient episodes")
    p.add_argument("--lines", type=int, default=5_000, help="fee lines an episode")
    p.add_argument("--episodes", type=_positive, default=20,
                   help="measured episodes a round, per gateway")
    p.add_argument("--warmup", type=int, default=1,
                   help="episodes before the measured ones, each round (not measured)")
    p.add_argument("--rounds", type=_positive, default=1,
                   help="rounds (with --baseline, the gateways take turns each round)")
    p.add_argument("--members", type=int, default=1_000, help="population (at least)")
    p.add_argument("--seed", type=int, default=20260101)
    p.add_argument("--server-cpus", default="0", help="taskset CPUs of the gateway")
    p.add_argument("--client-cpus", default="1", help="CPUs of this client and of redis")
    p.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                   help="also measure the gateway of another checkout, in turn with this one")
    p.add_argument("--out", type=Path, default=Path("bench-out/episode"))
    p.set_defaults(fn=run)
