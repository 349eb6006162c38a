"""The rotating duty of a community's member units: in turn, each unit is on duty for one
period of `period_days`, from the rotation's start date; two periods may be swapped (by
request id, so a retried swap is applied once). Setting a new rotation forgets the old one's
swaps (they belong to a version of the rotation).

The periods are computed, not stored (`assignments`, a pure function): the list is endless,
and a page is the periods from an index on.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_redemption.partners import MEMBER_UNIT
from linli_redemption.tables import DUTY_ROTATIONS, DUTY_SWAPS, PARTNERS, DutyRotation, DutySwap
from linli_runtime import paging
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, InvalidArgument, NotFound
from linli_runtime.models import loaded, loaded_all
from linli_runtime.transactions import run_in_transaction

MAX_UNITS = 200
SET_ROTATION_SHOWS = 10  # periods shown after setting a rotation


@dataclass(frozen=True)
class DutyPeriod:
    index: int
    start_date: date
    end_date: date  # inclusive
    partner_id: str
    swapped: bool


def assignments(rotation: DutyRotation, swaps: Sequence[DutySwap], indexes: range) -> list[DutyPeriod]:
    """The periods `indexes` of `rotation`, with `swaps` applied in the order they were made."""
    units = rotation.partner_ids.split(",")
    start = date.fromisoformat(rotation.start_date)
    days = int(rotation.period_days)
    assigned: dict[int, str] = {}
    for swap in swaps:
        a, b = swap.first_index, swap.second_index
        ua, ub = assigned.get(a, units[a % len(units)]), assigned.get(b, units[b % len(units)])
        assigned[a], assigned[b] = ub, ua
    periods = []
    for i in indexes:
        usual = units[i % len(units)]
        unit = assigned.get(i, usual)
        periods.append(DutyPeriod(index=i, start_date=start + timedelta(days=i * days),
                                  end_date=start + timedelta(days=(i + 1) * days - 1), partner_id=unit,
                                  swapped=unit != usual))
    return periods


def unit_on_duty(rotation: DutyRotation, swaps: Sequence[DutySwap], day: date) -> str | None:
    """The member unit on duty on `day` (swaps applied); None before the rotation starts."""
    if day < date.fromisoformat(rotation.start_date):
        return None
    index = period_index(rotation, day)
    return assignments(rotation, swaps, range(index, index + 1))[0].partner_id


def period_index(rotation: DutyRotation, day: date) -> int:
    """The index of the period `day` falls in (0 before the rotation starts)."""
    return max(0, (day - date.fromisoformat(rotation.start_date)).days // int(rotation.period_days))


def check_units(partner_ids: Sequence[str]) -> list[str]:
    ids = list(partner_ids)
    if not 1 <= len(ids) <= MAX_UNITS or len(set(ids)) != len(ids):
        raise InvalidArgument.field("partner_ids", f"must name 1 to {MAX_UNITS} different member units")
    return ids


class Duty:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    async def _rotation(conn: AsyncConnection, path: str) -> tuple[DutyRotation, list[DutySwap]]:
        found = (await conn.execute(sa.select(DUTY_ROTATIONS).where(DUTY_ROTATIONS.c.community_path == path))).first()
        if found is None:
            raise NotFound(f"{path} has no duty rotation yet", reason="ROTATION_NOT_FOUND")
        rotation = loaded(DutyRotation, found)
        swaps = (await conn.execute(sa.select(DUTY_SWAPS).where(
            DUTY_SWAPS.c.community_path == path, DUTY_SWAPS.c.version == rotation.version)
            .order_by(DUTY_SWAPS.c.seq))).all()
        return rotation, loaded_all(DutySwap, swaps)

    @classmethod
    async def on_duty(cls, conn: AsyncConnection, path: str, day: date) -> str:
        """The member unit on duty in `path` on `day`, inside the caller's transaction ("" when the
        community has no rotation or it had not started)."""
        try:
            rotation, swaps = await cls._rotation(conn, path)
        except NotFound:
            return ""
        return unit_on_duty(rotation, swaps, day) or ""

    async def set_rotation(self, path: str, partner_ids: Sequence[str], start: date,
                           period_days: int) -> list[DutyPeriod]:
        """Replace the community's rotation; returns its first periods."""
        ids = check_units(partner_ids)

        async def store(conn: AsyncConnection) -> list[DutyPeriod]:
            found = set((await conn.execute(sa.select(PARTNERS.c.id).where(
                PARTNERS.c.id.in_(ids), PARTNERS.c.community_path == path,
                PARTNERS.c.kind == MEMBER_UNIT))).scalars())
            missing = [i for i in ids if i not in found]
            if missing:
                raise InvalidArgument.field("partner_ids", f"not member units of {path}: {', '.join(missing[:5])}")
            await conn.execute(DUTY_ROTATIONS.delete().where(DUTY_ROTATIONS.c.community_path == path))
            await conn.execute(DUTY_ROTATIONS.insert().values(
                community_path=path, partner_ids=",".join(ids), start_date=start.isoformat(),
                period_days=period_days, version=uuid.uuid4().hex))
            rotation, swaps = await self._rotation(conn, path)
            return assignments(rotation, swaps, range(min(len(ids), SET_ROTATION_SHOWS)))

        return await run_in_transaction(self.db, store)

    async def periods(self, path: str, *, page_token: str, from_date: date | None,
                      size: int) -> tuple[list[DutyPeriod], str]:
        """A page of periods: after the token's, else from the one `from_date` falls in, else
        from the first. The list never ends, so there is always a next page."""
        kind = f"ListDutyPeriods:{path}"
        async with self.db.reading() as conn:
            rotation, swaps = await self._rotation(conn, path)
        if page_token:
            first = paging.decode_int_token(kind, page_token)
        elif from_date is not None:
            first = period_index(rotation, from_date)
        else:
            first = 0
        return assignments(rotation, swaps, range(first, first + size)), paging.encode_token(kind, first + size)

    async def swap(self, path: str, request_id: str, first: int, second: int) -> list[DutyPeriod]:
        """Swap the units of two periods (once per request id); returns both periods."""
        if first == second:
            raise InvalidArgument.field("second_index", "must differ from first_index")

        async def swap(conn: AsyncConnection) -> list[DutyPeriod]:
            rotation, _ = await self._rotation(conn, path)
            done = (await conn.execute(sa.select(DUTY_SWAPS).where(
                DUTY_SWAPS.c.community_path == path, DUTY_SWAPS.c.request_id == request_id))).first()
            if done is None:
                await conn.execute(DUTY_SWAPS.insert().values(community_path=path, version=rotation.version,
                                                              request_id=request_id, first_index=first,
                                                              second_index=second))
            elif (done.first_index, done.second_index) != (first, second):
                raise AlreadyExists("this request id swapped other periods", reason="REQUEST_ID_REUSED")
            rotation, swaps = await self._rotation(conn, path)
            return [*assignments(rotation, swaps, range(first, first + 1)),
                    *assignments(rotation, swaps, range(second, second + 1))]

        return await run_in_transaction(self.db, swap)
