"""PosService end to end on a running partner-redemption and a running volunteer-points (real
NATS, SQLite and PostgreSQL): the happy path with its event, concurrency (balance and stock),
lost replies, cancel, refunds and the day's settlement against the ledger."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import grpc
import nats
import pytest
from linli_redemption import names
from linli_redemption.app import RedemptionApp
from linli_redemption.members import MemberSession
from linli_redemption.pos_limits import HOUR, MINUTE, Limit
from linli_redemption.redemption_rules import COMMITTED, VOIDED
from linli_redemption.redemption_store import SqlRedemptionStore, _Commit
from linli_redemption.redemptions import RedeemAsk
from linli_redemption.tables import Redemption
from nats.aio.msg import Msg

from linli.events.v1 import redemption_pb2 as events_pb
from linli.events.v1.envelope_pb2 import EventEnvelope
from linli.points.v1 import ledger_pb2
from linli.redemption.v1 import admin_pb2
from linli.redemption.v1 import pos_pb2 as pb
from linli.redemption.v1 import resources_pb2 as rpb
from linli_runtime.clock import ManualClock
from linli_runtime.events.streams import REDEMPTION
from linli_runtime.processes import NatsServer
from linli_runtime.testing.errors import error_info
from linli_runtime.testing.published import published_envelopes
from linli_runtime.testing.waiting import wait_until

from .conftest import FENGSHU, HEALTH, Kit


async def redeem(kit: Kit, terminal: tuple[tuple[str, str], ...], reward: str, session: str, request_id: str,
                 quantity: int = 1) -> pb.RedeemResponse:
    reply: pb.RedeemResponse = await kit.pos.Redeem(pb.RedeemRequest(
        reward=reward, member_session=session, quantity=quantity, request_id=request_id), metadata=terminal)
    return reply


async def test_a_redemption_holds_posts_records_and_announces_itself(
    kit: Kit, app: RedemptionApp, nats_server: NatsServer
) -> None:
    nc = await nats.connect(nats_server.url)
    seen: list[EventEnvelope] = []

    async def on_message(msg: Msg) -> None:
        seen.append(EventEnvelope.FromString(msg.data))

    await nc.subscribe("redemption.>", cb=on_message)
    try:
        till = await kit.terminal()
        volunteer = await kit.volunteer(100)
        reward = await kit.reward(points=30, stock=3)
        resolved = await kit.pos.ResolveMemberCode(pb.ResolveMemberCodeRequest(
            member_code=await kit.code(volunteer)), metadata=till)
        assert (resolved.masked_member, resolved.available_points) == ("王*英", 100)
        quote = await kit.pos.QuoteRedemption(pb.QuoteRedemptionRequest(
            reward=reward, member_session=resolved.member_session, quantity=2), metadata=till)
        assert (quote.points, quote.redeemable) == (60, True)
        reply = await kit.pos.Redeem(pb.RedeemRequest(reward=reward, member_session=resolved.member_session,
                                                      quantity=2, request_id="pos-1", expected_points=60),
                                     metadata=till)
        r = reply.redemption
        assert (r.state, r.points, r.quantity, r.masked_member) == (rpb.REDEMPTION_STATE_COMMITTED, 60, 2, "王*英")
        assert r.transfer_id.startswith(f"redemption:{r.redemption_id}")
        b = await kit.balance(volunteer)
        assert (b.balance, b.held, b.available) == (40, 0, 40)
        stock = await kit.catalog.GetReward(admin_pb2.GetRewardRequest(name=reward), metadata=kit.worker)
        assert stock.reward.stock == 1
        got = await kit.pos.GetRedemption(pb.GetRedemptionRequest(name=r.name), metadata=till)
        assert got.redemption == r
        await wait_until(lambda: _has(seen, "redemption.redemption.committed"), what="the committed event")
        event = next(e for e in seen if e.subject == "redemption.redemption.committed")
        payload = events_pb.RedemptionCommitted()
        event.payload.Unpack(payload)
        assert (payload.redemption, payload.request_id, payload.points, payload.merchant_id, payload.volunteer_id) == (
            r.name, "pos-1", 60, HEALTH, volunteer)
        assert payload.merchant_name == "锦城逸景社区卫生服务中心" and event.org_scope == FENGSHU
    finally:
        await nc.close()


async def _has(seen: list[EventEnvelope], subject: str) -> bool:
    return any(e.subject == subject for e in seen)


def without_redeem_limits(app: RedemptionApp) -> None:
    """Concurrency is the point here, not the POS abuse limits (tested in test_pos_limits)."""
    app.pos_guard.limits = replace(app.pos_guard.limits, redeems_per_terminal=Limit(1000, MINUTE),
                                   redeems_per_member=Limit(1000, HOUR))


async def test_100_concurrent_redeems_against_a_balance_for_10_succeed_exactly_10_times(
    kit: Kit, app: RedemptionApp
) -> None:
    without_redeem_limits(app)
    till = await kit.terminal()
    volunteer = await kit.volunteer(10)
    reward = await kit.reward(points=1)
    session = await kit.session(till, volunteer)
    results = await asyncio.gather(*(redeem(kit, till, reward, session, f"c-{i:03d}") for i in range(100)),
                                   return_exceptions=True)
    done = [r for r in results if isinstance(r, pb.RedeemResponse)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(done) == 10 and len(refused) == 90, [r for r in results if not isinstance(
        r, (pb.RedeemResponse, grpc.aio.AioRpcError))]
    assert {(e.code(), error_info(e)[0]) for e in refused} == {
        (grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_POINTS")}
    b = await kit.balance(volunteer)
    assert (b.balance, b.held, b.available) == (0, 0, 0)


async def test_50_concurrent_redeems_of_a_reward_with_stock_5_succeed_5_times(kit: Kit, app: RedemptionApp) -> None:
    without_redeem_limits(app)
    till = await kit.terminal()
    volunteer = await kit.volunteer(1000)
    reward = await kit.reward(points=2, stock=5)
    session = await kit.session(till, volunteer)
    results = await asyncio.gather(*(redeem(kit, till, reward, session, f"s-{i:03d}") for i in range(50)),
                                   return_exceptions=True)
    done = [r for r in results if isinstance(r, pb.RedeemResponse)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(done) == 5 and len(refused) == 45
    assert {error_info(e)[0] for e in refused} == {"OUT_OF_STOCK"}
    assert (await kit.balance(volunteer)).balance == 990
    stock = await kit.catalog.GetReward(admin_pb2.GetRewardRequest(name=reward), metadata=kit.worker)
    assert stock.reward.stock == 0


async def test_a_batch_with_refused_redeems_commits_the_others_and_refuses_each_alone(
    kit: Kit, app: RedemptionApp
) -> None:
    """Issue 18: concurrent redeems are reserved in one transaction (group commit); one refused
    request in the batch — sold out, an unknown reward, a member without the points, a second
    first attempt of one request id, a bad field, a replayed id, a session the terminal did not
    open — fails alone with its own status, and the others commit."""
    without_redeem_limits(app)
    till = await kit.terminal()
    rich, poor = await kit.volunteer(1000), await kit.volunteer(0)
    open_reward, sold_out = await kit.reward(points=3), await kit.reward(points=1, stock=0)
    rich_session, poor_session = await kit.session(till, rich), await kit.session(till, poor)
    before = await redeem(kit, till, open_reward, rich_session, "b-before")  # its id is replayed below
    # Hold the next batch until the mixed requests are all queued behind it: then they are one batch.
    batcher = app.redemptions.store._reserve  # type: ignore[attr-defined]
    run, gate, batches = batcher.run, asyncio.Event(), []

    async def gated(items):  # type: ignore[no-untyped-def]
        batches.append([item.request_id for item in items])
        if len(batches) == 1:
            await gate.wait()
        return await run(items)

    batcher.run = gated
    blocker = asyncio.ensure_future(redeem(kit, till, open_reward, rich_session, "b-blocker"))
    await wait_until(lambda: len(batches) == 1, what="the first batch held")
    mixed = {
        "b-good-1": redeem(kit, till, open_reward, rich_session, "b-good-1"),
        "b-sold-out": redeem(kit, till, sold_out, rich_session, "b-sold-out"),
        "b-good-2": redeem(kit, till, open_reward, rich_session, "b-good-2"),
        "b-unknown": redeem(kit, till, f"merchants/{HEALTH}/rewards/no-such-reward", rich_session, "b-unknown"),
        "b-poor": redeem(kit, till, open_reward, poor_session, "b-poor"),
        "b-twice-1": redeem(kit, till, open_reward, rich_session, "b-twice"),
        "b-twice-2": redeem(kit, till, open_reward, rich_session, "b-twice"),
        "b-bad-field": redeem(kit, till, open_reward, rich_session, "b-bad-field", quantity=0),
        "b-replay": redeem(kit, till, open_reward, rich_session, "b-before"),
        "b-no-session": redeem(kit, till, open_reward, "no-such-session", "b-no-session"),
    }
    tasks = {name: asyncio.ensure_future(call) for name, call in mixed.items()}
    await wait_until(lambda: len(batcher._queue) == 9, what="the mixed requests queued behind the held batch")
    gate.set()
    await blocker
    outcomes = dict(zip(tasks, await asyncio.gather(*tasks.values(), return_exceptions=True), strict=True))
    assert sorted(batches[1]) == sorted(["b-good-1", "b-sold-out", "b-good-2", "b-unknown", "b-poor", "b-twice",
                                         "b-twice", "b-before", "b-no-session"])  # one batch: the replay
    # and the session read in it (the bad field never queues)

    def status(name: str) -> tuple[grpc.StatusCode, str] | int:
        outcome = outcomes[name]
        if isinstance(outcome, grpc.aio.AioRpcError):
            return outcome.code(), error_info(outcome)[0]
        assert isinstance(outcome, pb.RedeemResponse), outcome
        return int(outcome.redemption.state)

    assert status("b-good-1") == status("b-good-2") == status("b-twice-1") == rpb.REDEMPTION_STATE_COMMITTED
    assert status("b-sold-out") == (grpc.StatusCode.FAILED_PRECONDITION, "OUT_OF_STOCK")
    assert status("b-unknown") == (grpc.StatusCode.NOT_FOUND, "REWARD_NOT_FOUND")
    assert status("b-poor") == (grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_POINTS")
    assert status("b-bad-field")[0] == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[index]
    assert status("b-no-session") == (grpc.StatusCode.INVALID_ARGUMENT, "MEMBER_SESSION_UNKNOWN")
    twice = [outcomes["b-twice-1"], outcomes["b-twice-2"]]
    assert twice[0] == twice[1]  # a second first attempt of one id is answered as the first: charged once
    replay = outcomes["b-replay"]
    assert isinstance(replay, pb.RedeemResponse) and replay.redemption == before.redemption
    # Charged: before, blocker, good-1, good-2, twice — 5 × 3 points; the poor member nothing held.
    assert (await kit.balance(rich)).balance == 1000 - 5 * 3
    b = await kit.balance(poor)
    assert (b.balance, b.held) == (0, 0)
    stock = await kit.catalog.GetReward(admin_pb2.GetRewardRequest(name=sold_out), metadata=kit.worker)
    assert stock.reward.stock == 0


async def test_a_retried_redeem_whose_reply_was_lost_is_applied_once(kit: Kit, clock: ManualClock) -> None:
    till = await kit.terminal()
    volunteer = await kit.volunteer(100)
    reward = await kit.reward(points=7, stock=10)
    session = await kit.session(till, volunteer)
    first = await redeem(kit, till, reward, session, "lost-reply")  # the POS never saw this answer
    retries = await asyncio.gather(*(redeem(kit, till, reward, session, "lost-reply") for _ in range(10)))
    assert {r.redemption.name for r in retries} == {first.redemption.name}
    assert all(r.redemption == first.redemption for r in retries)
    assert (await kit.balance(volunteer)).balance == 93
    stock = await kit.catalog.GetReward(admin_pb2.GetRewardRequest(name=reward), metadata=kit.worker)
    assert stock.reward.stock == 9
    # A POS restarted mid-redeem resolves the volunteer's code again: the retry with the new
    # session of the same volunteer is the same request, and gets the first answer.
    clock.advance(seconds=60)  # the next step's member code
    later = await kit.session(till, volunteer)
    assert later != session
    again = await redeem(kit, till, reward, later, "lost-reply")
    assert again.redemption == first.redemption and (await kit.balance(volunteer)).balance == 93
    # The same id for a different request — another quantity, or another volunteer — is refused.
    someone_else = await kit.session(till, await kit.volunteer(100))
    for different in (redeem(kit, till, reward, session, "lost-reply", quantity=2),
                      redeem(kit, till, reward, someone_else, "lost-reply")):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await different
        assert (refused.value.code(), error_info(refused.value)[0]) == (grpc.StatusCode.ALREADY_EXISTS,
                                                                       "REQUEST_ID_REUSED")


async def test_concurrent_first_attempts_with_one_request_id_charge_once(kit: Kit) -> None:
    till = await kit.terminal()
    volunteer = await kit.volunteer(100)
    reward = await kit.reward(points=5)
    session = await kit.session(till, volunteer)
    replies = await asyncio.gather(*(redeem(kit, till, reward, session, "same") for _ in range(20)))
    assert len({r.redemption.name for r in replies}) == 1
    assert (await kit.balance(volunteer)).balance == 95


async def test_a_reserve_that_meets_a_request_id_reserved_meanwhile_answers_with_its_row(
        kit: Kit, app: RedemptionApp, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reserve's transaction reads its request ids once, then inserts: an id another replica
    reserves in between takes the unique key first, and the retry answers with its row, leaving
    nothing of the first attempt (no second unit of stock taken)."""
    till = await kit.terminal()
    volunteer = await kit.volunteer(100)
    reward = await kit.reward(points=5, stock=10)
    session = await kit.session(till, volunteer)
    first = await redeem(kit, till, reward, session, "in-between")
    store = app.redemptions.store
    assert isinstance(store, SqlRedemptionStore)
    row = await store.get(first.redemption.name.split("/")[1], first.redemption.name.split("/")[3])
    assert row is not None
    member = MemberSession(session_id="s", community_path=row.community_path, volunteer_id=row.volunteer_id,
                           masked_member=row.masked_member, expire_time=clock.now())
    again = RedeemAsk(merchant_id=row.merchant_id, reward_id=row.reward_id, request_id=row.request_id,
                      fingerprint=row.fingerprint, terminal_id=row.terminal_id, session_id=None,
                      admit=lambda _session: member, quantity=1, expected_points=5, now=clock.now())
    # The first attempt's read runs before the other replica's reservation is there.
    reads = 0
    find_all = store._find_all

    async def read_before_the_other_replica(conn: Any, batch: Any) -> Any:
        nonlocal reads
        reads += 1
        found = await find_all(conn, batch)
        return [(None, session) for _, session in found] if reads == 1 else found

    monkeypatch.setattr(store, "_find_all", read_before_the_other_replica)
    [answered] = await store.reserve_asked([again])
    assert reads == 2
    assert not isinstance(answered, Exception) and answered.row.id == row.id
    stock = await kit.catalog.GetReward(admin_pb2.GetRewardRequest(name=reward), metadata=kit.worker)
    assert stock.reward.stock == 9


async def test_a_commit_batch_commits_each_pending_row_once_with_one_event_and_none_for_a_voided_row(
        kit: Kit, app: RedemptionApp, clock: ManualClock) -> None:
    """The commit of a batch (on PostgreSQL one statement: the rows and their events): a row the
    batch names twice is committed once, with one event; a row voided meanwhile stays voided, and
    no event of it reaches the outbox."""
    till = await kit.terminal()
    volunteer = await kit.volunteer(100)
    merchant, reward_id = names.parse_reward("reward", await kit.reward(points=5, stock=10))
    store = app.redemptions.store
    assert isinstance(store, SqlRedemptionStore)

    member = MemberSession(session_id="s", community_path=FENGSHU, volunteer_id=volunteer, masked_member="王*英",
                           expire_time=clock.now())

    def ask(request_id: str) -> RedeemAsk:
        return RedeemAsk(merchant_id=merchant, reward_id=reward_id, request_id=request_id, fingerprint="f",
                         terminal_id=dict(till)["authorization"].split()[1].split(":")[0], session_id=None,
                         admit=lambda _session: member, quantity=1, expected_points=0, now=clock.now())

    reserved = await store.reserve_asked([ask("batch-kept"), ask("batch-voided")])
    assert not any(isinstance(r, Exception) for r in reserved)
    kept, voided = (r.row for r in reserved if not isinstance(r, Exception))
    assert await store.void(voided, "CANCELLED", "cancelled by the test", only_unplaced=False)

    def commit(row: Redemption) -> _Commit:
        event = app.redemptions.make_event("redemption.redemption.committed", events_pb.RedemptionCommitted(
            redemption=names.redemption_name(merchant, row.id)), FENGSHU)
        return _Commit(row.id, f"post:{row.hold_id}", clock.now(), "2026-12-08", event)

    asked = [commit(kept), commit(kept), commit(voided)]
    first, second, none = await store.commit_batch(asked)
    assert first is not None and second is not None and none is None
    assert (first.id, first.state, first.transfer_id, second.id) == (kept.id, COMMITTED, f"post:{kept.hold_id}",
                                                                      kept.id)
    # What was published (the stream, once the outbox holds nothing unsent): the relay deletes a
    # sent row on PostgreSQL, so the outbox itself may already be empty.
    asked_ids = {c.event.event_id for c in asked}
    published = {e.event_id for _, e in await published_envelopes(app.db, app.bus.js, REDEMPTION.name)}
    assert published & asked_ids == {asked[0].event.event_id}
    assert (await store.get(merchant, voided.id)).state == VOIDED  # type: ignore[union-attr]


async def test_a_refused_redeem_answers_the_same_on_retry_and_holds_nothing(kit: Kit) -> None:
    till = await kit.terminal()
    volunteer = await kit.volunteer(5)
    reward = await kit.reward(points=6, stock=1)
    session = await kit.session(till, volunteer)
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await redeem(kit, till, reward, session, "too-dear")
        assert error_info(refused.value)[0] == "INSUFFICIENT_POINTS"
    b = await kit.balance(volunteer)
    assert (b.balance, b.held) == (5, 0)
    stock = await kit.catalog.GetReward(admin_pb2.GetRewardRequest(name=reward), metadata=kit.worker)
    assert stock.reward.stock == 1  # the reserved unit went back


async def test_per_volunteer_limit_and_daily_quota(kit: Kit, clock: ManualClock) -> None:
    till = await kit.terminal()
    wan, li = await kit.volunteer(100), await kit.volunteer(100, name="李建国")
    limited = await kit.reward(points=1, limit=2)
    s_wan, s_li = await kit.session(till, wan), await kit.session(till, li)
    await redeem(kit, till, limited, s_wan, "l1", quantity=2)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await redeem(kit, till, limited, s_wan, "l2")
    assert error_info(refused.value)[0] == "MEMBER_LIMIT_REACHED"
    await redeem(kit, till, limited, s_li, "l3")

    quota = await kit.reward(points=1, quota=2)
    await redeem(kit, till, quota, s_wan, "q1")
    await redeem(kit, till, quota, s_li, "q2")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await redeem(kit, till, quota, s_li, "q3")
    assert error_info(refused.value)[0] == "DAILY_QUOTA_REACHED"
    clock.advance(days=1)
    s_li = await kit.session(till, li)
    await redeem(kit, till, quota, s_li, "q4")


async def test_cancel_before_commit_and_refunds_after(kit: Kit, clock: ManualClock) -> None:
    till = await kit.terminal()
    volunteer = await kit.volunteer(100)
    reward = await kit.reward(points=20, stock=5)
    session = await kit.session(till, volunteer)
    r = (await redeem(kit, till, reward, session, "to-refund")).redemption
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await kit.pos.CancelRedemption(pb.CancelRedemptionRequest(parent=f"merchants/{HEALTH}",
                                                                  request_id="to-refund"), metadata=till)
    assert error_info(refused.value)[0] == "REDEMPTION_COMMITTED"

    part = await kit.pos.RefundRedemption(pb.RefundRedemptionRequest(
        name=r.name, request_id="rf-1", points=5, reason="half a portion"), metadata=till)
    assert (part.refund.points, part.refund.completed, part.redemption.refunded_points) == (5, True, 5)
    again = await kit.pos.RefundRedemption(pb.RefundRedemptionRequest(
        name=r.name, request_id="rf-1", points=5, reason="half a portion"), metadata=till)
    assert again.refund == part.refund
    assert (await kit.balance(volunteer)).balance == 85
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await kit.pos.RefundRedemption(pb.RefundRedemptionRequest(
            name=r.name, request_id="rf-2", points=16, reason="too much"), metadata=till)
    assert error_info(refused.value)[0] == "OVER_REFUND"
    rest = await kit.pos.RefundRedemption(pb.RefundRedemptionRequest(
        name=r.name, request_id="rf-3", reason="returned"), metadata=till)
    assert (rest.refund.points, rest.redemption.refunded_points) == (15, 20)
    assert (await kit.balance(volunteer)).balance == 100
    stock = await kit.catalog.GetReward(admin_pb2.GetRewardRequest(name=reward), metadata=kit.worker)
    assert stock.reward.stock == 5  # fully refunded: the unit is back

    late = (await redeem(kit, till, reward, session, "late")).redemption
    clock.advance(days=8)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await kit.pos.RefundRedemption(pb.RefundRedemptionRequest(
            name=late.name, request_id="rf-late", reason="too late"), metadata=till)
    assert error_info(refused.value)[0] == "REFUND_WINDOW_CLOSED"


async def test_settlement_totals_equal_the_ledger_movements_of_the_day(kit: Kit, clock: ManualClock) -> None:
    till = await kit.terminal()
    canteen_till = await kit.terminal("fengxiang-canteen")
    volunteer = await kit.volunteer(500)
    reward = await kit.reward(points=10)
    lunch = await kit.reward(points=15, merchant="fengxiang-canteen")
    session = await kit.session(till, volunteer)
    made = [(await redeem(kit, till, reward, session, f"d-{i}")).redemption for i in range(3)]
    names = [r.name for r in made]
    clock.advance(seconds=60)  # a new member code for the second till (a code works at one till only)
    canteen_session = await kit.session(canteen_till, volunteer)
    await redeem(kit, canteen_till, lunch, canteen_session, "lunch", quantity=2)
    await kit.pos.RefundRedemption(pb.RefundRedemptionRequest(name=names[0], request_id="x", points=4,
                                                              reason="partial"), metadata=till)
    day = "2026-11-07"  # the manual clock's 09:00 UTC is 17:00 in China
    mine = await kit.pos.GetDailySettlement(pb.GetDailySettlementRequest(parent=f"merchants/{HEALTH}", date=day),
                                            metadata=till)
    s = mine.settlement
    assert (s.redemption_count, s.redeemed_points, s.refund_count, s.refunded_points, s.net_points) == (
        3, 30, 1, 4, 26)
    # The ledger side counts posted holds: volunteer-points posts them from the committed events,
    # after the redeems answered (one synchronous hop); a loaded machine may not have yet.
    await wait_until(kit.settled, what="volunteer-points posting the committed redemptions' holds")
    report = await kit.settlement.ReconcileDay(admin_pb2.ReconcileDayRequest(community_path=FENGSHU, date=day),
                                               metadata=kit.worker)
    assert report.balanced and not report.mismatches
    assert (report.recorded_redeemed_points, report.ledger_redeemed_points) == (60, 60)
    assert (report.recorded_refunded_points, report.ledger_refunded_points) == (4, 4)
    assert {x.merchant_id: x.net_points for x in report.settlements} == {HEALTH: 26, "fengxiang-canteen": 30}
    other_day = await kit.settlement.ReconcileDay(admin_pb2.ReconcileDayRequest(
        community_path=FENGSHU, date="2026-11-08"), metadata=kit.worker)
    assert other_day.balanced and other_day.ledger_redeemed_points == 0

    # The city dashboard's totals over both days (SummarizeRedemptions): every merchant's figures
    # are ReconcileDay's summed over the days, and no day is listed as not balancing.
    days = [report, other_day]
    week = await kit.settlement.SummarizeRedemptions(admin_pb2.SummarizeRedemptionsRequest(
        community_paths=[FENGSHU], start_date=day, end_date="2026-11-08"), metadata=kit.worker)
    per_merchant = {m.merchant_id: (m.redemption_count, m.redeemed_points, m.refund_count, m.refunded_points)
                    for m in week.merchants if m.redemption_count or m.refund_count}
    expected: dict[str, list[int]] = {}
    for one in days:
        for x in one.settlements:
            totals = expected.setdefault(x.merchant_id, [0, 0, 0, 0])
            for i, v in enumerate((x.redemption_count, x.redeemed_points, x.refund_count, x.refunded_points)):
                totals[i] += v
    assert per_merchant == {k: tuple(v) for k, v in expected.items()} == {
        HEALTH: (3, 30, 1, 4), "fengxiang-canteen": (1, 30, 0, 0)}
    assert {m.merchant_id for m in week.merchants} >= {HEALTH, "fengxiang-canteen"}
    assert list(week.unbalanced_days) == []

    # A point moved out of the clearing account that no refund recorded: the day no longer balances.
    await kit.ledger.ReverseTransfer(ledger_pb2.ReverseTransferRequest(
        community_path=FENGSHU, transfer_id="stray", reversed_transfer_id=made[1].transfer_id, amount=1,
        reason="not through a refund"), metadata=kit.service)
    opened = await kit.settlement.ReconcileDay(admin_pb2.ReconcileDayRequest(community_path=FENGSHU, date=day),
                                               metadata=kit.worker)
    week = await kit.settlement.SummarizeRedemptions(admin_pb2.SummarizeRedemptionsRequest(
        community_paths=[FENGSHU], start_date=day, end_date="2026-11-08"), metadata=kit.worker)
    assert not opened.balanced and [m.transfer_id for m in opened.mismatches] == ["stray"]
    assert [(d.community_path, d.date, d.recorded_refunded_points, d.ledger_refunded_points,
             d.recorded_redeemed_points, d.ledger_redeemed_points) for d in week.unbalanced_days] == [
        (FENGSHU, day, 4, 5, 60, 60)]
