"""Rate limits kept in the database, so they hold across replicas: each counted action is a row
(`identity_rate_event`: key, time) and a limit is a count of rows in a sliding window.

Keys name what is limited: `sms:phone:+8613800000000`, `sms:address:203.0.113.7`. Checking and
recording happen in the caller's transaction — on PostgreSQL two replicas may both pass a check
at the same instant and overshoot by one, which a limit meant to stop floods can afford.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from linli_identity.tables import RateEvent
from linli_runtime.models import table
from linli_runtime.times import as_utc

EVENTS = table(RateEvent)


class TooManyRequests(Exception):
    """A limit was reached; `retry_after` seconds until the next try may succeed. (The limits
    guard the issuer's HTTP pages, which answer 429 with Retry-After; no gRPC method raises it.)"""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limit:
    key: str
    count: int  # at most this many…
    window: timedelta  # …within this long
    min_gap: timedelta = timedelta(0)  # and at least this long between two


async def check_and_count(session: AsyncSession, now: datetime, limits: list[Limit]) -> None:
    """Refuse (TooManyRequests) when any limit is reached; otherwise count one action under
    every key."""
    conn = await session.connection()
    for limit in limits:
        since = now - limit.window
        times = [as_utc(t) for t in (await conn.execute(
            sa.select(EVENTS.c.at).where(EVENTS.c.key == limit.key, EVENTS.c.at > since).order_by(EVENTS.c.at)
        )).scalars()]
        if len(times) >= limit.count:
            wait = times[len(times) - limit.count] + limit.window - now
            raise TooManyRequests("too many requests; try again later (请求过于频繁，请稍后再试)",
                                  retry_after=max(1, math.ceil(wait.total_seconds())))
        if times and limit.min_gap and now - times[-1] < limit.min_gap:
            wait = times[-1] + limit.min_gap - now
            raise TooManyRequests("please wait a moment before asking again (请稍候再试)",
                                  retry_after=max(1, math.ceil(wait.total_seconds())))
    for limit in limits:
        await conn.execute(EVENTS.insert().values(key=limit.key, at=now))


async def purge(session: AsyncSession, before: datetime) -> None:
    conn = await session.connection()
    await conn.execute(EVENTS.delete().where(EVENTS.c.at < before))
