"""People and groups of a community: volunteers, their families, teams and team memberships.

`People` answers the API: each call is one transaction of its own. The functions below it work
inside a transaction the caller holds, so the roster import and the demo seeder can create many
people at once (roster.py), and the other domain modules can ask who someone is.

Creates are idempotent by the caller's id (records.create_once). A membership is a period: it
is open until the volunteer leaves, and joining again opens a new one.

A volunteer may be bound to a person's account at the issuer (`account_id`, the `sub` of their
tokens; see tables.Volunteer): `bind_account` sets it and publishes
`points.volunteer.account_bound`, so services that address a volunteer by id deliver to the
account; `volunteer_of_account` / `volunteers_of_account` answer "which volunteer is this
person here / anywhere" — how a volunteer's own calls are recognised (api/access.py) and how an
app finds the records of the person signed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.events.v1 import points_pb2 as events
from linli.events.v1.envelope_pb2 import EventEnvelope
from linli_points.records import create_once, exists, find
from linli_points.tables import Family, Membership, Team, Volunteer
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.events import EventFactory, publish_in
from linli_runtime.models import loaded, loaded_all, table
from linli_runtime.paging import keyset_page, where_given
from linli_runtime.transactions import fingerprint, run_in_transaction

VOLUNTEERS, FAMILIES, TEAMS, MEMBERSHIPS = table(Volunteer), table(Family), table(Team), table(Membership)


@dataclass(frozen=True)
class TeamSize:
    team: Team
    member_count: int  # current members (memberships not left)


class People:
    def __init__(self, db: Database, clock: Clock, make_event: EventFactory) -> None:
        self.db = db
        self.clock = clock
        self.make_event = make_event

    async def create_volunteer(self, path: str, volunteer_id: str, name: str, *, person_id: str = "",
                               family_id: str = "", account_id: str = "") -> Volunteer:
        now = self.clock.now()

        async def work(conn: AsyncConnection) -> Volunteer:
            created, new = await create_volunteer(conn, path, volunteer_id, name, person_id=person_id,
                                                  family_id=family_id, account_id=account_id, now=now)
            if new and account_id:
                await publish_in(conn, account_bound(self.make_event, path, volunteer_id, account_id))
            return created

        return await run_in_transaction(self.db, work)

    async def bind_account(self, path: str, volunteer_id: str, account_id: str) -> Volunteer:
        """Bind the volunteer to `account_id` ("" unbinds); a repeat changes nothing and publishes
        nothing."""

        async def work(conn: AsyncConnection) -> Volunteer:
            found = await volunteer(conn, path, volunteer_id)
            if found.account_id == account_id:
                return found
            if account_id:
                await _account_free(conn, path, account_id, volunteer_id)
            await conn.execute(VOLUNTEERS.update().where(
                VOLUNTEERS.c.community_path == path, VOLUNTEERS.c.volunteer_id == volunteer_id).values(
                account_id=account_id))
            await publish_in(conn, account_bound(self.make_event, path, volunteer_id, account_id))
            return await volunteer(conn, path, volunteer_id)

        return await run_in_transaction(self.db, work)

    async def volunteer_of_account(self, path: str, account_id: str) -> Volunteer | None:
        """The volunteer of community `path` bound to `account_id`, if any."""
        async with self.db.engine.connect() as conn:
            return await volunteer_of_account(conn, path, account_id)

    async def volunteers_of_account(self, account_id: str) -> list[Volunteer]:
        """Every volunteer record bound to `account_id`, in any community (by community)."""
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(sa.select(VOLUNTEERS).where(VOLUNTEERS.c.account_id == account_id)
                                      .order_by(VOLUNTEERS.c.community_path))
        return loaded_all(Volunteer, rows)

    async def get_volunteer(self, path: str, volunteer_id: str) -> Volunteer:
        async with self.db.engine.connect() as conn:
            found = await find(conn, Volunteer, community_path=path, volunteer_id=volunteer_id)
        if found is None:
            raise NotFound(f"volunteer {volunteer_id!r} does not exist in {path}", reason="VOLUNTEER_NOT_FOUND")
        return found

    async def list_volunteers(self, path: str, *, family_id: str = "", account_id: str = "", page_token: str,
                              size: int) -> tuple[list[Volunteer], str]:
        query = where_given(sa.select(VOLUNTEERS).where(VOLUNTEERS.c.community_path == path),
                            (VOLUNTEERS.c.family_id, family_id), (VOLUNTEERS.c.account_id, account_id))
        async with self.db.engine.connect() as conn:
            rows, next_token = await keyset_page(conn, query, VOLUNTEERS.c.volunteer_id, kind="volunteers",
                                                 page_token=page_token, size=size)
        return loaded_all(Volunteer, rows), next_token

    async def create_family(self, path: str, family_id: str, name: str) -> Family:
        now = self.clock.now()
        created, _ = await run_in_transaction(self.db, lambda conn: create_family(conn, path, family_id, name, now))
        return created

    async def list_families(self, path: str, *, page_token: str, size: int) -> tuple[list[Family], str]:
        async with self.db.engine.connect() as conn:
            rows, next_token = await keyset_page(
                conn, sa.select(FAMILIES).where(FAMILIES.c.community_path == path), FAMILIES.c.family_id,
                kind="families", page_token=page_token, size=size)
        return loaded_all(Family, rows), next_token

    async def create_team(self, path: str, team_id: str, name: str) -> Team:
        created, _ = await run_in_transaction(self.db, lambda conn: create_team(conn, path, team_id, name))
        return created

    async def list_teams(self, path: str, *, page_token: str, size: int) -> tuple[list[TeamSize], str]:
        members = (
            sa.select(sa.func.count())
            .where(MEMBERSHIPS.c.community_path == TEAMS.c.community_path, MEMBERSHIPS.c.team_id == TEAMS.c.team_id,
                   MEMBERSHIPS.c.leave_date.is_(None))
            .scalar_subquery()
        )
        async with self.db.engine.connect() as conn:
            rows, next_token = await keyset_page(
                conn, sa.select(TEAMS, members.label("member_count")).where(TEAMS.c.community_path == path),
                TEAMS.c.team_id, kind="teams", page_token=page_token, size=size)
        return [TeamSize(loaded(Team, row), int(row.member_count)) for row in rows], next_token

    async def join_team(self, path: str, team_id: str, volunteer_id: str, when: date) -> Membership:
        return await run_in_transaction(self.db, lambda conn: join_team(conn, path, team_id, volunteer_id, when))

    async def leave_team(self, path: str, team_id: str, volunteer_id: str, when: date) -> Membership:
        """End the volunteer's current membership on `when`; a repeat of the leave that ended it
        answers with that membership."""

        async def work(conn: AsyncConnection) -> Membership:
            current = await current_membership(conn, path, team_id, volunteer_id)
            if current is None:
                last = (await conn.execute(
                    sa.select(MEMBERSHIPS).where(
                        MEMBERSHIPS.c.community_path == path, MEMBERSHIPS.c.team_id == team_id,
                        MEMBERSHIPS.c.volunteer_id == volunteer_id)
                    .order_by(MEMBERSHIPS.c.id.desc()).limit(1))).first()
                if last is not None and last.leave_date == when:
                    return loaded(Membership, last)
                raise FailedPrecondition(f"volunteer {volunteer_id!r} is not a member of team {team_id!r}",
                                         reason="NOT_A_MEMBER")
            if when < current.join_date:
                raise InvalidArgument.field("leave_date", f"must not be before the join date {current.join_date}")
            await conn.execute(MEMBERSHIPS.update().where(MEMBERSHIPS.c.id == current.id).values(leave_date=when))
            left = await find(conn, Membership, id=current.id)
            assert left is not None
            return left

        return await run_in_transaction(self.db, work)


# -- inside a transaction -------------------------------------------------------------------------

async def create_volunteer(conn: AsyncConnection, path: str, volunteer_id: str, name: str, *, person_id: str = "",
                           family_id: str = "", account_id: str = "", now: datetime) -> tuple[Volunteer, bool]:
    """Create once (see the module docstring). Binding an account here publishes nothing: the
    caller that binds (People.create_volunteer, the demo seeder) publishes the event."""
    if family_id and not await exists(conn, Family, community_path=path, family_id=family_id):
        raise NotFound(f"family {family_id!r} does not exist in {path}", reason="FAMILY_NOT_FOUND")
    # The account joins the fingerprint only when given, so volunteers created before accounts
    # existed are recognised again by what created them.
    digest = fingerprint(name, person_id, family_id, *([account_id] if account_id else []))
    if account_id and not await exists(conn, Volunteer, community_path=path, volunteer_id=volunteer_id):
        await _account_free(conn, path, account_id, volunteer_id)
    return await create_once(
        conn, Volunteer, {"community_path": path, "volunteer_id": volunteer_id},
        {"display_name": name, "person_id": person_id, "family_id": family_id, "account_id": account_id,
         "created_at": now},
        digest, "volunteer",
    )


def account_bound(make_event: EventFactory, path: str, volunteer_id: str, account_id: str) -> EventEnvelope:
    """The `points.volunteer.account_bound` event of a binding ("" account: unbound)."""
    return make_event("points.volunteer.account_bound", events.VolunteerAccountBound(
        community_path=path, volunteer_id=volunteer_id, account_id=account_id), path)


async def _account_free(conn: AsyncConnection, path: str, account_id: str, volunteer_id: str) -> None:
    """ALREADY_EXISTS when another volunteer of `path` is bound to `account_id`."""
    other = await volunteer_of_account(conn, path, account_id)
    if other is not None and other.volunteer_id != volunteer_id:
        raise AlreadyExists(f"account {account_id} is already bound to volunteer {other.volunteer_id!r} in {path}; "
                            "unbind it there first", reason="ACCOUNT_ALREADY_BOUND",
                            metadata={"volunteer_id": other.volunteer_id})


async def volunteer_of_account(conn: AsyncConnection, path: str, account_id: str) -> Volunteer | None:
    """The volunteer of community `path` bound to `account_id`, if any (never for "")."""
    if not account_id:
        return None
    row = (await conn.execute(sa.select(VOLUNTEERS).where(
        VOLUNTEERS.c.community_path == path, VOLUNTEERS.c.account_id == account_id))).first()
    return loaded(Volunteer, row) if row is not None else None


async def create_family(conn: AsyncConnection, path: str, family_id: str, name: str,
                        now: datetime) -> tuple[Family, bool]:
    return await create_once(conn, Family, {"community_path": path, "family_id": family_id},
                             {"display_name": name, "created_at": now}, fingerprint(name), "family")


async def create_team(conn: AsyncConnection, path: str, team_id: str, name: str) -> tuple[Team, bool]:
    return await create_once(conn, Team, {"community_path": path, "team_id": team_id},
                             {"display_name": name}, fingerprint(name), "team")


async def join_team(conn: AsyncConnection, path: str, team_id: str, volunteer_id: str, when: date) -> Membership:
    if not await exists(conn, Team, community_path=path, team_id=team_id):
        raise NotFound(f"team {team_id!r} does not exist in {path}", reason="TEAM_NOT_FOUND")
    if not await exists(conn, Volunteer, community_path=path, volunteer_id=volunteer_id):
        raise NotFound(f"volunteer {volunteer_id!r} does not exist in {path}", reason="VOLUNTEER_NOT_FOUND")
    current = await current_membership(conn, path, team_id, volunteer_id)
    if current is not None:
        return current  # already a member: a repeat changes nothing
    await conn.execute(MEMBERSHIPS.insert().values(community_path=path, team_id=team_id, volunteer_id=volunteer_id,
                                                   join_date=when, leave_date=None))
    current = await current_membership(conn, path, team_id, volunteer_id)
    assert current is not None
    return current


async def current_membership(conn: AsyncConnection, path: str, team_id: str, volunteer_id: str) -> Membership | None:
    row = (await conn.execute(sa.select(MEMBERSHIPS).where(
        MEMBERSHIPS.c.community_path == path, MEMBERSHIPS.c.team_id == team_id,
        MEMBERSHIPS.c.volunteer_id == volunteer_id, MEMBERSHIPS.c.leave_date.is_(None),
    ))).first()
    return loaded(Membership, row) if row is not None else None


async def volunteer(conn: AsyncConnection, path: str, volunteer_id: str) -> Volunteer:
    """The volunteer, or NOT_FOUND."""
    found = await find(conn, Volunteer, community_path=path, volunteer_id=volunteer_id)
    if found is None:
        raise NotFound(f"volunteer {volunteer_id!r} does not exist in {path}", reason="VOLUNTEER_NOT_FOUND")
    return found


async def team_ids(conn: AsyncConnection, path: str) -> set[str]:
    return set((await conn.execute(sa.select(TEAMS.c.team_id).where(TEAMS.c.community_path == path))).scalars())


async def team_members_during(conn: AsyncConnection, path: str, team_id: str, first_day: date,
                              last_day: date) -> set[str]:
    """Volunteers who were members of the team on some day in [first_day, last_day)."""
    return set((await conn.execute(sa.select(MEMBERSHIPS.c.volunteer_id).where(
        MEMBERSHIPS.c.community_path == path, MEMBERSHIPS.c.team_id == team_id,
        MEMBERSHIPS.c.join_date < last_day,
        sa.or_(MEMBERSHIPS.c.leave_date.is_(None), MEMBERSHIPS.c.leave_date >= first_day)))).scalars())


async def volunteer_names(conn: AsyncConnection, path: str, volunteer_ids: Iterable[str]) -> dict[str, str]:
    wanted = list(volunteer_ids)
    if not wanted:
        return {}
    rows = await conn.execute(sa.select(VOLUNTEERS.c.volunteer_id, VOLUNTEERS.c.display_name).where(
        VOLUNTEERS.c.community_path == path, VOLUNTEERS.c.volunteer_id.in_(wanted)))
    return {volunteer_id: name for volunteer_id, name in rows}


async def family_names(conn: AsyncConnection, path: str, family_ids: Iterable[str]) -> dict[str, str]:
    wanted = list(family_ids)
    if not wanted:
        return {}
    rows = await conn.execute(sa.select(FAMILIES.c.family_id, FAMILIES.c.display_name).where(
        FAMILIES.c.community_path == path, FAMILIES.c.family_id.in_(wanted)))
    return {family_id: name for family_id, name in rows}


async def family_members(conn: AsyncConnection, path: str, family_ids: Iterable[str]) -> dict[str, list[str]]:
    """The volunteers of each family, by id."""
    wanted = list(family_ids)
    if not wanted:
        return {}
    members: dict[str, list[str]] = {}
    for family_id, volunteer_id in await conn.execute(
            sa.select(VOLUNTEERS.c.family_id, VOLUNTEERS.c.volunteer_id)
            .where(VOLUNTEERS.c.community_path == path, VOLUNTEERS.c.family_id.in_(wanted))
            .order_by(VOLUNTEERS.c.volunteer_id)):
        members.setdefault(family_id, []).append(volunteer_id)
    return members
