"""Check-in by the organiser's rotating QR code (issue 13): the organiser's token checks a
volunteer in once, inside the activity's window; a replayed, expired, forged or foreign token,
a check-in outside the window, by someone not signed up or of another community is refused
with its reason and changes nothing. On the service's manual clock, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import grpc

from linli.points.v1 import activities_pb2 as act
from linli.points.v1 import ledger_pb2 as led
from linli_runtime.clock import ManualClock

from .conftest import FENGSHU, SHENGJIAN, Metadata, Stubs, expect_error, ts

VolunteerToken = Callable[..., Awaitable[Metadata]]


async def scheduled(s: Stubs, md: Metadata, clock: ManualClock, activity_id: str, *,
                    starts_in: timedelta = timedelta(minutes=10), lasts: timedelta = timedelta(hours=1)) -> None:
    await s.activities.UpdateTaskCategory(act.UpdateTaskCategoryRequest(task_category=act.TaskCategory(
        community_path=FENGSHU, slug="governance", display_name="参与社区治理", default_points=10),
        allow_missing=True), metadata=md)
    start = clock.now() + starts_in
    await s.activities.CreateActivity(act.CreateActivityRequest(activity=act.Activity(
        community_path=FENGSHU, activity_id=activity_id, title="楼道清扫", category="governance",
        start_time=ts(start), end_time=ts(start + lasts))), metadata=md)


async def token(s: Stubs, md: Metadata, activity_id: str) -> str:
    issued = await s.activities.IssueCheckInToken(act.IssueCheckInTokenRequest(
        community_path=FENGSHU, activity_id=activity_id), metadata=md)
    return str(issued.token)


def check_in(activity_id: str, token: str, path: str = FENGSHU) -> act.CheckInWithTokenRequest:
    return act.CheckInWithTokenRequest(community_path=path, activity_id=activity_id, token=token)


async def state(s: Stubs, md: Metadata, activity_id: str) -> dict[str, tuple[int, int]]:
    got = await s.activities.GetActivity(act.GetActivityRequest(community_path=FENGSHU, activity_id=activity_id),
                                         metadata=md)
    return {u.volunteer_id: (u.state, u.check_in_method) for u in got.sign_ups}


async def test_the_organisers_code_checks_a_volunteer_in_once_inside_the_window(
        stubs: Stubs, as_worker: Metadata, as_volunteer: VolunteerToken, clock: ManualClock) -> None:
    s, md = stubs, as_worker
    await scheduled(s, md, clock, "sweep")
    wan = await as_volunteer("v-wan")
    await s.activities.SignUp(act.SignUpRequest(community_path=FENGSHU, activity_id="sweep", volunteer_id="v-wan"),
                              metadata=wan)
    issued = await s.activities.IssueCheckInToken(act.IssueCheckInTokenRequest(
        community_path=FENGSHU, activity_id="sweep"), metadata=md)
    # The token lives 90 s from its 30-second step; the next one comes at the step's end.
    assert timedelta(0) < issued.rotate_time.ToDatetime() - clock.now().replace(tzinfo=None) <= timedelta(seconds=30)
    assert issued.expire_time.ToDatetime() - issued.rotate_time.ToDatetime() == timedelta(seconds=60)
    assert issued.window_start_time.ToDatetime() == (clock.now() - timedelta(minutes=20)).replace(tzinfo=None)

    done = await s.activities.CheckInWithToken(check_in("sweep", issued.token), metadata=wan)
    assert (done.sign_up.volunteer_id, done.sign_up.state) == ("v-wan", act.SIGN_UP_STATE_CHECKED_IN)
    assert done.sign_up.check_in_method == act.CHECK_IN_METHOD_ORGANISER_QR
    assert done.sign_up.check_in_time.ToDatetime() == clock.now().replace(tzinfo=None)
    assert done.activity.title == "楼道清扫"
    # The same URL again, and a newer one: a check-in counts once.
    await expect_error(s.activities.CheckInWithToken(check_in("sweep", issued.token), metadata=wan),
                       grpc.StatusCode.ALREADY_EXISTS, "ALREADY_CHECKED_IN")
    clock.advance(seconds=40)
    await expect_error(s.activities.CheckInWithToken(check_in("sweep", await token(s, md, "sweep")), metadata=wan),
                       grpc.StatusCode.ALREADY_EXISTS, "ALREADY_CHECKED_IN")
    # Confirmed afterwards: credited once.
    confirmed = await s.activities.ConfirmCompletion(act.ConfirmCompletionRequest(
        community_path=FENGSHU, activity_id="sweep", volunteer_ids=["v-wan"]), metadata=md)
    assert confirmed.sign_ups[0].points_credited == 10
    balance = await s.ledger.GetBalance(led.GetBalanceRequest(community_path=FENGSHU, account="volunteers/v-wan"),
                                        metadata=md)
    assert balance.balance == 10


async def test_an_expired_forged_or_foreign_token_is_refused_and_changes_nothing(
        stubs: Stubs, as_worker: Metadata, as_volunteer: VolunteerToken, clock: ManualClock) -> None:
    s, md = stubs, as_worker
    await scheduled(s, md, clock, "a-1", starts_in=timedelta(0))
    await scheduled(s, md, clock, "a-2", starts_in=timedelta(0))
    wan = await as_volunteer("v-wan")
    await s.activities.SignUp(act.SignUpRequest(community_path=FENGSHU, activity_id="a-1", volunteer_id="v-wan"),
                              metadata=wan)
    old = await token(s, md, "a-1")
    clock.advance(seconds=95)  # at least 90 s after its step began
    await expect_error(s.activities.CheckInWithToken(check_in("a-1", old), metadata=wan),
                       grpc.StatusCode.FAILED_PRECONDITION, "CHECK_IN_TOKEN_EXPIRED")
    # Another activity's token, a token with its step moved on, one in the wrong shape.
    other = await token(s, md, "a-2")
    await expect_error(s.activities.CheckInWithToken(check_in("a-1", other), metadata=wan),
                       grpc.StatusCode.PERMISSION_DENIED, "CHECK_IN_TOKEN_INVALID")
    fresh = await token(s, md, "a-1")
    step, mac = fresh.split(".")
    await expect_error(s.activities.CheckInWithToken(check_in("a-1", f"{int(step) + 1}.{mac}"), metadata=wan),
                       grpc.StatusCode.PERMISSION_DENIED, "CHECK_IN_TOKEN_INVALID")
    await expect_error(s.activities.CheckInWithToken(check_in("a-1", "123456"), metadata=wan),
                       grpc.StatusCode.INVALID_ARGUMENT, field="token")
    assert await state(s, md, "a-1") == {"v-wan": (act.SIGN_UP_STATE_SIGNED_UP, act.CHECK_IN_METHOD_UNSPECIFIED)}
    await s.activities.CheckInWithToken(check_in("a-1", fresh), metadata=wan)  # the fresh one works


async def test_outside_the_window_or_not_signed_up_is_refused(
        stubs: Stubs, as_worker: Metadata, as_volunteer: VolunteerToken, clock: ManualClock) -> None:
    s, md = stubs, as_worker
    await scheduled(s, md, clock, "later", starts_in=timedelta(hours=2), lasts=timedelta(hours=1))
    wan, li = await as_volunteer("v-wan"), await as_volunteer("v-li")
    await s.activities.SignUp(act.SignUpRequest(community_path=FENGSHU, activity_id="later", volunteer_id="v-wan"),
                              metadata=wan)
    # Too early: the window opens 30 minutes before the start.
    await expect_error(s.activities.CheckInWithToken(check_in("later", await token(s, md, "later")), metadata=wan),
                       grpc.StatusCode.FAILED_PRECONDITION, "OUTSIDE_CHECK_IN_WINDOW")
    clock.advance(hours=1, minutes=31)
    await expect_error(s.activities.CheckInWithToken(check_in("later", await token(s, md, "later")), metadata=li),
                       grpc.StatusCode.FAILED_PRECONDITION, "NOT_SIGNED_UP")
    # A token minted in the window's last seconds, opened just after it closed.
    clock.advance(hours=1, minutes=29, seconds=50)
    last = await token(s, md, "later")
    clock.advance(seconds=15)
    await expect_error(s.activities.CheckInWithToken(check_in("later", last), metadata=wan),
                       grpc.StatusCode.FAILED_PRECONDITION, "OUTSIDE_CHECK_IN_WINDOW")
    assert await state(s, md, "later") == {"v-wan": (act.SIGN_UP_STATE_SIGNED_UP, act.CHECK_IN_METHOD_UNSPECIFIED)}


async def test_only_a_volunteer_of_the_community_bound_to_the_caller_checks_in(
        stubs: Stubs, as_worker: Metadata, as_volunteer: VolunteerToken, clock: ManualClock,
        token_for: Callable[..., Metadata]) -> None:
    s, md = stubs, as_worker
    await scheduled(s, md, clock, "sweep", starts_in=timedelta(0))
    await as_volunteer("v-wan")
    await s.activities.SignUp(act.SignUpRequest(community_path=FENGSHU, activity_id="sweep", volunteer_id="v-wan"),
                              metadata=md)
    fresh = await token(s, md, "sweep")
    # A volunteer of another community, with Fengshu's URL: out of their scope, as everywhere.
    shengjian = await as_volunteer("v-wan", SHENGJIAN)
    await expect_error(s.activities.CheckInWithToken(check_in("sweep", fresh), metadata=shengjian),
                       grpc.StatusCode.PERMISSION_DENIED, "OUT_OF_SCOPE")
    # A volunteer grant in Fengshu whose account is bound to no volunteer record; a worker.
    await expect_error(s.activities.CheckInWithToken(check_in("sweep", fresh),
                                                     metadata=token_for("volunteer", subject="unbound")),
                       grpc.StatusCode.PERMISSION_DENIED, "NOT_A_VOLUNTEER_HERE")
    await expect_error(s.activities.CheckInWithToken(check_in("sweep", fresh), metadata=md),
                       grpc.StatusCode.PERMISSION_DENIED, "NOT_A_VOLUNTEER_HERE")
    # Only the community's operators show the code.
    await expect_error(s.activities.IssueCheckInToken(act.IssueCheckInTokenRequest(
        community_path=FENGSHU, activity_id="sweep"), metadata=await as_volunteer("v-wan")),
        grpc.StatusCode.PERMISSION_DENIED)
    assert await state(s, md, "sweep") == {"v-wan": (act.SIGN_UP_STATE_SIGNED_UP, act.CHECK_IN_METHOD_UNSPECIFIED)}


async def test_sign_up_codes_are_retired_a_worker_checks_in_by_word(
        stubs: Stubs, as_worker: Metadata, as_volunteer: VolunteerToken, clock: ManualClock) -> None:
    s, md = stubs, as_worker
    await scheduled(s, md, clock, "sweep")
    wan = await as_volunteer("v-wan")
    signed = await s.activities.SignUp(act.SignUpRequest(community_path=FENGSHU, activity_id="sweep",
                                                         volunteer_id="v-wan"), metadata=wan)
    assert signed.sign_up.check_in_code == ""
    await expect_error(s.activities.CheckIn(act.CheckInRequest(community_path=FENGSHU, activity_id="sweep",
                                                               volunteer_id="v-wan"), metadata=wan),
                       grpc.StatusCode.PERMISSION_DENIED, "USE_ORGANISER_QR_CODE")
    done = await s.activities.CheckIn(act.CheckInRequest(community_path=FENGSHU, activity_id="sweep",
                                                         volunteer_id="v-wan"), metadata=md)
    assert (done.sign_up.state, done.sign_up.check_in_method) == (act.SIGN_UP_STATE_CHECKED_IN,
                                                                  act.CHECK_IN_METHOD_WORKER)


async def test_an_activitys_window_is_checked_on_create(stubs: Stubs, as_worker: Metadata,
                                                        clock: ManualClock) -> None:
    s, md = stubs, as_worker
    await scheduled(s, md, clock, "base")
    begin = clock.now()

    def activity(activity_id: str, *, start: bool, end: timedelta | None) -> act.CreateActivityRequest:
        made = act.Activity(community_path=FENGSHU, activity_id=activity_id, title="t", category="governance")
        if start:
            made.start_time.CopyFrom(ts(begin))
        if end is not None:
            made.end_time.CopyFrom(ts(begin + end))
        return act.CreateActivityRequest(activity=made)

    for bad in (activity("no-start", start=False, end=timedelta(hours=1)),
                activity("too-long", start=True, end=timedelta(hours=25)),
                activity("backwards", start=True, end=timedelta(0))):
        await expect_error(s.activities.CreateActivity(bad, metadata=md), grpc.StatusCode.INVALID_ARGUMENT,
                           field="activity.end_time")
    created = (await s.activities.CreateActivity(activity("no-end", start=True, end=None), metadata=md)).activity
    assert created.end_time.ToDatetime() - created.start_time.ToDatetime() == timedelta(hours=2)  # the default
    await s.activities.CreateActivity(activity("unscheduled", start=False, end=None), metadata=md)
    await expect_error(s.activities.IssueCheckInToken(act.IssueCheckInTokenRequest(
        community_path=FENGSHU, activity_id="unscheduled"), metadata=md),
        grpc.StatusCode.FAILED_PRECONDITION, "ACTIVITY_NOT_SCHEDULED")
