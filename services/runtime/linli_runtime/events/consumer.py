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

A consumer may also give a `batch_handler`: the fast path then hands it every new event of the
batch at once (set-oriented work: volunteer-points posts a batch of holds in a few statements)
and it answers each event on its own — None when applied, or the exception that event failed
with, having written nothing for it. The applied ones commit together; each failed one leaves
the inbox again and is settled by the rules below, alone: one poisoned event does not fail the
rest. The one-by-one path (a failed batch, a dead letter's replay) still runs `handler`.

An operator lists dead letters and replays (through `apply_in`, the path a delivery takes) or
discards them: `linli_runtime.dead_letters`, served on every service as DeadLetterService.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy import String, bindparam, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import TextClause
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.events.v1.envelope_pb2 import EventEnvelope
from linli_runtime.bulk import driver_of, errors_as_sqlalchemy, untraced_postgres
from linli_runtime.clock import Clock, SystemClock
from linli_runtime.db import Database
from linli_runtime.events.bus import EventBus
from linli_runtime.events.envelope import Event
from linli_runtime.events.pulling import ack_all, take_waiting
from linli_runtime.events.tables import DEAD_LETTERS, INBOX
from linli_runtime.metrics import EVENT_LAG, EVENTS_CONSUMED, observe_all
from linli_runtime.tracing import NO_TRACING, Tracing
from linli_runtime.transactions import is_conflict

log = logging.getLogger("linli.events.consumer")

UNDECODABLE = "undecodable envelope: not a protobuf EventEnvelope with an event_id"

Handler = Callable[[Event, AsyncSession], Awaitable[None]]
# Every new event of a batch, in stream order, in one transaction; one outcome per event: None
# (applied) or the exception it failed with (and nothing of it written).
BatchHandler = Callable[[Sequence[Event], AsyncSession], Awaitable[Sequence[Exception | None]]]


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
    # Held around each of the consumer's transactions, when given: a lock the handler's writes
    # share with other batch writers of the process (volunteer-points' ledger: two transactions
    # writing many rows in no common order deadlock).
    lock: asyncio.Lock | None = None
    # The fast path's handler for a whole batch, when given (module docstring); `handler` stays
    # the one-by-one path's and must do the same to one event.
    batch_handler: BatchHandler | None = None
    # Seconds to let a batch gather after its first message before the rest is taken (0: at
    # once). For a consumer whose cost is per batch and whose lag nobody waits on (volunteer-
    # points posting committed redemptions' holds): with the next batch fetched while one is
    # applied, the linger mostly overlaps that work, and the batch grows with the load.
    linger: float = 0.0
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


# Record a batch of event ids in the inbox and return those that were not there yet: one statement
# (compiled once, whatever the batch size) instead of a SELECT and an INSERT.
_INBOX_CLAIM = {
    "postgresql": text(
        f"INSERT INTO {INBOX.name} (consumer, event_id, applied_at) "
        "SELECT :consumer, id, :now FROM unnest(CAST(:ids AS VARCHAR[])) AS id "
        "ON CONFLICT DO NOTHING RETURNING event_id"
    ).bindparams(bindparam("now", type_=INBOX.c.applied_at.type), bindparam("ids", type_=ARRAY(String))),
    "sqlite": text(
        f"INSERT INTO {INBOX.name} (consumer, event_id, applied_at) "
        "SELECT :consumer, value, :now FROM json_each(:ids) WHERE true "  # WHERE: see SQLite's upsert parsing note
        "ON CONFLICT DO NOTHING RETURNING event_id"
    ).bindparams(bindparam("now", type_=INBOX.c.applied_at.type)),
}


# _INBOX_CLAIM["postgresql"] with asyncpg's positional parameters, for the driver's own connection.
_INBOX_CLAIM_ON_DRIVER = (
    f"INSERT INTO {INBOX.name} (consumer, event_id, applied_at) "
    "SELECT CAST($1 AS VARCHAR), id, CAST($3 AS TIMESTAMP WITH TIME ZONE) FROM unnest(CAST($2 AS VARCHAR[])) AS id "
    "ON CONFLICT DO NOTHING RETURNING event_id"
)


def _inbox_claim(conn: AsyncConnection) -> TextClause:
    return _INBOX_CLAIM[conn.dialect.name]


def _id_list(conn: AsyncConnection, ids: list[str]) -> object:
    return ids if conn.dialect.name == "postgresql" else json.dumps(ids)


# Give back the inbox rows of a batch's events that failed (their changes were never written).
_INBOX_RELEASE = {
    "postgresql": text(f"DELETE FROM {INBOX.name} WHERE consumer = :consumer "
                       "AND event_id = ANY(CAST(:ids AS VARCHAR[]))").bindparams(bindparam("ids", type_=ARRAY(String))),
    "sqlite": text(f"DELETE FROM {INBOX.name} WHERE consumer = :consumer "
                   "AND event_id IN (SELECT value FROM json_each(:ids))"),
}


OUTCOMES = ("applied", "duplicate", "retry", "dead-letter", "returned")


class _Result(NamedTuple):  # one a message: a tuple costs a third of a frozen dataclass's CPU to make
    outcome: str  # one of OUTCOMES
    event_id: str | None = None
    error: str = ""
    nak_delay: float = 0.0
    occurred_at: float | None = None  # the event's time, seconds since the epoch (for the lag)


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
        # The metrics' children, bound once (looking a child up by its labels costs more than
        # counting with it).
        self._consumed = {outcome: EVENTS_CONSUMED.labels(spec.name, outcome) for outcome in OUTCOMES}
        self._lag = EVENT_LAG.labels(spec.name)

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
        # The next batch, fetched while this one is applied: the round trip to JetStream overlaps
        # the database's. Batches are still applied one after the other, in stream order.
        ahead: asyncio.Task[list[Msg]] | None = None
        try:
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
                    if ahead is None:
                        msgs = await self._fetch(sub)
                    else:
                        msgs, ahead = await ahead, None
                    if not msgs:
                        continue
                    ahead = asyncio.create_task(self._fetch(sub), name=f"consumer-{self.spec.name}-fetch")
                    await self.process_batch(msgs)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("consumer round failed; retrying", extra={
                        "consumer": self.spec.name, "error": repr(exc), "retry_in_s": delay})
                    if not self.bus.ready:
                        sub = None
                        await self._give_back(ahead)
                        ahead = None
                    try:
                        await asyncio.wait_for(self._stopping.wait(), delay)
                    except TimeoutError:
                        pass
                    delay = min(delay * 2, 5.0)
        except asyncio.CancelledError:
            if ahead is not None:
                ahead.cancel()  # its messages come back after ack_wait
                ahead = None
            raise
        finally:
            await self._give_back(ahead)

    async def _fetch(self, sub: Any) -> list[Msg]:
        """The next batch: as soon as one message is there, with whatever else is waiting.

        An idle wait for the first message ends as soon as the consumer is told to stop: there
        is nothing in hand to finish, and waiting out the pull's second made every stop (a
        rolling restart, each test's service) a second longer. Should JetStream deliver a message
        to the abandoned pull in that instant, it is not acked and comes back after `ack_wait`,
        as it would after a crash."""
        first = asyncio.ensure_future(sub.fetch(1, timeout=1))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({first, stopping}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            first.cancel()
            raise
        finally:
            stopping.cancel()
        if not first.done():
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
            return []
        try:
            msgs: list[Msg] = first.result()
        except TimeoutError:
            return []
        if self.spec.batch > 1:
            if self.spec.linger > 0:
                await asyncio.sleep(self.spec.linger)
            # Then whatever else is waiting, at once: a pull that asks for a whole batch at once
            # is held by the server until the batch fills or the request expires, which under
            # moderate load adds its full timeout to every event's lag.
            msgs += await take_waiting(sub, self.spec.batch - 1, timeout=1)
        return msgs

    async def _give_back(self, ahead: asyncio.Task[list[Msg]] | None) -> None:
        """Return a batch fetched ahead but not applied (stopping): JetStream redelivers it now,
        not after ack_wait."""
        if ahead is None:
            return
        await asyncio.wait([ahead])
        if ahead.cancelled() or ahead.exception() is not None:
            return  # a fetch that failed holds nothing to give back
        for msg in ahead.result():
            try:
                await msg.nak()
            except Exception:  # NATS gone: the messages come back after ack_wait
                return

    def _locked(self) -> AbstractAsyncContextManager[object]:
        return self.spec.lock if self.spec.lock is not None else nullcontext()

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
        now = self.clock.now().timestamp()
        counts = dict.fromkeys(OUTCOMES, 0)
        # The acks in one write (pulling.ack_all), then the naks and terms one by one.
        await ack_all([msg for msg, result in zip(msgs, ordered, strict=True) if result.outcome in _ACKED])
        lags: list[float] = []
        for msg, result in zip(msgs, ordered, strict=True):
            if result.outcome not in _ACKED:
                await self._tell(msg, result, now)
            elif result.occurred_at is not None:
                lags.append(max(0.0, now - result.occurred_at))
            counts[result.outcome] += 1
        observe_all(self._lag, lags)
        for outcome, count in counts.items():  # counted once per batch, not per event
            if count:
                self._consumed[outcome].inc(count)
        return [r.outcome for r in ordered]

    async def _process_together(self, msgs: Sequence[Msg]) -> list[_Result]:
        """The fast path: the whole batch in one transaction; raises if anything fails."""
        events: list[Event | None] = [_decode(msg) for msg in msgs]
        ids = list(dict.fromkeys(e.id for e in events if e is not None))
        if self.spec.batch_handler is not None:
            return await self._process_set(msgs, events, ids, self.spec.batch_handler)
        async with self._locked(), self.db.transaction() as session:
            results, new = await self._claim(await session.connection(), msgs, events, ids)
            for position, event in new:
                try:
                    with self.tracing.consuming(self.spec.name, event.envelope, msgs[position].headers):
                        await self.spec.handler(event, session)
                except Exception as exc:
                    if is_conflict(exc):
                        # A deadlock with another replica's batch is the batching's doing, not
                        # this event's: re-run the batch one event per transaction, and do not
                        # count it towards the event's max_deliver.
                        raise
                    raise _HandlerFailed(position, event, exc) from exc
                results[position] = _Result("applied", event_id=event.id, occurred_at=_seconds(event))
        return _answered(results, msgs)

    async def _claim(self, conn: AsyncConnection, msgs: Sequence[Msg], events: list[Event | None],
                     ids: list[str]) -> tuple[list[_Result | None], list[tuple[int, Event]]]:
        """Record the batch in the inbox (one statement, which answers which ids are new) and
        sort its messages out: an undecodable one dead-lettered, a duplicate (applied before, or
        the same event twice in the batch) answered so; the new events, each once, returned by
        position to be applied (None in their place among the results until they are)."""
        fresh: set[str] = await self._record_in_inbox(conn, ids) if ids else set()
        results: list[_Result | None] = []
        new: list[tuple[int, Event]] = []
        for position, (msg, event) in enumerate(zip(msgs, events, strict=True)):
            if event is None:
                await self._record_dead_letter(conn, msg, None, UNDECODABLE)
                results.append(_Result("dead-letter", error=UNDECODABLE))
            elif event.id in fresh:
                fresh.discard(event.id)  # the same event twice in one batch is applied once
                new.append((position, event))
                results.append(None)
            else:
                results.append(_Result("duplicate", event_id=event.id))
        return results, new

    async def _record_in_inbox(self, conn: AsyncConnection, ids: list[str]) -> set[str]:
        """Record `ids` in the inbox; the ones that were not there yet. On PostgreSQL (no span
        current) the statement goes on asyncpg's connection itself, inside the batch's
        transaction (linli_runtime.bulk.driver_of), as `publish_in` writes the outbox: SQLAlchemy's
        execution around it cost as much CPU as the rest of the batch's statements."""
        now = self.clock.now()
        if untraced_postgres(conn):
            driver = await driver_of(conn)
            with errors_as_sqlalchemy(_INBOX_CLAIM_ON_DRIVER):
                return {row[0] for row in await driver.fetch(_INBOX_CLAIM_ON_DRIVER, self.spec.name, ids, now)}
        return set((await conn.execute(
            _inbox_claim(conn), {"consumer": self.spec.name, "ids": _id_list(conn, ids), "now": now})).scalars())

    async def _process_set(self, msgs: Sequence[Msg], events: list[Event | None], ids: list[str],
                           batch_handler: BatchHandler) -> list[_Result]:
        """The fast path with a batch handler: its new events handed over at once, each answered
        on its own; the failed ones settled alone once the others have committed."""
        failed: list[tuple[int, Event, Exception]] = []
        async with self._locked(), self.db.transaction() as session:
            conn = await session.connection()
            results, new = await self._claim(conn, msgs, events, ids)
            if new:
                # One span for the batch: the first event's (each event's own would cost as much
                # as the work it describes).
                first = new[0][1]
                with self.tracing.consuming(self.spec.name, first.envelope, msgs[new[0][0]].headers):
                    outcomes = await batch_handler([event for _, event in new], session)
                for (position, event), outcome in zip(new, outcomes, strict=True):
                    if outcome is None:
                        results[position] = _Result("applied", event_id=event.id, occurred_at=_seconds(event))
                    else:
                        failed.append((position, event, outcome))
                if failed:  # not applied: a redelivery (or a replay) must find them new
                    await conn.execute(_INBOX_RELEASE[conn.dialect.name], {
                        "consumer": self.spec.name, "ids": _id_list(conn, [event.id for _, event, _ in failed])})
        for position, event, error in failed:
            results[position] = await self._failure(msgs[position], event, error)
        return _answered(results, msgs)

    async def _process_one(self, msg: Msg) -> _Result:
        """The careful path: one message, one transaction."""
        event = _decode(msg)
        if event is None:
            error = UNDECODABLE
            await self._dead_letter_alone(msg, None, error)
            return _Result("dead-letter", error=error)
        try:
            async with self._locked(), self.db.transaction() as session:
                if not await self.apply_in(session, event, msg.headers):
                    return _Result("duplicate", event_id=event.id)
            return _Result("applied", event_id=event.id, occurred_at=_seconds(event))
        except Exception as exc:
            return await self._failure(msg, event, exc)

    async def apply_in(self, session: AsyncSession, event: Event, headers: Mapping[str, str] | None = None) -> bool:
        """Apply `event` once in the caller's transaction: record its id in the inbox and, unless
        it was there already, run the handler (in its CONSUMER span, linked to the publish span
        the message's `headers` name). Returns whether the handler ran. The one path a delivery
        takes alone — and a dead letter's replay (linli_runtime.dead_letters; no headers: the
        span still joins the writer's trace through the envelope)."""
        conn = await session.connection()
        inserted = await conn.execute(
            _insert_ignore(conn, INBOX, consumer=self.spec.name, event_id=event.id, applied_at=self.clock.now())
        )
        if inserted.rowcount == 0:
            return False
        with self.tracing.consuming(self.spec.name, event.envelope, headers):
            await self.spec.handler(event, session)
        return True

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
        await self._tell(msg, result, self.clock.now().timestamp())
        self._consumed[result.outcome].inc()

    async def _tell(self, msg: Msg, result: _Result, now: float) -> None:
        """Tell JetStream how it went — only after the transaction committed — and observe the
        event's lag. (An ack is a buffered publish: awaiting it waits for no answer.)"""
        if result.outcome in _ACKED:
            await msg.ack()
        elif result.outcome == "dead-letter":
            await msg.term()
        else:
            await msg.nak(delay=result.nak_delay or None)
        if result.occurred_at is not None:
            self._lag.observe(max(0.0, now - result.occurred_at))

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
                org_scope=_scope_of(msg),
            )
        )
        log.error("event dead-lettered", extra={"consumer": self.spec.name, "event_id": event_id,
                                                "stream_seq": meta.sequence.stream, "error": error})



_ACKED = frozenset({"applied", "duplicate"})


def _seconds(event: Event) -> float:
    when = event.envelope.occurred_at
    return when.seconds + when.nanos / 1e9


def _scope_of(msg: Msg) -> str:
    """The org scope of a message's envelope ("" when it does not decode)."""
    try:
        return EventEnvelope.FromString(msg.data).org_scope[:255]
    except DecodeError:
        return ""


def _answered(results: list[_Result | None], msgs: Sequence[Msg]) -> list[_Result]:
    """The batch's results once every new event has been answered (applied or failed)."""
    answered = [r for r in results if r is not None]
    assert len(answered) == len(msgs), "each event of the batch is answered"
    return answered


def _decode(msg: Msg) -> Event | None:
    try:
        envelope = EventEnvelope.FromString(msg.data)
    except DecodeError:
        return None
    if not envelope.event_id:
        return None
    stream_seq, deliveries = _delivery(msg)
    return Event(envelope=envelope, stream_seq=stream_seq, deliveries=deliveries)


def _delivery(msg: Msg) -> tuple[int, int]:
    """The message's stream sequence and how many times it was delivered, read off its reply
    subject, `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`.
    nats-py's `msg.metadata` parses the same subject into two dataclasses and a datetime: measured
    3.2-3.8 µs of CPU a message, most of what decoding one cost. Any other form (with a JetStream
    domain and an account hash) is left to nats-py."""
    tokens = msg.reply.split(".") if msg.reply else []
    if len(tokens) == 9 and tokens[0] == "$JS" and tokens[1] == "ACK":
        return int(tokens[5]), int(tokens[4])
    meta = msg.metadata
    return meta.sequence.stream, meta.num_delivered
