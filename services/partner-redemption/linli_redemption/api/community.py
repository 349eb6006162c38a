"""linli.redemption.v1.CommunityService: the member units' rotating duty (with swaps), the
needs, resources and projects lists of a community, resources suggested for a need, and a
project's changes of state with their history. Writes with a request id run once per id
(`api.writes`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

import grpc

from linli.redemption.v1 import community_pb2 as pb
from linli.redemption.v1 import community_pb2_grpc
from linli_redemption.api.access import community, writer
from linli_redemption.api.convert import (
    NEED_STATE_NAMES,
    PROJECT_FILTERS,
    duty_period_pb,
    need_pb,
    project_change_pb,
    project_pb,
    resource_pb,
    suggestion_pb,
)
from linli_redemption.api.writes import Writes
from linli_redemption.community import (
    DEFAULT_SUGGESTIONS,
    MAX_CAPACITY,
    MAX_SUGGESTIONS,
    Community,
    NewNeed,
    NewResource,
    check_weekdays,
)
from linli_redemption.duty import Duty, check_units
from linli_redemption.projects import CANCELLED, DONE, IN_PROGRESS, NewProject, Projects, check_project_resources
from linli_runtime import fields, paging, times
from linli_runtime.auth import caller
from linli_runtime.errors import InvalidArgument
from linli_runtime.org_units import KnownUnits

Changing = pb.StartProjectRequest | pb.CompleteProjectRequest | pb.CancelProjectRequest
Changed = TypeVar("Changed", pb.StartProjectResponse, pb.CompleteProjectResponse, pb.CancelProjectResponse)

FULL_NAME = pb.DESCRIPTOR.services_by_name["CommunityService"].full_name


class CommunityServicer(community_pb2_grpc.CommunityServiceServicer):
    def __init__(self, duty: Duty, lists: Community, projects: Projects, writes: Writes, places: KnownUnits) -> None:
        self.duty, self.lists, self.projects, self.writes, self.places = duty, lists, projects, writes, places

    # -- rotating duty -------------------------------------------------------------------------

    async def SetDutyRotation(self, request: pb.SetDutyRotationRequest,
                              context: grpc.aio.ServicerContext) -> pb.SetDutyRotationResponse:
        path = writer(request.community_path)
        await self.places.require(path)
        ids = check_units(request.partner_ids)
        start = times.parse_date("start_date", request.start_date)
        days = fields.in_range("period_days", request.period_days, 1, 366)
        periods = await self.duty.set_rotation(path, ids, start, days)
        return pb.SetDutyRotationResponse(periods=[duty_period_pb(p) for p in periods])

    async def ListDutyPeriods(self, request: pb.ListDutyPeriodsRequest,
                              context: grpc.aio.ServicerContext) -> pb.ListDutyPeriodsResponse:
        path = community(request.community_path)
        size = paging.page_size(request.page_size)
        from_date = times.parse_date("from_date", request.from_date) if request.from_date else None
        periods, next_token = await self.duty.periods(path, page_token=request.page_token, from_date=from_date,
                                                      size=size)
        return pb.ListDutyPeriodsResponse(periods=[duty_period_pb(p) for p in periods], next_page_token=next_token)

    async def SwapDuty(self, request: pb.SwapDutyRequest, context: grpc.aio.ServicerContext) -> pb.SwapDutyResponse:
        path = writer(request.community_path)
        request_id = fields.request_id(request.request_id, required=True)
        first = fields.in_range("first_index", request.first_index, 0, 100_000)
        second = fields.in_range("second_index", request.second_index, 0, 100_000)
        periods = await self.duty.swap(path, request_id, first, second)
        return pb.SwapDutyResponse(periods=[duty_period_pb(p) for p in periods])

    # -- needs and resources -------------------------------------------------------------------

    async def CreateNeed(self, request: pb.CreateNeedRequest,
                         context: grpc.aio.ServicerContext) -> pb.CreateNeedResponse:
        path = writer(request.community_path)
        await self.places.require(path)
        new = NewNeed(title=fields.text("title", request.title, 200, required=True),
                      category=category(request.category),
                      detail=fields.text("detail", request.detail, 2000),
                      raised_by=fields.text("raised_by", request.raised_by, 200),
                      receive_time=receive_time(request))
        return await self.writes.once(request, pb.CreateNeedResponse,
                                      lambda session: self.lists.create_need(session, path, new),
                                      lambda need: pb.CreateNeedResponse(need=need_pb(need)))

    async def ListNeeds(self, request: pb.ListNeedsRequest, context: grpc.aio.ServicerContext) -> pb.ListNeedsResponse:
        path = community(request.community_path)
        state = None
        if request.state:
            if request.state not in NEED_STATE_NAMES:
                raise InvalidArgument.field("state", "is not a known need state")
            state = NEED_STATE_NAMES[request.state]
        needs, token = await self.lists.needs(path, state, request.page_token, paging.page_size(request.page_size))
        return pb.ListNeedsResponse(needs=[need_pb(n) for n in needs], next_page_token=token)

    async def CreateResource(self, request: pb.CreateResourceRequest,
                             context: grpc.aio.ServicerContext) -> pb.CreateResourceResponse:
        path = writer(request.community_path)
        await self.places.require(path)
        new = NewResource(
            title=fields.text("title", request.title, 200, required=True), category=category(request.category),
            partner_id=fields.ident("partner_id", request.partner_id),
            detail=fields.text("detail", request.detail, 2000),
            available_from=times.parse_date("available_from", request.available_from)
            if request.available_from else None,
            available_until=times.parse_date("available_until", request.available_until)
            if request.available_until else None,
            weekdays=check_weekdays(request.weekdays),
            capacity=fields.in_range("capacity", request.capacity, 0, MAX_CAPACITY))
        return await self.writes.once(request, pb.CreateResourceResponse,
                                      lambda session: self.lists.create_resource(session, path, new),
                                      lambda resource: pb.CreateResourceResponse(resource=resource_pb(resource)))

    async def ListResources(self, request: pb.ListResourcesRequest,
                            context: grpc.aio.ServicerContext) -> pb.ListResourcesResponse:
        path = community(request.community_path)
        resources, token = await self.lists.resources(path, request.page_token, paging.page_size(request.page_size))
        return pb.ListResourcesResponse(resources=[resource_pb(r) for r in resources], next_page_token=token)

    async def SuggestResources(self, request: pb.SuggestResourcesRequest,
                               context: grpc.aio.ServicerContext) -> pb.SuggestResourcesResponse:
        path = community(request.community_path)
        need_id = fields.ident("need_id", request.need_id)
        limit = fields.in_range("max_suggestions", request.max_suggestions, 0, MAX_SUGGESTIONS) or DEFAULT_SUGGESTIONS
        need, suggestions, partner_names = await self.lists.suggest(path, need_id, limit)
        return pb.SuggestResourcesResponse(need=need_pb(need), suggestions=[
            suggestion_pb(rank, s, partner_names) for rank, s in enumerate(suggestions, start=1)])

    # -- projects ------------------------------------------------------------------------------

    async def CreateProject(self, request: pb.CreateProjectRequest,
                            context: grpc.aio.ServicerContext) -> pb.CreateProjectResponse:
        path = writer(request.community_path)
        await self.places.require(path)
        request_id = fields.request_id(request.request_id, required=True)
        title = fields.text("title", request.title, 200, required=True)
        owner = fields.text("owner", request.owner, 200, required=True)
        project = await self.projects.create(path, NewProject(
            request_id=request_id, title=title, need_id=fields.ident("need_id", request.need_id),
            resource_ids=check_project_resources(request.resource_ids), owner=owner), caller().subject)
        return pb.CreateProjectResponse(project=project_pb(project))

    async def GetProject(self, request: pb.GetProjectRequest,
                         context: grpc.aio.ServicerContext) -> pb.GetProjectResponse:
        path = community(request.community_path)
        project, history = await self.projects.get(path, fields.ident("project_id", request.project_id))
        return pb.GetProjectResponse(project=project_pb(project), history=[project_change_pb(c) for c in history])

    async def _change(self, request: Changing, response_cls: type[Changed], target: str, note: str) -> Changed:
        path = writer(request.community_path)
        project_id = fields.ident("project_id", request.project_id)
        actor = caller().subject
        return await self.writes.once(
            request, response_cls, lambda session: self.projects.change(session, path, project_id, target, note, actor),
            lambda project: response_cls(project=project_pb(project)))

    async def StartProject(self, request: pb.StartProjectRequest,
                           context: grpc.aio.ServicerContext) -> pb.StartProjectResponse:
        note = fields.text("note", request.note, 2000)
        return await self._change(request, pb.StartProjectResponse, IN_PROGRESS, note)

    async def CompleteProject(self, request: pb.CompleteProjectRequest,
                              context: grpc.aio.ServicerContext) -> pb.CompleteProjectResponse:
        outcome = fields.text("outcome", request.outcome, 2000, required=True)
        return await self._change(request, pb.CompleteProjectResponse, DONE, outcome)

    async def CancelProject(self, request: pb.CancelProjectRequest,
                            context: grpc.aio.ServicerContext) -> pb.CancelProjectResponse:
        reason = fields.text("reason", request.reason, 2000, required=True)
        return await self._change(request, pb.CancelProjectResponse, CANCELLED, reason)

    async def CloseProject(self, request: pb.CloseProjectRequest,
                           context: grpc.aio.ServicerContext) -> pb.CloseProjectResponse:
        path = writer(request.community_path)
        outcome = fields.text("outcome", request.outcome, 2000, required=True)
        project = await self.projects.close(path, fields.ident("project_id", request.project_id), outcome,
                                            caller().subject)
        return pb.CloseProjectResponse(project=project_pb(project))

    async def ListProjects(self, request: pb.ListProjectsRequest,
                           context: grpc.aio.ServicerContext) -> pb.ListProjectsResponse:
        path = community(request.community_path)
        states: tuple[str, ...] = ()
        if request.state:
            if request.state not in PROJECT_FILTERS:
                raise InvalidArgument.field("state", "is not a known project state")
            states = PROJECT_FILTERS[request.state]
        projects, token = await self.projects.list(path, states, request.page_token,
                                                   paging.page_size(request.page_size))
        return pb.ListProjectsResponse(projects=[project_pb(p) for p in projects], next_page_token=token)


def receive_time(request: pb.CreateNeedRequest) -> datetime | None:
    """When the need came in, if the request says (the domain checks it is not in the future
    and not too old)."""
    if not request.HasField("receive_time"):
        return None
    try:
        return request.receive_time.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidArgument.field("receive_time", "is not a valid time") from exc


def category(value: str) -> str:
    """A need's or resource's category: required, a slug (`elderly-meals`)."""
    if not value:
        raise InvalidArgument.field("category", "is required: a slug such as elderly-meals")
    return fields.slug("category", value)
