"""``claimgate policy explain --settlement S…``: why a committed settlement paid what it paid.

Each settlement record keeps the computation's inputs (the kernel's claim row and line
rows, as they were read at settlement: member, balances, accumulators, fills) and names
the policy version it used; Redis keeps the text of every version made current
(``ref:policy:versions``). The explanation replays the computation in the plain-Python
reference evaluator under that version, with the catalogue as it is now (lines are
matched to it by item code), prints every step, and says whether its totals equal the
stored settlement's. A difference means the catalogue changed since.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import zlib
from dataclasses import dataclass

import numpy as np

from claims.v1 import claims_pb2 as pb
from gateway.config import Config
from gateway.store import Store
from rules_compiled import model as M
from rules_compiled.engine import Engine
from rules_compiled.policy import compile_policy
from rules_compiled.reference import yuan

# (stored amount, CO_* column) pairs compared with the replay.
_TOTALS: tuple[tuple[str, int], ...] = (
    ("medfee_sumamt_fen", M.CO_MEDFEE),
    ("fulamt_ownpay_fen", M.CO_FULAMT_OWNPAY),
    ("overlmt_selfpay_fen", M.CO_OVERLMT_SELFPAY),
    ("preselfpay_fen", M.CO_PRESELFPAY),
    ("inscp_scp_amt_fen", M.CO_INSCP),
    ("hifp_pay_fen", M.CO_HIFP),
    ("supplementary_pay_fen", M.CO_SUPPLEMENTARY),
    ("hifmi_pay_fen", M.CO_HIFMI),
    ("maf_pay_fen", M.CO_MAF),
    ("fund_pay_sumamt_fen", M.CO_FUND_PAY_SUM),
    ("acct_current_pay_fen", M.CO_ACCT_CURRENT_PAY),
    ("acct_prior_pay_fen", M.CO_ACCT_PRIOR_PAY),
    ("psn_cash_pay_fen", M.CO_CASH),
)


class ExplainError(Exception):
    """The settlement cannot be explained (unknown, or its inputs were not kept)."""


@dataclass(frozen=True, slots=True)
class StoredClaim:
    settlement: pb.SettlementResponse
    engine: Engine  # the settlement's policy version, today's catalogue
    row: list[int]
    lines: list[list[int]]


async def load_stored_claim(store: Store, settlement_id: str) -> StoredClaim:
    record = await store.settlement_record(settlement_id)
    if record is None:
        raise ExplainError(f"no settlement {settlement_id!r}")
    resp = pb.SettlementResponse.FromString(record["resp"])
    if "ci" not in record or ("li" not in record and "liz" not in record):
        raise ExplainError(f"settlement {settlement_id} was committed before settlements kept "
                           "their inputs; it cannot be replayed")
    text = await store.policy_text(resp.policy_version)
    if text is None:
        raise ExplainError(f"policy version {resp.policy_version!r} is not kept in Redis")
    data = await store.load_reference()
    if data is None:
        raise ExplainError("no reference data in Redis")
    policy = compile_policy(text, f"ref:policy:versions@{resp.policy_version}")
    engine = Engine(policy, data.catalogue)
    row = np.frombuffer(record["ci"], np.int64).tolist()
    raw_lines = record["li"] if "li" in record else zlib.decompress(record["liz"])
    lines = np.frombuffer(raw_lines, np.int64).reshape(-1, M.LI_N).tolist()
    if len(row) != M.CI_N or len(lines) != len(resp.lines):
        raise ExplainError(f"settlement {settlement_id}: stored inputs do not fit this version")
    for ln, result in zip(lines, resp.lines, strict=True):  # catalogue rows by item code
        ln[M.LI_ITEM] = engine.item_index.get(result.item_code, M.NONE)
    return StoredClaim(resp, engine, row, lines)


def differences(settlement: pb.SettlementResponse, out: list[int]) -> list[str]:
    """The totals where the replay differs from the stored settlement."""
    a = settlement.amounts
    return [f"{name}: settled {yuan(getattr(a, name))}, replayed {yuan(out[col])}"
            for name, col in _TOTALS if getattr(a, name) != out[col]]


async def _load(url: str, cluster: bool, settlement_id: str) -> StoredClaim:
    store = Store.from_url(url, cluster=cluster)
    try:
        return await load_stored_claim(store, settlement_id)
    finally:
        await store.close()


def explain_settlement(claim: StoredClaim) -> int:
    """Print the replay of a stored claim; 0 when it equals the settlement."""
    from rules_compiled.cli import explain_rows

    s = claim.settlement
    print(f"settlement {s.settlement_id}  member {s.psn_no}  institution {s.institution_code}  "
          f"settled {s.settled_at}  service date {s.service_date}")
    out: list[int] = []
    status = explain_rows(claim.engine, claim.row, claim.lines, result=out)
    diff = differences(s, out)
    if diff:
        print("the replay differs from the settlement (the catalogue changed since):")
        for d in diff:
            print(f"  {d}")
        return 1
    print("the replay equals the settlement: yes")
    return status


def explain_settlement_main(argv: list[str]) -> int:
    """``claimgate policy explain --settlement S… [--redis-url URL] [--redis-cluster]``."""
    from gateway.cli import _add_redis_flags, _config, redis_for

    defaults = Config.from_env()
    p = argparse.ArgumentParser(
        prog="claimgate policy explain",
        description="Every step of a committed settlement's computation, under the policy "
                    "version it used.")
    p.add_argument("--settlement", required=True, help="settlement id (S…)")
    _add_redis_flags(p, defaults)
    args = p.parse_args(argv)
    cfg = _config(args, defaults)
    with redis_for(cfg) as url:
        try:
            claim = asyncio.run(_load(url, cfg.redis_cluster, args.settlement))
        except ExplainError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    return explain_settlement(claim)
