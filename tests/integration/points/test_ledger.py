"""The points ledger against a real database (SQLite and PostgreSQL): transfers with
caller-chosen ids, limits, holds and their timeout, reversals, history, and the invariant that
a community's balances sum to zero."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from linli_points.ledger.accounts import EXPIRY, ISSUANCE, REDEMPTION_CLEARING, volunteer_account
from linli_points.ledger.model import HoldState, Kind, TransferRequest
from linli_points.ledger.store import Ledger
from linli_points.ledger.sweeper import hold_sweeper

from linli_runtime.clock import ManualClock
from linli_runtime.errors import AlreadyExists, FailedPrecondition, NotFound
from linli_runtime.events.tables import OUTBOX

from .conftest import FENGSHU

WAN = volunteer_account("v-wan")
LI = volunteer_account("v-li")


def credit(tid: str, to: str, amount: int, path: str = FENGSHU) -> TransferRequest:
    return TransferRequest(path, tid, ISSUANCE, to, amount, reason="governance", source="activities/a1")


def hold(hid: str, amount: int, timeout: int = 300, debit: str = WAN) -> TransferRequest:
    return TransferRequest(FENGSHU, hid, debit, REDEMPTION_CLEARING, amount, Kind.PENDING, reason="redemption",
                           timeout_seconds=timeout)


async def subjects(ledger: Ledger) -> list[str]:
    async with ledger.db.engine.connect() as conn:
        return list((await conn.execute(sa.select(OUTBOX.c.subject).order_by(OUTBOX.c.seq))).scalars())


async def test_transfer_moves_points_and_replay_returns_the_first_result(ledger: Ledger) -> None:
    first = await ledger.transfer(credit("t1", WAN, 30))
    again = await ledger.transfer(credit("t1", WAN, 30))
    assert first.created and not again.created
    assert again.transfer == first.transfer
    balance = await ledger.balance(FENGSHU, WAN)
    assert (balance.balance, balance.available, balance.earned) == (30, 30, 30)
    assert (await ledger.balance(FENGSHU, ISSUANCE)).balance == -30
    assert await subjects(ledger) == ["points.points.credited"]  # once, not per replay


async def test_reusing_an_id_for_different_content_is_refused(ledger: Ledger) -> None:
    await ledger.transfer(credit("t1", WAN, 30))
    for changed in (credit("t1", WAN, 31), credit("t1", LI, 30),
                    TransferRequest(FENGSHU, "t1", ISSUANCE, WAN, 30, reason="other")):
        with pytest.raises(AlreadyExists) as caught:
            await ledger.transfer(changed)
        assert caught.value.reason == "TRANSFER_ID_REUSED"
    with pytest.raises(AlreadyExists):  # nor may a hold take a transfer's id
        await ledger.place_hold(hold("t1", 1))
    assert (await ledger.balance(FENGSHU, WAN)).balance == 30
    assert (await ledger.balance(FENGSHU, LI)).balance == 0


async def test_same_id_in_another_community_is_another_transfer(ledger: Ledger) -> None:
    other = "chengdu/jinjiang/chenglonglu/fengshu2"
    await ledger.transfer(credit("t1", WAN, 5))
    assert (await ledger.transfer(credit("t1", WAN, 7, path=other))).created
    assert (await ledger.balance(other, WAN)).balance == 7


async def test_volunteer_balance_never_goes_below_zero(ledger: Ledger) -> None:
    await ledger.transfer(credit("t1", WAN, 10))
    with pytest.raises(FailedPrecondition) as caught:
        await ledger.transfer(TransferRequest(FENGSHU, "spend", WAN, REDEMPTION_CLEARING, 11))
    assert caught.value.reason == "INSUFFICIENT_POINTS"
    with pytest.raises(FailedPrecondition):  # an account never used has nothing
        await ledger.transfer(TransferRequest(FENGSHU, "spend2", LI, WAN, 1))
    with pytest.raises(FailedPrecondition):  # system accounts other than issuance neither
        await ledger.transfer(TransferRequest(FENGSHU, "spend3", REDEMPTION_CLEARING, WAN, 1))
    await ledger.transfer(TransferRequest(FENGSHU, "spend4", WAN, REDEMPTION_CLEARING, 10))
    assert (await ledger.balance(FENGSHU, WAN)).balance == 0
    assert await ledger.community_sum(FENGSHU) == 0


async def test_a_refused_transfer_leaves_nothing_behind(ledger: Ledger) -> None:
    with pytest.raises(FailedPrecondition):
        await ledger.transfer(TransferRequest(FENGSHU, "x", WAN, LI, 5))
    entries, _ = await ledger.history(FENGSHU, WAN, 0, 10)
    assert entries == [] and await subjects(ledger) == []
    # the id is still free: the same id may be used once the points are there
    await ledger.transfer(credit("fund", WAN, 5))
    assert (await ledger.transfer(TransferRequest(FENGSHU, "x", WAN, LI, 5))).created


async def test_hold_reserves_points_then_post_moves_them_once(ledger: Ledger) -> None:
    await ledger.transfer(credit("t1", WAN, 50))
    placed, created = await ledger.place_hold(hold("h1", 20))
    assert created and placed.state == HoldState.PENDING
    b = await ledger.balance(FENGSHU, WAN)
    assert (b.balance, b.held, b.available) == (50, 20, 30)
    with pytest.raises(FailedPrecondition):  # held points cannot be spent twice
        await ledger.transfer(TransferRequest(FENGSHU, "spend", WAN, LI, 31))

    posted = await ledger.post_hold(FENGSHU, "h1")
    again = await ledger.post_hold(FENGSHU, "h1")
    assert posted.hold.state == HoldState.POSTED and again.transfer == posted.transfer
    assert posted.transfer.kind == Kind.POST and posted.transfer.transfer_id == "h1/post"
    b = await ledger.balance(FENGSHU, WAN)
    assert (b.balance, b.held, b.available) == (30, 0, 30)
    assert (await ledger.balance(FENGSHU, REDEMPTION_CLEARING)).balance == 20
    replayed, created = await ledger.place_hold(hold("h1", 20))
    assert not created and replayed.state == HoldState.POSTED

    with pytest.raises(FailedPrecondition) as caught:
        await ledger.void_hold(FENGSHU, "h1")
    assert caught.value.reason == "HOLD_POSTED"
    assert await subjects(ledger) == ["points.points.credited", "points.hold.placed", "points.hold.posted"]


async def test_void_returns_points_once_and_post_after_void_is_refused(ledger: Ledger) -> None:
    await ledger.transfer(credit("t1", WAN, 50))
    await ledger.place_hold(hold("h1", 20))
    voided = await ledger.void_hold(FENGSHU, "h1")
    again = await ledger.void_hold(FENGSHU, "h1")
    assert voided.hold.state == HoldState.VOIDED and again.transfer == voided.transfer
    b = await ledger.balance(FENGSHU, WAN)
    assert (b.balance, b.held, b.available) == (50, 0, 50)
    with pytest.raises(FailedPrecondition) as caught:
        await ledger.post_hold(FENGSHU, "h1")
    assert caught.value.reason == "HOLD_VOIDED"
    with pytest.raises(NotFound):
        await ledger.post_hold(FENGSHU, "no-such-hold")


async def test_a_timed_out_hold_is_expired_by_the_sweeper_and_its_points_return(
    ledger: Ledger, clock: ManualClock
) -> None:
    await ledger.transfer(credit("t1", WAN, 10))
    await ledger.place_hold(hold("h-short", 4, timeout=60))
    await ledger.place_hold(hold("h-long", 3, timeout=600))
    sweeper = hold_sweeper(ledger)
    clock.advance(seconds=59)
    assert await sweeper.run_once() == 0
    clock.advance(seconds=1)
    assert await sweeper.run_once() == 1
    assert await sweeper.run_once() == 0  # exactly once
    expired = await ledger.get_hold(FENGSHU, "h-short")
    assert expired.state == HoldState.EXPIRED and expired.resolved_at == clock.now()
    b = await ledger.balance(FENGSHU, WAN)
    assert (b.balance, b.held, b.available) == (10, 3, 7)
    with pytest.raises(FailedPrecondition) as caught:
        await ledger.post_hold(FENGSHU, "h-short")
    assert caught.value.reason == "HOLD_EXPIRED"
    assert (await ledger.void_hold(FENGSHU, "h-short")).hold.state == HoldState.EXPIRED  # idempotent void


async def test_posting_a_hold_past_its_timeout_expires_it_even_before_the_sweeper(
    ledger: Ledger, clock: ManualClock
) -> None:
    await ledger.transfer(credit("t1", WAN, 10))
    await ledger.place_hold(hold("h1", 4, timeout=30))
    clock.advance(seconds=31)
    with pytest.raises(FailedPrecondition) as caught:
        await ledger.post_hold(FENGSHU, "h1")
    assert caught.value.reason == "HOLD_EXPIRED"
    # the expiry was committed although the call was refused
    assert (await ledger.get_hold(FENGSHU, "h1")).state == HoldState.EXPIRED
    assert (await ledger.balance(FENGSHU, WAN)).available == 10
    assert (await subjects(ledger))[-1] == "points.hold.voided"


async def test_post_and_void_racing_resolve_the_hold_exactly_once(ledger: Ledger) -> None:
    await ledger.transfer(credit("t1", WAN, 100))
    for i in range(5):
        await ledger.place_hold(hold(f"h{i}", 10))
        results = await asyncio.gather(
            ledger.post_hold(FENGSHU, f"h{i}"), ledger.void_hold(FENGSHU, f"h{i}"),
            ledger.post_hold(FENGSHU, f"h{i}"), ledger.void_hold(FENGSHU, f"h{i}"),
            return_exceptions=True,
        )
        states = {r.hold.state for r in results if not isinstance(r, BaseException)}
        refused = [r for r in results if isinstance(r, FailedPrecondition)]
        assert len(states) == 1 and len(refused) == 2, results
    b = await ledger.balance(FENGSHU, WAN)
    assert b.held == 0 and b.balance + (await ledger.balance(FENGSHU, REDEMPTION_CLEARING)).balance == 100


async def test_reversal_moves_points_back_and_never_beyond_the_original(ledger: Ledger) -> None:
    await ledger.transfer(credit("t1", WAN, 30))
    part = await ledger.reverse(FENGSHU, "r1", "t1", 10, "entered twice")
    assert part.created and part.transfer.kind == Kind.REVERSAL
    assert (part.transfer.debit_account, part.transfer.credit_account) == (WAN, ISSUANCE)
    assert not (await ledger.reverse(FENGSHU, "r1", "t1", 10, "entered twice")).created
    with pytest.raises(AlreadyExists):
        await ledger.reverse(FENGSHU, "r1", "t1", 11, "entered twice")
    with pytest.raises(FailedPrecondition) as caught:
        await ledger.reverse(FENGSHU, "r2", "t1", 21, "too much")
    assert caught.value.reason == "OVER_REVERSAL"
    rest = await ledger.reverse(FENGSHU, "r3", "t1", 0, "the rest")
    assert rest.transfer.amount == 20
    with pytest.raises(FailedPrecondition):
        await ledger.reverse(FENGSHU, "r4", "t1", 0, "again")
    b = await ledger.balance(FENGSHU, WAN)
    assert (b.balance, b.earned) == (0, 0)  # earned is net of reversals
    with pytest.raises(NotFound):
        await ledger.reverse(FENGSHU, "r5", "nope", 0, "x")


async def test_refund_of_a_posted_redemption_and_holds_cannot_be_reversed(ledger: Ledger) -> None:
    await ledger.transfer(credit("t1", WAN, 30))
    await ledger.place_hold(hold("h1", 12))
    with pytest.raises(FailedPrecondition) as caught:
        await ledger.reverse(FENGSHU, "r0", "h1", 0, "refund")
    assert caught.value.reason == "NOT_REVERSIBLE"
    await ledger.post_hold(FENGSHU, "h1")
    await ledger.reverse(FENGSHU, "refund-1", "h1/post", 0, "merchant refund")
    b = await ledger.balance(FENGSHU, WAN)
    assert (b.balance, b.earned) == (30, 30)  # a refund is not earning
    assert (await ledger.balance(FENGSHU, REDEMPTION_CLEARING)).balance == 0


async def test_history_has_a_running_balance_and_pages(ledger: Ledger) -> None:
    await ledger.transfer(credit("t1", WAN, 30))
    await ledger.transfer(TransferRequest(FENGSHU, "t2", WAN, LI, 5))
    await ledger.place_hold(hold("h1", 10))
    await ledger.post_hold(FENGSHU, "h1")
    await ledger.transfer(TransferRequest(FENGSHU, "t3", WAN, EXPIRY, 1))
    entries, last = await ledger.history(FENGSHU, WAN, 0, 3)
    more, last2 = await ledger.history(FENGSHU, WAN, last, 3)
    assert last2 == 0
    seen = [(e.transfer.transfer_id, e.change, e.balance_after) for e in entries + more]
    assert seen == [("t1", 30, 30), ("t2", -5, 25), ("h1", 0, 25), ("h1/post", -10, 15), ("t3", -1, 14)]
    li, _ = await ledger.history(FENGSHU, LI, 0, 10)
    assert [(e.change, e.balance_after) for e in li] == [(5, 5)]
    assert await ledger.history(FENGSHU, volunteer_account("nobody"), 0, 10) == ([], 0)


async def test_concurrent_replays_of_one_transfer_move_points_once(ledger: Ledger) -> None:
    results = await asyncio.gather(*(ledger.transfer(credit("same", WAN, 7)) for _ in range(10)))
    assert sum(r.created for r in results) == 1
    assert len({r.transfer.seq for r in results}) == 1
    assert (await ledger.balance(FENGSHU, WAN)).balance == 7


async def test_concurrent_holds_never_overdraw(ledger: Ledger) -> None:
    await ledger.transfer(credit("fund", WAN, 20))
    results = await asyncio.gather(*(ledger.place_hold(hold(f"h{i}", 1)) for i in range(40)),
                                   return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 20
    assert all(isinstance(r, FailedPrecondition) for r in results if isinstance(r, BaseException))
    assert (await ledger.balance(FENGSHU, WAN)).available == 0


async def test_new_accounts_opened_concurrently_by_many_communities(ledger: Ledger) -> None:
    paths = [f"chengdu/test/c{uuid.uuid4().hex[:6]}" for _ in range(3)]
    await asyncio.gather(*(ledger.transfer(credit(f"t{i}", volunteer_account(f"v{i % 4}"), 1, path=p))
                           for p in paths for i in range(8)))
    for p in paths:
        assert await ledger.community_sum(p) == 0
        assert (await ledger.balance(p, ISSUANCE)).balance == -8


async def test_expiry_takes_old_points_left_after_spending_oldest_first_once(
    ledger: Ledger, clock: ManualClock
) -> None:
    await ledger.transfer(credit("old", WAN, 30))
    await ledger.transfer(TransferRequest(FENGSHU, "spent", WAN, REDEMPTION_CLEARING, 10))
    clock.advance(days=40)
    await ledger.transfer(credit("recent", WAN, 5))
    await ledger.place_hold(hold("h1", 3))
    cutoff = clock.now() - timedelta(days=1)
    assert await ledger.expire_points(FENGSHU, cutoff, "2026-12-15") == (1, 17)  # 20 old left, 3 of them held
    assert await ledger.expire_points(FENGSHU, cutoff, "2026-12-15") == (0, 0)
    b = await ledger.balance(FENGSHU, WAN)
    assert (b.balance, b.held, b.available, b.earned) == (8, 3, 5, 35)  # expiry is not an un-earning
    assert (await ledger.balance(FENGSHU, EXPIRY)).balance == 17
    assert await ledger.community_sum(FENGSHU) == 0
    await ledger.post_hold(FENGSHU, "h1")  # the held points were left alone


async def test_refunds_crossing_spends_on_the_clearing_account_all_land(ledger: Ledger) -> None:
    # Spends lock the volunteer and then update clearing; refunds lock both (clearing first when
    # its id is lower): on PostgreSQL such crossings may deadlock, and the retry must absorb it.
    await ledger.transfer(credit("fund", WAN, 100))
    for i in range(15):
        await ledger.place_hold(hold(f"h{i}", 1))
        await ledger.post_hold(FENGSHU, f"h{i}")
    results = await asyncio.gather(
        *(ledger.reverse(FENGSHU, f"refund-{i}", f"h{i}/post", 0, "refund") for i in range(15)),
        *(ledger.transfer(TransferRequest(FENGSHU, f"spend-{i}", WAN, REDEMPTION_CLEARING, 1)) for i in range(15)),
    )
    assert all(r.created for r in results)
    assert (await ledger.balance(FENGSHU, WAN)).balance == 100 - 15
    assert (await ledger.balance(FENGSHU, REDEMPTION_CLEARING)).balance == 15
    assert await ledger.community_sum(FENGSHU) == 0
