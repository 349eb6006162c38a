"""Transactional outbox and its relay.

`publish_in(tx, event)` writes the event in the caller's transaction: if the transaction rolls
back, the event never existed. The relay then publishes unsent rows to JetStream with the
event id as `Nats-Msg-Id` and marks a row sent only after JetStream acknowledged it. While
NATS is down rows simply wait, and the relay retries with backoff. A row published twice (a
crash between PubAck and the mark) is dropped by JetStream's dedup window or, later, by the
consumers' inbox.

Replicas of a service share one database; each relay leases a batch (`claimed_until`) so two
relays do not publish the same rows at the same time.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.asyncio import AsyncSession as SAAsyncSession

from linli.events.v1.envelope_pb2 import EventEnvelope
from linli_runtime.clock import Clock, SystemClock
from linli_runtime.db import OUTBOX_DIRTY, Database
from linli_runtime.events.bus import EventBus
from linli_runtime.events.tables import outbox
from linli_runtime.metrics import OUTBOX_PENDING, OUTBOX_PUBLISH_FAILURES, OUTBOX_PUBLISHED

log = logging.getLogger("linli.events.outbox")

MSG_ID_HEADER = "Nats-Msg-Id"
TYPE_HEADER = "Linli-Event-Type"


async def publish_in(tx: SAAsyncSession | AsyncConnection, event: EventEnvelope) -> None:
    """Write `event` to the outbox inside the caller's open transaction."""
    conn = await tx.connection() if isinstance(tx, SAAsyncSession) else tx
    created = event.occurred_at.ToDatetime(tzinfo=UTC) if event.HasField("occurred_at") else None
    await conn.execute(
        outbox.insert().values(
            event_id=event.event_id,
            subject=event.subject,
            data=event.SerializeToString(),
            created_at=created or func.now(),
            attempts=0,
        )
    )
    conn.info[OUTBOX_DIRTY] = True


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        service: str,
        clock: Clock | None = None,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        publish_timeout: float = 5.0,
        lease: timedelta = timedelta(seconds=30),
        retention: timedelta = timedelta(days=2),
    ) -> None:
        self.db = db
        self.bus = bus
        self.service = service
        self.clock = clock or SystemClock()
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.publish_timeout = publish_timeout
        self.lease = lease
        self.retention = retention
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._last_prune: datetime | None = None
        db.on_outbox_commit(self.wake)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self.service}-outbox-relay")

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            except TimeoutError:
                pass
            self._wake.clear()
            if self._stopping:
                break
            if not self.bus.ready:
                continue
            try:
                while await self.publish_batch() == self.batch_size:
                    pass
                await self._prune()
                failures = 0
            except Exception as exc:
                failures += 1
                OUTBOX_PUBLISH_FAILURES.labels(self.service).inc()
                delay = min(0.1 * 2**failures, 5.0) * (0.5 + random.random())
                log.warning("outbox relay round failed; events wait", extra={
                    "error": repr(exc), "retry_in_s": round(delay, 2)})
                await asyncio.sleep(delay)
                self._wake.set()

    async def _claim(self) -> list[Any]:
        """The oldest unsent rows no other relay holds. On PostgreSQL, where replicas share a
        database, the rows are leased (`claimed_until`) with SKIP LOCKED so two relays do not
        publish the same rows at once. SQLite serves one process, so it reads without a lease."""
        now = self.clock.now()
        unsent = outbox.c.sent_at.is_(None)
        columns = (outbox.c.seq, outbox.c.event_id, outbox.c.subject, outbox.c.data)
        if self.db.is_sqlite:
            async with self.db.session() as session:
                conn = await session.connection()
                rows = await conn.execute(select(*columns).where(unsent).order_by(outbox.c.seq)
                                          .limit(self.batch_size))
                return list(rows)
        pick = (
            select(outbox.c.seq)
            .where(and_(unsent, or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now)))
            .order_by(outbox.c.seq)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        # One statement, one round trip: lease the rows and read them back.
        claim = (
            update(outbox)
            .where(outbox.c.seq.in_(pick))
            .values(claimed_until=now + self.lease, attempts=outbox.c.attempts + 1)
            .returning(*columns)
        )
        async with self.db.transaction() as session:
            conn = await session.connection()
            return sorted(await conn.execute(claim), key=lambda row: row.seq)

    async def publish_batch(self) -> int:
        """Publish one leased batch; returns how many rows it leased."""
        rows = await self._claim()
        if not rows:
            OUTBOX_PENDING.labels(self.service).set(0)
            return 0
        js = self.bus.js
        futures = []
        try:
            for row in rows:
                headers = {MSG_ID_HEADER: row.event_id, TYPE_HEADER: row.subject}
                futures.append(await js.publish_async(row.subject, row.data, headers=headers))
            results = await asyncio.wait_for(
                asyncio.gather(*futures, return_exceptions=True), self.publish_timeout
            )
        except BaseException:
            for fut in futures:
                fut.cancel()
            await self._release(rows)
            raise
        acked = [row.seq for row, res in zip(rows, results, strict=True) if not isinstance(res, BaseException)]
        failed = [row for row, res in zip(rows, results, strict=True) if isinstance(res, BaseException)]
        if acked:
            await self._mark_sent(acked)
            OUTBOX_PUBLISHED.labels(self.service).inc(len(acked))
        if failed:
            await self._release(failed)
            first = next(r for r in results if isinstance(r, BaseException))
            raise RuntimeError(f"{len(failed)} of {len(rows)} events not acknowledged: {first!r}")
        return len(rows)

    async def _mark_sent(self, seqs: list[int]) -> None:
        async with self.db.transaction() as session:
            conn = await session.connection()
            await conn.execute(update(outbox).where(outbox.c.seq.in_(seqs)).values(sent_at=self.clock.now()))

    async def _release(self, rows: list[Any]) -> None:
        """Give leased rows back at once, so the retry need not wait for the lease to run out."""
        if self.db.is_sqlite:
            return
        try:
            async with self.db.transaction() as session:
                conn = await session.connection()
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.seq.in_([r.seq for r in rows]))
                    .values(claimed_until=None)
                )
        except Exception:
            log.warning("could not release outbox lease; rows wait for the lease to expire")

    async def pending(self) -> int:
        async with self.db.session() as session:
            conn = await session.connection()
            count = (
                await conn.execute(select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None)))
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
                if await self.publish_batch() == 0:
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
        async with self.db.transaction() as session:
            conn = await session.connection()
            await conn.execute(
                delete(outbox).where(and_(outbox.c.sent_at.is_not(None), outbox.c.sent_at < now - self.retention))
            )

    async def stop(self, flush_timeout: float = 5.0) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        flushed = await self.flush(flush_timeout) if self.bus.ready else False
        if not flushed:
            log.warning("stopping with events still in the outbox; they go out on next start",
                        extra={"pending": await self.pending()})
