"""Projects: a need met with resources, under an owner, moving

    open ──► in progress ──► done
      │            │
      └────────────┴──► cancelled

with every change kept (rd_project_change: from, to, note, who, when — append-only) and
announced (`redemption.project.state_changed`; `redemption.project.closed` too when it ends).
A project takes its need on (the need is matched), a done project has met it, and a cancelled
one hands it back (open again, unless another live project has it). A resource counts the live
(open or in-progress) projects using it against its capacity (rd_project_resource).

Creating is once per request id (a project row keeps its request id and fingerprint); changes
of state are steps of the caller's transaction (the API runs them once per request id). The
old CloseProject remains: it completes a project, starting it first if it was still open.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.events.v1 import redemption_pb2 as events
from linli_redemption.community import LIVE_PROJECT_STATES, NEED_MATCHED, NEED_MET, NEED_OPEN
from linli_redemption.matching import places_above
from linli_redemption.tables import (
    NEEDS,
    PROJECT_CHANGES,
    PROJECT_RESOURCES,
    PROJECTS,
    RESOURCES,
    Project,
    ProjectChange,
)
from linli_runtime import paging
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.events import publish_in
from linli_runtime.events.envelope import EventFactory
from linli_runtime.models import loaded, loaded_all
from linli_runtime.transactions import fingerprint, run_in_transaction

OPEN, IN_PROGRESS, DONE, CANCELLED = "open", "in_progress", "done", "cancelled"
STATES = (OPEN, IN_PROGRESS, DONE, CANCELLED)
LIVE = LIVE_PROJECT_STATES  # (OPEN, IN_PROGRESS): what a resource is busy with
ENDED = (DONE, CANCELLED)
NEXT: dict[str, tuple[str, ...]] = {OPEN: (IN_PROGRESS, CANCELLED), IN_PROGRESS: (DONE, CANCELLED)}
STATE_NAMES_ZH = {OPEN: "待启动", IN_PROGRESS: "进行中", DONE: "已完成", CANCELLED: "已取消"}
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


def check_transition(current: str, target: str) -> None:
    """Open → in progress → done; cancelled from open or in progress; nothing after the end."""
    if target not in NEXT.get(current, ()):
        allowed = " or ".join(STATE_NAMES_ZH[s] for s in NEXT.get(current, ())) or "nothing (it has ended)"
        raise FailedPrecondition(
            f"the project is {STATE_NAMES_ZH[current]} ({current}); it can become {allowed}, "
            f"not {STATE_NAMES_ZH[target]} ({target})", reason="PROJECT_STATE_CHANGE_NOT_ALLOWED",
            metadata={"state": current, "target": target})


def need_state_after(target: str, other_live_projects: int) -> str | None:
    """What the project's need becomes when the project reaches `target` (None: unchanged)."""
    if target == DONE:
        return NEED_MET
    if target == CANCELLED:
        return NEED_MATCHED if other_live_projects else NEED_OPEN
    return None


class Projects:
    def __init__(self, db: Database, clock: Clock, make_event: EventFactory) -> None:
        self.db, self.clock, self.make_event = db, clock, make_event

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, path: str, project_id: str) -> tuple[Project, list[ProjectChange]]:
        """A project of `path` and its history, oldest change first."""
        async with self.db.reading() as conn:
            row = (await conn.execute(sa.select(PROJECTS).where(PROJECTS.c.id == project_id,
                                                                 PROJECTS.c.community_path == path))).first()
            if row is None:
                raise NotFound(f"{path} has no project {project_id}", reason="PROJECT_NOT_FOUND")
            history = (await conn.execute(sa.select(PROJECT_CHANGES).where(
                PROJECT_CHANGES.c.project_id == project_id).order_by(PROJECT_CHANGES.c.seq))).all()
        return loaded(Project, row), loaded_all(ProjectChange, history)

    async def list(self, path: str, states: Sequence[str], page_token: str,
                   size: int) -> tuple[list[Project], str]:
        """Newest first; only `states` when given."""
        kind = f"ListProjects:{path}:{','.join(states)}"
        offset = paging.decode_int_token(kind, page_token)
        query = sa.select(PROJECTS).where(PROJECTS.c.community_path == path)
        if states:
            query = query.where(PROJECTS.c.state.in_(states))
        async with self.db.reading() as conn:
            rows = (await conn.execute(query.order_by(PROJECTS.c.create_time.desc(), PROJECTS.c.id)
                                       .offset(offset).limit(size + 1))).all()
        more = len(rows) > size
        return loaded_all(Project, rows[:size]), paging.encode_token(kind, offset + size) if more else ""

    # -- creating ------------------------------------------------------------------------------

    async def create(self, path: str, new: NewProject, actor: str) -> Project:
        """A project meeting an open need of the community with its resources (or resources of a
        place above it), once per request id; announced as `redemption.project.created`."""
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
            need = (await conn.execute(sa.select(NEEDS.c.state).where(
                NEEDS.c.id == new.need_id, NEEDS.c.community_path == path))).first()
            if need is None:
                raise InvalidArgument.field("need_id", f"is not a need of {path}")
            if need.state != NEED_OPEN:
                raise FailedPrecondition(f"need {new.need_id} is {need.state} already: a live project has it, or "
                                         "it has been met", reason="NEED_NOT_OPEN")
            found = set((await conn.execute(sa.select(RESOURCES.c.id).where(
                RESOURCES.c.id.in_(resource_ids), RESOURCES.c.community_path.in_(places_above(path))))).scalars())
            if found != set(resource_ids):
                raise InvalidArgument.field("resource_ids", f"not resources of {path} or above it: "
                                            f"{', '.join(sorted(set(resource_ids) - found)[:5])}")
            project_id = f"prj-{uuid.uuid4().hex[:16]}"
            now = self.clock.now()
            await conn.execute(PROJECTS.insert().values(
                id=project_id, community_path=path, request_id=new.request_id, fingerprint=digest,
                title=new.title, need_id=new.need_id, resource_ids=",".join(resource_ids), owner=new.owner,
                state=OPEN, create_time=now, update_time=now))
            await conn.execute(PROJECT_RESOURCES.insert(), [{"project_id": project_id, "resource_id": r}
                                                            for r in resource_ids])
            await conn.execute(PROJECT_CHANGES.insert().values(project_id=project_id, from_state="", to_state=OPEN,
                                                               note="", actor=actor, change_time=now))
            await conn.execute(NEEDS.update().where(NEEDS.c.id == new.need_id).values(state=NEED_MATCHED))
            await publish_in(conn, self.make_event("redemption.project.created", events.ProjectCreated(
                project_id=project_id, community_path=path, title=new.title, need_id=new.need_id,
                resource_ids=resource_ids, owner=new.owner), path))
            return loaded(Project, (await conn.execute(sa.select(PROJECTS).where(
                PROJECTS.c.id == project_id))).one())

        return await run_in_transaction(self.db, create)

    # -- changing state ------------------------------------------------------------------------

    async def change(self, session: AsyncSession, path: str, project_id: str, target: str, note: str,
                     actor: str) -> Project:
        """Move a project to `target` (a step of the caller's transaction)."""
        return await self._change(await session.connection(), path, project_id, target, note, actor)

    async def _change(self, conn: AsyncConnection, path: str, project_id: str, target: str, note: str,
                      actor: str) -> Project:
        key = sa.and_(PROJECTS.c.id == project_id, PROJECTS.c.community_path == path)
        query = sa.select(PROJECTS).where(key)
        if not self.db.is_sqlite:
            query = query.with_for_update()  # two changes of one project never interleave
        found = (await conn.execute(query)).first()
        if found is None:
            raise NotFound(f"{path} has no project {project_id}", reason="PROJECT_NOT_FOUND")
        project = loaded(Project, found)
        check_transition(project.state, target)
        now = self.clock.now()
        ended = target in ENDED
        await conn.execute(PROJECTS.update().where(key).values(
            state=target, update_time=now, **({"outcome": note, "close_time": now} if ended else {})))
        await conn.execute(PROJECT_CHANGES.insert().values(project_id=project_id, from_state=project.state,
                                                           to_state=target, note=note, actor=actor, change_time=now))
        await self._update_need(conn, project, target)
        await publish_in(conn, self.make_event("redemption.project.state_changed", events.ProjectStateChanged(
            project_id=project_id, community_path=path, need_id=project.need_id, from_state=project.state.upper(),
            to_state=target.upper(), note=note, actor=actor), path))
        if ended:
            await publish_in(conn, self.make_event("redemption.project.closed", events.ProjectClosed(
                project_id=project_id, community_path=path, outcome=note, state=target.upper()), path))
        return loaded(Project, (await conn.execute(sa.select(PROJECTS).where(key))).one())

    async def _update_need(self, conn: AsyncConnection, project: Project, target: str) -> None:
        others = int((await conn.execute(sa.select(sa.func.count()).select_from(PROJECTS).where(
            PROJECTS.c.need_id == project.need_id, PROJECTS.c.id != project.id,
            PROJECTS.c.state.in_(LIVE)))).scalar_one())
        state = need_state_after(target, others)
        if state is not None:
            await conn.execute(NEEDS.update().where(NEEDS.c.id == project.need_id).values(state=state))

    async def close(self, path: str, project_id: str, outcome: str, actor: str) -> Project:
        """The old CloseProject: done with `outcome`, started first if still open; closing a done
        project again with the same outcome is a replay."""
        async def close(conn: AsyncConnection) -> Project:
            found = (await conn.execute(sa.select(PROJECTS).where(
                PROJECTS.c.id == project_id, PROJECTS.c.community_path == path))).first()
            if found is not None and found.state == DONE and found.outcome == outcome:
                return loaded(Project, found)
            if found is not None and found.state == OPEN:
                await self._change(conn, path, project_id, IN_PROGRESS, "started by CloseProject", actor)
            return await self._change(conn, path, project_id, DONE, outcome, actor)

        return await run_in_transaction(self.db, close)

