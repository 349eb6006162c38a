"""A merchant's reward catalogue: rewards with their price in points, stock (or unlimited), a
per-member limit, a daily quota and a validity window; restocking by request id.

(Redeeming takes stock in the saga's own transaction: see `redemption_store`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_redemption.redemption_rules import UNLIMITED
from linli_redemption.tables import RESTOCKS, REWARDS, Reward
from linli_runtime import paging
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.models import loaded, loaded_all
from linli_runtime.transactions import run_in_transaction


@dataclass(frozen=True)
class NewReward:
    """A reward as an operator describes it (field ranges checked by the servicer)."""

    reward_id: str
    display_name: str
    points: int
    stock: int  # UNLIMITED or a count
    per_volunteer_limit: int = 0  # 0: none
    daily_quota: int = 0  # 0: none
    valid_from: datetime | None = None
    valid_until: datetime | None = None


def check_window(valid_from: datetime | None, valid_until: datetime | None) -> None:
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        raise InvalidArgument.field("reward.valid_until", "must be after valid_from")


def valid_now(now: datetime) -> sa.ColumnElement[bool]:
    """Rewards inside their validity window at `now` (what a till lists)."""
    return sa.and_(sa.or_(REWARDS.c.valid_from.is_(None), REWARDS.c.valid_from <= now),
                   sa.or_(REWARDS.c.valid_until.is_(None), REWARDS.c.valid_until > now))


class Catalog:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    async def create(self, merchant_id: str, new: NewReward) -> Reward:
        check_window(new.valid_from, new.valid_until)
        key = sa.select(REWARDS).where(REWARDS.c.merchant_id == merchant_id, REWARDS.c.id == new.reward_id)
        now = self.clock.now()

        async def create(conn: AsyncConnection) -> Reward:
            if (await conn.execute(key)).first() is not None:
                raise AlreadyExists(f"merchant {merchant_id} already has a reward {new.reward_id}",
                                    reason="REWARD_EXISTS")
            await conn.execute(REWARDS.insert().values(
                merchant_id=merchant_id, id=new.reward_id, display_name=new.display_name, points=new.points,
                stock=new.stock, per_volunteer_limit=new.per_volunteer_limit, daily_quota=new.daily_quota,
                valid_from=new.valid_from, valid_until=new.valid_until, create_time=now))
            return loaded(Reward, (await conn.execute(key)).one())

        return await run_in_transaction(self.db, create)

    async def get(self, merchant_id: str, reward_id: str) -> Reward:
        async with self.db.reading() as conn:
            row = (await conn.execute(sa.select(REWARDS).where(
                REWARDS.c.merchant_id == merchant_id, REWARDS.c.id == reward_id))).first()
        if row is None:
            raise NotFound(f"merchant {merchant_id} has no reward {reward_id}", reason="REWARD_NOT_FOUND")
        return loaded(Reward, row)

    async def list(self, merchant_id: str, page_token: str, size: int, *,
                   valid_at: datetime | None = None) -> tuple[list[Reward], str]:
        """The merchant's rewards by id; with `valid_at`, only those redeemable then."""
        query = sa.select(REWARDS).where(REWARDS.c.merchant_id == merchant_id)
        kind = f"ListRewards:{merchant_id}"
        if valid_at is not None:
            query, kind = query.where(valid_now(valid_at)), kind + ":valid"
        async with self.db.reading() as conn:
            rows, next_token = await paging.keyset_page(conn, query, REWARDS.c.id, kind=kind,
                                                        page_token=page_token, size=size)
        return loaded_all(Reward, rows), next_token

    async def restock(self, found: Reward, units: int, request_id: str) -> Reward:
        """Add `units` to `found` (from `get`) once per request id."""
        if found.stock == UNLIMITED:
            raise FailedPrecondition("this reward has unlimited stock", reason="STOCK_UNLIMITED")
        done_before = sa.select(RESTOCKS).where(RESTOCKS.c.merchant_id == found.merchant_id,
                                                RESTOCKS.c.reward_id == found.id,
                                                RESTOCKS.c.request_id == request_id)

        async def add(conn: AsyncConnection) -> None:
            done = (await conn.execute(done_before)).first()
            if done is not None:
                if done.units != units:
                    raise AlreadyExists("this request id restocked a different number of units",
                                        reason="REQUEST_ID_REUSED")
                return
            await conn.execute(RESTOCKS.insert().values(merchant_id=found.merchant_id, reward_id=found.id,
                                                        request_id=request_id, units=units))
            await conn.execute(REWARDS.update().where(REWARDS.c.merchant_id == found.merchant_id,
                                                      REWARDS.c.id == found.id)
                               .values(stock=REWARDS.c.stock + units))

        await run_in_transaction(self.db, add)
        return await self.get(found.merchant_id, found.id)
