"""Dead letters, for an operator: list them with their reasons, replay one through the consumer
that gave up on it, or discard it — each decision once, recorded and announced.

A dead letter (`linli_dead_letter`, written by `events.consumer`) is an event a consumer gave up
on: it never decoded, its handler refused it as poison, or it kept failing past `max_deliver`.
It is kept whole. Once the cause is fixed (the data the event refers to exists now, a bug is
deployed away), an operator replays it; otherwise discards it. Both need a reason.

Replay, in ONE transaction:

1. mark the row replayed, only if it is still pending — two replays (two operators, two
   replicas) cannot both pass: the second finds it resolved;
2. `EventConsumer.apply_in`: the inbox row, then the handler — the path a delivery takes, so
   the event is applied at most once, even if a redelivery applied it meanwhile ("already
   applied");
3. `<context>.dead_letter.replayed` into the outbox — the audit event commits with the decision.

If the handler still fails, the transaction rolls back — the row stays pending, nothing is
applied — and the operator is told why (FAILED_PRECONDITION `REPLAY_FAILED`). Discard is steps 1
and 3. The servicer (`linli_runtime.dead_letter_service`) decides who may do this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from google.protobuf import json_format, symbol_database
from google.protobuf.message import DecodeError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.events.v1 import runtime_pb2
from linli.events.v1.envelope_pb2 import EventEnvelope
from linli_runtime import paging
from linli_runtime.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.events.consumer import EventConsumer
from linli_runtime.events.envelope import Event, EventFactory
from linli_runtime.events.outbox import publish_in
from linli_runtime.events.tables import DEAD_LETTERS, DeadLetter
from linli_runtime.models import loaded, loaded_all
from linli_runtime.transactions import is_conflict

PENDING, REPLAYED, DISCARDED = "pending", "replayed", "discarded"
STATES = (PENDING, REPLAYED, DISCARDED)
COLLECTION = "deadLetters"


def name_of(letter_id: int) -> str:
    return f"{COLLECTION}/{letter_id}"


def parse_name(field: str, name: str) -> int:
    prefix, _, ident = name.partition("/")
    if prefix != COLLECTION or not ident.isdigit() or len(ident) > 18:
        raise InvalidArgument.field(field, f"must look like {COLLECTION}/{{id}}, e.g. {COLLECTION}/12")
    return int(ident)


@dataclass(frozen=True)
class Shown:
    """A dead letter with what its envelope says (empty when it does not decode)."""

    row: DeadLetter
    event_type: str
    payload_type: str
    payload_json: str


def envelope_of(row: DeadLetter) -> EventEnvelope | None:
    try:
        envelope = EventEnvelope.FromString(row.data)
    except DecodeError:
        return None
    return envelope if envelope.event_id else None


def show(row: DeadLetter, *, with_payload: bool = False) -> Shown:
    envelope = envelope_of(row)
    if envelope is None:
        return Shown(row, "", "", "")
    payload_type = envelope.payload.TypeName()
    payload_json = ""
    if with_payload:
        try:
            message = symbol_database.Default().GetSymbol(payload_type)()
            if envelope.payload.Unpack(message):
                payload_json = json_format.MessageToJson(message, indent=2, ensure_ascii=False)[:16_000]
        except (KeyError, DecodeError, json_format.Error):
            payload_json = ""  # a type this service does not know: the operator sees its name
    return Shown(row, envelope.type, payload_type, payload_json)


def within(scopes: Sequence[str]) -> Any:
    """Rows whose event lies within one of `scopes` ("" reaches every row)."""
    if "" in scopes:
        return sa.true()
    return sa.or_(*(sa.or_(DEAD_LETTERS.c.org_scope == s, DEAD_LETTERS.c.org_scope.startswith(s + "/",
                                                                                            autoescape=True))
                    for s in scopes))


async def list_page(conn: AsyncConnection, scopes: Sequence[str], *, state: str, consumer: str, page_token: str,
                    size: int) -> tuple[list[Shown], str]:
    """One page, newest first, of the dead letters within `scopes`."""
    query = paging.where_given(sa.select(DEAD_LETTERS).where(within(scopes)), (DEAD_LETTERS.c.state, state),
                               (DEAD_LETTERS.c.consumer, consumer))
    rows, token = await paging.keyset_page(
        conn, query, DEAD_LETTERS.c.id, kind=f"ListDeadLetters:{state}:{consumer}:{','.join(sorted(scopes))}",
        page_token=page_token, size=size, newest_first=True)
    return [show(r) for r in loaded_all(DeadLetter, rows)], token


async def find(conn: AsyncConnection, letter_id: int, scopes: Sequence[str]) -> DeadLetter:
    """The dead letter, if it lies within `scopes`; NOT_FOUND otherwise, worded as for an id
    nobody uses (a city operator learns nothing of another city's)."""
    row = (await conn.execute(sa.select(DEAD_LETTERS).where(DEAD_LETTERS.c.id == letter_id, within(scopes)))).first()
    if row is None:
        raise NotFound(f"there is no dead letter {name_of(letter_id)} here", reason="DEAD_LETTER_NOT_FOUND",
                       metadata={"name": name_of(letter_id)})
    return loaded(DeadLetter, row)


@dataclass(frozen=True)
class Decision:
    letter_id: int
    actor: str
    reason: str
    when: datetime


async def replay(session: AsyncSession, consumers: Sequence[EventConsumer], make_event: EventFactory,
                 context: str, service: str, scopes: Sequence[str], decision: Decision) -> Shown:
    """Hand the dead letter to its consumer again (see the module docstring)."""
    conn = await session.connection()
    row = await find(conn, decision.letter_id, scopes)
    _require_pending(row)
    consumer = next((c for c in consumers if c.spec.name == row.consumer), None)
    if consumer is None:
        raise FailedPrecondition(
            f"{service} has no consumer named '{row.consumer}' any more: nothing can apply this event; discard it",
            reason="CONSUMER_GONE", metadata={"consumer": row.consumer})
    envelope = envelope_of(row)
    if envelope is None:
        raise FailedPrecondition("this message never decoded as an event: replaying it cannot help; discard it",
                                 reason="UNDECODABLE", metadata={"name": name_of(row.id)})
    await _resolve(conn, row, REPLAYED, decision)
    event = Event(envelope=envelope, stream_seq=row.stream_seq, deliveries=row.deliveries + 1)
    try:
        applied = await consumer.apply_in(session, event)
    except Exception as exc:
        if is_conflict(exc):
            raise Aborted("the replay met a concurrent change; try again with the same request id",
                          reason="CONCURRENT_CHANGE") from exc
        raise FailedPrecondition(
            f"the consumer '{row.consumer}' still fails on this event: {exc!r}"[:1000] + " — fix the cause, then "
            "replay it again", reason="REPLAY_FAILED", metadata={"consumer": row.consumer}) from exc
    outcome = "applied" if applied else "already applied"
    await conn.execute(DEAD_LETTERS.update().where(DEAD_LETTERS.c.id == row.id).values(replay_outcome=outcome))
    await _announce(session, make_event, context, service, row, REPLAYED, decision, outcome)
    return show(await find(conn, row.id, scopes), with_payload=True)


async def discard(session: AsyncSession, make_event: EventFactory, context: str, service: str,
                  scopes: Sequence[str], decision: Decision) -> Shown:
    conn = await session.connection()
    row = await find(conn, decision.letter_id, scopes)
    _require_pending(row)
    await _resolve(conn, row, DISCARDED, decision)
    await _announce(session, make_event, context, service, row, DISCARDED, decision, "")
    return show(await find(conn, row.id, scopes), with_payload=True)


def _require_pending(row: DeadLetter) -> None:
    if row.state != PENDING:
        raise FailedPrecondition(
            f"{name_of(row.id)} was {row.state} by {row.resolved_by or 'someone'} already "
            f"({row.resolution_reason or 'no reason kept'})", reason="DEAD_LETTER_RESOLVED",
            metadata={"name": name_of(row.id), "state": row.state})


async def _resolve(conn: AsyncConnection, row: DeadLetter, state: str, decision: Decision) -> None:
    """Pending → `state`, once: a concurrent decision on the same row finds it resolved."""
    changed = await conn.execute(DEAD_LETTERS.update().where(
        DEAD_LETTERS.c.id == row.id, DEAD_LETTERS.c.state == PENDING,
    ).values(state=state, resolved_by=decision.actor[:128], resolved_at=decision.when,
             resolution_reason=decision.reason))
    if changed.rowcount != 1:
        raise FailedPrecondition(f"{name_of(row.id)} was resolved meanwhile by someone else",
                                 reason="DEAD_LETTER_RESOLVED", metadata={"name": name_of(row.id)})


async def _announce(session: AsyncSession, make_event: EventFactory, context: str, service: str, row: DeadLetter,
                    state: str, decision: Decision, outcome: str) -> None:
    resolution = (runtime_pb2.DEAD_LETTER_RESOLUTION_REPLAYED if state == REPLAYED
                  else runtime_pb2.DEAD_LETTER_RESOLUTION_DISCARDED)
    payload = runtime_pb2.DeadLetterResolved(
        dead_letter=name_of(row.id), service=service, consumer=row.consumer, event_id=row.event_id or "",
        subject=row.subject, resolution=resolution, actor=decision.actor, reason=decision.reason,
        replay_outcome=outcome)
    payload.resolve_time.FromDatetime(decision.when)
    await publish_in(session, make_event(f"{context}.dead_letter.{state}", payload, row.org_scope))
