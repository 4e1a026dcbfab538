"""Audit-trail export (审计日志导出): every journal entry of a date range, one row each.

    claimgate journal export --from 2026-06-01 --to 2026-06-30 [--format csv|jsonl]
                             [--out FILE] [--institution CODE] [--redis-url URL]
                             [--redis-cluster] [--data-dir DIR]

Every mutation the gateway commits (SETTLE, REVERSE, CANCEL, TOMBSTONE, ADMIT, DISCHARGE,
UPLOAD) appends one entry to its partition's journal stream in the same atomic script
call; stream ids are commit times in ms. Every operator change of data (LOAD_MEMBERS,
LOAD_INSTITUTIONS, LOAD_CATALOGUE, SEED, POLICY_PUBLISH) appends one entry to the admin
journal with who (``operator_id``: ``--operator``, else ``CLAIMGATE_OPERATOR``, else the
OS user) and what (``source`` file, ``rows_loaded``, ``policy_version``); its
``partition`` is empty. The date range is in China Standard Time
(UTC+8), the calendar the platform clears on.

Rows are sorted by commit time (then partition, then stream sequence). Memory is bounded
by one time window: the range is read window by window (``WINDOW_MS``), each window from
every partition, sorted and written before the next one is read.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import getpass
import os
import sys
from dataclasses import dataclass
from typing import IO, Any

import orjson

from gateway.config import Config
from gateway.keys import PARTITIONS
from gateway.progress import Progress
from gateway.store import ADMIN_JOURNAL, Store

CST = dt.timezone(dt.timedelta(hours=8))
DAY_MS = 86_400_000
WINDOW_MS = 6 * 3_600_000  # six hours of commits held in memory at a time
PARTITION_READS_IN_FLIGHT = 64
RANGE_DAYS_MAX = 366

# Output columns: (column, journal field). Amount columns are integers (fen).
TEXT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("type", "type"),
    ("institution_code", "inst"),
    ("operator_id", "op"),
    ("terminal_id", "term"),
    ("psn_no", "psn"),
    ("request_id", "req"),
    ("original_request_id", "orig"),
    ("settlement_id", "setl"),
    ("reversal_id", "rev"),
    ("episode_id", "ep"),
    ("recorded_at", "at"),
    ("source", "src"),
    ("policy_version", "pver"),
)
AMOUNT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("medfee_sumamt_fen", "medfee"),
    ("fund_pay_sumamt_fen", "fund"),
    ("hifp_pay_fen", "hifp"),
    ("supplementary_pay_fen", "supp"),
    ("hifmi_pay_fen", "hifmi"),
    ("maf_pay_fen", "maf"),
    ("acct_current_pay_fen", "acct_cur"),
    ("acct_prior_pay_fen", "acct_pri"),
    ("psn_cash_pay_fen", "cash"),
    ("lines_added", "added"),
    ("upload_amount_fen", "amount"),
    ("rows_loaded", "rows"),
)
COLUMNS: tuple[str, ...] = (
    "entry_id", "partition", "time",
    *(c for c, _ in TEXT_COLUMNS), *(c for c, _ in AMOUNT_COLUMNS),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Entry:
    """One journal entry: its stream id (commit ms, sequence), partition and fields."""

    ms: int
    seq: int
    partition: int
    fields: dict[str, bytes]

    def row(self) -> dict[str, Any]:
        """The entry as an output row; absent fields are left out (JSONL) or empty (CSV)."""
        when = dt.datetime.fromtimestamp(self.ms / 1000, dt.UTC).astimezone(CST)
        out: dict[str, Any] = {
            "entry_id": f"{self.ms}-{self.seq}",
            "partition": self.partition if self.partition != ADMIN_JOURNAL else None,
            "time": when.isoformat(timespec="milliseconds"),
        }
        for column, name in TEXT_COLUMNS:
            raw = self.fields.get(name)
            if raw:
                out[column] = raw.decode("utf-8", "replace")
        for column, name in AMOUNT_COLUMNS:
            raw = self.fields.get(name)
            if raw is not None and raw != b"":
                out[column] = int(raw)
        return out


def operator_name() -> str:
    """Who runs an admin command: ``CLAIMGATE_OPERATOR`` (``claimgate --operator``), else
    the OS user."""
    name = os.environ.get("CLAIMGATE_OPERATOR", "")
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a bare container)
        return f"uid:{os.getuid()}"


async def record_admin(store: Store, kind: str, **fields: str | int) -> None:
    """Journal one operator change of data (a load, a seed, a policy publish)."""
    now = dt.datetime.now(dt.UTC)
    entry: dict[str, str | int] = {
        "type": kind, "op": operator_name(),
        "at": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    entry.update({k: v for k, v in fields.items() if v != ""})
    await store.append_admin_journal(entry)


def day_start_ms(day: dt.date) -> int:
    """00:00 China Standard Time of ``day``, in ms since the epoch."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=CST).timestamp() * 1000)


def _parse_stream_id(raw: bytes) -> tuple[int, int]:
    ms, _, seq = raw.decode().partition("-")
    return int(ms), int(seq or 0)


async def _window(store: Store, start_ms: int, end_ms: int, institution: bytes | None,
                  ) -> list[Entry]:
    """Entries with stream ids in [start_ms, end_ms] of every partition, sorted by time."""
    sem = asyncio.Semaphore(PARTITION_READS_IN_FLIGHT)

    async def one(p: int) -> list[Entry]:
        async with sem:
            raw = await store.journal_entries(p, start_ms, end_ms)
        out = []
        for eid, fields in raw:
            if institution is not None and fields.get("inst") != institution:
                continue
            ms, seq = _parse_stream_id(eid)
            out.append(Entry(ms, seq, p, fields))
        return out

    journals = (ADMIN_JOURNAL, *range(PARTITIONS))
    entries = [e for part in await asyncio.gather(*(one(p) for p in journals)) for e in part]
    entries.sort(key=lambda e: (e.ms, e.partition, e.seq))
    return entries


async def export(
    store: Store, out: IO[str], start: dt.date, end: dt.date, *, fmt: str = "csv",
    institution: str | None = None, window_ms: int = WINDOW_MS,
) -> int:
    """Write every journal entry of [start, end] (CST days, inclusive) to ``out``; return
    the number of rows written."""
    if end < start:
        raise ValueError("--to is before --from")
    if (end - start).days + 1 > RANGE_DAYS_MAX:
        raise ValueError(f"a range covers at most {RANGE_DAYS_MAX} days")
    inst = institution.encode() if institution else None
    writer: Any = None
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(COLUMNS), extrasaction="ignore",
                                lineterminator="\n")
        writer.writeheader()
    first_ms, last_ms = day_start_ms(start), day_start_ms(end) + DAY_MS - 1
    count = 0
    lo = first_ms
    windows = -(-(last_ms + 1 - first_ms) // window_ms)
    with Progress("journal export", windows, unit="windows") as progress:
        while lo <= last_ms:
            hi = min(lo + window_ms - 1, last_ms)
            for entry in await _window(store, lo, hi, inst):
                row = entry.row()
                if writer is not None:
                    writer.writerow(row)
                else:
                    out.write(orjson.dumps(row).decode() + "\n")
                count += 1
            lo = hi + 1
            progress.advance()
    out.flush()
    return count


def _date(text: str) -> dt.date:
    try:
        if len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, not {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="claimgate journal",
                                     description="the gateway's audit trail (journal)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("export", help="export journal entries of a date range (CST)")
    p.add_argument("--from", dest="start", type=_date, required=True,
                   help="first day, YYYY-MM-DD, China Standard Time")
    p.add_argument("--to", dest="end", type=_date, required=True,
                   help="last day (inclusive), YYYY-MM-DD, China Standard Time")
    p.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    p.add_argument("--out", default="-", help="output file ('-' = standard output)")
    p.add_argument("--institution", default=None, help="only this institution's entries")
    defaults = Config.from_env()
    p.add_argument("--redis-url", default=defaults.redis_url,
                   help="Redis to read (default: CLAIMGATE_REDIS_URL, else the private "
                        "redis-server of --data-dir)")
    p.add_argument("--redis-cluster", action="store_true", default=defaults.redis_cluster)
    p.add_argument("--data-dir", default=defaults.data_dir,
                   help="data dir of the private redis-server (default %(default)s)")
    return parser


async def _export_from(url: str, args: argparse.Namespace, out: IO[str]) -> int:
    store = Store.from_url(url, cluster=args.redis_cluster)
    try:
        if args.redis_cluster:
            # Learn the slot map once, before the partitions are read concurrently:
            # redis-py's cluster client, initialised lazily by many commands at once,
            # hands some of them a connection that is not connected yet.
            await store.client.initialize()
        return await export(store, out, args.start, args.end, fmt=args.format,
                            institution=args.institution)
    finally:
        await store.close()


def _run(args: argparse.Namespace, out: IO[str]) -> int:
    from gateway.cli import redis_for

    cfg = Config.from_env()
    cfg.redis_url, cfg.redis_cluster, cfg.data_dir = (
        args.redis_url, args.redis_cluster, args.data_dir)
    with redis_for(cfg) as url:
        return asyncio.run(_export_from(url, args, out))


def journal_main(argv: list[str]) -> int:
    """``claimgate journal ...``; returns the exit status (0 ok, 1 failure, 2 usage)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    try:
        if args.out == "-":
            count = _run(args, sys.stdout)
        else:
            with open(args.out, "w", encoding="utf-8", newline="") as f:
                count = _run(args, f)
    except ValueError as e:
        print(f"claimgate journal: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a CLI: say what failed, no traceback
        print(f"claimgate journal: export failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"claimgate journal: {count} entries", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(journal_main(sys.argv[1:]))
