"""The redeem saga in memory: a fake volunteer-points ledger (balances, holds, failures on
demand) and an in-memory store of our rows. Happy path and its event, refusals, lost replies,
volunteer-points down, a crash between hold and commit, cancel and recovery racing the call,
a retry too late to commit, recovery, refunds — every step's outcome checked on both sides.
The saga's one call to volunteer-points is PlaceHold; `World.ledger()` first applies the
committed events as volunteer-points' consumer does (posting their holds)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from linli_redemption.points import HoldState, PointsRefused, PointsUnavailable
from linli_redemption.redemption_rules import COMMITTED, PENDING, VOIDED
from linli_redemption.redemptions import Redemptions
from linli_redemption.tables import Redemption, Reward
from linli_redemption.terminals import TerminalCaller

from linli.events.v1 import redemption_pb2 as events
from linli_runtime.clock import ManualClock
from linli_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from linli_runtime.events.envelope import EventFactory

from .fakes import FakePoints, MemoryStore, member_session

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
HEALTH = "jinchengyijing-health"
HEALTH_NAME = "锦城逸景社区卫生服务中心"
TILL = TerminalCaller("till-1", HEALTH, FENGSHU)
KIT = f"merchants/{HEALTH}/rewards/kit"
GRACE = timedelta(seconds=60)


class Crash(Exception):
    """The process dying at this point (the rest of the call never runs)."""


class World:
    """One ledger, one store, one clock; `restart()` is a new saga on the same two sides."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        self.points = FakePoints(self.clock, balances={"v-1": 100, "v-2": 100}, names={"v-1": "王秀英"})
        self.store = MemoryStore({HEALTH: HEALTH_NAME})
        now = self.clock.now()
        self.store.add_reward(Reward(merchant_id=HEALTH, id="kit", display_name="first-aid kit", points=40, stock=3,
                                     create_time=now))
        self.store.add_session(member_session("ms-1", "till-1", "v-1", FENGSHU, HEALTH, now))
        self.store.add_session(member_session("ms-1b", "till-1", "v-1", FENGSHU, HEALTH, now))
        self.store.add_session(member_session("ms-2", "till-1", "v-2", FENGSHU, HEALTH, now))
        self.store.add_session(member_session("ms-other-till", "till-9", "v-1", FENGSHU, HEALTH, now))
        self.saga = self.restart()

    def restart(self) -> Redemptions:
        self.saga = Redemptions(self.store, self.points, self.clock, EventFactory("partner-redemption", self.clock))
        return self.saga

    async def redeem(self, request_id: str, quantity: int = 1, session: str = "ms-1",
                     reward: str = KIT) -> Redemption:
        return await self.saga.redeem(TILL, reward, session, quantity, request_id, 0)

    def stock(self) -> int:
        return self.store.rewards[(HEALTH, "kit")].stock

    def ledger(self, volunteer: str = "v-1") -> tuple[int, int]:
        """(balance, held), once volunteer-points has applied the committed events."""
        self.points.apply_committed(self.store.events)
        return self.points.balances[volunteer], self.points.held(volunteer)

    def row(self, request_id: str) -> Redemption:
        [found] = [r for r in self.store.redemptions.values() if r.request_id == request_id]
        return found


@pytest.fixture
def world() -> World:
    return World()


async def test_a_redeem_holds_posts_commits_and_announces_itself(world: World) -> None:
    done = await world.redeem("pos-1", quantity=2)
    assert (done.state, done.points, done.quantity, done.masked_member) == (COMMITTED, 80, 2, "王*英")
    assert done.transfer_id == f"redemption:{done.id}/post" and done.ledger_day == "2026-11-07"
    assert world.points.calls == ["PlaceHold"]  # the POS waited for the hold only
    assert (world.points.balances["v-1"], world.points.held("v-1")) == (100, 80)  # held: spent for the volunteer
    assert world.ledger() == (20, 0) and world.stock() == 1  # posted from the event
    [event] = world.store.events
    payload = events.RedemptionCommitted()
    event.payload.Unpack(payload)
    assert (event.subject, event.org_scope, event.source) == ("redemption.redemption.committed", FENGSHU,
                                                              "partner-redemption")
    assert (payload.redemption, payload.request_id, payload.points, payload.merchant_name, payload.volunteer_id,
            payload.transfer_id) == (f"merchants/{HEALTH}/redemptions/{done.id}", "pos-1", 80, HEALTH_NAME, "v-1",
                                     done.transfer_id)


async def test_not_enough_points_voids_returns_the_stock_and_every_retry_hears_the_same(world: World) -> None:
    for _ in range(2):
        with pytest.raises(FailedPrecondition) as refused:
            await world.redeem("too-dear", quantity=3)
        assert refused.value.reason == "INSUFFICIENT_POINTS"
    assert world.row("too-dear").state == VOIDED and world.stock() == 3
    assert world.ledger() == (100, 0) and world.points.calls == ["PlaceHold"]  # the retry asked nobody
    assert world.store.events == []


async def test_other_refusals_of_the_hold_and_a_hold_gone_before_the_post_void_the_redemption(world: World) -> None:
    world.points.refuse["PlaceHold"] = PointsRefused("ACCOUNT_FROZEN", "the account is frozen")
    with pytest.raises(FailedPrecondition) as refused:
        await world.redeem("frozen")
    assert (refused.value.reason, refused.value.message) == (
        "LEDGER_REFUSED", "volunteer-points refused the hold: the account is frozen")
    assert world.stock() == 3 and world.row("frozen").state == VOIDED


async def test_a_retry_with_less_than_half_the_hold_timeout_left_abandons_the_redemption(world: World) -> None:
    async def die(row: Redemption) -> None:
        raise Crash

    world.saga.after_hold = die
    with pytest.raises(Crash):
        await world.redeem("late-retry")
    world.restart()
    world.clock.advance(hours=13)  # (no recovery ran meanwhile) the hold's day is more than half gone
    with pytest.raises(FailedPrecondition) as aborted:
        await world.redeem("late-retry")
    assert aborted.value.reason == "REDEMPTION_ABORTED" and world.row("late-retry").state == VOIDED
    assert world.ledger() == (100, 0) and world.stock() == 3 and world.store.events == []


async def test_a_lost_reply_retried_is_charged_once_and_a_reused_request_id_is_refused(world: World) -> None:
    first = await world.redeem("lost-reply")
    for session in ("ms-1", "ms-1", "ms-1b"):  # ms-1b: the POS restarted and resolved the code again
        again = await world.redeem("lost-reply", session=session)
        assert again.id == first.id and again.state == COMMITTED
    assert world.ledger() == (60, 0) and world.stock() == 2 and len(world.store.events) == 1
    assert world.points.calls == ["PlaceHold"]  # a retry of a committed redemption asks nobody
    for different in (world.redeem("lost-reply", quantity=2), world.redeem("lost-reply", session="ms-2")):
        with pytest.raises(AlreadyExists) as reused:
            await different
        assert reused.value.reason == "REQUEST_ID_REUSED"


async def test_a_crash_between_hold_and_commit_is_voided_by_recovery_after_the_grace(world: World) -> None:
    async def die(row: Redemption) -> None:
        raise Crash

    world.saga.after_hold = die
    with pytest.raises(Crash):
        await world.redeem("crash-1")
    assert world.ledger() == (100, 40) and world.stock() == 2  # held and reserved, nothing committed
    assert world.row("crash-1").state == PENDING

    saga = world.restart()
    assert await saga.recover_once(GRACE) == 0  # too young: its own call may still be settling it
    world.clock.advance(seconds=61)
    assert await saga.recover_once(GRACE) == 1
    assert world.ledger() == (100, 0) and world.stock() == 3  # no hold left, no points lost, stock back
    assert world.points.holds[world.row("crash-1").hold_id].state == HoldState.VOIDED
    with pytest.raises(FailedPrecondition) as retried:
        await world.redeem("crash-1")
    assert retried.value.reason == "REDEMPTION_ABORTED"
    assert (await world.redeem("crash-2")).state == COMMITTED  # the member starts again
    assert world.ledger() == (60, 0) and len(world.store.events) == 1
    assert await saga.recover_once(GRACE) == 0


async def test_a_retry_after_the_crash_finishes_the_redemption_charged_once(world: World) -> None:
    async def die(row: Redemption) -> None:
        raise Crash

    world.saga.after_hold = die
    with pytest.raises(Crash):
        await world.redeem("crash-a")
    world.restart()
    done = await world.redeem("crash-a")  # PlaceHold again answers with the hold placed before
    assert done.state == COMMITTED and world.ledger() == (60, 0) and world.stock() == 2
    world.clock.advance(seconds=61)
    assert await world.saga.recover_once(GRACE) == 0 and len(world.store.events) == 1


async def test_a_redemption_whose_hold_the_two_hop_saga_posted_is_committed_by_recovery(world: World) -> None:
    world.store.fail_commit = Crash()
    with pytest.raises(Crash):
        await world.redeem("posted")
    await world.points.post_hold(FENGSHU, world.row("posted").hold_id)  # as the saga before issue 18 did
    assert world.ledger() == (60, 0) and world.row("posted").state == PENDING  # the points moved already
    world.clock.advance(seconds=61)
    assert await world.restart().recover_once(GRACE) == 1
    assert world.row("posted").state == COMMITTED and len(world.store.events) == 1
    assert (await world.redeem("posted")).state == COMMITTED and world.ledger() == (60, 0)


async def test_volunteer_points_down_leaves_the_redemption_pending_for_a_retry(world: World) -> None:
    world.points.down = {"PlaceHold"}
    with pytest.raises(PointsUnavailable) as down:
        await world.redeem("down")
    assert down.value.reason == "LEDGER_UNAVAILABLE"
    assert world.row("down").state == PENDING
    assert world.ledger() == (100, 0) and world.stock() == 2
    world.points.down = set()
    assert (await world.redeem("down")).state == COMMITTED
    assert world.ledger() == (60, 0) and world.stock() == 2 and len(world.store.events) == 1


async def test_recovery_voids_a_redemption_whose_hold_was_never_placed(world: World) -> None:
    world.points.down = {"PlaceHold"}
    with pytest.raises(PointsUnavailable):
        await world.redeem("never-held")
    world.points.down = set()
    world.clock.advance(seconds=61)
    assert await world.saga.recover_once(GRACE) == 1
    row = world.row("never-held")
    assert (row.state, row.void_reason, row.stock_returned) == (VOIDED, "REDEMPTION_ABORTED", True)
    assert world.stock() == 3 and world.ledger() == (100, 0)
    assert world.points.calls == ["PlaceHold", "GetHold"] and world.points.holds == {}  # recovery placed none


async def test_recovery_keeps_going_when_volunteer_points_is_down(world: World) -> None:
    async def die(row: Redemption) -> None:
        raise Crash

    world.saga.after_hold = die
    with pytest.raises(Crash):
        await world.redeem("stuck")
    world.points.down = {"GetHold"}
    world.clock.advance(seconds=61)
    with pytest.raises(PointsUnavailable):  # the recovery loop logs this and tries again next round
        await world.saga.recover_once(GRACE)
    world.points.down = set()
    assert await world.saga.recover_once(GRACE) == 1
    assert world.row("stuck").state == VOIDED and world.ledger() == (100, 0) and world.stock() == 3


async def test_a_cancel_while_the_call_waits_after_the_hold_wins_and_the_points_go_back(world: World) -> None:
    cancelled: list[Redemption] = []

    async def terminal_gives_up(row: Redemption) -> None:
        cancelled.append(await world.saga.cancel(TILL, f"merchants/{HEALTH}", "gave-up"))

    world.saga.after_hold = terminal_gives_up
    with pytest.raises(FailedPrecondition) as late:
        await world.redeem("gave-up")  # the call, resuming, finds its redemption cancelled
    assert late.value.reason == "CANCELLED"
    assert (cancelled[0].state, cancelled[0].void_reason) == (VOIDED, "CANCELLED")
    assert world.ledger() == (100, 0) and world.stock() == 3 and world.store.events == []


async def test_recovery_racing_the_call_after_the_hold_wins_or_loses_whole(world: World) -> None:
    """Recovery (the call looked stuck) voids the row, then the hold; the call, resuming, cannot
    commit any more. And a row committed first is left alone by recovery: its hold is posted
    from the event, never voided."""
    async def recovery_first(row: Redemption) -> None:
        world.clock.advance(seconds=61)
        assert await world.restart().recover_once(GRACE) == 1

    world.saga.after_hold = recovery_first
    with pytest.raises(FailedPrecondition) as late:
        await world.redeem("raced")
    assert late.value.reason == "REDEMPTION_ABORTED" and world.row("raced").state == VOIDED
    assert world.points.holds[world.row("raced").hold_id].state == HoldState.VOIDED
    assert world.ledger() == (100, 0) and world.stock() == 3 and world.store.events == []

    world.saga.after_hold = None
    done = await world.redeem("committed-first")
    world.clock.advance(seconds=61)
    assert await world.saga.recover_once(GRACE) == 0  # not PENDING: nothing to recover
    assert world.points.holds[done.hold_id].state == HoldState.PENDING  # until its event is applied
    assert world.ledger() == (60, 0) and world.points.holds[done.hold_id].state == HoldState.POSTED


async def test_cancel_refuses_a_committed_redemption_and_an_unknown_request_id(world: World) -> None:
    await world.redeem("done")
    with pytest.raises(FailedPrecondition) as committed:
        await world.saga.cancel(TILL, f"merchants/{HEALTH}", "done")
    assert committed.value.reason == "REDEMPTION_COMMITTED"
    with pytest.raises(NotFound):
        await world.saga.cancel(TILL, f"merchants/{HEALTH}", "nobody-sent-this")


async def test_refunds_partial_then_the_rest_once_each_and_never_more(world: World) -> None:
    r = await world.redeem("to-refund")
    name = f"merchants/{HEALTH}/redemptions/{r.id}"
    part, row = await world.saga.refund(TILL, name, "rf-1", 10, "half a portion")
    assert (part.points, part.completed, row.refunded_points) == (10, True, 10)
    again, _ = await world.saga.refund(TILL, name, "rf-1", 10, "half a portion")
    assert again.id == part.id and world.ledger() == (70, 0)
    with pytest.raises(AlreadyExists):
        await world.saga.refund(TILL, name, "rf-1", 5, "another")
    with pytest.raises(FailedPrecondition) as over:
        await world.saga.refund(TILL, name, "rf-2", 31, "too much")
    assert over.value.reason == "OVER_REFUND"
    rest, row = await world.saga.refund(TILL, name, "rf-3", 0, "returned")
    assert (rest.points, row.refunded_points) == (30, 40) and world.ledger() == (100, 0)
    assert world.stock() == 3  # wholly refunded: the unit is back on the shelf
    assert [e.subject for e in world.store.events].count("redemption.redemption.refunded") == 2

    late = await world.redeem("late")
    world.clock.advance(days=8)
    with pytest.raises(FailedPrecondition) as closed:
        await world.saga.refund(TILL, f"merchants/{HEALTH}/redemptions/{late.id}", "rf-late", 0, "too late")
    assert closed.value.reason == "REFUND_WINDOW_CLOSED"


async def test_a_refund_whose_ledger_call_failed_is_finished_by_recovery(world: World) -> None:
    r = await world.redeem("to-refund")
    world.points.down = {"ReverseTransfer"}
    name = f"merchants/{HEALTH}/redemptions/{r.id}"
    with pytest.raises(PointsUnavailable):
        await world.saga.refund(TILL, name, "rf-down", 0, "spoilt")
    assert world.ledger() == (60, 0)
    world.points.down = set()
    world.clock.advance(seconds=61)
    assert await world.saga.recover_once(GRACE) == 1
    assert world.ledger() == (100, 0)
    done, row = await world.saga.refund(TILL, name, "rf-down", 0, "spoilt")  # the POS's retry
    assert (done.completed, done.points, row.refunded_points) == (True, 40, 40)
    assert world.ledger() == (100, 0) and world.points.calls.count("ReverseTransfer") == 2  # one failed, one done


async def test_quotes_say_what_a_redeem_would_cost_and_whether_it_would_go_through(world: World) -> None:
    ok = await world.saga.quote(TILL, KIT, "ms-1", 2)
    assert (ok.points, ok.available_points, ok.redeemable) == (80, 100, True)
    assert (await world.saga.quote(TILL, KIT, "ms-1", 3)).refusal_reason == "INSUFFICIENT_POINTS"
    world.store.rewards[(HEALTH, "kit")].stock = 1
    assert (await world.saga.quote(TILL, KIT, "ms-1", 2)).refusal_reason == "OUT_OF_STOCK"
    assert world.store.redemptions == {}  # nothing reserved


async def test_sessions_and_merchants_a_terminal_may_not_use(world: World) -> None:
    with pytest.raises(InvalidArgument) as foreign:
        await world.redeem("x", session="ms-other-till")
    assert foreign.value.reason == "MEMBER_SESSION_UNKNOWN"
    with pytest.raises(InvalidArgument) as missing:
        await world.redeem("x", session="")
    assert [v.field for v in missing.value.violations] == ["member_session"]
    with pytest.raises(PermissionDenied) as other:
        await world.redeem("x", reward="merchants/fengxiang-canteen/rewards/lunch")
    assert other.value.reason == "OTHER_MERCHANT"
    world.clock.advance(minutes=11)
    with pytest.raises(FailedPrecondition) as expired:
        await world.redeem("x")
    assert expired.value.reason == "MEMBER_SESSION_EXPIRED"
    with pytest.raises(NotFound):
        await world.saga.get_for(TILL, f"merchants/{HEALTH}/redemptions/r-nope")
    assert world.store.redemptions == {} and world.points.calls == []
