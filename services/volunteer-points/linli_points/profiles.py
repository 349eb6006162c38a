"""A volunteer's own circle, as their page shows it: their family and its other volunteers'
names, the teams they belong to now, and the family's pairings with each elder's name.

Read on one connection, a few small queries (no joins: each record is loaded whole).
Nothing here carries contact details — the records hold none of elders or volunteers beyond a
display name, and this is where a future contact field must stay out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_points.pairings import ELDERS, PAIRINGS
from linli_points.people import FAMILIES, MEMBERSHIPS, TEAMS, VOLUNTEERS, volunteer
from linli_points.tables import Family, Membership, Pairing, Team, Volunteer
from linli_runtime.db import Database
from linli_runtime.models import loaded, loaded_all


@dataclass(frozen=True)
class PairedElder:
    pairing: Pairing
    elder_name: str


@dataclass(frozen=True)
class Profile:
    volunteer: Volunteer
    family: Family | None
    family_member_names: list[str] = field(default_factory=list)
    teams: list[tuple[Team, Membership]] = field(default_factory=list)
    pairings: list[PairedElder] = field(default_factory=list)


class Profiles:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, path: str, volunteer_id: str) -> Profile:
        """The volunteer's profile in community `path` (NOT_FOUND for an unknown volunteer)."""
        async with self.db.engine.connect() as conn:
            return await profile(conn, path, volunteer_id)


async def profile(conn: AsyncConnection, path: str, volunteer_id: str) -> Profile:
    """The volunteer's profile in community `path` (NOT_FOUND for an unknown volunteer)."""
    who = await volunteer(conn, path, volunteer_id)
    memberships = loaded_all(Membership, await conn.execute(sa.select(MEMBERSHIPS).where(
        MEMBERSHIPS.c.community_path == path, MEMBERSHIPS.c.volunteer_id == volunteer_id,
        MEMBERSHIPS.c.leave_date.is_(None)).order_by(MEMBERSHIPS.c.team_id)))
    teams = {t.team_id: t for t in loaded_all(Team, await conn.execute(sa.select(TEAMS).where(
        TEAMS.c.community_path == path, TEAMS.c.team_id.in_([m.team_id for m in memberships]))))}
    joined = [(teams[m.team_id], m) for m in memberships if m.team_id in teams]
    if not who.family_id:
        return Profile(who, None, teams=joined)
    row = (await conn.execute(sa.select(FAMILIES).where(
        FAMILIES.c.community_path == path, FAMILIES.c.family_id == who.family_id))).first()
    members = (await conn.execute(
        sa.select(VOLUNTEERS.c.display_name)
        .where(VOLUNTEERS.c.community_path == path, VOLUNTEERS.c.family_id == who.family_id,
               VOLUNTEERS.c.volunteer_id != volunteer_id)
        .order_by(VOLUNTEERS.c.volunteer_id))).scalars().all()
    pairings = loaded_all(Pairing, await conn.execute(sa.select(PAIRINGS).where(
        PAIRINGS.c.community_path == path, PAIRINGS.c.family_id == who.family_id).order_by(PAIRINGS.c.pairing_id)))
    elders = {str(r.elder_id): str(r.display_name) for r in await conn.execute(
        sa.select(ELDERS.c.elder_id, ELDERS.c.display_name).where(
            ELDERS.c.community_path == path, ELDERS.c.elder_id.in_([p.elder_id for p in pairings])))}
    return Profile(who, loaded(Family, row) if row is not None else None, [str(m) for m in members], joined,
                   [PairedElder(p, elders.get(p.elder_id, "")) for p in pairings])
