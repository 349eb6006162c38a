"""A community's help-desk settings, duty roster (shifts, swaps) and providers: their reads and
writes. Who is on duty at a moment and which providers are open is decided by the pure rules in
`roster`; this module feeds them from the database.

Functions taking a connection run inside the caller's transaction (the help desk's, a
consumer's, an idempotent request's); `Communities` opens its own for the API's reads and
simple writes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.notification.v1 import notification_pb2 as pb
from linli_notification import roster, workers
from linli_notification.names import DUTY_SHIFTS, child_name
from linli_notification.tables import (
    Community,
    DutyShift,
    DutySwap,
    Provider,
    community,
    duty_shift,
    duty_swap,
    provider,
)
from linli_runtime.db import Database
from linli_runtime.errors import NotFound
from linli_runtime.models import typed, typed_all
from linli_runtime.paging import keyset_page

DEFAULT_SLA_MINUTES = {pb.URGENCY_CRITICAL: 10, pb.URGENCY_HIGH: 30, pb.URGENCY_NORMAL: 60, pb.URGENCY_LOW: 240}
# How long anyone may be given to acknowledge (a week).
MAX_SLA_MINUTES = 7 * 24 * 60
# China keeps one zone, UTC+8, and no summer time; a community elsewhere sets its own fixed
# offset, between the widest in use.
DEFAULT_UTC_OFFSET_MINUTES = 480
MIN_UTC_OFFSET_MINUTES, MAX_UTC_OFFSET_MINUTES = -12 * 60, 14 * 60


@dataclass(frozen=True)
class Settings:
    path: str
    head_id: str = ""
    sla_critical_minutes: int = 10
    sla_high_minutes: int = 30
    sla_normal_minutes: int = 60
    sla_low_minutes: int = 240
    utc_offset_minutes: int = DEFAULT_UTC_OFFSET_MINUTES

    def sla_minutes(self, urgency: int) -> int:
        """Minutes to acknowledge a request of this urgency (an unknown one counts as normal)."""
        by_urgency: dict[int, int] = {
            pb.URGENCY_CRITICAL: self.sla_critical_minutes,
            pb.URGENCY_HIGH: self.sla_high_minutes,
            pb.URGENCY_NORMAL: self.sla_normal_minutes,
            pb.URGENCY_LOW: self.sla_low_minutes,
        }
        return by_urgency.get(urgency, self.sla_normal_minutes)


@dataclass(frozen=True)
class NewShift:
    weekday: int  # 1 Monday … 7 Sunday; 0 for a dated shift
    on_date: str | None  # YYYY-MM-DD
    start_minute: int
    end_minute: int
    worker_id: str
    backup_id: str = ""
    note: str = ""


@dataclass(frozen=True)
class NewProvider:
    display_name: str
    category: str
    phone: str = ""
    priority: int = 0
    opening_hours: Sequence[tuple[int, int, int]] = ()  # (weekday, open minute, close minute); none: always


# -- in the caller's transaction ------------------------------------------------------------

async def settings_of(conn: AsyncConnection, path: str) -> Settings:
    """The community's settings; the defaults when it never set any."""
    row = (await conn.execute(sa.select(community).where(community.c.path == path))).first()
    return Settings(**typed(Community, row).model_dump()) if row else Settings(path=path)


async def save_settings(conn: AsyncConnection, settings: Settings) -> None:
    values = asdict(settings)
    updated = await conn.execute(community.update().where(community.c.path == settings.path).values(**values))
    if updated.rowcount == 0:
        await conn.execute(community.insert().values(**values))


async def on_duty_at(conn: AsyncConnection, path: str, when: datetime, utc_offset_minutes: int, *,
                     workers_only: bool = False) -> roster.OnDuty | None:
    """Who is on duty in the community at `when` (its roster, dated shifts and swaps); with
    `workers_only`, of those only who still hold a community worker grant there (`workers`)."""
    shifts = [
        roster.Shift(s.id, s.weekday, s.on_date, s.start_minute, s.end_minute, s.worker_id, s.backup_id, s.seq or 0)
        for s in typed_all(DutyShift, await conn.execute(
            sa.select(duty_shift).where(duty_shift.c.community_path == path)))
    ]
    swaps = [
        roster.Swap(s.on_date, s.from_worker_id, s.to_worker_id)
        for s in typed_all(DutySwap, await conn.execute(
            sa.select(duty_swap).where(duty_swap.c.community_path == path).order_by(duty_swap.c.seq)))
    ]
    duty = roster.on_duty(shifts, swaps, when, utc_offset_minutes)
    if duty is None or not workers_only:
        return duty
    return roster.standing(duty, await workers.workers_among(conn, path, (duty.worker_id, duty.backup_id)))


def hours_of(text: str) -> list[tuple[int, int, int]]:
    """A provider's stored opening hours (JSON) as (weekday, open minute, close minute)."""
    return [(int(d), int(o), int(c)) for d, o, c in json.loads(text)]


async def providers_of(conn: AsyncConnection, path: str, category: str) -> list[roster.ProviderHours]:
    """The community's providers of `category`, with their opening hours."""
    rows = typed_all(Provider, await conn.execute(
        sa.select(provider).where(provider.c.community_path == path, provider.c.category == category)))
    return [roster.ProviderHours(p.id, p.display_name, p.phone, p.priority, hours_of(p.opening_hours)) for p in rows]



async def add_shift(conn: AsyncConnection, path: str, shift: NewShift, *, ident: str = "") -> DutyShift:
    ident = ident or "s-" + uuid.uuid4().hex[:12]
    await conn.execute(duty_shift.insert().values(id=ident, community_path=path, **asdict(shift)))
    return typed(DutyShift, (await conn.execute(sa.select(duty_shift).where(duty_shift.c.id == ident))).one())


async def add_swap(conn: AsyncConnection, path: str, on_date: str, from_worker_id: str, to_worker_id: str) -> DutySwap:
    ident = "w-" + uuid.uuid4().hex[:12]
    await conn.execute(duty_swap.insert().values(id=ident, community_path=path, on_date=on_date,
                                                 from_worker_id=from_worker_id, to_worker_id=to_worker_id))
    return typed(DutySwap, (await conn.execute(sa.select(duty_swap).where(duty_swap.c.id == ident))).one())


async def add_provider(conn: AsyncConnection, path: str, new: NewProvider, *, ident: str = "") -> Provider:
    ident = ident or "p-" + uuid.uuid4().hex[:12]
    await conn.execute(provider.insert().values(
        id=ident, community_path=path, display_name=new.display_name, category=new.category, phone=new.phone,
        priority=new.priority, opening_hours=json.dumps([list(h) for h in new.opening_hours])))
    return typed(Provider, (await conn.execute(sa.select(provider).where(provider.c.id == ident))).one())


async def shift_ids(conn: AsyncConnection, path: str) -> set[str]:
    return set((await conn.execute(sa.select(duty_shift.c.id).where(duty_shift.c.community_path == path))).scalars())


async def provider_ids(conn: AsyncConnection, path: str) -> set[str]:
    return set((await conn.execute(sa.select(provider.c.id).where(provider.c.community_path == path))).scalars())


# -- for the API: each call its own transaction ----------------------------------------------

class Communities:
    """Settings, roster and providers as the DutyRosterService reads and changes them. The
    creations a client may retry run in the caller's idempotent transaction (`create_*`).

    With `check_workers` (the identity service issues the tokens, and announces its grants)
    the people a roster names — shift workers and backups, swaps, the head — must be the
    community's workers (`workers.require_workers`), in the write's own transaction."""

    def __init__(self, db: Database, *, check_workers: bool = True) -> None:
        self.db = db
        self.check_workers = check_workers

    async def _require_workers(self, conn: AsyncConnection, path: str, named: dict[str, str]) -> None:
        if self.check_workers:
            await workers.require_workers(conn, path, named)

    async def settings(self, path: str) -> Settings:
        async with self.db.transaction() as session:
            return await settings_of(await session.connection(), path)

    async def update_settings(self, settings: Settings) -> Settings:
        async with self.db.transaction() as session:
            conn = await session.connection()
            await self._require_workers(conn, settings.path, {"settings.head_id": settings.head_id})
            await save_settings(conn, settings)
        return settings

    async def on_duty(self, path: str, when: datetime) -> tuple[Settings, roster.OnDuty | None]:
        async with self.db.transaction() as session:
            conn = await session.connection()
            settings = await settings_of(conn, path)
            return settings, await on_duty_at(conn, path, when, settings.utc_offset_minutes,
                                              workers_only=self.check_workers)

    async def create_shift(self, tx: AsyncSession, path: str, shift: NewShift) -> DutyShift:
        conn = await tx.connection()
        await self._require_workers(conn, path, {"duty_shift.worker_id": shift.worker_id,
                                                 "duty_shift.backup_id": shift.backup_id})
        return await add_shift(conn, path, shift)

    async def create_swap(self, tx: AsyncSession, path: str, on_date: str, from_worker_id: str,
                          to_worker_id: str) -> DutySwap:
        conn = await tx.connection()
        # The one giving the shifts away may have left already; the one taking them must be a worker.
        await self._require_workers(conn, path, {"duty_swap.to_worker_id": to_worker_id})
        return await add_swap(conn, path, on_date, from_worker_id, to_worker_id)

    async def create_provider(self, tx: AsyncSession, path: str, new: NewProvider) -> Provider:
        return await add_provider(await tx.connection(), path, new)

    async def shifts(self, path: str, *, page_token: str, size: int) -> tuple[list[DutyShift], str]:
        query = sa.select(duty_shift).where(duty_shift.c.community_path == path)
        async with self.db.transaction() as session:
            rows, next_token = await keyset_page(await session.connection(), query, duty_shift.c.seq,
                                                 kind=f"shifts|{path}", page_token=page_token, size=size)
        return typed_all(DutyShift, rows), next_token

    async def delete_shift(self, path: str, ident: str) -> None:
        async with self.db.transaction() as session:
            deleted = await (await session.connection()).execute(duty_shift.delete().where(
                duty_shift.c.id == ident, duty_shift.c.community_path == path))
        if deleted.rowcount == 0:
            raise NotFound(f"duty shift {child_name(path, DUTY_SHIFTS, ident)!r} does not exist",
                           reason="DUTY_SHIFT_NOT_FOUND")

    async def providers(self, path: str, category: str, *, page_token: str, size: int) -> tuple[list[Provider], str]:
        query = sa.select(provider).where(provider.c.community_path == path)
        if category:
            query = query.where(provider.c.category == category)
        async with self.db.transaction() as session:
            rows, next_token = await keyset_page(await session.connection(), query, provider.c.seq,
                                                 kind=f"providers|{path}|{category}", page_token=page_token,
                                                 size=size)
        return typed_all(Provider, rows), next_token
