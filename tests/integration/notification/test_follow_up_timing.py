"""A follow-up recorded before it is due needs a reason, or is refused naming when it is due
(issue 16, defect 8): a follow-up due tomorrow was accepted today, so the day-1 visit could be
ticked off at the bedside an hour after the request was resolved."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest

from linli.notification.v1 import notification_pb2 as pb
from linli_runtime.testing.errors import error_info
from tests.integration.notification.kit import FENGSHU_NAME, Harness, ms_wan_request


async def resolved(h: Harness) -> pb.HelpRequest:
    """Ms Wan's request, resolved on Saturday 7 November 2026 at 11:00 in Chengdu."""
    filed = (await h.help.CreateHelpRequest(pb.CreateHelpRequestRequest(
        parent=FENGSHU_NAME, help_request=ms_wan_request()), metadata=h.md())).help_request
    await h.help.AcknowledgeHelpRequest(pb.AcknowledgeHelpRequestRequest(name=filed.name), metadata=h.md())
    reply = await h.help.ResolveHelpRequest(pb.ResolveHelpRequestRequest(name=filed.name, resolution="送餐到家"),
                                            metadata=h.md())
    request: pb.HelpRequest = reply.help_request
    return request


async def test_a_follow_up_before_its_due_time_without_a_reason_is_refused_naming_the_due_time(h: Harness) -> None:
    request = await resolved(h)
    day_one = request.follow_ups[0]
    h.clock.advance(hours=1)  # Saturday 12:00; the day-1 follow-up is due Sunday 11:00
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await h.help.RecordFollowUp(pb.RecordFollowUpRequest(name=day_one.name, note="精神好多了"), metadata=h.md())
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "2026-11-08 11:00 (UTC+08:00)" in (caught.value.details() or ""), caught.value.details()
    assert "early_reason" in (caught.value.details() or "")
    assert error_info(caught.value)[0] == "FOLLOW_UP_NOT_DUE"
    got = (await h.help.GetHelpRequest(pb.GetHelpRequestRequest(name=request.name), metadata=h.md())).help_request
    assert not got.follow_ups[0].done and got.status == pb.STATUS_RESOLVED, "nothing recorded"


async def test_a_follow_up_before_its_due_time_with_a_reason_is_recorded_with_it(h: Harness) -> None:
    request = await resolved(h)
    h.clock.advance(hours=20)  # Sunday 07:00, four hours early
    followed = (await h.help.RecordFollowUp(pb.RecordFollowUpRequest(
        name=request.follow_ups[0].name, note="精神好多了", early_reason="周日上午要值班，提前上门"),
        metadata=h.md())).help_request
    day_one = followed.follow_ups[0]
    assert (day_one.done, day_one.note, day_one.early_reason) == (True, "精神好多了", "周日上午要值班，提前上门")
    assert followed.status == pb.STATUS_FOLLOWED_UP
    assert "early" in followed.history[-1].note and "周日上午要值班" in followed.history[-1].note


async def test_a_follow_up_at_or_after_its_due_time_needs_no_reason(h: Harness) -> None:
    request = await resolved(h)
    h.clock.advance(timedelta(days=1))  # Sunday 11:00: due now
    followed = (await h.help.RecordFollowUp(pb.RecordFollowUpRequest(
        name=request.follow_ups[0].name, note="精神好多了"), metadata=h.md())).help_request
    assert followed.follow_ups[0].done and not followed.follow_ups[0].early_reason
    h.clock.advance(timedelta(days=5))  # the day-3 follow-up is two days overdue
    followed = (await h.help.RecordFollowUp(pb.RecordFollowUpRequest(
        name=request.follow_ups[1].name, note="已能下楼"), metadata=h.md())).help_request
    assert followed.follow_ups[1].done
