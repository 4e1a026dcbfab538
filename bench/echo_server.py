"""A bare grpc.aio server with the gateway's framing: the ceiling of the same machine.

    python -m bench.echo_server --listen 127.0.0.1:50060

It serves the same ``claims.v1.ClaimGateway`` service with the same message types
and no work: Settle / PreSettle answer a SettlementResponse shaped like the
gateway's (one line result per request line, consistent amounts, so the §8
checks pass), CheckEligibility a fixed EligibilityResponse. Same event loop
(uvloop) and one process, like one gateway worker. Driving it with the same
generator measures what gRPC + protobuf + the client cost on this machine; the
bench reports the gateway's throughput as a fraction of it.

With ``--as-streams`` every method is registered as a client stream whose handler
reads its one request, as the gateway serves them (so that the wait for a request
is bounded and a call is admitted before it is read): the same wire, priced apart.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import sys
from typing import Any

import grpc

from claims.v1 import claims_pb2 as pb
from claims.v1 import claims_pb2_grpc as pb_grpc

_ids = itertools.count(1)


class EchoGateway(pb_grpc.ClaimGatewayServicer):
    async def Settle(  # type: ignore[override]
        self, request: pb.SettleRequest, context: grpc.aio.ServicerContext
    ) -> pb.SettlementResponse:
        return settlement_for(request, pb.SETTLED)

    async def PreSettle(  # type: ignore[override]
        self, request: pb.SettleRequest, context: grpc.aio.ServicerContext
    ) -> pb.SettlementResponse:
        return settlement_for(request, pb.QUOTED)

    async def CheckEligibility(  # type: ignore[override]
        self, request: pb.EligibilityRequest, context: grpc.aio.ServicerContext
    ) -> pb.EligibilityResponse:
        return pb.EligibilityResponse(
            psn_no=request.psn_no, eligible=True, scheme=pb.EMP, person_type=pb.ACTIVE,
            cohort="A4", member_status=pb.MEMBER_ACTIVE, card_status=pb.CARD_ACTIVE,
            insured_region="310100", benefit_start="2008-08-01", benefit_year=2026,
            acct_current_balance_fen=50_000, acct_prior_balance_fen=200_000,
            deductible_remaining_fen=150_000, pooled_cap_remaining_fen=7_000_000,
            outpatient_band_remaining_fen=150_000, assistance_cap_remaining_fen=1_000_000,
            policy_version="echo",
        )


def settlement_for(req: pb.SettleRequest, status: int) -> pb.SettlementResponse:
    """Every line PAID and fully in scope, paid in cash: consistent, gateway-sized."""
    resp = pb.SettlementResponse(
        settlement_id=f"E{next(_ids):020d}" if status == pb.SETTLED else "",
        request_id=req.request_id, psn_no=req.psn_no, institution_code=req.institution_code,
        setting=req.setting, status=status, policy_version="echo",  # type: ignore[arg-type]
        service_date=req.service_date, settled_at="2026-01-01T00:00:00Z",
        acct_current_balance_fen=50_000, acct_prior_balance_fen=200_000,
    )
    total = 0
    for ln in req.lines:
        resp.lines.add(feedetl_sn=ln.feedetl_sn, item_code=ln.item_code, status=pb.PAID,
                       amount_fen=ln.amount_fen, inscp_scp_amt_fen=ln.amount_fen)
        total += ln.amount_fen
    a = resp.amounts
    a.medfee_sumamt_fen = a.inscp_scp_amt_fen = a.psn_part_amt_fen = a.psn_cash_pay_fen = total
    return resp


def _as_stream(servicer: EchoGateway) -> grpc.GenericRpcHandler:
    """The three claim methods as client streams: each handler reads its one request."""
    def streamed(fn: Any, request_type: Any, response_type: Any) -> grpc.RpcMethodHandler:
        async def handle(_requests: Any, context: grpc.aio.ServicerContext) -> Any:
            return await fn(await context.read(), context)

        return grpc.stream_unary_rpc_method_handler(
            handle, request_deserializer=request_type.FromString,
            response_serializer=response_type.SerializeToString)

    return grpc.method_handlers_generic_handler("claims.v1.ClaimGateway", {
        "Settle": streamed(servicer.Settle, pb.SettleRequest, pb.SettlementResponse),
        "PreSettle": streamed(servicer.PreSettle, pb.SettleRequest, pb.SettlementResponse),
        "CheckEligibility": streamed(servicer.CheckEligibility, pb.EligibilityRequest,
                                     pb.EligibilityResponse),
    })


async def serve(listen: str, as_streams: bool = False) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    if as_streams:
        server.add_generic_rpc_handlers((_as_stream(EchoGateway()),))
    else:
        pb_grpc.add_ClaimGatewayServicer_to_server(EchoGateway(), server)
    port = server.add_insecure_port(listen)
    await server.start()
    print(f"echo server on port {port}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1.0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.echo_server", description=__doc__)
    p.add_argument("--listen", default="127.0.0.1:50060")
    p.add_argument("--as-streams", action="store_true",
                   help="serve the claim methods as client streams, as the gateway does")
    args = p.parse_args(argv)
    try:
        import uvloop

        uvloop.run(serve(args.listen, args.as_streams))
    except ImportError:  # the plain loop: still a valid, if lower, ceiling
        asyncio.run(serve(args.listen, args.as_streams))
    return 0


if __name__ == "__main__":
    sys.exit(main())
