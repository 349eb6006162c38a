"""QuoteRedemption tells the truth (issue 14, item 9) on the real store, SQLite and PostgreSQL:
for each rule Redeem applies — validity window, stock, per-member limit, daily quota, points —
the quote names the refusal the redeem right after it meets, with the same message; and a
quote that says yes is followed by a redeem that goes through."""

from __future__ import annotations

from datetime import timedelta

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from linli.redemption.v1 import admin_pb2
from linli.redemption.v1 import pos_pb2 as pb
from linli.redemption.v1 import resources_pb2 as rpb
from linli_runtime.clock import ManualClock
from linli_runtime.testing.errors import error_info

from .conftest import HEALTH, Kit, Metadata


async def quote_and_redeem(kit: Kit, till: Metadata, reward: str, session: str, quantity: int,
                           request_id: str) -> tuple[tuple[bool, str, str], tuple[str, str]]:
    quote = await kit.pos.QuoteRedemption(pb.QuoteRedemptionRequest(reward=reward, member_session=session,
                                                                    quantity=quantity), metadata=till)
    try:
        await kit.pos.Redeem(pb.RedeemRequest(reward=reward, member_session=session, quantity=quantity,
                                              request_id=request_id, expected_points=quote.points), metadata=till)
        outcome = ("", "")
    except grpc.aio.AioRpcError as refused:
        assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION, refused
        outcome = (error_info(refused)[0], refused.details() or "")
    return (quote.redeemable, quote.refusal_reason, quote.refusal_message), outcome


async def test_the_quote_names_what_the_redeem_then_does_for_every_rule(kit: Kit, clock: ManualClock) -> None:
    till = await kit.terminal()
    rich = await kit.session(till, await kit.volunteer(1000))
    poor = await kit.session(till, await kit.volunteer(50, name="李建国"))

    later = Timestamp()
    later.FromDatetime(clock.now() + timedelta(days=3))
    not_yet = (await kit.catalog.CreateReward(admin_pb2.CreateRewardRequest(
        parent=f"merchants/{HEALTH}", reward_id="next-week", reward=rpb.Reward(display_name="冬季体检套餐", points=10,
                                                                               stock=-1, valid_from=later)),
        metadata=kit.worker)).reward.name
    limited = await kit.reward(points=10, limit=2)
    quota = await kit.reward(points=10, quota=3)
    scarce = await kit.reward(points=10, stock=1)
    dear = await kit.reward(points=30)

    # Fill the limit and most of the quota first (each quoted yes, then redeemed).
    for i, (reward, quantity) in enumerate([(limited, 2), (quota, 2)]):
        quoted, outcome = await quote_and_redeem(kit, till, reward, rich, quantity, f"fill-{i}")
        assert quoted == (True, "", "") and outcome == ("", "")

    cases = [
        (not_yet, rich, 1, "REWARD_NOT_VALID"),
        (scarce, rich, 2, "OUT_OF_STOCK"),
        (limited, rich, 1, "MEMBER_LIMIT_REACHED"),
        (quota, rich, 2, "DAILY_QUOTA_REACHED"),
        (dear, poor, 2, "INSUFFICIENT_POINTS"),
    ]
    for i, (reward, session, quantity, expected) in enumerate(cases):
        quoted, outcome = await quote_and_redeem(kit, till, reward, session, quantity, f"case-{i}")
        assert quoted == (False, *outcome) and outcome[0] == expected, (expected, quoted, outcome)
        assert outcome[1]  # a message a person can act on

    # …and where the quote says yes, the redeem goes through.
    for i, (reward, session, quantity) in enumerate([(scarce, rich, 1), (quota, rich, 1), (dear, poor, 1)]):
        quoted, outcome = await quote_and_redeem(kit, till, reward, session, quantity, f"yes-{i}")
        assert quoted == (True, "", "") and outcome == ("", "")
