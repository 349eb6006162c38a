"""Transactional outbox and its relay.

`publish_in(tx, event)` writes the event in the caller's transaction: if the transaction rolls
back, the event never existed. The relay then publishes unsent rows to JetStream with the
event id as `Nats-Msg-Id` and is done with a row (deletes it on PostgreSQL, marks it sent on
SQLite) only after JetStream acknowledged it. While NATS is down rows simply wait, and the relay
retries with backoff. A row published twice (a crash between PubAck and that write) is dropped
by JetStream's dedup window or, later, by the consumers' inbox.

Replicas of a service share one database (PostgreSQL). There a relay claims a batch by deleting
its rows in a transaction it keeps open while the batch is in flight (`DELETE … WHERE seq IN
(SELECT … FOR UPDATE SKIP LOCKED) RETURNING`): the rows stay locked, so another relay skips them,
and the COMMIT once JetStream acknowledged them makes the delete true — one write a row, and no
sent row left behind to be read past, vacuumed and pruned. A relay that dies mid-batch (its
connection drops, its transaction rolls back) leaves the rows in place for the next claim at
once; what it had published goes out again, dropped by JetStream's dedup window or the consumers'
inbox. What was published is in the stream (and its effect in the consumers' inboxes), not in the
outbox. SQLite serves one process: its relay reads without a claim and marks the acknowledged
rows sent, kept for `retention` (a restored SQLite backup re-sends those sent after its
JetStream export began, linli_runtime/backup.py); on PostgreSQL only rows marked sent before
rt0005 are left to prune.

The relay is a `PeriodicTask` whose pass publishes everything unsent: it runs every
`poll_interval`, and at once when a transaction that wrote outbox rows commits (the database's
commit hook wakes it). A failed pass backs off (growing, jittered) before the next. Wake-ups
coalesce: a claim follows the one before it after at least `claim_gap`, so commits in a steady
stream (a service's group commits, ~100–300 a second) share a claim — a round of the relay costs
~1 ms of the service's CPU whatever it carries — while a commit after a quiet spell is claimed at
once; an event waits at most `claim_gap` longer.

Every pass (at most every `gauge_interval`) also refreshes the backlog gauges
`linli_outbox_unsent_events` and `linli_outbox_oldest_unsent_age_seconds` — NATS down
included, which is when the backlog grows and the alert must see it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, String, and_, any_, bindparam, column, delete, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.asyncio import AsyncSession as SAAsyncSession

from linli.events.v1.envelope_pb2 import EventEnvelope
from linli_runtime.bulk import driver_of, errors_as_sqlalchemy, insert_rows, untraced_postgres
from linli_runtime.clock import Clock, SystemClock
from linli_runtime.db import OUTBOX_DIRTY, Database
from linli_runtime.events.bus import EventBus
from linli_runtime.events.publisher import BatchPublisher, PubAckBatch
from linli_runtime.events.tables import OUTBOX
from linli_runtime.metrics import (
    OUTBOX_OLDEST_UNSENT_AGE,
    OUTBOX_PUBLISH_FAILURES,
    OUTBOX_PUBLISHED,
    OUTBOX_UNSENT,
)
from linli_runtime.tasks import PeriodicTask
from linli_runtime.times import as_utc, instant_of
from linli_runtime.tracing import NO_TRACING, Tracing, stamp

log = logging.getLogger("linli.events.outbox")

MSG_ID_HEADER = "Nats-Msg-Id"


async def publish_in(tx: SAAsyncSession | AsyncConnection, event: EventEnvelope, *more: EventEnvelope) -> None:
    """Write `event` (and `more`, in order) to the outbox inside the caller's open transaction,
    each with the trace context of the work that wrote it (the current span's, when tracing).
    Several events in one call are one statement and one round trip (a batch of requests
    committed together, a year-end close)."""
    conn = await tx.connection() if isinstance(tx, SAAsyncSession) else tx
    if untraced_postgres(conn):
        await _insert_on_driver(conn, (event, *more))
    elif more:
        await insert_rows(conn, OUTBOX, [_row(e) for e in (event, *more)])
    else:
        await conn.execute(_INSERT, _row(event))
    wrote_outbox(conn)


async def _insert_on_driver(conn: AsyncConnection, events: Sequence[EventEnvelope]) -> None:
    """PostgreSQL: the events in one statement sent on asyncpg's connection itself (inside the
    caller's transaction, linli_runtime.bulk.driver_of), one array per column whatever their
    number. SQLAlchemy's execution around the same statement — its compiled cache, execution
    context, parameter processing and result — cost a producer's transaction of 20 events
    ~300 µs of its ~1,300 µs of CPU (measured, embedded PostgreSQL). Errors are SQLAlchemy's, as
    a statement of its own raises them. Not when a span is current: there the write goes through
    SQLAlchemy, whose instrumentation traces it as a statement of the work that wrote it."""
    arrays = outbox_arrays(events)
    driver = await driver_of(conn)
    with errors_as_sqlalchemy(_INSERT_ON_DRIVER):
        await driver.execute(_INSERT_ON_DRIVER, arrays["outbox_event_id"], arrays["outbox_subject"],
                             arrays["outbox_data"], arrays["outbox_created_at"])


_COLUMN_NAMES = ("event_id", "subject", "data", "created_at")


def _columns(event: EventEnvelope) -> tuple[str, str, bytes, datetime]:
    """An event's outbox columns, in `_COLUMN_NAMES`' order."""
    stamp(event)  # before it is serialised: the trace context travels in the envelope
    created = instant_of(event.occurred_at) if event.HasField("occurred_at") else datetime.now(UTC)
    return event.event_id, event.subject, event.SerializeToString(), created


def _row(event: EventEnvelope) -> dict[str, object]:
    return {**dict(zip(_COLUMN_NAMES, _columns(event), strict=True)), "attempts": 0}


# One statement, its parameters bound per event: built once, compiled once (building it per
# event cost a producer's transaction a sixth of its CPU).
_INSERT = OUTBOX.insert()


# `publish_in` as part of a statement of the caller's own (PostgreSQL): the body of a
# data-modifying CTE, `WITH … , events AS ({OUTBOX_INSERT_PG}) …`, bound with
# `outbox_arrays(events)`; the caller then calls `wrote_outbox(conn)`, as `publish_in` does (or,
# for one statement in autocommit, `Database.write_returning(…, wrote_outbox=True)`). A
# transaction whose writes are one statement saves the outbox's round trip (issue 18: the
# ledger's group commit of single transfers, the POS redeem's commit). The events keep their
# order. A statement that publishes only some of the events (partner-redemption's: those whose
# row it committed) writes its own INSERT over the same `outbox_arrays` parameters.
OUTBOX_INSERT_PG = """INSERT INTO linli_outbox (event_id, subject, data, created_at, attempts)
    SELECT o.event_id, o.subject, o.data, o.created_at, 0
    FROM unnest(CAST(:outbox_event_id AS text[]), CAST(:outbox_subject AS text[]),
                CAST(:outbox_data AS bytea[]), CAST(:outbox_created_at AS timestamptz[]))
         WITH ORDINALITY AS o(event_id, subject, data, created_at, n)
    ORDER BY o.n"""


def outbox_arrays(events: Sequence[EventEnvelope]) -> dict[str, list[Any]]:
    """`OUTBOX_INSERT_PG`'s parameters for `events` (none: empty arrays, no row)."""
    rows = [_columns(e) for e in events]  # tuples, not a dict per event
    return {f"outbox_{name}": [row[i] for row in rows] for i, name in enumerate(_COLUMN_NAMES)}


# OUTBOX_INSERT_PG with asyncpg's positional parameters ($1 …), for `_insert_on_driver`.
_INSERT_ON_DRIVER = (OUTBOX_INSERT_PG.replace(":outbox_event_id", "$1").replace(":outbox_subject", "$2")
                     .replace(":outbox_data", "$3").replace(":outbox_created_at", "$4"))


def wrote_outbox(conn: AsyncConnection) -> None:
    """Tell the runtime that `conn`'s transaction wrote outbox rows (its relay is woken when the
    transaction commits), after `OUTBOX_INSERT_PG`."""
    conn.info[OUTBOX_DIRTY] = True


# What the relay reads of a row to publish it.
_SENT_COLUMNS = (OUTBOX.c.seq, OUTBOX.c.event_id, OUTBOX.c.subject, OUTBOX.c.data)

# The relay's own writes on PostgreSQL (a batch's claim, and with its commit the mark) commit
# without waiting for the WAL flush: the outbox row is the durable record, and a claim lost with
# the server only publishes rows again, which JetStream's dedup window and the consumers' inbox
# drop. `set_config(…, is_local => true)` in the statement itself (a subquery of its WHERE, run
# once) applies to the statement's own transaction (read at its commit, reverted after), so it
# costs no round trip — unlike `SET LOCAL`, a statement of its own. Measured (one UPDATE in
# autocommit, embedded PostgreSQL, fsync on): 6.5 ms a statement with the flush, 0.45 ms without.
_WITHOUT_FLUSH = select(func.set_config("synchronous_commit", "off", True)).scalar_subquery().is_not(None)

# A batch's acknowledged rows marked sent (SQLite), or deleted (PostgreSQL, after a batch some of
# whose rows JetStream refused: its claim rolled back), in one statement with one parameter
# whatever the batch's size: an expanding IN rendered a statement per size (and on PostgreSQL
# prepared each).
_SEQS = bindparam("seqs", type_=ARRAY(BigInteger))
_MARK_SENT = {
    "postgresql": delete(OUTBOX).where(OUTBOX.c.seq == any_(_SEQS), _WITHOUT_FLUSH),
    "sqlite": update(OUTBOX).where(OUTBOX.c.seq.in_(select(column("value")).select_from(func.json_each(
        bindparam("seqs", type_=String))))).values(sent_at=bindparam("now")),
}


class Unsent(NamedTuple):
    """What the relay reads of a row to publish it."""

    seq: int
    event_id: str
    subject: str
    data: bytes


# PostgreSQL's claim (on asyncpg's connection: `OutboxRelay._claim`): the oldest unsent rows no
# other relay holds, deleted and returned, without waiting for the WAL flush at its commit
# (`_WITHOUT_FLUSH`, the same subquery run once). They are read off the primary key, which stops
# at the batch's size (the table is the unsent set there, rt0006; rows marked sent before rt0005
# are skipped until pruned). A plan that read every unsent row with a bitmap scan and sorted them
# would read the index entries of rows deleted since the last VACUUM again on every claim (a
# bitmap scan never marks them dead): measured on 10 000-row backlogs drained in batches of 500,
# one after another, 23, 43, 59, 77 µs of PostgreSQL's CPU a row against a flat 15–16 read off an
# index in order.
_TAKE_UNSENT = (
    "DELETE FROM linli_outbox WHERE seq IN (SELECT seq FROM linli_outbox WHERE sent_at IS NULL "
    "ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED) "
    "AND (SELECT set_config('synchronous_commit', 'off', true)) IS NOT NULL "
    "RETURNING seq, event_id, subject, data"
)


@dataclass
class _Flight:
    """A batch published, its PubAcks awaited."""

    rows: list[Unsent]
    acks: PubAckBatch
    spans: list[Any]  # one PRODUCER span per row when tracing (Tracing.start_publish), else none
    # PostgreSQL: the connection whose open transaction deleted (and so locks) the rows; its
    # commit makes the delete true, its rollback gives them back. None on SQLite.
    hold: AsyncConnection | None
    sent_at: float = field(default_factory=lambda: asyncio.get_running_loop().time())

    @property
    def acked(self) -> bool:
        return self.acks.done.done()

    def end_spans(self, error: BaseException) -> None:
        for span in self.spans:
            Tracing.end_publish(span, error)


async def _first_of(ack: asyncio.Future[None], committed: asyncio.Event, timeout: float) -> None:
    """Return when `ack` is done or `committed` is set (or after `timeout`)."""
    if ack.done() or committed.is_set():
        return
    commit = asyncio.ensure_future(committed.wait())
    either: set[asyncio.Future[Any]] = {ack, commit}
    try:
        await asyncio.wait(either, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        commit.cancel()


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        service: str,
        clock: Clock | None = None,
        batch_size: int = 500,
        window: int = 4,
        poll_interval: float = 1.0,
        publish_timeout: float = 5.0,
        retention: timedelta = timedelta(days=2),
        prune_batch: int = 1000,
        gauge_interval: float = 5.0,
        claim_gap: float = 0.01,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        self.db = db
        self.bus = bus
        self.service = service
        self.clock = clock or SystemClock()
        self.tracing = tracing
        self.batch_size = batch_size
        # Batches in flight at once (their PubAcks awaited together). On PostgreSQL each holds a
        # pooled connection until it is settled: at most half the pool, the rest serving requests.
        self.window = window if db.is_sqlite else max(1, min(window, _pool_size(db) // 2))
        self.poll_interval = poll_interval
        self.publish_timeout = publish_timeout
        self.retention = retention
        self.prune_batch = prune_batch  # sent rows deleted per statement
        self._last_prune: datetime | None = None
        self.gauge_interval = gauge_interval
        self.claim_gap = claim_gap  # the least time from one claim to the next (module docstring)
        self._claimed_at = float("-inf")  # loop time of the last claim
        self.claims = 0  # claims made (tests count the coalescing)
        self._gauges_at: float | None = None  # loop time of the last backlog refresh
        self._failures = 0
        self._backoff: asyncio.TimerHandle | None = None  # set while a failed pass waits to retry
        self._published = OUTBOX_PUBLISHED.labels(service)
        self._publisher = BatchPublisher(bus)
        # The claims, built once (building a statement costs more than running it).
        unsent = select(*_SENT_COLUMNS).where(OUTBOX.c.sent_at.is_(None)).order_by(OUTBOX.c.seq).limit(batch_size)
        self._unsent = unsent
        self._unsent_after = unsent.where(OUTBOX.c.seq > bindparam("after"))
        self._committed = asyncio.Event()  # set by each commit that wrote outbox rows
        self._task = PeriodicTask(f"{service}-outbox-relay", self._publish_pending, interval=poll_interval)
        db.on_outbox_commit(self.wake)

    def wake(self) -> None:
        self._committed.set()
        self._task.wake()

    def start(self) -> None:
        self._task.start()

    async def _publish_pending(self) -> None:
        """One pass: every unsent row, batch after batch, then (now and then) prune sent rows."""
        await self._refresh_backlog_gauges()
        if not self.bus.ready or self._backoff is not None:
            return  # NATS down: events wait. Backing off: the timer wakes the relay.
        try:
            await self.publish_all()
            await self._prune()
            self._failures = 0
        except Exception as exc:
            self._failures += 1
            OUTBOX_PUBLISH_FAILURES.labels(self.service).inc()
            delay = min(0.1 * 2**self._failures, 5.0) * (0.5 + random.random())
            log.warning("outbox relay round failed; events wait", extra={
                "error": repr(exc), "retry_in_s": round(delay, 2)})
            self._backoff = asyncio.get_running_loop().call_later(delay, self._retry)

    def _retry(self) -> None:
        self._backoff = None
        self.wake()

    async def _claim(self, after: int | None = None) -> tuple[list[Unsent], AsyncConnection | None]:
        """The oldest unsent rows no other relay holds, in order (seq, event_id, subject, data),
        and on PostgreSQL the connection that holds them.

        On PostgreSQL, where replicas share a database, the rows are deleted in a transaction
        left open (SKIP LOCKED: rows another relay holds, and our own in flight, are skipped):
        BEGIN and one statement. SQLite serves one process, so it reads without a claim; rows in
        flight are those up to `after` (on SQLite a row's seq is taken in commit order, writers
        being one at a time, so nothing unsent can appear below it)."""
        if self.db.is_sqlite:
            async with self.db.reading() as conn:
                if after is None:
                    return [Unsent(*row) for row in await conn.execute(self._unsent)], None
                return [Unsent(*row) for row in await conn.execute(self._unsent_after, {"after": after})], None
        hold = await self.db.engine.connect()
        try:
            await hold.begin()
            # On asyncpg's connection, inside the transaction just begun (bulk.driver_of): the
            # records as asyncpg decodes them, in C, without SQLAlchemy's execution and a Row each
            # (a claim of 50 rows cost the relay ~200 µs of CPU through it). Sorted, the tuples
            # are in seq order (seq first, and unique).
            driver = await driver_of(hold)
            with errors_as_sqlalchemy(_TAKE_UNSENT):
                rows = sorted(map(Unsent._make, await driver.fetch(_TAKE_UNSENT, self.batch_size)))
        except BaseException:
            await _give_back(hold)
            raise
        if not rows:
            await _give_back(hold)
            return rows, None
        return rows, hold

    async def publish_batch(self) -> int:
        """Publish one claimed batch and wait for its acknowledgements; returns how many rows it
        claimed."""
        rows, hold = await self._claim()
        if not rows:
            return 0
        await self._settle([await self._send(rows, hold)])
        return len(rows)

    async def publish_all(self) -> int:
        """Publish every unsent row, and keep publishing what commits meanwhile, until nothing is
        in flight; returns how many. Pipelined: rows are claimed and sent while JetStream
        acknowledges the batches before them (up to `window` in flight, marked sent in order),
        so a new commit waits for one claim, not for the PubAcks of earlier batches."""
        loop = asyncio.get_running_loop()
        in_flight: deque[_Flight] = deque()
        after: int | None = None
        total = 0
        more, first = False, True
        try:
            while True:
                rows: list[Unsent] = []
                hold: AsyncConnection | None = None
                # Woken by PubAcks alone, with nothing committed since the last claim: nothing
                # new to claim, only batches to settle.
                if first or more or self._committed.is_set():
                    if not more:
                        # Commits meanwhile are claimed together (module docstring); a full
                        # batch's successor is not waited for.
                        gap = self._claimed_at + self.claim_gap - loop.time()
                        if gap > 0:
                            await asyncio.sleep(gap)
                    self._committed.clear()  # a commit from now on is claimed by the next round
                    self._claimed_at = loop.time()
                    self.claims += 1
                    rows, hold = await self._claim(after)
                first = False
                if rows:
                    in_flight.append(await self._send(rows, hold))
                    after = rows[-1].seq
                    total += len(rows)
                more = len(rows) == self.batch_size
                done: list[_Flight] = []
                while in_flight and (in_flight[0].acked or len(in_flight) >= self.window
                                     or loop.time() - in_flight[0].sent_at > self.publish_timeout):
                    done.append(in_flight.popleft())
                if done:
                    await self._settle(done)
                if more:
                    continue
                if not in_flight:
                    return total
                # Nothing more to claim now: wait for the oldest batch's PubAcks or a new commit.
                await _first_of(in_flight[0].acks.done, self._committed, self.publish_timeout)
        except BaseException as exc:
            for flight in in_flight:
                self._give_up(flight, exc)
            await _give_back_all(in_flight)
            raise

    async def _send(self, rows: list[Unsent], hold: AsyncConnection | None) -> _Flight:
        """Publish the rows in order (without waiting for their PubAcks), the event id as
        Nats-Msg-Id: one batch of the publisher (core publishes, PubAcks on one inbox)."""
        spans: list[Any] = []
        messages = [(row.subject, row.data, {MSG_ID_HEADER: row.event_id}) for row in rows]
        if self.tracing.enabled:  # a child of the envelope's trace context each, ended in _settle
            spans = [self.tracing.start_publish(subject, headers[MSG_ID_HEADER], data, headers)
                     for subject, data, headers in messages]
        try:
            acks = await self._publisher.publish(messages)
        except BaseException as exc:
            for span in spans:
                Tracing.end_publish(span, exc)
            await _give_back(hold)
            raise
        return _Flight(rows, acks, spans, hold)

    def _give_up(self, flight: _Flight, error: BaseException) -> None:
        self._publisher.forget(flight.acks)
        flight.end_spans(error)

    async def _settle(self, flights: list[_Flight]) -> None:
        """Wait for the flights' PubAcks; mark the acknowledged rows sent and give the others
        back. Raises if any row was not acknowledged within `publish_timeout`."""
        waiting = [flight.acks.done for flight in flights if not flight.acked]
        try:
            if waiting:
                await asyncio.wait(waiting, timeout=self.publish_timeout)
        except BaseException as exc:  # cancelled: give every row back
            for flight in flights:
                self._give_up(flight, exc)
            await _give_back_all(flights)
            raise
        failed = 0
        first_error: BaseException | None = None
        settled: list[tuple[_Flight, list[int]]] = []
        try:
            for flight in flights:
                self._publisher.forget(flight.acks)  # answered, or given up on: a late PubAck is ignored
                if not flight.acks.left and not flight.acks.errors and not flight.spans:
                    # Every position answered and none refused: every row acknowledged (the usual
                    # batch), no row to look at one by one.
                    settled.append((flight, [row.seq for row in flight.rows]))
                    continue
                acked: list[int] = []
                for index, row in enumerate(flight.rows):
                    error = flight.acks.outcome(index)
                    if isinstance(error, TimeoutError):
                        error = TimeoutError(f"no PubAck within {self.publish_timeout}s")
                    if flight.spans:
                        Tracing.end_publish(flight.spans[index], error)
                    if error is None:
                        acked.append(row.seq)
                    else:
                        first_error = first_error or error
                failed += len(flight.rows) - len(acked)
                settled.append((flight, acked))
            await self._mark_sent(settled)
            self._published.inc(sum(len(acked) for _, acked in settled))
        except BaseException:
            # The flights not settled yet give their rows back (published ones go out again:
            # JetStream's dedup window drops the second publish).
            await _give_back_all(flights)
            raise
        if failed:
            total = sum(len(flight.rows) for flight in flights)
            raise RuntimeError(f"{failed} of {total} events not acknowledged: {first_error!r}")

    async def _mark_sent(self, settled: list[tuple[_Flight, list[int]]]) -> None:
        """Each flight's acknowledged rows done with, the others given back. On SQLite marked sent,
        one statement for every flight. On PostgreSQL each flight's claim (its delete) committed
        when JetStream stored the whole batch; else rolled back, then the acknowledged rows
        deleted on their own."""
        now = self.clock.now()
        if self.db.is_sqlite:
            seqs = [seq for _, acked in settled for seq in acked]
            if seqs:
                await self.db.write_one(_MARK_SENT["sqlite"], {"seqs": json.dumps(seqs), "now": now})
            return
        for flight, acked in settled:
            hold, flight.hold = flight.hold, None
            if hold is None:
                continue
            if len(acked) == len(flight.rows):
                try:
                    await hold.commit()
                finally:
                    await _give_back(hold)
                continue
            await _give_back(hold)
            if acked:
                await self.db.write_one(_MARK_SENT["postgresql"], {"seqs": acked})

    async def _refresh_backlog_gauges(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._gauges_at is not None and now - self._gauges_at < self.gauge_interval:
            return
        self._gauges_at = now
        try:
            count, oldest = await self.backlog()
        except Exception as exc:  # the gauges must never stop the relay
            log.debug("could not read the outbox backlog", extra={"error": repr(exc)})
            return
        OUTBOX_UNSENT.labels(self.service).set(count)
        age = (self.clock.now() - as_utc(oldest)).total_seconds() if oldest is not None else 0.0
        OUTBOX_OLDEST_UNSENT_AGE.labels(self.service).set(max(0.0, age))

    async def backlog(self) -> tuple[int, datetime | None]:
        """How many rows wait unsent, and when the oldest of them was written (one indexed read)."""
        async with self.db.reading() as conn:
            row = (await conn.execute(
                select(func.count(), func.min(OUTBOX.c.created_at)).where(OUTBOX.c.sent_at.is_(None))
            )).one()
        return int(row[0]), row[1]

    async def pending(self) -> int:
        async with self.db.session() as session:
            conn = await session.connection()
            count = (
                await conn.execute(select(func.count()).select_from(OUTBOX).where(OUTBOX.c.sent_at.is_(None)))
            ).scalar_one()
            await session.rollback()
            return int(count)

    async def flush(self, timeout: float = 5.0) -> bool:
        """Publish what is pending now (used on shutdown). True when nothing is left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if not self.bus.ready:
                await asyncio.sleep(0.05)
                continue
            try:
                await self.publish_all()
                if await self.pending() == 0:
                    return True
            except Exception as exc:
                log.warning("outbox flush round failed", extra={"error": repr(exc)})
                await asyncio.sleep(0.1)
        return await self.pending() == 0

    async def _prune(self) -> None:
        now = self.clock.now()
        if self._last_prune is not None and now - self._last_prune < timedelta(minutes=10):
            return
        self._last_prune = now
        # In batches, each a statement of its own: one DELETE of a busy day's rows would hold
        # SQLite's writer — and there the event loop (sqlite_writer.py) — for seconds.
        old = (select(OUTBOX.c.seq)
               .where(and_(OUTBOX.c.sent_at.is_not(None), OUTBOX.c.sent_at < now - self.retention))
               .order_by(OUTBOX.c.sent_at).limit(self.prune_batch).scalar_subquery())
        while await self.db.write_one(delete(OUTBOX).where(OUTBOX.c.seq.in_(old))) >= self.prune_batch:
            pass

    async def stop(self, flush_timeout: float = 5.0) -> None:
        await self._task.stop()
        if self._backoff is not None:
            self._backoff.cancel()
            self._backoff = None
        flushed = await self.flush(flush_timeout) if self.bus.ready else False
        await self._publisher.close()
        if not flushed:
            log.warning("stopping with events still in the outbox; they go out on next start",
                        extra={"pending": await self.pending()})


async def _give_back(hold: AsyncConnection | None) -> None:
    """Roll a claim back (its rows are unsent again, for the next claim) and return its
    connection to the pool. Never raises: a connection that cannot roll back is gone, and the
    server rolled its transaction back."""
    if hold is None:
        return
    try:
        try:
            await hold.rollback()
        finally:
            await hold.close()
    except Exception:
        log.debug("could not roll an outbox claim back; the server does when the connection drops")


async def _give_back_all(flights: Sequence[_Flight]) -> None:
    for flight in flights:
        hold, flight.hold = flight.hold, None
        await _give_back(hold)


def _pool_size(db: Database) -> int:
    size = getattr(db.engine.sync_engine.pool, "size", None)
    return int(size()) if callable(size) else 2
