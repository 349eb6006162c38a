"""Needs meet resources (issue 14, item 7), on SQLite and PostgreSQL with real NATS: a need is
recorded against the member unit on duty when it came in; SuggestResources ranks the resources
that could meet it (category, community, availability) with the reason for each; a match
becomes a project with an owner that moves open → in progress → done or cancelled, with its
history and events; CreateNeed and CreateResource take request ids; the demo data holds the 8
(illustrative) flagship projects. Bad input on every new field, and callers outside the scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import grpc
import nats
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from linli_identity.testing import TestIssuer

from linli.events.v1 import redemption_pb2 as events
from linli.events.v1.envelope_pb2 import EventEnvelope
from linli.redemption.v1 import admin_pb2, community_pb2_grpc
from linli.redemption.v1 import community_pb2 as pb
from linli.redemption.v1 import resources_pb2 as rpb
from linli_runtime.clock import ManualClock
from linli_runtime.processes import NatsServer
from linli_runtime.testing.errors import error_info
from linli_runtime.testing.waiting import wait_until

from .conftest import FENGSHU, Kit, Metadata, bearer

STREET = "chengdu/jinjiang/chenglonglu"
NEIGHBOUR = "chengdu/jinjiang/chenglonglu/hongxing"
SATURDAY_NOON = datetime(2026, 11, 7, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


def stamp(when: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(when)
    return out


async def refusal(call: Any, request: Any, md: Metadata) -> tuple[grpc.StatusCode, str, list[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(request, metadata=md)
    reason, fields = error_info(caught.value)
    return caught.value.code(), reason, fields


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> community_pb2_grpc.CommunityServiceStub:
    return community_pb2_grpc.CommunityServiceStub(channel)


async def test_a_need_is_matched_with_ranked_resources_and_met_by_a_project(
        kit: Kit, stub: community_pb2_grpc.CommunityServiceStub, nats_server: NatsServer) -> None:
    md = kit.worker
    nc = await nats.connect(nats_server.url)
    seen: list[EventEnvelope] = []

    async def on_message(msg: Any) -> None:
        seen.append(EventEnvelope.FromString(msg.data))

    await nc.subscribe("redemption.>", cb=on_message)
    try:
        # The demo's weekly rotation (from Monday 2026-01-05, 41 units): week 44 is unit 45 % 41 = 4 → unit 05.
        periods = await stub.ListDutyPeriods(pb.ListDutyPeriodsRequest(community_path=FENGSHU, from_date="2026-11-07",
                                                                       page_size=1), metadata=md)
        on_duty = periods.periods[0].partner_id
        request = pb.CreateNeedRequest(community_path=FENGSHU, title="周六独居老人送餐", category="elderly-meals",
                                       raised_by="枫香小厨工作人员", receive_time=stamp(SATURDAY_NOON),
                                       request_id="need-wan-1")
        need = (await stub.CreateNeed(request, metadata=md)).need
        assert (need.duty_partner_id, need.state, need.receive_time.ToDatetime(tzinfo=UTC)) == (
            on_duty, pb.NEED_STATE_OPEN, SATURDAY_NOON)
        assert (await stub.CreateNeed(request, metadata=md)).need == need  # a retry: the same need
        changed = pb.CreateNeedRequest()
        changed.CopyFrom(request)
        changed.title = "别的需求"
        assert (await refusal(stub.CreateNeed, changed, md))[:2] == (grpc.StatusCode.ALREADY_EXISTS,
                                                                     "REQUEST_ID_REUSED")

        # A resource of the unit on duty, weekdays only, room for one project; created once per request id.
        offer = pb.CreateResourceRequest(community_path=FENGSHU, title="值班单位食堂午餐", category="elderly-meals",
                                         partner_id=on_duty, weekdays=[1, 2, 3, 4, 5], capacity=1,
                                         available_from="2026-01-01", request_id="offer-1")
        duty_meals = (await stub.CreateResource(offer, metadata=md)).resource
        assert (await stub.CreateResource(offer, metadata=md)).resource == duty_meals
        assert (list(duty_meals.weekdays), duty_meals.capacity, duty_meals.available_from) == (
            [1, 2, 3, 4, 5], 1, "2026-01-01")

        suggested = await stub.SuggestResources(pb.SuggestResourcesRequest(community_path=FENGSHU,
                                                                           need_id=need.need_id), metadata=md)
        ranked = [(s.rank, s.resource.resource_id, s.available) for s in suggested.suggestions]
        # The demo's weekend delivery serves on Saturdays; the unit on duty's lunches do not, but it is on duty;
        # the demo canteen serves weekdays with one of two places left.
        assert [r[1] for r in ranked] == ["res-demo-weekend-meal-delivery", duty_meals.resource_id,
                                          "res-demo-elderly-meals"]
        assert all(available for _, _, available in ranked) and [r[0] for r in ranked] == [1, 2, 3]
        first, second, third = suggested.suggestions
        assert {r.code for r in first.reasons} >= {"CATEGORY_MATCH", "AVAILABLE", "SAME_COMMUNITY",
                                                    "SERVES_THAT_DAY"}
        assert {r.code for r in second.reasons} >= {"ON_DUTY_UNIT", "NOT_THAT_DAY", "CAPACITY_LEFT"}
        assert "周六不提供服务" in [r.description for r in second.reasons]
        assert first.score > second.score > third.score and first.partner_display_name == "红枫社区合伙人03"
        assert suggested.need.need_id == need.need_id

        # The match becomes a project with an owner; the need is matched, and cannot be matched twice.
        project = (await stub.CreateProject(pb.CreateProjectRequest(
            community_path=FENGSHU, title="周六送餐", need_id=need.need_id, owner="红枫社区合伙人03",
            resource_ids=[duty_meals.resource_id, "res-demo-weekend-meal-delivery"], request_id="prj-1"),
            metadata=md)).project
        assert project.state == pb.PROJECT_STATE_OPEN
        assert (await refusal(stub.CreateProject, pb.CreateProjectRequest(
            community_path=FENGSHU, title="again", need_id=need.need_id, owner="x",
            resource_ids=[duty_meals.resource_id], request_id="prj-2"), md))[:2] == (
            grpc.StatusCode.FAILED_PRECONDITION, "NEED_NOT_OPEN")
        matched = await stub.ListNeeds(pb.ListNeedsRequest(community_path=FENGSHU, state=pb.NEED_STATE_MATCHED,
                                                           page_size=100), metadata=md)
        assert need.need_id in {n.need_id for n in matched.needs}
        # The duty unit's lunches now serve as many live projects as they can.
        again = await stub.SuggestResources(pb.SuggestResourcesRequest(community_path=FENGSHU, need_id=need.need_id),
                                            metadata=md)
        full = next(s for s in again.suggestions if s.resource.resource_id == duty_meals.resource_id)
        assert not full.available and [r.code for r in full.reasons if r.against] == ["FULLY_COMMITTED"]
        assert again.suggestions[-1].resource.resource_id == duty_meals.resource_id

        # open → in progress → done, once per request id; nothing after the end.
        start = pb.StartProjectRequest(community_path=FENGSHU, project_id=project.project_id, note="今天开始",
                                       request_id="start-1")
        started = (await stub.StartProject(start, metadata=md)).project
        assert (await stub.StartProject(start, metadata=md)).project == started
        assert started.state == pb.PROJECT_STATE_IN_PROGRESS
        done = (await stub.CompleteProject(pb.CompleteProjectRequest(
            community_path=FENGSHU, project_id=project.project_id, outcome="万阿姨吃上了午饭", request_id="done-1"),
            metadata=md)).project
        assert (done.state, done.outcome) == (pb.PROJECT_STATE_DONE, "万阿姨吃上了午饭") and done.HasField("close_time")
        assert (await refusal(stub.CancelProject, pb.CancelProjectRequest(
            community_path=FENGSHU, project_id=project.project_id, reason="x"), md))[:2] == (
            grpc.StatusCode.FAILED_PRECONDITION, "PROJECT_STATE_CHANGE_NOT_ALLOWED")
        met = await stub.ListNeeds(pb.ListNeedsRequest(community_path=FENGSHU, state=pb.NEED_STATE_MET,
                                                       page_size=100), metadata=md)
        assert need.need_id in {n.need_id for n in met.needs}
        shown = await stub.GetProject(pb.GetProjectRequest(community_path=FENGSHU, project_id=project.project_id),
                                      metadata=md)
        assert [(c.from_state, c.to_state, c.note, c.actor) for c in shown.history] == [
            (pb.PROJECT_STATE_UNSPECIFIED, pb.PROJECT_STATE_OPEN, "", "worker-li"),
            (pb.PROJECT_STATE_OPEN, pb.PROJECT_STATE_IN_PROGRESS, "今天开始", "worker-li"),
            (pb.PROJECT_STATE_IN_PROGRESS, pb.PROJECT_STATE_DONE, "万阿姨吃上了午饭", "worker-li")]

        subjects = ["redemption.need.recorded", "redemption.project.created", "redemption.project.state_changed",
                    "redemption.project.closed"]
        await wait_until(lambda: _all_seen(seen, subjects), what="the need and project events")
        recorded = events.NeedRecorded()
        next(e for e in seen if e.subject == "redemption.need.recorded").payload.Unpack(recorded)
        assert (recorded.need_id, recorded.duty_partner_id, recorded.category) == (need.need_id, on_duty,
                                                                                   "elderly-meals")
        assert [e.subject for e in seen].count("redemption.need.recorded") == 1  # the retry published nothing
        moves = []
        for e in seen:
            if e.subject == "redemption.project.state_changed":
                change = events.ProjectStateChanged()
                e.payload.Unpack(change)
                moves.append((change.from_state, change.to_state, change.actor))
        assert moves == [("OPEN", "IN_PROGRESS", "worker-li"), ("IN_PROGRESS", "DONE", "worker-li")]
    finally:
        await nc.close()


async def _all_seen(seen: list[EventEnvelope], subjects: list[str]) -> bool:
    return set(subjects) <= {e.subject for e in seen}


async def test_a_cancelled_project_hands_its_need_back(kit: Kit, stub: community_pb2_grpc.CommunityServiceStub) -> None:
    md = kit.worker
    need = (await stub.CreateNeed(pb.CreateNeedRequest(community_path=FENGSHU, title="四点半课堂",
                                                       category="after-school-care"), metadata=md)).need
    project = (await stub.CreateProject(pb.CreateProjectRequest(
        community_path=FENGSHU, title="课堂", need_id=need.need_id, owner="小枫叶",
        resource_ids=["res-demo-after-school-care"], request_id="c-1"), metadata=md)).project
    # Completing a project nobody started is refused; cancelling it hands the need back.
    assert (await refusal(stub.CompleteProject, pb.CompleteProjectRequest(
        community_path=FENGSHU, project_id=project.project_id, outcome="x"), md))[:2] == (
        grpc.StatusCode.FAILED_PRECONDITION, "PROJECT_STATE_CHANGE_NOT_ALLOWED")
    cancelled = (await stub.CancelProject(pb.CancelProjectRequest(
        community_path=FENGSHU, project_id=project.project_id, reason="志愿者不足，下学期再开"), metadata=md)).project
    assert (cancelled.state, cancelled.outcome) == (pb.PROJECT_STATE_CANCELLED, "志愿者不足，下学期再开")
    reopened = await stub.ListNeeds(pb.ListNeedsRequest(community_path=FENGSHU, state=pb.NEED_STATE_OPEN,
                                                        page_size=100), metadata=md)
    assert need.need_id in {n.need_id for n in reopened.needs}
    # The demo's after-school care has room for one live project: the flagship holds it.
    suggested = await stub.SuggestResources(pb.SuggestResourcesRequest(community_path=FENGSHU, need_id=need.need_id),
                                            metadata=md)
    assert [(s.resource.resource_id, s.available) for s in suggested.suggestions] == [
        ("res-demo-after-school-care", False)]


async def test_a_resource_offered_above_the_community_serves_it(kit: Kit, issuer: TestIssuer,
                                                                stub: community_pb2_grpc.CommunityServiceStub) -> None:
    officer = bearer(issuer.issue("officer-zhao", role="street_officer", scope=STREET))
    await kit.partners.CreatePartner(admin_pb2.CreatePartnerRequest(partner_id="chenglong-ngo", partner=rpb.Partner(
        community_path=STREET, kind=rpb.PARTNER_KIND_SIGNED_PARTNER, display_name="成龙路社工站")), metadata=officer)
    street_checks = (await stub.CreateResource(pb.CreateResourceRequest(
        community_path=STREET, title="街道巡回义诊", category="health-checks", partner_id="chenglong-ngo"),
        metadata=officer)).resource
    need = (await stub.CreateNeed(pb.CreateNeedRequest(community_path=FENGSHU, title="老人测血糖",
                                                       category="health-checks"), metadata=kit.worker)).need
    suggested = await stub.SuggestResources(pb.SuggestResourcesRequest(community_path=FENGSHU, need_id=need.need_id,
                                                                       max_suggestions=5), metadata=kit.worker)
    by_id = {s.resource.resource_id: s for s in suggested.suggestions}
    assert "FROM_ABOVE" in {r.code for r in by_id[street_checks.resource_id].reasons}
    assert "SAME_COMMUNITY" in {r.code for r in by_id["res-demo-health-checks"].reasons}
    project = (await stub.CreateProject(pb.CreateProjectRequest(
        community_path=FENGSHU, title="血糖筛查", need_id=need.need_id, owner="成龙路社工站",
        resource_ids=[street_checks.resource_id], request_id="street-1"), metadata=kit.worker)).project
    assert list(project.resource_ids) == [street_checks.resource_id]


async def test_the_demo_holds_the_eight_flagship_projects(kit: Kit, stub: community_pb2_grpc.CommunityServiceStub,
                                                          clock: ManualClock) -> None:
    listed = await stub.ListProjects(pb.ListProjectsRequest(community_path=FENGSHU, page_size=100),
                                     metadata=kit.worker)
    flagships = {p.title: p for p in listed.projects if p.project_id.startswith("prj-demo-")}
    assert len(flagships) == 8 and "红枫暖心食堂·长者助餐" in flagships and "小枫叶四点半课堂" in flagships
    states = sorted(pb.ProjectState.Name(p.state) for p in flagships.values())
    assert states.count("PROJECT_STATE_IN_PROGRESS") == 5 and states.count("PROJECT_STATE_DONE") == 1
    repair = await stub.GetProject(pb.GetProjectRequest(community_path=FENGSHU, project_id="prj-demo-appliance-repair"),
                                   metadata=kit.worker)
    assert [c.to_state for c in repair.history] == [pb.PROJECT_STATE_OPEN, pb.PROJECT_STATE_IN_PROGRESS,
                                                    pb.PROJECT_STATE_DONE]
    needs = await stub.ListNeeds(pb.ListNeedsRequest(community_path=FENGSHU, page_size=100), metadata=kit.worker)
    demo_needs = [n for n in needs.needs if n.need_id.startswith("n-demo-")]
    assert len(demo_needs) == 9 and all(n.duty_partner_id.startswith("member-unit-") for n in demo_needs)
    assert all(n.receive_time.ToDatetime(tzinfo=UTC) < clock.now() + timedelta(days=1) for n in demo_needs)


async def test_bad_input_on_every_new_field_is_invalid_argument_naming_it(
        kit: Kit, stub: community_pb2_grpc.CommunityServiceStub, clock: ManualClock) -> None:
    md = kit.worker
    need = (await stub.CreateNeed(pb.CreateNeedRequest(community_path=FENGSHU, title="x", category="haircuts"),
                                  metadata=md)).need

    def need_request(**changes: Any) -> pb.CreateNeedRequest:
        request = pb.CreateNeedRequest(community_path=FENGSHU, title="x", category="elderly-meals")
        for key, value in changes.items():
            if isinstance(value, Timestamp):
                getattr(request, key).CopyFrom(value)
            else:
                setattr(request, key, value)
        return request

    def resource_request(**changes: Any) -> pb.CreateResourceRequest:
        request = pb.CreateResourceRequest(community_path=FENGSHU, title="x", category="elderly-meals",
                                           partner_id="fengxiang-canteen")
        for key, value in changes.items():
            if key == "weekdays":
                request.weekdays.extend(value)
            else:
                setattr(request, key, value)
        return request

    invalid_stamp = Timestamp(seconds=10, nanos=-5)
    cases: list[tuple[Any, Any, str]] = [
        (stub.CreateNeed, need_request(category=""), "category"),
        (stub.CreateNeed, need_request(category="Elderly Meals"), "category"),
        (stub.CreateNeed, need_request(category="x" * 64), "category"),
        (stub.CreateNeed, need_request(receive_time=stamp(clock.now() + timedelta(hours=1))), "receive_time"),
        (stub.CreateNeed, need_request(receive_time=stamp(clock.now() - timedelta(days=400))), "receive_time"),
        (stub.CreateNeed, need_request(receive_time=invalid_stamp), "receive_time"),
        (stub.CreateNeed, need_request(request_id="x" * 129), "request_id"),
        (stub.CreateNeed, need_request(request_id="有空格 "), "request_id"),
        (stub.CreateResource, resource_request(category=""), "category"),
        (stub.CreateResource, resource_request(partner_id=""), "partner_id"),
        (stub.CreateResource, resource_request(partner_id="member-unit-99"), "partner_id"),
        (stub.CreateResource, resource_request(available_from="2026-13-01"), "available_from"),
        (stub.CreateResource, resource_request(available_until="1/1/2027"), "available_until"),
        (stub.CreateResource, resource_request(available_from="2026-12-02", available_until="2026-12-01"),
         "available_until"),
        (stub.CreateResource, resource_request(weekdays=[0]), "weekdays"),
        (stub.CreateResource, resource_request(weekdays=[8]), "weekdays"),
        (stub.CreateResource, resource_request(weekdays=[2, 2]), "weekdays"),
        (stub.CreateResource, resource_request(capacity=-1), "capacity"),
        (stub.CreateResource, resource_request(capacity=10_001), "capacity"),
        (stub.CreateResource, resource_request(request_id="x" * 129), "request_id"),
        (stub.SuggestResources, pb.SuggestResourcesRequest(community_path=FENGSHU, need_id=""), "need_id"),
        (stub.SuggestResources, pb.SuggestResourcesRequest(community_path=FENGSHU, need_id=need.need_id,
                                                           max_suggestions=-1), "max_suggestions"),
        (stub.SuggestResources, pb.SuggestResourcesRequest(community_path=FENGSHU, need_id=need.need_id,
                                                           max_suggestions=51), "max_suggestions"),
        (stub.ListNeeds, pb.ListNeedsRequest(community_path=FENGSHU, state=cast(Any, 9)), "state"),
        (stub.ListProjects, pb.ListProjectsRequest(community_path=FENGSHU, state=cast(Any, 9)), "state"),
        (stub.GetProject, pb.GetProjectRequest(community_path=FENGSHU, project_id="a b"), "project_id"),
        (stub.StartProject, pb.StartProjectRequest(community_path=FENGSHU, project_id="prj-demo-haircuts",
                                                   note="x" * 2001), "note"),
        (stub.StartProject, pb.StartProjectRequest(community_path=FENGSHU, project_id="prj-demo-haircuts",
                                                   request_id="x" * 129), "request_id"),
        (stub.StartProject, pb.StartProjectRequest(community_path=FENGSHU, project_id=""), "project_id"),
        (stub.CompleteProject, pb.CompleteProjectRequest(community_path=FENGSHU, project_id="prj-demo-haircuts"),
         "outcome"),
        (stub.CancelProject, pb.CancelProjectRequest(community_path=FENGSHU, project_id="prj-demo-haircuts",
                                                     reason=" "), "reason"),
        (stub.CreateProject, pb.CreateProjectRequest(community_path=FENGSHU, title="x", need_id="", owner="x",
                                                     resource_ids=["r"], request_id="r"), "need_id"),
    ]
    for call, request, field in cases:
        code, _, fields = await refusal(call, request, md)
        assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field]), (request, code, fields)
    # Unknown things are NOT_FOUND.
    for call, request, reason in [
        (stub.SuggestResources, pb.SuggestResourcesRequest(community_path=FENGSHU, need_id="n-nope"), "NEED_NOT_FOUND"),
        (stub.GetProject, pb.GetProjectRequest(community_path=FENGSHU, project_id="prj-nope"), "PROJECT_NOT_FOUND"),
        (stub.StartProject, pb.StartProjectRequest(community_path=FENGSHU, project_id="prj-nope"),
         "PROJECT_NOT_FOUND"),
    ]:
        assert (await refusal(call, request, md))[:2] == (grpc.StatusCode.NOT_FOUND, reason)


async def test_callers_outside_the_scope(kit: Kit, issuer: TestIssuer,
                                         stub: community_pb2_grpc.CommunityServiceStub) -> None:
    outsider = bearer(issuer.issue("outsider", role="community_worker", scope="chengdu/chongzhou"))
    resident = bearer(issuer.issue("resident-1", role="resident", scope=FENGSHU))
    neighbour = bearer(issuer.issue("worker-hong", role="community_worker", scope=NEIGHBOUR))
    denied = (grpc.StatusCode.PERMISSION_DENIED, "OUT_OF_SCOPE")
    project = "prj-demo-haircuts"
    for call, request in [
        (stub.CreateNeed, pb.CreateNeedRequest(community_path=FENGSHU, title="x", category="x", request_id="o-1")),
        (stub.CreateResource, pb.CreateResourceRequest(community_path=FENGSHU, title="x", category="x",
                                                       partner_id="partner-01")),
        (stub.SuggestResources, pb.SuggestResourcesRequest(community_path=FENGSHU, need_id="n-demo-saturday-meal")),
        (stub.GetProject, pb.GetProjectRequest(community_path=FENGSHU, project_id=project)),
        (stub.StartProject, pb.StartProjectRequest(community_path=FENGSHU, project_id=project)),
        (stub.CompleteProject, pb.CompleteProjectRequest(community_path=FENGSHU, project_id=project, outcome="x")),
        (stub.CancelProject, pb.CancelProjectRequest(community_path=FENGSHU, project_id=project, reason="x")),
        (stub.ListNeeds, pb.ListNeedsRequest(community_path=FENGSHU)),
        (stub.ListProjects, pb.ListProjectsRequest(community_path=FENGSHU)),
    ]:
        assert (await refusal(call, request, outsider))[:2] == denied, call
    # A neighbouring community naming its own path cannot reach Fengshu's projects or needs: they are
    # as unknown there as ids nobody uses.
    for call, request in [
        (stub.GetProject, pb.GetProjectRequest(community_path=NEIGHBOUR, project_id=project)),
        (stub.StartProject, pb.StartProjectRequest(community_path=NEIGHBOUR, project_id=project)),
        (stub.SuggestResources, pb.SuggestResourcesRequest(community_path=NEIGHBOUR,
                                                           need_id="n-demo-saturday-meal")),
    ]:
        code, reason, _ = await refusal(call, request, neighbour)
        assert code == grpc.StatusCode.NOT_FOUND and reason in ("PROJECT_NOT_FOUND", "NEED_NOT_FOUND")
    # A resident of Fengshu reads the lists and suggestions but changes nothing.
    assert (await stub.GetProject(pb.GetProjectRequest(community_path=FENGSHU, project_id=project),
                                  metadata=resident)).project.title == "银发爱心义剪"
    await stub.SuggestResources(pb.SuggestResourcesRequest(community_path=FENGSHU, need_id="n-demo-saturday-meal"),
                                metadata=resident)
    assert (await refusal(stub.StartProject, pb.StartProjectRequest(community_path=FENGSHU, project_id=project),
                          resident))[:2] == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_NOT_ALLOWED")
