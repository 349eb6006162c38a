"""linli.points.v1.ActivityService: task categories, activities, sign-up, check-in, the
confirmation that credits points through the ledger (activities.py), and what became of the
helpers of resolved help requests (help_credits.py)."""

from __future__ import annotations

import grpc

from linli.points.v1 import activities_pb2 as pb
from linli.points.v1 import activities_pb2_grpc
from linli_points.activities import (
    MAX_ACTIVITY_POINTS,
    MAX_CATEGORY_POINTS,
    MAX_CONFIRMED_AT_ONCE,
    MAX_DURATION,
    Activities,
    CategoryChange,
)
from linli_points.api.access import reader, volunteer_here, worker_or_self, writer
from linli_points.api.convert import activity_pb, category_pb, help_credit_pb, sign_up_pb
from linli_points.check_in_tokens import TOKEN
from linli_points.help_credits import HelpCredits
from linli_points.people import People
from linli_runtime.auth import OPERATORS, Role, caller, may_act_as
from linli_runtime.errors import InvalidArgument, PermissionDenied
from linli_runtime.fields import display_name, ident, in_range, text
from linli_runtime.names import org_path
from linli_runtime.org_units import KnownUnits
from linli_runtime.paging import page_size
from linli_runtime.times import as_utc, to_timestamp

FULL_NAME = pb.DESCRIPTOR.services_by_name["ActivityService"].full_name


class ActivityServicer(activities_pb2_grpc.ActivityServiceServicer):
    def __init__(self, activities: Activities, help_credits: HelpCredits, people: People, places: KnownUnits) -> None:
        self.activities = activities
        self.help_credits = help_credits
        self.people = people
        self.places = places

    async def ListTaskCategories(
        self, request: pb.ListTaskCategoriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTaskCategoriesResponse:
        path = reader(request.community_path)
        found, next_token = await self.activities.list_categories(path, page_token=request.page_token,
                                                                  size=page_size(request.page_size))
        return pb.ListTaskCategoriesResponse(task_categories=[category_pb(c) for c in found],
                                             next_page_token=next_token)

    async def UpdateTaskCategory(
        self, request: pb.UpdateTaskCategoryRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateTaskCategoryResponse:
        c = request.task_category
        path = writer(c.community_path, "task_category.community_path")
        await self.places.require(path, field="task_category.community_path")
        slug = ident("task_category.slug", c.slug)
        change = CategoryChange(
            display_name=display_name("task_category.display_name", c.display_name),
            display_name_en=text("task_category.display_name_en", c.display_name_en, 100, strip=False),
            default_points=in_range("task_category.default_points", c.default_points, 0, MAX_CATEGORY_POINTS),
            daily_cap=in_range("task_category.daily_cap", c.daily_cap, 0, MAX_CATEGORY_POINTS),
            monthly_cap=in_range("task_category.monthly_cap", c.monthly_cap, 0, MAX_CATEGORY_POINTS),
            placeholder=c.placeholder,
            funding_source=ident("task_category.funding_source", c.funding_source) if c.funding_source else "",
        )
        updated = await self.activities.update_category(path, slug, change, allow_missing=request.allow_missing)
        return pb.UpdateTaskCategoryResponse(task_category=category_pb(updated))

    async def CreateActivity(
        self, request: pb.CreateActivityRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateActivityResponse:
        a = request.activity
        path = writer(a.community_path, "activity.community_path")
        who = caller()
        await self.places.require(path, field="activity.community_path")
        activity_id = ident("activity.activity_id", a.activity_id)
        title = text("activity.title", a.title, 200, required=True)
        category = ident("activity.category", a.category)
        if not 0 <= a.points <= MAX_ACTIVITY_POINTS:
            raise InvalidArgument.field("activity.points",
                                        f"must be between 0 (category default) and {MAX_ACTIVITY_POINTS}")
        start = as_utc(a.start_time.ToDatetime()) if a.HasField("start_time") else None
        end = as_utc(a.end_time.ToDatetime()) if a.HasField("end_time") else None
        if end is not None and start is None:
            raise InvalidArgument.field("activity.end_time", "needs a start_time")
        if end is not None and start is not None and not start < end <= start + MAX_DURATION:
            raise InvalidArgument.field("activity.end_time", "must be after start_time, at most 24 hours later")
        created = await self.activities.create_activity(path, activity_id, title=title, category=category,
                                                        points=a.points, start=start, created_by=who.subject, end=end)
        return pb.CreateActivityResponse(activity=activity_pb(created))

    async def GetActivity(
        self, request: pb.GetActivityRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetActivityResponse:
        path = reader(request.community_path)
        found, sign_ups = await self.activities.get_activity(path, ident("activity_id", request.activity_id))
        return pb.GetActivityResponse(activity=activity_pb(found), sign_ups=[sign_up_pb(s) for s in sign_ups])

    async def SignUp(self, request: pb.SignUpRequest, context: grpc.aio.ServicerContext) -> pb.SignUpResponse:
        activity_id = ident("activity_id", request.activity_id)
        volunteer_id = ident("volunteer_id", request.volunteer_id)
        path = await worker_or_self(self.people, request.community_path, volunteer_id)
        signed = await self.activities.sign_up(path, activity_id, volunteer_id)
        return pb.SignUpResponse(sign_up=sign_up_pb(signed, with_code=False))  # retired: shown to workers only

    async def CheckIn(self, request: pb.CheckInRequest, context: grpc.aio.ServicerContext) -> pb.CheckInResponse:
        activity_id = ident("activity_id", request.activity_id)
        volunteer_id = ident("volunteer_id", request.volunteer_id)
        target = org_path("community_path", request.community_path)
        who = caller()
        if may_act_as(who, OPERATORS, target) is None and may_act_as(who, [Role.VOLUNTEER], target, exact=True):
            # The sign-up codes that used to pass here proved nothing; a volunteer checks in
            # with what the organiser's screen shows.
            raise PermissionDenied("a volunteer checks in by opening the organiser's QR code (CheckInWithToken); "
                                   "CheckIn is a worker's word", reason="USE_ORGANISER_QR_CODE")
        path = writer(target)
        checked = await self.activities.check_in(path, activity_id, volunteer_id)
        return pb.CheckInResponse(sign_up=sign_up_pb(checked))

    async def IssueCheckInToken(
        self, request: pb.IssueCheckInTokenRequest, context: grpc.aio.ServicerContext
    ) -> pb.IssueCheckInTokenResponse:
        path = writer(request.community_path)
        issued = await self.activities.issue_check_in_token(path, ident("activity_id", request.activity_id))
        return pb.IssueCheckInTokenResponse(
            token=issued.minted.token, expire_time=to_timestamp(issued.minted.expire_time),
            rotate_time=to_timestamp(issued.minted.rotate_time), window_start_time=to_timestamp(issued.window[0]),
            window_end_time=to_timestamp(issued.window[1]), activity=activity_pb(issued.activity))

    async def CheckInWithToken(
        self, request: pb.CheckInWithTokenRequest, context: grpc.aio.ServicerContext
    ) -> pb.CheckInWithTokenResponse:
        volunteer = await volunteer_here(self.people, request.community_path)
        activity_id = ident("activity_id", request.activity_id)
        if not TOKEN.match(request.token):
            raise InvalidArgument.field("token", "is not a check-in token: open the URL of the organiser's QR code "
                                                 "as it is")
        checked, activity = await self.activities.check_in_with_token(
            volunteer.community_path, activity_id, volunteer.volunteer_id, request.token)
        return pb.CheckInWithTokenResponse(sign_up=sign_up_pb(checked, with_code=False), activity=activity_pb(activity))

    async def ConfirmCompletion(
        self, request: pb.ConfirmCompletionRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmCompletionResponse:
        path = writer(request.community_path)
        who = caller()
        activity_id = ident("activity_id", request.activity_id)
        if not request.volunteer_ids:
            raise InvalidArgument.field("volunteer_ids", "name at least one volunteer")
        if len(request.volunteer_ids) > MAX_CONFIRMED_AT_ONCE:
            raise InvalidArgument.field("volunteer_ids", f"at most {MAX_CONFIRMED_AT_ONCE} per call")
        volunteer_ids = sorted({ident("volunteer_ids", v) for v in request.volunteer_ids})
        confirmed = await self.activities.confirm_completion(path, activity_id, volunteer_ids,
                                                             confirmed_by=who.subject)
        return pb.ConfirmCompletionResponse(sign_ups=[sign_up_pb(s, with_code=False) for s in confirmed])

    async def ListHelpCredits(
        self, request: pb.ListHelpCreditsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListHelpCreditsResponse:
        path = reader(request.community_path)
        found, next_token = await self.help_credits.list_page(path, page_token=request.page_token,
                                                              size=page_size(request.page_size))
        return pb.ListHelpCreditsResponse(help_credits=[help_credit_pb(c) for c in found], next_page_token=next_token)
