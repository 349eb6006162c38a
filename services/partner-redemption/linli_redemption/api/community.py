"""linli.redemption.v1.CommunityService: the member units' rotating duty (with swaps) and the
needs, resources and projects lists of a community."""

from __future__ import annotations

import grpc

from linli.redemption.v1 import community_pb2 as pb
from linli.redemption.v1 import community_pb2_grpc
from linli_redemption.api.access import community, writer
from linli_redemption.api.convert import PROJECT_STATE_NAMES, duty_period_pb, need_pb, project_pb, resource_pb
from linli_redemption.community import Community, NewProject, check_project_resources
from linli_redemption.duty import Duty, check_units
from linli_runtime import fields, paging, times
from linli_runtime.errors import InvalidArgument

FULL_NAME = pb.DESCRIPTOR.services_by_name["CommunityService"].full_name


class CommunityServicer(community_pb2_grpc.CommunityServiceServicer):
    def __init__(self, duty: Duty, lists: Community) -> None:
        self.duty, self.lists = duty, lists

    # -- rotating duty -------------------------------------------------------------------------

    async def SetDutyRotation(self, request: pb.SetDutyRotationRequest,
                              context: grpc.aio.ServicerContext) -> pb.SetDutyRotationResponse:
        path = writer(request.community_path)
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
        need = await self.lists.create_need(
            path, title=fields.text("title", request.title, 200, required=True),
            detail=fields.text("detail", request.detail, 2000),
            raised_by=fields.text("raised_by", request.raised_by, 200))
        return pb.CreateNeedResponse(need=need_pb(need))

    async def ListNeeds(self, request: pb.ListNeedsRequest, context: grpc.aio.ServicerContext) -> pb.ListNeedsResponse:
        path = community(request.community_path)
        needs, token = await self.lists.needs(path, request.page_token, paging.page_size(request.page_size))
        return pb.ListNeedsResponse(needs=[need_pb(n) for n in needs], next_page_token=token)

    async def CreateResource(self, request: pb.CreateResourceRequest,
                             context: grpc.aio.ServicerContext) -> pb.CreateResourceResponse:
        path = writer(request.community_path)
        resource = await self.lists.create_resource(
            path, title=fields.text("title", request.title, 200, required=True),
            detail=fields.text("detail", request.detail, 2000), partner_id=request.partner_id)
        return pb.CreateResourceResponse(resource=resource_pb(resource))

    async def ListResources(self, request: pb.ListResourcesRequest,
                            context: grpc.aio.ServicerContext) -> pb.ListResourcesResponse:
        path = community(request.community_path)
        resources, token = await self.lists.resources(path, request.page_token, paging.page_size(request.page_size))
        return pb.ListResourcesResponse(resources=[resource_pb(r) for r in resources], next_page_token=token)

    # -- projects ------------------------------------------------------------------------------

    async def CreateProject(self, request: pb.CreateProjectRequest,
                            context: grpc.aio.ServicerContext) -> pb.CreateProjectResponse:
        path = writer(request.community_path)
        request_id = fields.request_id(request.request_id, required=True)
        title = fields.text("title", request.title, 200, required=True)
        owner = fields.text("owner", request.owner, 200, required=True)
        project = await self.lists.create_project(path, NewProject(
            request_id=request_id, title=title, need_id=request.need_id,
            resource_ids=check_project_resources(request.resource_ids), owner=owner))
        return pb.CreateProjectResponse(project=project_pb(project))

    async def CloseProject(self, request: pb.CloseProjectRequest,
                           context: grpc.aio.ServicerContext) -> pb.CloseProjectResponse:
        path = writer(request.community_path)
        outcome = fields.text("outcome", request.outcome, 2000, required=True)
        return pb.CloseProjectResponse(project=project_pb(await self.lists.close_project(path, request.project_id,
                                                                                         outcome)))

    async def ListProjects(self, request: pb.ListProjectsRequest,
                           context: grpc.aio.ServicerContext) -> pb.ListProjectsResponse:
        path = community(request.community_path)
        state = None
        if request.state:
            if request.state not in PROJECT_STATE_NAMES:
                raise InvalidArgument.field("state", "is not a known project state")
            state = PROJECT_STATE_NAMES[request.state]
        projects, token = await self.lists.projects(path, state, request.page_token,
                                                    paging.page_size(request.page_size))
        return pb.ListProjectsResponse(projects=[project_pb(p) for p in projects], next_page_token=token)
