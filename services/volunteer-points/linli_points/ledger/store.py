"""The double-entry points ledger (SQLAlchemy Core).

Every write runs as: lock the accounts it touches (one statement, ordered by id, so two
writers never wait on each other in opposite orders), then look for a transfer with the same
id (a replay returns it, a reuse with other content is refused), then check limits, update the
running totals and insert the immutable transfer — all in one transaction, with the events
it causes written to the outbox in the same transaction.

Concurrency: on SQLite every write transaction starts with BEGIN IMMEDIATE (the runtime), so
writes are serial. On PostgreSQL the `SELECT … FOR UPDATE` of the account rows serialises
writers per account; READ COMMITTED lets the second of two racing replays see the first's
committed transfer once it holds the lock. Rare races the locks cannot cover (two
transactions creating the same new account or the same transfer id with different accounts)
end in a unique-key violation or a deadlock report; the whole transaction is then retried.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import sqlalchemy as sa
from google.protobuf.message import Message
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.events.v1 import points_pb2 as events
from linli.events.v1.envelope_pb2 import EventEnvelope
from linli_points.ledger.accounts import ISSUANCE, MAY_GO_NEGATIVE, volunteer_of
from linli_points.ledger.model import (
    Balance,
    HistoryEntry,
    Hold,
    HoldState,
    Kind,
    Recorded,
    Resolution,
    Transfer,
    TransferRequest,
)
from linli_points.ledger.tables import accounts, holds, transfers
from linli_points.tx import run_in_transaction
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, FailedPrecondition, NotFound
from linli_runtime.events import publish_in

log = logging.getLogger("linli.points.ledger")

T = TypeVar("T")
# (subject, payload, org_scope) → envelope; ServiceApp.event in the service.
EventFactory = Callable[[str, Message, str], EventEnvelope]

POSTED_KINDS = frozenset({Kind.DIRECT, Kind.POST, Kind.REVERSAL})
REVERSIBLE_KINDS = POSTED_KINDS
_HOLD_EVENT_STATE = {
    HoldState.PENDING: events.POINTS_HOLD_STATE_PENDING,
    HoldState.POSTED: events.POINTS_HOLD_STATE_POSTED,
    HoldState.VOIDED: events.POINTS_HOLD_STATE_VOIDED,
    HoldState.EXPIRED: events.POINTS_HOLD_STATE_EXPIRED,
}


def post_id(hold_id: str) -> str:
    # '/' never appears in caller-chosen ids, so these cannot collide with them.
    return f"{hold_id}/post"


def void_id(hold_id: str) -> str:
    return f"{hold_id}/void"


def utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _transfer(row: Any) -> Transfer:
    return Transfer(
        seq=row.seq,
        community_path=row.community_path,
        transfer_id=row.transfer_id,
        kind=Kind(row.kind),
        debit_account=row.debit_account,
        credit_account=row.credit_account,
        amount=row.amount,
        reason=row.reason,
        source=row.source,
        related_transfer_id=row.related_transfer_id,
        debit_balance_after=row.debit_balance_after,
        credit_balance_after=row.credit_balance_after,
        created_at=utc(row.created_at),
    )


def _hold(row: Any) -> Hold:
    return Hold(
        transfer=_transfer(row),
        state=HoldState(row.state),
        expires_at=utc(row.expires_at),
        resolved_at=utc(row.resolved_at) if row.resolved_at is not None else None,
    )


_HOLD_COLUMNS = (*transfers.c, holds.c.state, holds.c.expires_at, holds.c.resolved_at)


class Ledger:
    def __init__(self, db: Database, clock: Clock, make_event: EventFactory | None = None) -> None:
        self.db = db
        self.clock = clock
        self._make_event = make_event

    # -- transactions --------------------------------------------------------------------------

    async def run(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `work` in one transaction, retrying it whole after the races described above."""
        return await run_in_transaction(self.db, work)

    def now(self) -> datetime:
        return self.clock.now().astimezone(UTC)

    # -- writes --------------------------------------------------------------------------------

    async def transfer(self, request: TransferRequest) -> Recorded:
        """Record a DIRECT transfer (or replay it)."""
        return await self.run(lambda conn: self.transfer_in(conn, request))

    async def transfer_in(self, conn: AsyncConnection, request: TransferRequest) -> Recorded:
        """Record a DIRECT transfer inside the caller's transaction (e.g. with the activity
        that earned the points)."""
        assert request.kind == Kind.DIRECT
        locked = await self._lock(conn, request.community_path, (request.debit_account, request.credit_account))
        existing = await self._replay(conn, request.community_path, request.transfer_id, request.fingerprint())
        if existing is not None:
            return Recorded(existing, created=False)
        transfer = await self._record(conn, request, request.fingerprint(), locked)
        return Recorded(transfer, created=True)

    async def reverse(
        self, community_path: str, transfer_id: str, reversed_id: str, amount: int, reason: str
    ) -> Recorded:
        """Move `amount` points (0: all not yet reversed) back along a posted transfer."""
        fingerprint = hashlib.sha256(
            "\x1f".join((community_path, transfer_id, reversed_id, str(amount), reason, "reverse")).encode()
        ).hexdigest()

        async def work(conn: AsyncConnection) -> Recorded:
            original = await self._find(conn, community_path, reversed_id)
            if original is None:
                raise NotFound(
                    f"transfer {reversed_id!r} does not exist in {community_path}", reason="TRANSFER_NOT_FOUND"
                )
            if original.kind not in REVERSIBLE_KINDS:
                raise FailedPrecondition(
                    f"transfer {reversed_id!r} is a {original.kind.name} transfer; only posted transfers can be "
                    "reversed (void a pending hold instead)",
                    reason="NOT_REVERSIBLE",
                )
            locked = await self._lock(conn, community_path, (original.credit_account, original.debit_account))
            existing = await self._replay(conn, community_path, transfer_id, fingerprint)
            if existing is not None:
                return Recorded(existing, created=False)
            already = (
                await conn.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(transfers.c.amount), 0)).where(
                        transfers.c.community_path == community_path,
                        transfers.c.related_transfer_id == reversed_id,
                        transfers.c.kind == int(Kind.REVERSAL),
                    )
                )
            ).scalar_one()
            remaining = original.amount - int(already)
            if remaining <= 0:
                raise FailedPrecondition(f"transfer {reversed_id!r} is already fully reversed", reason="OVER_REVERSAL")
            if amount > remaining:
                raise FailedPrecondition(
                    f"only {remaining} of transfer {reversed_id!r} remain to reverse, not {amount}",
                    reason="OVER_REVERSAL",
                )
            request = TransferRequest(
                community_path=community_path,
                transfer_id=transfer_id,
                debit_account=original.credit_account,
                credit_account=original.debit_account,
                amount=amount or remaining,
                kind=Kind.REVERSAL,
                reason=reason,
                source=original.source,
                related_transfer_id=reversed_id,
            )
            return Recorded(await self._record(conn, request, fingerprint, locked), created=True)

        return await self.run(work)

    async def place_hold(self, request: TransferRequest) -> tuple[Hold, bool]:
        """Reserve points (or replay the hold, whatever its state now)."""
        assert request.kind == Kind.PENDING and request.timeout_seconds > 0

        async def work(conn: AsyncConnection) -> tuple[Hold, bool]:
            path, hold_id = request.community_path, request.transfer_id
            locked = await self._lock(conn, path, (request.debit_account, request.credit_account))
            existing = await self._replay(conn, path, hold_id, request.fingerprint())
            if existing is not None:
                hold = await self._find_hold(conn, path, hold_id)
                assert hold is not None
                return hold, False
            transfer = await self._record(conn, request, request.fingerprint(), locked)
            expires_at = transfer.created_at + timedelta(seconds=request.timeout_seconds)
            await conn.execute(
                holds.insert().values(
                    transfer_seq=transfer.seq, community_path=path, hold_id=hold_id,
                    state=int(HoldState.PENDING), expires_at=expires_at, resolved_at=None,
                )
            )
            hold = Hold(transfer, HoldState.PENDING, expires_at, None)
            await self._hold_event(conn, "points.hold.placed", hold)
            return hold, True

        return await self.run(work)

    async def post_hold(self, community_path: str, hold_id: str) -> Resolution:
        return await self._resolve(community_path, hold_id, Kind.POST)

    async def void_hold(self, community_path: str, hold_id: str) -> Resolution:
        return await self._resolve(community_path, hold_id, Kind.VOID)

    async def expire_due(self, limit: int = 200) -> int:
        """Void holds whose timeout has passed (state EXPIRED). Returns how many it expired."""
        async with self.db.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(holds.c.community_path, holds.c.hold_id)
                    .where(holds.c.state == int(HoldState.PENDING), holds.c.expires_at <= self.now())
                    .order_by(holds.c.expires_at)
                    .limit(limit)
                )
            ).all()
        expired = 0
        for path, hold_id in rows:
            _, _, changed = await self.run(partial(self._resolve_in, path=path, hold_id=hold_id, action=Kind.VOID,
                                                   only_if_due=True))
            expired += changed
        return expired

    async def _resolve(self, path: str, hold_id: str, action: Kind) -> Resolution:
        resolution, refusal, _ = await self.run(partial(self._resolve_in, path=path, hold_id=hold_id, action=action))
        if refusal is not None:  # raised only now: the expiry it found has been committed
            raise refusal
        return resolution

    async def _resolve_in(
        self, conn: AsyncConnection, *, path: str, hold_id: str, action: Kind, only_if_due: bool = False
    ) -> tuple[Resolution, FailedPrecondition | None, bool]:
        """Post or void a hold, expiring it first when its time is up. Returns the resolution,
        a refusal to raise after commit, and whether anything changed."""
        hold = await self._find_hold(conn, path, hold_id)
        if hold is None:
            raise NotFound(f"hold {hold_id!r} does not exist in {path}", reason="HOLD_NOT_FOUND")
        t = hold.transfer
        locked = await self._lock(conn, path, (t.debit_account, t.credit_account))
        hold = await self._find_hold(conn, path, hold_id)  # again, now under the accounts' locks
        assert hold is not None
        now = self.now()
        if hold.state == HoldState.PENDING and now >= hold.expires_at:
            resolution = await self._finish(conn, hold, Kind.VOID, HoldState.EXPIRED, locked, now)
            refusal = self._refusal(Kind.POST, resolution.hold) if action == Kind.POST else None
            return resolution, refusal, True
        if hold.state == HoldState.PENDING:
            if only_if_due:  # the sweeper read a stale deadline; nothing to do
                return Resolution(hold, hold.transfer), None, False
            state = HoldState.POSTED if action == Kind.POST else HoldState.VOIDED
            return await self._finish(conn, hold, action, state, locked, now), None, True
        done_by = Kind.POST if hold.state == HoldState.POSTED else Kind.VOID
        if done_by != action:
            if only_if_due:
                return Resolution(hold, hold.transfer), None, False
            raise self._refusal(action, hold)
        resolved = await self._find(conn, path, post_id(hold_id) if done_by == Kind.POST else void_id(hold_id))
        assert resolved is not None
        return Resolution(hold, resolved), None, False

    @staticmethod
    def _refusal(action: Kind, hold: Hold) -> FailedPrecondition:
        verb = "post" if action == Kind.POST else "void"
        reason = {
            HoldState.POSTED: "HOLD_POSTED",
            HoldState.VOIDED: "HOLD_VOIDED",
            HoldState.EXPIRED: "HOLD_EXPIRED",
        }[hold.state]
        return FailedPrecondition(
            f"cannot {verb} hold {hold.hold_id!r}: it is already {hold.state.name.lower()}",
            reason=reason,
            metadata={"hold_id": hold.hold_id, "state": hold.state.name},
        )

    async def _finish(
        self, conn: AsyncConnection, hold: Hold, action: Kind, state: HoldState, locked: dict[str, dict[str, Any]],
        now: datetime,
    ) -> Resolution:
        t = hold.transfer
        request = TransferRequest(
            community_path=t.community_path,
            transfer_id=post_id(t.transfer_id) if action == Kind.POST else void_id(t.transfer_id),
            debit_account=t.debit_account,
            credit_account=t.credit_account,
            amount=t.amount,
            kind=action,
            reason="expired" if state == HoldState.EXPIRED else t.reason,
            source=t.source,
            related_transfer_id=t.transfer_id,
        )
        transfer = await self._record(conn, request, request.fingerprint(), locked)
        await conn.execute(
            holds.update()
            .where(holds.c.transfer_seq == t.seq)
            .values(state=int(state), resolved_at=now)
        )
        resolved = Hold(t, state, hold.expires_at, now)
        subject = "points.hold.posted" if state == HoldState.POSTED else "points.hold.voided"
        await self._hold_event(conn, subject, resolved)
        return Resolution(resolved, transfer)

    # -- the core step -------------------------------------------------------------------------

    async def _lock(self, conn: AsyncConnection, path: str, names: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Lock the named accounts of a community, opening missing ones; returns their rows."""
        wanted = sorted(set(names))
        query = (
            sa.select(accounts)
            .where(accounts.c.community_path == path, accounts.c.name.in_(wanted))
            .order_by(accounts.c.id)
            .with_for_update()
        )
        rows = {row.name: dict(row._mapping) for row in await conn.execute(query)}
        missing = [name for name in wanted if name not in rows]
        if missing:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            now = self.now()
            for name in missing:
                await conn.execute(
                    dialect.insert(accounts)
                    .values(community_path=path, name=name, allow_negative=name in MAY_GO_NEGATIVE, created_at=now)
                    .on_conflict_do_nothing()
                )
            rows = {row.name: dict(row._mapping) for row in await conn.execute(query)}
        return rows

    async def _record(
        self, conn: AsyncConnection, request: TransferRequest, fingerprint: str, locked: dict[str, dict[str, Any]]
    ) -> Transfer:
        """Check limits, move the totals, insert the transfer. The accounts are locked."""
        debit, credit = locked[request.debit_account], locked[request.credit_account]
        amount, kind = request.amount, request.kind
        if kind in (Kind.DIRECT, Kind.PENDING, Kind.REVERSAL) and not debit["allow_negative"]:
            available = debit["credits_posted"] - debit["debits_posted"] - debit["debits_pending"]
            if available < amount:
                raise FailedPrecondition(
                    f"{request.debit_account} has {max(available, 0)} points available, {amount} needed",
                    reason="INSUFFICIENT_POINTS",
                    metadata={"account": request.debit_account, "available": str(max(available, 0))},
                )
        d: dict[str, int] = {}
        c: dict[str, int] = {}
        if kind == Kind.PENDING:
            d["debits_pending"], c["credits_pending"] = amount, amount
        elif kind == Kind.VOID:
            d["debits_pending"], c["credits_pending"] = -amount, -amount
        else:
            d["debits_posted"], c["credits_posted"] = amount, amount
            if kind == Kind.POST:
                d["debits_pending"], c["credits_pending"] = -amount, -amount
            # Points earned: what came from issuance, net of what went back to it.
            if request.debit_account == ISSUANCE and volunteer_of(request.credit_account) is not None:
                c["earned"] = amount
            elif request.credit_account == ISSUANCE and volunteer_of(request.debit_account) is not None:
                d["earned"] = -amount
        for row, deltas in ((debit, d), (credit, c)):
            await conn.execute(
                accounts.update()
                .where(accounts.c.id == row["id"])
                .values({accounts.c[col]: accounts.c[col] + delta for col, delta in deltas.items()})
            )
            for col, delta in deltas.items():
                row[col] += delta
        now = self.now()
        values = dict(
            community_path=request.community_path,
            transfer_id=request.transfer_id,
            kind=int(kind),
            debit_account_id=debit["id"],
            credit_account_id=credit["id"],
            debit_account=request.debit_account,
            credit_account=request.credit_account,
            amount=amount,
            reason=request.reason,
            source=request.source,
            related_transfer_id=request.related_transfer_id,
            fingerprint=fingerprint,
            debit_balance_after=debit["credits_posted"] - debit["debits_posted"],
            credit_balance_after=credit["credits_posted"] - credit["debits_posted"],
            created_at=now,
        )
        result = await conn.execute(transfers.insert().values(**values))
        seq = result.inserted_primary_key[0]  # type: ignore[index]
        transfer = _transfer(_Row(seq=seq, **values))
        if kind in (Kind.DIRECT, Kind.POST) and request.debit_account == ISSUANCE:
            volunteer = volunteer_of(request.credit_account)
            if volunteer is not None:
                await self._publish(
                    conn, "points.points.credited",
                    events.PointsCredited(
                        transfer_id=request.transfer_id, community_path=request.community_path,
                        volunteer_id=volunteer, points=amount, reason=request.reason, source=request.source,
                    ),
                    request.community_path,
                )
        return transfer

    # -- reads ---------------------------------------------------------------------------------

    async def _find(self, conn: AsyncConnection, path: str, transfer_id: str) -> Transfer | None:
        row = (
            await conn.execute(
                sa.select(transfers).where(transfers.c.community_path == path, transfers.c.transfer_id == transfer_id)
            )
        ).first()
        return _transfer(row) if row is not None else None

    async def _replay(self, conn: AsyncConnection, path: str, transfer_id: str, fingerprint: str) -> Transfer | None:
        """The earlier transfer with this id if the request matches it; refused if it does not."""
        row = (
            await conn.execute(
                sa.select(transfers).where(transfers.c.community_path == path, transfers.c.transfer_id == transfer_id)
            )
        ).first()
        if row is None:
            return None
        if row.fingerprint != fingerprint:
            raise AlreadyExists(
                f"id {transfer_id!r} was already used in {path} for a different request; choose a new id",
                reason="TRANSFER_ID_REUSED",
                metadata={"transfer_id": transfer_id},
            )
        return _transfer(row)

    async def _find_hold(self, conn: AsyncConnection, path: str, hold_id: str) -> Hold | None:
        row = (
            await conn.execute(
                sa.select(*_HOLD_COLUMNS)
                .select_from(holds.join(transfers, holds.c.transfer_seq == transfers.c.seq))
                .where(holds.c.community_path == path, holds.c.hold_id == hold_id)
            )
        ).first()
        return _hold(row) if row is not None else None

    async def get_hold(self, path: str, hold_id: str) -> Hold:
        async with self.db.engine.connect() as conn:
            hold = await self._find_hold(conn, path, hold_id)
        if hold is None:
            raise NotFound(f"hold {hold_id!r} does not exist in {path}", reason="HOLD_NOT_FOUND")
        return hold

    async def balance(self, path: str, account: str) -> Balance:
        async with self.db.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(accounts).where(accounts.c.community_path == path, accounts.c.name == account)
                )
            ).first()
        if row is None:  # never used: an empty account
            return Balance(path, account, 0, 0, 0)
        return Balance(path, account, row.credits_posted - row.debits_posted, row.debits_pending, row.earned)

    async def history(self, path: str, account: str, after_seq: int, limit: int) -> tuple[list[HistoryEntry], int]:
        """Transfers touching `account` after `after_seq`, oldest first; and the last seq
        returned when there may be more (else 0)."""
        async with self.db.engine.connect() as conn:
            account_id = (
                await conn.execute(
                    sa.select(accounts.c.id).where(accounts.c.community_path == path, accounts.c.name == account)
                )
            ).scalar_one_or_none()
            if account_id is None:
                return [], 0
            rows = (
                await conn.execute(
                    sa.select(transfers)
                    .where(
                        sa.or_(transfers.c.debit_account_id == account_id, transfers.c.credit_account_id == account_id),
                        transfers.c.seq > after_seq,
                    )
                    .order_by(transfers.c.seq)
                    .limit(limit + 1)
                )
            ).all()
        entries = []
        for row in rows[:limit]:
            t = _transfer(row)
            is_credit = row.credit_account_id == account_id
            moved = t.amount if t.kind in POSTED_KINDS else 0
            entries.append(
                HistoryEntry(
                    t,
                    change=moved if is_credit else -moved,
                    balance_after=t.credit_balance_after if is_credit else t.debit_balance_after,
                )
            )
        more = len(rows) > limit
        return entries, (entries[-1].transfer.seq if more else 0)

    async def community_sum(self, path: str) -> int:
        """Sum of the posted balances of a community's accounts (always 0)."""
        async with self.db.engine.connect() as conn:
            total = (
                await conn.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(accounts.c.credits_posted - accounts.c.debits_posted), 0))
                    .where(accounts.c.community_path == path)
                )
            ).scalar_one()
        return int(total)

    # -- events --------------------------------------------------------------------------------

    async def _publish(self, conn: AsyncConnection, subject: str, payload: Message, path: str) -> None:
        if self._make_event is not None:
            await publish_in(conn, self._make_event(subject, payload, path))

    async def _hold_event(self, conn: AsyncConnection, subject: str, hold: Hold) -> None:
        t = hold.transfer
        await self._publish(
            conn, subject,
            events.PointsHoldChanged(
                hold_id=t.transfer_id, community_path=t.community_path, debit_account=t.debit_account,
                credit_account=t.credit_account, amount=t.amount, state=_HOLD_EVENT_STATE[hold.state],
                reason=t.reason, source=t.source,
            ),
            t.community_path,
        )


class _Row:
    """Attribute access over the values just inserted (to build the Transfer without a read)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)
