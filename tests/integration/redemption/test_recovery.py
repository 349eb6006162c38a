"""A crash between the points hold and the commit: the service is stopped while a redeem is
stuck right after PlaceHold, then started again; the recovery loop voids the hold — no hold
stays open, no points are lost, the reserved stock returns — and the POS's retry with the same
request id gets the final answer. Also: a POS cancelling a redeem it got no answer for."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from linli_redemption.app import RedemptionApp

from linli.points.v1 import ledger_pb2
from linli.redemption.v1 import admin_pb2, pos_pb2_grpc
from linli.redemption.v1 import pos_pb2 as pb
from linli.redemption.v1 import resources_pb2 as rpb
from linli_runtime.clients import make_channel
from linli_runtime.clock import ManualClock
from linli_runtime.testing.errors import error_info
from linli_runtime.testing.waiting import wait_until

from .conftest import HEALTH, Kit


async def test_a_crash_between_hold_and_commit_leaves_no_hold_and_loses_no_points(
    kit: Kit, app: RedemptionApp, make_app: Callable[[], Awaitable[RedemptionApp]], clock: ManualClock
) -> None:
    till = await kit.terminal()
    volunteer = await kit.volunteer(100)
    reward = await kit.reward(points=40, stock=3)
    session = await kit.session(till, volunteer)
    stuck = asyncio.Event()

    async def crash_here(row: Any) -> None:
        stuck.set()
        await asyncio.Event().wait()  # never returns: the process "dies" here

    app.redemptions.after_hold = crash_here
    request = pb.RedeemRequest(reward=reward, member_session=session, quantity=1, request_id="crash-1")
    call = asyncio.ensure_future(kit.pos.Redeem(request, metadata=till, timeout=30))
    await asyncio.wait_for(stuck.wait(), 10)
    held = await kit.balance(volunteer)
    assert (held.balance, held.held, held.available) == (100, 40, 60)
    await app.stop(grace=0)  # the handler is cut off mid-saga
    with pytest.raises(grpc.aio.AioRpcError):
        await call

    restarted = await make_app()
    clock.advance(seconds=31)  # past the recovery grace
    async with make_channel(f"127.0.0.1:{restarted.port}", default_timeout=30) as channel:
        pos = pos_pb2_grpc.PosServiceStub(channel)

        async def settled() -> bool:
            b = await kit.balance(volunteer)
            return b.held == 0
        await wait_until(settled, what="the recovery loop voiding the hold")
        b = await kit.balance(volunteer)
        assert (b.balance, b.held, b.available) == (100, 0, 100)
        with pytest.raises(grpc.aio.AioRpcError) as retried:
            await pos.Redeem(request, metadata=till)
        assert (retried.value.code(), error_info(retried.value)[0]) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                                        "REDEMPTION_ABORTED")
        catalog = admin_pb2.GetRewardRequest(name=reward)
        assert (await admin_stub(channel).GetReward(catalog, metadata=kit.worker)).reward.stock == 3
        # The member can start again with a new request id.
        fresh = await pos.Redeem(pb.RedeemRequest(reward=reward, member_session=session, quantity=1,
                                                  request_id="crash-2"), metadata=till)
        assert fresh.redemption.state == rpb.REDEMPTION_STATE_COMMITTED
        assert (await kit.balance(volunteer)).balance == 60


async def test_recovery_commits_a_redemption_whose_hold_was_posted_before_the_crash(
    kit: Kit, app: RedemptionApp, clock: ManualClock
) -> None:
    """As the two-hop saga before issue 18 left it (PostHold answered, then the crash): a PENDING
    row whose hold is posted is committed by recovery, with the POST transfer the ledger made."""
    till = await kit.terminal()
    volunteer = await kit.volunteer(100)
    reward = await kit.reward(points=25)
    session = await kit.session(till, volunteer)
    original_commit = app.redemptions._commit
    crashed = asyncio.Event()

    async def crash_before_commit(row: Any, hold: Any) -> Any:
        await kit.ledger.PostHold(ledger_pb2.PostHoldRequest(community_path=row.community_path,
                                                             hold_id=row.hold_id), metadata=kit.service)
        crashed.set()
        raise RuntimeError("crash after PostHold")

    app.redemptions._commit = crash_before_commit  # type: ignore[method-assign,assignment]
    request = pb.RedeemRequest(reward=reward, member_session=session, quantity=1, request_id="posted")
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await kit.pos.Redeem(request, metadata=till)
    assert failed.value.code() == grpc.StatusCode.INTERNAL and crashed.is_set()
    app.redemptions._commit = original_commit  # type: ignore[method-assign]
    clock.advance(seconds=31)

    async def committed() -> bool:
        try:
            reply = await kit.pos.Redeem(request, metadata=till)
        except grpc.aio.AioRpcError:
            return False
        return bool(reply.redemption.state == rpb.REDEMPTION_STATE_COMMITTED)
    await wait_until(committed, what="recovery committing the posted redemption")
    b = await kit.balance(volunteer)
    assert (b.balance, b.held) == (75, 0)


async def test_cancelling_a_redeem_the_pos_got_no_answer_for_returns_the_points(
    kit: Kit, app: RedemptionApp
) -> None:
    till = await kit.terminal()
    volunteer = await kit.volunteer(100)
    reward = await kit.reward(points=10, stock=2)
    session = await kit.session(till, volunteer)
    release = asyncio.Event()

    async def slow(row: Any) -> None:
        await release.wait()

    app.redemptions.after_hold = slow
    request = pb.RedeemRequest(reward=reward, member_session=session, quantity=1, request_id="gave-up")
    call = asyncio.ensure_future(kit.pos.Redeem(request, metadata=till))
    await wait_until(lambda: _held(kit, volunteer, 10), what="the hold")
    cancelled = await kit.pos.CancelRedemption(pb.CancelRedemptionRequest(
        parent=f"merchants/{HEALTH}", request_id="gave-up"), metadata=till)
    assert (cancelled.redemption.state, cancelled.redemption.void_reason) == (rpb.REDEMPTION_STATE_VOIDED,
                                                                              "CANCELLED")
    release.set()
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await call  # the original call, resuming, finds its redemption cancelled
    assert error_info(late.value)[0] == "CANCELLED"
    b = await kit.balance(volunteer)
    assert (b.balance, b.held, b.available) == (100, 0, 100)
    stock = await kit.catalog.GetReward(admin_pb2.GetRewardRequest(name=reward), metadata=kit.worker)
    assert stock.reward.stock == 2


async def _held(kit: Kit, volunteer: str, points: int) -> bool:
    return (await kit.balance(volunteer)).held == points


def admin_stub(channel: grpc.aio.Channel) -> Any:
    from linli.redemption.v1 import admin_pb2_grpc
    return admin_pb2_grpc.CatalogServiceStub(channel)


async def test_a_refund_whose_ledger_call_failed_is_finished_by_recovery(
    kit: Kit, app: RedemptionApp, clock: ManualClock
) -> None:
    from linli_redemption.points import PointsUnavailable

    till = await kit.terminal()
    volunteer = await kit.volunteer(100)
    reward = await kit.reward(points=30)
    session = await kit.session(till, volunteer)
    r = (await kit.pos.Redeem(pb.RedeemRequest(reward=reward, member_session=session, quantity=1,
                                               request_id="to-refund"), metadata=till)).redemption
    points = app.redemptions.points
    real_reverse = points.reverse

    async def ledger_down(*args: Any, **kwargs: Any) -> Any:
        raise PointsUnavailable("ReverseTransfer")

    points.reverse = ledger_down  # type: ignore[method-assign]
    request = pb.RefundRedemptionRequest(name=r.name, request_id="rf-down", reason="spoilt")
    with pytest.raises(grpc.aio.AioRpcError) as down:
        await kit.pos.RefundRedemption(request, metadata=till)
    assert (down.value.code(), error_info(down.value)[0]) == (grpc.StatusCode.UNAVAILABLE, "LEDGER_UNAVAILABLE")
    points.reverse = real_reverse  # type: ignore[method-assign]
    clock.advance(seconds=31)

    async def refunded() -> bool:
        return (await kit.balance(volunteer)).balance == 100
    await wait_until(refunded, what="recovery finishing the refund")
    done = await kit.pos.RefundRedemption(request, metadata=till)  # the POS's retry
    assert (done.refund.completed, done.refund.points, done.redemption.refunded_points) == (True, 30, 30)
    assert (await kit.balance(volunteer)).balance == 100
