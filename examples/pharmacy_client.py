"""Settle one pharmacy claim against a running gateway and print the breakdown.

    python examples/pharmacy_client.py [--address 127.0.0.1:50051]

It uses only the wire contract (``claims.v1`` stubs) and talks to the demo data
that ``make run`` seeds: member 31010000000000 (EMP active, current bucket
500.00, prior bucket 2,000.00) at pharmacy P31010001. Each run is a new request
id and a new prescription. Run it again the same day to see the abuse checks: the
drugs dispensed with a days' supply are refused as REFILL_TOO_SOON. ``--request-id``
replays an earlier request (the stored answer, marked as a replay), and
``--prescription`` with an earlier number shows DUPLICATE_CHARGE.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

import grpc

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def basket(service_date: str, prescription_no: str) -> list[pb.FeeLine]:
    rows = [  # item code, unit price (fen), quantity, days supply
        ("D0001", 1250, 2, 3),  # amoxicillin, class A
        ("D0002", 3680, 1, 3),  # cefuroxime, class B (10% pay-first)
        ("D0003", 4800, 1, 0),  # ginkgo extract, class C (self-paid)
        ("N0001", 16800, 1, 0),  # face cream: not medical, refused at a pharmacy
    ]
    return [
        pb.FeeLine(feedetl_sn=i, item_code=code, unit_price_fen=price, quantity=qty,
                   amount_fen=price * qty, days_supply=days, service_date=service_date,
                   prescription_no=prescription_no)
        for i, (code, price, qty, days) in enumerate(rows, start=1)
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--address", default="127.0.0.1:50051")
    p.add_argument("--institution", default="P31010001")
    p.add_argument("--psn-no", default="31010000000000")
    p.add_argument("--card-no", default="K310100000000")
    p.add_argument("--request-id", default="")
    p.add_argument("--prescription", default="", help="prescription number (default: new)")
    p.add_argument("--ca", default="", help="mutual TLS: CA of the gateway's certificate")
    p.add_argument("--cert", default="", help="mutual TLS: this pharmacy's certificate")
    p.add_argument("--key", default="", help="mutual TLS: this pharmacy's key")
    args = p.parse_args(argv)

    today = dt.date.today().isoformat()
    request_id = args.request_id or (
        f"{args.institution}{dt.datetime.now():%Y%m%d%H%M%S}{dt.datetime.now():%f}"
    )
    prescription = args.prescription or f"RX{request_id[-14:]}"
    req = pb.SettleRequest(
        request_id=request_id, institution_code=args.institution, psn_no=args.psn_no,
        setting=pb.PHARMACY, card_no=args.card_no, service_date=today, use_account=True,
        lines=basket(today, prescription), operator_id="demo-operator",
        terminal_id="demo-pos-1",
    )
    if args.ca:
        creds = grpc.ssl_channel_credentials(
            open(args.ca, "rb").read(), open(args.key, "rb").read(), open(args.cert, "rb").read()
        )
        channel_cm = grpc.secure_channel(args.address, creds)
    else:
        channel_cm = grpc.insecure_channel(args.address)
    with channel_cm as channel:
        stub = pb_grpc.ClaimGatewayStub(channel)
        try:
            resp = stub.Settle(req, timeout=5)
        except grpc.RpcError as e:
            print(f"settlement failed: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1

    status = pb.SettlementStatus.Name(resp.status)
    print(f"request   {resp.request_id}{'  (replay)' if resp.replay else ''}")
    print(f"status    {status} {resp.refusal_reason}".rstrip())
    if resp.status == pb.REFUSED:
        return 0
    print(f"settlement {resp.settlement_id}   policy {resp.policy_version}")
    print()
    print(f"{'sn':>3} {'item':<8} {'status':<9} {'amount':>9} {'self-pay':>9} "
          f"{'over cap':>9} {'pay-first':>9} {'in scope':>9}  reasons")
    for ln in resp.lines:
        print(f"{ln.feedetl_sn:>3} {ln.item_code:<8} {pb.LineStatus.Name(ln.status):<9} "
              f"{yuan(ln.amount_fen):>9} {yuan(ln.fulamt_ownpay_fen):>9} "
              f"{yuan(ln.overlmt_selfpay_fen):>9} {yuan(ln.preselfpay_fen):>9} "
              f"{yuan(ln.inscp_scp_amt_fen):>9}  {','.join(ln.reasons)}")
    a = resp.amounts
    print()
    for label, fen in [
        ("medical fee total (medfee_sumamt)", a.medfee_sumamt_fen),
        ("  fully self-paid (fulamt_ownpay)", a.fulamt_ownpay_fen),
        ("  over price cap (overlmt_selfpay)", a.overlmt_selfpay_fen),
        ("  pay-first (preselfpay)", a.preselfpay_fen),
        ("  in scope (inscp_scp_amt)", a.inscp_scp_amt_fen),
        ("funds (fund_pay_sumamt)", a.fund_pay_sumamt_fen),
        ("personal (psn_part_amt)", a.psn_part_amt_fen),
        ("  current-year account", a.acct_current_pay_fen),
        ("  prior-years account", a.acct_prior_pay_fen),
        ("  cash", a.psn_cash_pay_fen),
        ("balance after: current-year", resp.acct_current_balance_fen),
        ("balance after: prior-years", resp.acct_prior_balance_fen),
    ]:
        print(f"{label:<36} {yuan(fen):>12}")
    if resp.warnings:
        print("warnings:", ", ".join(resp.warnings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
