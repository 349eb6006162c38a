"""A small sample POS client for partner-redemption's PosService (for integrators and demos).

    .venv/bin/python tools/pos_client.py redeem --volunteer v-001 \\
        --reward merchants/jinchengyijing-health/rewards/blood-pressure-check
    .venv/bin/python tools/pos_client.py code --volunteer v-001     # the member code only
    .venv/bin/python tools/pos_client.py redeem --member-code 12345678901234   # the code the volunteer shows

`redeem` plays both sides of the counter: it asks MemberCardService for the volunteer's current
member code (what the volunteer's app would show; needs a community worker's token: sign in
first with `.venv/bin/linli login` — e.g. as Fengshu's worker Li, +8613800000003 — or pass
`--token` / LINLI_TOKEN), then, as the terminal, resolves the code, quotes and redeems with a
fresh request id — retrying the same request id if the network drops the reply.

The terminal talks to partner-redemption's public POS edge (`--address`, default
PARTNER_REDEMPTION_POS_ADDR or make run's 127.0.0.1:50443), which speaks TLS only and serves
PosService and health alone; it trusts `--ca` (default LINLI_GRPC_TLS_CA, else make run's
var/tls/ca.pem when run in the repository, else the system's CAs — a public certificate). The
member code comes from the service's own port (`--admin-address`), never open to shops.
The terminal credential defaults to the demo terminal `make run` seeds. The same flow, with
tables and `--json`, is `linli pos redeem` (the member code and retry logic live in
`linli_cli.pos` and are shared).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid

import grpc

from linli.redemption.v1 import pos_pb2, pos_pb2_grpc
from linli_cli.pos import DEMO_CREDENTIAL, DEMO_REWARD, FENGSHU, redeem_with_retry
from linli_cli.pos import member_code as fetch_member_code
from linli_cli.session import identity
from linli_runtime.grpc_tls import client_trust
from linli_runtime.registry import pos_address, service_address


def operator(args: argparse.Namespace) -> tuple[tuple[str, str], ...]:
    """The signed-in community worker's token (`linli login`), or --token / LINLI_TOKEN."""
    who = identity(args.token)
    if who is None or who.expired:
        sys.exit("sign in first: .venv/bin/linli login (as a community worker of the volunteer's community, "
                 "e.g. +8613800000003 under make run), or pass --token")
    return (("authorization", f"Bearer {who.token}"),)


async def member_code(channel: grpc.aio.Channel, args: argparse.Namespace) -> str:
    """What the volunteer's app shows (valid for one to two minutes)."""
    return await fetch_member_code(channel, args.community, args.volunteer, operator(args))


def open_channel(address: str, ca: str | None, *, edge: bool) -> grpc.aio.Channel:
    """One address, or a comma-separated list of replicas balanced round_robin (a POS should
    keep one long-lived channel like this: the server ends it now and then, and it reconnects —
    onto new replicas too). The POS edge (`edge`) speaks TLS only: trust `ca`, else the
    system's CAs; the service's own port speaks what `ca` says (plaintext without one)."""
    tls = client_trust(ca)
    parts = [a.strip() for a in address.split(",") if a.strip()]
    options: list[tuple[str, str]] = []
    target = parts[0]
    if len(parts) > 1:
        options = [("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})),
                   *tls.channel_options(address)]
        target = "ipv4:" + ",".join(parts)
    if tls.trusts:
        return grpc.aio.secure_channel(target, tls.channel_credentials(), options=options)
    if edge:
        return grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(), options=options)
    return grpc.aio.insecure_channel(target, options=options)


async def code(args: argparse.Namespace) -> int:
    async with open_channel(args.admin_address, args.ca, edge=False) as channel:
        print(await member_code(channel, args))
    return 0


async def redeem(args: argparse.Namespace) -> int:
    terminal = (("authorization", args.credential),)
    code = "".join(args.member_code.split())  # as read off the volunteer's phone (the portal's 我的 → 会员码)
    if not code:
        async with open_channel(args.admin_address, args.ca, edge=False) as admin:
            code = await member_code(admin, args)
    async with open_channel(args.address, args.ca, edge=True) as channel:
        pos = pos_pb2_grpc.PosServiceStub(channel)
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
        try:  # a lost reply is retried with the SAME request id
            reply = await redeem_with_retry(pos, request, terminal)
        except grpc.aio.AioRpcError as error:
            print(f"refused: {error.code().name} {error.details()}", file=sys.stderr)
            return 1
        r = reply.redemption
        print(f"redeemed: {r.name} {r.reward_name} x{r.quantity} for {r.points} points (request id {r.request_id})")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("code", help="print a volunteer's current member code")
    r = sub.add_parser("redeem", help="member code → resolve → quote → redeem")
    for p in (c, r):
        p.add_argument("--admin-address", default=service_address("partner-redemption"),
                       help="partner-redemption's own port, for the member code (default: %(default)s)")
        p.add_argument("--ca", default=None, help="the CA to trust (default: LINLI_GRPC_TLS_CA, else make run's "
                                                  "var/tls/ca.pem when run in the repository)")
        p.add_argument("--community", default=FENGSHU)
        p.add_argument("--volunteer", default="v-001")
        p.add_argument("--token", default=os.environ.get("LINLI_TOKEN"),
                       help="a community worker's access token (default: the `linli login` sign-in)")
    r.add_argument("--address", default=pos_address("partner-redemption"),
                   help="the POS edge, or comma-separated replicas (default: %(default)s)")
    r.add_argument("--credential", default=os.environ.get("LINLI_POS_CREDENTIAL", DEMO_CREDENTIAL),
                   help="the terminal's 'Terminal {id}:{secret}' value")
    r.add_argument("--reward", default=DEMO_REWARD)
    r.add_argument("--quantity", type=int, default=1)
    r.add_argument("--request-id", default="")
    r.add_argument("--member-code", default="",
                   help="the 14 digits the volunteer shows (the portal's member code page); without it the code is "
                        "fetched with an operator's token, standing in for the volunteer's phone")
    args = parser.parse_args()
    sys.exit(asyncio.run(redeem(args) if args.command == "redeem" else code(args)))


if __name__ == "__main__":
    main()
