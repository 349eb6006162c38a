"""A community's needs, resources and projects lists: a need raised by someone, a resource a
partner offers, and a project that meets a need with resources (created once per request id,
announced when created and when closed, with its outcome).

Lists are newest first and paged by offset (they are short, and read by people).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

from linli.events.v1 import redemption_pb2 as events
from linli_redemption.tables import NEEDS, PARTNERS, PROJECTS, RESOURCES, Need, Project, Resource
from linli_runtime import paging
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.events import publish_in
from linli_runtime.events.envelope import EventFactory
from linli_runtime.models import loaded, loaded_all, table
from linli_runtime.transactions import fingerprint, run_in_transaction

M = TypeVar("M", bound=SQLModel)
OPEN, CLOSED = "open", "closed"
MAX_PROJECT_RESOURCES = 20


@dataclass(frozen=True)
class NewProject:
    request_id: str
    title: str
    need_id: str
    resource_ids: Sequence[str]
    owner: str


def check_project_resources(resource_ids: Sequence[str]) -> list[str]:
    ids = list(resource_ids)
    if not 1 <= len(ids) <= MAX_PROJECT_RESOURCES or len(set(ids)) != len(ids):
        raise InvalidArgument.field("resource_ids", f"must name 1 to {MAX_PROJECT_RESOURCES} different resources")
    return ids


def resource_ids_of(project: Project) -> list[str]:
    return [r for r in project.resource_ids.split(",") if r]


class Community:
    def __init__(self, db: Database, clock: Clock, make_event: EventFactory) -> None:
        self.db, self.clock, self.make_event = db, clock, make_event

    async def _page(self, model: type[M], path: str, size: int, token: str, kind: str,
                    *where: Any) -> tuple[list[M], str]:
        rows_of = table(model)
        offset = paging.decode_int_token(kind, token)
        async with self.db.reading() as conn:
            rows = (await conn.execute(sa.select(rows_of).where(rows_of.c.community_path == path, *where)
                                       .order_by(rows_of.c.create_time.desc(), rows_of.c.id)
                                       .offset(offset).limit(size + 1))).all()
        more = len(rows) > size
        return loaded_all(model, rows[:size]), paging.encode_token(kind, offset + size) if more else ""

    # -- needs and resources -------------------------------------------------------------------

    async def create_need(self, path: str, title: str, detail: str, raised_by: str) -> Need:
        need_id = f"n-{uuid.uuid4().hex[:16]}"
        now = self.clock.now()

        async def create(conn: AsyncConnection) -> Need:
            await conn.execute(NEEDS.insert().values(id=need_id, community_path=path, title=title, detail=detail,
                                                     raised_by=raised_by, create_time=now))
            return loaded(Need, (await conn.execute(sa.select(NEEDS).where(NEEDS.c.id == need_id))).one())

        return await run_in_transaction(self.db, create)

    async def needs(self, path: str, page_token: str, size: int) -> tuple[list[Need], str]:
        return await self._page(Need, path, size, page_token, f"ListNeeds:{path}")

    async def create_resource(self, path: str, title: str, detail: str, partner_id: str) -> Resource:
        """A resource offered by a partner of the community."""
        resource_id = f"res-{uuid.uuid4().hex[:16]}"
        now = self.clock.now()

        async def create(conn: AsyncConnection) -> Resource:
            owner = (await conn.execute(sa.select(PARTNERS.c.id).where(
                PARTNERS.c.id == partner_id, PARTNERS.c.community_path == path))).first()
            if owner is None:
                raise InvalidArgument.field("partner_id", f"is not a partner of {path}")
            await conn.execute(RESOURCES.insert().values(id=resource_id, community_path=path, title=title,
                                                         detail=detail, partner_id=partner_id, create_time=now))
            return loaded(Resource, (await conn.execute(sa.select(RESOURCES).where(
                RESOURCES.c.id == resource_id))).one())

        return await run_in_transaction(self.db, create)

    async def resources(self, path: str, page_token: str, size: int) -> tuple[list[Resource], str]:
        return await self._page(Resource, path, size, page_token, f"ListResources:{path}")

    # -- projects ------------------------------------------------------------------------------

    async def create_project(self, path: str, new: NewProject) -> Project:
        """A project meeting a need of the community with its resources (once per request id),
        announced as `redemption.project.created`."""
        resource_ids = check_project_resources(new.resource_ids)
        digest = fingerprint(new.title, new.need_id, ",".join(resource_ids), new.owner)
        by_request = sa.select(PROJECTS).where(PROJECTS.c.community_path == path,
                                               PROJECTS.c.request_id == new.request_id)

        async def create(conn: AsyncConnection) -> Project:
            existing = (await conn.execute(by_request)).first()
            if existing is not None:
                if existing.fingerprint != digest:
                    raise AlreadyExists("this request id created a different project", reason="REQUEST_ID_REUSED")
                return loaded(Project, existing)
            if (await conn.execute(sa.select(NEEDS.c.id).where(
                    NEEDS.c.id == new.need_id, NEEDS.c.community_path == path))).first() is None:
                raise InvalidArgument.field("need_id", f"is not a need of {path}")
            found = set((await conn.execute(sa.select(RESOURCES.c.id).where(
                RESOURCES.c.id.in_(resource_ids), RESOURCES.c.community_path == path))).scalars())
            if found != set(resource_ids):
                raise InvalidArgument.field("resource_ids", f"not resources of {path}: "
                                            f"{', '.join(sorted(set(resource_ids) - found)[:5])}")
            project_id = f"prj-{uuid.uuid4().hex[:16]}"
            await conn.execute(PROJECTS.insert().values(
                id=project_id, community_path=path, request_id=new.request_id, fingerprint=digest,
                title=new.title, need_id=new.need_id, resource_ids=",".join(resource_ids), owner=new.owner,
                state=OPEN, create_time=self.clock.now()))
            await publish_in(conn, self.make_event("redemption.project.created", events.ProjectCreated(
                project_id=project_id, community_path=path, title=new.title, need_id=new.need_id,
                resource_ids=resource_ids, owner=new.owner), path))
            return loaded(Project, (await conn.execute(sa.select(PROJECTS).where(
                PROJECTS.c.id == project_id))).one())

        return await run_in_transaction(self.db, create)

    async def close_project(self, path: str, project_id: str, outcome: str) -> Project:
        """Close a project with its outcome (closing again with the same outcome is a replay),
        announced as `redemption.project.closed`."""
        key = sa.and_(PROJECTS.c.id == project_id, PROJECTS.c.community_path == path)

        async def close(conn: AsyncConnection) -> Project:
            found = (await conn.execute(sa.select(PROJECTS).where(key))).first()
            if found is None:
                raise NotFound(f"{path} has no project {project_id}", reason="PROJECT_NOT_FOUND")
            if found.state == CLOSED:
                if found.outcome != outcome:
                    raise FailedPrecondition("the project is closed already", reason="PROJECT_CLOSED")
                return loaded(Project, found)
            await conn.execute(PROJECTS.update().where(key).values(state=CLOSED, outcome=outcome,
                                                                   close_time=self.clock.now()))
            await publish_in(conn, self.make_event("redemption.project.closed", events.ProjectClosed(
                project_id=found.id, community_path=path, outcome=outcome), path))
            return loaded(Project, (await conn.execute(sa.select(PROJECTS).where(key))).one())

        return await run_in_transaction(self.db, close)

    async def projects(self, path: str, state: str | None, page_token: str, size: int) -> tuple[list[Project], str]:
        where = [] if state is None else [PROJECTS.c.state == state]
        return await self._page(Project, path, size, page_token, f"ListProjects:{path}:{state or ''}", *where)
