"""Helpers of a resolved help request through the real event path: notification (its own
database) resolves requests over gRPC, its relay publishes `notification.help_request.credited`
to real NATS, and volunteer-points' consumer credits, holds for approval or refuses each helper
(SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import nats
import pytest
import sqlalchemy as sa
from linli_notification.app import NotificationApp
from linli_points.app import PointsApp
from linli_points.solo_limits import Limits

from linli.events.v1.envelope_pb2 import EventEnvelope
from linli.events.v1.notification_pb2 import HelpRequestResolved
from linli.notification.v1 import notification_pb2 as npb
from linli.notification.v1 import notification_pb2_grpc as npb_grpc
from linli.points.v1 import activities_pb2 as act
from linli.points.v1 import adjustments_pb2 as adj
from linli.points.v1 import ledger_pb2 as led
from linli.points.v1 import volunteers_pb2 as vol
from linli_runtime.clock import ManualClock
from linli_runtime.events import make_event
from linli_runtime.events.tables import DEAD_LETTERS
from linli_runtime.processes import NatsServer
from linli_runtime.testing.waiting import wait_until
from tests.integration.notification.kit import FENGSHU_NAME, SATURDAY_11AM, ms_wan_request

from .conftest import FENGSHU, SHENGJIAN, Metadata, Stubs, applied, expect_error

CONSUMER = "points-help-request-credits"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(SATURDAY_11AM)  # both services on one clock: Ms Wan's Saturday


async def dead_letters(app: PointsApp) -> list[str]:
    async with app.db.engine.connect() as conn:
        return [r.event_id for r in await conn.execute(sa.select(DEAD_LETTERS.c.event_id))]


async def helping_people(s: Stubs, md: Metadata) -> None:
    for vid in ("v-li", "v-zhao", "v-wan"):
        await s.volunteers.CreateVolunteer(vol.CreateVolunteerRequest(volunteer=vol.Volunteer(
            community_path=FENGSHU, volunteer_id=vid, display_name=vid)), metadata=md)
    await s.activities.UpdateTaskCategory(act.UpdateTaskCategoryRequest(task_category=act.TaskCategory(
        community_path=FENGSHU, slug="helping-people-in-difficulty", display_name="帮扶困难人群", default_points=10,
        daily_cap=20), allow_missing=True), metadata=md)


async def test_helpers_must_be_volunteers_within_caps_and_a_workers_limit_needs_a_second_approval(
    app: PointsApp, notification: NotificationApp, stubs: Stubs, token_for: Callable[..., Metadata]
) -> None:
    s = stubs
    zhao, li = token_for("community_worker", subject="worker-zhao"), token_for("community_worker", subject="worker-li")
    await helping_people(s, zhao)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{notification.port}") as channel:
        desk = npb_grpc.HelpRequestServiceStub(channel)
        canteen = token_for("resident", subject="canteen-staff-liu")

        async def resolve(worker: Metadata, helpers: list[str]) -> str:
            filed = (await desk.CreateHelpRequest(npb.CreateHelpRequestRequest(
                parent=FENGSHU_NAME, help_request=ms_wan_request()), metadata=canteen)).help_request
            await desk.AcknowledgeHelpRequest(npb.AcknowledgeHelpRequestRequest(name=filed.name), metadata=worker)
            await desk.ResolveHelpRequest(npb.ResolveHelpRequestRequest(
                name=filed.name, resolution="送餐到家", helper_ids=helpers), metadata=worker)
            return str(filed.name)

        async def credits_for(count: int) -> list[act.HelpCredit]:
            listing = act.ListHelpCreditsRequest(community_path=FENGSHU)

            async def enough() -> bool:
                return len((await s.activities.ListHelpCredits(listing, metadata=li)).help_credits) >= count

            await wait_until(enough, what=f"{count} help credits recorded")
            page = await s.activities.ListHelpCredits(act.ListHelpCreditsRequest(community_path=FENGSHU), metadata=li)
            return list(page.help_credits)

        # A worker names a real volunteer twice and a volunteer id that does not exist.
        first = await resolve(zhao, ["v-li", "ghost-999", "v-li"])
        got = {(c.help_request, c.volunteer_id): c for c in await credits_for(2)}
        assert (got[first, "v-li"].state, got[first, "v-li"].points) == (act.HELP_CREDIT_STATE_CREDITED, 10)
        assert got[first, "v-li"].resolved_by == "worker-zhao"
        ghost = got[first, "ghost-999"]
        assert (ghost.state, ghost.points, ghost.transfer_id) == (act.HELP_CREDIT_STATE_NOT_A_VOLUNTEER, 0, "")
        assert "not a volunteer" in ghost.note
        ghost_balance = await s.ledger.GetBalance(led.GetBalanceRequest(
            community_path=FENGSHU, account="volunteers/ghost-999"), metadata=li)
        assert (ghost_balance.balance, ghost_balance.earned) == (0, 0)

        # The category's daily cap (20) binds the helper; the worker's daily limit (30) binds the worker.
        second = await resolve(zhao, ["v-li", "v-zhao"])
        third = await resolve(zhao, ["v-li", "v-wan"])
        got = {(c.help_request, c.volunteer_id): c for c in await credits_for(6)}
        assert [(got[second, v].state, got[second, v].points) for v in ("v-li", "v-zhao")] == [
            (act.HELP_CREDIT_STATE_CREDITED, 10)] * 2
        assert got[third, "v-li"].state == act.HELP_CREDIT_STATE_CAPPED
        held = got[third, "v-wan"]
        assert (held.state, held.points) == (act.HELP_CREDIT_STATE_AWAITING_APPROVAL, 10)
        assert "daily limit of 30" in held.note

        # Held: an adjustment in the resolving worker's name, which only another account approves.
        approve = adj.ApproveAdjustmentRequest(community_path=FENGSHU, adjustment_id=held.adjustment_id)
        await expect_error(s.adjustments.ApproveAdjustment(approve, metadata=zhao),
                           grpc.StatusCode.FAILED_PRECONDITION, "SAME_APPROVER")
        wan = await s.ledger.GetBalance(led.GetBalanceRequest(community_path=FENGSHU, account="volunteers/v-wan"),
                                        metadata=li)
        assert wan.balance == 0, "nothing credited before the second approval"
        approved = (await s.adjustments.ApproveAdjustment(approve, metadata=li)).adjustment
        assert (approved.proposed_by, approved.decided_by, approved.category, approved.source) == (
            "worker-zhao", "worker-li", "helping-people-in-difficulty", third)
        history = await s.ledger.ListTransfers(led.ListTransfersRequest(
            community_path=FENGSHU, account="volunteers/v-wan"), metadata=li)
        assert [(e.transfer.reason, e.change) for e in history.entries] == [("helping-people-in-difficulty", 10)]

        # Another worker's limit is their own.
        fourth = await resolve(li, ["v-zhao"])
        got = {(c.help_request, c.volunteer_id): c for c in await credits_for(7)}
        assert got[fourth, "v-zhao"].state == act.HELP_CREDIT_STATE_CREDITED

    balances = {v: (await s.ledger.GetBalance(led.GetBalanceRequest(
        community_path=FENGSHU, account=f"volunteers/{v}"), metadata=li)).balance for v in ("v-li", "v-zhao", "v-wan")}
    assert balances == {"v-li": 20, "v-zhao": 20, "v-wan": 10}
    assert await dead_letters(app) == [], "refused helpers are recorded, not dead letters"


async def test_a_report_repeated_or_malformed_is_applied_once_or_dead_lettered(
    app: PointsApp, stubs: Stubs, as_worker: Metadata, nats_server: NatsServer, clock: ManualClock,
    token_for: Callable[..., Metadata]
) -> None:
    s = stubs
    await helping_people(s, as_worker)
    await app.bus.wait_ready(15)
    request = f"{FENGSHU}/helpRequests/h-wan-meal"
    payload = HelpRequestResolved(help_request=request, community_path=FENGSHU, category="meal",
                                  volunteer_ids=["v-li", "v-zhao", "v-li", "x" * 300], resolved_by="worker-zhao")
    # the same request reported by two events (a retrying publisher): credited once
    reports = [make_event("notification.help_request.credited", payload, org_scope=FENGSHU, source="notification")
               for _ in range(2)]
    no_request = make_event("notification.help_request.credited", HelpRequestResolved(community_path=FENGSHU),
                            org_scope=FENGSHU, source="notification")
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()

    async def publish(*envelopes: EventEnvelope) -> None:
        for envelope in envelopes:
            await js.publish(envelope.subject, envelope.SerializeToString(),
                             headers={"Nats-Msg-Id": envelope.event_id})

    await publish(*reports, no_request)

    await wait_until(lambda: applied(app.db, CONSUMER, [e.event_id for e in reports]),
                     what="the consumer to apply both reports")

    async def dead_lettered() -> bool:
        return no_request.event_id in await dead_letters(app)

    await wait_until(dead_lettered, what="the report naming no request to be dead-lettered")
    for v in ("v-li", "v-zhao"):
        history = await s.ledger.ListTransfers(led.ListTransfersRequest(
            community_path=FENGSHU, account=f"volunteers/{v}"), metadata=as_worker)
        assert [(e.transfer.reason, e.change, e.transfer.source) for e in history.entries] == [
            ("helping-people-in-difficulty", 10, request)]
    page = await s.activities.ListHelpCredits(act.ListHelpCreditsRequest(community_path=FENGSHU), metadata=as_worker)
    assert sorted((c.volunteer_id, c.state) for c in page.help_credits) == [
        ("v-li", act.HELP_CREDIT_STATE_CREDITED), ("v-zhao", act.HELP_CREDIT_STATE_CREDITED),
        ("x" * 64, act.HELP_CREDIT_STATE_NOT_A_VOLUNTEER)]
    assert await dead_letters(app) == [no_request.event_id]

    # Two days on (the same month): a volunteer of another community is not one of this one's,
    # and the worker's monthly limit counts the days before (the settings' limits, lowered here).
    await s.volunteers.CreateVolunteer(vol.CreateVolunteerRequest(volunteer=vol.Volunteer(
        community_path=SHENGJIAN, volunteer_id="v-chen", display_name="陈")),
        metadata=token_for("community_worker", scope=SHENGJIAN))
    app.help_credits.limits = Limits(daily=30, monthly=25)
    clock.advance(days=2)
    later = f"{FENGSHU}/helpRequests/h-zhang-errand"
    third = make_event("notification.help_request.credited", HelpRequestResolved(
        help_request=later, community_path=FENGSHU, category="errand", volunteer_ids=["v-wan", "v-chen"],
        resolved_by="worker-zhao"), org_scope=FENGSHU, source="notification")
    await publish(third)
    await nc.close()
    await wait_until(lambda: applied(app.db, CONSUMER, [third.event_id]), what="the consumer to apply the report")
    page = await s.activities.ListHelpCredits(act.ListHelpCreditsRequest(community_path=FENGSHU), metadata=as_worker)
    got = {c.volunteer_id: c for c in page.help_credits if c.help_request == later}
    assert (got["v-chen"].state, got["v-chen"].points) == (act.HELP_CREDIT_STATE_NOT_A_VOLUNTEER, 0)
    assert (got["v-wan"].state, got["v-wan"].points) == (act.HELP_CREDIT_STATE_AWAITING_APPROVAL, 10)
    assert "worker-zhao has credited 20 of a monthly limit of 25" in got["v-wan"].note
    elsewhere = await s.ledger.GetBalance(led.GetBalanceRequest(community_path=SHENGJIAN, account="volunteers/v-chen"),
                                          metadata=token_for("community_worker", scope=SHENGJIAN))
    assert elsewhere.balance == 0


async def test_help_credits_are_read_only_within_scope(stubs: Stubs, token_for: Callable[..., Metadata]) -> None:
    listing = act.ListHelpCreditsRequest(community_path=FENGSHU)
    await expect_error(stubs.activities.ListHelpCredits(listing, metadata=token_for(
        "community_worker", scope="chengdu/chongzhou")), grpc.StatusCode.PERMISSION_DENIED)
    await expect_error(stubs.activities.ListHelpCredits(listing, metadata=token_for("volunteer", subject="v-li")),
                       grpc.StatusCode.PERMISSION_DENIED)
    await expect_error(stubs.activities.ListHelpCredits(act.ListHelpCreditsRequest(
        community_path=FENGSHU, page_token="forged"), metadata=token_for("party_committee")),
        grpc.StatusCode.INVALID_ARGUMENT, field="page_token")
