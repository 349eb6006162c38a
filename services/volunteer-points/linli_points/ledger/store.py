"""The double-entry points ledger (SQLAlchemy Core).

A batch of transfers and holds (`transfer_many`, `CreateTransfers`, and the group commit of
concurrent `transfer` and `place_hold` calls) is applied set-oriented by ledger/batch.py: the
same checks in the same order, every account kept in its own row locked once for the batch, in
id order. Every other
write runs as: lock the accounts whose limits or state it checks (the debit account of a
volunteer; one statement, ordered by id), look for a transfer with the same id (a replay
returns it, a reuse with other content is refused), check the limit, update both accounts'
running totals and insert the immutable transfer — all in one transaction, with the events it
causes written to the outbox in the same transaction.

Two kinds of account keep their totals differently (see ledger/tables.py):
- a volunteer's account in its own row, updated with `UPDATE … RETURNING` the balance after
  (stored on the transfer), under the row lock its limit check took;
- a system account (`system/issuance`, `system/redemption-clearing`, `system/expiry`) in
  `SLOTS` slot rows: a transfer adds its deltas to one slot picked at random (an upsert) and
  stores no balance after. Every hold and post of a community touches one of these, and with
  one row per account they all queued on that row's lock for a commit's duration (34
  redeems/s at 32 terminals); with slots, two transfers wait for each other only when they
  pick the same slot. A debit of a system account that has a limit (clearing, expiry: only
  reversals and manual transfers) locks the account's row first, so such debits are serial
  and the limit check sums the slots under that lock: everything else only adds credits or
  settles pending debits, which never lowers what it saw as available.

Concurrency: on SQLite every write transaction starts with BEGIN IMMEDIATE (the runtime), so
writes are serial. On PostgreSQL the `SELECT … FOR NO KEY UPDATE` of the debit account
serialises spenders of one account (NO KEY: inserting transfers and slots that reference the
row, which takes a KEY SHARE lock, does not wait for it), and READ COMMITTED lets the second of
two racing replays see the first's committed transfer once it holds the lock. The races locks
do not cover (two transactions creating the same account or the same transfer id; a refund and
a spend crossing on the clearing account) end in a unique-key violation or a deadlock report;
the whole transaction is then retried (`linli_runtime.transactions`) and answers as a replay.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from google.protobuf.message import Message
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.events.v1 import points_pb2 as events
from linli_points.ledger import lots
from linli_points.ledger.accounts import (
    EXPIRY,
    MAY_GO_NEGATIVE,
    VOLUNTEER_PREFIX,
    issued_from,
    points_short,
    volunteer_of,
)
from linli_points.ledger.batch import (
    BatchItem,
    Outcome,
    Recording,
    answers,
    apply_batch,
    credit_payloads,
    record,
)
from linli_points.ledger.earned import add_earned
from linli_points.ledger.hold_posting import post_holds
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
    Written,
    fingerprints,
    resolving_request,
    void_id,
)
from linli_points.ledger.model import post_id as post_id  # re-exported: the holds consumer asks it
from linli_points.ledger.rows import hold_of, transfer_of
from linli_points.ledger.tables import SLOTS, account_slots, accounts, holds, transfers
from linli_points.ledger.tables import in_slots as in_slots  # re-exported: servicers ask it
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, DomainError, FailedPrecondition, NotFound
from linli_runtime.events import EventFactory, publish_in
from linli_runtime.group_commit import Batch, GroupCommit
from linli_runtime.transactions import run_in_transaction

log = logging.getLogger("linli.points.ledger")

T = TypeVar("T")

_TOTALS = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
POSTED_KINDS = frozenset({Kind.DIRECT, Kind.POST, Kind.REVERSAL})
REVERSIBLE_KINDS = POSTED_KINDS
_HOLD_EVENT_STATE = {
    HoldState.PENDING: events.POINTS_HOLD_STATE_PENDING,
    HoldState.POSTED: events.POINTS_HOLD_STATE_POSTED,
    HoldState.VOIDED: events.POINTS_HOLD_STATE_VOIDED,
    HoldState.EXPIRED: events.POINTS_HOLD_STATE_EXPIRED,
}


_transfer = transfer_of
_hold = hold_of


_HOLD_COLUMNS = (*transfers.c, holds.c.state, holds.c.expires_at, holds.c.resolved_at)

# The hot path's statements, built once with bind parameters: SQLAlchemy memoizes a statement
# object's cache key, so reusing one skips building it and walking it on every execution
# (measured: more CPU than the round trip itself for the small statements of a transfer).
_BY_TRANSFER_ID = sa.select(transfers).where(
    transfers.c.community_path == sa.bindparam("path"), transfers.c.transfer_id == sa.bindparam("transfer_id"))
_HOLD_BY_ID = (sa.select(*_HOLD_COLUMNS)
               .select_from(holds.join(transfers, holds.c.transfer_seq == transfers.c.seq))
               .where(holds.c.community_path == sa.bindparam("path"), holds.c.hold_id == sa.bindparam("hold_id")))
# The debit account of a hold, locked: what serialises everything that resolves the hold.
_LOCK_DEBIT_OF_HOLD = (
    sa.select(accounts).where(accounts.c.id == sa.select(transfers.c.debit_account_id)
                              .select_from(holds.join(transfers, holds.c.transfer_seq == transfers.c.seq))
                              .where(holds.c.community_path == sa.bindparam("path"),
                                     holds.c.hold_id == sa.bindparam("hold_id"))
                              .scalar_subquery())
    .with_for_update(key_share=True))


@functools.cache
def _accounts_by_name(count: int, locked: bool) -> Any:
    """SELECT `count` accounts of a community by name (bound :n0 … :n{count-1}), in id order,
    locked or not. A statement per count, not an expanding IN: expanding the list on every
    execution cost more CPU than the statement (a transfer names one or two accounts)."""
    query = (sa.select(accounts)
             .where(accounts.c.community_path == sa.bindparam("path"),
                    accounts.c.name.in_([sa.bindparam(f"n{i}") for i in range(count)]))
             .order_by(accounts.c.id))
    return query.with_for_update(key_share=True) if locked else query


_INSERT_ACCOUNT = {name: dialect.insert(accounts).on_conflict_do_nothing()
                   for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}
_INSERT_TRANSFER = transfers.insert()
_INSERT_HOLD = holds.insert()
_RESOLVE_HOLD = holds.update().where(holds.c.transfer_seq == sa.bindparam("seq")).values(
    state=sa.bindparam("new_state"), resolved_at=sa.bindparam("when"))


@functools.cache
def _account_update(columns: tuple[str, ...]) -> Any:
    """UPDATE an account's row adding to `columns`, RETURNING its posted totals."""
    return (accounts.update().where(accounts.c.id == sa.bindparam("account_id"))
            .values({accounts.c[c]: accounts.c[c] + sa.bindparam(f"add_{c}") for c in columns})
            .returning(accounts.c.credits_posted, accounts.c.debits_posted))


def _slot_sums(account_ids: Any) -> Any:
    """SELECT account_id, Σ totals over the slots of the accounts `account_ids` selects."""
    return (sa.select(account_slots.c.account_id, *(sa.func.sum(account_slots.c[col]).label(col) for col in _TOTALS))
            .where(account_slots.c.account_id.in_(account_ids)).group_by(account_slots.c.account_id))


# conn.info key: whether the work under way has written (past `_record`'s checks; run_each).
_WROTE = "linli_points_wrote"


class _RefusedAfterWriting(Exception):
    """A work of a batch run without savepoints was refused after it had written."""


# conn.info key: slot accounts' rows a transaction read, for `Ledger.run` to cache after commit.
_SEEN_SLOT_ACCOUNTS = "linli_points_seen_slot_accounts"


@functools.cache
def _slot_upsert(dialect_name: str, columns: tuple[str, ...]) -> Any:
    """INSERT a slot … ON CONFLICT add to it, for one set of total columns (built once: building
    the statement per transfer cost more CPU than running it)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    insert = dialect.insert(account_slots).values(
        account_id=sa.bindparam("account_id"), slot=sa.bindparam("slot"), **{c: sa.bindparam(c) for c in columns})
    return insert.on_conflict_do_update(
        index_elements=[account_slots.c.account_id, account_slots.c.slot],
        set_={c: account_slots.c[c] + insert.excluded[c] for c in columns})


class Ledger:
    def __init__(self, db: Database, clock: Clock, make_event: EventFactory | None = None, *,
                 max_batch: int = 64, linger: float = 0.01) -> None:
        self.db = db
        self.clock = clock
        self._make_event = make_event
        # Slot accounts' rows as first read, {(community, name): row}: they are only ever read
        # unlocked for their id (their totals live in slots), and account rows are never deleted.
        self._slot_account_rows: dict[tuple[str, str], dict[str, Any]] = {}
        # Concurrent single transfers and holds are committed in groups (linli_runtime.group_commit),
        # applied set-oriented (ledger/batch.py), each answered on its own: a refusal leaves nothing
        # behind; two requests of a batch naming one id see each other, as two calls one after the
        # other would; a database race retries the batch whole (`run`), each request in it then a
        # replay or new, as if it had come alone.
        # Single transfers, when busy (batches of 8 and more), wait as long as the batch before
        # took, up to `linger`, for more to join (linli_runtime.group_commit). Holds have a queue
        # of their own that does not linger: a POS redeem waits on its hold, and redemption
        # batches its holds already.
        self.group_commit: GroupCommit[TransferRequest, Any] = GroupCommit(self._run_queued, max_batch=max_batch,
                                                                           linger=linger)
        self.hold_commit: GroupCommit[TransferRequest, Any] = GroupCommit(self._run_queued, max_batch=max_batch)
        # One batch at a time in this process: two batches lock their many rows in no common
        # order, and on PostgreSQL each deadlock between them cost a second (deadlock_timeout)
        # before the retry (measured: 16 transfers/s with two batches in flight).
        self._one_batch = asyncio.Lock()
        # Wall seconds `apply_batch` has held `_one_batch`, summed (bench.points_ledger: per
        # transfer, what bounds CreateTransfers with two calls in flight; two clock reads a batch).
        self.batch_lock_seconds = 0.0

    # -- transactions --------------------------------------------------------------------------

    async def run(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `work` in one transaction, retrying it whole after the races described above."""
        seen: dict[tuple[str, str], dict[str, Any]] = {}

        async def attempt(conn: AsyncConnection) -> T:
            conn.info.pop(_SEEN_SLOT_ACCOUNTS, None)  # left by an attempt that failed
            result = await work(conn)
            seen.clear()
            seen.update(conn.info.pop(_SEEN_SLOT_ACCOUNTS, {}))
            return result

        result = await run_in_transaction(self.db, attempt)
        for key, row in seen.items():  # committed: the rows exist for good
            self._slot_account_rows.setdefault(key, row)
        return result

    async def run_each(self, works: Sequence[Callable[[AsyncConnection], Awaitable[T]]]) -> list[T | DomainError]:
        """Run each of `works` in one transaction, committed once: a work refused with a domain
        error leaves nothing behind and its error is its outcome; the others commit. Retried
        whole after a race, like `run` (see `group_commit` in __init__ for what that means to each).
        For works that are not plain transfers or holds: those are applied set-oriented
        (`apply_batch`, ledger/batch.py), a few statements per batch instead of ~8 per work.

        Without a savepoint per work: on PostgreSQL a savepoint is two more round trips per
        request, as many as the commit a batch saves. The ledger refuses before it writes —
        replays, limits and lots are checked first (`_record` marks the point of no return) —
        so a refused work wrote nothing but, perhaps, the empty accounts it opened (accounts
        open on first use: an empty one is no account). Should a work ever be refused after
        writing, the batch is rolled back and run again with a savepoint per work."""
        async with self._one_batch:
            try:
                return await self.run(partial(self._each, works=works, isolate=False))
            except _RefusedAfterWriting:
                log.error("a ledger write was refused after writing: batch run again with savepoints")
                return await self.run(partial(self._each, works=works, isolate=True))

    async def _each(self, conn: AsyncConnection, *, works: Sequence[Callable[[AsyncConnection], Awaitable[T]]],
                    isolate: bool) -> list[T | DomainError]:
        outcomes: list[T | DomainError] = []
        for work in works:
            conn.info[_WROTE] = False
            seen = dict(conn.info.get(_SEEN_SLOT_ACCOUNTS, {}))
            try:
                if isolate:
                    async with conn.begin_nested():
                        outcomes.append(await work(conn))
                else:
                    outcomes.append(await work(conn))
            except DomainError as error:
                if conn.info[_WROTE] and not isolate:
                    raise _RefusedAfterWriting from error
                if isolate:  # an account opened inside the rolled-back savepoint exists no more
                    conn.info[_SEEN_SLOT_ACCOUNTS] = seen
                outcomes.append(error)
        return outcomes

    async def transfer_many(self, requests: Sequence[TransferRequest]) -> list[Recorded | DomainError]:
        """Record many DIRECT transfers in one transaction, each answered on its own (a refused
        one is its error; the others commit): `CreateTransfers`, bulk credits."""
        assert all(r.kind == Kind.DIRECT for r in requests)
        outcomes = await self.apply_batch([BatchItem(r) for r in requests])
        return [o for o in outcomes if not isinstance(o, tuple)]

    async def record_many(self, requests: Sequence[TransferRequest]) -> list[Written | Recorded | DomainError]:
        """`transfer_many` answered from the batch's own record: a transfer it writes (or an
        earlier item of it wrote) as `Written`, one written before as `Recorded` (CreateTransfers:
        no `Transfer` value per transfer of a 10 000-transfer call)."""
        assert all(r.kind == Kind.DIRECT for r in requests)
        new = tuple.__new__  # BatchItem(r) without its generated __new__'s Python call: 10 000 a call
        outcomes = await self.apply_batch([new(BatchItem, (r, None)) for r in requests], lean=True)
        return cast(list[Written | Recorded | DomainError], outcomes)  # (no holds: DIRECT transfers only)

    async def transfer_many_in(self, conn: AsyncConnection,
                               requests: Sequence[TransferRequest]) -> list[Recorded | DomainError]:
        """`transfer_many` inside the caller's transaction (with the rows that explain the
        credits: bulk credits, imports). A refused transfer wrote nothing; the caller decides
        whether the others commit."""
        assert all(r.kind == Kind.DIRECT for r in requests)
        outcomes = await self._apply(conn, items=[BatchItem(r) for r in requests])
        return [o for o in outcomes if not isinstance(o, tuple)]

    # From this many items a batch's credit events are made before its lock (`credit_payloads`):
    # the group commit's few are not worth guessing for.
    CREDITS_MADE_BEFORE = 100
    # Fingerprints made this many at a time before the lock (~1 ms of work).
    SLICE_BEFORE = 1_000

    async def apply_batch(self, items: Sequence[BatchItem], *, lean: bool = False) -> list[Outcome]:
        """Record DIRECT transfers and holds in one transaction with a few multi-row statements,
        each answered on its own (ledger/batch.py); retried whole after a race, like `run`.

        On PostgreSQL the first attempt takes the ids to be new without reading them: a replay
        (rare: a client's retry) fails the batch's insert on the unique key, and the retry reads
        them — it answers the replays as the first attempt would have. Issue 18: the lookup was a
        round trip of each group commit of single transfers and ~3 µs an id of CreateTransfers,
        to find nothing nearly always; the unique key checks each id anyway."""
        attempts = 0
        # Only one batch at a time writes (`_one_batch`): the work that needs neither the
        # database nor the lock — the fingerprints before, the answers after — is done outside
        # it, while another batch holds it (CreateTransfers, 2 calls in flight).
        # Made a slice at a time, yielding between: on the one event loop it shares with the batch
        # inside the lock, which waits on PostgreSQL between short steps, that batch goes on
        # within a slice of its answer rather than after all of this work (the lock's wall time
        # bounds CreateTransfers).
        requests = [item.request for item in items]
        digests: list[str] = []
        for start in range(0, len(requests), self.SLICE_BEFORE):
            if start:
                await asyncio.sleep(0)
            digests.extend(fingerprints(requests[start:start + self.SLICE_BEFORE]))
        credits = await credit_payloads(items) if len(items) >= self.CREDITS_MADE_BEFORE else None

        async def attempt(conn: AsyncConnection) -> Recording:
            nonlocal attempts
            attempts += 1
            seen = conn.info.setdefault(_SEEN_SLOT_ACCOUNTS, {})  # cached by `run` once committed
            return await record(conn, items, now=self.now(), make_event=self._make_event,
                                known=self._slot_account_rows, seen=seen, lean=lean,
                                look_up=attempts > 1 or conn.dialect.name != "postgresql", digests=digests,
                                credits=credits)

        async with self._one_batch:
            locked_at = time.perf_counter()
            try:
                recording = await self.run(attempt)
            finally:
                self.batch_lock_seconds += time.perf_counter() - locked_at
        return answers(recording)

    async def _apply(self, conn: AsyncConnection, *, items: Sequence[BatchItem], lean: bool = False,
                     look_up: bool = True) -> list[Outcome]:
        seen = conn.info.setdefault(_SEEN_SLOT_ACCOUNTS, {})  # cached by `run` once committed
        return await apply_batch(conn, items, now=self.now(), make_event=self._make_event,
                                 known=self._slot_account_rows, seen=seen, lean=lean, look_up=look_up)

    async def _run_queued(self, batch: Batch[TransferRequest]) -> list[Outcome]:
        """The group commit's batches: transfers and holds queued by `transfer` and `place_hold`,
        each with its caller's context (its events name its own call)."""
        return await self.apply_batch([BatchItem(r, c) for r, c in zip(batch, batch.contexts, strict=True)])

    def now(self) -> datetime:
        return self.clock.now().astimezone(UTC)

    # -- writes --------------------------------------------------------------------------------

    async def transfer(self, request: TransferRequest) -> Recorded:
        """Record a DIRECT transfer (or replay it), committed with the concurrent ones."""
        assert request.kind == Kind.DIRECT
        recorded: Recorded = await self.group_commit(request)
        return recorded

    async def transfer_in(self, conn: AsyncConnection, request: TransferRequest) -> Recorded:
        """Record a DIRECT transfer inside the caller's transaction (e.g. with the activity
        that earned the points)."""
        assert request.kind == Kind.DIRECT
        locked = await self._lock(conn, request.community_path, (request.debit_account, request.credit_account),
                                  lock=self._limited(request.debit_account))
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
            # Both locked: concurrent reversals of one transfer must see each other's amounts.
            both = (original.credit_account, original.debit_account)
            locked = await self._lock(conn, community_path, both, lock=both)
            existing = await self._replay(conn, community_path, transfer_id, fingerprint)
            if existing is not None:
                return Recorded(existing, created=False)
            already = (
                await conn.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(transfers.c.amount), 0)).where(
                        transfers.c.community_path == community_path,
                        transfers.c.related_transfer_id == reversed_id,
                        # Implied (an id is never empty), but the partial index's predicate
                        # must appear in the query for a prepared statement to use it (p0019).
                        transfers.c.related_transfer_id != "",
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

    async def expire_points(self, path: str, cutoff: datetime, label: str) -> tuple[int, int]:
        """Expire what each volunteer of `path` still holds of points received before `cutoff`.

        Spending is taken from the oldest points first, so the old points left are the
        available balance minus everything received since the cutoff (never below zero).
        One transaction per volunteer (its account locked); the transfer id
        `expiry:{label}:{volunteer}` makes a second run for the same cutoff expire nothing.
        Returns (volunteers affected, points expired)."""
        async with self.db.engine.connect() as conn:
            names = list((await conn.execute(
                sa.select(accounts.c.name).where(
                    accounts.c.community_path == path, accounts.c.name.startswith(VOLUNTEER_PREFIX),
                    accounts.c.credits_posted - accounts.c.debits_posted - accounts.c.debits_pending > 0)
                .order_by(accounts.c.name))).scalars())
        affected = expired = 0
        for name in names:
            amount = await self.run(partial(self._expire_one, path=path, account=name, cutoff=cutoff, label=label))
            affected += amount > 0
            expired += amount
        return affected, expired

    async def _expire_one(self, conn: AsyncConnection, *, path: str, account: str, cutoff: datetime,
                          label: str) -> int:
        transfer_id = f"expiry:{label}:{account[len(VOLUNTEER_PREFIX):]}"
        locked = await self._lock(conn, path, (account, EXPIRY), lock=(account,))
        if await self._find(conn, path, transfer_id) is not None:
            return 0
        row = locked[account]
        recent = (await conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(transfers.c.amount), 0)).where(
                transfers.c.credit_account_id == row["id"], transfers.c.kind.in_([int(k) for k in POSTED_KINDS]),
                transfers.c.created_at >= cutoff))).scalar_one()
        available = row["credits_posted"] - row["debits_posted"] - row["debits_pending"]
        amount = available - int(recent)
        if amount <= 0:
            return 0
        request = TransferRequest(community_path=path, transfer_id=transfer_id, debit_account=account,
                                  credit_account=EXPIRY, amount=amount, reason="expiry", source=f"expiry/{label}")
        await self._record(conn, request, request.fingerprint(), locked)
        return int(amount)

    async def place_hold(self, request: TransferRequest) -> tuple[Hold, bool]:
        """Reserve points (or replay the hold, whatever its state now), committed with the
        concurrent transfers and holds."""
        assert request.kind == Kind.PENDING and request.timeout_seconds > 0
        placed: tuple[Hold, bool] = await self.hold_commit(request)
        return placed

    async def post_hold(self, community_path: str, hold_id: str) -> Resolution:
        return await self._resolve(community_path, hold_id, Kind.POST)

    async def void_hold(self, community_path: str, hold_id: str) -> Resolution:
        return await self._resolve(community_path, hold_id, Kind.VOID)

    async def post_hold_in(self, conn: AsyncConnection, community_path: str, hold_id: str) -> Resolution:
        """Post a hold inside the caller's transaction (or answer with its POST transfer if it was
        posted already): the consumer of committed redemptions posts a fetched batch of holds in
        one. Refused as PostHold is (a voided or expired hold); the caller holds `batch_lock`."""
        resolution, refusal, _ = await self._resolve_in(conn, path=community_path, hold_id=hold_id,
                                                        action=Kind.POST)
        if refusal is not None:
            raise refusal
        return resolution

    async def post_holds_in(self, conn: AsyncConnection, keys: Sequence[tuple[str, str]], *,
                            accounts: Sequence[tuple[str, str]] | None = None) -> list[Resolution | DomainError]:
        """`post_hold_in` for a batch of holds, (community path, hold id) each, set-oriented
        (ledger/hold_posting.py): each answered as `post_hold_in` answers it — a refusal is its
        outcome and wrote nothing. `accounts`: each hold's (debit, credit) accounts, when the
        caller knows them (one read fewer; a wrong guess costs only that read). The caller holds
        `batch_lock`."""
        seen = conn.info.setdefault(_SEEN_SLOT_ACCOUNTS, {})
        return await post_holds(conn, keys, now=self.now(), make_event=self._make_event,
                                known=self._slot_account_rows, seen=seen, accounts=accounts)

    @property
    def batch_lock(self) -> asyncio.Lock:
        """Held by whatever writes many transfers in one transaction in this process (the group
        commit's batches, a consumer's batch of posts): two such transactions lock their rows in
        no common order and deadlock on PostgreSQL."""
        return self._one_batch

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
        # The debit account's lock serialises everything that resolves this hold: take it first
        # (found through the hold in the same statement), then read the hold under it.
        debit_row = (await conn.execute(_LOCK_DEBIT_OF_HOLD, {"path": path, "hold_id": hold_id})).first()
        hold = await self._find_hold(conn, path, hold_id)
        if hold is None or debit_row is None:
            raise NotFound(f"hold {hold_id!r} does not exist in {path}", reason="HOLD_NOT_FOUND")
        t = hold.transfer
        locked = await self._lock(conn, path, (t.credit_account,), lock=())
        locked[t.debit_account] = {**debit_row._mapping, "locked": True}
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
        request = resolving_request(hold, action, "expired" if state == HoldState.EXPIRED else "")
        transfer = await self._record(conn, request, request.fingerprint(), locked)
        await conn.execute(_RESOLVE_HOLD, {"seq": t.seq, "new_state": int(state), "when": now})
        resolved = Hold(t, state, hold.expires_at, now)
        subject = "points.hold.posted" if state == HoldState.POSTED else "points.hold.voided"
        await self._hold_event(conn, subject, resolved)
        return Resolution(resolved, transfer)

    # -- the core step -------------------------------------------------------------------------

    @staticmethod
    def _limited(debit_account: str) -> tuple[str, ...]:
        """What a debit must lock: its account, unless the account may go below zero."""
        return () if debit_account in MAY_GO_NEGATIVE else (debit_account,)

    async def _lock(
        self, conn: AsyncConnection, path: str, names: Iterable[str], lock: Iterable[str]
    ) -> dict[str, dict[str, Any]]:
        """The named accounts of a community (opening missing ones), with those in `lock`
        locked (`SELECT … FOR NO KEY UPDATE`, in id order) for the limit checks and state changes
        that follow. The others are only read: `_record` changes their totals with an UPDATE,
        which takes their row lock as late as possible — they are the hot rows (every credit
        debits `system/issuance`), and credits need no limit check."""
        wanted, to_lock = sorted(set(names)), sorted(set(lock))

        known = {n: dict(self._slot_account_rows[(path, n)]) for n in wanted
                 if n not in to_lock and (path, n) in self._slot_account_rows}

        async def fetch() -> dict[str, dict[str, Any]]:
            found: dict[str, dict[str, Any]] = dict(known)
            for subset, for_update in ((to_lock, True), ([n for n in wanted if n not in to_lock and n not in known],
                                                         False)):
                if not subset:
                    continue
                query, params = _accounts_by_name(len(subset), for_update), {f"n{i}": n for i, n in enumerate(subset)}
                for row in await conn.execute(query, {"path": path, **params}):
                    found[row.name] = {**row._mapping, "locked": for_update}
            return found

        rows = await fetch()
        seen = conn.info.setdefault(_SEEN_SLOT_ACCOUNTS, {})  # cached by `run` once committed
        for name, row in rows.items():
            if in_slots(name) and not row["locked"] and name not in known:
                seen[(path, name)] = dict(row)
        missing = [name for name in wanted if name not in rows]
        if missing:
            now = self.now()
            await conn.execute(_INSERT_ACCOUNT[conn.dialect.name], [
                {"community_path": path, "name": name, "allow_negative": name in MAY_GO_NEGATIVE, "created_at": now}
                for name in missing])
            rows = await fetch()
        return rows

    async def _record(
        self, conn: AsyncConnection, request: TransferRequest, fingerprint: str, locked: dict[str, dict[str, Any]]
    ) -> Transfer:
        """Check limits, move the totals, insert the transfer. The accounts are locked."""
        debit, credit = locked[request.debit_account], locked[request.credit_account]
        amount, kind = request.amount, request.kind
        if kind in (Kind.DIRECT, Kind.PENDING, Kind.REVERSAL) and not debit["allow_negative"]:
            assert debit["locked"], "a limit is checked only on a locked row"
            totals = await self._totals(conn, debit)
            available = totals["credits_posted"] - totals["debits_posted"] - totals["debits_pending"]
            if available < amount:
                raise points_short(request, available)
        # Which of a volunteer's points leave (funding attribution): decided, and refused, before
        # anything is written.
        takes = await lots.plan_outflow(conn, request, debit)
        conn.info[_WROTE] = True  # the point of no return: nothing below refuses (see run_each)
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
            # Points earned: what came from issuance or a funding source, net of what went back.
            if issued_from(request.debit_account) is not None and volunteer_of(request.credit_account) is not None:
                c["earned"] = amount
            elif issued_from(request.credit_account) is not None and volunteer_of(request.debit_account) is not None:
                d["earned"] = -amount
        # Locked rows first, then the unlocked ones — volunteers before the system accounts' slots,
        # so a transaction holds a slot's lock only for its last few statements.
        order = sorted(((debit, d), (credit, c)),
                       key=lambda rd: (not rd[0]["locked"], in_slots(rd[0]["name"]), rd[0]["id"]))
        after: dict[int, int | None] = {}
        for row, deltas in order:
            if in_slots(row["name"]):
                await self._add_to_slot(conn, row["id"], deltas)
                after[row["id"]] = None
                continue
            result = await conn.execute(_account_update(tuple(sorted(deltas))), {
                "account_id": row["id"], **{f"add_{col}": delta for col, delta in deltas.items()}})
            credits_posted, debits_posted = result.one()
            after[row["id"]] = credits_posted - debits_posted
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
            debit_balance_after=after[debit["id"]],
            credit_balance_after=after[credit["id"]],
            created_at=now,
        )
        result = await conn.execute(_INSERT_TRANSFER, values)
        seq = result.inserted_primary_key[0]  # type: ignore[index]
        await add_earned(conn, ((request.community_path, kind, request.debit_account, request.credit_account,
                                 debit["id"], credit["id"], amount),), now)
        transfer = _transfer(_Row(seq=seq, **values))
        await lots.record(conn, request, seq, debit, credit, takes)
        source = issued_from(request.debit_account)
        if kind in (Kind.DIRECT, Kind.POST) and source is not None:
            volunteer = volunteer_of(request.credit_account)
            if volunteer is not None:
                await self._publish(
                    conn, "points.points.credited",
                    events.PointsCredited(
                        transfer_id=request.transfer_id, community_path=request.community_path,
                        volunteer_id=volunteer, points=amount, reason=request.reason, source=request.source,
                        funding_source=source,
                    ),
                    request.community_path,
                )
        return transfer

    @staticmethod
    async def _add_to_slot(conn: AsyncConnection, account_id: int, deltas: dict[str, int]) -> None:
        """Add `deltas` to one slot of a slot account (created on first use), picked at random."""
        assert "earned" not in deltas, "system accounts earn nothing"
        statement = _slot_upsert(conn.dialect.name, tuple(sorted(deltas)))
        await conn.execute(statement, {"account_id": account_id, "slot": random.randrange(SLOTS), **deltas})

    @staticmethod
    async def _totals(conn: AsyncConnection, row: dict[str, Any]) -> dict[str, int]:
        """An account's totals: its row's, plus its slots' for a slot account."""
        totals = {col: int(row[col]) for col in _TOTALS}
        if in_slots(row["name"]):
            sums = (await conn.execute(_slot_sums([row["id"]]))).first()
            if sums is not None:
                for col in _TOTALS:
                    totals[col] += int(sums._mapping[col])
        return totals

    # -- reads ---------------------------------------------------------------------------------

    async def _find(self, conn: AsyncConnection, path: str, transfer_id: str) -> Transfer | None:
        row = (await conn.execute(_BY_TRANSFER_ID, {"path": path, "transfer_id": transfer_id})).first()
        return _transfer(row) if row is not None else None

    async def _replay(self, conn: AsyncConnection, path: str, transfer_id: str, fingerprint: str) -> Transfer | None:
        """The earlier transfer with this id if the request matches it; refused if it does not."""
        row = (await conn.execute(_BY_TRANSFER_ID, {"path": path, "transfer_id": transfer_id})).first()
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
        row = (await conn.execute(_HOLD_BY_ID, {"path": path, "hold_id": hold_id})).first()
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
            t = await self._totals(conn, dict(row._mapping))
        return Balance(path, account, t["credits_posted"] - t["debits_posted"], t["debits_pending"], row.earned)

    async def history(self, path: str, account: str, after_seq: int, limit: int,
                      balance_before: int | None = None) -> tuple[list[HistoryEntry], int]:
        """Transfers touching `account` after `after_seq`, oldest first; and the last seq
        returned when there may be more (else 0). For a slot account, `balance_before` is its
        posted balance at `after_seq` when the caller knows it (the previous page's last
        balance_after: a walk through the history then costs one page per page)."""
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
            # A slot account stores no balance after each transfer: start from its balance
            # before this page (one indexed sum) and keep a running total.
            running = None
            if rows and in_slots(account):
                running = (balance_before if balance_before is not None
                           else await self._posted_before(conn, account_id, rows[0].seq))
        entries = []
        for row in rows[:limit]:
            t = _transfer(row)
            is_credit = row.credit_account_id == account_id
            moved = t.amount if t.kind in POSTED_KINDS else 0
            change = moved if is_credit else -moved
            if running is not None:
                running += change
                balance_after = running
            else:
                stored = t.credit_balance_after if is_credit else t.debit_balance_after
                assert stored is not None, "accounts kept in their own row record every balance after"
                balance_after = stored
            entries.append(HistoryEntry(t, change=change, balance_after=balance_after))
        more = len(rows) > limit
        return entries, (entries[-1].transfer.seq if more else 0)

    @staticmethod
    async def _posted_before(conn: AsyncConnection, account_id: int, seq: int) -> int:
        """An account's posted balance just before transfer `seq`, summed from the transfers."""
        posted = [int(k) for k in POSTED_KINDS]
        balance = 0
        for column, sign in ((transfers.c.credit_account_id, 1), (transfers.c.debit_account_id, -1)):
            total = (await conn.execute(sa.select(sa.func.coalesce(sa.func.sum(transfers.c.amount), 0)).where(
                column == account_id, transfers.c.seq < seq, transfers.c.kind.in_(posted)))).scalar_one()
            balance += sign * int(total)
        return balance

    async def community_sum(self, path: str) -> int:
        """Sum of the posted balances of a community's accounts (always 0)."""
        async with self.db.engine.connect() as conn:
            total = (
                await conn.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(accounts.c.credits_posted - accounts.c.debits_posted), 0))
                    .where(accounts.c.community_path == path)
                )
            ).scalar_one()
            in_slot_rows = (
                await conn.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(account_slots.c.credits_posted
                                                           - account_slots.c.debits_posted), 0))
                    .select_from(account_slots.join(accounts, accounts.c.id == account_slots.c.account_id))
                    .where(accounts.c.community_path == path)
                )
            ).scalar_one()
        return int(total) + int(in_slot_rows)

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
