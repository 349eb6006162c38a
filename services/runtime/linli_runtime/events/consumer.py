"""Durable pull consumers with explicit ack and an inbox.

Each event's handler runs in the same database transaction that records (consumer, event id) in
the inbox; the message is acked only after that commit. A redelivered event whose id is already
in the inbox is acked without running the handler again, so each event is applied once even long
after JetStream's duplicate window.

A fetched batch is handled in ONE transaction (commits are the scarce resource, DESIGN.md:
one commit per batch is what lets a consumer keep up with its producers). When a handler raises,
the transaction rolls back, that message is settled by the rules below, and the rest of the batch
runs again without it; so a handler may run more than once per delivery, but its changes commit
once: handlers must keep every effect inside the session they are given. If the batch fails for
another reason (the commit, or another replica recorded one of the ids first), each message is
handled in a transaction of its own. Failures:

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
from datetime import datetime
from typing import Any

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.events.v1.envelope_pb2 import EventEnvelope
from linli_runtime.clock import Clock, SystemClock
from linli_runtime.db import Database
from linli_runtime.events.bus import EventBus
from linli_runtime.events.envelope import Event
from linli_runtime.events.tables import DEAD_LETTERS, INBOX
from linli_runtime.metrics import EVENT_LAG, EVENTS_CONSUMED
from linli_runtime.tracing import NO_TRACING, Tracing
from linli_runtime.transactions import is_conflict

log = logging.getLogger("linli.events.consumer")

UNDECODABLE = "undecodable envelope: not a protobuf EventEnvelope with an event_id"

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


@dataclass(frozen=True)
class _Result:
    outcome: str  # applied, duplicate, retry, dead-letter, returned
    event_id: str | None = None
    error: str = ""
    nak_delay: float = 0.0
    occurred_at: datetime | None = None


class _HandlerFailed(Exception):
    def __init__(self, position: int, event: Event, error: Exception) -> None:
        super().__init__(repr(error))
        self.position = position
        self.event = event
        self.error = error


class EventConsumer:
    def __init__(self, spec: ConsumerSpec, db: Database, bus: EventBus, *, clock: Clock | None = None,
                 tracing: Tracing = NO_TRACING) -> None:
        self.spec = spec
        self.db = db
        self.bus = bus
        self.clock = clock or SystemClock()
        self.tracing = tracing
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
        # Not a PeriodicTask: nothing here runs on a schedule. The loop waits on JetStream (a
        # pull that returns as soon as a message is there) and backs off only after a failure.
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
                    msgs = await sub.fetch(1, timeout=1)  # returns as soon as one message is there
                except TimeoutError:
                    continue
                if self.spec.batch > 1:
                    # Then whatever else is waiting, briefly: a pull that asks for a whole batch at
                    # once is held by the server until the batch fills or the request expires,
                    # which under moderate load adds its full timeout to every event's lag.
                    try:
                        msgs += await sub.fetch(self.spec.batch - 1, timeout=0.02)
                    except TimeoutError:
                        pass
                await self.process_batch(msgs)
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
        """Handle one message in a transaction of its own; returns its outcome."""
        result = await self._process_one(msg)
        await self._settle(msg, result)
        return result.outcome

    async def process_batch(self, msgs: Sequence[Msg]) -> list[str]:
        """Handle a fetched batch; returns each message's outcome: applied, duplicate, retry,
        dead-letter, or returned (not handled because the consumer is stopping)."""
        if self._stopping.is_set():
            for msg in msgs:
                await msg.nak()
            return ["returned"] * len(msgs)
        results: dict[int, _Result] = {}
        pending = list(range(len(msgs)))
        while pending:
            try:
                together = await self._process_together([msgs[i] for i in pending])
            except _HandlerFailed as failed:
                index = pending.pop(failed.position)
                results[index] = await self._failure(msgs[index], failed.event, failed.error)
                continue
            except Exception as exc:
                log.info("batch failed; handling its events one by one", extra={
                    "consumer": self.spec.name, "error": repr(exc)})
                for index in pending:
                    stopping = self._stopping.is_set()
                    results[index] = _Result("returned") if stopping else await self._process_one(msgs[index])
                break
            results.update(zip(pending, together, strict=True))
            break
        ordered = [results[i] for i in range(len(msgs))]
        for msg, result in zip(msgs, ordered, strict=True):
            await self._settle(msg, result)
        return [r.outcome for r in ordered]

    async def _process_together(self, msgs: Sequence[Msg]) -> list[_Result]:
        """The fast path: the whole batch in one transaction; raises if anything fails."""
        events: list[Event | None] = [_decode(msg) for msg in msgs]
        ids = [e.id for e in events if e is not None]
        results: list[_Result] = []
        async with self.db.transaction() as session:
            conn = await session.connection()
            seen: set[str] = set((await conn.execute(
                select(INBOX.c.event_id).where(INBOX.c.consumer == self.spec.name, INBOX.c.event_id.in_(ids))
            )).scalars()) if ids else set()
            now = self.clock.now()
            fresh: dict[str, Event] = {e.id: e for e in events if e is not None and e.id not in seen}
            if fresh:
                await conn.execute(INBOX.insert(), [
                    {"consumer": self.spec.name, "event_id": event_id, "applied_at": now} for event_id in fresh])
            for position, (msg, event) in enumerate(zip(msgs, events, strict=True)):
                if event is None:
                    error = UNDECODABLE
                    await self._record_dead_letter(conn, msg, None, error)
                    results.append(_Result("dead-letter", error=error))
                elif fresh.pop(event.id, None) is not None:
                    try:
                        with self.tracing.consuming(self.spec.name, event.envelope, msg.headers):
                            await self.spec.handler(event, session)
                    except Exception as exc:
                        if is_conflict(exc):
                            # A deadlock with another replica's batch is the batching's doing, not
                            # this event's: re-run the batch one event per transaction, and do not
                            # count it towards the event's max_deliver.
                            raise
                        raise _HandlerFailed(position, event, exc) from exc
                    results.append(_Result("applied", event_id=event.id, occurred_at=event.occurred_at))
                else:  # already applied, or the same event twice in one batch
                    results.append(_Result("duplicate", event_id=event.id))
        return results

    async def _process_one(self, msg: Msg) -> _Result:
        """The careful path: one message, one transaction."""
        event = _decode(msg)
        if event is None:
            error = UNDECODABLE
            await self._dead_letter_alone(msg, None, error)
            return _Result("dead-letter", error=error)
        try:
            async with self.db.transaction() as session:
                conn = await session.connection()
                inserted = await conn.execute(
                    _insert_ignore(conn, INBOX, consumer=self.spec.name, event_id=event.id,
                                   applied_at=self.clock.now())
                )
                if inserted.rowcount == 0:
                    return _Result("duplicate", event_id=event.id)
                with self.tracing.consuming(self.spec.name, event.envelope, msg.headers):
                    await self.spec.handler(event, session)
            return _Result("applied", event_id=event.id, occurred_at=event.occurred_at)
        except Exception as exc:
            return await self._failure(msg, event, exc)

    async def _failure(self, msg: Msg, event: Event, exc: Exception) -> _Result:
        """A handler failed (its transaction rolled back): retry later, or dead-letter."""
        deliveries = msg.metadata.num_delivered
        if isinstance(exc, PoisonMessage):
            error = f"poison: {exc}"
        elif deliveries < self.spec.max_deliver:
            delays = self.spec.nak_delays
            delay = delays[min(deliveries - 1, len(delays) - 1)]
            transient = isinstance(exc, TransientError)
            log.log(logging.INFO if transient else logging.WARNING, "event handler failed; will retry",
                    exc_info=exc if not transient else None,
                    extra={"consumer": self.spec.name, "event_id": event.id, "deliveries": deliveries,
                           "retry_in_s": delay, "error": repr(exc)})
            return _Result("retry", event_id=event.id, nak_delay=delay)
        else:
            error = f"gave up after {deliveries} deliveries: {exc!r}"
        await self._dead_letter_alone(msg, event.id, error)
        return _Result("dead-letter", event_id=event.id, error=error)

    async def _settle(self, msg: Msg, result: _Result) -> None:
        """Tell JetStream how it went — only after the transaction committed."""
        if result.outcome in ("applied", "duplicate"):
            await msg.ack()
        elif result.outcome == "dead-letter":
            await msg.term()
        else:
            await msg.nak(delay=result.nak_delay or None)
        EVENTS_CONSUMED.labels(self.spec.name, result.outcome).inc()
        if result.occurred_at is not None:
            lag = (self.clock.now() - result.occurred_at).total_seconds()
            EVENT_LAG.labels(self.spec.name).observe(max(0.0, lag))

    async def _dead_letter_alone(self, msg: Msg, event_id: str | None, error: str) -> None:
        async with self.db.transaction() as session:
            await self._record_dead_letter(await session.connection(), msg, event_id, error)

    async def _record_dead_letter(self, conn: AsyncConnection, msg: Msg, event_id: str | None,
                                  error: str) -> None:
        meta = msg.metadata
        await conn.execute(
            _insert_ignore(
                conn,
                DEAD_LETTERS,
                consumer=self.spec.name,
                stream=meta.stream,
                stream_seq=meta.sequence.stream,
                event_id=event_id,
                subject=msg.subject,
                data=msg.data,
                error=error[:4000],
                deliveries=meta.num_delivered,
                recorded_at=self.clock.now(),
            )
        )
        log.error("event dead-lettered", extra={"consumer": self.spec.name, "event_id": event_id,
                                                "stream_seq": meta.sequence.stream, "error": error})



def _decode(msg: Msg) -> Event | None:
    try:
        envelope = EventEnvelope.FromString(msg.data)
    except DecodeError:
        return None
    if not envelope.event_id:
        return None
    return Event(envelope=envelope, stream_seq=msg.metadata.sequence.stream, deliveries=msg.metadata.num_delivered)
