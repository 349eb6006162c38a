"""Improvement projects paid from the trust account. Spending is an ordinary expense naming
the project (so approvals, vouchers and the no-overdraft rule all apply); what a project has
spent is read from the ledger, never stored."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.governance.v1 import account_pb2, project_pb2
from linli_governance import org_tree
from linli_governance.names import child_name, utc
from linli_governance.tables import projects, transfers
from linli_runtime.errors import FailedPrecondition, NotFound

P = project_pb2.ProjectStatus
NEXT = {
    P.PROJECT_STATUS_PLANNED: {P.PROJECT_STATUS_IN_PROGRESS, P.PROJECT_STATUS_CANCELLED},
    P.PROJECT_STATUS_IN_PROGRESS: {P.PROJECT_STATUS_COMPLETED, P.PROJECT_STATUS_CANCELLED},
}


def project_name(compound_path: str, project_id: str) -> str:
    return child_name(compound_path, "projects", project_id)


async def _spent(conn: AsyncConnection, project_ids: list[str]) -> dict[str, int]:
    spent: dict[str, int] = {}
    if not project_ids:
        return spent
    rows = await conn.execute(
        select(transfers.c.project, transfers.c.kind, transfers.c.amount_fen).where(
            transfers.c.project.in_(project_ids), transfers.c.state == account_pb2.TRANSFER_STATE_POSTED
        )
    )
    for r in rows:
        sign = -1 if r.kind == account_pb2.TRANSFER_KIND_REVERSAL else 1
        spent[r.project] = spent.get(r.project, 0) + sign * r.amount_fen
    return spent


def _proto(row: Any, spent: int) -> project_pb2.Project:
    ts = Timestamp()
    ts.FromDatetime(utc(row.created_at))
    return project_pb2.Project(
        name=project_name(row.compound_path, row.project_id),
        compound_path=row.compound_path,
        kind=row.kind,
        title=row.title,
        budget_line=row.budget_line,
        budget_fen=row.budget_fen,
        spent_fen=spent,
        status=row.status,
        photo_refs=row.photo_refs,
        create_time=ts,
    )


async def create(
    session: AsyncSession,
    compound_path: str,
    *,
    kind: int,
    title: str,
    budget_line: str,
    budget_fen: int,
    when: datetime,
) -> project_pb2.Project:
    await org_tree.get_compound(session, compound_path)
    conn = await session.connection()
    project_id = uuid.uuid4().hex
    await conn.execute(
        projects.insert().values(
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
    return await get(session, compound_path, project_id)


async def row(conn: AsyncConnection, compound_path: str, project_id: str, *, lock: bool = False) -> Any:
    query = select(projects).where(projects.c.project_id == project_id)
    found = (await conn.execute(query.with_for_update() if lock else query)).first()
    if found is None or found.compound_path != compound_path:
        raise NotFound(f"project {project_name(compound_path, project_id)} does not exist", reason="PROJECT_NOT_FOUND")
    return found


async def get(session: AsyncSession, compound_path: str, project_id: str) -> project_pb2.Project:
    conn = await session.connection()
    found = await row(conn, compound_path, project_id)
    return _proto(found, (await _spent(conn, [project_id])).get(project_id, 0))


async def list_page(
    session: AsyncSession, compound_path: str, *, after_seq: int, limit: int
) -> tuple[list[project_pb2.Project], int | None]:
    conn = await session.connection()
    rows = (
        await conn.execute(
            select(projects)
            .where(projects.c.compound_path == compound_path, projects.c.seq > after_seq)
            .order_by(projects.c.seq)
            .limit(limit + 1)
        )
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    spent = await _spent(conn, [r.project_id for r in rows])
    return [_proto(r, spent.get(r.project_id, 0)) for r in rows], (rows[-1].seq if more else None)


async def update_status(
    session: AsyncSession, compound_path: str, project_id: str, status: int, photo_refs: list[str]
) -> project_pb2.Project:
    conn = await session.connection()
    found = await row(conn, compound_path, project_id, lock=True)
    if status != found.status and status not in NEXT.get(found.status, set()):
        raise FailedPrecondition(
            f"a {P.Name(found.status)} project cannot become {P.Name(status)}",  # type: ignore[arg-type]
            reason="PROJECT_STATUS_ORDER",
        )
    await conn.execute(
        projects.update()
        .where(projects.c.project_id == project_id)
        .values(status=status, photo_refs=[*found.photo_refs, *photo_refs])
    )
    return await get(session, compound_path, project_id)


async def check_spending(conn: AsyncConnection, compound_path: str, project_id: str, budget_line: str) -> None:
    """An expense may name a project of the same compound, still open, on the same budget line."""
    found = await row(conn, compound_path, project_id)
    if found.status not in (P.PROJECT_STATUS_PLANNED, P.PROJECT_STATUS_IN_PROGRESS):
        raise FailedPrecondition("the project is closed to spending", reason="PROJECT_CLOSED")
    if found.budget_line != budget_line:
        raise FailedPrecondition(
            f"the project is booked on budget line {found.budget_line!r}, not {budget_line!r}",
            reason="PROJECT_WRONG_LINE",
        )
