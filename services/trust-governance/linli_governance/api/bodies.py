from __future__ import annotations

from typing import Any

from linli.governance.v1 import bodies_pb2, bodies_pb2_grpc, project_pb2, project_pb2_grpc
from linli_governance import bodies, projects
from linli_governance.api.account import _seq_token
from linli_governance.api.base import BOOKKEEPERS, ROLLOUT_ROLES, Api
from linli_governance.names import (
    SLUG,
    encode_token,
    page_size,
    parse_child_name,
    require_path,
    require_text,
)
from linli_runtime.auth import Role, require_role, require_scope
from linli_runtime.errors import InvalidArgument

# The community party committee and operators record bodies and meetings; the owners'
# committee keeps its own membership current.
BODY_KEEPERS = (*ROLLOUT_ROLES, Role.OWNERS_COMMITTEE)


class GovernanceBodyServicer(Api, bodies_pb2_grpc.GovernanceBodyServiceServicer):
    async def GetOwnersCommittee(
        self, request: bodies_pb2.GetOwnersCommitteeRequest, context: Any
    ) -> bodies_pb2.GetOwnersCommitteeResponse:
        path = require_scope(require_path(request.compound_path, "compound_path"))

        async def body(session: Any) -> bodies_pb2.GetOwnersCommitteeResponse:
            return bodies_pb2.GetOwnersCommitteeResponse(committee=await bodies.get_committee(session, path))

        return await self.read(body)

    async def UpdateOwnersCommittee(
        self, request: bodies_pb2.UpdateOwnersCommitteeRequest, context: Any
    ) -> bodies_pb2.UpdateOwnersCommitteeResponse:
        require_role(*BODY_KEEPERS)
        committee = bodies_pb2.OwnersCommittee()
        committee.CopyFrom(request.committee)
        committee.compound_path = require_scope(require_path(committee.compound_path, "committee.compound_path"))
        bodies.validate_committee(committee)

        async def body(session: Any) -> bodies_pb2.UpdateOwnersCommitteeResponse:
            return bodies_pb2.UpdateOwnersCommitteeResponse(committee=await bodies.update_committee(session, committee))

        return await self.write("UpdateOwnersCommittee", request, bodies_pb2.UpdateOwnersCommitteeResponse, body)

    async def GetTrustContract(
        self, request: bodies_pb2.GetTrustContractRequest, context: Any
    ) -> bodies_pb2.GetTrustContractResponse:
        path = require_scope(require_path(request.compound_path, "compound_path"))

        async def body(session: Any) -> bodies_pb2.GetTrustContractResponse:
            return bodies_pb2.GetTrustContractResponse(contract=await bodies.get_contract(session, path))

        return await self.read(body)

    async def UpdateTrustContract(
        self, request: bodies_pb2.UpdateTrustContractRequest, context: Any
    ) -> bodies_pb2.UpdateTrustContractResponse:
        require_role(Role.OWNERS_COMMITTEE, *ROLLOUT_ROLES)
        contract = bodies_pb2.TrustContract()
        contract.CopyFrom(request.contract)
        contract.compound_path = require_scope(require_path(contract.compound_path, "contract.compound_path"))
        bodies.validate_contract(contract)

        async def body(session: Any) -> bodies_pb2.UpdateTrustContractResponse:
            return bodies_pb2.UpdateTrustContractResponse(contract=await bodies.update_contract(session, contract))

        return await self.write("UpdateTrustContract", request, bodies_pb2.UpdateTrustContractResponse, body)

    async def CreateMeetingRecord(
        self, request: bodies_pb2.CreateMeetingRecordRequest, context: Any
    ) -> bodies_pb2.CreateMeetingRecordResponse:
        require_role(*BODY_KEEPERS, Role.TRUSTEE)
        path = require_scope(require_path(request.compound_path, "compound_path"))
        bodies.validate_meeting(request)

        async def body(session: Any) -> bodies_pb2.CreateMeetingRecordResponse:
            meeting = await bodies.create_meeting(session, path, request, when=self.now())
            return bodies_pb2.CreateMeetingRecordResponse(meeting=meeting)

        return await self.write("CreateMeetingRecord", request, bodies_pb2.CreateMeetingRecordResponse, body)

    async def ListMeetingRecords(
        self, request: bodies_pb2.ListMeetingRecordsRequest, context: Any
    ) -> bodies_pb2.ListMeetingRecordsResponse:
        path = require_scope(require_path(request.compound_path, "compound_path"))
        limit = page_size(request.page_size)
        after = _seq_token(request.page_token)

        async def body(session: Any) -> bodies_pb2.ListMeetingRecordsResponse:
            items, last = await bodies.list_meetings(session, path, after_seq=after, limit=limit)
            return bodies_pb2.ListMeetingRecordsResponse(
                meetings=items, next_page_token=encode_token(str(last)) if last is not None else ""
            )

        return await self.read(body)


class ProjectServicer(Api, project_pb2_grpc.ProjectServiceServicer):
    async def CreateProject(
        self, request: project_pb2.CreateProjectRequest, context: Any
    ) -> project_pb2.CreateProjectResponse:
        require_role(*BOOKKEEPERS)
        path = require_scope(require_path(request.compound_path, "compound_path"))
        if request.kind not in project_pb2.ProjectKind.values() or request.kind == 0:
            raise InvalidArgument.field("kind", "must name the kind of improvement")
        title = require_text(request.title, "title", max_len=300)
        if not SLUG.match(request.budget_line):
            raise InvalidArgument.field("budget_line", "must be a budget line code")
        if request.budget_fen <= 0:
            raise InvalidArgument.field("budget_fen", "must be a positive amount in fen")

        async def body(session: Any) -> project_pb2.CreateProjectResponse:
            project = await projects.create(
                session,
                path,
                kind=request.kind,
                title=title,
                budget_line=request.budget_line,
                budget_fen=request.budget_fen,
                when=self.now(),
            )
            return project_pb2.CreateProjectResponse(project=project)

        return await self.write("CreateProject", request, project_pb2.CreateProjectResponse, body)

    async def GetProject(self, request: project_pb2.GetProjectRequest, context: Any) -> project_pb2.GetProjectResponse:
        path, project_id = parse_child_name(request.name, "projects")
        require_scope(path)

        async def body(session: Any) -> project_pb2.GetProjectResponse:
            return project_pb2.GetProjectResponse(project=await projects.get(session, path, project_id))

        return await self.read(body)

    async def ListProjects(
        self, request: project_pb2.ListProjectsRequest, context: Any
    ) -> project_pb2.ListProjectsResponse:
        path = require_scope(require_path(request.compound_path, "compound_path"))
        limit = page_size(request.page_size)
        after = _seq_token(request.page_token)

        async def body(session: Any) -> project_pb2.ListProjectsResponse:
            items, last = await projects.list_page(session, path, after_seq=after, limit=limit)
            return project_pb2.ListProjectsResponse(
                projects=items, next_page_token=encode_token(str(last)) if last is not None else ""
            )

        return await self.read(body)

    async def UpdateProjectStatus(
        self, request: project_pb2.UpdateProjectStatusRequest, context: Any
    ) -> project_pb2.UpdateProjectStatusResponse:
        require_role(*BOOKKEEPERS)
        path, project_id = parse_child_name(request.name, "projects")
        require_scope(path)
        if request.status not in project_pb2.ProjectStatus.values() or request.status == 0:
            raise InvalidArgument.field("status", "must be PLANNED, IN_PROGRESS, COMPLETED or CANCELLED")
        for i, ref in enumerate(request.photo_refs):
            require_text(ref, f"photo_refs[{i}]", max_len=500)

        async def body(session: Any) -> project_pb2.UpdateProjectStatusResponse:
            project = await projects.update_status(session, path, project_id, request.status, list(request.photo_refs))
            return project_pb2.UpdateProjectStatusResponse(project=project)

        return await self.write("UpdateProjectStatus", request, project_pb2.UpdateProjectStatusResponse, body)
