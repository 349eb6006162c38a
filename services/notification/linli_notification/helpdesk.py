"""Help requests: intake, routing to the worker on duty, the lifecycle, escalation, follow-ups
and thanks. Every change is recorded as a transition (who, when) and announced by an event
written to the outbox in the same transaction.

Concurrent changes: every update is conditional on the state it was decided from (status,
escalation level), so an acknowledgement racing the sweeper's escalation, or two sweepers,
can never both win; the loser sees ABORTED (a caller) or skips (the sweeper).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.events.v1 import notification_pb2 as ev
from linli.events.v1.envelope_pb2 import EventEnvelope
from linli.notification.v1 import notification_pb2 as pb
from linli_notification.community import on_duty_at, open_providers, settings_of
from linli_notification.names import child_name
from linli_notification.tables import follow_up, help_request, thanks, transition
from linli_notification.times import as_utc, ts
from linli_runtime.clock import Clock
from linli_runtime.errors import Aborted, FailedPrecondition, NotFound
from linli_runtime.events import publish_in

SYSTEM = "system"
FOLLOW_UP_DAYS = (1, 3, 7)
VERB: dict[int, str] = {
    pb.STATUS_SUBMITTED: "submitted", pb.STATUS_ASSIGNED: "assigned", pb.STATUS_ACKNOWLEDGED: "acknowledged",
    pb.STATUS_IN_PROGRESS: "started", pb.STATUS_RESOLVED: "resolved", pb.STATUS_FOLLOWED_UP: "followed_up",
    pb.STATUS_CLOSED: "closed", pb.STATUS_CANCELLED: "cancelled",
}
OPEN = (pb.STATUS_SUBMITTED, pb.STATUS_ASSIGNED, pb.STATUS_ACKNOWLEDGED, pb.STATUS_IN_PROGRESS)
LEVEL_NAMES = {0: "duty worker", 1: "backup", 2: "community head"}


class EventMaker(Protocol):
    clock: Clock

    def event(self, subject: str, payload: Any, *, org_scope: str, causation_id: str = "") -> EventEnvelope: ...


def status_name(status: int) -> str:
    return pb.Status.Name(pb.Status.ValueType(status)).removeprefix("STATUS_").lower()


async def _row(conn: AsyncConnection, request_id: str) -> Any:
    row = (await conn.execute(sa.select(help_request).where(help_request.c.id == request_id))).first()
    if row is None:
        raise NotFound(f"help request {request_id!r} does not exist", reason="HELP_REQUEST_NOT_FOUND")
    return row


async def _record(conn: AsyncConnection, row: Any, to: int, actor: str, now: datetime, note: str = "", *,
                  level: int | None = None, assignee: str | None = None,
                  from_status: int | None = None) -> None:
    await conn.execute(transition.insert().values(
        help_request_id=row.id, from_status=row.status if from_status is None else from_status, to_status=to,
        actor_id=actor, at=now, note=note[:1000],
        escalation_level=row.escalation_level if level is None else level,
        assignee_id=row.assignee_id if assignee is None else assignee))


async def _announce(app: EventMaker, conn: AsyncConnection, request_id: str, verb: str) -> None:
    row = await _row(conn, request_id)
    name = child_name(row.community_path, "helpRequests", row.id)
    payload = ev.HelpRequestChanged(
        help_request=name, community_path=row.community_path, category=row.category, status=row.status,
        assignee_id=row.assignee_id, escalation_level=row.escalation_level, changed_at=ts(row.updated_at))
    await publish_in(conn, app.event(f"notification.help_request.{verb}", payload, org_scope=row.community_path))


async def _publish(app: EventMaker, conn: AsyncConnection, subject: str, payload: Message, scope: str) -> None:
    await publish_in(conn, app.event(subject, payload, org_scope=scope))


async def create(app: EventMaker, conn: AsyncConnection, community_path: str, fields: pb.HelpRequest,
                 actor: str) -> str:
    """File a request and route it at once. Returns its id."""
    now = app.clock.now()
    settings = await settings_of(conn, community_path)
    request_id = "h-" + uuid.uuid4().hex[:16]
    alternatives = await open_providers(conn, community_path, fields.category, now, settings.utc_offset_minutes)
    await conn.execute(help_request.insert().values(
        id=request_id, community_path=community_path, compound_path=fields.compound_path,
        reporter_id=fields.reporter_id or actor, reporter_role=fields.reporter_role,
        on_behalf_of=fields.on_behalf_of, contact=fields.contact, category=fields.category,
        urgency=fields.urgency, description=fields.description, status=pb.STATUS_SUBMITTED,
        suggestions=json.dumps([[p.id, p.display_name, p.phone] for p in alternatives], ensure_ascii=False),
        created_at=now, updated_at=now))
    row = await _row(conn, request_id)
    await _record(conn, row, pb.STATUS_SUBMITTED, actor, now,
                  f"reported by {fields.reporter_id or actor} ({pb.ReporterRole.Name(fields.reporter_role)})",
                  from_status=pb.STATUS_UNSPECIFIED)
    await _announce(app, conn, request_id, "submitted")
    await route(app, conn, request_id)
    return request_id


async def route(app: EventMaker, conn: AsyncConnection, request_id: str) -> bool:
    """Give a submitted request to the worker on duty now; with nobody rostered, to the
    community head; with no head either it stays submitted and the sweeper tries again."""
    row = await _row(conn, request_id)
    if row.status != pb.STATUS_SUBMITTED:
        return False
    now = app.clock.now()
    settings = await settings_of(conn, row.community_path)
    duty = await on_duty_at(conn, row.community_path, now, settings.utc_offset_minutes)
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
    await _record(conn, row, pb.STATUS_ASSIGNED, SYSTEM, now, note, level=level, assignee=assignee)
    await _announce(app, conn, request_id, "assigned")
    return True


async def escalate(app: EventMaker, conn: AsyncConnection, request_id: str) -> bool:
    """One escalation step for a request whose acknowledgement is overdue: duty worker →
    backup → community head, each level once. A missing backup goes straight to the head."""
    row = await _row(conn, request_id)
    now = app.clock.now()
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
    await _record(conn, row, pb.STATUS_ASSIGNED, SYSTEM, now,
                  f"not acknowledged in time: escalated to the {LEVEL_NAMES[level]}", level=level, assignee=target)
    await _announce(app, conn, request_id, "escalated")
    return True


async def _move(app: EventMaker, conn: AsyncConnection, request_id: str, allowed: Sequence[int], to: int,
                actor: str, note: str = "", **values: Any) -> Any:
    row = await _row(conn, request_id)
    if row.status not in allowed:
        raise FailedPrecondition(
            f"help request {request_id} is {status_name(row.status)}; it must be "
            f"{' or '.join(status_name(s) for s in allowed)} to become {status_name(to)}",
            reason="INVALID_TRANSITION", metadata={"status": status_name(row.status)})
    now = app.clock.now()
    # Conditional on the status only: an escalation committed meanwhile does not void the
    # caller's acknowledgement (the escalation's own update is conditional on its level).
    updated = await conn.execute(help_request.update().where(
        help_request.c.id == request_id, help_request.c.status == row.status).values(
        status=to, updated_at=now, **values))
    if updated.rowcount != 1:
        raise Aborted(f"help request {request_id} changed at the same time; try again", reason="CONCURRENT_CHANGE")
    fresh = await _row(conn, request_id)
    await _record(conn, row, to, actor, now, note, level=fresh.escalation_level, assignee=fresh.assignee_id)
    await _announce(app, conn, request_id, VERB[to])
    return row


async def acknowledge(app: EventMaker, conn: AsyncConnection, request_id: str, actor: str) -> None:
    """The caller takes the request: it becomes the assignee and escalation stops."""
    await _move(app, conn, request_id, (pb.STATUS_ASSIGNED,), pb.STATUS_ACKNOWLEDGED, actor,
                assignee_id=actor, ack_deadline=None)


async def start(app: EventMaker, conn: AsyncConnection, request_id: str, actor: str, note: str) -> None:
    await _move(app, conn, request_id, (pb.STATUS_ACKNOWLEDGED,), pb.STATUS_IN_PROGRESS, actor, note)


async def resolve(app: EventMaker, conn: AsyncConnection, request_id: str, actor: str, resolution: str,
                  helper_ids: Sequence[str]) -> None:
    """Resolve, schedule the follow-ups (1, 3, 7 days) and credit the helpers by event."""
    helpers = list(dict.fromkeys(helper_ids))
    row = await _move(app, conn, request_id, (pb.STATUS_ACKNOWLEDGED, pb.STATUS_IN_PROGRESS), pb.STATUS_RESOLVED,
                      actor, resolution, resolution=resolution, helper_ids=json.dumps(helpers))
    now = app.clock.now()
    for number, days in enumerate(FOLLOW_UP_DAYS, start=1):
        await conn.execute(follow_up.insert().values(
            help_request_id=request_id, number=number, day_offset=days, due_at=now + timedelta(days=days)))
    await _publish(app, conn, "notification.help_request.credited", ev.HelpRequestResolved(
        help_request=child_name(row.community_path, "helpRequests", request_id),
        community_path=row.community_path, category=row.category, volunteer_ids=helpers, resolved_at=ts(now)),
        row.community_path)


async def record_follow_up(app: EventMaker, conn: AsyncConnection, request_id: str, number: int, actor: str,
                           note: str) -> None:
    found = (await conn.execute(sa.select(follow_up).where(
        follow_up.c.help_request_id == request_id, follow_up.c.number == number))).first()
    if found is None:
        await _row(conn, request_id)
        raise NotFound(f"help request {request_id} has no follow-up {number}", reason="FOLLOW_UP_NOT_FOUND")
    if found.done_at is not None:
        raise FailedPrecondition(f"follow-up {number} was already recorded by {found.done_by}",
                                 reason="FOLLOW_UP_ALREADY_DONE")
    now = app.clock.now()
    await conn.execute(follow_up.update().where(follow_up.c.seq == found.seq).values(
        done_at=now, done_by=actor, note=note[:1000]))
    await _move(app, conn, request_id, (pb.STATUS_RESOLVED, pb.STATUS_FOLLOWED_UP), pb.STATUS_FOLLOWED_UP, actor,
                f"follow-up {number} (day {found.day_offset}): {note}")


async def close(app: EventMaker, conn: AsyncConnection, request_id: str, actor: str, note: str) -> None:
    await _move(app, conn, request_id, (pb.STATUS_RESOLVED, pb.STATUS_FOLLOWED_UP), pb.STATUS_CLOSED, actor, note)


async def cancel(app: EventMaker, conn: AsyncConnection, request_id: str, actor: str, reason: str) -> None:
    await _move(app, conn, request_id, OPEN, pb.STATUS_CANCELLED, actor, reason, ack_deadline=None)


async def record_thanks(app: EventMaker, conn: AsyncConnection, request_id: str, actor: str, given: pb.Thanks) -> None:
    """Thanks belong to a request that was resolved; by default they go to the assignee and every
    volunteer who helped."""
    row = await _row(conn, request_id)
    if row.status not in (pb.STATUS_RESOLVED, pb.STATUS_FOLLOWED_UP, pb.STATUS_CLOSED):
        raise FailedPrecondition(f"help request {request_id} is {status_name(row.status)}; thanks are recorded "
                                 "once it is resolved", reason="NOT_RESOLVED")
    people = list(dict.fromkeys(given.recipient_ids or [row.assignee_id, *json.loads(row.helper_ids)]))
    people = [p for p in people if p]
    await conn.execute(thanks.insert().values(
        help_request_id=request_id, kind=given.kind, text=given.text, from_name=getattr(given, "from"),
        recipient_ids=json.dumps(people), recorded_at=app.clock.now(), recorded_by=actor))
    await _publish(app, conn, "notification.thanks.recorded", ev.ThanksRecorded(
        help_request=child_name(row.community_path, "helpRequests", request_id), community_path=row.community_path,
        kind=given.kind, text=given.text, recipient_ids=people, **{"from": getattr(given, "from")}),
        row.community_path)


# -- sweeps (the sweeper calls these with the app's clock) -----------------------------------

async def overdue(conn: AsyncConnection, now: datetime, limit: int = 200) -> list[str]:
    rows = await conn.execute(sa.select(help_request.c.id).where(
        help_request.c.status == pb.STATUS_ASSIGNED, help_request.c.ack_deadline <= now).order_by(
        help_request.c.seq).limit(limit))
    return [r.id for r in rows]


async def unrouted(conn: AsyncConnection, limit: int = 200) -> list[str]:
    rows = await conn.execute(sa.select(help_request.c.id).where(
        help_request.c.status == pb.STATUS_SUBMITTED).order_by(help_request.c.seq).limit(limit))
    return [r.id for r in rows]


async def due_follow_ups(conn: AsyncConnection, now: datetime, limit: int = 200) -> list[int]:
    rows = await conn.execute(sa.select(follow_up.c.seq).where(
        follow_up.c.assignee_id == "", follow_up.c.done_at.is_(None), follow_up.c.due_at <= now).order_by(
        follow_up.c.seq).limit(limit))
    return [r.seq for r in rows]


async def assign_follow_up(app: EventMaker, conn: AsyncConnection, seq: int) -> bool:
    """Give a due follow-up to the worker on duty now (or the head) and announce it."""
    found = (await conn.execute(sa.select(follow_up).where(follow_up.c.seq == seq))).first()
    if found is None or found.assignee_id or found.done_at is not None:
        return False
    row = await _row(conn, found.help_request_id)
    if row.status in (pb.STATUS_CLOSED, pb.STATUS_CANCELLED):
        return False
    now = app.clock.now()
    settings = await settings_of(conn, row.community_path)
    duty = await on_duty_at(conn, row.community_path, now, settings.utc_offset_minutes)
    assignee = duty.worker_id if duty else settings.head_id
    if not assignee:
        return False
    updated = await conn.execute(follow_up.update().where(
        follow_up.c.seq == seq, follow_up.c.assignee_id == "").values(assignee_id=assignee))
    if updated.rowcount != 1:
        return False
    name = child_name(row.community_path, "helpRequests", row.id)
    await _publish(app, conn, "notification.follow_up.due", ev.FollowUpDue(
        follow_up=f"{name}/followUps/{found.number}", help_request=name, community_path=row.community_path,
        assignee_id=assignee, day_offset=found.day_offset, due_at=ts(found.due_at)), row.community_path)
    return True


# -- reading ---------------------------------------------------------------------------------

def to_proto(row: Any, *, history: Sequence[Any] = (), follow_ups: Sequence[Any] = (),
             thanks_rows: Sequence[Any] = ()) -> pb.HelpRequest:
    name = child_name(row.community_path, "helpRequests", row.id)
    out = pb.HelpRequest(
        name=name, community_path=row.community_path, compound_path=row.compound_path,
        reporter_id=row.reporter_id, reporter_role=row.reporter_role, on_behalf_of=row.on_behalf_of,
        contact=row.contact, category=row.category, urgency=row.urgency, description=row.description,
        status=row.status, assignee_id=row.assignee_id, escalation_level=row.escalation_level,
        acknowledge_by=ts(row.ack_deadline), create_time=ts(row.created_at), update_time=ts(row.updated_at),
        resolution=row.resolution, helper_ids=json.loads(row.helper_ids),
        suggestions=[pb.ProviderSuggestion(provider=child_name(row.community_path, "providers", p), display_name=d,
                                           phone=ph) for p, d, ph in json.loads(row.suggestions)])
    for h in history:
        out.history.append(pb.StatusChange(
            from_status=h.from_status, to_status=h.to_status, actor_id=h.actor_id, change_time=ts(h.at),
            note=h.note, escalation_level=h.escalation_level, assignee_id=h.assignee_id))
    for f in follow_ups:
        out.follow_ups.append(pb.FollowUp(
            name=f"{name}/followUps/{f.number}", day_offset=f.day_offset, due_time=ts(f.due_at),
            assignee_id=f.assignee_id, done=f.done_at is not None, done_by=f.done_by, done_time=ts(f.done_at),
            note=f.note))
    for t in thanks_rows:
        given = pb.Thanks(kind=t.kind, text=t.text, recipient_ids=json.loads(t.recipient_ids),
                          record_time=ts(t.recorded_at), recorded_by=t.recorded_by)
        setattr(given, "from", t.from_name)
        out.thanks.append(given)
    return out


async def load(conn: AsyncConnection, request_id: str) -> pb.HelpRequest:
    row = await _row(conn, request_id)
    history = (await conn.execute(sa.select(transition).where(
        transition.c.help_request_id == request_id).order_by(transition.c.seq))).all()
    follow_ups = (await conn.execute(sa.select(follow_up).where(
        follow_up.c.help_request_id == request_id).order_by(follow_up.c.number))).all()
    thanks_rows = (await conn.execute(sa.select(thanks).where(
        thanks.c.help_request_id == request_id).order_by(thanks.c.seq))).all()
    return to_proto(row, history=history, follow_ups=follow_ups, thanks_rows=thanks_rows)
