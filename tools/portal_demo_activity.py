"""A little day-to-day activity for the demo, so the operators' dashboard has help requests and
redemptions to show (the demo data set seeds neither): files help requests in Fengshu and has
the duty worker acknowledge some, and redeems points at the demo POS terminal. Everything goes
through the services' public gRPC APIs, as a resident, a worker and a POS terminal would.

    .venv/bin/linli login                                # as Fengshu's worker Li (+8613800000003)
    .venv/bin/python tools/portal_demo_activity.py       # against `make run` (ports 50051…)

Addresses come from `<SERVICE>_SERVICE_ADDR` (defaults: the `make run` ports), the CA to trust
as the CLI finds it (LINLI_GRPC_TLS_CA, else make run's var/tls/ca.pem); the worker's token
from the CLI's sign-in (or LINLI_TOKEN). The requests are filed by the worker, or by a resident of
Jinshang Chuntian when a resident's token is given (the tests do). Each run adds new records.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from dataclasses import dataclass, field

from linli.notification.v1 import notification_pb2 as help_pb2
from linli.notification.v1 import notification_pb2_grpc as help_grpc
from linli.redemption.v1 import admin_pb2, admin_pb2_grpc, pos_pb2, pos_pb2_grpc
from linli_runtime.clients import make_channel
from linli_runtime.grpc_tls import GrpcTls, client_trust
from linli_runtime.registry import service_address

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
COMPOUND = f"{FENGSHU}/jinshang-chuntian"
DEMO_TERMINAL = "Terminal fengshu-demo-pos:demo-only-fengshu-pos-secret"
REWARDS = ["merchants/jinchengyijing-health/rewards/blood-pressure-check",
           "merchants/jinchengyijing-health/rewards/health-consultation"]
# (urgency, category, description, acknowledged by the duty worker?)
HELP = [
    (help_pb2.URGENCY_HIGH, "meal", "独居老人今天没有吃午饭，需要送餐 An elder living alone needs a meal today", True),
    (help_pb2.URGENCY_NORMAL, "repair", "楼道灯坏了 The stairwell light is out", True),
    (help_pb2.URGENCY_LOW, "companionship", "希望有人周末来陪聊 Would like company at the weekend", False),
]


@dataclass
class Activity:
    help_requests: list[str] = field(default_factory=list)
    redemptions: list[tuple[str, str, int]] = field(default_factory=list)  # (name, merchant, points)


def addresses_from_env() -> dict[str, str]:
    return {
        "NOTIFICATION_SERVICE_ADDR": service_address("notification"),
        "PARTNER_REDEMPTION_SERVICE_ADDR": service_address("partner-redemption"),
    }


async def add_activity(addresses: dict[str, str], worker: str, resident: str | None = None, *,
                       volunteers: tuple[str, ...] = ("v-001", "v-002", "v-003"),
                       tls: GrpcTls | None = None) -> Activity:
    """`worker`: a Fengshu community worker's access token; `resident`: a Jinshang Chuntian
    resident's (files the help requests; the worker does when there is none); `tls`: what the
    channels trust (default: as the CLI finds it)."""
    done = Activity()
    tls = client_trust() if tls is None else tls
    async with make_channel(addresses["NOTIFICATION_SERVICE_ADDR"], token=resident or worker, tls=tls) as channel:
        desk = help_grpc.HelpRequestServiceStub(channel)
        for urgency, category, text, acknowledge in HELP:
            created = await desk.CreateHelpRequest(help_pb2.CreateHelpRequestRequest(
                parent="communities/" + FENGSHU.replace("/", "~"), request_id=uuid.uuid4().hex,
                help_request=help_pb2.HelpRequest(reporter_role=help_pb2.REPORTER_ROLE_RESIDENT, category=category,
                                                  urgency=urgency, description=text, compound_path=COMPOUND)))
            name = created.help_request.name
            done.help_requests.append(name)
            if acknowledge:
                await desk.AcknowledgeHelpRequest(help_pb2.AcknowledgeHelpRequestRequest(
                    name=name, request_id=uuid.uuid4().hex), metadata=(("authorization", f"Bearer {worker}"),))
    terminal = (("authorization", DEMO_TERMINAL),)
    async with make_channel(addresses["PARTNER_REDEMPTION_SERVICE_ADDR"], token=worker, tls=tls) as channel:
        cards = admin_pb2_grpc.MemberCardServiceStub(channel)
        pos = pos_pb2_grpc.PosServiceStub(channel)
        for i, volunteer in enumerate(volunteers):
            reward = REWARDS[i % len(REWARDS)]
            code = await cards.GetMemberCode(admin_pb2.GetMemberCodeRequest(community_path=FENGSHU,
                                                                            volunteer_id=volunteer))
            member = await pos.ResolveMemberCode(pos_pb2.ResolveMemberCodeRequest(member_code=code.member_code),
                                                 metadata=terminal)
            quote = await pos.QuoteRedemption(pos_pb2.QuoteRedemptionRequest(
                reward=reward, member_session=member.member_session, quantity=1), metadata=terminal)
            reply = await pos.Redeem(pos_pb2.RedeemRequest(
                reward=reward, member_session=member.member_session, quantity=1, request_id=uuid.uuid4().hex,
                expected_points=quote.points), metadata=terminal)
            r = reply.redemption
            done.redemptions.append((r.name, r.merchant_id, r.points))
    return done


def main() -> None:
    from linli_cli.session import identity

    who = identity(os.environ.get("LINLI_TOKEN"))
    if who is None or who.expired:
        sys.exit("sign in first as a Fengshu community worker: .venv/bin/linli login (+8613800000003 under make run)")
    done = asyncio.run(add_activity(addresses_from_env(), who.token))
    print(f"help requests filed: {len(done.help_requests)}; redemptions: "
          + ", ".join(f"{merchant} {points} points" for _, merchant, points in done.redemptions))


if __name__ == "__main__":
    main()
