"""One worker cannot create, confirm and credit an activity's points alone beyond a limit
(solo_limits, activities.py), through gRPC on a running volunteer-points (SQLite and
PostgreSQL): past the daily limit a credit is held as an Adjustment in the worker's name, which
the worker may not approve and another account may; an activity another account created is
credited as before; the limit starts again the next day."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from linli_points.app import PointsApp

from linli.points.v1 import activities_pb2 as act
from linli.points.v1 import adjustments_pb2 as adj
from linli.points.v1 import ledger_pb2 as led
from linli.points.v1 import volunteers_pb2 as vol
from linli_runtime.clock import ManualClock

from .conftest import FENGSHU, Metadata, Stubs, expect_error

VOLUNTEERS = ("v-wan", "v-li", "v-zhao")


async def setting_up(s: Stubs, worker: Metadata) -> None:
    for vid in VOLUNTEERS:
        await s.volunteers.CreateVolunteer(vol.CreateVolunteerRequest(volunteer=vol.Volunteer(
            community_path=FENGSHU, volunteer_id=vid, display_name=vid)), metadata=worker)
    await s.activities.UpdateTaskCategory(act.UpdateTaskCategoryRequest(task_category=act.TaskCategory(
        community_path=FENGSHU, slug="environment", display_name="美化环境", default_points=10),
        allow_missing=True), metadata=worker)


async def run_activity(s: Stubs, creator: Metadata, confirmer: Metadata, activity_id: str,
                       points: int) -> list[act.SignUp]:
    """An activity worth `points` that `creator` sets up and checks everyone in to, and `confirmer` confirms."""
    await s.activities.CreateActivity(act.CreateActivityRequest(activity=act.Activity(
        community_path=FENGSHU, activity_id=activity_id, title="清理楼道", category="environment", points=points)),
        metadata=creator)
    for vid in VOLUNTEERS:
        code = (await s.activities.SignUp(act.SignUpRequest(
            community_path=FENGSHU, activity_id=activity_id, volunteer_id=vid), metadata=creator)).sign_up.check_in_code
        await s.activities.CheckIn(act.CheckInRequest(community_path=FENGSHU, activity_id=activity_id,
                                                      volunteer_id=vid, check_in_code=code), metadata=creator)
    done = await s.activities.ConfirmCompletion(act.ConfirmCompletionRequest(
        community_path=FENGSHU, activity_id=activity_id, volunteer_ids=list(VOLUNTEERS)), metadata=confirmer)
    return list(done.sign_ups)


async def balance(s: Stubs, md: Metadata, volunteer_id: str) -> int:
    reply = await s.ledger.GetBalance(led.GetBalanceRequest(community_path=FENGSHU,
                                                            account=f"volunteers/{volunteer_id}"), metadata=md)
    return int(reply.balance)


async def test_a_worker_alone_credits_up_to_the_limit_and_a_second_account_approves_the_rest(
    app: PointsApp, stubs: Stubs, token_for: Callable[..., Metadata], clock: ManualClock
) -> None:
    s = stubs
    zhao = token_for("community_worker", subject="acct-worker-zhao")
    li = token_for("community_worker", subject="acct-worker-li")
    await setting_up(s, zhao)
    # Zhao creates, checks in and confirms alone: 80 + 80 fit the daily 200, the third 80 does not.
    alone = await run_activity(s, zhao, zhao, "clean-up-1", 80)
    assert [(u.volunteer_id, u.points_credited, u.confirmed_by) for u in alone] == [
        ("v-li", 80, "acct-worker-zhao"), ("v-wan", 80, "acct-worker-zhao"), ("v-zhao", 0, "acct-worker-zhao")]
    held = next(u for u in alone if u.volunteer_id == "v-zhao")
    assert held.state == act.SIGN_UP_STATE_CONFIRMED and held.adjustment_id.startswith("activity-credit:")
    assert not held.transfer_id and await balance(s, zhao, "v-zhao") == 0
    proposals = (await s.adjustments.ListAdjustments(adj.ListAdjustmentsRequest(community_path=FENGSHU),
                                                     metadata=li)).adjustments
    [proposal] = [a for a in proposals if a.adjustment_id == held.adjustment_id]
    assert (proposal.points, proposal.proposed_by, proposal.state) == (80, "acct-worker-zhao",
                                                                     adj.ADJUSTMENT_STATE_PROPOSED)
    assert "limit of 200" in proposal.reason
    # Zhao may not approve it; Li, another account, may.
    approve = adj.ApproveAdjustmentRequest(community_path=FENGSHU, adjustment_id=held.adjustment_id)
    await expect_error(s.adjustments.ApproveAdjustment(approve, metadata=zhao), grpc.StatusCode.FAILED_PRECONDITION,
                       "SAME_APPROVER")
    await s.adjustments.ApproveAdjustment(approve, metadata=li)
    assert await balance(s, li, "v-zhao") == 80
    # Confirming again changes nothing.
    again = await s.activities.ConfirmCompletion(act.ConfirmCompletionRequest(
        community_path=FENGSHU, activity_id="clean-up-1", volunteer_ids=list(VOLUNTEERS)), metadata=zhao)
    assert [u.points_credited for u in again.sign_ups] == [80, 80, 0] and await balance(s, li, "v-zhao") == 80

    # Li created the next activity; Zhao confirming it is two accounts at work: credited whole.
    together = await run_activity(s, li, zhao, "clean-up-2", 80)
    assert [(u.points_credited, u.adjustment_id) for u in together] == [(80, ""), (80, ""), (80, "")]

    # The next day Zhao's limit starts again.
    clock.advance(days=1)
    tomorrow = await run_activity(s, zhao, zhao, "clean-up-3", 80)
    assert [u.points_credited for u in tomorrow] == [80, 80, 0]
