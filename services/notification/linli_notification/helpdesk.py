"""Help requests: intake, routing to the worker on duty, the lifecycle, escalation, follow-ups
and thanks; and the providers suggested beside a request — those open at filing, each provider
again when it opens while the request is open (once per opening), and those open when it is
escalated. Every change is recorded as a transition (who, when) and announced by an event
written to the outbox in the same transaction.

    submitted → assigned → acknowledged → in_progress → resolved → followed_up → closed
                (escalated: duty worker → backup → community head)          (+ cancelled)

Concurrent changes: every update is conditional on the state it was decided from (status,
escalation level), so an acknowledgement racing the sweeper's escalation, or two sweepers,
can never both win; the loser sees ABORTED (a caller) or skips (the sweeper).

The API's changes run in the transaction it hands over (`linli_runtime.idempotency.once`, so
a retried request gets the first answer); reads and the sweeper's steps open their own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa
from google.protobuf.message import Message
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.events.v1 import notification_pb2 as ev
from linli.notification.v1 import notification_pb2 as pb
from linli_notification import roster
from linli_notification.community import on_duty_at, providers_of, settings_of
from linli_notification.names import PROVIDERS, child_name, community_name, follow_up_name, help_request_name
from linli_notification.tables import (
    FollowUp,
    HelpRequest,
    Thanks,
    Transition,
    follow_up,
    help_request,
    provider,
    suggestion,
    thanks,
    transition,
)
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import Aborted, FailedPrecondition, NotFound
from linli_runtime.events import EventFactory, publish_in
from linli_runtime.models import typed, typed_all
from linli_runtime.paging import keyset_page, where_given
from linli_runtime.times import as_utc, fixed_zone, iso_local, local, to_timestamp

SYSTEM = "system"
CATEGORIES = ("meal", "medical", "repair", "companionship", "errand", "other")
THANKS_KINDS = ("banner", "message")
FOLLOW_UP_DAYS = (1, 3, 7)
VERB: dict[int, str] = {
    pb.STATUS_SUBMITTED: "submitted", pb.STATUS_ASSIGNED: "assigned", pb.STATUS_ACKNOWLEDGED: "acknowledged",
    pb.STATUS_IN_PROGRESS: "started", pb.STATUS_RESOLVED: "resolved", pb.STATUS_FOLLOWED_UP: "followed_up",
    pb.STATUS_CLOSED: "closed", pb.STATUS_CANCELLED: "cancelled",
}
OPEN = (pb.STATUS_SUBMITTED, pb.STATUS_ASSIGNED, pb.STATUS_ACKNOWLEDGED, pb.STATUS_IN_PROGRESS)
LEVEL_NAMES = {0: "duty worker", 1: "backup", 2: "community head"}
Providers = list[roster.ProviderHours]  # (HelpDesk.list shadows `list` inside the class)
# How many requests (or follow-ups) one sweep looks at; the rest wait for the next pass.
SWEEP_BATCH = 200


def local_minute(value: datetime, zone: tzinfo) -> str:
    """`2026-11-08 11:00 (UTC+08:00)`: a due time as the community reads it."""
    moment = local(value, zone)
    offset = moment.strftime("%z")  # +0800
    return f"{moment:%Y-%m-%d %H:%M} (UTC{offset[:3]}:{offset[3:]})"


def _ahead(span: timedelta) -> str:
    """How early: `4 h 05 min`, `12 min`."""
    hours, minutes = divmod(int(span.total_seconds()) // 60, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def status_name(status: int) -> str:
    return pb.Status.Name(pb.Status.ValueType(status)).removeprefix("STATUS_").lower()


@dataclass(frozen=True)
class NewHelpRequest:
    """What a reporter says, checked by the API."""

    category: str
    urgency: int
    reporter_role: int
    description: str
    reporter_id: str = ""  # empty: the caller
    compound_path: str = ""
    on_behalf_of: str = ""
    contact: str = ""
    household_path: str = ""


@dataclass(frozen=True)
class NewThanks:
    kind: str  # banner or message
    text: str
    from_name: str = ""
    recipient_ids: Sequence[str] = ()  # empty: the assignee and every helper


@dataclass(frozen=True)
class Filing:
    """Who filed a request, and the place it is about: what the filer's rights rest on."""

    filed_by: str
    community_path: str
    compound_path: str  # "" when the request names no compound
    household_path: str = ""  # "" when the request names no household


@dataclass(frozen=True)
class HelpRequestRecord:
    """A help request with its history, follow-ups and thanks."""

    request: HelpRequest
    history: list[Transition] = field(default_factory=list)
    follow_ups: list[FollowUp] = field(default_factory=list)
    thanks: list[Thanks] = field(default_factory=list)


@dataclass(frozen=True)
class CommunityScope:
    """Which communities a list or summary covers: one (`path`), or with `every_within` every
    community at or below `path` and each of `also` — `communities/-` (AIP-159), for a street
    officer or a city operator watching many, or a person holding grants at several places;
    "" is then the whole platform."""

    path: str
    every_within: bool = False
    also: tuple[str, ...] = ()

    @classmethod
    def within(cls, scopes: Sequence[str]) -> CommunityScope:
        """Every community within any of `scopes` (at least one)."""
        return cls(scopes[0], every_within=True, also=tuple(scopes[1:]))

    @property
    def key(self) -> str:
        """What the scope covers, for page tokens (a token is valid only for the same scope)."""
        return ",".join((self.path, *self.also))

    def condition(self) -> sa.ColumnElement[bool]:
        column = help_request.c.community_path
        if not self.every_within:
            return column == self.path
        paths = (self.path, *self.also)
        if "" in paths:
            return sa.true()
        either = [sa.or_(column == p, column.startswith(p + "/", autoescape=True)) for p in paths]
        return either[0] if len(either) == 1 else sa.or_(*either)


@dataclass(frozen=True)
class DueWork:
    """What a sweep finds to do."""

    unrouted: list[str]  # help request ids nobody could take yet
    overdue: list[str]  # help request ids whose acknowledgement is overdue
    follow_ups: list[int]  # follow-ups (by seq) due and not yet given to anyone
    opened: list[str]  # open help request ids with a provider whose current opening is not suggested yet
    # Requests still waiting for an acknowledgement that missed their SLA (escalated, or past
    # the deadline now): the metric linli_help_requests_overdue.
    past_sla: int = 0


# -- reading rows (in the caller's transaction) ------------------------------------------------

async def find(conn: AsyncConnection, request_id: str) -> HelpRequest | None:
    row = (await conn.execute(sa.select(help_request).where(help_request.c.id == request_id))).first()
    return typed(HelpRequest, row) if row else None


async def filed_by(conn: AsyncConnection, request_id: str) -> str:
    """The account that filed the request (its first transition's actor), "" if unknown."""
    actor = (await conn.execute(sa.select(transition.c.actor_id).where(
        transition.c.help_request_id == request_id, transition.c.from_status == pb.STATUS_UNSPECIFIED)
        .order_by(transition.c.seq).limit(1))).scalar()
    return str(actor or "")


async def _row(conn: AsyncConnection, request_id: str) -> HelpRequest:
    found = await find(conn, request_id)
    if found is None:
        raise NotFound(f"help request {request_id!r} does not exist", reason="HELP_REQUEST_NOT_FOUND")
    return found


async def _in_community(conn: AsyncConnection, path: str, request_id: str) -> None:
    """NOT_FOUND unless the request exists in this community (a name carries the community)."""
    found = (await conn.execute(sa.select(help_request.c.community_path).where(
        help_request.c.id == request_id))).scalar()
    if found is None or found != path:
        raise NotFound(f"help request {request_id!r} does not exist in {path}", reason="HELP_REQUEST_NOT_FOUND")


async def load(conn: AsyncConnection, request_id: str) -> HelpRequestRecord:
    request = await _row(conn, request_id)
    history = typed_all(Transition, await conn.execute(sa.select(transition).where(
        transition.c.help_request_id == request_id).order_by(transition.c.seq)))
    follow_ups = typed_all(FollowUp, await conn.execute(sa.select(follow_up).where(
        follow_up.c.help_request_id == request_id).order_by(follow_up.c.number)))
    given = typed_all(Thanks, await conn.execute(sa.select(thanks).where(
        thanks.c.help_request_id == request_id).order_by(thanks.c.seq)))
    return HelpRequestRecord(request, history, follow_ups, given)


async def _opened_since_suggested(conn: AsyncConnection, now: datetime) -> list[str]:
    """Open requests with a provider of their category open now whose current opening has not
    been suggested for them: what the sweeper's `suggest_opened` steps take up. Providers are
    read once per community and category, suggestions once per group of requests."""
    candidates = (await conn.execute(
        sa.select(help_request.c.id, help_request.c.community_path, help_request.c.category).where(
            help_request.c.status.in_(OPEN),
            sa.exists().where(provider.c.community_path == help_request.c.community_path,
                              provider.c.category == help_request.c.category)).order_by(help_request.c.seq))).all()
    groups: dict[tuple[str, str], list[str]] = {}
    for request_id, path, category in candidates:
        groups.setdefault((path, category), []).append(request_id)
    due: list[str] = []
    for (path, category), ids in groups.items():
        offset = (await settings_of(conn, path)).utc_offset_minutes
        openings = {(p.id, start) for p in await providers_of(conn, path, category)
                    if (start := roster.opening_start(p, now, offset)) is not None}
        if not openings:
            continue
        made = await conn.execute(sa.select(
            suggestion.c.help_request_id, suggestion.c.provider_id, suggestion.c.opening_start).where(
            suggestion.c.help_request_id.in_(ids), suggestion.c.opening_start.in_({s for _, s in openings})))
        seen: dict[str, set[tuple[str, datetime]]] = {}
        for request_id, provider_id, start in made:
            seen.setdefault(request_id, set()).add((provider_id, as_utc(start)))
        due += [request_id for request_id in ids if not openings <= seen.get(request_id, set())]
    return due[:SWEEP_BATCH]


def _listed(providers: Sequence[roster.ProviderHours]) -> str:
    """`邻家小馆 (028-8000-0002), 枫香小厨`: providers as a history note names them."""
    return ", ".join(f"{p.display_name} ({p.phone})" if p.phone else p.display_name for p in providers)


class HelpDesk:
    """`workers_only`: route only to rostered people who still hold a community worker grant
    there (`community.on_duty_at`), as identity announces its grants."""

    def __init__(self, db: Database, clock: Clock, make_event: EventFactory, *, workers_only: bool = False) -> None:
        self.db = db
        self.clock = clock
        self.make_event = make_event
        self.workers_only = workers_only

    # -- reading ---------------------------------------------------------------------------

    async def get(self, path: str, request_id: str) -> HelpRequestRecord:
        async with self.db.transaction() as session:
            conn = await session.connection()
            await _in_community(conn, path, request_id)
            return await load(conn, request_id)

    async def filing(self, path: str, request_id: str) -> Filing | None:
        """Who filed the request and where it is (None when there is no such request in the
        community). The filer is the account recorded on its first transition — not the
        `reporter_id`, which the filer may set to anyone."""
        query = sa.select(transition.c.actor_id, help_request.c.community_path, help_request.c.compound_path,
                          help_request.c.household_path).join(
            transition, transition.c.help_request_id == help_request.c.id).where(
            help_request.c.id == request_id, help_request.c.community_path == path,
            transition.c.from_status == pb.STATUS_UNSPECIFIED).order_by(transition.c.seq).limit(1)
        async with self.db.transaction() as session:
            row = (await (await session.connection()).execute(query)).first()
        return Filing(row.actor_id, row.community_path, row.compound_path, row.household_path) if row else None

    async def list(self, scope: CommunityScope, *, status: int, assignee_id: str, page_token: str,
                   size: int, household_path: str = "") -> tuple[list[HelpRequest], str]:
        """Newest first; only `status` / `assignee_id` / `household_path` when set."""
        parent = "communities/-" if scope.every_within else community_name(scope.path)
        kind = f"help|{parent}|{scope.key}|{status}|{assignee_id}|{household_path}"
        query = where_given(sa.select(help_request).where(scope.condition()), (help_request.c.status, status),
                            (help_request.c.assignee_id, assignee_id),
                            (help_request.c.household_path, household_path))
        async with self.db.session() as session:
            rows, next_token = await keyset_page(await session.connection(), query, help_request.c.seq, kind=kind,
                                                 page_token=page_token, size=size, newest_first=True)
        return typed_all(HelpRequest, rows), next_token

    async def community_thanks(self, community_path: str, *, page_token: str,
                               size: int) -> tuple[Sequence[tuple[Thanks, str]], str]:
        """The community's thanks, newest first, each with its request's category."""
        query = sa.select(thanks, help_request.c.category.label("category")).join(
            help_request, help_request.c.id == thanks.c.help_request_id).where(
            help_request.c.community_path == community_path)
        async with self.db.session() as session:
            rows, next_token = await keyset_page(await session.connection(), query, thanks.c.seq,
                                                 kind=f"thanks|{community_path}", page_token=page_token, size=size,
                                                 newest_first=True)
        return [(typed(Thanks, row), str(row.category)) for row in rows], next_token

    # -- the API's changes, in the transaction it hands over ---------------------------------

    async def create(self, tx: AsyncSession, community_path: str, new: NewHelpRequest,
                     actor: str) -> HelpRequestRecord:
        """File a request and route it at once."""
        conn = await tx.connection()
        now = self.clock.now()
        request_id = "h-" + uuid.uuid4().hex[:16]
        reporter = new.reporter_id or actor
        await conn.execute(help_request.insert().values(
            id=request_id, community_path=community_path, compound_path=new.compound_path,
            household_path=new.household_path, reporter_id=reporter, reporter_role=new.reporter_role,
            on_behalf_of=new.on_behalf_of,
            contact=new.contact, category=new.category, urgency=new.urgency, description=new.description,
            status=pb.STATUS_SUBMITTED, created_at=now, updated_at=now))
        await self._suggest(conn, await _row(conn, request_id), now, refresh=True)
        row = await _row(conn, request_id)
        role = pb.ReporterRole.Name(pb.ReporterRole.ValueType(new.reporter_role))
        await self._record(conn, row, pb.STATUS_SUBMITTED, actor, now, f"reported by {reporter} ({role})",
                           from_status=pb.STATUS_UNSPECIFIED)
        await self._announce(conn, request_id, "submitted")
        await self._route(conn, request_id)
        return await load(conn, request_id)

    async def acknowledge(self, tx: AsyncSession, path: str, request_id: str, actor: str) -> HelpRequestRecord:
        """The caller takes the request: it becomes the assignee and escalation stops."""
        return await self._change(tx, path, request_id, (pb.STATUS_ASSIGNED,), pb.STATUS_ACKNOWLEDGED, actor,
                                  assignee_id=actor, ack_deadline=None)

    async def start(self, tx: AsyncSession, path: str, request_id: str, actor: str, note: str) -> HelpRequestRecord:
        return await self._change(tx, path, request_id, (pb.STATUS_ACKNOWLEDGED,), pb.STATUS_IN_PROGRESS, actor,
                                  note)

    async def resolve(self, tx: AsyncSession, path: str, request_id: str, actor: str, resolution: str,
                      helper_ids: Sequence[str]) -> HelpRequestRecord:
        """Resolve, schedule the follow-ups (1, 3, 7 days) and credit the helpers by event."""
        conn = await tx.connection()
        await _in_community(conn, path, request_id)
        helpers = list(dict.fromkeys(helper_ids))
        row = await self._move(conn, request_id, (pb.STATUS_ACKNOWLEDGED, pb.STATUS_IN_PROGRESS),
                               pb.STATUS_RESOLVED, actor, resolution, resolution=resolution,
                               helper_ids=json.dumps(helpers))
        now = self.clock.now()
        for number, days in enumerate(FOLLOW_UP_DAYS, start=1):
            await conn.execute(follow_up.insert().values(
                help_request_id=request_id, number=number, day_offset=days, due_at=now + timedelta(days=days)))
        await self._publish(conn, "notification.help_request.credited", ev.HelpRequestResolved(
            help_request=help_request_name(row.community_path, request_id), community_path=row.community_path,
            category=row.category, volunteer_ids=helpers, resolved_at=to_timestamp(now), resolved_by=actor),
            row.community_path)
        return await load(conn, request_id)

    async def record_follow_up(self, tx: AsyncSession, path: str, request_id: str, number: int, actor: str,
                               note: str, early_reason: str = "") -> HelpRequestRecord:
        """Record a follow-up as done. Before its due time it needs `early_reason` (a visit made
        early is a choice someone answers for), else FAILED_PRECONDITION naming the due time in
        the community's local time; once due, `early_reason` is not asked for and not kept."""
        conn = await tx.connection()
        await _in_community(conn, path, request_id)
        found_row = (await conn.execute(sa.select(follow_up).where(
            follow_up.c.help_request_id == request_id, follow_up.c.number == number))).first()
        if found_row is None:
            raise NotFound(f"help request {request_id} has no follow-up {number}", reason="FOLLOW_UP_NOT_FOUND")
        found = typed(FollowUp, found_row)
        if found.done_at is not None:
            raise FailedPrecondition(f"follow-up {number} was already recorded by {found.done_by}",
                                     reason="FOLLOW_UP_ALREADY_DONE")
        now = self.clock.now()
        due = as_utc(found.due_at)
        early = now < due
        if early and not early_reason:
            zone = fixed_zone((await settings_of(conn, path)).utc_offset_minutes)
            raise FailedPrecondition(
                f"follow-up {number} (day {found.day_offset}) is due {local_minute(due, zone)}; to record it "
                "before then, say why in early_reason", reason="FOLLOW_UP_NOT_DUE",
                metadata={"due_time": iso_local(due, zone)})
        kept_reason = early_reason[:1000] if early else ""
        await conn.execute(follow_up.update().where(follow_up.c.seq == found.seq).values(
            done_at=now, done_by=actor, note=note[:1000], early_reason=kept_reason))
        summary = f"follow-up {number} (day {found.day_offset}): {note}"
        if early:
            summary = f"follow-up {number} (day {found.day_offset}), {_ahead(due - now)} early ({kept_reason}): {note}"
        await self._move(conn, request_id, (pb.STATUS_RESOLVED, pb.STATUS_FOLLOWED_UP), pb.STATUS_FOLLOWED_UP, actor,
                         summary)
        return await load(conn, request_id)

    async def close(self, tx: AsyncSession, path: str, request_id: str, actor: str, note: str) -> HelpRequestRecord:
        return await self._change(tx, path, request_id, (pb.STATUS_RESOLVED, pb.STATUS_FOLLOWED_UP),
                                  pb.STATUS_CLOSED, actor, note)

    async def cancel(self, tx: AsyncSession, path: str, request_id: str, actor: str,
                     reason: str) -> HelpRequestRecord:
        """Withdraw a request that is still open (the need went away). Who may — staff, or
        whoever filed it — the API decides (`api.access.require_staff_or_filer`)."""
        return await self._change(tx, path, request_id, OPEN, pb.STATUS_CANCELLED, actor, reason, ack_deadline=None)

    async def record_thanks(self, tx: AsyncSession, path: str, request_id: str, actor: str,
                            given: NewThanks) -> HelpRequestRecord:
        """Thanks belong to a request that was resolved; by default they go to the assignee and
        every volunteer who helped."""
        conn = await tx.connection()
        await _in_community(conn, path, request_id)
        row = await _row(conn, request_id)
        if row.status not in (pb.STATUS_RESOLVED, pb.STATUS_FOLLOWED_UP, pb.STATUS_CLOSED):
            raise FailedPrecondition(f"help request {request_id} is {status_name(row.status)}; thanks are recorded "
                                     "once it is resolved", reason="NOT_RESOLVED")
        people = list(dict.fromkeys(given.recipient_ids or [row.assignee_id, *json.loads(row.helper_ids)]))
        people = [p for p in people if p]
        await conn.execute(thanks.insert().values(
            help_request_id=request_id, kind=given.kind, text=given.text, from_name=given.from_name,
            recipient_ids=json.dumps(people), recorded_at=self.clock.now(), recorded_by=actor))
        await self._publish(conn, "notification.thanks.recorded", ev.ThanksRecorded(
            help_request=help_request_name(row.community_path, request_id), community_path=row.community_path,
            kind=given.kind, text=given.text, recipient_ids=people, **{"from": given.from_name}),
            row.community_path)
        return await load(conn, request_id)

    # -- the sweeper's steps, each in its own transaction --------------------------------------

    async def due_work(self) -> DueWork:
        now = self.clock.now()
        async with self.db.transaction() as session:
            conn = await session.connection()
            unrouted = (await conn.execute(sa.select(help_request.c.id).where(
                help_request.c.status == pb.STATUS_SUBMITTED).order_by(help_request.c.seq).limit(SWEEP_BATCH)))
            overdue = (await conn.execute(sa.select(help_request.c.id).where(
                help_request.c.status == pb.STATUS_ASSIGNED, help_request.c.ack_deadline <= now).order_by(
                help_request.c.seq).limit(SWEEP_BATCH)))
            due = (await conn.execute(sa.select(follow_up.c.seq).where(
                follow_up.c.assignee_id == "", follow_up.c.done_at.is_(None), follow_up.c.due_at <= now).order_by(
                follow_up.c.seq).limit(SWEEP_BATCH)))
            opened = await _opened_since_suggested(conn, now)
            past_sla = (await conn.execute(sa.select(sa.func.count()).select_from(help_request).where(
                help_request.c.status == pb.STATUS_ASSIGNED,
                sa.or_(help_request.c.escalation_level > 0, help_request.c.ack_deadline <= now)))).scalar_one()
            return DueWork(list(unrouted.scalars()), list(overdue.scalars()), list(due.scalars()), opened,
                           int(past_sla))

    async def route(self, request_id: str) -> bool:
        async with self.db.transaction() as session:
            return await self._route(await session.connection(), request_id)

    async def escalate(self, request_id: str) -> bool:
        """One escalation step for a request whose acknowledgement is overdue: duty worker →
        backup → community head, each level once. A missing backup goes straight to the head."""
        async with self.db.transaction() as session:
            conn = await session.connection()
            row = await _row(conn, request_id)
            now = self.clock.now()
            if row.status != pb.STATUS_ASSIGNED or row.ack_deadline is None or as_utc(row.ack_deadline) > now:
                return False
            settings = await settings_of(conn, row.community_path)
            if row.escalation_level == 0 and row.backup_id:
                level, target = 1, row.backup_id
            elif row.escalation_level < 2 and (row.head_id or settings.head_id):
                level, target = 2, row.head_id or settings.head_id
            else:
                level, target = row.escalation_level, ""
            condition = (help_request.c.id == request_id, help_request.c.status == pb.STATUS_ASSIGNED,
                         help_request.c.escalation_level == row.escalation_level,
                         help_request.c.ack_deadline == row.ack_deadline)
            if not target:  # nobody left to escalate to: stop watching the deadline
                await conn.execute(help_request.update().where(*condition).values(ack_deadline=None))
                return False
            deadline = now + timedelta(minutes=settings.sla_minutes(row.urgency))
            updated = await conn.execute(help_request.update().where(*condition).values(
                escalation_level=level, assignee_id=target, ack_deadline=deadline, updated_at=now))
            if updated.rowcount != 1:
                return False
            # Whoever takes it over sees what is open now (a canteen closed since filing is gone).
            _, opened = await self._suggest(conn, row, now, refresh=True)
            note = f"not acknowledged in time: escalated to the {LEVEL_NAMES[level]}"
            if opened:
                note += f"; now open: {_listed(opened)}"
            await self._record(conn, row, pb.STATUS_ASSIGNED, SYSTEM, now, note, level=level, assignee=target)
            await self._announce(conn, request_id, "escalated", suggested=opened)
            return True

    async def suggest_opened(self, request_id: str) -> bool:
        """Suggest the providers that opened since the request was last given suggestions (each
        once per opening), while it is open: recorded in its history, announced as
        `notification.help_request.suggested` (its holder gets a notice)."""
        async with self.db.transaction() as session:
            conn = await session.connection()
            row = await _row(conn, request_id)
            if row.status not in OPEN:
                return False
            now = self.clock.now()
            _, opened = await self._suggest(conn, row, now)
            if not opened:
                return False
            await conn.execute(help_request.update().where(help_request.c.id == request_id).values(updated_at=now))
            await self._record(conn, row, row.status, SYSTEM, now, f"now open: {_listed(opened)}")
            await self._announce(conn, request_id, "suggested", suggested=opened)
            return True

    async def assign_follow_up(self, seq: int) -> bool:
        """Give a due follow-up to the worker on duty now (or the head) and announce it."""
        async with self.db.transaction() as session:
            conn = await session.connection()
            found_row = (await conn.execute(sa.select(follow_up).where(follow_up.c.seq == seq))).first()
            if found_row is None:
                return False
            found = typed(FollowUp, found_row)
            if found.assignee_id or found.done_at is not None:
                return False
            row = await _row(conn, found.help_request_id)
            if row.status in (pb.STATUS_CLOSED, pb.STATUS_CANCELLED):
                return False
            now = self.clock.now()
            settings = await settings_of(conn, row.community_path)
            duty = await on_duty_at(conn, row.community_path, now, settings.utc_offset_minutes,
                                    workers_only=self.workers_only)
            assignee = duty.worker_id if duty else settings.head_id
            if not assignee:
                return False
            updated = await conn.execute(follow_up.update().where(
                follow_up.c.seq == seq, follow_up.c.assignee_id == "").values(assignee_id=assignee))
            if updated.rowcount != 1:
                return False
            await self._publish(conn, "notification.follow_up.due", ev.FollowUpDue(
                follow_up=follow_up_name(row.community_path, row.id, found.number),
                help_request=help_request_name(row.community_path, row.id), community_path=row.community_path,
                assignee_id=assignee, day_offset=found.day_offset, due_at=to_timestamp(found.due_at)),
                row.community_path)
            return True

    # -- inside ------------------------------------------------------------------------------

    async def _route(self, conn: AsyncConnection, request_id: str) -> bool:
        """Give a submitted request to the worker on duty now; with nobody rostered, to the
        community head; with no head either it stays submitted and the sweeper tries again."""
        row = await _row(conn, request_id)
        if row.status != pb.STATUS_SUBMITTED:
            return False
        now = self.clock.now()
        settings = await settings_of(conn, row.community_path)
        duty = await on_duty_at(conn, row.community_path, now, settings.utc_offset_minutes,
                                    workers_only=self.workers_only)
        if duty is not None:
            assignee, backup, level, note = duty.worker_id, duty.backup_id, 0, f"on duty (shift {duty.shift_id})"
        elif settings.head_id:
            assignee, backup, level, note = settings.head_id, "", 2, "nobody on duty: the community head"
        else:
            return False
        deadline = now + timedelta(minutes=settings.sla_minutes(row.urgency))
        updated = await conn.execute(help_request.update().where(
            help_request.c.id == request_id, help_request.c.status == pb.STATUS_SUBMITTED).values(
            status=pb.STATUS_ASSIGNED, assignee_id=assignee, backup_id=backup, head_id=settings.head_id,
            escalation_level=level, ack_deadline=deadline, updated_at=now))
        if updated.rowcount != 1:
            return False
        await self._record(conn, row, pb.STATUS_ASSIGNED, SYSTEM, now, note, level=level, assignee=assignee)
        await self._announce(conn, request_id, "assigned")
        return True

    async def _change(self, tx: AsyncSession, path: str, request_id: str, allowed: Sequence[int], to: int,
                      actor: str, note: str = "", **values: Any) -> HelpRequestRecord:
        conn = await tx.connection()
        await _in_community(conn, path, request_id)
        await self._move(conn, request_id, allowed, to, actor, note, **values)
        return await load(conn, request_id)

    async def _move(self, conn: AsyncConnection, request_id: str, allowed: Sequence[int], to: int, actor: str,
                    note: str = "", **values: Any) -> HelpRequest:
        """Move the request from one of `allowed` to `to`; returns the row as it was before."""
        row = await _row(conn, request_id)
        if row.status not in allowed:
            raise FailedPrecondition(
                f"help request {request_id} is {status_name(row.status)}; it must be "
                f"{' or '.join(status_name(s) for s in allowed)} to become {status_name(to)}",
                reason="INVALID_TRANSITION", metadata={"status": status_name(row.status)})
        now = self.clock.now()
        # Conditional on the status only: an escalation committed meanwhile does not void the
        # caller's acknowledgement (the escalation's own update is conditional on its level).
        updated = await conn.execute(help_request.update().where(
            help_request.c.id == request_id, help_request.c.status == row.status).values(
            status=to, updated_at=now, **values))
        if updated.rowcount != 1:
            raise Aborted(f"help request {request_id} changed at the same time; try again", reason="CONCURRENT_CHANGE")
        fresh = await _row(conn, request_id)
        await self._record(conn, row, to, actor, now, note, level=fresh.escalation_level, assignee=fresh.assignee_id)
        await self._announce(conn, request_id, VERB[to])
        return row

    async def _record(self, conn: AsyncConnection, row: HelpRequest, to: int, actor: str, now: datetime,
                      note: str = "", *, level: int | None = None, assignee: str | None = None,
                      from_status: int | None = None) -> None:
        await conn.execute(transition.insert().values(
            help_request_id=row.id, from_status=row.status if from_status is None else from_status, to_status=to,
            actor_id=actor, at=now, note=note[:1000],
            escalation_level=row.escalation_level if level is None else level,
            assignee_id=row.assignee_id if assignee is None else assignee))

    async def _suggest(self, conn: AsyncConnection, row: HelpRequest, now: datetime, *,
                       refresh: bool = False) -> tuple[Providers, Providers]:
        """The providers of the request's category open `now`, and those among them whose current
        opening had not been suggested for it yet (now recorded: nf_suggestion holds one row per
        request, provider and opening, so concurrent sweepers suggest it once). The request's
        list becomes the open providers when any is new, or always with `refresh`."""
        settings = await settings_of(conn, row.community_path)
        offset = settings.utc_offset_minutes
        open_now = roster.open_alternatives(await providers_of(conn, row.community_path, row.category), now, offset)
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        opened: Providers = []
        for p in open_now:
            inserted = await conn.execute(dialect.insert(suggestion).values(
                help_request_id=row.id, provider_id=p.id, opening_start=roster.opening_start(p, now, offset),
                suggested_at=now).on_conflict_do_nothing(
                index_elements=["help_request_id", "provider_id", "opening_start"]))
            if inserted.rowcount == 1:
                opened.append(p)
        listed = json.dumps([[p.id, p.display_name, p.phone] for p in open_now], ensure_ascii=False)
        if (opened or refresh) and listed != row.suggestions:
            await conn.execute(help_request.update().where(help_request.c.id == row.id).values(suggestions=listed))
        return open_now, opened

    async def _announce(self, conn: AsyncConnection, request_id: str, verb: str,
                        suggested: Sequence[roster.ProviderHours] = ()) -> None:
        row = await _row(conn, request_id)
        payload = ev.HelpRequestChanged(
            help_request=help_request_name(row.community_path, row.id), community_path=row.community_path,
            category=row.category, status=ev.HelpRequestStatus.ValueType(row.status), assignee_id=row.assignee_id,
            escalation_level=row.escalation_level, changed_at=to_timestamp(row.updated_at),
            suggested_providers=[child_name(row.community_path, PROVIDERS, p.id) for p in suggested])
        await self._publish(conn, f"notification.help_request.{verb}", payload, row.community_path)

    async def _publish(self, conn: AsyncConnection, subject: str, payload: Message, scope: str) -> None:
        await publish_in(conn, self.make_event(subject, payload, scope))
