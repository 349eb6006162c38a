"""A community's needs and resources lists, and which resources could meet a need.

A need is something residents need, recorded against the member unit on duty when it came in
(the rotating duty: in its period that unit collects the needs and marshals resources), with a
category saying what kind of help it asks for. A resource is something a partner offers, with
its category and availability (days, weekdays, how many live projects it can serve). `suggest`
ranks the resources that could meet a need with the reason for each (`matching`, a pure
rule); a project then meets the need (`projects`). A need is open until a project takes it on
(matched), met when that project is done, and open again if the project is cancelled.

Creating is a step of the caller's transaction (the API runs it once per request id); a need
recorded is announced as `redemption.need.recorded`. Lists are newest first and paged by
offset (they are short, and read by people).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.events.v1 import redemption_pb2 as events
from linli_redemption.duty import Duty
from linli_redemption.matching import Candidate, NeedFacts, Suggestion, places_above, rank
from linli_redemption.partners import ACTIVE
from linli_redemption.tables import NEEDS, PARTNERS, PROJECT_RESOURCES, PROJECTS, RESOURCES, Need, Resource
from linli_runtime import paging, times
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import InvalidArgument, NotFound
from linli_runtime.events import publish_in
from linli_runtime.events.envelope import EventFactory
from linli_runtime.models import loaded, loaded_all, table

M = TypeVar("M", bound=SQLModel)
NEED_OPEN, NEED_MATCHED, NEED_MET = "open", "matched", "met"
NEED_STATES = (NEED_OPEN, NEED_MATCHED, NEED_MET)
LIVE_PROJECT_STATES = ("open", "in_progress")  # the projects a resource is busy with
# A need may be recorded after it came in, within a year; a clock a little ahead is forgiven.
MAX_RECEIVE_AGE = timedelta(days=366)
CLOCK_SKEW = timedelta(minutes=5)
MAX_CAPACITY = 10_000
MAX_CANDIDATES = 500  # resources of the need's category weighed per suggestion
MAX_SUGGESTIONS, DEFAULT_SUGGESTIONS = 50, 10


@dataclass(frozen=True)
class NewNeed:
    title: str
    category: str
    detail: str = ""
    raised_by: str = ""
    receive_time: datetime | None = None  # None: now


@dataclass(frozen=True)
class NewResource:
    title: str
    category: str
    partner_id: str
    detail: str = ""
    available_from: date | None = None
    available_until: date | None = None
    weekdays: tuple[int, ...] = ()  # ISO weekdays; (): every day
    capacity: int = 0  # live projects it can serve; 0: no limit


def check_receive_time(when: datetime, now: datetime) -> datetime:
    if when > now + CLOCK_SKEW:
        raise InvalidArgument.field("receive_time", "must not be in the future")
    if when < now - MAX_RECEIVE_AGE:
        raise InvalidArgument.field("receive_time", "must be within the last 366 days")
    return when


def check_weekdays(values: Sequence[int]) -> tuple[int, ...]:
    """ISO weekdays (1 = Monday … 7 = Sunday), each once; empty means every day."""
    if any(not 1 <= v <= 7 for v in values) or len(set(values)) != len(values):
        raise InvalidArgument.field("weekdays", "must be different days 1 (Monday) to 7 (Sunday); none: every day")
    return tuple(sorted(values))


def check_window(available_from: date | None, available_until: date | None) -> None:
    if available_from is not None and available_until is not None and available_until < available_from:
        raise InvalidArgument.field("available_until", "must not be before available_from")


def receive_time_of(need: Need) -> datetime:
    """When the need came in (needs recorded before receive times existed: when recorded)."""
    return times.as_utc(need.receive_time or need.create_time)


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

    # -- needs ---------------------------------------------------------------------------------

    async def create_need(self, session: AsyncSession, path: str, new: NewNeed) -> Need:
        """Record a need against the unit on duty when it came in, and announce it."""
        conn = await session.connection()
        now = self.clock.now()
        received = check_receive_time(new.receive_time, now) if new.receive_time is not None else now
        on_duty = await Duty.on_duty(conn, path, times.local_day(received))
        need_id = f"n-{uuid.uuid4().hex[:16]}"
        await conn.execute(NEEDS.insert().values(
            id=need_id, community_path=path, title=new.title, detail=new.detail, raised_by=new.raised_by,
            category=new.category, receive_time=received, duty_partner_id=on_duty, state=NEED_OPEN,
            create_time=now))
        await publish_in(conn, self.make_event("redemption.need.recorded", events.NeedRecorded(
            need_id=need_id, community_path=path, title=new.title, category=new.category,
            duty_partner_id=on_duty, receive_time=times.to_timestamp(received)), path))
        return loaded(Need, (await conn.execute(sa.select(NEEDS).where(NEEDS.c.id == need_id))).one())

    async def need(self, path: str, need_id: str) -> Need:
        async with self.db.reading() as conn:
            row = (await conn.execute(sa.select(NEEDS).where(NEEDS.c.id == need_id,
                                                              NEEDS.c.community_path == path))).first()
        if row is None:
            raise NotFound(f"{path} has no need {need_id}", reason="NEED_NOT_FOUND")
        return loaded(Need, row)

    async def needs(self, path: str, state: str | None, page_token: str, size: int) -> tuple[list[Need], str]:
        where = [] if state is None else [NEEDS.c.state == state]
        return await self._page(Need, path, size, page_token, f"ListNeeds:{path}:{state or ''}", *where)

    # -- resources -----------------------------------------------------------------------------

    async def create_resource(self, session: AsyncSession, path: str, new: NewResource) -> Resource:
        """A resource offered by a partner of the community (or of a place above it)."""
        conn = await session.connection()
        check_window(new.available_from, new.available_until)
        owner = (await conn.execute(sa.select(PARTNERS.c.id).where(
            PARTNERS.c.id == new.partner_id, PARTNERS.c.community_path.in_(places_above(path))))).first()
        if owner is None:
            raise InvalidArgument.field("partner_id", f"is not a partner of {path} or of a place above it")
        resource_id = f"res-{uuid.uuid4().hex[:16]}"
        await conn.execute(RESOURCES.insert().values(
            id=resource_id, community_path=path, title=new.title, detail=new.detail, partner_id=new.partner_id,
            category=new.category, create_time=self.clock.now(),
            available_from=new.available_from.isoformat() if new.available_from else "",
            available_until=new.available_until.isoformat() if new.available_until else "",
            weekdays=",".join(map(str, new.weekdays)), capacity=new.capacity))
        return loaded(Resource, (await conn.execute(sa.select(RESOURCES).where(
            RESOURCES.c.id == resource_id))).one())

    async def resources(self, path: str, page_token: str, size: int) -> tuple[list[Resource], str]:
        return await self._page(Resource, path, size, page_token, f"ListResources:{path}")

    # -- matching ------------------------------------------------------------------------------

    async def suggest(self, path: str, need_id: str, limit: int) -> tuple[Need, list[Suggestion], dict[str, str]]:
        """The need, the resources that could meet it best first (see `matching`), and the
        display names of the partners offering them."""
        need = await self.need(path, need_id)
        resource_columns = list(RESOURCES.c)
        query = (sa.select(*resource_columns, PARTNERS.c.state.label("partner_state"),
                           PARTNERS.c.display_name.label("partner_name"))
                 .join(PARTNERS, PARTNERS.c.id == RESOURCES.c.partner_id)
                 .where(RESOURCES.c.category == need.category, RESOURCES.c.community_path.in_(places_above(path)))
                 .order_by(RESOURCES.c.create_time, RESOURCES.c.id).limit(MAX_CANDIDATES))
        async with self.db.reading() as conn:
            rows = (await conn.execute(query)).all()
            ids = [row.id for row in rows]
            busy: dict[str, int] = {str(rid): int(count) for rid, count in (await conn.execute(
                sa.select(PROJECT_RESOURCES.c.resource_id, sa.func.count())
                .join(PROJECTS, PROJECTS.c.id == PROJECT_RESOURCES.c.project_id)
                .where(PROJECT_RESOURCES.c.resource_id.in_(ids), PROJECTS.c.state.in_(LIVE_PROJECT_STATES))
                .group_by(PROJECT_RESOURCES.c.resource_id))).all()} if ids else {}
        candidates = [Candidate(loaded(Resource, {c.key: row._mapping[c.key] for c in resource_columns}),
                                partner_active=row.partner_state == ACTIVE, live_projects=int(busy.get(row.id, 0)))
                      for row in rows]
        facts = NeedFacts(path, need.category, times.local_day(receive_time_of(need)), need.duty_partner_id)
        partner_names = {str(row.partner_id): str(row.partner_name) for row in rows}
        return need, rank(facts, candidates, limit), partner_names
