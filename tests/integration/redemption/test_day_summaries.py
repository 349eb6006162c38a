"""SummarizeRedemptions keeps a community's sealed day (one that can no longer change, balanced
with the ledger) summed up in rd_day_summary, and reads later weeks' sealed days from there:
the city dashboard sums the last two days of redemptions live, not all seven (three on the
morning a day has just been sealed)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from linli_redemption.app import RedemptionApp
from linli_redemption.settlement import sealed_through
from linli_redemption.tables import DAY_SUMMARIES

from linli.points.v1 import ledger_pb2
from linli.redemption.v1 import admin_pb2
from linli.redemption.v1 import pos_pb2 as pb
from linli_runtime.clock import ManualClock
from linli_runtime.testing.waiting import wait_until

from .conftest import FENGSHU, HEALTH, Kit

DAY = "2026-11-07"  # the manual clock's 09:00 UTC is 17:00 in China


async def _redeem(kit: Kit, till: tuple[tuple[str, str], ...], reward: str, volunteer: str, request_id: str
                  ) -> pb.Redemption:
    session = await kit.session(till, volunteer)
    reply: pb.RedeemResponse = await kit.pos.Redeem(pb.RedeemRequest(
        reward=reward, member_session=session, quantity=1, request_id=request_id), metadata=till)
    return reply.redemption


async def _week(kit: Kit, first: str, last: str) -> admin_pb2.SummarizeRedemptionsResponse:
    reply: admin_pb2.SummarizeRedemptionsResponse = await kit.settlement.SummarizeRedemptions(
        admin_pb2.SummarizeRedemptionsRequest(community_paths=[FENGSHU], start_date=first, end_date=last),
        metadata=kit.worker)
    return reply


def _health(week: admin_pb2.SummarizeRedemptionsResponse) -> tuple[int, int, int, int]:
    m = next(m for m in week.merchants if m.merchant_id == HEALTH)
    return m.redemption_count, m.redeemed_points, m.refund_count, m.refunded_points


async def _kept(app: RedemptionApp) -> dict[tuple[str, str], tuple[int, int]]:
    s = DAY_SUMMARIES.c
    async with app.db.reading() as conn:
        rows = (await conn.execute(sa.select(s.ledger_day, s.merchant_id, s.redemption_count, s.redeemed_points)
                                   .where(s.community_path == FENGSHU))).all()
    return {(day, mid): (int(n), int(points)) for day, mid, n, points in rows}


def test_a_day_is_sealed_once_the_day_after_it_has_ended_with_an_hours_margin() -> None:
    # 2026-11-09 00:30 in China (16:30 UTC the day before): the 7th's holds may still be posted.
    assert sealed_through(datetime(2026, 11, 8, 16, 30, tzinfo=UTC)) == "2026-11-06"
    assert sealed_through(datetime(2026, 11, 8, 17, 30, tzinfo=UTC)) == "2026-11-07"


async def test_sealed_days_are_kept_summed_up_and_the_recent_ones_read_live(
        kit: Kit, app: RedemptionApp, clock: ManualClock) -> None:
    till = await kit.terminal()
    volunteer = await kit.volunteer(500)
    reward = await kit.reward(points=10)
    for i in range(3):
        await _redeem(kit, till, reward, volunteer, f"d-{i}")
        clock.advance(seconds=60)  # a new member code each time
    await wait_until(kit.settled, what="volunteer-points posting the committed redemptions' holds")
    assert _health(await _week(kit, DAY, DAY)) == (3, 30, 0, 0)
    assert await _kept(app) == {}  # today can still change: nothing kept

    clock.advance(days=3)  # 2026-11-10: the 7th and the 8th are sealed
    today = "2026-11-10"
    await _redeem(kit, till, reward, volunteer, "today")
    await wait_until(kit.settled, what="volunteer-points posting the committed redemptions' holds")
    week = await _week(kit, DAY, today)
    assert _health(week) == (4, 40, 0, 0) and list(week.unbalanced_days) == []
    assert await _kept(app) == {(DAY, ""): (0, 0), (DAY, HEALTH): (3, 30), ("2026-11-08", ""): (0, 0)}

    # The sealed days come from what was kept (changed here to tell them apart), today from the
    # redemptions as they are now.
    async with app.db.transaction() as session:
        await (await session.connection()).execute(DAY_SUMMARIES.update().where(DAY_SUMMARIES.c.merchant_id == HEALTH)
                              .values(redemption_count=5, redeemed_points=50))
    clock.advance(seconds=60)
    await _redeem(kit, till, reward, volunteer, "today-2")
    await wait_until(kit.settled, what="volunteer-points posting the committed redemptions' holds")
    assert _health(await _week(kit, DAY, today)) == (7, 70, 0, 0)

    # The mornings after: only the day just sealed is summed from the redemptions and kept (what
    # was kept before is not read again: the changed figures stay).
    clock.advance(days=1)
    assert _health(await _week(kit, DAY, "2026-11-11")) == (7, 70, 0, 0)
    assert set(await _kept(app)) == {(DAY, ""), (DAY, HEALTH), ("2026-11-08", ""), ("2026-11-09", "")}
    clock.advance(days=1)
    assert _health(await _week(kit, DAY, "2026-11-12")) == (7, 70, 0, 0)
    assert (await _kept(app))[(today, HEALTH)] == (2, 20)


async def test_a_sealed_day_that_does_not_balance_is_not_kept_and_is_read_again(
        kit: Kit, app: RedemptionApp, clock: ManualClock) -> None:
    till = await kit.terminal()
    volunteer = await kit.volunteer(500)
    reward = await kit.reward(points=10)
    made = await _redeem(kit, till, reward, volunteer, "d-0")
    await wait_until(kit.settled, what="volunteer-points posting the committed redemptions' holds")
    # A point moved out of the clearing account that no refund recorded.
    await kit.ledger.ReverseTransfer(ledger_pb2.ReverseTransferRequest(
        community_path=FENGSHU, transfer_id="stray", reversed_transfer_id=made.transfer_id, amount=1,
        reason="not through a refund"), metadata=kit.service)
    clock.advance(days=3)
    for _ in range(2):  # listed each time: read again, not kept
        week = await _week(kit, DAY, DAY)
        assert [(d.date, d.recorded_refunded_points, d.ledger_refunded_points) for d in week.unbalanced_days] == [
            (DAY, 0, 1)]
        assert _health(week) == (1, 10, 0, 0)
        assert await _kept(app) == {}
