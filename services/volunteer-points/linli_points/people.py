"""People and groups: volunteers, families, teams and memberships (used by the API, the
roster import and the demo seeder)."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_points.records import create_once, exists
from linli_points.schema import families, memberships, teams, volunteers
from linli_runtime.errors import NotFound
from linli_runtime.transactions import fingerprint


async def create_volunteer(
    conn: AsyncConnection, path: str, volunteer_id: str, name: str, *, person_id: str = "", family_id: str = "",
    now: Any,
) -> tuple[Any, bool]:
    if family_id and not await exists(conn, families, community_path=path, family_id=family_id):
        raise NotFound(f"family {family_id!r} does not exist in {path}", reason="FAMILY_NOT_FOUND")
    return await create_once(
        conn, volunteers, {"community_path": path, "volunteer_id": volunteer_id},
        {"display_name": name, "person_id": person_id, "family_id": family_id, "created_at": now},
        fingerprint(name, person_id, family_id), "volunteer",
    )


async def create_family(conn: AsyncConnection, path: str, family_id: str, name: str, now: Any) -> tuple[Any, bool]:
    return await create_once(conn, families, {"community_path": path, "family_id": family_id},
                             {"display_name": name, "created_at": now}, fingerprint(name), "family")


async def create_team(conn: AsyncConnection, path: str, team_id: str, name: str) -> tuple[Any, bool]:
    return await create_once(conn, teams, {"community_path": path, "team_id": team_id},
                             {"display_name": name}, fingerprint(name), "team")


async def join_team(conn: AsyncConnection, path: str, team_id: str, volunteer_id: str, when: date) -> Any:
    if not await exists(conn, teams, community_path=path, team_id=team_id):
        raise NotFound(f"team {team_id!r} does not exist in {path}", reason="TEAM_NOT_FOUND")
    if not await exists(conn, volunteers, community_path=path, volunteer_id=volunteer_id):
        raise NotFound(f"volunteer {volunteer_id!r} does not exist in {path}", reason="VOLUNTEER_NOT_FOUND")
    current = await current_membership(conn, path, team_id, volunteer_id)
    if current is not None:
        return current  # already a member: a repeat changes nothing
    await conn.execute(memberships.insert().values(community_path=path, team_id=team_id, volunteer_id=volunteer_id,
                                                   join_date=when, leave_date=None))
    current = await current_membership(conn, path, team_id, volunteer_id)
    assert current is not None
    return current


async def current_membership(conn: AsyncConnection, path: str, team_id: str, volunteer_id: str) -> Any:
    return (
        await conn.execute(
            sa.select(memberships).where(
                memberships.c.community_path == path, memberships.c.team_id == team_id,
                memberships.c.volunteer_id == volunteer_id, memberships.c.leave_date.is_(None),
            )
        )
    ).first()
