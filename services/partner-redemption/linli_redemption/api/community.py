"""CommunityService: the member units' rotating duty (with swaps) and the needs, resources and
projects lists of a community."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import grpc
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.events.v1 import redemption_pb2 as events
from linli.redemption.v1 import community_pb2 as pb
from linli.redemption.v1 import community_pb2_grpc
from linli_redemption.common import (
    TOKEN_KIND,
    check_range,
    check_request_id,
    check_text,
    encode_token,
    page_size,
    parse_day,
    reading,
    ts,
)
from linli_redemption.redemptions import MakeEvent
from linli_redemption.tables import duty_rotation, duty_swap, need, partner, project, resource
from linli_runtime import paging
from linli_runtime.auth import Role, require_role, require_scope
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.events import publish_in
from linli_runtime.transactions import fingerprint, run_in_transaction

FULL_NAME = pb.DESCRIPTOR.services_by_name["CommunityService"].full_name
WRITERS = (Role.COMMUNITY_WORKER, Role.STREET_OFFICER, Role.CITY_OPERATOR)
STATES = {"open": pb.PROJECT_STATE_OPEN, "closed": pb.PROJECT_STATE_CLOSED}


def community(path: str) -> str:
    normalized = require_scope(path)
    if not normalized:
        raise InvalidArgument.field("community_path", "is required")
    return normalized


def writer(path: str) -> str:
    normalized = community(path)
    require_role(*WRITERS)
    return normalized


def page_offset(token: str) -> int:
    return paging.decode_int_token(TOKEN_KIND, token)


def assignments(rotation: Any, swaps: list[Any], indexes: range) -> list[pb.DutyPeriod]:
    units = str(rotation.partner_ids).split(",")
    start = date.fromisoformat(rotation.start_date)
    days = int(rotation.period_days)
    assigned: dict[int, str] = {}
    for swap in swaps:  # in the order they were made
        a, b = swap.first_index, swap.second_index
        ua, ub = assigned.get(a, units[a % len(units)]), assigned.get(b, units[b % len(units)])
        assigned[a], assigned[b] = ub, ua
    return [pb.DutyPeriod(
        index=i, start_date=(start + timedelta(days=i * days)).isoformat(),
        end_date=(start + timedelta(days=(i + 1) * days - 1)).isoformat(),
        partner_id=assigned.get(i, units[i % len(units)]),
        swapped=assigned.get(i, units[i % len(units)]) != units[i % len(units)]) for i in indexes]


def project_pb(row: Any) -> pb.Project:
    return pb.Project(project_id=row.id, community_path=row.community_path, title=row.title, need_id=row.need_id,
                      resource_ids=[r for r in str(row.resource_ids).split(",") if r], owner=row.owner,
                      state=STATES[row.state], outcome=row.outcome, create_time=ts(row.create_time),
                      close_time=ts(row.close_time))


def need_pb(row: Any) -> pb.Need:
    return pb.Need(need_id=row.id, community_path=row.community_path, title=row.title, detail=row.detail,
                   raised_by=row.raised_by, create_time=ts(row.create_time))


def resource_pb(row: Any) -> pb.Resource:
    return pb.Resource(resource_id=row.id, community_path=row.community_path, title=row.title, detail=row.detail,
                       partner_id=row.partner_id, create_time=ts(row.create_time))


class CommunityServicer(community_pb2_grpc.CommunityServiceServicer):
    def __init__(self, db: Database, clock: Clock, make_event: MakeEvent) -> None:
        self.db, self.clock, self.make_event = db, clock, make_event

    # -- rotating duty -------------------------------------------------------------------------

    async def _rotation(self, conn: AsyncConnection, path: str) -> tuple[Any, list[Any]]:
        rotation = (await conn.execute(duty_rotation.select().where(duty_rotation.c.community_path == path))).first()
        if rotation is None:
            raise NotFound(f"{path} has no duty rotation yet", reason="ROTATION_NOT_FOUND")
        swaps = (await conn.execute(duty_swap.select().where(
            duty_swap.c.community_path == path, duty_swap.c.version == rotation.version)
            .order_by(duty_swap.c.seq))).all()
        return rotation, list(swaps)

    async def SetDutyRotation(self, request: pb.SetDutyRotationRequest,
                              context: grpc.aio.ServicerContext) -> pb.SetDutyRotationResponse:
        path = writer(request.community_path)
        ids = list(request.partner_ids)
        if not 1 <= len(ids) <= 200 or len(set(ids)) != len(ids):
            raise InvalidArgument.field("partner_ids", "must name 1 to 200 different member units")
        start = parse_day(request.start_date, "start_date")
        days = check_range(request.period_days, "period_days", 1, 366)

        async def store(conn: AsyncConnection) -> list[pb.DutyPeriod]:
            found = set((await conn.execute(sa.select(partner.c.id).where(
                partner.c.id.in_(ids), partner.c.community_path == path, partner.c.kind == "member_unit"))).scalars())
            missing = [i for i in ids if i not in found]
            if missing:
                raise InvalidArgument.field("partner_ids", f"not member units of {path}: {', '.join(missing[:5])}")
            await conn.execute(duty_rotation.delete().where(duty_rotation.c.community_path == path))
            await conn.execute(duty_rotation.insert().values(
                community_path=path, partner_ids=",".join(ids), start_date=start.isoformat(), period_days=days,
                version=uuid.uuid4().hex))
            rotation, swaps = await self._rotation(conn, path)
            return assignments(rotation, swaps, range(min(len(ids), 10)))

        return pb.SetDutyRotationResponse(periods=await run_in_transaction(self.db, store))

    async def ListDutyPeriods(self, request: pb.ListDutyPeriodsRequest,
                              context: grpc.aio.ServicerContext) -> pb.ListDutyPeriodsResponse:
        path = community(request.community_path)
        size = page_size(request.page_size, default=10)
        async with reading(self.db) as conn:
            rotation, swaps = await self._rotation(conn, path)
        first = 0
        if request.page_token:
            first = page_offset(request.page_token)
        elif request.from_date:
            delta = (parse_day(request.from_date, "from_date") - date.fromisoformat(rotation.start_date)).days
            first = max(0, delta // int(rotation.period_days))
        return pb.ListDutyPeriodsResponse(periods=assignments(rotation, swaps, range(first, first + size)),
                                          next_page_token=encode_token(str(first + size)))

    async def SwapDuty(self, request: pb.SwapDutyRequest, context: grpc.aio.ServicerContext) -> pb.SwapDutyResponse:
        path = writer(request.community_path)
        request_id = check_request_id(request.request_id)
        a = check_range(request.first_index, "first_index", 0, 100_000)
        b = check_range(request.second_index, "second_index", 0, 100_000)
        if a == b:
            raise InvalidArgument.field("second_index", "must differ from first_index")

        async def swap(conn: AsyncConnection) -> list[pb.DutyPeriod]:
            rotation, _ = await self._rotation(conn, path)
            done = (await conn.execute(duty_swap.select().where(duty_swap.c.community_path == path,
                                                                duty_swap.c.request_id == request_id))).first()
            if done is None:
                await conn.execute(duty_swap.insert().values(community_path=path, version=rotation.version,
                                                             request_id=request_id, first_index=a, second_index=b))
            elif (done.first_index, done.second_index) != (a, b):
                raise AlreadyExists("this request id swapped other periods", reason="REQUEST_ID_REUSED")
            rotation, swaps = await self._rotation(conn, path)
            return [*assignments(rotation, swaps, range(a, a + 1)), *assignments(rotation, swaps, range(b, b + 1))]

        return pb.SwapDutyResponse(periods=await run_in_transaction(self.db, swap))

    # -- needs and resources -------------------------------------------------------------------

    async def CreateNeed(self, request: pb.CreateNeedRequest,
                         context: grpc.aio.ServicerContext) -> pb.CreateNeedResponse:
        path = writer(request.community_path)
        values = dict(id=f"n-{uuid.uuid4().hex[:16]}", community_path=path,
                      title=check_text(request.title, "title", 200, required=True),
                      detail=check_text(request.detail, "detail", 2000),
                      raised_by=check_text(request.raised_by, "raised_by", 200), create_time=self.clock.now())

        async def create(conn: AsyncConnection) -> Any:
            await conn.execute(need.insert().values(**values))
            return (await conn.execute(need.select().where(need.c.id == values["id"]))).one()

        return pb.CreateNeedResponse(need=need_pb(await run_in_transaction(self.db, create)))

    async def _page(self, table: sa.Table, path: str, size: int, token: str, *where: Any) -> tuple[list[Any], str]:
        offset = page_offset(token)
        async with reading(self.db) as conn:
            rows = (await conn.execute(table.select().where(table.c.community_path == path, *where)
                                       .order_by(table.c.create_time.desc(), table.c.id)
                                       .offset(offset).limit(size + 1))).all()
        more = len(rows) > size
        return list(rows[:size]), encode_token(str(offset + size)) if more else ""

    async def ListNeeds(self, request: pb.ListNeedsRequest, context: grpc.aio.ServicerContext) -> pb.ListNeedsResponse:
        rows, token = await self._page(need, community(request.community_path), page_size(request.page_size),
                                       request.page_token)
        return pb.ListNeedsResponse(needs=[need_pb(r) for r in rows], next_page_token=token)

    async def CreateResource(self, request: pb.CreateResourceRequest,
                             context: grpc.aio.ServicerContext) -> pb.CreateResourceResponse:
        path = writer(request.community_path)
        values = dict(id=f"res-{uuid.uuid4().hex[:16]}", community_path=path,
                      title=check_text(request.title, "title", 200, required=True),
                      detail=check_text(request.detail, "detail", 2000), partner_id=request.partner_id,
                      create_time=self.clock.now())

        async def create(conn: AsyncConnection) -> Any:
            owner = (await conn.execute(partner.select().where(partner.c.id == request.partner_id,
                                                               partner.c.community_path == path))).first()
            if owner is None:
                raise InvalidArgument.field("partner_id", f"is not a partner of {path}")
            await conn.execute(resource.insert().values(**values))
            return (await conn.execute(resource.select().where(resource.c.id == values["id"]))).one()

        return pb.CreateResourceResponse(resource=resource_pb(await run_in_transaction(self.db, create)))

    async def ListResources(self, request: pb.ListResourcesRequest,
                            context: grpc.aio.ServicerContext) -> pb.ListResourcesResponse:
        rows, token = await self._page(resource, community(request.community_path), page_size(request.page_size),
                                       request.page_token)
        return pb.ListResourcesResponse(resources=[resource_pb(r) for r in rows], next_page_token=token)

    # -- projects ------------------------------------------------------------------------------

    async def CreateProject(self, request: pb.CreateProjectRequest,
                            context: grpc.aio.ServicerContext) -> pb.CreateProjectResponse:
        path = writer(request.community_path)
        request_id = check_request_id(request.request_id)
        title = check_text(request.title, "title", 200, required=True)
        owner = check_text(request.owner, "owner", 200, required=True)
        resource_ids = list(request.resource_ids)
        if not 1 <= len(resource_ids) <= 20 or len(set(resource_ids)) != len(resource_ids):
            raise InvalidArgument.field("resource_ids", "must name 1 to 20 different resources")
        digest = fingerprint(title, request.need_id, ",".join(resource_ids), owner)

        async def create(conn: AsyncConnection) -> Any:
            existing = (await conn.execute(project.select().where(project.c.community_path == path,
                                                                  project.c.request_id == request_id))).first()
            if existing is not None:
                if existing.fingerprint != digest:
                    raise AlreadyExists("this request id created a different project", reason="REQUEST_ID_REUSED")
                return existing
            if (await conn.execute(need.select().where(need.c.id == request.need_id,
                                                       need.c.community_path == path))).first() is None:
                raise InvalidArgument.field("need_id", f"is not a need of {path}")
            found = set((await conn.execute(sa.select(resource.c.id).where(
                resource.c.id.in_(resource_ids), resource.c.community_path == path))).scalars())
            if found != set(resource_ids):
                raise InvalidArgument.field("resource_ids", f"not resources of {path}: "
                                            f"{', '.join(sorted(set(resource_ids) - found)[:5])}")
            pid = f"prj-{uuid.uuid4().hex[:16]}"
            await conn.execute(project.insert().values(
                id=pid, community_path=path, request_id=request_id, fingerprint=digest, title=title,
                need_id=request.need_id, resource_ids=",".join(resource_ids), owner=owner, state="open",
                create_time=self.clock.now()))
            await publish_in(conn, self.make_event("redemption.project.created", events.ProjectCreated(
                project_id=pid, community_path=path, title=title, need_id=request.need_id,
                resource_ids=resource_ids, owner=owner), path))
            return (await conn.execute(project.select().where(project.c.id == pid))).one()

        return pb.CreateProjectResponse(project=project_pb(await run_in_transaction(self.db, create)))

    async def CloseProject(self, request: pb.CloseProjectRequest,
                           context: grpc.aio.ServicerContext) -> pb.CloseProjectResponse:
        path = writer(request.community_path)
        outcome = check_text(request.outcome, "outcome", 2000, required=True)

        async def close(conn: AsyncConnection) -> Any:
            key = (project.c.id == request.project_id) & (project.c.community_path == path)
            row = (await conn.execute(project.select().where(key))).first()
            if row is None:
                raise NotFound(f"{path} has no project {request.project_id}", reason="PROJECT_NOT_FOUND")
            if row.state == "closed":
                if row.outcome != outcome:
                    raise FailedPrecondition("the project is closed already", reason="PROJECT_CLOSED")
                return row
            await conn.execute(project.update().where(key).values(state="closed", outcome=outcome,
                                                                  close_time=self.clock.now()))
            await publish_in(conn, self.make_event("redemption.project.closed", events.ProjectClosed(
                project_id=row.id, community_path=path, outcome=outcome), path))
            return (await conn.execute(project.select().where(key))).one()

        return pb.CloseProjectResponse(project=project_pb(await run_in_transaction(self.db, close)))

    async def ListProjects(self, request: pb.ListProjectsRequest,
                           context: grpc.aio.ServicerContext) -> pb.ListProjectsResponse:
        path = community(request.community_path)
        where = []
        if request.state:
            names = {v: k for k, v in STATES.items()}
            if request.state not in names:
                raise InvalidArgument.field("state", "is not a known project state")
            where.append(project.c.state == names[request.state])
        rows, token = await self._page(project, path, page_size(request.page_size), request.page_token, *where)
        return pb.ListProjectsResponse(projects=[project_pb(r) for r in rows], next_page_token=token)
