"""The invariants of docs/benefit-rules.md §9, checked on every settlement response the
bench receives."""

from __future__ import annotations

from claims.v1 import claims_pb2 as pb

_AMOUNT_FIELDS = tuple(f.name for f in pb.Amounts.DESCRIPTOR.fields)
_PARTS = ("fulamt_ownpay_fen", "overlmt_selfpay_fen", "preselfpay_fen", "inscp_scp_amt_fen")


def settlement_violations(resp: pb.SettlementResponse, *, use_account: bool = True) -> list[str]:
    """Every broken invariant of one settlement (or quote), as short messages."""
    a = resp.amounts
    out: list[str] = []
    where = f"{resp.request_id or resp.settlement_id}"
    for name in _AMOUNT_FIELDS:
        if getattr(a, name) < 0:
            out.append(f"{where}: {name} negative ({getattr(a, name)})")
    if resp.acct_current_balance_fen < 0 or resp.acct_prior_balance_fen < 0:
        out.append(f"{where}: account balance negative")
    parts = a.fulamt_ownpay_fen + a.overlmt_selfpay_fen + a.preselfpay_fen + a.inscp_scp_amt_fen
    if a.medfee_sumamt_fen != parts:
        out.append(f"{where}: medfee {a.medfee_sumamt_fen} != pricing parts {parts}")
    billed = [ln for ln in resp.lines if ln.status != pb.REJECTED]
    if resp.lines:
        line_total = sum(ln.amount_fen for ln in billed)
        if line_total != a.medfee_sumamt_fen:
            out.append(f"{where}: medfee {a.medfee_sumamt_fen} != non-REJECTED lines {line_total}")
        for name in _PARTS:
            s = sum(getattr(ln, name) for ln in billed)
            if s != getattr(a, name):
                out.append(f"{where}: {name} {getattr(a, name)} != sum over lines {s}")
        for ln in resp.lines:
            if min(ln.amount_fen, *(getattr(ln, n) for n in _PARTS)) < 0:
                out.append(f"{where}: line {ln.feedetl_sn} has a negative amount")
    if a.medfee_sumamt_fen != a.fund_pay_sumamt_fen + a.psn_part_amt_fen:
        out.append(f"{where}: medfee != fund_pay_sumamt + psn_part_amt")
    if a.psn_part_amt_fen != a.acct_pay_fen + a.psn_cash_pay_fen:
        out.append(f"{where}: psn_part_amt != acct_pay + psn_cash_pay")
    if a.acct_pay_fen != a.acct_current_pay_fen + a.acct_prior_pay_fen:
        out.append(f"{where}: acct_pay != acct_current_pay + acct_prior_pay")
    funds = a.hifp_pay_fen + a.supplementary_pay_fen + a.hifmi_pay_fen + a.maf_pay_fen
    if a.fund_pay_sumamt_fen != funds:
        out.append(f"{where}: fund_pay_sumamt {a.fund_pay_sumamt_fen} != sum of funds {funds}")
    if not use_account and a.acct_pay_fen != 0:
        out.append(f"{where}: account paid although use_account was false")
    if resp.status == pb.SETTLED and not resp.settlement_id:
        out.append(f"{where}: SETTLED without a settlement_id")
    return out


def same_numbers(quote: pb.SettlementResponse, settled: pb.SettlementResponse) -> bool:
    """Pre-settle then settle on unchanged state gives the same numbers (§8)."""
    return quote.amounts == settled.amounts and [
        (ln.feedetl_sn, ln.status, ln.inscp_scp_amt_fen) for ln in quote.lines
    ] == [(ln.feedetl_sn, ln.status, ln.inscp_scp_amt_fen) for ln in settled.lines]
