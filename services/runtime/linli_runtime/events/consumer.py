"""Durable pull consumers with explicit ack and an inbox.

For each message: decode the envelope; in one database transaction record (consumer, event id)
in the inbox and run the handler; commit; then ack. A redelivered event whose id is already in
the inbox is acked without running the handler again, so each event is applied once even
long after JetStream's duplicate window. Failures:

- `TransientError` (or any unexpected exception): rolled back and `nak`ed with a growing
  delay; after `max_deliver` attempts the message is dead-lettered instead of looping.
- `PoisonMessage`, or an envelope that does not decode: recorded in the dead-letter table and
  `term`ed at once: redelivery cannot help.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.events.v1.envelope_pb2 import EventEnvelope
from linli_runtime.clock import Clock, SystemClock
from linli_runtime.db import Database
from linli_runtime.events.bus import EventBus
from linli_runtime.events.envelope import Event
from linli_runtime.events.tables import dead_letter, inbox
from linli_runtime.metrics import EVENT_LAG, EVENTS_CONSUMED

log = logging.getLogger("linli.events.consumer")

Handler = Callable[[Event, AsyncSession], Awaitable[None]]


class TransientError(Exception):
    """The handler could not finish now (a dependency is down); try again later."""


class PoisonMessage(Exception):
    """The event can never be processed (wrong shape, refers to nothing): dead-letter it."""


@dataclass
class ConsumerSpec:
    name: str  # durable consumer name, unique per service and purpose: `notification-receipts`
    stream: str
    subjects: Sequence[str]
    handler: Handler
    max_deliver: int = 8
    # Delays before redelivery after a nak, by attempt (the last one repeats).
    nak_delays: Sequence[float] = (0.5, 2, 10, 30, 60, 120, 300)
    ack_wait: float = 30.0
    batch: int = 100
    deliver_all: bool = True
    extra: dict[str, object] = field(default_factory=dict)

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.name,
            name=self.name,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL if self.deliver_all else DeliverPolicy.NEW,
            ack_wait=self.ack_wait,
            max_deliver=self.max_deliver,
            filter_subjects=list(self.subjects),
            max_ack_pending=max(1000, self.batch * 4),
        )


def _insert_ignore(conn: AsyncConnection, table, **values):  # type: ignore[no-untyped-def]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).values(**values).on_conflict_do_nothing()


class EventConsumer:
    def __init__(self, spec: ConsumerSpec, db: Database, bus: EventBus, *, clock: Clock | None = None) -> None:
        self.spec = spec
        self.db = db
        self.bus = bus
        self.clock = clock or SystemClock()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.spec.name}")

    async def stop(self) -> None:
        """Finish the message in hand, give the rest of the batch back, and stop."""
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 10)
            except TimeoutError:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)

    async def _subscribe(self) -> Any:
        js = self.bus.js
        config = self.spec.config()
        try:
            await js.consumer_info(self.spec.stream, self.spec.name)
            await js.add_consumer(self.spec.stream, config)  # same name: updates what may change
        except NotFoundError:
            await js.add_consumer(self.spec.stream, config)
        return await js.pull_subscribe_bind(durable=self.spec.name, stream=self.spec.stream)

    async def _run(self) -> None:
        delay = 0.2
        sub = None
        while not self._stopping.is_set():
            try:
                if not self.bus.ready:
                    await asyncio.wait_for(self._stopping.wait(), 0.2)
                    continue
            except TimeoutError:
                continue
            try:
                if sub is None:
                    sub = await self._subscribe()
                    delay = 0.2
                try:
                    msgs = await sub.fetch(self.spec.batch, timeout=1)
                except TimeoutError:
                    continue
                for i, msg in enumerate(msgs):
                    if self._stopping.is_set():
                        for rest in msgs[i:]:
                            await rest.nak()
                        break
                    await self.process(msg)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer round failed; retrying", extra={
                    "consumer": self.spec.name, "error": repr(exc), "retry_in_s": delay})
                sub = None if not self.bus.ready else sub
                try:
                    await asyncio.wait_for(self._stopping.wait(), delay)
                except TimeoutError:
                    pass
                delay = min(delay * 2, 5.0)

    async def process(self, msg: Msg) -> str:
        """Handle one message; returns the outcome (applied, duplicate, retry, dead-letter)."""
        meta = msg.metadata
        deliveries = meta.num_delivered
        stream_seq = meta.sequence.stream
        try:
            envelope = EventEnvelope.FromString(msg.data)
            if not envelope.event_id:
                raise PoisonMessage("the envelope has no event_id")
        except (DecodeError, PoisonMessage) as exc:
            await self._dead_letter(msg, None, f"undecodable envelope: {exc}", deliveries)
            return "dead-letter"
        event = Event(envelope=envelope, stream_seq=stream_seq, deliveries=deliveries)
        try:
            async with self.db.transaction() as session:
                conn = await session.connection()
                result = await conn.execute(
                    _insert_ignore(conn, inbox, consumer=self.spec.name, event_id=event.id,
                                   applied_at=self.clock.now())
                )
                if result.rowcount == 0:
                    outcome = "duplicate"
                else:
                    await self.spec.handler(event, session)
                    outcome = "applied"
        except PoisonMessage as exc:
            await self._dead_letter(msg, event.id, f"poison: {exc}", deliveries)
            return "dead-letter"
        except Exception as exc:
            if deliveries >= self.spec.max_deliver:
                await self._dead_letter(msg, event.id, f"gave up after {deliveries} deliveries: {exc!r}",
                                        deliveries)
                return "dead-letter"
            delays = self.spec.nak_delays
            delay = delays[min(deliveries - 1, len(delays) - 1)]
            level = logging.INFO if isinstance(exc, TransientError) else logging.WARNING
            log.log(level, "event handler failed; will retry", exc_info=not isinstance(exc, TransientError),
                    extra={"consumer": self.spec.name, "event_id": event.id, "deliveries": deliveries,
                           "retry_in_s": delay, "error": repr(exc)})
            await msg.nak(delay=delay)
            EVENTS_CONSUMED.labels(self.spec.name, "retry").inc()
            return "retry"
        await msg.ack()
        EVENTS_CONSUMED.labels(self.spec.name, outcome).inc()
        if outcome == "applied":
            EVENT_LAG.labels(self.spec.name).observe(
                max(0.0, (self.clock.now() - event.occurred_at).total_seconds()))
        return outcome

    async def _dead_letter(self, msg: Msg, event_id: str | None, error: str, deliveries: int) -> None:
        meta = msg.metadata
        async with self.db.transaction() as session:
            conn = await session.connection()
            await conn.execute(
                _insert_ignore(
                    conn,
                    dead_letter,
                    consumer=self.spec.name,
                    stream=meta.stream,
                    stream_seq=meta.sequence.stream,
                    event_id=event_id,
                    subject=msg.subject,
                    data=msg.data,
                    error=error[:4000],
                    deliveries=deliveries,
                    recorded_at=self.clock.now(),
                )
            )
        await msg.term()
        EVENTS_CONSUMED.labels(self.spec.name, "dead-letter").inc()
        log.error("event dead-lettered", extra={"consumer": self.spec.name, "event_id": event_id,
                                                "stream_seq": meta.sequence.stream, "error": error})
