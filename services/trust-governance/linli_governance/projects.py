"""Improvement projects paid from the trust account. Spending is an ordinary expense naming
the project (so approvals, vouchers and the no-overdraft rule all apply); what a project has
spent is read from the ledger, never stored.

Reads open their own session; the changes are steps of the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.governance.v1 import account_pb2, project_pb2
from linli_governance import names, org_tree
from linli_governance.tables import PROJECTS, TRANSFERS, Project
from linli_runtime import paging
from linli_runtime.db import Database
from linli_runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.models import typed, typed_all

P = project_pb2.ProjectStatus
NEXT = {
    P.PROJECT_STATUS_PLANNED: {P.PROJECT_STATUS_IN_PROGRESS, P.PROJECT_STATUS_CANCELLED},
    P.PROJECT_STATUS_IN_PROGRESS: {P.PROJECT_STATUS_COMPLETED, P.PROJECT_STATUS_CANCELLED},
}
OPEN = (P.PROJECT_STATUS_PLANNED, P.PROJECT_STATUS_IN_PROGRESS)


@dataclass(frozen=True)
class ProjectView:
    """A project and what the ledger says it has spent (reversals net out)."""

    project: Project
    spent_fen: int

    @property
    def name(self) -> str:
        return names.project_name(self.project.compound_path, self.project.project_id)


def check_kind(kind: int) -> None:
    if kind not in project_pb2.ProjectKind.values() or kind == project_pb2.PROJECT_KIND_UNSPECIFIED:
        raise InvalidArgument.field("kind", "must name the kind of improvement")


def check_status(status: int) -> None:
    if status not in project_pb2.ProjectStatus.values() or status == P.PROJECT_STATUS_UNSPECIFIED:
        raise InvalidArgument.field("status", "must be PLANNED, IN_PROGRESS, COMPLETED or CANCELLED")


def check_transition(current: int, target: int) -> None:
    """Planned → in progress → completed, or cancelled before completion; staying put (to add
    photos) is always allowed."""
    if target != current and target not in NEXT.get(cast(Any, current), set()):
        raise FailedPrecondition(
            f"a {P.Name(cast(Any, current))} project cannot become {P.Name(cast(Any, target))}",
            reason="PROJECT_STATUS_ORDER",
        )


def spent_by_project(entries: Sequence[tuple[str, int, int]]) -> dict[str, int]:
    """Net spending per project from (project id, transfer kind, amount) of posted transfers."""
    spent: dict[str, int] = {}
    for project_id, kind, amount_fen in entries:
        sign = -1 if kind == account_pb2.TRANSFER_KIND_REVERSAL else 1
        spent[project_id] = spent.get(project_id, 0) + sign * amount_fen
    return spent


async def _views(conn: AsyncConnection, projects: list[Project]) -> list[ProjectView]:
    spent: dict[str, int] = {}
    if projects:
        rows = await conn.execute(
            select(TRANSFERS.c.project, TRANSFERS.c.kind, TRANSFERS.c.amount_fen).where(
                TRANSFERS.c.project.in_([p.project_id for p in projects]),
                TRANSFERS.c.state == account_pb2.TRANSFER_STATE_POSTED,
            )
        )
        spent = spent_by_project([(r.project, r.kind, r.amount_fen) for r in rows])
    return [ProjectView(p, spent.get(p.project_id, 0)) for p in projects]


async def find(conn: AsyncConnection, compound_path: str, project_id: str, *, lock: bool = False) -> Project:
    query = select(PROJECTS).where(PROJECTS.c.project_id == project_id)
    found = (await conn.execute(query.with_for_update() if lock else query)).first()
    if found is None or found.compound_path != compound_path:
        raise NotFound(
            f"project {names.project_name(compound_path, project_id)} does not exist", reason="PROJECT_NOT_FOUND"
        )
    return typed(Project, found)


async def _view(conn: AsyncConnection, compound_path: str, project_id: str) -> ProjectView:
    [view] = await _views(conn, [await find(conn, compound_path, project_id)])
    return view


# -- within a transaction -------------------------------------------------------------------------


async def create(
    session: AsyncSession,
    compound_path: str,
    *,
    kind: int,
    title: str,
    budget_line: str,
    budget_fen: int,
    when: datetime,
) -> ProjectView:
    check_kind(kind)
    await org_tree.require_compound(session, compound_path)
    conn = await session.connection()
    project_id = uuid.uuid4().hex
    await conn.execute(
        PROJECTS.insert().values(
            project_id=project_id,
            compound_path=compound_path,
            kind=kind,
            title=title,
            budget_line=budget_line,
            budget_fen=budget_fen,
            status=P.PROJECT_STATUS_PLANNED,
            photo_refs=[],
            created_at=when,
        )
    )
    return await _view(conn, compound_path, project_id)


async def update_status(
    session: AsyncSession, compound_path: str, project_id: str, status: int, photo_refs: Sequence[str]
) -> ProjectView:
    check_status(status)
    conn = await session.connection()
    found = await find(conn, compound_path, project_id, lock=True)
    check_transition(found.status, status)
    await conn.execute(
        PROJECTS.update()
        .where(PROJECTS.c.project_id == project_id)
        .values(status=status, photo_refs=[*found.photo_refs, *photo_refs])
    )
    return await _view(conn, compound_path, project_id)


async def check_spending(conn: AsyncConnection, compound_path: str, project_id: str, budget_line: str) -> None:
    """An expense may name a project of the same compound, still open, on the same budget line."""
    found = await find(conn, compound_path, project_id)
    if found.status not in OPEN:
        raise FailedPrecondition("the project is closed to spending", reason="PROJECT_CLOSED")
    if found.budget_line != budget_line:
        raise FailedPrecondition(
            f"the project is booked on budget line {found.budget_line!r}, not {budget_line!r}",
            reason="PROJECT_WRONG_LINE",
        )


# -- reads ------------------------------------------------------------------------------------------


async def get(db: Database, compound_path: str, project_id: str) -> ProjectView:
    async with db.session() as session:
        return await _view(await session.connection(), compound_path, project_id)


async def list_page(db: Database, compound_path: str, *, page_token: str, size: int) -> tuple[list[ProjectView], str]:
    """One page of a compound's projects, oldest first, and the next page's token."""
    async with db.session() as session:
        conn = await session.connection()
        rows, token = await paging.keyset_page(
            conn,
            select(PROJECTS).where(PROJECTS.c.compound_path == compound_path),
            PROJECTS.c.seq,
            kind=f"ListProjects:{compound_path}",
            page_token=page_token,
            size=size,
        )
        return await _views(conn, typed_all(Project, rows)), token
