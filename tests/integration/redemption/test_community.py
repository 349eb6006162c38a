"""CommunityService: rotating duty with swaps, the needs/resources/projects lists and the
project events, scope and field checks."""

from __future__ import annotations

from typing import Any

import grpc
import nats
import pytest
from linli_identity.testing import TestIssuer
from nats.aio.msg import Msg

from linli.events.v1.envelope_pb2 import EventEnvelope
from linli.redemption.v1 import community_pb2 as pb
from linli.redemption.v1 import community_pb2_grpc
from linli_runtime.processes import NatsServer
from linli_runtime.testing.waiting import wait_until

from .conftest import FENGSHU, Kit, bearer


async def test_rotating_duty_lists_and_project_events(kit: Kit, channel: grpc.aio.Channel, nats_server: NatsServer,
                                                      issuer: TestIssuer) -> None:
    stub = community_pb2_grpc.CommunityServiceStub(channel)
    md = kit.worker
    demo = await stub.ListDutyPeriods(pb.ListDutyPeriodsRequest(community_path=FENGSHU, from_date="2026-11-07",
                                                                page_size=2), metadata=md)
    assert demo.periods[0].start_date <= "2026-11-07" <= demo.periods[0].end_date
    assert demo.periods[0].partner_id.startswith("member-unit-")

    periods = (await stub.SetDutyRotation(pb.SetDutyRotationRequest(
        community_path=FENGSHU, partner_ids=["member-unit-01", "member-unit-02", "member-unit-03"],
        start_date="2026-11-02", period_days=7), metadata=md)).periods
    assert [(p.start_date, p.partner_id) for p in periods] == [
        ("2026-11-02", "member-unit-01"), ("2026-11-09", "member-unit-02"), ("2026-11-16", "member-unit-03")]
    for _ in range(2):  # idempotent by request id
        swapped = await stub.SwapDuty(pb.SwapDutyRequest(community_path=FENGSHU, first_index=1, second_index=3,
                                                         request_id="swap-1"), metadata=md)
    assert [(p.index, p.partner_id, p.swapped) for p in swapped.periods] == [
        (1, "member-unit-01", True), (3, "member-unit-02", True)]
    listed = await stub.ListDutyPeriods(pb.ListDutyPeriodsRequest(community_path=FENGSHU, page_size=4), metadata=md)
    assert [p.partner_id for p in listed.periods] == ["member-unit-01", "member-unit-01", "member-unit-03",
                                                      "member-unit-02"]
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stub.SetDutyRotation(pb.SetDutyRotationRequest(community_path=FENGSHU, partner_ids=["partner-01"],
                                                             start_date="2026-11-02", period_days=7), metadata=md)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    nc = await nats.connect(nats_server.url)
    seen: list[str] = []

    async def on_message(msg: Msg) -> None:
        seen.append(EventEnvelope.FromString(msg.data).subject)

    await nc.subscribe("redemption.project.*", cb=on_message)
    try:
        needs_before = len((await stub.ListNeeds(pb.ListNeedsRequest(community_path=FENGSHU), metadata=md)).needs)
        need = (await stub.CreateNeed(pb.CreateNeedRequest(community_path=FENGSHU, title="独居老人助餐",
                                                           category="elderly-meals", raised_by="锦尚春天"),
                                      metadata=md)).need
        res = (await stub.CreateResource(pb.CreateResourceRequest(
            community_path=FENGSHU, title="每日午餐20份", category="elderly-meals", partner_id="fengxiang-canteen"),
            metadata=md)).resource
        request = pb.CreateProjectRequest(community_path=FENGSHU, title="爱心午餐", need_id=need.need_id,
                                          resource_ids=[res.resource_id], owner="fengxiang-canteen", request_id="p1")
        created = (await stub.CreateProject(request, metadata=md)).project
        assert (await stub.CreateProject(request, metadata=md)).project.project_id == created.project_id
        closed = (await stub.CloseProject(pb.CloseProjectRequest(community_path=FENGSHU, project_id=created.project_id,
                                                                 outcome="84 elders served"), metadata=md)).project
        assert closed.state == pb.PROJECT_STATE_DONE  # the old CloseProject: started, then done
        await wait_until(lambda: _both(seen), what="project created and closed events")
        assert seen.count("redemption.project.created") == 1
        ended = await stub.ListProjects(pb.ListProjectsRequest(community_path=FENGSHU, state=pb.PROJECT_STATE_CLOSED,
                                                               page_size=100), metadata=md)
        assert created.project_id in {p.project_id for p in ended.projects}
        open_only = await stub.ListProjects(pb.ListProjectsRequest(community_path=FENGSHU,
                                                                   state=pb.PROJECT_STATE_OPEN), metadata=md)
        assert created.project_id not in {p.project_id for p in open_only.projects}
        assert len((await stub.ListNeeds(pb.ListNeedsRequest(community_path=FENGSHU),
                                         metadata=md)).needs) == needs_before + 1
        assert res.resource_id in {r.resource_id for r in (await stub.ListResources(pb.ListResourcesRequest(
            community_path=FENGSHU), metadata=md)).resources}
    finally:
        await nc.close()

    outsider = bearer(issuer.issue("x", role="community_worker", scope="chengdu/chongzhou"))
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await stub.ListNeeds(pb.ListNeedsRequest(community_path=FENGSHU), metadata=outsider)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    for bad_request in [pb.CreateNeedRequest(community_path=FENGSHU, title="", category="x"),
                        pb.CreateNeedRequest(community_path=FENGSHU, title="x" * 201, category="x")]:
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await stub.CreateNeed(bad_request, metadata=md)
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def _both(seen: list[str]) -> bool:
    return {"redemption.project.created", "redemption.project.closed"} <= set(seen)


async def test_demo_seeding_twice_adds_nothing(kit: Kit, make_app: Any, channel: grpc.aio.Channel) -> None:
    from linli.redemption.v1 import admin_pb2

    stub = community_pb2_grpc.CommunityServiceStub(channel)

    async def count() -> tuple[int, int, int, int]:
        reply = await kit.partners.ListPartners(admin_pb2.ListPartnersRequest(community_path=FENGSHU, page_size=100),
                                                metadata=kit.worker)
        lists = [await stub.ListNeeds(pb.ListNeedsRequest(community_path=FENGSHU, page_size=100), metadata=kit.worker),
                 await stub.ListResources(pb.ListResourcesRequest(community_path=FENGSHU, page_size=100),
                                          metadata=kit.worker),
                 await stub.ListProjects(pb.ListProjectsRequest(community_path=FENGSHU, page_size=100),
                                         metadata=kit.worker)]
        return len(reply.partners), len(lists[0].needs), len(lists[1].resources), len(lists[2].projects)

    before = await count()
    await make_app()  # a second instance on the same database seeds again
    assert before == await count() == (67, 9, 9, 8)
