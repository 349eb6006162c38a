"""A community's settings, roster and providers, read from the database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.notification.v1 import notification_pb2 as pb
from linli_notification import roster
from linli_notification.tables import community, duty_shift, duty_swap, provider

DEFAULT_SLA_MINUTES = {pb.URGENCY_CRITICAL: 10, pb.URGENCY_HIGH: 30, pb.URGENCY_NORMAL: 60, pb.URGENCY_LOW: 240}


@dataclass(frozen=True)
class Settings:
    path: str
    head_id: str = ""
    sla_critical_minutes: int = 10
    sla_high_minutes: int = 30
    sla_normal_minutes: int = 60
    sla_low_minutes: int = 240
    utc_offset_minutes: int = 480

    def sla_minutes(self, urgency: int) -> int:
        by_urgency: dict[int, int] = {
            pb.URGENCY_CRITICAL: self.sla_critical_minutes,
            pb.URGENCY_HIGH: self.sla_high_minutes,
            pb.URGENCY_NORMAL: self.sla_normal_minutes,
            pb.URGENCY_LOW: self.sla_low_minutes,
        }
        return by_urgency.get(urgency, self.sla_normal_minutes)


async def settings_of(conn: AsyncConnection, path: str) -> Settings:
    row = (await conn.execute(sa.select(community).where(community.c.path == path))).mappings().first()
    return Settings(**dict(row)) if row else Settings(path=path)


async def save_settings(conn: AsyncConnection, settings: Settings) -> None:
    values = {k: getattr(settings, k) for k in Settings.__dataclass_fields__}
    updated = await conn.execute(community.update().where(community.c.path == settings.path).values(**values))
    if updated.rowcount == 0:
        await conn.execute(community.insert().values(**values))


async def on_duty_at(conn: AsyncConnection, path: str, when: datetime, offset: int) -> roster.OnDuty | None:
    shifts = [
        roster.Shift(r.id, r.weekday, r.on_date, r.start_minute, r.end_minute, r.worker_id, r.backup_id,
                     r.seq)
        for r in await conn.execute(sa.select(duty_shift).where(duty_shift.c.community_path == path))
    ]
    swaps = [
        roster.Swap(r.on_date, r.from_worker_id, r.to_worker_id)
        for r in await conn.execute(
            sa.select(duty_swap).where(duty_swap.c.community_path == path).order_by(duty_swap.c.seq))
    ]
    return roster.on_duty(shifts, swaps, when, offset)


def hours_of(text: str) -> list[tuple[int, int, int]]:
    return [(int(d), int(o), int(c)) for d, o, c in json.loads(text)]


async def open_providers(conn: AsyncConnection, path: str, category: str, when: datetime,
                         offset: int) -> list[roster.ProviderHours]:
    rows = await conn.execute(
        sa.select(provider).where(provider.c.community_path == path, provider.c.category == category))
    candidates = [roster.ProviderHours(r.id, r.display_name, r.phone, r.priority, hours_of(r.opening_hours))
                  for r in rows]
    return roster.open_alternatives(candidates, when, offset)
