"""Turning a fact into notices: the recipient's preferences (language, channels, quiet hours),
subscriptions to org paths, the inbox row and one delivery row per external channel; and the
inbox as its owner reads it (`Inbox`).

Functions taking a connection run inside the caller's transaction (a consumer's, the demo
seed's); `Inbox` opens its own.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_notification.names import notice_name
from linli_notification.providers import CHANNELS
from linli_notification.tables import (
    Delivery,
    Notice,
    Preferences,
    delivery,
    notice,
    preferences,
    subscription,
)
from linli_notification.templates import render
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import NotFound
from linli_runtime.models import typed, typed_all
from linli_runtime.paging import keyset_page
from linli_runtime.times import as_utc, fixed_zone, local

log = logging.getLogger("linli.notification.notices")


@dataclass
class Prefs:
    recipient_id: str
    language: str = "zh"
    channels: list[str] = field(default_factory=list)
    phone: str = ""
    wechat_openid: str = ""
    quiet_start: int | None = None
    quiet_end: int | None = None
    utc_offset_minutes: int = 480
    subscribed_paths: list[str] = field(default_factory=list)

    def address(self, channel: str) -> str:
        return {"sms": self.phone, "wechat": self.wechat_openid}.get(channel, "")

    def quiet_until(self, now: datetime) -> datetime | None:
        """End of the quiet hours `now` falls in (UTC), or None. Windows may wrap midnight."""
        if self.quiet_start is None or self.quiet_end is None or self.quiet_start == self.quiet_end:
            return None
        moment = local(now, fixed_zone(self.utc_offset_minutes))
        minute = moment.hour * 60 + moment.minute
        start, end = self.quiet_start, self.quiet_end
        inside = start <= minute < end if start < end else (minute >= start or minute < end)
        if not inside:
            return None
        ends = moment.replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
        if ends <= moment:
            ends += timedelta(days=1)
        return as_utc(ends)


LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class NoticeRecord:
    """A notice with its deliveries over external channels."""

    notice: Notice
    deliveries: list[Delivery] = field(default_factory=list)


async def prefs_of(conn: AsyncConnection, recipient_id: str) -> Prefs:
    found = (await conn.execute(sa.select(preferences).where(preferences.c.recipient_id == recipient_id))).first()
    paths = list((await conn.execute(
        sa.select(subscription.c.org_path).where(subscription.c.recipient_id == recipient_id).order_by(
            subscription.c.org_path))).scalars())
    if found is None:
        return Prefs(recipient_id, subscribed_paths=paths)
    row = typed(Preferences, found)
    return Prefs(recipient_id, row.language, json.loads(row.channels), row.phone, row.wechat_openid,
                 row.quiet_start, row.quiet_end, row.utc_offset_minutes, paths)


async def save_prefs(conn: AsyncConnection, prefs: Prefs) -> None:
    values = dict(language=prefs.language, channels=json.dumps(prefs.channels), phone=prefs.phone,
                  wechat_openid=prefs.wechat_openid, quiet_start=prefs.quiet_start, quiet_end=prefs.quiet_end,
                  utc_offset_minutes=prefs.utc_offset_minutes)
    updated = await conn.execute(preferences.update().where(
        preferences.c.recipient_id == prefs.recipient_id).values(**values))
    if updated.rowcount == 0:
        await conn.execute(preferences.insert().values(recipient_id=prefs.recipient_id, **values))
    await conn.execute(subscription.delete().where(subscription.c.recipient_id == prefs.recipient_id))
    for path in dict.fromkeys(prefs.subscribed_paths):
        await conn.execute(subscription.insert().values(recipient_id=prefs.recipient_id, org_path=path))


async def subscribers(conn: AsyncConnection, path: str) -> list[str]:
    """Everyone subscribed to `path` or to a unit above it."""
    segments = path.split("/")
    ancestors = ["/".join(segments[: i + 1]) for i in range(len(segments))]
    rows = await conn.execute(sa.select(subscription.c.recipient_id).where(
        subscription.c.org_path.in_(ancestors)).distinct().order_by(subscription.c.recipient_id))
    return list(rows.scalars())


async def notify(conn: AsyncConnection, now: datetime, *, event_id: str, recipients: Sequence[str], kind: str,
                 context: dict[str, Any], critical: bool = False, subject_resource: str = "",
                 org_path: str = "") -> list[str]:
    """One inbox notice per recipient, plus a pending delivery per external channel the
    recipient wants (deferred to the end of quiet hours unless critical). A recipient who
    already has this event's notice gets no second one. Returns the new notice ids."""
    created = []
    for recipient in dict.fromkeys(r for r in recipients if r):
        prefs = await prefs_of(conn, recipient)
        text = render(kind, prefs.language, context)
        notice_id = "n-" + uuid.uuid4().hex[:16]
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        inserted = await conn.execute(dialect.insert(notice).values(
            id=notice_id, recipient_id=recipient, kind=kind, title=text.title, body=text.body, critical=critical,
            subject_resource=subject_resource, event_id=event_id, org_path=org_path, created_at=now,
        ).on_conflict_do_nothing(index_elements=["event_id", "recipient_id", "kind"]))
        if inserted.rowcount == 0:
            log.info("notice already given", extra={"event_id": event_id, "recipient": recipient, "kind": kind})
            continue
        created.append(notice_id)
        quiet_end = None if critical else prefs.quiet_until(now)
        for channel in dict.fromkeys(prefs.channels):
            address = prefs.address(channel)
            if channel not in CHANNELS or not address:
                continue
            await conn.execute(delivery.insert().values(
                notice_id=notice_id, channel=channel, address=address,
                state="deferred" if quiet_end else "pending", next_attempt_at=quiet_end or now))
    return created


class Inbox:
    """A recipient's notices and preferences, as the InboxService reads and changes them."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def notices(self, recipient_id: str, *, unread_only: bool, page_token: str,
                      size: int) -> tuple[list[NoticeRecord], str]:
        """Newest first, each with its deliveries."""
        query = sa.select(notice).where(notice.c.recipient_id == recipient_id)
        if unread_only:
            query = query.where(notice.c.read_at.is_(None))
        async with self.db.transaction() as session:
            conn = await session.connection()
            rows, next_token = await keyset_page(conn, query, notice.c.seq, kind=f"inbox|{recipient_id}|{unread_only}",
                                                 page_token=page_token, size=size, newest_first=True)
            found = typed_all(Notice, rows)
            by_notice: dict[str, list[Delivery]] = {}
            if found:
                for d in typed_all(Delivery, await conn.execute(sa.select(delivery).where(
                        delivery.c.notice_id.in_([n.id for n in found])).order_by(delivery.c.seq))):
                    by_notice.setdefault(d.notice_id, []).append(d)
        return [NoticeRecord(n, by_notice.get(n.id, [])) for n in found], next_token

    async def mark_read(self, recipient_id: str, notice_id: str) -> NoticeRecord:
        """Marking twice changes nothing: the first read time stays."""
        async with self.db.transaction() as session:
            conn = await session.connection()
            await conn.execute(notice.update().where(
                notice.c.id == notice_id, notice.c.recipient_id == recipient_id, notice.c.read_at.is_(None)).values(
                read_at=self.clock.now()))
            row = (await conn.execute(sa.select(notice).where(
                notice.c.id == notice_id, notice.c.recipient_id == recipient_id))).first()
            if row is None:
                raise NotFound(f"notice {notice_name(recipient_id, notice_id)!r} does not exist",
                               reason="NOTICE_NOT_FOUND")
            deliveries = typed_all(Delivery, await conn.execute(
                sa.select(delivery).where(delivery.c.notice_id == notice_id)))
        return NoticeRecord(typed(Notice, row), deliveries)

    async def preferences(self, recipient_id: str) -> Prefs:
        """The recipient's preferences (the defaults when never set)."""
        async with self.db.transaction() as session:
            return await prefs_of(await session.connection(), recipient_id)

    async def update_preferences(self, prefs: Prefs) -> Prefs:
        async with self.db.transaction() as session:
            await save_prefs(await session.connection(), prefs)
        return prefs
