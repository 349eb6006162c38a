"""Visits to paired elders, the portal's side (volunteer-points' pairings.py decides): a volunteer
logs a visit to the elder their family is paired with; it waits until the elder or a community
worker confirms it (or rejects it, saying why); only then does it count toward the month's
visits and earn points. Every call is made with the person's own token.

Which volunteer record is mine: in each community where my grants hold the volunteer role, the
record bound to my account (ListVolunteers filtered by my own `account_id`). Which visits a
worker reviews: the pending ones of each community where they hold an operator role.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

import grpc

from linli.events.v1 import points_pb2 as events_pb
from linli.points.v1 import pairings_pb2 as ppb
from linli.points.v1 import volunteers_pb2 as vpb
from linli_portal.backends import Backends
from linli_portal.fmt import CST
from linli_portal.operators import OPERATOR_ROLES
from linli_portal.residents import COMMUNITY_DEPTH, Me, prefix
from linli_runtime.auth import Role

VISIT_TYPES: dict[int, tuple[str, str]] = {
    events_pb.VISIT_TYPE_WARM_SUPPORT: ("暖心帮扶", "warm support"),
    events_pb.VISIT_TYPE_COMPANIONSHIP: ("亲情陪护", "companionship"),
    events_pb.VISIT_TYPE_HOME_CLEANING: ("居家清扫", "home cleaning"),
    events_pb.VISIT_TYPE_HEALTH_CARE: ("健康关怀", "health care"),
    events_pb.VISIT_TYPE_ERRANDS: ("代购代办", "errands"),
    events_pb.VISIT_TYPE_OTHER: ("其他", "other"),
}
VISIT_STATES: dict[int, tuple[str, str]] = {
    ppb.VISIT_STATE_PENDING: ("待确认", "waiting for confirmation"),
    ppb.VISIT_STATE_CONFIRMED: ("已确认", "confirmed"),
    ppb.VISIT_STATE_REJECTED: ("未通过", "rejected"),
}


@dataclass
class MyVolunteering:
    """One community where I am a volunteer: my record, my family's pairings, my visits."""

    community_path: str
    volunteer: vpb.Volunteer
    pairings: list[ppb.Pairing] = field(default_factory=list)
    visits: list[ppb.Visit] = field(default_factory=list)

    def elder_of(self, pairing_id: str) -> str:
        return next((p.elder_display_name or p.elder_id for p in self.pairings if p.pairing_id == pairing_id), "")


def communities_as(me: Me, roles: set[str]) -> list[str]:
    """The communities where the person holds one of `roles` at the community itself."""
    return sorted({g.scope for g in me.principal.grants
                   if g.role in roles and g.scope.count("/") + 1 == COMMUNITY_DEPTH})


async def my_volunteering(b: Backends, me: Me) -> list[MyVolunteering]:
    async def one(path: str) -> MyVolunteering | None:
        found = await b.volunteers.ListVolunteers(vpb.ListVolunteersRequest(
            community_path=path, account_id=me.account_id, page_size=1), **me.md)
        if not found.volunteers:
            return None
        mine = MyVolunteering(path, found.volunteers[0])
        if mine.volunteer.family_id:
            pairings = await b.pairings.ListPairings(ppb.ListPairingsRequest(
                community_path=path, family_id=mine.volunteer.family_id, page_size=50), **me.md)
            mine.pairings = list(pairings.pairings)
        visits = await b.pairings.ListVisits(ppb.ListVisitsRequest(
            community_path=path, volunteer_id=mine.volunteer.volunteer_id, page_size=20), **me.md)
        mine.visits = list(visits.visits)
        return mine

    found = await asyncio.gather(*(one(p) for p in communities_as(me, {Role.VOLUNTEER.value})))
    return [m for m in found if m is not None]


@dataclass
class Review:
    """Visits waiting for me: as a worker, a community's pending visits; as an elder (my account
    bound to an elder's record), the pending visits to me."""

    community_path: str
    visits: list[ppb.Visit]
    elder_name: str = ""  # set when I review as the elder


async def to_review(b: Backends, me: Me) -> list[Review]:
    async def as_worker(path: str) -> Review | None:
        try:
            found = await b.pairings.ListVisits(ppb.ListVisitsRequest(
                community_path=path, state=ppb.VISIT_STATE_PENDING, page_size=100), **me.md)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.PERMISSION_DENIED:
                raise
            return None
        return Review(path, list(found.visits))

    async def as_elder(path: str) -> Review | None:
        elders = await b.pairings.ListElders(ppb.ListEldersRequest(
            community_path=path, account_id=me.account_id, page_size=1), **me.md)
        if not elders.elders:
            return None
        elder = elders.elders[0]
        found = await b.pairings.ListVisits(ppb.ListVisitsRequest(
            community_path=path, elder_id=elder.elder_id, state=ppb.VISIT_STATE_PENDING, page_size=100), **me.md)
        return Review(path, list(found.visits), elder.display_name or elder.elder_id)

    worker_of = communities_as(me, {r.value for r in OPERATOR_ROLES})
    # Wherever any of my grants lies (an elder's is usually for their home, below the community).
    belong = sorted({prefix(g.scope, COMMUNITY_DEPTH) for g in me.principal.grants} - {""})
    found = await asyncio.gather(*(as_worker(p) for p in worker_of), *(as_elder(p) for p in belong))
    return [r for r in found if r is not None and (r.visits or not r.elder_name)]


def parse_local(value: str) -> datetime | None:
    """A `datetime-local` field (Beijing time, `YYYY-MM-DDTHH:MM`) as an aware datetime."""
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%dT%H:%M").replace(tzinfo=CST)
    except ValueError:
        return None
