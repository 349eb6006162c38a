"""linli.points.v1.VolunteerService: volunteers, families, teams, memberships, roster imports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from linli.points.v1 import volunteers_pb2 as pb
from linli.points.v1 import volunteers_pb2_grpc
from linli_points.api.access import may_list_own, reader, reader_or_self, writer
from linli_points.api.convert import family_pb, membership_pb, profile_pb, team_pb, team_size_pb, volunteer_pb
from linli_points.people import People
from linli_points.profiles import Profiles
from linli_points.roster import Progress, Roster
from linli_points.roster_files import ZIP_MAGIC
from linli_runtime.errors import InvalidArgument
from linli_runtime.fields import account_id, display_name, ident
from linli_runtime.names import org_path
from linli_runtime.org_units import KnownUnits
from linli_runtime.paging import page_size
from linli_runtime.times import parse_date

FULL_NAME = pb.DESCRIPTOR.services_by_name["VolunteerService"].full_name


class VolunteerServicer(volunteers_pb2_grpc.VolunteerServiceServicer):
    def __init__(self, people: People, roster: Roster, places: KnownUnits, profiles: Profiles) -> None:
        self.people = people
        self.profiles = profiles
        self.roster = roster
        self.places = places

    async def CreateVolunteer(
        self, request: pb.CreateVolunteerRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateVolunteerResponse:
        v = request.volunteer
        path = writer(v.community_path, "volunteer.community_path")
        await self.places.require(path, field="volunteer.community_path")
        created = await self.people.create_volunteer(
            path, ident("volunteer.volunteer_id", v.volunteer_id),
            display_name("volunteer.display_name", v.display_name),
            person_id=ident("volunteer.person_id", v.person_id) if v.person_id else "",
            family_id=ident("volunteer.family_id", v.family_id) if v.family_id else "",
            account_id=account_id("volunteer.account_id", v.account_id) if v.account_id else "")
        return pb.CreateVolunteerResponse(volunteer=volunteer_pb(created))

    async def BindVolunteerAccount(
        self, request: pb.BindVolunteerAccountRequest, context: grpc.aio.ServicerContext
    ) -> pb.BindVolunteerAccountResponse:
        path = writer(request.community_path)
        volunteer_id = ident("volunteer_id", request.volunteer_id)
        account = account_id("account_id", request.account_id) if request.account_id else ""
        bound = await self.people.bind_account(path, volunteer_id, account)
        return pb.BindVolunteerAccountResponse(volunteer=volunteer_pb(bound))

    async def GetVolunteer(
        self, request: pb.GetVolunteerRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetVolunteerResponse:
        path = reader(request.community_path)
        found = await self.people.get_volunteer(path, ident("volunteer_id", request.volunteer_id))
        return pb.GetVolunteerResponse(volunteer=volunteer_pb(found))

    async def GetVolunteerProfile(
        self, request: pb.GetVolunteerProfileRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetVolunteerProfileResponse:
        volunteer_id = ident("volunteer_id", request.volunteer_id)
        path = await reader_or_self(self.people, request.community_path, volunteer_id)
        return pb.GetVolunteerProfileResponse(profile=profile_pb(await self.profiles.get(path, volunteer_id)))

    async def ListVolunteers(
        self, request: pb.ListVolunteersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListVolunteersResponse:
        path = org_path("community_path", request.community_path)
        account = account_id("account_id", request.account_id) if request.account_id else ""
        if not may_list_own(path, account):  # anyone may find their own record where they belong
            reader(path)
        size = page_size(request.page_size)
        family_id = ident("family_id", request.family_id) if request.family_id else ""
        found, next_token = await self.people.list_volunteers(path, family_id=family_id, account_id=account,
                                                              page_token=request.page_token, size=size)
        return pb.ListVolunteersResponse(volunteers=[volunteer_pb(v) for v in found], next_page_token=next_token)

    async def CreateFamily(
        self, request: pb.CreateFamilyRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateFamilyResponse:
        f = request.family
        path = writer(f.community_path, "family.community_path")
        await self.places.require(path, field="family.community_path")
        created = await self.people.create_family(path, ident("family.family_id", f.family_id),
                                                  display_name("family.display_name", f.display_name))
        return pb.CreateFamilyResponse(family=family_pb(created))

    async def ListFamilies(
        self, request: pb.ListFamiliesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListFamiliesResponse:
        path = reader(request.community_path)
        found, next_token = await self.people.list_families(path, page_token=request.page_token,
                                                            size=page_size(request.page_size))
        return pb.ListFamiliesResponse(families=[family_pb(f) for f in found], next_page_token=next_token)

    async def CreateTeam(
        self, request: pb.CreateTeamRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateTeamResponse:
        t = request.team
        path = writer(t.community_path, "team.community_path")
        await self.places.require(path, field="team.community_path")
        created = await self.people.create_team(path, ident("team.team_id", t.team_id),
                                                display_name("team.display_name", t.display_name))
        return pb.CreateTeamResponse(team=team_pb(created))

    async def ListTeams(self, request: pb.ListTeamsRequest, context: grpc.aio.ServicerContext) -> pb.ListTeamsResponse:
        path = reader(request.community_path)
        found, next_token = await self.people.list_teams(path, page_token=request.page_token,
                                                         size=page_size(request.page_size))
        return pb.ListTeamsResponse(teams=[team_size_pb(t) for t in found], next_page_token=next_token)

    async def JoinTeam(self, request: pb.JoinTeamRequest, context: grpc.aio.ServicerContext) -> pb.JoinTeamResponse:
        path = writer(request.community_path)
        joined = await self.people.join_team(path, ident("team_id", request.team_id),
                                             ident("volunteer_id", request.volunteer_id),
                                             parse_date("join_date", request.join_date))
        return pb.JoinTeamResponse(membership=membership_pb(joined))

    async def LeaveTeam(self, request: pb.LeaveTeamRequest, context: grpc.aio.ServicerContext) -> pb.LeaveTeamResponse:
        path = writer(request.community_path)
        left = await self.people.leave_team(path, ident("team_id", request.team_id),
                                            ident("volunteer_id", request.volunteer_id),
                                            parse_date("leave_date", request.leave_date))
        return pb.LeaveTeamResponse(membership=membership_pb(left))

    async def ImportRoster(
        self, request: pb.ImportRosterRequest, context: grpc.aio.ServicerContext
    ) -> pb.ImportRosterResponse:
        return await self._import_roster(request)

    async def StreamImportRoster(
        self, request: pb.StreamImportRosterRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.StreamImportRosterResponse]:
        """The import runs as a task that reports each row done; this stream passes on about a
        hundred of those reports, then the import's outcome (its report, or its refusal)."""
        steps: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue()
        work = asyncio.ensure_future(self._import_roster(request.roster, lambda done, total: steps.put_nowait(
            (done, total))))
        work.add_done_callback(lambda _: steps.put_nowait(None))
        sent = -1
        try:
            while (step := await steps.get()) is not None:
                done, total = step
                if sent < 0 or done - sent >= max(1, -(-total // 100)) or done == total:  # ~100 messages at most
                    sent = done
                    yield pb.StreamImportRosterResponse(rows_done=done, rows_total=total)
            report = work.result()  # a refusal is raised here, and ends the stream with its status
        finally:
            work.cancel()  # the caller went away: stop importing (a strict import rolls back)
        yield pb.StreamImportRosterResponse(rows_done=report.rows_total, rows_total=report.rows_total, report=report)

    async def _import_roster(self, request: pb.ImportRosterRequest,
                             progress: Progress | None = None) -> pb.ImportRosterResponse:
        path = writer(request.community_path)
        await self.places.require(path)
        if request.mode == pb.IMPORT_MODE_UNSPECIFIED:
            raise InvalidArgument.field("mode", "choose ALL_OR_NOTHING or PER_ROW")
        which = request.WhichOneof("content")
        if which == "xlsx_content":
            content, workbook = request.xlsx_content, True
        elif request.csv_content:
            # Deprecated, for one release: a workbook sent in csv_content (as clients did before
            # xlsx_content existed) is still read as a workbook; refusals name csv_content.
            content, workbook = request.csv_content, request.csv_content.startswith(ZIP_MAGIC)
        else:
            raise InvalidArgument.field("csv_content", "is required (or xlsx_content for an Excel workbook)")
        report = await self.roster.import_file(path, content, which or "csv_content", workbook=workbook,
                                               all_or_nothing=request.mode == pb.IMPORT_MODE_ALL_OR_NOTHING,
                                               progress=progress)
        return pb.ImportRosterResponse(
            rows_total=report.rows_total, rows_imported=report.rows_imported, encoding=report.encoding,
            rejections=[pb.RowRejection(line=r.line, field=r.field, reason=r.reason) for r in report.rejections],
        )
