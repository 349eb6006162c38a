from __future__ import annotations

from typing import Any

from linli.governance.v1 import bodies_pb2, bodies_pb2_grpc, project_pb2, project_pb2_grpc
from linli_governance import accounts, bodies, formation, names, projects, service_levels
from linli_governance.api import convert
from linli_governance.api.base import BODY_KEEPERS, Api
from linli_governance.periods import parse_period
from linli_runtime import fields, paging, times
from linli_runtime.auth import BOOKKEEPERS, STAFF, Role, caller
from linli_runtime.errors import InvalidArgument
from linli_runtime.times import as_utc


class GovernanceBodyServicer(Api, bodies_pb2_grpc.GovernanceBodyServiceServicer):
    async def GetOwnersCommittee(
        self, request: bodies_pb2.GetOwnersCommitteeRequest, context: Any
    ) -> bodies_pb2.GetOwnersCommitteeResponse:
        path = self.scoped_path("compound_path", request.compound_path)
        return bodies_pb2.GetOwnersCommitteeResponse(
            committee=convert.committee(await bodies.get_committee(self.db, path))
        )

    async def ListCommitteeTerms(
        self, request: bodies_pb2.ListCommitteeTermsRequest, context: Any
    ) -> bodies_pb2.ListCommitteeTermsResponse:
        path = self.scoped_path("compound_path", request.compound_path)
        terms, token = await bodies.list_terms(
            self.db, path, page_token=request.page_token, size=paging.page_size(request.page_size)
        )
        return bodies_pb2.ListCommitteeTermsResponse(
            terms=[convert.committee(t, history=True) for t in terms], next_page_token=token
        )

    async def StartCommitteeFormation(
        self, request: bodies_pb2.StartCommitteeFormationRequest, context: Any
    ) -> bodies_pb2.StartCommitteeFormationResponse:
        path = self.scoped_path("compound_path", request.compound_path, *STAFF)
        group = [formation.GroupMember(m.display_name, m.party, m.household_path) for m in request.preparatory_group]
        times.parse_date("date", request.date)
        formation.validate_group(path, group)
        return await self.write(
            request,
            bodies_pb2.StartCommitteeFormationResponse,
            lambda session: formation.start(session, path, request.date, group, when=self.now()),
            lambda started: bodies_pb2.StartCommitteeFormationResponse(formation=convert.formation(started)),
        )

    async def NominateCommitteeCandidates(
        self, request: bodies_pb2.NominateCommitteeCandidatesRequest, context: Any
    ) -> bodies_pb2.NominateCommitteeCandidatesResponse:
        path = self.scoped_path("compound_path", request.compound_path, *STAFF)
        candidates = [bodies.Member(m.display_name, m.role, m.household_path) for m in request.candidates]
        formation.validate_candidates(path, candidates)
        return await self.write(
            request,
            bodies_pb2.NominateCommitteeCandidatesResponse,
            lambda session: formation.nominate(session, path, candidates, when=self.now()),
            lambda nominated: bodies_pb2.NominateCommitteeCandidatesResponse(formation=convert.formation(nominated)),
        )

    async def CallCommitteeElection(
        self, request: bodies_pb2.CallCommitteeElectionRequest, context: Any
    ) -> bodies_pb2.CallCommitteeElectionResponse:
        path = self.scoped_path("compound_path", request.compound_path, *STAFF)
        if not request.HasField("close_time"):
            raise InvalidArgument.field("close_time", "is required")
        close_time = as_utc(request.close_time.ToDatetime())
        open_time = as_utc(request.open_time.ToDatetime()) if request.HasField("open_time") else None
        return await self.write(
            request,
            bodies_pb2.CallCommitteeElectionResponse,
            lambda session: formation.call_election(
                session, path, open_time=open_time, close_time=close_time, when=self.now()
            ),
            lambda called: bodies_pb2.CallCommitteeElectionResponse(formation=convert.formation(called)),
        )

    async def FileCommitteeTerm(
        self, request: bodies_pb2.FileCommitteeTermRequest, context: Any
    ) -> bodies_pb2.FileCommitteeTermResponse:
        path = self.scoped_path("compound_path", request.compound_path, *BODY_KEEPERS)
        times.parse_date("date", request.date)
        return await self.write(
            request,
            bodies_pb2.FileCommitteeTermResponse,
            lambda session: formation.file_term(
                session, path, request.date, request.filing_reference, when=self.now()
            ),
            lambda filed: bodies_pb2.FileCommitteeTermResponse(committee=convert.committee(filed)),
        )

    async def GetCommitteeFormation(
        self, request: bodies_pb2.GetCommitteeFormationRequest, context: Any
    ) -> bodies_pb2.GetCommitteeFormationResponse:
        path = self.scoped_path("compound_path", request.compound_path)
        return bodies_pb2.GetCommitteeFormationResponse(formation=convert.formation(await formation.get(self.db, path)))

    async def UpdateOwnersCommittee(
        self, request: bodies_pb2.UpdateOwnersCommitteeRequest, context: Any
    ) -> bodies_pb2.UpdateOwnersCommitteeResponse:
        path = self.scoped_path("committee.compound_path", request.committee.compound_path, *BODY_KEEPERS)
        committee = convert.committee_from(request.committee, path)
        bodies.validate_committee(committee)
        return await self.write(
            request,
            bodies_pb2.UpdateOwnersCommitteeResponse,
            lambda session: bodies.update_committee(session, committee, when=self.now()),
            lambda saved: bodies_pb2.UpdateOwnersCommitteeResponse(committee=convert.committee(saved)),
        )

    async def GetTrustContract(
        self, request: bodies_pb2.GetTrustContractRequest, context: Any
    ) -> bodies_pb2.GetTrustContractResponse:
        path = self.scoped_path("compound_path", request.compound_path)
        return bodies_pb2.GetTrustContractResponse(contract=convert.contract(await bodies.get_contract(self.db, path)))

    async def UpdateTrustContract(
        self, request: bodies_pb2.UpdateTrustContractRequest, context: Any
    ) -> bodies_pb2.UpdateTrustContractResponse:
        path = self.scoped_path("contract.compound_path", request.contract.compound_path, Role.OWNERS_COMMITTEE, *STAFF)
        contract = convert.contract_from(request.contract, path)
        bodies.validate_contract(contract)
        return await self.write(
            request,
            bodies_pb2.UpdateTrustContractResponse,
            lambda session: bodies.update_contract(session, contract),
            lambda saved: bodies_pb2.UpdateTrustContractResponse(contract=convert.contract(saved)),
        )

    async def CreateMeetingRecord(
        self, request: bodies_pb2.CreateMeetingRecordRequest, context: Any
    ) -> bodies_pb2.CreateMeetingRecordResponse:
        path = self.scoped_path("compound_path", request.compound_path, *BODY_KEEPERS, Role.TRUSTEE)
        meeting = convert.meeting_from(request)
        bodies.validate_meeting(meeting)
        return await self.write(
            request,
            bodies_pb2.CreateMeetingRecordResponse,
            lambda session: bodies.create_meeting(session, path, meeting, when=self.now()),
            lambda created: bodies_pb2.CreateMeetingRecordResponse(meeting=convert.meeting(created)),
        )

    async def ListMeetingRecords(
        self, request: bodies_pb2.ListMeetingRecordsRequest, context: Any
    ) -> bodies_pb2.ListMeetingRecordsResponse:
        path = self.scoped_path("compound_path", request.compound_path)
        items, token = await bodies.list_meetings(
            self.db, path, page_token=request.page_token, size=paging.page_size(request.page_size)
        )
        return bodies_pb2.ListMeetingRecordsResponse(
            meetings=[convert.meeting(m) for m in items], next_page_token=token
        )


    async def RecordServiceLevel(
        self, request: bodies_pb2.RecordServiceLevelRequest, context: Any
    ) -> bodies_pb2.RecordServiceLevelResponse:
        # The trustee reports what it did; the committee and the supervisor may record their check.
        path = self.scoped_path("compound_path", request.compound_path, *BOOKKEEPERS, Role.TRUST_SUPERVISOR)
        who = caller()
        parse_period(request.period)
        fields.slug("code", request.code)
        note = service_levels.check_measure(request.measured, request.note)
        return await self.write(
            request,
            bodies_pb2.RecordServiceLevelResponse,
            lambda session: service_levels.record(
                session,
                path,
                request.period,
                request.code,
                measured=request.measured,
                note=note,
                recorded_by=who.subject,
                when=self.now(),
            ),
            lambda measure: bodies_pb2.RecordServiceLevelResponse(service_level=convert.service_level(measure)),
        )

    async def ListServiceLevels(
        self, request: bodies_pb2.ListServiceLevelsRequest, context: Any
    ) -> bodies_pb2.ListServiceLevelsResponse:
        path = self.scoped_path("compound_path", request.compound_path)
        measures = await service_levels.list_for_period(self.db, path, request.period)
        return bodies_pb2.ListServiceLevelsResponse(service_levels=[convert.service_level(m) for m in measures])


class ProjectServicer(Api, project_pb2_grpc.ProjectServiceServicer):
    async def CreateProject(
        self, request: project_pb2.CreateProjectRequest, context: Any
    ) -> project_pb2.CreateProjectResponse:
        path = self.scoped_path("compound_path", request.compound_path, *BOOKKEEPERS)
        projects.check_kind(request.kind)
        title = fields.text("title", request.title, 300, required=True)
        fields.slug("budget_line", request.budget_line)
        accounts.amount(request.budget_fen, "budget_fen")
        return await self.write(
            request,
            project_pb2.CreateProjectResponse,
            lambda session: projects.create(
                session,
                path,
                kind=request.kind,
                title=title,
                budget_line=request.budget_line,
                budget_fen=request.budget_fen,
                when=self.now(),
            ),
            lambda created: project_pb2.CreateProjectResponse(project=convert.project(created)),
        )

    async def GetProject(self, request: project_pb2.GetProjectRequest, context: Any) -> project_pb2.GetProjectResponse:
        path, project_id = self.scoped_child("name", request.name, names.PROJECTS)
        return project_pb2.GetProjectResponse(project=convert.project(await projects.get(self.db, path, project_id)))

    async def ListProjects(
        self, request: project_pb2.ListProjectsRequest, context: Any
    ) -> project_pb2.ListProjectsResponse:
        path = self.scoped_path("compound_path", request.compound_path)
        items, token = await projects.list_page(
            self.db, path, page_token=request.page_token, size=paging.page_size(request.page_size)
        )
        return project_pb2.ListProjectsResponse(projects=[convert.project(p) for p in items], next_page_token=token)

    async def UpdateProjectStatus(
        self, request: project_pb2.UpdateProjectStatusRequest, context: Any
    ) -> project_pb2.UpdateProjectStatusResponse:
        path, project_id = self.scoped_child("name", request.name, names.PROJECTS, *BOOKKEEPERS)
        projects.check_status(request.status)
        for i, ref in enumerate(request.photo_refs):
            fields.text(f"photo_refs[{i}]", ref, 500, required=True)
        return await self.write(
            request,
            project_pb2.UpdateProjectStatusResponse,
            lambda session: projects.update_status(session, path, project_id, request.status, request.photo_refs),
            lambda updated: project_pb2.UpdateProjectStatusResponse(project=convert.project(updated)),
        )
