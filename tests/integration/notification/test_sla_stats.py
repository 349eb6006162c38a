"""SummarizeHelpRequests: time to the first acknowledgement against the community's SLA, per
urgency and in total, waiting and overdue requests, the filing window and scope — through the
real gRPC API on both databases, with a ManualClock."""

from __future__ import annotations

from datetime import UTC, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from linli_notification.demo import RECENT_REQUESTS, seed_recent_requests

from linli.notification.v1 import notification_pb2 as pb
from tests.integration.notification.kit import FENGSHU, FENGSHU_NAME, Harness, ms_wan_request


async def file(h: Harness, urgency: int = pb.URGENCY_HIGH) -> str:
    reply = await h.help.CreateHelpRequest(pb.CreateHelpRequestRequest(
        parent=FENGSHU_NAME, help_request=ms_wan_request(urgency=urgency)), metadata=h.md("resident-1", "resident"))
    return reply.help_request.name


async def acknowledge(h: Harness, name: str) -> None:
    await h.help.AcknowledgeHelpRequest(pb.AcknowledgeHelpRequestRequest(name=name), metadata=h.md())


async def summary(h: Harness, parent: str = FENGSHU_NAME, **window: Timestamp) -> dict[int, pb.HelpRequestStats]:
    reply = await h.help.SummarizeHelpRequests(pb.SummarizeHelpRequestsRequest(parent=parent, **window),
                                               metadata=h.md(role="city_operator", scope="chengdu"))
    assert all(s.community_path == FENGSHU for s in reply.stats)
    return {s.urgency: s for s in reply.stats}


async def test_time_to_acknowledge_against_the_sla_per_urgency_and_in_total(h: Harness) -> None:
    quick, slow, never = await file(h), await file(h), await file(h)  # high urgency: 30 minutes
    normal = await file(h, pb.URGENCY_NORMAL)  # 60 minutes
    h.clock.advance(minutes=10)
    await acknowledge(h, quick)
    await acknowledge(h, normal)
    h.clock.advance(minutes=35)
    await acknowledge(h, slow)  # 45 minutes: too late for high urgency
    stats = await summary(h)
    high, total = stats[pb.URGENCY_HIGH], stats[pb.URGENCY_UNSPECIFIED]
    assert (high.sla_minutes, high.request_count, high.acknowledged_count, high.within_sla_count) == (30, 3, 2, 1)
    assert (high.acknowledge_p50_seconds, high.acknowledge_p90_seconds) == (1650, 2700)  # 27.5 and 45 minutes
    assert (high.waiting_count, high.overdue_count) == (1, 1), "45 minutes without acknowledgement"
    assert stats[pb.URGENCY_NORMAL].within_sla_count == 1 and stats[pb.URGENCY_NORMAL].sla_minutes == 60
    assert (total.request_count, total.acknowledged_count, total.within_sla_count) == (4, 3, 2)
    assert total.acknowledge_p50_seconds == 600 and total.sla_minutes == 0
    assert never  # filed, waiting


async def test_the_filing_window_and_cancelled_requests(h: Harness) -> None:
    first = await file(h)
    h.clock.advance(hours=2)
    middle = h.clock.now()
    second = await file(h)
    await h.help.CancelHelpRequest(pb.CancelHelpRequestRequest(name=second, reason="家人已送餐"), metadata=h.md())
    start = Timestamp()
    start.FromDatetime(middle)
    later = await summary(h, start_time=start)
    assert later[pb.URGENCY_UNSPECIFIED].request_count == 1
    assert later[pb.URGENCY_UNSPECIFIED].waiting_count == 0, "a cancelled request waits for nobody"
    end = Timestamp()
    end.FromDatetime(middle)
    earlier = await summary(h, end_time=end)
    assert earlier[pb.URGENCY_UNSPECIFIED].request_count == 1 and earlier[pb.URGENCY_HIGH].overdue_count == 1
    assert first and second


async def test_scope_and_bad_input(h: Harness) -> None:
    await file(h)
    other = h.md(role="community_worker", scope="chengdu/jinjiang/chenglonglu/other")
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await h.help.SummarizeHelpRequests(pb.SummarizeHelpRequestsRequest(parent=FENGSHU_NAME), metadata=other)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # `communities/-` is what the caller's scope reaches: nothing here for another community's worker.
    reply = await h.help.SummarizeHelpRequests(pb.SummarizeHelpRequestsRequest(parent="communities/-"), metadata=other)
    assert list(reply.stats) == []
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await h.help.SummarizeHelpRequests(pb.SummarizeHelpRequestsRequest(parent=FENGSHU_NAME))
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    start, end = Timestamp(), Timestamp()
    start.FromDatetime(h.clock.now())
    end.FromDatetime(h.clock.now() - timedelta(hours=1))
    for bad in (pb.SummarizeHelpRequestsRequest(parent="communities/", start_time=start),
                pb.SummarizeHelpRequestsRequest(parent=FENGSHU_NAME, start_time=start, end_time=end)):
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await h.help.SummarizeHelpRequests(bad, metadata=h.md())
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_the_demo_week_of_requests_is_seeded_once_with_its_response_times(h: Harness) -> None:
    assert await seed_recent_requests(h.app) == len(RECENT_REQUESTS)
    assert await seed_recent_requests(h.app) == 0, "a second start adds nothing"
    total = (await summary(h))[pb.URGENCY_UNSPECIFIED]
    assert (total.request_count, total.acknowledged_count, total.within_sla_count) == (5, 5, 4), \
        "the errand taken after 75 minutes missed its 60"
    assert total.acknowledge_p50_seconds == 41 * 60 and total.waiting_count == 0
    listed = await h.help.ListHelpRequests(pb.ListHelpRequestsRequest(parent=FENGSHU_NAME),
                                           metadata=h.md(role="city_operator", scope="chengdu"))
    assert all(r.create_time.ToDatetime(tzinfo=UTC) < h.clock.now() for r in listed.help_requests)
