"""What a service published, as its consumers see it: the events in its JetStream stream, read
once its relay has sent everything the service wrote (for tests).

The outbox is not that record: on PostgreSQL the relay deletes a row once JetStream has
acknowledged it (linli_runtime.events.outbox), so a test reading the outbox after the relay ran
finds nothing. Reading the stream only after the outbox holds nothing unsent makes the list
complete: a missing event, or one too many, shows without waiting a while for stragglers.
"""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import Message
from nats.js import JetStreamContext
from sqlalchemy import func, select

from linli.events.v1.envelope_pb2 import EventEnvelope
from linli_runtime.db import Database
from linli_runtime.events.tables import OUTBOX
from linli_runtime.testing.waiting import wait_until

M = TypeVar("M", bound=Message)


async def everything_sent(db: Database) -> bool:
    """Whether the relay has published (and JetStream acknowledged) every event in the outbox:
    no row left unsent (PostgreSQL deletes sent rows, SQLite marks them)."""
    async with db.engine.connect() as conn:
        unsent = (await conn.execute(select(func.count()).select_from(OUTBOX)
                                     .where(OUTBOX.c.sent_at.is_(None)))).scalar_one()
    return unsent == 0


async def published_envelopes(db: Database, js: JetStreamContext, stream: str,
                              subject: str | None = None) -> list[tuple[str, EventEnvelope]]:
    """(subject, envelope) of every event in `stream` (on `subject` only, if given), in stream
    order, once everything `db`'s service wrote has been sent."""
    await wait_until(lambda: everything_sent(db), what="the relay to publish every event written")
    info = await js.stream_info(stream)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(stream, seq)
        if msg.data is not None and msg.subject is not None and subject in (None, msg.subject):
            found.append((msg.subject, EventEnvelope.FromString(msg.data)))
    return found


async def published(db: Database, js: JetStreamContext, stream: str, subject: str, payload: type[M]) -> list[M]:
    """The payloads of every event on `subject` in `stream` (see `published_envelopes`)."""
    out = []
    for _subject, envelope in await published_envelopes(db, js, stream, subject):
        message = payload()
        envelope.payload.Unpack(message)
        out.append(message)
    return out
