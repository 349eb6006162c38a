"""The redeem saga's rows in SQL: `redemptions.RedemptionStore` on the service's database.

The redeem path is the service's hot path (a POS waits on it), so it is SQLAlchemy Core with
statements built once: SQLAlchemy memoizes a statement object's cache key, so reusing one
skips building and walking it per call. Reads go through `Database.reading()` (autocommit on
PostgreSQL), single-statement writes through `Database.write_one()`, everything else through
`run_in_transaction` (retried whole after a race the database reports).

Concurrency. Reserving a reward with a per-member limit or a daily quota takes the reward's row
before counting the member's and the day's redemptions, so the limit checks of one reward never
interleave; the shared check (`redemption_rules.redeem_refusal`, the one QuoteRedemption runs
too) then judges the row read under that lock. Stock is taken by a conditional update, the last
word whether the row was locked or not; a reward with unlimited stock and no limits is not
locked at all, so concurrent tills do not queue on it.
Two first attempts of one request id race on the unique key (merchant, request id): the loser's
transaction is retried and finds the winner's row. Every later step is a conditional update on
the row's state, so of two paths settling one redemption (the call, a cancel, recovery) exactly
one wins and the other re-reads the outcome.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.events.v1.envelope_pb2 import EventEnvelope
from linli_redemption import redemption_rules as rules
from linli_redemption.members import SESSION_BY_ID
from linli_redemption.redemption_rules import COMMITTED, PENDING, UNLIMITED, VOIDED
from linli_redemption.redemptions import RefundReservation, Reservation
from linli_redemption.tables import (
    PARTNERS,
    REDEMPTIONS,
    REFUNDS,
    REWARDS,
    MemberSession,
    Redemption,
    Refund,
    Reward,
)
from linli_runtime import times
from linli_runtime.db import Database
from linli_runtime.errors import NotFound
from linli_runtime.events import publish_in
from linli_runtime.models import loaded, loaded_all
from linli_runtime.transactions import run_in_transaction

R = REDEMPTIONS.c
_BY_REQUEST = sa.select(REDEMPTIONS).where(R.merchant_id == sa.bindparam("merchant_id"),
                                           R.request_id == sa.bindparam("request_id"))
_BY_ID = sa.select(REDEMPTIONS).where(R.merchant_id == sa.bindparam("merchant_id"), R.id == sa.bindparam("rid"))
_REWARD = sa.select(REWARDS).where(REWARDS.c.merchant_id == sa.bindparam("merchant_id"),
                                   REWARDS.c.id == sa.bindparam("reward_id"))
# Takes the reward's row and hands it back as it is now (the limit checks that follow run under the lock).
_LOCK_REWARD = (REWARDS.update()
                .where(REWARDS.c.merchant_id == sa.bindparam("m_id"), REWARDS.c.id == sa.bindparam("r_id"))
                .values(version=REWARDS.c.version + 1).returning(*REWARDS.c))
# Takes `q` units, only if there are that many: the last word on stock, locked or not.
_TAKE_STOCK = (REWARDS.update()
               .where(REWARDS.c.merchant_id == sa.bindparam("m_id"), REWARDS.c.id == sa.bindparam("r_id"),
                      REWARDS.c.stock >= sa.bindparam("q"))
               .values(stock=REWARDS.c.stock - sa.bindparam("q"), version=REWARDS.c.version + 1))
_LIVE_UNITS = sa.select(sa.func.coalesce(sa.func.sum(R.quantity), 0)).where(
    R.merchant_id == sa.bindparam("m_id"), R.reward_id == sa.bindparam("r_id"), R.state != VOIDED)
_MEMBER_UNITS = _LIVE_UNITS.where(R.volunteer_id == sa.bindparam("volunteer_id"))
_DAY_UNITS = _LIVE_UNITS.where(R.create_time >= sa.bindparam("start"), R.create_time < sa.bindparam("end"))
_INSERT = REDEMPTIONS.insert().returning(*REDEMPTIONS.c)
_MARK_PLACED = REDEMPTIONS.update().where(R.id == sa.bindparam("rid"), R.state == PENDING).values(hold_placed=True)
_COMMIT = (REDEMPTIONS.update().where(R.id == sa.bindparam("rid"), R.state == PENDING)
           .values(state=COMMITTED, transfer_id=sa.bindparam("tid"), hold_placed=True,
                   commit_time=sa.bindparam("now"), ledger_day=sa.bindparam("day"))
           .returning(*REDEMPTIONS.c))
_GIVE_BACK = (REWARDS.update()
              .where(REWARDS.c.merchant_id == sa.bindparam("m_id"), REWARDS.c.id == sa.bindparam("r_id"),
                     REWARDS.c.stock != UNLIMITED)
              .values(stock=REWARDS.c.stock + sa.bindparam("q")))
_REFUND_BY_ID = sa.select(REFUNDS).where(REFUNDS.c.id == sa.bindparam("fid"))


class SqlRedemptionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reads ---------------------------------------------------------------------------------

    async def find(self, merchant_id: str, request_id: str,
                   session_id: str | None) -> tuple[Redemption | None, MemberSession | None]:
        async with self.db.reading() as conn:
            existing = (await conn.execute(_BY_REQUEST, {"merchant_id": merchant_id,
                                                         "request_id": request_id})).first()
            if existing is not None:
                return loaded(Redemption, existing), None
            if session_id is None:
                return None, None
            row = (await conn.execute(SESSION_BY_ID, {"sid": session_id})).first()
        return None, None if row is None else loaded(MemberSession, row)

    async def session(self, session_id: str) -> MemberSession | None:
        async with self.db.reading() as conn:
            row = (await conn.execute(SESSION_BY_ID, {"sid": session_id})).first()
        return None if row is None else loaded(MemberSession, row)

    async def reward(self, merchant_id: str, reward_id: str) -> Reward | None:
        async with self.db.reading() as conn:
            row = (await conn.execute(_REWARD, {"merchant_id": merchant_id, "reward_id": reward_id})).first()
        return None if row is None else loaded(Reward, row)

    async def taken(self, reward: Reward, volunteer_id: str, now: datetime) -> rules.Taken:
        async with self.db.reading() as conn:
            return await self._taken(conn, reward, volunteer_id, now)

    @staticmethod
    async def _taken(conn: AsyncConnection, reward: Reward, volunteer_id: str, now: datetime) -> rules.Taken:
        """What the member and the day have taken of `reward`, counted only for the limits it has."""
        keys = {"m_id": reward.merchant_id, "r_id": reward.id}
        by_member = today = 0
        if reward.per_volunteer_limit:
            by_member = int((await conn.execute(_MEMBER_UNITS, {**keys, "volunteer_id": volunteer_id})).scalar_one())
        if reward.daily_quota:
            start, end = times.day_bounds(times.local_day(now))
            today = int((await conn.execute(_DAY_UNITS, {**keys, "start": start, "end": end})).scalar_one())
        return rules.Taken(by_member=by_member, today=today)

    async def get(self, merchant_id: str, redemption_id: str) -> Redemption | None:
        async with self.db.reading() as conn:
            row = (await conn.execute(_BY_ID, {"merchant_id": merchant_id, "rid": redemption_id})).first()
        return None if row is None else loaded(Redemption, row)

    async def by_request(self, merchant_id: str, request_id: str) -> Redemption | None:
        async with self.db.reading() as conn:
            row = (await conn.execute(_BY_REQUEST, {"merchant_id": merchant_id, "request_id": request_id})).first()
        return None if row is None else loaded(Redemption, row)

    async def merchant_display_name(self, merchant_id: str) -> str:
        async with self.db.reading() as conn:
            name = (await conn.execute(sa.select(PARTNERS.c.display_name).where(
                PARTNERS.c.id == merchant_id))).scalar_one_or_none()
        return str(name) if name else merchant_id

    async def stuck(self, cutoff: datetime, limit: int) -> tuple[list[Redemption], list[Refund]]:
        async with self.db.reading() as conn:
            pending = (await conn.execute(sa.select(REDEMPTIONS).where(R.state == PENDING, R.create_time < cutoff)
                                          .order_by(R.create_time).limit(limit))).all()
            refunds = (await conn.execute(sa.select(REFUNDS).where(
                REFUNDS.c.completed == sa.false(), REFUNDS.c.create_time < cutoff).limit(limit))).all()
        return loaded_all(Redemption, pending), loaded_all(Refund, refunds)

    async def refund(self, refund_id: str) -> Refund:
        async with self.db.reading() as conn:
            return loaded(Refund, (await conn.execute(_REFUND_BY_ID, {"fid": refund_id})).one())

    # -- redeem --------------------------------------------------------------------------------

    async def reserve(self, reservation: Reservation) -> Redemption:
        by_request = {"merchant_id": reservation.merchant_id, "request_id": reservation.request_id}
        attempts = 0

        async def reserve(conn: AsyncConnection) -> Redemption:
            nonlocal attempts
            attempts += 1
            if attempts > 1:  # retried after a unique-key race: a concurrent retry may have won it
                again = (await conn.execute(_BY_REQUEST, by_request)).first()
                if again is not None:
                    return loaded(Redemption, again)
            return await self._reserve(conn, reservation)

        return await run_in_transaction(self.db, reserve)

    async def _reserve(self, conn: AsyncConnection, r: Reservation) -> Redemption:
        keys = {"m_id": r.merchant_id, "r_id": r.reward_id}
        found = (await conn.execute(_REWARD, {"merchant_id": r.merchant_id, "reward_id": r.reward_id})).first()
        if found is None:
            raise NotFound(f"merchant {r.merchant_id} has no reward {r.reward_id}", reason="REWARD_NOT_FOUND")
        item = loaded(Reward, found)
        taken = rules.Taken()
        if rules.needs_lock(item):
            # Taking the reward's row (PostgreSQL; SQLite's writer holds the database) before
            # counting means the counts see every committed redemption of this reward and no
            # two limit checks of it interleave; the row read under the lock is the one checked.
            item = loaded(Reward, (await conn.execute(_LOCK_REWARD, keys)).one())
            taken = await self._taken(conn, item, r.member.volunteer_id, r.now)
        rules.check_redeemable(item, r.quantity, r.now, taken)
        points = rules.price(item, r.quantity, r.expected_points)
        if item.stock != UNLIMITED and (await conn.execute(_TAKE_STOCK, {**keys, "q": r.quantity})).rowcount != 1:
            # Unlocked (no limits to count): a concurrent redeem took the last units since the read.
            raise rules.out_of_stock(item)
        rid = f"r-{uuid.uuid4().hex[:20]}"
        row = (await conn.execute(_INSERT, dict(
            id=rid, merchant_id=r.merchant_id, request_id=r.request_id, fingerprint=r.fingerprint,
            terminal_id=r.terminal_id, community_path=r.member.community_path, volunteer_id=r.member.volunteer_id,
            masked_member=r.member.masked_member, reward_id=r.reward_id, reward_name=item.display_name,
            quantity=r.quantity, points=points, state=PENDING, hold_id=f"redemption:{rid}",
            create_time=r.now))).one()
        return loaded(Redemption, row)

    async def mark_hold_placed(self, redemption_id: str) -> bool:
        return await self.db.write_one(_MARK_PLACED, {"rid": redemption_id}) == 1

    async def void(self, row: Redemption, reason: str, message: str, *, only_unplaced: bool) -> bool:
        conditions = [R.id == row.id, R.state == PENDING]
        if only_unplaced:
            conditions.append(R.hold_placed == sa.false())
        void = REDEMPTIONS.update().where(*conditions).values(
            state=VOIDED, void_reason=reason, void_message=message, stock_returned=True)

        async def work(conn: AsyncConnection) -> bool:
            if (await conn.execute(void)).rowcount != 1:
                return False
            await conn.execute(_GIVE_BACK, {"m_id": row.merchant_id, "r_id": row.reward_id, "q": row.quantity})
            return True

        return await run_in_transaction(self.db, work)

    async def commit(self, redemption_id: str, transfer_id: str, now: datetime, ledger_day: str,
                     event: EventEnvelope) -> Redemption | None:
        async def work(conn: AsyncConnection) -> Redemption | None:
            done = (await conn.execute(_COMMIT, {"rid": redemption_id, "tid": transfer_id, "now": now,
                                                 "day": ledger_day})).first()
            if done is None:
                return None
            await publish_in(conn, event)
            return loaded(Redemption, done)

        return await run_in_transaction(self.db, work)

    # -- refund --------------------------------------------------------------------------------

    async def reserve_refund(self, reservation: RefundReservation) -> Refund:
        r = reservation
        by_request = sa.select(REFUNDS).where(REFUNDS.c.merchant_id == r.merchant_id,
                                              REFUNDS.c.request_id == r.request_id)
        target = sa.select(REDEMPTIONS).where(R.merchant_id == r.merchant_id, R.id == r.redemption_id)
        if not self.db.is_sqlite:
            target = target.with_for_update()

        async def work(conn: AsyncConnection) -> Refund:
            existing = (await conn.execute(by_request)).first()
            if existing is not None:
                return loaded(Refund, existing)
            found = (await conn.execute(target)).first()
            if found is None:
                raise NotFound(f"no redemption {r.redemption_id} at merchant {r.merchant_id}",
                               reason="REDEMPTION_NOT_FOUND")
            row = loaded(Redemption, found)
            amount = rules.refund_amount(row, r.points, r.now, r.window)
            await conn.execute(REDEMPTIONS.update().where(R.id == row.id).values(
                refunded_points=R.refunded_points + amount))
            if amount == int(row.points) - int(row.refunded_points):  # all of it undone: the units go back
                await conn.execute(_GIVE_BACK, {"m_id": r.merchant_id, "r_id": row.reward_id, "q": row.quantity})
            fid = f"rf-{uuid.uuid4().hex[:20]}"
            await conn.execute(REFUNDS.insert().values(
                id=fid, redemption_id=row.id, merchant_id=r.merchant_id, request_id=r.request_id,
                fingerprint=r.fingerprint, community_path=row.community_path, points=amount, reason=r.reason,
                create_time=r.now))
            return loaded(Refund, (await conn.execute(_REFUND_BY_ID, {"fid": fid})).one())

        return await run_in_transaction(self.db, work)

    async def complete_refund(self, refund_id: str, transfer_id: str, ledger_day: str,
                              event: EventEnvelope) -> bool:
        complete = REFUNDS.update().where(REFUNDS.c.id == refund_id, REFUNDS.c.completed == sa.false()).values(
            completed=True, transfer_id=transfer_id, ledger_day=ledger_day)

        async def work(conn: AsyncConnection) -> bool:
            if (await conn.execute(complete)).rowcount != 1:
                return False
            await publish_in(conn, event)
            return True

        return await run_in_transaction(self.db, work)

