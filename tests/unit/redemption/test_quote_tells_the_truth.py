"""A quote never says yes where the redeem then says no (issue 14, item 9): for any reward
(stock, per-member limit, daily quota, validity window), any history of redemptions (the
member's, before today and today; everyone else's today) and any balance, QuoteRedemption's
answer is the outcome of a Redeem made right after it — redeemable, or refused for the same
reason with the same message."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from linli_redemption.redemption_rules import COMMITTED
from linli_redemption.redemptions import Redemptions
from linli_redemption.tables import Redemption, Reward
from linli_redemption.terminals import TerminalCaller

from linli_runtime.clock import ManualClock
from linli_runtime.errors import FailedPrecondition
from linli_runtime.events.envelope import EventFactory

from .fakes import FakePoints, MemoryStore, member_session

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
HEALTH = "jinchengyijing-health"
TILL = TerminalCaller("till-1", HEALTH, FENGSHU)
KIT = f"merchants/{HEALTH}/rewards/kit"
WINDOWS = {
    "none": (None, None),
    "open now": (timedelta(days=-1), timedelta(days=1)),
    "not yet": (timedelta(hours=1), None),
    "over": (None, timedelta(seconds=0)),
}


def earlier(store: MemoryStore, clock: ManualClock, volunteer_id: str, units: int, ago: timedelta) -> None:
    """`units` of the kit committed for `volunteer_id`, `ago` before now."""
    for i in range(units):
        rid = f"r-{volunteer_id}-{ago.days}-{i}"
        store.redemptions[rid] = Redemption(
            id=rid, merchant_id=HEALTH, request_id=rid, fingerprint="f", terminal_id="till-1",
            community_path=FENGSHU, volunteer_id=volunteer_id, masked_member="王*英", reward_id="kit",
            reward_name="first-aid kit", quantity=1, points=40, state=COMMITTED, hold_id=f"redemption:{rid}",
            create_time=clock.now() - ago, commit_time=clock.now() - ago)


async def quote_then_redeem(stock: int, limit: int, quota: int, window: str, mine_before: int, mine_today: int,
                            others_today: int, balance: int, quantity: int) -> tuple[tuple[str, str], tuple[str, str]]:
    clock = ManualClock()  # 2026-11-07 09:00 UTC: 17:00 in Shanghai, so "an hour ago" is today there
    now = clock.now()
    start, end = WINDOWS[window]
    store = MemoryStore({HEALTH: "锦城逸景社区卫生服务中心"})
    store.add_reward(Reward(merchant_id=HEALTH, id="kit", display_name="first-aid kit", points=40, stock=stock,
                            per_volunteer_limit=limit, daily_quota=quota,
                            valid_from=None if start is None else now + start,
                            valid_until=None if end is None else now + end, create_time=now))
    store.add_session(member_session("ms-1", "till-1", "v-1", FENGSHU, HEALTH, now))
    earlier(store, clock, "v-1", mine_before, timedelta(days=2))
    earlier(store, clock, "v-1", mine_today, timedelta(hours=1))
    earlier(store, clock, "v-2", others_today, timedelta(hours=1))
    saga = Redemptions(store, FakePoints(clock, balances={"v-1": balance}), clock,
                       EventFactory("partner-redemption", clock))

    quote = await saga.quote(TILL, KIT, "ms-1", quantity)
    assert quote.redeemable == (quote.refusal_reason == "") and quote.points == 40 * quantity
    try:
        await saga.redeem(TILL, KIT, "ms-1", quantity, "pos-1", 0)
        outcome = ("", "")
    except FailedPrecondition as refused:
        outcome = (refused.reason, refused.message)
    return (quote.refusal_reason, quote.refusal_message), outcome


@settings(max_examples=200, deadline=None)
@given(stock=st.sampled_from([-1, 0, 1, 2, 5]), limit=st.integers(0, 3), quota=st.integers(0, 4),
       window=st.sampled_from(sorted(WINDOWS)), mine_before=st.integers(0, 2), mine_today=st.integers(0, 2),
       others_today=st.integers(0, 3), balance=st.integers(0, 160), quantity=st.integers(1, 3))
def test_a_quote_is_what_the_redeem_right_after_it_does(stock: int, limit: int, quota: int, window: str,
                                                        mine_before: int, mine_today: int, others_today: int,
                                                        balance: int, quantity: int) -> None:
    quoted, redeemed = asyncio.run(quote_then_redeem(stock, limit, quota, window, mine_before, mine_today,
                                                     others_today, balance, quantity))
    assert quoted == redeemed


def test_each_rule_is_named_by_the_quote_as_the_redeem_names_it() -> None:
    cases: dict[str, dict[str, Any]] = {
        "REWARD_NOT_VALID": dict(window="not yet"),
        "OUT_OF_STOCK": dict(stock=1, quantity=2),
        "MEMBER_LIMIT_REACHED": dict(limit=2, mine_before=2),
        "DAILY_QUOTA_REACHED": dict(quota=3, others_today=2, quantity=2),
        "INSUFFICIENT_POINTS": dict(balance=79, quantity=2),
        "": dict(stock=2, limit=3, quota=3, mine_before=1, others_today=1, balance=80, quantity=2),
    }
    for expected, changes in cases.items():
        given_: dict[str, Any] = dict(stock=-1, limit=0, quota=0, window="none", mine_before=0, mine_today=0,
                                      others_today=0, balance=1000, quantity=1)
        given_.update(changes)
        quoted, redeemed = asyncio.run(quote_then_redeem(**given_))
        assert quoted[0] == redeemed[0] == expected, changes
