"""A month-long export of many settlements: time and peak memory of ``ExportSettlements``
(through a gateway) and of ``claimgate journal export``.

    python -m bench.export_month --settlements 1000000

Writes the settlements straight into a private redis-server (records and journal
entries as the commit script writes them, one institution, 30 clearing days,
spread over the 1,024 partitions), then serves one gateway worker on it and streams
the month's ExportSettlements, and runs the journal export of the same month to
/dev/null. Prints wall time, messages or rows, and peak RSS of the gateway worker
and of the journal process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import redis

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc
from gateway.keys import PARTITIONS, tag
from gateway.redis_server import RedisServer
from rules_compiled.model import day_number

INSTITUTION = "P31010001"
DAYS = 30
BATCH = 5000


def _fill(url: str, count: int, first: dt.date) -> None:
    r = redis.Redis.from_url(url)
    pipe = r.pipeline(transaction=False)
    base_ms = int(dt.datetime(first.year, first.month, first.day, 2, tzinfo=dt.UTC).timestamp()
                  * 1000)
    t0 = time.perf_counter()
    for k in range(count):
        p = k % PARTITIONS
        day = first + dt.timedelta(days=(k * DAYS) // count)
        sid = f"S{p:04d}{day:%Y%m%d}{k:016x}"
        resp = pb.SettlementResponse(
            settlement_id=sid, request_id=f"{INSTITUTION}EXP{k:010d}", status=pb.SETTLED,
            psn_no=f"3101{k:010d}", settled_at=f"{day}T10:00:00+08:00",
            amounts=pb.Amounts(medfee_sumamt_fen=2590, fund_pay_sumamt_fen=0, acct_pay_fen=2590,
                               acct_current_pay_fen=2590, inscp_scp_amt_fen=2590),
        ).SerializeToString()
        fields = {"id": sid, "resp": resp, "status": "SETTLED",
                  "req": f"{INSTITUTION}EXP{k:010d}", "inst": INSTITUTION,
                  "sday": day_number(day), "day": day_number(day), "medfee": 2590,
                  "acct": 2590, "cash": 0}
        pipe.hset(f"setl:{tag(p)}:{sid}", mapping=fields)  # type: ignore[arg-type]
        ms = base_ms + ((k * DAYS) // count) * 86_400_000 + k // PARTITIONS
        pipe.xadd(f"jrnl:{tag(p)}", {"type": "SETTLE", "setl": sid, "inst": INSTITUTION,
                                     "req": fields["req"], "sday": fields["sday"],
                                     "medfee": 2590, "acct_cur": 2590, "acct_pri": 0,
                                     "cash": 0}, id=f"{ms}-{k}")
        if (k + 1) % BATCH == 0:
            pipe.execute()
    pipe.execute()
    print(f"wrote {count:,} settlements in {time.perf_counter() - t0:.0f} s; redis "
          f"used_memory {r.info('memory')['used_memory'] / 2**30:.2f} GiB", flush=True)
    r.close()


def _peak_rss_mib(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"VmHWM:\s+(\d+) kB", text)
    return int(m.group(1)) / 1024 if m else 0.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.export_month", description=__doc__)
    p.add_argument("--settlements", type=int, default=1_000_000)
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="export-month-"))
    first = dt.date(2026, 9, 1)
    last = first + dt.timedelta(days=DAYS - 1)
    with RedisServer(tmp / "redis", appendfsync="no") as server:
        subprocess.run([sys.executable, "-m", "gateway.cli", "seed", "--members", "0",
                        "--redis-url", server.url], check=True)
        _fill(server.url, args.settlements, first)
        log = tmp / "gateway.log"
        port = 50191
        with log.open("wb") as out:
            gw = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "serve", "--redis-url", server.url,
                 "--workers", "1", "--listen", f"127.0.0.1:{port}", "--plaintext",
                 "--no-access-log"], stdout=out, stderr=subprocess.STDOUT)
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                grpc.channel_ready_future(ch).result(timeout=120)
                time.sleep(1.0)  # the worker's first health probe
                worker = int(re.findall(rb"worker \d+ \(pid (\d+)\) starting",
                                        log.read_bytes())[-1])
                before = _peak_rss_mib(worker)
                stub = pb_grpc.ClaimGatewayStub(ch)
                t0 = time.perf_counter()
                n = 0
                for _ in stub.ExportSettlements(pb.ExportSettlementsRequest(
                        institution_code=INSTITUTION, from_date=first.isoformat(),
                        to_date=last.isoformat()), timeout=3600):
                    n += 1
                wall = time.perf_counter() - t0
                print(f"ExportSettlements: {n:,} settlements in {wall:.0f} s "
                      f"({n / wall:,.0f}/s); gateway worker peak RSS {before:.0f} MiB before, "
                      f"{_peak_rss_mib(worker):.0f} MiB after", flush=True)
        finally:
            gw.terminate()
            gw.wait(30)
        journal = [
            "journal", "export", "--from", first.isoformat(), "--to", last.isoformat(),
            "--institution", INSTITUTION, "--out", "/dev/null", "--redis-url", server.url]
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", "import resource, sys; from gateway.cli import main; "
             f"rc = main({journal!r}); "
             "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)"],
            check=True, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        peak = int(done.stdout.split()[-1]) / 1024
        print(f"claimgate journal export: {done.stderr.strip().splitlines()[-1]} in "
              f"{wall:.0f} s; peak RSS {peak:.0f} MiB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
