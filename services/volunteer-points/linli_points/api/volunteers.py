"""linli.points.v1.VolunteerService: volunteers, families, teams and memberships."""

from __future__ import annotations

from typing import Any

import grpc
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.points.v1 import volunteers_pb2 as pb
from linli.points.v1 import volunteers_pb2_grpc
from linli_points.api.common import (
    community,
    display_name,
    ident,
    page_size,
    parse_date,
    require_reader,
    require_writer,
    timestamp,
)
from linli_points.ledger.store import utc
from linli_points.people import create_family, create_team, create_volunteer, current_membership, join_team
from linli_points.periods import local
from linli_points.roster import import_roster, xlsx_to_csv
from linli_points.schema import families, memberships, teams, volunteers
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.paging import keyset_page
from linli_runtime.transactions import run_in_transaction

FULL_NAME = pb.DESCRIPTOR.services_by_name["VolunteerService"].full_name


def volunteer_pb(row: Any) -> pb.Volunteer:
    return pb.Volunteer(
        community_path=row.community_path, volunteer_id=row.volunteer_id, display_name=row.display_name,
        person_id=row.person_id, family_id=row.family_id,
        create_time=timestamp(utc(row.created_at)),
    )


def family_pb(row: Any) -> pb.Family:
    return pb.Family(
        community_path=row.community_path, family_id=row.family_id, display_name=row.display_name,
        create_time=timestamp(utc(row.created_at)),
    )


def membership_pb(row: Any) -> pb.Membership:
    return pb.Membership(team_id=row.team_id, volunteer_id=row.volunteer_id, join_date=row.join_date.isoformat(),
                         leave_date=row.leave_date.isoformat() if row.leave_date else "")


class VolunteerServicer(volunteers_pb2_grpc.VolunteerServiceServicer):
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def CreateVolunteer(
        self, request: pb.CreateVolunteerRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateVolunteerResponse:
        v = request.volunteer
        path = community(v.community_path, "volunteer.community_path")
        require_writer()
        volunteer_id = ident("volunteer.volunteer_id", v.volunteer_id)
        name = display_name("volunteer.display_name", v.display_name)
        person_id = ident("volunteer.person_id", v.person_id) if v.person_id else ""
        family_id = ident("volunteer.family_id", v.family_id) if v.family_id else ""
        row, _ = await run_in_transaction(self.db, lambda conn: create_volunteer(
            conn, path, volunteer_id, name, person_id=person_id, family_id=family_id, now=self.clock.now()))
        return pb.CreateVolunteerResponse(volunteer=volunteer_pb(row))

    async def GetVolunteer(
        self, request: pb.GetVolunteerRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetVolunteerResponse:
        path = community(request.community_path)
        require_reader()
        volunteer_id = ident("volunteer_id", request.volunteer_id)
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(sa.select(volunteers).where(
                volunteers.c.community_path == path, volunteers.c.volunteer_id == volunteer_id))).first()
        if row is None:
            raise NotFound(f"volunteer {volunteer_id!r} does not exist in {path}", reason="VOLUNTEER_NOT_FOUND")
        return pb.GetVolunteerResponse(volunteer=volunteer_pb(row))

    async def ListVolunteers(
        self, request: pb.ListVolunteersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListVolunteersResponse:
        path = community(request.community_path)
        require_reader()
        size = page_size(request.page_size)
        query = sa.select(volunteers).where(volunteers.c.community_path == path)
        if request.family_id:
            query = query.where(volunteers.c.family_id == ident("family_id", request.family_id))
        async with self.db.engine.connect() as conn:
            rows, next_token = await keyset_page(conn, query, volunteers.c.volunteer_id, kind="volunteers",
                                                 page_token=request.page_token, size=size)
        return pb.ListVolunteersResponse(volunteers=[volunteer_pb(r) for r in rows], next_page_token=next_token)

    async def CreateFamily(
        self, request: pb.CreateFamilyRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateFamilyResponse:
        f = request.family
        path = community(f.community_path, "family.community_path")
        require_writer()
        family_id = ident("family.family_id", f.family_id)
        name = display_name("family.display_name", f.display_name)
        row, _ = await run_in_transaction(
            self.db, lambda conn: create_family(conn, path, family_id, name, self.clock.now()))
        return pb.CreateFamilyResponse(family=family_pb(row))

    async def ListFamilies(
        self, request: pb.ListFamiliesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListFamiliesResponse:
        path = community(request.community_path)
        require_reader()
        size = page_size(request.page_size)
        async with self.db.engine.connect() as conn:
            rows, next_token = await keyset_page(
                conn, sa.select(families).where(families.c.community_path == path),
                families.c.family_id, kind="families", page_token=request.page_token, size=size)
        return pb.ListFamiliesResponse(families=[family_pb(r) for r in rows], next_page_token=next_token)

    async def CreateTeam(
        self, request: pb.CreateTeamRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateTeamResponse:
        t = request.team
        path = community(t.community_path, "team.community_path")
        require_writer()
        team_id = ident("team.team_id", t.team_id)
        name = display_name("team.display_name", t.display_name)
        row, _ = await run_in_transaction(self.db, lambda conn: create_team(conn, path, team_id, name))
        return pb.CreateTeamResponse(team=pb.Team(community_path=path, team_id=row.team_id,
                                                  display_name=row.display_name))

    async def ListTeams(self, request: pb.ListTeamsRequest, context: grpc.aio.ServicerContext) -> pb.ListTeamsResponse:
        path = community(request.community_path)
        require_reader()
        size = page_size(request.page_size)
        members = (
            sa.select(sa.func.count())
            .where(memberships.c.community_path == teams.c.community_path, memberships.c.team_id == teams.c.team_id,
                   memberships.c.leave_date.is_(None))
            .scalar_subquery()
        )
        async with self.db.engine.connect() as conn:
            rows, next_token = await keyset_page(
                conn, sa.select(teams, members.label("member_count")).where(teams.c.community_path == path),
                teams.c.team_id, kind="teams", page_token=request.page_token, size=size)
        return pb.ListTeamsResponse(
            teams=[pb.Team(community_path=path, team_id=r.team_id, display_name=r.display_name,
                           member_count=r.member_count) for r in rows],
            next_page_token=next_token,
        )

    async def JoinTeam(self, request: pb.JoinTeamRequest, context: grpc.aio.ServicerContext) -> pb.JoinTeamResponse:
        path = community(request.community_path)
        require_writer()
        team_id = ident("team_id", request.team_id)
        volunteer_id = ident("volunteer_id", request.volunteer_id)
        when = parse_date("join_date", request.join_date)
        row = await run_in_transaction(self.db, lambda conn: join_team(conn, path, team_id, volunteer_id, when))
        return pb.JoinTeamResponse(membership=membership_pb(row))

    async def LeaveTeam(self, request: pb.LeaveTeamRequest, context: grpc.aio.ServicerContext) -> pb.LeaveTeamResponse:
        path = community(request.community_path)
        require_writer()
        team_id = ident("team_id", request.team_id)
        volunteer_id = ident("volunteer_id", request.volunteer_id)
        when = parse_date("leave_date", request.leave_date)

        async def work(conn: AsyncConnection) -> Any:
            current = await current_membership(conn, path, team_id, volunteer_id)
            if current is None:
                last = (await conn.execute(
                    sa.select(memberships).where(
                        memberships.c.community_path == path, memberships.c.team_id == team_id,
                        memberships.c.volunteer_id == volunteer_id)
                    .order_by(memberships.c.id.desc()).limit(1))).first()
                if last is not None and last.leave_date == when:
                    return last  # a repeat of the leave that ended it
                raise FailedPrecondition(f"volunteer {volunteer_id!r} is not a member of team {team_id!r}",
                                         reason="NOT_A_MEMBER")
            if when < current.join_date:
                raise InvalidArgument.field("leave_date", f"must not be before the join date {current.join_date}")
            await conn.execute(memberships.update().where(memberships.c.id == current.id).values(leave_date=when))
            return (await conn.execute(sa.select(memberships).where(memberships.c.id == current.id))).one()

        row = await run_in_transaction(self.db, work)
        return pb.LeaveTeamResponse(membership=membership_pb(row))

    async def ImportRoster(
        self, request: pb.ImportRosterRequest, context: grpc.aio.ServicerContext
    ) -> pb.ImportRosterResponse:
        path = community(request.community_path)
        require_writer()
        if request.mode == pb.IMPORT_MODE_UNSPECIFIED:
            raise InvalidArgument.field("mode", "choose ALL_OR_NOTHING or PER_ROW")
        if request.WhichOneof("content") == "xlsx_content":
            content = xlsx_to_csv(request.xlsx_content)
        elif request.csv_content:
            content = request.csv_content
        else:
            raise InvalidArgument.field("csv_content", "is required (or xlsx_content)")
        now = self.clock.now()
        report = await import_roster(self.db, path, content,
                                     request.mode == pb.IMPORT_MODE_ALL_OR_NOTHING, now, local(now).date())
        return pb.ImportRosterResponse(
            rows_total=report.rows_total, rows_imported=report.rows_imported,
            rejections=[pb.RowRejection(line=r.line, field=r.field, reason=r.reason) for r in report.rejections],
        )
