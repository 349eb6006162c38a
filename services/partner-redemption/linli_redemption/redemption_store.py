"""The redeem saga's rows in SQL: `redemptions.RedemptionStore` on the service's database.

The redeem path is the service's hot path (a POS waits on it), so it is SQLAlchemy Core with
statements built once: SQLAlchemy memoizes a statement object's cache key, so reusing one
skips building and walking it per call. Reads go through `Database.reading()` (autocommit on
PostgreSQL), single-statement writes through `Database.write_one()`, everything else through
`run_in_transaction` (retried whole after a race the database reports).

Group commit (issue 18, `linli_runtime.group_commit`). Concurrent redeems are reserved
(`reserve_asked`: their replays and member sessions read, then the new ones reserved) and
committed (`commit_batch`) a batch at a time: one transaction, then one statement — each
request still judged and answered on its own (a refusal fails alone and leaves nothing of its
own behind), with multi-row statements (`= ANY(array)` / unnest on PostgreSQL, IN lists /
executemany on SQLite).

Concurrency. The reserve locks the batch's rewards that have a stock count or limits (SELECT …
FOR UPDATE, in (merchant, id) order in every batch of every replica: no deadlock; SQLite's
writer holds the database anyway) before counting the members' and the day's redemptions, so
the checks of one reward never interleave; the shared check (`redemption_rules.redeem_refusal`,
the one QuoteRedemption runs too) judges each request against the row read under that lock,
less what the batch's earlier requests took. A reward with unlimited stock and no limits is not
locked at all, so concurrent tills do not queue on it. The POS abuse limits are counted in the
same transaction (`PosGuard.count_redeems`).
Two first attempts of one request id race on the unique key (merchant, request id): the loser's
transaction is retried and finds the winner's row. Every later step is a conditional update on
the row's state, so of two paths settling one redemption (the call, a cancel, recovery) exactly
one wins and the other re-reads the outcome.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.events.v1.envelope_pb2 import EventEnvelope
from linli_redemption import redemption_rules as rules
from linli_redemption.members import SESSION_BY_ID
from linli_redemption.pos_guard import PosGuard, member_key
from linli_redemption.redemption_rules import COMMITTED, PENDING, UNLIMITED, VOIDED
from linli_redemption.redemptions import RedeemAsk, RefundReservation, Reservation, Reserved
from linli_redemption.tables import (
    MEMBER_SESSIONS,
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
from linli_runtime.bulk import insert_rows, one_of
from linli_runtime.db import Database
from linli_runtime.errors import DomainError, NotFound
from linli_runtime.events import publish_in
from linli_runtime.events.outbox import outbox_arrays
from linli_runtime.events.tables import OUTBOX
from linli_runtime.group_commit import GroupCommit
from linli_runtime.models import loaded, loaded_all
from linli_runtime.transactions import retried_on_race, run_in_transaction

R = REDEMPTIONS.c
_BY_REQUEST = sa.select(REDEMPTIONS).where(R.merchant_id == sa.bindparam("merchant_id"),
                                           R.request_id == sa.bindparam("request_id"))
_BY_ID = sa.select(REDEMPTIONS).where(R.merchant_id == sa.bindparam("merchant_id"), R.id == sa.bindparam("rid"))
_REWARD = sa.select(REWARDS).where(REWARDS.c.merchant_id == sa.bindparam("merchant_id"),
                                   REWARDS.c.id == sa.bindparam("reward_id"))
_LIVE_UNITS = sa.select(sa.func.coalesce(sa.func.sum(R.quantity), 0)).where(
    R.merchant_id == sa.bindparam("m_id"), R.reward_id == sa.bindparam("r_id"), R.state != VOIDED)
_MEMBER_UNITS = _LIVE_UNITS.where(R.volunteer_id == sa.bindparam("volunteer_id"))
_DAY_UNITS = _LIVE_UNITS.where(R.create_time >= sa.bindparam("start"), R.create_time < sa.bindparam("end"))
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


@dataclass(frozen=True)
class _BatchReads:
    """The batch statements, in each engine's form."""

    by_requests: sa.Select[Any]  # the batch's replays (filtered to its (merchant, request id) pairs in Python)
    sessions: sa.Select[Any]  # the batch's member sessions
    rewards: sa.Select[Any]  # the batch's rewards …
    lock_rewards: sa.Select[Any]  # … those it takes stock of or counts limits of, locked in (merchant, id) order

    @staticmethod
    def build(postgres: bool) -> _BatchReads:
        rewards = sa.select(REWARDS).where(one_of(REWARDS.c.merchant_id, "mids", postgres),
                                           one_of(REWARDS.c.id, "rids", postgres))
        return _BatchReads(
            by_requests=sa.select(REDEMPTIONS).where(one_of(R.merchant_id, "mids", postgres),
                                                     one_of(R.request_id, "rqids", postgres)),
            sessions=sa.select(MEMBER_SESSIONS).where(one_of(MEMBER_SESSIONS.c.id, "sids", postgres)),
            rewards=rewards,
            lock_rewards=rewards.order_by(REWARDS.c.merchant_id, REWARDS.c.id).with_for_update())


_BATCH_READS = {True: _BatchReads.build(True), False: _BatchReads.build(False)}


def _reads(conn: AsyncConnection) -> _BatchReads:
    return _BATCH_READS[conn.dialect.name == "postgresql"]


def _rewards_locking_statement() -> sa.CompoundSelect[Any]:
    """PostgreSQL: the batch's rewards in one statement — those it takes stock of or counts
    limits of locked (FOR UPDATE, in (merchant, id) order), the others only read. (Two before:
    every reward read, then read again under the lock.)"""
    keys = (one_of(REWARDS.c.merchant_id, "mids", True), one_of(REWARDS.c.id, "rids", True))
    lockable = ((REWARDS.c.stock != UNLIMITED) | (REWARDS.c.per_volunteer_limit != 0)
                | (REWARDS.c.daily_quota != 0))  # rules.needs_lock, or a stock to count
    locked = (sa.select(REWARDS).where(*keys, lockable).order_by(REWARDS.c.merchant_id, REWARDS.c.id)
              .with_for_update().cte("locked"))
    return sa.union_all(sa.select(locked), sa.select(REWARDS).where(*keys, sa.not_(lockable)))


_REWARDS_LOCKING = _rewards_locking_statement()

# PostgreSQL: a batch's new rows and the stock they take in one statement (two before).
_RESERVED = ("id", "merchant_id", "request_id", "fingerprint", "terminal_id", "community_path", "volunteer_id",
             "masked_member", "reward_id", "reward_name", "quantity", "points", "state", "hold_id", "create_time")
_RESERVED_TYPES = {"quantity": "integer", "points": "bigint", "create_time": "timestamptz"}
_TAKE_AND_INSERT = sa.text(f"""
WITH took AS (
    UPDATE {REWARDS.name} AS w SET stock = w.stock - t.q, version = w.version + 1
    FROM unnest(CAST(:t_mid AS text[]), CAST(:t_rid AS text[]), CAST(:t_q AS bigint[])) AS t(mid, rid, q)
    WHERE w.merchant_id = t.mid AND w.id = t.rid
)
INSERT INTO {REDEMPTIONS.name} ({", ".join(_RESERVED)})
SELECT * FROM unnest({", ".join(f"CAST(:a_{c} AS {_RESERVED_TYPES.get(c, 'text')}[])" for c in _RESERVED)})
""")

_TAKE_UNITS = (REWARDS.update()
               .where(REWARDS.c.merchant_id == sa.bindparam("m_id"), REWARDS.c.id == sa.bindparam("r_id"))
               .values(stock=REWARDS.c.stock - sa.bindparam("q"), version=REWARDS.c.version + 1))


# PostgreSQL: a batch's commits and their events in one statement, committed on its own (no
# BEGIN, no COMMIT: one round trip where a transaction of two statements took four). Each row is
# committed only while PENDING; an event goes into the outbox only with its row (joined to what
# the UPDATE returned), in the batch's order. Issue 18.
_COMMIT_WITH_EVENTS = sa.text(f"""
WITH asked AS (
    SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:tids AS text[]), CAST(:nows AS timestamptz[]),
                         CAST(:days AS text[])) AS a(id, tid, now, day)
), done AS (
    UPDATE {REDEMPTIONS.name} AS r
    SET state = '{COMMITTED}', transfer_id = asked.tid, hold_placed = true, commit_time = asked.now,
        ledger_day = asked.day
    FROM asked
    WHERE r.id = asked.id AND r.state = '{PENDING}'
    RETURNING r.*
), events AS (
    INSERT INTO {OUTBOX.name} (event_id, subject, data, created_at, attempts)
    SELECT e.event_id, e.subject, e.data, e.created_at, 0
    FROM unnest(CAST(:e_rid AS text[]), CAST(:outbox_event_id AS text[]), CAST(:outbox_subject AS text[]),
                CAST(:outbox_data AS bytea[]), CAST(:outbox_created_at AS timestamptz[]))
         WITH ORDINALITY AS e(rid, event_id, subject, data, created_at, n)
    WHERE e.rid IN (SELECT id FROM done)
    ORDER BY e.n
)
SELECT * FROM done
""").columns(*REDEMPTIONS.c)


def _find_many_statement() -> sa.Select[Any]:
    """PostgreSQL: `_find_all` in one statement — for each (merchant, request id, session id)
    asked, in order, its redemption if the request id has one and the member session named
    (columns labelled r_… and s_…)."""
    asked = sa.func.unnest(sa.bindparam("mids", type_=postgresql.ARRAY(sa.String)),
                           sa.bindparam("rqids", type_=postgresql.ARRAY(sa.String)),
                           sa.bindparam("sids", type_=postgresql.ARRAY(sa.String))
                           ).table_valued("mid", "rqid", "sid", with_ordinality="n").render_derived()
    S = MEMBER_SESSIONS.c
    joined = (asked.outerjoin(REDEMPTIONS, (R.merchant_id == asked.c.mid) & (R.request_id == asked.c.rqid))
              .outerjoin(MEMBER_SESSIONS, S.id == asked.c.sid))
    return (sa.select(asked.c.n, *(c.label(f"r_{c.name}") for c in REDEMPTIONS.c),
                      *(c.label(f"s_{c.name}") for c in MEMBER_SESSIONS.c))
            .select_from(joined).order_by(asked.c.n))


_FIND_MANY = _find_many_statement()
_R_LABELS = [(f"r_{c.name}", c.name) for c in REDEMPTIONS.c]
_S_LABELS = [(f"s_{c.name}", c.name) for c in MEMBER_SESSIONS.c]
MAX_BATCH = 64  # redeems per transaction: what 64 tills send at once; a batch stays a few ms


@dataclass(frozen=True)
class _Commit:
    redemption_id: str
    transfer_id: str
    now: datetime
    ledger_day: str
    event: EventEnvelope


def _first_of_each(batch: Sequence[_Commit]) -> dict[str, _Commit]:
    """Each redemption's first commit in the batch (two retries of one redeem may meet in a batch:
    the row is committed once, with one event, and both are answered with it)."""
    first: dict[str, _Commit] = {}
    for c in batch:
        first.setdefault(c.redemption_id, c)
    return first


def _with_stock(item: Reward, stock: int) -> Reward:
    """The reward as the batch's next request sees it: less what the requests before it took."""
    if stock == item.stock:
        return item
    seen = loaded(Reward, {name: getattr(item, name) for name in Reward.model_fields})
    seen.stock = stock
    return seen


class SqlRedemptionStore:
    """With `guard`, the POS abuse limits are counted inside the reserve's transaction (issue 18:
    one transaction per batch of redeems, the counts included); the saga then has none."""

    def __init__(self, db: Database, guard: PosGuard | None = None) -> None:
        self.db = db
        self.guard = guard
        # Group commit (linli_runtime.group_commit): concurrent reserves, and concurrent commits, one
        # transaction per batch.
        self._reserve = GroupCommit(self.reserve_asked, max_batch=MAX_BATCH)
        self._commit = GroupCommit(self.commit_batch, max_batch=MAX_BATCH)

    # -- reads ---------------------------------------------------------------------------------

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

    async def _find_all(self, conn: AsyncConnection,
                        batch: Sequence[RedeemAsk]) -> list[tuple[Redemption | None, MemberSession | None]]:
        """For each ask, in order: the redemption of its request id (a retry) and the member
        session it names — on PostgreSQL one statement (`_FIND_MANY`), on SQLite two."""
        if conn.dialect.name == "postgresql":
            rows = (await conn.execute(_FIND_MANY, {"mids": [f.merchant_id for f in batch],
                                                    "rqids": [f.request_id for f in batch],
                                                    "sids": [f.session_id for f in batch]})).mappings().all()
            return [(loaded(Redemption, {name: row[label] for label, name in _R_LABELS})
                     if row["r_id"] is not None else None,
                     loaded(MemberSession, {name: row[label] for label, name in _S_LABELS})
                     if row["s_id"] is not None else None) for row in rows]
        reads = _reads(conn)
        found = (await conn.execute(reads.by_requests, {"mids": sorted({f.merchant_id for f in batch}),
                                                        "rqids": sorted({f.request_id for f in batch})})).all()
        existing = {(row.merchant_id, row.request_id): row for row in found}
        wanted = sorted({f.session_id for f in batch if f.session_id is not None})
        sessions = {row.id: row for row in (await conn.execute(reads.sessions, {"sids": wanted}))} if wanted else {}
        out: list[tuple[Redemption | None, MemberSession | None]] = []
        for f in batch:
            row = existing.get((f.merchant_id, f.request_id))
            session = sessions.get(f.session_id) if f.session_id is not None else None
            out.append((None if row is None else loaded(Redemption, row),
                        None if session is None else loaded(MemberSession, session)))
        return out

    # -- redeem --------------------------------------------------------------------------------

    async def reserve(self, ask: RedeemAsk) -> Reserved:
        return await self._reserve(ask)

    async def reserve_asked(self, batch: Sequence[RedeemAsk]) -> list[Reserved | DomainError]:
        """Step 1 for a batch of redeems, in one transaction (issue 18: the replay lookup was a
        read and a group-commit stage of its own before it): their replays and member sessions
        read at once (`_find_all`), each new request's session judged (`ask.admit`: a refusal
        fails alone), then those admitted reserved (`_reserve_all`). Retried whole after a race —
        a request id another replica reserved after the read takes the unique key first, and the
        retry's read finds its row."""

        async def work(conn: AsyncConnection) -> list[Reserved | DomainError]:
            out: list[Reserved | DomainError | None] = []  # None: admitted, reserved below
            admitted: list[Reservation] = []
            where: list[int] = []
            for i, (ask, (row, session)) in enumerate(zip(batch, await self._find_all(conn, batch), strict=True)):
                if row is not None:
                    out.append(Reserved(row, None, session))
                    continue
                try:
                    member = ask.admit(session)
                except DomainError as refusal:
                    out.append(refusal)
                    continue
                out.append(None)
                admitted.append(ask.reservation(member))
                where.append(i)
            if admitted:
                reserved = await self._reserve_all(conn, admitted)
                for i, reservation, outcome in zip(where, admitted, reserved, strict=True):
                    out[i] = outcome if isinstance(outcome, DomainError) else Reserved(outcome, reservation.member)
            return [o for o in out if o is not None]  # every one answered (the admitted just now)

        return await run_in_transaction(self.db, work)

    async def _reserve_all(self, conn: AsyncConnection, batch: Sequence[Reservation]) -> list[Redemption | DomainError]:
        out: list[Redemption | DomainError | None] = [None] * len(batch)
        # The batch's request ids were all just found new (`reserve_asked`'s read, in this
        # transaction), so they are not read again (issue 18: a round trip per batch); one reserved
        # meanwhile — a concurrent first attempt, another replica — took the unique key first, the
        # insert fails and the retry's read finds its row.
        first_of: dict[tuple[str, str], int] = {}
        fresh: list[int] = []
        for i, r in enumerate(batch):
            key = (r.merchant_id, r.request_id)
            if key not in first_of:  # a second of the same id in this batch: answered as the first (below)
                first_of[key] = i
                fresh.append(i)
        if self.guard is not None and fresh:
            refused = await self.guard.count_redeems(
                conn, [(batch[i].terminal_id, member_key(batch[i].member.community_path, batch[i].member.volunteer_id))
                       for i in fresh], batch[fresh[0]].now)
            for i, refusal in zip(fresh, refused, strict=True):
                out[i] = refusal
            fresh = [i for i in fresh if out[i] is None]
        if fresh:
            await self._reserve_fresh(conn, batch, fresh, out)
        for i, r in enumerate(batch):
            if out[i] is None:
                out[i] = out[first_of[(r.merchant_id, r.request_id)]]
        return [item for item in out if item is not None]  # every one answered (first_of's are)

    async def _reserve_fresh(self, conn: AsyncConnection, batch: Sequence[Reservation], fresh: list[int],
                             out: list[Redemption | DomainError | None]) -> None:
        """New reservations, set-oriented: the rewards read at once and those with stock or limits
        locked in (merchant, id) order (every batch, every replica: no deadlock); each request is
        then judged in memory, in arrival order, against the locked rows and what the batch took
        before it; one stock update per reward, one insert for all the rows."""
        keys = {"mids": sorted({batch[i].merchant_id for i in fresh}),
                "rids": sorted({batch[i].reward_id for i in fresh})}
        postgres = conn.dialect.name == "postgresql"
        rewards: dict[tuple[str, str], Reward] = {}
        if postgres:  # one statement; SQLite's writer holds the database: one read is the locked one
            rewards = {(row.merchant_id, row.id): loaded(Reward, row) for row in await conn.execute(
                _REWARDS_LOCKING, keys)}
        if not postgres or any((batch[i].merchant_id, batch[i].reward_id) not in rewards for i in fresh):
            # (On PostgreSQL: a reward unknown — or changed to unlimited while its lock was awaited,
            # which left it out of both halves of the statement — is read again the plain way.)
            found = await conn.execute(_reads(conn).rewards, keys)
            rewards = {(row.merchant_id, row.id): loaded(Reward, row) for row in found}
            if postgres and any(item.stock != UNLIMITED or rules.needs_lock(item) for item in rewards.values()):
                # Taken under the lock, the rows are as every earlier committed redeem left them.
                for row in await conn.execute(_reads(conn).lock_rewards, keys):
                    rewards[(row.merchant_id, row.id)] = loaded(Reward, row)
        units: dict[tuple[str, str], int] = {}  # taken by this batch, per reward
        by_member: dict[tuple[str, str, str], int] = {}  # … per reward and member (their limits)
        counted: dict[tuple[str, str, str], rules.Taken] = {}
        rows: list[dict[str, object]] = []
        for i in fresh:
            r = batch[i]
            pair = (r.merchant_id, r.reward_id)
            item = rewards.get(pair)
            if item is None:
                out[i] = NotFound(f"merchant {r.merchant_id} has no reward {r.reward_id}", reason="REWARD_NOT_FOUND")
                continue
            taken = rules.Taken()
            if rules.needs_lock(item):
                member = (r.merchant_id, r.reward_id, r.member.volunteer_id)
                if member not in counted:
                    counted[member] = await self._taken(conn, item, r.member.volunteer_id, r.now)
                before = counted[member]
                taken = rules.Taken(by_member=before.by_member + by_member.get(member, 0),
                                    today=before.today + units.get(pair, 0))
            left = item.stock if item.stock == UNLIMITED else item.stock - units.get(pair, 0)
            try:
                rules.check_redeemable(_with_stock(item, left), r.quantity, r.now, taken)
                points = rules.price(item, r.quantity, r.expected_points)
            except DomainError as refusal:
                out[i] = refusal
                continue
            units[pair] = units.get(pair, 0) + r.quantity
            if rules.needs_lock(item):
                member = (r.merchant_id, r.reward_id, r.member.volunteer_id)
                by_member[member] = by_member.get(member, 0) + r.quantity
            rid = f"r-{uuid.uuid4().hex[:20]}"
            values = dict(id=rid, merchant_id=r.merchant_id, request_id=r.request_id, fingerprint=r.fingerprint,
                       terminal_id=r.terminal_id, community_path=r.member.community_path,
                       volunteer_id=r.member.volunteer_id, masked_member=r.member.masked_member,
                       reward_id=r.reward_id, reward_name=item.display_name, quantity=r.quantity, points=points,
                       state=PENDING, hold_id=f"redemption:{rid}", create_time=r.now)
            rows.append(values)
            out[i] = loaded(Redemption, values)
        took = [{"m_id": m, "r_id": rid, "q": q} for (m, rid), q in sorted(units.items())
                if rewards[(m, rid)].stock != UNLIMITED]
        if postgres and rows:
            await conn.execute(_TAKE_AND_INSERT, {
                "t_mid": [t["m_id"] for t in took], "t_rid": [t["r_id"] for t in took], "t_q": [t["q"] for t in took],
                **{f"a_{c}": [row[c] for row in rows] for c in _RESERVED}})
            return
        if took:
            await conn.execute(_TAKE_UNITS, took)
        await insert_rows(conn, REDEMPTIONS, rows)

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
        return await self._commit(_Commit(redemption_id, transfer_id, now, ledger_day, event))

    async def commit_batch(self, batch: Sequence[_Commit]) -> list[Redemption | None]:
        """Step 3 for a batch, in one transaction: each row COMMITTED only while PENDING (None for
        one settled meanwhile), the committed ones' events in the outbox with them."""
        if not self.db.is_sqlite:
            return await self._commit_many(batch)

        async def work(conn: AsyncConnection) -> list[Redemption | None]:
            # SQLite: statements are calls into its library, no round trips to save.
            done: dict[str, Redemption] = {}
            for c in batch:
                row = (await conn.execute(_COMMIT, {"rid": c.redemption_id, "tid": c.transfer_id, "now": c.now,
                                                    "day": c.ledger_day})).first()
                if row is not None:
                    done[row.id] = loaded(Redemption, row)
            events = [c.event for rid, c in _first_of_each(batch).items() if rid in done]
            if events:
                await publish_in(conn, *events)
            return [done.get(c.redemption_id) for c in batch]

        return await run_in_transaction(self.db, work)

    async def _commit_many(self, batch: Sequence[_Commit]) -> list[Redemption | None]:
        """PostgreSQL: the batch's commits and events in one statement on its own
        (`_COMMIT_WITH_EVENTS`), run again after a race the database reports (a deadlock with
        another replica committing some of the same rows: the retry finds them settled)."""
        once = list(_first_of_each(batch).values())
        params = {"ids": [c.redemption_id for c in once], "tids": [c.transfer_id for c in once],
                  "nows": [c.now for c in once], "days": [c.ledger_day for c in once],
                  "e_rid": [c.redemption_id for c in once], **outbox_arrays([c.event for c in once])}
        found = await retried_on_race(partial(self.db.write_returning, _COMMIT_WITH_EVENTS, params,
                                              wrote_outbox=True))
        done = {row.id: loaded(Redemption, row) for row in found}
        return [done.get(c.redemption_id) for c in batch]

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

