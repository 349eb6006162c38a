"""Help requests through the real gRPC API, real NATS and both databases, with a ManualClock:
Saturday routing, alternatives, escalation once per level, the lifecycle with who/when,
follow-ups, thanks, request ids and scope."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc
import pytest
from linli_notification.sweeper import Sweeper

from linli.events.v1 import notification_pb2 as ev
from linli.events.v1.envelope_pb2 import EventEnvelope
from linli.notification.v1 import notification_pb2 as pb
from linli_runtime.events.streams import NOTIFICATION
from linli_runtime.testing.published import published_envelopes
from linli_runtime.testing.waiting import wait_until
from tests.integration.notification.kit import CHEN, FENGSHU, FENGSHU_NAME, HE, LI, SUN, ZHAO, Harness, ms_wan_request


async def file_request(h: Harness, request_id: str = "", **overrides: object) -> pb.HelpRequest:
    reply = await h.help.CreateHelpRequest(pb.CreateHelpRequestRequest(
        parent=FENGSHU_NAME, help_request=ms_wan_request(**overrides), request_id=request_id),
        metadata=h.md("canteen-staff-liu", role="resident"))
    return reply.help_request


async def published_subjects(h: Harness) -> list[str]:
    """The subjects of what the service published, in order (its stream, once all is sent)."""
    return [subject for subject, _ in await published_envelopes(h.app.db, h.app.bus.js, NOTIFICATION.name)]


async def test_saturday_request_goes_to_the_saturday_duty_worker_and_skips_the_closed_canteen(h: Harness) -> None:
    request = await file_request(h)
    assert request.status == pb.STATUS_ASSIGNED
    assert request.assignee_id == ZHAO, "Saturday's duty worker in the demo roster"
    assert request.escalation_level == 0
    assert [s.display_name for s in request.suggestions] == ["邻家小馆"], "枫香小厨 is closed on Saturday"
    assert [(c.from_status, c.to_status, c.actor_id) for c in request.history] == [
        (pb.STATUS_UNSPECIFIED, pb.STATUS_SUBMITTED, "canteen-staff-liu"),
        (pb.STATUS_ASSIGNED - 1, pb.STATUS_ASSIGNED, "system"),
    ]
    assert request.acknowledge_by.ToDatetime() == (h.clock.now() + timedelta(minutes=30)).replace(tzinfo=None)
    # On a weekday morning the same request goes to the weekday worker and the canteen is open.
    h.clock.set(h.clock.now() + timedelta(days=2))  # Monday 11:00
    monday = await file_request(h)
    assert monday.assignee_id == LI
    assert [s.display_name for s in monday.suggestions] == ["枫香小厨", "邻家小馆"]


async def test_no_acknowledgement_escalates_exactly_once_per_level(h: Harness) -> None:
    request = await file_request(h)  # high urgency: 30 minutes to acknowledge
    assert (await h.app.sweeper.run_once()).escalated == 0
    h.clock.advance(minutes=29)
    assert (await h.app.sweeper.run_once()).escalated == 0, "not overdue yet"
    h.clock.advance(minutes=2)
    # Several sweepers at once (replicas) still escalate only once.
    results = await asyncio.gather(*(h.app.sweeper.run_once() for _ in range(3)),
                                   Sweeper(h.app.helpdesk, h.app.dispatcher).run_once())
    assert sum(r.escalated for r in results) == 1
    got = (await h.help.GetHelpRequest(pb.GetHelpRequestRequest(name=request.name), metadata=h.md())).help_request
    assert (got.escalation_level, got.assignee_id) == (1, SUN), "Saturday's backup"
    assert (await h.app.sweeper.run_once()).escalated == 0
    h.clock.advance(minutes=31)
    assert (await h.app.sweeper.run_once()).escalated == 1
    got = (await h.help.GetHelpRequest(pb.GetHelpRequestRequest(name=request.name), metadata=h.md())).help_request
    assert (got.escalation_level, got.assignee_id) == (2, HE), "the community head"
    h.clock.advance(hours=5)
    for _ in range(3):
        assert (await h.app.sweeper.run_once()).escalated == 0, "nobody above the head"
    subjects = await published_subjects(h)
    assert subjects.count("notification.help_request.escalated") == 2
    assert [c.note for c in got.history if "escalated" in c.note] == [
        "not acknowledged in time: escalated to the backup",
        "not acknowledged in time: escalated to the community head"]
    # Acknowledging stops it: the head takes it.
    acked = (await h.help.AcknowledgeHelpRequest(pb.AcknowledgeHelpRequestRequest(name=request.name),
                                                 metadata=h.md(HE))).help_request
    assert acked.status == pb.STATUS_ACKNOWLEDGED and not acked.HasField("acknowledge_by")


async def test_acknowledged_in_time_never_escalates(h: Harness) -> None:
    request = await file_request(h)
    h.clock.advance(minutes=5)
    await h.help.AcknowledgeHelpRequest(pb.AcknowledgeHelpRequestRequest(name=request.name), metadata=h.md())
    h.clock.advance(hours=3)
    assert (await h.app.sweeper.run_once()).escalated == 0


async def test_lifecycle_records_who_and_when_schedules_follow_ups_and_thanks(h: Harness) -> None:
    await h.bind("volunteer-007", "volunteer-012")  # the helpers, thanked in their accounts' inboxes
    request = await file_request(h)
    name = request.name
    md = h.md(ZHAO)
    h.clock.advance(minutes=3)
    await h.help.AcknowledgeHelpRequest(pb.AcknowledgeHelpRequestRequest(name=name), metadata=md)
    await h.help.StartHelpRequest(pb.StartHelpRequestRequest(name=name, note="从邻家小馆订餐"), metadata=md)
    h.clock.advance(minutes=40)
    resolved = (await h.help.ResolveHelpRequest(pb.ResolveHelpRequestRequest(
        name=name, resolution="邻家小馆送餐到家", helper_ids=["volunteer-007", "volunteer-012"]),
        metadata=md)).help_request
    assert resolved.status == pb.STATUS_RESOLVED
    assert [f.day_offset for f in resolved.follow_ups] == [1, 3, 7]
    assert [c.to_status for c in resolved.history] == [
        pb.STATUS_SUBMITTED, pb.STATUS_ASSIGNED, pb.STATUS_ACKNOWLEDGED, pb.STATUS_IN_PROGRESS, pb.STATUS_RESOLVED]
    assert [c.actor_id for c in resolved.history][2:] == [ZHAO] * 3
    assert resolved.history[-1].change_time.ToDatetime() == h.clock.now().replace(tzinfo=None)

    # Day 1 (Sunday): the follow-up goes to Sunday's duty worker.
    h.clock.advance(days=1)
    assert (await h.app.sweeper.run_once()).follow_ups == 1
    assert (await h.app.sweeper.run_once()).follow_ups == 0, "assigned once"
    got = (await h.help.GetHelpRequest(pb.GetHelpRequestRequest(name=name), metadata=md)).help_request
    assert got.follow_ups[0].assignee_id == SUN and not got.follow_ups[1].assignee_id
    followed = (await h.help.RecordFollowUp(pb.RecordFollowUpRequest(
        name=got.follow_ups[0].name, note="精神好多了"), metadata=h.md(SUN))).help_request
    assert followed.status == pb.STATUS_FOLLOWED_UP and followed.follow_ups[0].done_by == SUN
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await h.help.RecordFollowUp(pb.RecordFollowUpRequest(name=got.follow_ups[0].name, note="x"), metadata=md)
    assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    thanks = pb.Thanks(kind="banner", text="排忧解难办实事 服务居民暖人心")
    setattr(thanks, "from", "万阿姨")
    thanked = (await h.help.RecordThanks(pb.RecordThanksRequest(name=name, thanks=thanks),
                                         metadata=md)).help_request
    assert list(thanked.thanks[0].recipient_ids) == [ZHAO, "volunteer-007", "volunteer-012"]
    closed = (await h.help.CloseHelpRequest(pb.CloseHelpRequestRequest(name=name, note="康复"),
                                            metadata=md)).help_request
    assert closed.status == pb.STATUS_CLOSED

    subjects = await published_subjects(h)
    assert subjects.count("notification.help_request.credited") == 1
    for verb in ("submitted", "assigned", "acknowledged", "started", "resolved", "followed_up", "closed"):
        assert f"notification.help_request.{verb}" in subjects
    # The credit event reaches the bus with the helpers, for volunteer-points.
    async def credited_on_bus() -> bool:
        try:
            msg = await h.app.bus.js.get_last_msg("NOTIFICATION", "notification.help_request.credited")
        except Exception:
            return False
        payload = ev.HelpRequestResolved()
        EventEnvelope.FromString(msg.data).payload.Unpack(payload)
        return list(payload.volunteer_ids) == ["volunteer-007", "volunteer-012"]
    await wait_until(credited_on_bus, what="credited event on the NOTIFICATION stream")
    # Thanks reached the people thanked, through our own events.
    await wait_until(lambda: _has_kind(h, "volunteer-007", "thanks.recorded"), what="thanks notice")


async def _has_kind(h: Harness, recipient: str, kind: str) -> bool:
    return any(n.kind == kind for n in await h.notices_of(recipient))


async def test_wrong_transitions_are_failed_precondition_and_change_nothing(h: Harness) -> None:
    request = await file_request(h)
    for call, req in (
        (h.help.ResolveHelpRequest, pb.ResolveHelpRequestRequest(name=request.name, resolution="done")),
        (h.help.StartHelpRequest, pb.StartHelpRequestRequest(name=request.name)),
        (h.help.CloseHelpRequest, pb.CloseHelpRequestRequest(name=request.name)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(req, metadata=h.md())
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    thanks = pb.Thanks(kind="message", text="谢谢")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await h.help.RecordThanks(pb.RecordThanksRequest(name=request.name, thanks=thanks), metadata=h.md())
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    got = (await h.help.GetHelpRequest(pb.GetHelpRequestRequest(name=request.name), metadata=h.md())).help_request
    assert got.status == pb.STATUS_ASSIGNED and len(got.history) == 2
    cancelled = (await h.help.CancelHelpRequest(pb.CancelHelpRequestRequest(
        name=request.name, reason="女儿回来照顾了"), metadata=h.md("canteen-staff-liu", role="resident"))).help_request
    assert cancelled.status == pb.STATUS_CANCELLED
    h.clock.advance(hours=2)
    assert (await h.app.sweeper.run_once()).escalated == 0, "a cancelled request never escalates"


async def test_same_request_id_gives_the_same_answer_and_other_content_is_refused(h: Harness) -> None:
    first = await file_request(h, request_id="req-wan-1")
    again = await file_request(h, request_id="req-wan-1")
    assert again == first
    concurrent = await asyncio.gather(*(file_request(h, request_id="req-wan-2") for _ in range(4)))
    assert len({r.name for r in concurrent}) == 1
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await file_request(h, request_id="req-wan-1", description="另一件事")
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    listed = await h.help.ListHelpRequests(pb.ListHelpRequestsRequest(parent=FENGSHU_NAME), metadata=h.md())
    assert len(listed.help_requests) == 2


async def test_nobody_on_duty_goes_to_the_head_and_no_head_waits_for_the_roster(h: Harness) -> None:
    other = "chengdu/jinjiang/chenglonglu/other"
    other_name = "communities/chengdu~jinjiang~chenglonglu~other"
    await h.learn_place(other)
    admin = h.md("op", role="city_operator", scope="chengdu")
    reply = await h.help.CreateHelpRequest(pb.CreateHelpRequestRequest(
        parent=other_name, help_request=ms_wan_request(compound_path="")), metadata=admin)
    assert reply.help_request.status == pb.STATUS_SUBMITTED, "no roster, no head: waits"
    await h.grant_worker("worker-x", "head-y", path=other)
    await h.roster.CreateDutyShift(pb.CreateDutyShiftRequest(parent=other_name, duty_shift=pb.DutyShift(
        weekday=6, start_time="00:00", end_time="24:00", worker_id="worker-x")), metadata=admin)
    assert (await h.app.sweeper.run_once()).routed == 1
    got = (await h.help.GetHelpRequest(pb.GetHelpRequestRequest(name=reply.help_request.name),
                                       metadata=admin)).help_request
    assert (got.status, got.assignee_id) == (pb.STATUS_ASSIGNED, "worker-x")
    # No backup: escalation goes straight to the head once one is named.
    await h.roster.UpdateCommunitySettings(pb.UpdateCommunitySettingsRequest(settings=pb.CommunitySettings(
        name=f"{other_name}/settings", head_id="head-y", sla_high_minutes=5)), metadata=admin)
    h.clock.advance(minutes=31)
    assert (await h.app.sweeper.run_once()).escalated == 1
    got = (await h.help.GetHelpRequest(pb.GetHelpRequestRequest(name=got.name), metadata=admin)).help_request
    assert (got.escalation_level, got.assignee_id) == (2, "head-y")
    assert other in got.community_path


async def test_duty_swap_and_holiday_roster_route_accordingly(h: Harness) -> None:
    staff = h.md(HE)
    await h.roster.CreateDutySwap(pb.CreateDutySwapRequest(parent=FENGSHU_NAME, duty_swap=pb.DutySwap(
        date="2026-11-07", from_worker_id=ZHAO, to_worker_id=LI)), metadata=staff)
    on_duty = await h.roster.GetOnDuty(pb.GetOnDutyRequest(parent=FENGSHU_NAME), metadata=staff)
    assert (on_duty.worker_id, on_duty.backup_id, on_duty.head_id) == (LI, SUN, HE)
    assert (await file_request(h)).assignee_id == LI
    # A holiday roster on Monday 9 November replaces the weekday shifts.
    await h.roster.CreateDutyShift(pb.CreateDutyShiftRequest(parent=FENGSHU_NAME, duty_shift=pb.DutyShift(
        date="2026-11-09", start_time="00:00", end_time="24:00", worker_id=SUN, note="holiday")),
        metadata=staff)
    h.clock.advance(days=2)
    assert (await file_request(h)).assignee_id == SUN


async def test_a_worker_sees_only_their_communitys_requests(h: Harness) -> None:
    request = await file_request(h)
    elsewhere = h.md("worker-q", scope="chengdu/jinjiang/chenglonglu/fengshu2")
    calls = [
        (h.help.GetHelpRequest, pb.GetHelpRequestRequest(name=request.name)),
        (h.help.ListHelpRequests, pb.ListHelpRequestsRequest(parent=FENGSHU_NAME)),
        (h.help.AcknowledgeHelpRequest, pb.AcknowledgeHelpRequestRequest(name=request.name)),
        (h.roster.ListDutyShifts, pb.ListDutyShiftsRequest(parent=FENGSHU_NAME)),
        (h.roster.GetOnDuty, pb.GetOnDutyRequest(parent=FENGSHU_NAME)),
    ]
    for call, req in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(req, metadata=elsewhere)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, call
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(req)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # A resident may file for their compound but not run the request.
    resident = h.md("canteen-staff-liu", role="resident", scope=f"{FENGSHU}/jinshang-chuntian")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await h.help.AcknowledgeHelpRequest(pb.AcknowledgeHelpRequestRequest(name=request.name), metadata=resident)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    own = await h.help.CreateHelpRequest(pb.CreateHelpRequestRequest(
        parent=FENGSHU_NAME, help_request=ms_wan_request()), metadata=resident)
    assert own.help_request.assignee_id == ZHAO
    followed = await h.help.GetHelpRequest(pb.GetHelpRequestRequest(name=own.help_request.name), metadata=resident)
    assert followed.help_request.name == own.help_request.name, "the reporter follows their own request"
    neighbour = h.md("neighbour-2", role="resident", scope=f"{FENGSHU}/jinshang-chuntian")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await h.help.GetHelpRequest(pb.GetHelpRequestRequest(name=own.help_request.name), metadata=neighbour)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    mine = await h.help.ListHelpRequests(pb.ListHelpRequestsRequest(parent=FENGSHU_NAME, page_size=1),
                                         metadata=h.md())
    assert len(mine.help_requests) == 1 and mine.next_page_token
    rest = await h.help.ListHelpRequests(pb.ListHelpRequestsRequest(
        parent=FENGSHU_NAME, page_size=1, page_token=mine.next_page_token), metadata=h.md())
    assert rest.help_requests[0].name == request.name and not rest.next_page_token


async def test_concurrent_acknowledgements_one_wins_and_the_sweeper_never_escalates_after(h: Harness) -> None:
    request = await file_request(h)
    h.clock.advance(minutes=31)  # overdue: the sweeper races the acknowledgements
    calls = [h.help.AcknowledgeHelpRequest(pb.AcknowledgeHelpRequestRequest(name=request.name), metadata=h.md(w))
             for w in (ZHAO, SUN, HE)]
    results = await asyncio.gather(*calls, h.app.sweeper.run_once(), return_exceptions=True)
    acks = results[:3]
    won = [r for r in acks if not isinstance(r, BaseException)]
    assert len(won) == 1
    assert {r.code() for r in acks if isinstance(r, grpc.aio.AioRpcError)} <= {
        grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ABORTED}
    h.clock.advance(hours=3)
    assert (await h.app.sweeper.run_once()).escalated == 0
    got = (await h.help.GetHelpRequest(pb.GetHelpRequestRequest(name=request.name), metadata=h.md())).help_request
    assert [c.to_status for c in got.history].count(pb.STATUS_ACKNOWLEDGED) == 1
    assert got.status == pb.STATUS_ACKNOWLEDGED and got.escalation_level <= 1


async def test_communities_dash_lists_every_community_within_the_callers_scope(h: Harness) -> None:
    await file_request(h)
    operator = h.md("op", role="city_operator", scope="chengdu")
    await h.help.CreateHelpRequest(pb.CreateHelpRequestRequest(
        parent="communities/chengdu~chongzhou~longxing~longxing-community",
        help_request=ms_wan_request(compound_path="")),
        metadata=operator)
    everything = await h.help.ListHelpRequests(pb.ListHelpRequestsRequest(parent="communities/-"),
                                               metadata=operator)
    assert len(everything.help_requests) == 2
    fengshu_only = await h.help.ListHelpRequests(pb.ListHelpRequestsRequest(parent="communities/-"),
                                                 metadata=h.md())
    assert [r.community_path for r in fengshu_only.help_requests] == [FENGSHU]
    sibling = await h.help.ListHelpRequests(pb.ListHelpRequestsRequest(parent="communities/-"),
                                            metadata=h.md("q", scope="chengdu/jinjiang/chenglonglu/fengs"))
    assert list(sibling.help_requests) == [], "a name that merely starts the same is another community"


async def test_a_retried_transition_with_its_request_id_gets_the_first_answer(h: Harness) -> None:
    request = await file_request(h)
    ack = pb.AcknowledgeHelpRequestRequest(name=request.name, request_id="ack-1")
    first = await h.help.AcknowledgeHelpRequest(ack, metadata=h.md())
    h.clock.advance(minutes=5)
    again = await h.help.AcknowledgeHelpRequest(ack, metadata=h.md())
    assert again == first, "a retry (lost reply) is answered, not refused as an invalid transition"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await h.help.AcknowledgeHelpRequest(pb.AcknowledgeHelpRequestRequest(name=request.name), metadata=h.md())
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION, "without the id it is a second ack"
    resolve = pb.ResolveHelpRequestRequest(name=request.name, resolution="送餐", helper_ids=["volunteer-007"],
                                           request_id="resolve-1")
    resolved = await h.help.ResolveHelpRequest(resolve, metadata=h.md())
    assert await h.help.ResolveHelpRequest(resolve, metadata=h.md()) == resolved
    assert (await published_subjects(h)).count("notification.help_request.credited") == 1, "credited once"
    mine = await h.help.ListHelpRequests(pb.ListHelpRequestsRequest(parent=FENGSHU_NAME, assignee_id=ZHAO),
                                         metadata=h.md())
    assert [r.name for r in mine.help_requests] == [request.name]
    others = await h.help.ListHelpRequests(pb.ListHelpRequestsRequest(parent=FENGSHU_NAME, assignee_id=LI),
                                           metadata=h.md())
    assert list(others.help_requests) == []
    # The canteen staff who filed it heard that someone took it, and that it was resolved.
    async def told() -> bool:
        return {n.kind for n in await h.notices_of("canteen-staff-liu")} == {
            "help_request.acknowledged", "help_request.resolved"}
    await wait_until(told, what="reporter notices")


async def test_roster_and_providers_through_the_api(h: Harness) -> None:
    from google.protobuf.timestamp_pb2 import Timestamp

    staff = h.md(HE)
    monday_9am = Timestamp()
    monday_9am.FromDatetime(h.clock.now() + timedelta(days=2, hours=-2))  # Monday 09:00 local
    on_duty = await h.roster.GetOnDuty(pb.GetOnDutyRequest(parent=FENGSHU_NAME, time=monday_9am), metadata=staff)
    assert (on_duty.worker_id, on_duty.backup_id) == (LI, CHEN)
    await h.grant_worker("worker-wu")
    made = (await h.roster.CreateDutyShift(pb.CreateDutyShiftRequest(
        parent=FENGSHU_NAME, request_id="shift-1", duty_shift=pb.DutyShift(
            weekday=1, start_time="08:30", end_time="12:00", worker_id="worker-wu", backup_id=LI)),
        metadata=staff)).duty_shift
    on_duty = await h.roster.GetOnDuty(pb.GetOnDutyRequest(parent=FENGSHU_NAME, time=monday_9am), metadata=staff)
    assert on_duty.worker_id == "worker-wu" and on_duty.duty_shift == made.name
    await h.roster.DeleteDutyShift(pb.DeleteDutyShiftRequest(name=made.name), metadata=staff)
    on_duty = await h.roster.GetOnDuty(pb.GetOnDutyRequest(parent=FENGSHU_NAME, time=monday_9am), metadata=staff)
    assert on_duty.worker_id == LI
    pages, token = [], ""
    while True:
        page = await h.roster.ListDutyShifts(pb.ListDutyShiftsRequest(
            parent=FENGSHU_NAME, page_size=5, page_token=token), metadata=staff)
        pages.append(len(page.duty_shifts))
        token = page.next_page_token
        if not token:
            break
    assert pages == [5, 5, 2]
    shop = (await h.roster.CreateProvider(pb.CreateProviderRequest(parent=FENGSHU_NAME, provider=pb.Provider(
        display_name="社区卫生服务中心", category="medical", phone="028-1", opening_hours=[
            pb.OpeningHours(weekday=6, open_time="08:00", close_time="12:00")])), metadata=staff)).provider
    listed = await h.roster.ListProviders(pb.ListProvidersRequest(parent=FENGSHU_NAME, category="medical"),
                                          metadata=staff)
    assert [p.name for p in listed.providers] == [shop.name]
    assert [s.display_name for s in (await file_request(h, category="medical")).suggestions] == ["社区卫生服务中心"]
    settings = (await h.roster.GetCommunitySettings(pb.GetCommunitySettingsRequest(
        name=f"{FENGSHU_NAME}/settings"), metadata=staff)).settings
    assert (settings.head_id, settings.sla_high_minutes, settings.utc_offset_minutes) == (HE, 30, 480)
