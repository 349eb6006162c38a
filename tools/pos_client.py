"""A small sample POS client for partner-redemption's PosService (for integrators and demos).

    .venv/bin/python tools/pos_client.py redeem --volunteer v-001 \\
        --reward merchants/jinchengyijing-health/rewards/blood-pressure-check
    .venv/bin/python tools/pos_client.py code --volunteer v-001     # the member code only

`redeem` plays both sides of the counter: it asks MemberCardService for the volunteer's current
member code (what the volunteer's app would show; needs an operator token, issued here with
LINLI_JWT_SECRET or the development key), then, as the terminal, resolves the code, quotes and
redeems with a fresh request id — retrying the same request id if the network drops the reply.
The terminal credential defaults to the demo terminal `make run` seeds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid

import grpc

from linli.redemption.v1 import admin_pb2, admin_pb2_grpc, pos_pb2, pos_pb2_grpc
from linli_runtime.auth import TokenSigner
from linli_runtime.settings import DEV_JWT_SECRET

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
DEMO_CREDENTIAL = "Terminal fengshu-demo-pos:demo-only-fengshu-pos-secret"


def operator(args: argparse.Namespace) -> tuple[tuple[str, str], ...]:
    signer = TokenSigner(os.environ.get("LINLI_JWT_SECRET", DEV_JWT_SECRET))
    return (("authorization", "Bearer " + signer.issue("pos-client-demo", role="community_worker",
                                                        scope=args.community)),)


async def member_code(channel: grpc.aio.Channel, args: argparse.Namespace) -> str:
    """What the volunteer's app shows (valid for one to two minutes)."""
    cards = admin_pb2_grpc.MemberCardServiceStub(channel)
    reply = await cards.GetMemberCode(admin_pb2.GetMemberCodeRequest(
        community_path=args.community, volunteer_id=args.volunteer), metadata=operator(args), timeout=10)
    return str(reply.member_code)


def open_channel(address: str) -> grpc.aio.Channel:
    """One address, or a comma-separated list of replicas balanced round_robin (a POS should
    keep one long-lived channel like this)."""
    parts = [a.strip() for a in address.split(",") if a.strip()]
    if len(parts) == 1:
        return grpc.aio.insecure_channel(parts[0])
    config = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})
    return grpc.aio.insecure_channel("ipv4:" + ",".join(parts), options=[("grpc.service_config", config)])


async def code(args: argparse.Namespace) -> int:
    async with open_channel(args.address) as channel:
        print(await member_code(channel, args))
    return 0


async def redeem(args: argparse.Namespace) -> int:
    terminal = (("authorization", args.credential),)
    async with open_channel(args.address) as channel:
        pos = pos_pb2_grpc.PosServiceStub(channel)
        code = await member_code(channel, args)
        print(f"member code shown by the volunteer: {code}")
        member = await pos.ResolveMemberCode(pos_pb2.ResolveMemberCodeRequest(member_code=code),
                                             metadata=terminal, timeout=10)
        print(f"member: {member.masked_member}, {member.available_points} points available")
        quote = await pos.QuoteRedemption(pos_pb2.QuoteRedemptionRequest(
            reward=args.reward, member_session=member.member_session, quantity=args.quantity),
            metadata=terminal, timeout=10)
        print(f"quote: {quote.points} points, redeemable={quote.redeemable} {quote.refusal_reason}")
        request = pos_pb2.RedeemRequest(reward=args.reward, member_session=member.member_session,
                                        quantity=args.quantity, request_id=args.request_id or uuid.uuid4().hex,
                                        expected_points=quote.points)
        for attempt in range(5):  # a lost reply is retried with the SAME request id
            try:
                reply = await pos.Redeem(request, metadata=terminal, timeout=10)
                break
            except grpc.aio.AioRpcError as error:
                if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) \
                        or attempt == 4:
                    print(f"refused: {error.code().name} {error.details()}", file=sys.stderr)
                    return 1
                await asyncio.sleep(0.5 * (attempt + 1))
        r = reply.redemption
        print(f"redeemed: {r.name} {r.reward_name} x{r.quantity} for {r.points} points (request id {r.request_id})")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("code", help="print a volunteer's current member code")
    r = sub.add_parser("redeem", help="member code → resolve → quote → redeem")
    for p in (c, r):
        p.add_argument("--address", default=os.environ.get("PARTNER_REDEMPTION_SERVICE_ADDR", "127.0.0.1:50053"))
        p.add_argument("--community", default=FENGSHU)
        p.add_argument("--volunteer", default="v-001")
    r.add_argument("--credential", default=os.environ.get("LINLI_POS_CREDENTIAL", DEMO_CREDENTIAL),
                   help="the terminal's 'Terminal {id}:{secret}' value")
    r.add_argument("--reward", default="merchants/jinchengyijing-health/rewards/blood-pressure-check")
    r.add_argument("--quantity", type=int, default=1)
    r.add_argument("--request-id", default="")
    args = parser.parse_args()
    sys.exit(asyncio.run(redeem(args) if args.command == "redeem" else code(args)))


if __name__ == "__main__":
    main()
