"""Redeem, cancel, refund — and the recovery that finishes what a crash left half-way.

A redemption crosses two databases (ours and volunteer-points' ledger), so it is a small saga
whose every step is idempotent and whose state lives in our `rd_redemption` row:

    1. reserve   (our tx)     checks, stock − q, row PENDING            ─ refusals leave nothing
    2. PlaceHold (ledger)     hold id `redemption:{id}`                 ─ INSUFFICIENT_POINTS → void
    3. mark      (our tx)     hold_placed = true (only while PENDING)   ─ lost a race with void → VoidHold
    4. PostHold  (ledger)     the points move to system/redemption-clearing
    5. commit    (our tx)     row COMMITTED + outbox event `redemption.redemption.committed`

A retry with the same request id re-reads the row and continues from where it is (every
ledger call is idempotent by hold id), so a lost reply never charges twice. A crash between
steps leaves a PENDING row; `recover` (run by the recovery loop once a row is older than the
grace period) asks the ledger: a hold never placed → void; a pending hold → VoidHold, then
void; a posted hold → commit. So no hold outlives recovery, and no points move without a
committed redemption. Voiding returns the reserved stock exactly once (conditional update).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import grpc
import sqlalchemy as sa
from google.protobuf.message import Message
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.events.v1 import redemption_pb2 as events
from linli.points.v1 import ledger_pb2 as lpb
from linli_redemption.common import (
    as_utc,
    check_range,
    check_request_id,
    check_text,
    china_day,
    day_bounds,
    parse_name,
    reading,
    ts,
    write_one,
)
from linli_redemption.members import Members, TerminalCaller
from linli_redemption.points_client import LedgerRefusal, PointsClient
from linli_redemption.tables import partner, redemption, refund, reward
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from linli_runtime.events import publish_in
from linli_runtime.transactions import fingerprint, run_in_transaction

log = logging.getLogger("linli.redemption.saga")

Rec = Row[Any]
MakeEvent = Callable[[str, Message, str], Any]
PENDING, COMMITTED, VOIDED = "pending", "committed", "voided"
ABORTED_MESSAGE = "the redemption did not complete and nothing was charged; start again with a new request id"


# The redeem path's statements, built once with bind parameters: SQLAlchemy memoizes a
# statement object's cache key, so reusing one skips building and walking it per call.
_BY_REQUEST = redemption.select().where(redemption.c.merchant_id == sa.bindparam("merchant_id"),
                                        redemption.c.request_id == sa.bindparam("request_id"))
_REWARD = reward.select().where(reward.c.merchant_id == sa.bindparam("merchant_id"),
                                reward.c.id == sa.bindparam("reward_id"))
# Takes `quantity` units (the row's lock serialises the limit checks that follow).
_TAKE_STOCK = (reward.update()
               .where(reward.c.merchant_id == sa.bindparam("m_id"), reward.c.id == sa.bindparam("r_id"),
                      sa.or_(reward.c.stock == -1, reward.c.stock >= sa.bindparam("q")))
               .values(stock=sa.case((reward.c.stock == -1, -1), else_=reward.c.stock - sa.bindparam("q")),
                       version=reward.c.version + 1))
_INSERT = redemption.insert().returning(*redemption.c)
_MARK_PLACED = (redemption.update().where(redemption.c.id == sa.bindparam("rid"), redemption.c.state == PENDING)
                .values(hold_placed=True))
_COMMIT = (redemption.update().where(redemption.c.id == sa.bindparam("rid"), redemption.c.state == PENDING)
           .values(state=COMMITTED, transfer_id=sa.bindparam("tid"), hold_placed=True,
                   commit_time=sa.bindparam("now"), ledger_day=sa.bindparam("day"))
           .returning(*redemption.c))


def check_merchant(who: TerminalCaller, merchant_id: str) -> None:
    if merchant_id != who.merchant_id:
        raise PermissionDenied(f"this terminal acts for merchant {who.merchant_id}, not {merchant_id}",
                               reason="OTHER_MERCHANT", metadata={"merchant": merchant_id})


def refused(row: Rec) -> FailedPrecondition:
    return FailedPrecondition(row.void_message or ABORTED_MESSAGE, reason=row.void_reason or "REDEMPTION_ABORTED",
                              metadata={"redemption": f"merchants/{row.merchant_id}/redemptions/{row.id}"})


class Redemptions:
    def __init__(self, db: Database, clock: Clock, points: PointsClient, members: Members, make_event: MakeEvent,
                 *, hold_timeout_seconds: int = 300, refund_window: timedelta = timedelta(days=7)) -> None:
        self.db, self.clock, self.points, self.members = db, clock, points, members
        self.make_event = make_event
        self.hold_timeout_seconds = hold_timeout_seconds
        self.refund_window = refund_window
        # Test seam: awaited right after PlaceHold answered (fault injection: a crash there).
        self.after_hold: Callable[[Rec], Any] | None = None
        # Merchants' display names for the committed event: {id: (name, read at)}.
        self._merchant_names: dict[str, tuple[str, float]] = {}

    # -- reads ---------------------------------------------------------------------------------

    async def _row(self, conn_or_none: AsyncConnection | None, where: Any) -> Rec | None:
        query = redemption.select().where(where)
        if conn_or_none is not None:
            return (await conn_or_none.execute(query)).first()
        async with reading(self.db) as session:
            return (await session.execute(query)).first()

    async def get(self, merchant_id: str, redemption_id: str) -> Rec:
        row = await self._row(None, sa.and_(redemption.c.merchant_id == merchant_id, redemption.c.id == redemption_id))
        if row is None:
            raise NotFound(f"no redemption {redemption_id} at merchant {merchant_id}", reason="REDEMPTION_NOT_FOUND")
        return row

    # -- redeem --------------------------------------------------------------------------------

    async def redeem(self, who: TerminalCaller, reward_name: str, session_id: str, quantity: int, request_id: str,
                     expected_points: int) -> Rec:
        merchant_id, reward_id = parse_name(reward_name, "reward", "merchants", "rewards")
        check_merchant(who, merchant_id)
        check_range(quantity, "quantity", 1, 100)
        check_request_id(request_id)
        if expected_points < 0:
            raise InvalidArgument.field("expected_points", "must not be negative")
        # What was asked, without the member session: a POS restarted mid-redeem resolves the
        # volunteer's code again and retries with a new session; the retry is the same request
        # if that session is the same volunteer's (checked below).
        digest = fingerprint(reward_id, quantity, expected_points, who.terminal_id)
        digest_with_session = fingerprint(reward_id, session_id, quantity, expected_points, who.terminal_id)
        by_request = {"merchant_id": merchant_id, "request_id": request_id}

        async with reading(self.db) as conn:  # a retry's first answer, else the member's session
            existing = (await conn.execute(_BY_REQUEST, by_request)).first()
            member = await self.members.session(who, session_id, conn) if existing is None else None
        if existing is None:
            attempts = 0

            async def reserve(conn: AsyncConnection) -> Rec:
                nonlocal attempts
                attempts += 1
                if attempts > 1:  # retried after a unique-key race: a concurrent retry may have won it
                    again = (await conn.execute(_BY_REQUEST, by_request)).first()
                    if again is not None:
                        return again
                return await self._reserve(conn, who, merchant_id, reward_id, quantity, expected_points, request_id,
                                           digest, member)

            existing = await run_in_transaction(self.db, reserve)
        # (A fingerprint with the session in it was stored before retries could change sessions.)
        same = existing.fingerprint == digest_with_session or (
            existing.fingerprint == digest and existing.volunteer_id == (
                member.volunteer_id if member is not None else await self.members.volunteer_of(who, session_id)))
        if not same:
            raise AlreadyExists(f"request id {request_id} was used for a different redemption",
                                reason="REQUEST_ID_REUSED")
        return await self.drive(existing)

    async def _reserve(self, conn: AsyncConnection, who: TerminalCaller, merchant_id: str, reward_id: str,
                       quantity: int, expected_points: int, request_id: str, digest: str, member: Any) -> Rec:
        item = (await conn.execute(_REWARD, {"merchant_id": merchant_id, "reward_id": reward_id})).first()
        if item is None:
            raise NotFound(f"merchant {merchant_id} has no reward {reward_id}", reason="REWARD_NOT_FOUND")
        now = self.clock.now()
        if (item.valid_from is not None and now < as_utc(item.valid_from)) or (  # type: ignore[operator]
                item.valid_until is not None and now >= as_utc(item.valid_until)):  # type: ignore[operator]
            raise FailedPrecondition(f"{item.display_name} cannot be redeemed now (outside its validity window)",
                                     reason="REWARD_NOT_VALID")
        points = int(item.points) * quantity
        if expected_points and expected_points != points:
            raise FailedPrecondition(f"the price is now {points} points, not {expected_points}; quote again",
                                     reason="PRICE_CHANGED", metadata={"points": str(points)})
        # The stock update also locks the reward's row (PostgreSQL), so the limit checks below
        # see every committed redemption of this reward and no two of them interleave. A reward
        # with unlimited stock and no limits needs no lock (and concurrent tills do not queue).
        if item.stock == -1 and not item.per_volunteer_limit and not item.daily_quota:
            return await self._record(conn, who, merchant_id, reward_id, item, quantity, points, request_id,
                                      digest, member, now)
        taken = await conn.execute(_TAKE_STOCK, {"m_id": merchant_id, "r_id": reward_id, "q": quantity})
        if taken.rowcount != 1:
            raise FailedPrecondition(f"{item.display_name} is out of stock", reason="OUT_OF_STOCK")
        live = (redemption.c.merchant_id == merchant_id) & (redemption.c.reward_id == reward_id) & (
            redemption.c.state != VOIDED)
        if item.per_volunteer_limit:
            mine = (await conn.execute(sa.select(sa.func.coalesce(sa.func.sum(redemption.c.quantity), 0)).where(
                live, redemption.c.volunteer_id == member.volunteer_id))).scalar_one()
            if int(mine) + quantity > item.per_volunteer_limit:
                raise FailedPrecondition(f"a member may redeem at most {item.per_volunteer_limit} of "
                                         f"{item.display_name}", reason="MEMBER_LIMIT_REACHED")
        if item.daily_quota:
            start, end = day_bounds(datetime.fromisoformat(china_day(now)).date())
            today = (await conn.execute(sa.select(sa.func.coalesce(sa.func.sum(redemption.c.quantity), 0)).where(
                live, redemption.c.create_time >= start, redemption.c.create_time < end))).scalar_one()
            if int(today) + quantity > item.daily_quota:
                raise FailedPrecondition(f"today's quota of {item.display_name} is used up",
                                         reason="DAILY_QUOTA_REACHED")
        return await self._record(conn, who, merchant_id, reward_id, item, quantity, points, request_id, digest,
                                  member, now)

    async def _record(self, conn: AsyncConnection, who: TerminalCaller, merchant_id: str, reward_id: str, item: Rec,
                      quantity: int, points: int, request_id: str, digest: str, member: Any, now: datetime) -> Rec:
        rid = f"r-{uuid.uuid4().hex[:20]}"
        return (await conn.execute(_INSERT, dict(
            id=rid, merchant_id=merchant_id, request_id=request_id, fingerprint=digest,
            terminal_id=who.terminal_id, community_path=member.community_path, volunteer_id=member.volunteer_id,
            masked_member=member.masked_member, reward_id=reward_id, reward_name=item.display_name,
            quantity=quantity, points=points, state=PENDING, hold_id=f"redemption:{rid}", create_time=now))).one()

    async def drive(self, row: Rec) -> Rec:
        """Take a redemption as far as it goes: the committed row, or the refusal it ended in."""
        if row.state == COMMITTED:
            return row
        if row.state == VOIDED:
            raise refused(row)
        source = f"merchants/{row.merchant_id}/redemptions/{row.id}"
        try:
            hold = await self.points.place_hold(row.community_path, row.hold_id, row.volunteer_id, int(row.points),
                                                self.hold_timeout_seconds, source)
        except LedgerRefusal as refusal:
            if refusal.reason == "INSUFFICIENT_POINTS":
                return await self._void(row, "INSUFFICIENT_POINTS", "the member does not have enough points")
            return await self._void(row, "LEDGER_REFUSED", f"volunteer-points refused the hold: {refusal.message}")
        if self.after_hold is not None:
            await self.after_hold(row)
        if hold.state in (lpb.HOLD_STATE_VOIDED, lpb.HOLD_STATE_EXPIRED):
            return await self._void(row, "REDEMPTION_ABORTED", ABORTED_MESSAGE)
        if hold.state == lpb.HOLD_STATE_PENDING and not row.hold_placed:
            marked = await write_one(self.db, _MARK_PLACED, {"rid": row.id}) == 1
            if not marked:  # voided meanwhile (cancel or recovery): give the points back
                await self._void_hold_quietly(row)
                current = await self.get(row.merchant_id, row.id)
                return await self.drive(current)
        try:
            posted = await self.points.post_hold(row.community_path, row.hold_id)
        except LedgerRefusal:
            return await self._void(row, "REDEMPTION_ABORTED", ABORTED_MESSAGE)
        return await self._commit(row, posted.transfer.transfer_id, posted.transfer.create_time.ToDatetime())

    async def _void_hold_quietly(self, row: Rec) -> None:
        try:
            await self.points.void_hold(row.community_path, row.hold_id)
        except LedgerRefusal as refusal:
            log.warning("void of a cancelled redemption's hold refused", extra={"hold": row.hold_id,
                                                                                 "reason": refusal.reason})

    async def _void(self, row: Rec, reason: str, message: str, *, only_unplaced: bool = False) -> Rec:
        """PENDING → VOIDED (stock back) and raise the refusal; or the row's outcome if another
        path settled it first."""

        async def void(conn: AsyncConnection) -> bool:
            conditions = [redemption.c.id == row.id, redemption.c.state == PENDING]
            if only_unplaced:
                conditions.append(redemption.c.hold_placed == sa.false())
            done = await conn.execute(redemption.update().where(*conditions).values(
                state=VOIDED, void_reason=reason, void_message=message, stock_returned=True))
            if done.rowcount != 1:
                return False
            await conn.execute(reward.update().where(
                reward.c.merchant_id == row.merchant_id, reward.c.id == row.reward_id, reward.c.stock != -1)
                .values(stock=reward.c.stock + row.quantity))
            return True

        await run_in_transaction(self.db, void)
        current = await self.get(row.merchant_id, row.id)
        if current.state == PENDING:  # hold placed meanwhile: recovery decides next round
            return current
        return await self.drive(current)

    async def _merchant_name(self, conn: AsyncConnection, merchant_id: str) -> str:
        """The merchant's display name, re-read at most once a minute (it only labels the event)."""
        cached = self._merchant_names.get(merchant_id)
        if cached is not None and time.monotonic() - cached[1] < 60:
            return cached[0]
        name = (await conn.execute(sa.select(partner.c.display_name).where(
            partner.c.id == merchant_id))).scalar_one_or_none() or merchant_id
        self._merchant_names[merchant_id] = (name, time.monotonic())
        return name

    async def _commit(self, row: Rec, transfer_id: str, ledger_time: datetime) -> Rec:
        async def commit(conn: AsyncConnection) -> Rec | None:
            now = self.clock.now()
            done = (await conn.execute(_COMMIT, {"rid": row.id, "tid": transfer_id, "now": now,
                                                 "day": china_day(ledger_time)})).first()
            if done is None:
                return None
            merchant_name = await self._merchant_name(conn, row.merchant_id)
            payload = events.RedemptionCommitted(
                redemption=f"merchants/{row.merchant_id}/redemptions/{row.id}", request_id=row.request_id,
                community_path=row.community_path, merchant_id=row.merchant_id, merchant_name=merchant_name,
                terminal_id=row.terminal_id, volunteer_id=row.volunteer_id, reward_id=row.reward_id,
                reward_name=row.reward_name, quantity=row.quantity, points=row.points, transfer_id=transfer_id,
                committed_at=ts(now))
            await publish_in(conn, self.make_event("redemption.redemption.committed", payload, row.community_path))
            return done

        committed = await run_in_transaction(self.db, commit)
        if committed is not None:
            return committed
        current = await self.get(row.merchant_id, row.id)
        if current.state != COMMITTED:  # cannot happen: a posted hold is never voided (module doc)
            log.error("posted hold of a voided redemption", extra={"redemption": row.id})
        return current

    async def _commit_posted(self, row: Rec) -> Rec:
        """Commit a redemption whose hold the ledger has posted (posting again is idempotent and
        answers with the POST transfer)."""
        posted = await self.points.post_hold(row.community_path, row.hold_id)
        return await self._commit(row, posted.transfer.transfer_id, posted.transfer.create_time.ToDatetime())

    # -- cancel --------------------------------------------------------------------------------

    async def cancel(self, who: TerminalCaller, parent: str, request_id: str) -> Rec:
        (merchant_id,) = parse_name(parent, "parent", "merchants")
        check_merchant(who, merchant_id)
        check_request_id(request_id)
        row = await self._row(None, sa.and_(redemption.c.merchant_id == merchant_id,
                                            redemption.c.request_id == request_id))
        if row is None:
            raise NotFound(f"no redemption with request id {request_id}", reason="REDEMPTION_NOT_FOUND")
        return await self._abandon(row, "CANCELLED", "the redemption was cancelled by the terminal")

    async def _abandon(self, row: Rec, reason: str, message: str) -> Rec:
        """Void a PENDING redemption at the ledger first, then here (so a racing post either
        happened — we commit — or can no longer happen)."""
        if row.state == COMMITTED:
            raise FailedPrecondition("the redemption has committed; refund it instead", reason="REDEMPTION_COMMITTED")
        if row.state == VOIDED:
            return row
        try:
            await self.points.void_hold(row.community_path, row.hold_id)
        except LedgerRefusal as refusal:
            if refusal.reason == "HOLD_POSTED":
                await self._commit_posted(row)
                raise FailedPrecondition("the redemption has committed; refund it instead",
                                         reason="REDEMPTION_COMMITTED") from refusal
            if refusal.code != grpc.StatusCode.NOT_FOUND:
                raise
        try:
            current = await self._void(row, reason, message)
        except FailedPrecondition:
            return await self.get(row.merchant_id, row.id)
        if current.state == COMMITTED:
            raise FailedPrecondition("the redemption has committed; refund it instead", reason="REDEMPTION_COMMITTED")
        return current

    # -- recovery ------------------------------------------------------------------------------

    async def recover_once(self, grace: timedelta, limit: int = 100) -> int:
        """Settle PENDING redemptions and unfinished refunds older than `grace`; returns how many
        it looked at."""
        cutoff = self.clock.now() - grace
        async with reading(self.db) as session:
            stuck = (await session.execute(redemption.select().where(
                redemption.c.state == PENDING, redemption.c.create_time < cutoff)
                .order_by(redemption.c.create_time).limit(limit))).all()
            refunds = (await session.execute(refund.select().where(
                refund.c.completed == sa.false(), refund.c.create_time < cutoff).limit(limit))).all()
        for row in stuck:
            await self._recover(row)
        for item in refunds:
            await self._finish_refund(item)
        return len(stuck) + len(refunds)

    async def _recover(self, row: Rec) -> None:
        hold = await self.points.get_hold(row.community_path, row.hold_id)
        log.info("recovering a redemption", extra={"redemption": row.id,
                                                    "hold_state": hold.state if hold is not None else "none"})
        try:
            if hold is None:
                await self._void(row, "REDEMPTION_ABORTED", ABORTED_MESSAGE, only_unplaced=True)
            elif hold.state == lpb.HOLD_STATE_POSTED:
                await self._commit_posted(row)
            elif hold.state == lpb.HOLD_STATE_PENDING:
                await self._abandon(row, "REDEMPTION_ABORTED", ABORTED_MESSAGE)
            else:
                await self._void(row, "REDEMPTION_ABORTED", ABORTED_MESSAGE)
        except FailedPrecondition:
            pass  # settled (the refusal is the redemption's outcome, kept on the row)

    # -- refund --------------------------------------------------------------------------------

    async def refund(self, who: TerminalCaller, name: str, request_id: str, points: int,
                     reason: str) -> tuple[Rec, Rec]:
        merchant_id, redemption_id = parse_name(name, "name", "merchants", "redemptions")
        check_merchant(who, merchant_id)
        check_request_id(request_id)
        reason = check_text(reason, "reason", 200, required=True)
        if points < 0 or points > 1_000_000_000:
            raise InvalidArgument.field("points", "must be between 0 (everything left) and 1000000000")
        digest = fingerprint(redemption_id, points, reason)
        by_request = sa.and_(refund.c.merchant_id == merchant_id, refund.c.request_id == request_id)

        async def reserve(conn: AsyncConnection) -> Rec:
            existing = (await conn.execute(refund.select().where(by_request))).first()
            if existing is not None:
                return existing
            query = redemption.select().where(redemption.c.merchant_id == merchant_id,
                                              redemption.c.id == redemption_id)
            if not self.db.is_sqlite:
                query = query.with_for_update()
            row = (await conn.execute(query)).first()
            if row is None:
                raise NotFound(f"no redemption {redemption_id} at merchant {merchant_id}",
                               reason="REDEMPTION_NOT_FOUND")
            if row.state != COMMITTED:
                raise FailedPrecondition("only a committed redemption can be refunded (cancel a pending one)",
                                         reason="REDEMPTION_NOT_COMMITTED")
            now = self.clock.now()
            if now - as_utc(row.commit_time) > self.refund_window:  # type: ignore[operator]
                raise FailedPrecondition(f"refunds are possible for {self.refund_window} after the redemption",
                                         reason="REFUND_WINDOW_CLOSED")
            left = int(row.points) - int(row.refunded_points)
            amount = points or left
            if left == 0 or amount > left:
                raise FailedPrecondition(f"only {left} points of this redemption are left to refund",
                                         reason="OVER_REFUND", metadata={"refundable": str(left)})
            full = amount == left
            await conn.execute(redemption.update().where(redemption.c.id == row.id).values(
                refunded_points=redemption.c.refunded_points + amount))
            if full:  # the whole redemption undone: its units go back on the shelf
                await conn.execute(reward.update().where(
                    reward.c.merchant_id == merchant_id, reward.c.id == row.reward_id, reward.c.stock != -1)
                    .values(stock=reward.c.stock + row.quantity))
            fid = f"rf-{uuid.uuid4().hex[:20]}"
            await conn.execute(refund.insert().values(
                id=fid, redemption_id=row.id, merchant_id=merchant_id, request_id=request_id, fingerprint=digest,
                community_path=row.community_path, points=amount, reason=reason, create_time=now))
            created = (await conn.execute(refund.select().where(refund.c.id == fid))).one()
            return created

        item = await run_in_transaction(self.db, reserve)
        if item.fingerprint != digest:
            raise AlreadyExists(f"request id {request_id} was used for a different refund",
                                reason="REQUEST_ID_REUSED")
        item = await self._finish_refund(item)
        return item, await self.get(merchant_id, item.redemption_id)

    async def _finish_refund(self, item: Rec) -> Rec:
        if item.completed:
            return item
        row = await self.get(item.merchant_id, item.redemption_id)
        transfer = await self.points.reverse(item.community_path, f"refund:{item.id}", row.transfer_id,
                                             int(item.points), f"refund: {item.reason}"[:100])

        async def complete(conn: AsyncConnection) -> None:
            done = await conn.execute(refund.update().where(refund.c.id == item.id, refund.c.completed == sa.false())
                                      .values(completed=True, transfer_id=transfer.transfer_id,
                                              ledger_day=china_day(transfer.create_time.ToDatetime())))
            if done.rowcount != 1:
                return
            payload = events.RedemptionRefunded(
                redemption=f"merchants/{row.merchant_id}/redemptions/{row.id}", refund_id=item.id,
                community_path=row.community_path, merchant_id=row.merchant_id, volunteer_id=row.volunteer_id,
                points=item.points, reason=item.reason, transfer_id=transfer.transfer_id)
            await publish_in(conn, self.make_event("redemption.redemption.refunded", payload, row.community_path))

        await run_in_transaction(self.db, complete)
        current = (await self._refund_row(item.id))
        return current

    async def _refund_row(self, fid: str) -> Rec:
        async with reading(self.db) as session:
            return (await session.execute(refund.select().where(refund.c.id == fid))).one()
