"""Delivering notices over external channels, with failover between providers and retry with
backoff when every provider fails — no sooner than a throttling provider asked; a recipient the
provider refuses outright (`RecipientRejected`: not a mobile number, not subscribed) fails at
once, with no retry.

Each due delivery is first leased (its next attempt pushed out by LEASE, conditional on the
value read), so two sweepers — in one process or in two replicas — never send it twice; the
lease also covers a crash mid-send: the delivery becomes due again when it runs out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from linli_notification.providers import (
    OutboundMessage,
    ProviderError,
    ProviderTable,
    RecipientRejected,
    send_with_failover,
)
from linli_notification.tables import Delivery, delivery, notice
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.models import typed

log = logging.getLogger("linli.notification.dispatcher")

BACKOFF = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(minutes=30),
           timedelta(hours=1))
MAX_ATTEMPTS = 6
LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class DueDelivery:
    """A delivery to attempt, with what its notice says and to whom."""

    delivery: Delivery
    recipient_id: str
    kind: str
    title: str
    body: str


class Dispatcher:
    def __init__(self, db: Database, clock: Clock, providers: ProviderTable, *,
                 backoff: Sequence[timedelta] = BACKOFF, max_attempts: int = MAX_ATTEMPTS) -> None:
        self.db = db
        self.clock = clock
        self.providers = providers
        self.backoff = backoff
        self.max_attempts = max_attempts
        self._lock = asyncio.Lock()

    async def run_once(self, limit: int = 100) -> int:
        """Send every delivery that is due; returns how many were sent."""
        async with self._lock:
            now = self.clock.now()
            async with self.db.transaction() as session:
                conn = await session.connection()
                rows = (await conn.execute(
                    sa.select(delivery, notice.c.recipient_id, notice.c.kind, notice.c.title, notice.c.body)
                    .join(notice, notice.c.id == delivery.c.notice_id)
                    .where(delivery.c.state.in_(("pending", "deferred")), delivery.c.next_attempt_at <= now)
                    .order_by(delivery.c.seq).limit(limit))).all()
            due = [DueDelivery(typed(Delivery, r), r.recipient_id, r.kind, r.title, r.body) for r in rows]
            sent = 0
            for item in due:
                if await self._lease(item.delivery, now):
                    sent += await self._attempt(item)
            return sent

    async def _lease(self, row: Delivery, now: datetime) -> bool:
        async with self.db.transaction() as session:
            conn = await session.connection()
            leased = await conn.execute(delivery.update().where(
                delivery.c.seq == row.seq, delivery.c.state == row.state,
                delivery.c.next_attempt_at == row.next_attempt_at).values(next_attempt_at=now + LEASE))
            return leased.rowcount == 1

    async def _attempt(self, due: DueDelivery) -> int:
        row = due.delivery
        message = OutboundMessage(row.notice_id, due.recipient_id, row.channel, row.address, due.title, due.body,
                                  kind=due.kind, params={"title": due.title, "body": due.body})
        attempts = row.attempts + 1
        values: dict[str, Any]
        try:
            result = await send_with_failover(self.providers.get(row.channel, ()), message)
        except ProviderError as exc:
            now = self.clock.now()
            gave_up = attempts >= self.max_attempts or isinstance(exc, RecipientRejected)
            wait = self.backoff[min(attempts, len(self.backoff)) - 1]
            if exc.retry_after is not None:
                wait = max(wait, exc.retry_after)
            values = dict(attempts=attempts, last_error=str(exc)[:1000], state="failed" if gave_up else "pending",
                          next_attempt_at=None if gave_up else now + wait)
            log.warning("delivery failed", extra={"notice": row.notice_id, "channel": row.channel,
                                                  "attempts": attempts, "gave_up": gave_up,
                                                  "rejected": isinstance(exc, RecipientRejected), "error": str(exc)})
            sent = 0
        else:
            values = dict(attempts=attempts, state="sent", provider=result.provider, sent_at=self.clock.now(),
                          next_attempt_at=None, last_error="; ".join(result.errors)[:1000])
            sent = 1
        async with self.db.transaction() as session:
            conn = await session.connection()
            await conn.execute(delivery.update().where(delivery.c.seq == row.seq).values(**values))
        return sent
