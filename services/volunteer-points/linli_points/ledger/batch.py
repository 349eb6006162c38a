"""A batch of transfers and holds applied set-oriented: a few multi-row statements for the
whole batch instead of ~8 statements per request (issue 18, step A). `CreateTransfers`, bulk
credits (`Ledger.transfer_many`) and the group commit of single transfers and holds
(`Ledger.transfer`, `Ledger.place_hold`) all come here.

Each item is answered exactly as `Ledger.transfer_in` / `place_hold` would have answered it,
the items run one after the other in the batch's order:

1. Accounts: every account the batch names is opened if missing and read once. The accounts
   kept in their own row (volunteers, funding sources) are locked (`FOR NO KEY UPDATE`) in id
   order, one statement per community, communities in path order: two batches lock in one
   order, so they queue rather than deadlock. System accounts are read for their id only (their
   totals live in slots, store.py), unless the batch debits one that has a limit: that one is
   locked and its slots are summed under the lock, as store.py does.
2. Replays: one SELECT per community of the batch's ids (on PostgreSQL only when the batch is
   run again: its first attempt takes the ids to be new, `look_up`). An id seen before — in the
   database or earlier in this batch — with the same fingerprint is answered with the first
   result; with another fingerprint it is refused (TRANSFER_ID_REUSED).
3. Plan, in memory, in order: the limit check (INSUFFICIENT_POINTS, FUNDING_BUDGET_EXHAUSTED),
   the lots an outflow takes (lots.py's rules: oldest first, a return to a source only from its
   points, SOURCE_POINTS_SHORT), the totals and balances after. Two items on one account see
   each other; a refused item changes nothing.
4. Write: the transfers (linli_runtime.bulk: a COPY on PostgreSQL for many, their seqs drawn
   first), one UPDATE per account, one upsert of one slot per system account, the lots taken,
   the new lots (one per run of like credits to an account) and their uses, the holds, the
   outbox events (one made whole per caller, the others copies of it: `_events`). On
   PostgreSQL all but the lots taken are one statement (`_REST_PG`), the transfers with them
   for a small batch: a group commit of single transfers waits on four round trips (BEGIN, the
   accounts locked, the writes and events, COMMIT).

`Ledger.apply_batch` runs one batch at a time in a process; what needs neither that lock nor
the database is done outside it, while another batch holds it: the fingerprints and a big
batch's credit events before (`credit_payloads`), the answers after (`record`, then `answers`).

Nothing is refused once writing has started, so a batch needs no savepoint per item. A race —
another transaction took one of the ids, a deadlock with a single write — fails a statement;
the caller (`Ledger.run`) then retries the whole batch, which answers those items as replays.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.events.v1 import points_pb2 as events
from linli.events.v1.envelope_pb2 import EventEnvelope
from linli_points.ledger import lots as lotrules
from linli_points.ledger.accounts import (
    ISSUANCE,
    MAY_GO_NEGATIVE,
    VOLUNTEER_PREFIX,
    funding_of,
    issued_from,
    points_short,
    volunteer_of,
)
from linli_points.ledger.earned import add_earned_changes
from linli_points.ledger.model import (
    Hold,
    HoldState,
    Kind,
    Recorded,
    Transfer,
    TransferRequest,
    Written,
    fingerprints,
)
from linli_points.ledger.rows import hold_of, transfer_of
from linli_points.ledger.tables import SLOTS, account_slots, accounts, holds, in_slots, lot_uses, lots, transfers
from linli_runtime.bulk import COPY_FROM, copy_records, insert_records, one_of, pg_micros, reserve_keys
from linli_runtime.errors import AlreadyExists, DomainError
from linli_runtime.events import EventFactory, publish_in
from linli_runtime.events.envelope import new_event_id
from linli_runtime.events.outbox import OUTBOX_INSERT_PG, outbox_arrays, wrote_outbox
from linli_runtime.times import local
from linli_runtime.tracing import stamp

log = logging.getLogger("linli.points.ledger")

T = TypeVar("T")
TOTALS = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
_COLUMNS = (*TOTALS, "earned")  # an account's totals the plan moves
BATCH_KINDS = frozenset({Kind.DIRECT, Kind.PENDING})
# SQLite binds at most 32 766 parameters per statement: longer lists are read in chunks (SQLite
# locks no rows, so the chunks' order does not matter there; PostgreSQL gets one array).
_SQLITE_CHUNK = 10_000


class BatchItem(NamedTuple):
    """A DIRECT transfer or a hold (PENDING, `timeout_seconds` > 0), already validated, and the
    context of the call that asked for it (its events carry that call's request id and trace).
    (The batch's per-item values are NamedTuples or slotted classes: issue 18, a CreateTransfers
    makes ten of them per transfer.)"""

    request: TransferRequest
    context: contextvars.Context | None = None


# What an item comes to: Recorded for a transfer (Written when the caller asked for the lean
# answer), (Hold, created) for a hold, or its refusal.
Outcome = Recorded | Written | tuple[Hold, bool] | DomainError


@dataclass(eq=False, slots=True)
class _Account:
    id: int
    path: str
    name: str
    allow_negative: bool
    locked: bool
    # As read (plus its slots' sums for a locked system account), then as the plan moves them.
    totals: dict[str, int]  # every column of TOTALS and "earned"
    deltas: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COLUMNS, 0))
    # What its name says, worked out once (the plan asks for each transfer): a volunteer's
    # account, the source it issues points from (accounts.issued_from), kept in slots.
    volunteer: bool = field(init=False)
    issuer: str | None = field(init=False)
    slotted: bool = field(init=False)
    # Its lots with points left, oldest first, when the batch takes points out of it.
    lots: list[_Lot] | None = None
    # The newest lot this batch brought into it: the last of its lots in FIFO order (its seq is
    # above every stored lot's), which a later credit of the same kind adds to (`_plan_inflow`).
    newest_lot: _Lot | None = None

    def __post_init__(self) -> None:
        self.volunteer = volunteer_of(self.name) is not None
        self.issuer = issued_from(self.name)
        self.slotted = in_slots(self.name)

    def add(self, column: str, amount: int) -> None:
        self.deltas[column] += amount
        self.totals[column] += amount

    @property
    def posted(self) -> int:
        return self.totals["credits_posted"] - self.totals["debits_posted"]


@dataclass(eq=False, slots=True)
class _Lot:
    source: str
    remaining: int
    seq: int = 0  # 0 until the transfer that brings it is inserted (then `plan.seq`)
    plan: _Plan | None = None  # a lot this batch brings
    origin: lotrules.Origin = lotrules.Origin.ISSUED
    amount: int = 0

    @property
    def lot_seq(self) -> int:
        return self.plan.seq if self.plan is not None else self.seq


@dataclass(eq=False, slots=True)
class _Plan:
    """An item the batch records: everything about it but its seq, known before writing."""

    request: TransferRequest
    fingerprint: str
    debit: _Account
    credit: _Account
    debit_after: int | None
    credit_after: int | None
    context: contextvars.Context | None
    takes: list[tuple[_Lot | None, str, int]] = field(default_factory=list)  # (lot, source, points)
    # The lots it brings (None: none, as for most credits after an account's first of a batch).
    new_lots: list[_Lot] | None = None
    restored: Sequence[tuple[str, int]] = ()  # (source, points) given back
    seq: int = 0


class _Later(NamedTuple):
    """An item answered once the batch is written: the first request for `plan` (created) or
    one repeating it later in the same batch (a replay)."""

    plan: _Plan
    created: bool


class Recording(NamedTuple):
    """What `record` did with each item — a plan it wrote, a repeat of one, or already an
    outcome — to be answered by `answers` once committed."""

    outcomes: list[Outcome | _Plan | _Later]
    now: datetime
    lean: bool


async def apply_batch(
    conn: AsyncConnection, items: Sequence[BatchItem], *, now: datetime, make_event: EventFactory | None,
    known: Mapping[tuple[str, str], dict[str, Any]], seen: dict[tuple[str, str], dict[str, Any]],
    lean: bool = False, look_up: bool = True,
) -> list[Outcome]:
    """Record `items` in the caller's transaction and answer each (`record`, then `answers`)."""
    return answers(await record(conn, items, now=now, make_event=make_event, known=known, seen=seen, lean=lean,
                                look_up=look_up))


async def record(
    conn: AsyncConnection, items: Sequence[BatchItem], *, now: datetime, make_event: EventFactory | None,
    known: Mapping[tuple[str, str], dict[str, Any]], seen: dict[tuple[str, str], dict[str, Any]],
    lean: bool = False, look_up: bool = True, digests: Sequence[str] | None = None,
    credits: Mapping[tuple[int, str], CreditPayloads] | None = None,
) -> Recording:
    """Record `items` in the caller's transaction (see the module's docstring). `known`: system
    accounts' rows read before (never locked, never deleted); the rows this batch reads for the
    first time go into `seen`, for the caller to keep once committed. `lean`: the transfers
    this batch records are answered as `Written` rather than `Recorded` (CreateTransfers).
    `look_up` False: the ids are taken to be new, unread — for a caller that retries the whole
    transaction, with `look_up`, when an id is not (its insert fails on the unique key: a
    race's retry, `Ledger.apply_batch`). `digests`: the items' fingerprints (model.fingerprints),
    `credits` their credits' event payloads (`credit_payloads`), when the caller made them
    before taking its locks."""
    requests = [item.request for item in items]
    assert {r.kind for r in requests} <= BATCH_KINDS
    pg = conn.dialect.name == "postgresql"
    by_path: dict[str, list[TransferRequest]] = {}
    paths = {r.community_path for r in requests}
    if len(paths) == 1:  # nearly every batch (a CreateTransfers always): no list built request by request
        by_path[paths.pop()] = requests
    else:
        for r in requests:
            by_path.setdefault(r.community_path, []).append(r)
    if digests is None:
        digests = fingerprints(requests)
    accounts_of: dict[str, dict[str, _Account]] = {}
    for path in sorted(by_path):  # one order of locks for every batch
        accounts_of[path] = await _accounts(conn, path, by_path[path], known, seen, now, pg)
    found: dict[tuple[str, str], Any] = {}
    for path, of_path in by_path.items() if look_up else ():
        for row in await _rows_by_id(conn, path, [r.transfer_id for r in of_path], pg):
            found[(path, row.transfer_id)] = row
    await _read_lots(conn, items, accounts_of, pg)
    # A bulk batch on PostgreSQL draws its seqs while its plan is made: the statement (10 000
    # nextval, ~9 ms of the server's) runs while Python plans, rather than after. One per item:
    # a refused or repeated one leaves a gap, as a rolled-back transfer does; drawn under the
    # accounts' locks, they still ascend in the order the batches write.
    drawing = (asyncio.ensure_future(reserve_keys(conn, transfers, len(items)))
               if pg and len(items) >= COPY_FROM else None)
    try:
        if drawing is not None:
            await asyncio.sleep(0)  # the statement sent before the plan holds the loop
        outcomes, plans = _plan_all(items, requests, digests, accounts_of, found)
        keys = await drawing if drawing is not None else None
        drawing = None
    finally:
        if drawing is not None:  # the plan failed: its answer read before the connection serves again
            await asyncio.gather(drawing, return_exceptions=True)
    if plans:
        await _write(conn, plans, now, make_event, pg, credits, keys)
    return Recording(outcomes, now, lean)


def _plan_all(items: Sequence[BatchItem], requests: list[TransferRequest], digests: Sequence[str],
              accounts_of: dict[str, dict[str, _Account]], found: dict[tuple[str, str], Any],
              ) -> tuple[list[Outcome | _Plan | _Later], list[_Plan]]:
    """Each item planned in order (`_plan`), answered as a replay or refused; and the plans."""
    # A plan stands for its item until the batch is written (created), a _Later for a repeat.
    outcomes: list[Outcome | _Plan | _Later] = []
    plans: list[_Plan] = []
    recorded: dict[tuple[str, str], _Plan] = {}
    for item, request, fingerprint in zip(items, requests, digests, strict=True):
        key = (request.community_path, request.transfer_id)
        try:
            earlier = recorded.get(key)
            if earlier is not None:
                _check_replay(request, fingerprint, earlier.fingerprint)
                outcomes.append(_Later(earlier, created=False))
                continue
            row = found.get(key)
            if row is not None:
                _check_replay(request, fingerprint, row.fingerprint)
                outcomes.append((hold_of(row), False) if request.kind == Kind.PENDING
                                else Recorded(transfer_of(row), created=False))
                continue
            path_accounts = accounts_of[request.community_path]
            plan = _plan(item, fingerprint, path_accounts[request.debit_account],
                         path_accounts[request.credit_account])
        except DomainError as error:
            outcomes.append(error)
            continue
        plans.append(plan)
        recorded[key] = plan
        outcomes.append(plan)
    return outcomes, plans


def answers(recording: Recording) -> list[Outcome]:
    """Each item's answer, from what `record` did with it: made once the batch is written — by
    `Ledger.apply_batch` once it is committed, outside its lock of one batch at a time."""
    outcomes, now, lean = recording
    answers: list[Outcome] = []
    append, new = answers.append, tuple.__new__
    for outcome in outcomes:
        if type(outcome) is _Plan:
            if lean and outcome.request.kind == Kind.DIRECT:  # `_answer`'s first case, inline: most items
                # Written(…) without its generated __new__'s Python call: 10 000 a call.
                append(new(Written, (outcome.request, outcome.seq, now, True)))
            else:
                append(_answer(outcome, True, now, lean))
        elif type(outcome) is _Later:
            answers.append(_answer(outcome.plan, False, now, lean))
        else:
            answers.append(outcome)  # type: ignore[arg-type]  # (neither: an Outcome)
    return answers


def _answer(plan: _Plan, created: bool, now: datetime, lean: bool) -> Outcome:
    r = plan.request
    if lean and r.kind == Kind.DIRECT:
        return Written(r, plan.seq, now, created)
    transfer = _transfer(plan, now)
    if r.kind == Kind.PENDING:
        expires = now + timedelta(seconds=r.timeout_seconds)
        return Hold(transfer, HoldState.PENDING, expires, None), created
    return Recorded(transfer, created=created)


def _transfer(plan: _Plan, now: datetime) -> Transfer:
    """The transfer `plan` recorded, once written (its seq is known then)."""
    r = plan.request
    return Transfer(
        seq=plan.seq, community_path=r.community_path, transfer_id=r.transfer_id, kind=r.kind,
        debit_account=r.debit_account, credit_account=r.credit_account, amount=r.amount, reason=r.reason,
        source=r.source, related_transfer_id=r.related_transfer_id, debit_balance_after=plan.debit_after,
        credit_balance_after=plan.credit_after, created_at=now)


def _check_replay(request: TransferRequest, fingerprint: str, first: str) -> None:
    if fingerprint != first:
        raise AlreadyExists(
            f"id {request.transfer_id!r} was already used in {request.community_path} for a different request; "
            "choose a new id",
            reason="TRANSFER_ID_REUSED",
            metadata={"transfer_id": request.transfer_id},
        )


# -- reads -------------------------------------------------------------------------------------

def _by_id(pg: bool) -> Any:
    """The stored transfers of a community with the given ids, each with its hold's state.

    On PostgreSQL the function `points_transfers_by_id` (migration p0017, where its plan is
    explained): one probe of the unique index per id, planned at each call. As a statement of its
    own it was prepared once per connection and, from its sixth call, run on a generic plan made
    when the table was small: the (community, related id) index read with a filter on the id,
    the whole community once per id (issue 18: 25 s over the 85 calls of a benchmark run that
    followed single transfers on a new table). On SQLite the expanding IN is probed through the
    unique index."""
    if not pg:
        columns = (*transfers.c, holds.c.state, holds.c.expires_at, holds.c.resolved_at)
        joined = transfers.outerjoin(holds, holds.c.transfer_seq == transfers.c.seq)
        return sa.select(*columns).select_from(joined).where(
            transfers.c.community_path == sa.bindparam("path"),
            transfers.c.transfer_id.in_(sa.bindparam("ids", expanding=True)))
    return sa.text("SELECT * FROM points_transfers_by_id(:path, :ids)").bindparams(
        sa.bindparam("path", type_=sa.Text()), sa.bindparam("ids", type_=postgresql.ARRAY(sa.Text())))


def _statements(pg: bool) -> dict[str, Any]:
    """The batch's statements for one dialect, built once (see store.py on why)."""
    by_name = (sa.select(accounts).where(accounts.c.community_path == sa.bindparam("path"),
                                         one_of(accounts.c.name, "names", pg))
               .order_by(accounts.c.id))
    by_id = _by_id(pg)
    lots_of = one_of(lots.c.account_id, "account_ids", pg, sa.BigInteger)
    slots_of = one_of(account_slots.c.account_id, "account_ids", pg, sa.BigInteger)
    dialect = postgresql if pg else sqlite
    slot_insert = dialect.insert(account_slots)
    return {
        "accounts": by_name,
        "accounts_locked": by_name.with_for_update(key_share=True),
        "open_accounts": dialect.insert(accounts).on_conflict_do_nothing(),
        "by_id": by_id,
        "lots": (sa.select(lots.c.account_id, lots.c.seq, lots.c.source, lots.c.remaining)
                 .where(lots_of, lots.c.remaining > 0)
                 .order_by(lots.c.account_id, lots.c.seq, lots.c.source)),
        "slot_sums": (sa.select(account_slots.c.account_id,
                                *(sa.func.sum(account_slots.c[c]).label(c) for c in TOTALS))
                      .where(slots_of).group_by(account_slots.c.account_id)),
        "update_accounts": accounts.update().where(accounts.c.id == sa.bindparam("account_id")).values(
            {accounts.c[c]: accounts.c[c] + sa.bindparam(f"add_{c}") for c in (*TOTALS, "earned")}),
        "add_to_slots": slot_insert.on_conflict_do_update(
            index_elements=[account_slots.c.account_id, account_slots.c.slot],
            set_={c: account_slots.c[c] + slot_insert.excluded[c] for c in TOTALS}),
        "take_from_lots": lots.update().where(
            lots.c.account_id == sa.bindparam("lot_account_id"), lots.c.seq == sa.bindparam("lot_seq"),
            lots.c.source == sa.bindparam("lot_source")).values(remaining=lots.c.remaining - sa.bindparam("taken")),
    }


_STATEMENTS = {True: _statements(True), False: _statements(False)}


def _chunks(values: list[T], pg: bool) -> Iterable[list[T]]:
    if pg:
        yield values
        return
    for start in range(0, len(values), _SQLITE_CHUNK):
        yield values[start:start + _SQLITE_CHUNK]


async def _accounts(
    conn: AsyncConnection, path: str, requests: list[TransferRequest], known: Mapping[tuple[str, str], dict[str, Any]],
    seen: dict[tuple[str, str], dict[str, Any]], now: datetime, pg: bool,
) -> dict[str, _Account]:
    """The accounts `requests` name (opened when missing), those whose totals the plan reads
    locked in id order."""
    debited = {r.debit_account for r in requests}
    names = debited | {r.credit_account for r in requests}
    # System accounts debited with a limit: read under their row's lock.
    limited = {n for n in debited if in_slots(n) and n not in MAY_GO_NEGATIVE}
    to_lock = sorted(n for n in names if not in_slots(n) or n in limited)
    cached = {n: known[(path, n)] for n in names if n not in limited and (path, n) in known}
    statements = _STATEMENTS[pg]

    async def fetch() -> dict[str, tuple[dict[str, Any], bool]]:
        rows: dict[str, tuple[dict[str, Any], bool]] = {n: (row, False) for n, row in cached.items()}
        unlocked = sorted(n for n in names if n not in cached and n not in to_lock)
        for subset, locked in ((to_lock, True), (unlocked, False)):
            for chunk in _chunks(subset, pg):
                if chunk:
                    query = statements["accounts_locked" if locked else "accounts"]
                    for row in await conn.execute(query, {"path": path, "names": chunk}):
                        rows[row.name] = (dict(row._mapping), locked)
        return rows

    rows = await fetch()
    missing = sorted(names - rows.keys())
    if missing:
        await conn.execute(statements["open_accounts"], [
            {"community_path": path, "name": n, "allow_negative": n in MAY_GO_NEGATIVE, "created_at": now}
            for n in missing])
        rows = await fetch()
    out: dict[str, _Account] = {}
    for name, (row, locked) in rows.items():
        if in_slots(name) and not locked and name not in cached:
            seen[(path, name)] = {**row, "locked": False}  # as store.py's `_lock` caches them
        out[name] = _Account(id=row["id"], path=path, name=name, allow_negative=row["allow_negative"], locked=locked,
                             totals={c: int(row[c]) for c in (*TOTALS, "earned")})
    slot_accounts = [out[n] for n in limited]
    if slot_accounts:
        by_id = {a.id: a for a in slot_accounts}
        for sums in await conn.execute(statements["slot_sums"], {"account_ids": list(by_id)}):
            for c in TOTALS:
                by_id[sums.account_id].totals[c] += int(sums._mapping[c])
    return out


async def _rows_by_id(conn: AsyncConnection, path: str, ids: list[str], pg: bool) -> list[Any]:
    """The stored transfers (with their hold's state, for holds) of `path` with these ids."""
    rows: list[Any] = []
    for chunk in _chunks(sorted(set(ids)), pg):
        rows.extend(await conn.execute(_STATEMENTS[pg]["by_id"], {"path": path, "ids": chunk}))
    return rows


async def _read_lots(conn: AsyncConnection, items: Sequence[BatchItem], accounts_of: dict[str, dict[str, _Account]],
                     pg: bool) -> None:
    """The lots with points left of every volunteer account an item of the batch takes points
    from, oldest first (read under the accounts' locks: lots change only under them)."""
    by_id: dict[int, _Account] = {}
    moves = lotrules.MOVES_POINTS
    # Each account once (a batch names a few hundred over 10 000 items), then whether it is a volunteer's.
    for path, name in {(i.request.community_path, i.request.debit_account) for i in items if i.request.kind in moves}:
        account = accounts_of[path][name]
        if account.volunteer and account.lots is None:
            account.lots = []
            by_id[account.id] = account
    if not by_id:  # credits only (most batches): no round trip for an empty list
        return
    for chunk in _chunks(list(by_id), pg):
        for row in await conn.execute(_STATEMENTS[pg]["lots"], {"account_ids": chunk}):
            lots_of = by_id[row.account_id].lots
            assert lots_of is not None
            lots_of.append(_Lot(source=row.source, remaining=int(row.remaining), seq=row.seq))


# -- the plan ----------------------------------------------------------------------------------

def _plan(item: BatchItem, fingerprint: str, debit: _Account, credit: _Account) -> _Plan:
    """Check one item against the accounts as the items before it left them and move their
    totals and lots in memory; refused (raising) before anything moves."""
    request = item.request
    amount, kind = request.amount, request.kind
    if not debit.allow_negative:
        assert debit.locked, "a limit is checked only on a locked row"
        available = debit.posted - debit.totals["debits_pending"]
        if available < amount:
            raise points_short(request, available)
    # May refuse: nothing has moved yet. (Only out of a volunteer's account: asked here, the
    # call skipped for the rest — most items, credits.)
    takes = _plan_outflow(request, debit) if debit.volunteer else _NO_TAKES
    if kind == Kind.PENDING:
        debit.add("debits_pending", amount)
        credit.add("credits_pending", amount)
    else:
        debit.add("debits_posted", amount)
        credit.add("credits_posted", amount)
        # Points earned: what came from issuance or a funding source, net of what went back.
        if debit.issuer is not None and credit.volunteer:
            credit.add("earned", amount)
        elif credit.issuer is not None and debit.volunteer:
            debit.add("earned", -amount)
    plan = _Plan(request, fingerprint, debit, credit, None if debit.slotted else debit.posted,
                 None if credit.slotted else credit.posted, item.context, takes)
    for lot, _, points in takes:
        if lot is not None:
            lot.remaining -= points
    if credit.volunteer:  # lots come only into a volunteer's account: the call skipped for the rest
        _plan_inflow(plan)
    return plan


_NO_TAKES: list[tuple[_Lot | None, str, int]] = []  # shared, never changed: what most items take


def _plan_outflow(request: TransferRequest, debit: _Account) -> list[tuple[_Lot | None, str, int]]:
    """lots.plan_outflow over the lots in memory: which lots a transfer out of a volunteer's
    account takes, in the order taken (a lot once); None for points beyond the lots."""
    if not debit.volunteer or request.kind not in lotrules.MOVES_POINTS:
        return _NO_TAKES
    assert debit.lots is not None, "read by _read_lots"
    only = funding_of(request.credit_account)
    first = lotrules.UNFUNDED if request.credit_account == ISSUANCE else None
    passes = [only] if only is not None else ([first, None] if first is not None else [None])
    taking: dict[_Lot, int] = {}
    wanted = request.amount
    for source in passes:
        for lot in debit.lots:
            if wanted <= 0:
                break
            if source is not None and lot.source != source:
                continue
            left = lot.remaining - taking.get(lot, 0)
            if left <= 0:
                continue
            points = min(left, wanted)
            taking[lot] = taking.get(lot, 0) + points
            wanted -= points
        if wanted <= 0:
            break
    if wanted > 0 and only is not None:
        raise lotrules.source_points_short(request, only, wanted)
    takes: list[tuple[_Lot | None, str, int]] = [(lot, lot.source, points) for lot, points in taking.items()]
    if wanted > 0:
        log.error("a volunteer's lots fall short of the points leaving the account",
                  extra={"account": request.debit_account, "community": request.community_path, "short": wanted})
        takes.append((None, lotrules.UNFUNDED, wanted))
    return takes


def _plan_inflow(plan: _Plan) -> None:
    """lots.record's lots for a transfer into a volunteer's account: issued, moved along from
    another volunteer, or given back (unfunded: a DIRECT transfer reverses nothing)."""
    request, credit = plan.request, plan.credit
    if not credit.volunteer or request.kind not in lotrules.MOVES_POINTS:
        return
    issuer = plan.debit.issuer
    if issuer is not None:
        newest = credit.newest_lot
        if newest is not None and newest.source == issuer and newest.origin == lotrules.Origin.ISSUED:
            newest.amount += request.amount  # a run of credits (below): the common case, first
            newest.remaining += request.amount
            return
        parts = [(issuer, request.amount)]
        origin = lotrules.Origin.ISSUED
    elif plan.takes:
        totals: dict[str, int] = {}
        for _, source, points in plan.takes:
            totals[source] = totals.get(source, 0) + points
        parts, origin = sorted(totals.items()), lotrules.Origin.MOVED
    else:
        parts, origin = [(lotrules.UNFUNDED, request.amount)], lotrules.Origin.RESTORED
        plan.restored = parts
    for source, points in parts:
        newest = credit.newest_lot
        if newest is not None and newest.source == source and newest.origin == origin and origin in _MERGED:
            # One lot per run of like credits of a batch, not one per credit (issue 18: a lot
            # row and its index entry per credit of a CreateTransfers). Oldest first stays
            # true: it is the account's newest lot, so points taken from it come in the order
            # they would have come from the lots it stands for — same source, same origin, the
            # same instant. It keeps the first credit's seq.
            newest.amount += points
            newest.remaining += points
            continue
        lot = _Lot(source=source, remaining=points, plan=plan, origin=origin, amount=points)
        if plan.new_lots is None:
            plan.new_lots = []
        plan.new_lots.append(lot)
        credit.newest_lot = lot
        if credit.lots is not None:  # the batch takes from this account later: newest last
            credit.lots.append(lot)


# Lots a later credit may add to. Not RESTORED: a refund's uses name its own transfer's lot.
_MERGED = frozenset({lotrules.Origin.ISSUED, lotrules.Origin.MOVED})


# -- writing -----------------------------------------------------------------------------------

_TRANSFER_COLUMNS = (
    "community_path", "transfer_id", "kind", "debit_account_id", "credit_account_id", "debit_account",
    "credit_account", "amount", "reason", "source", "related_transfer_id", "fingerprint", "debit_balance_after",
    "credit_balance_after", "created_at")
_SEQ_AND_TRANSFER_COLUMNS = ("seq", *_TRANSFER_COLUMNS)
_LOT_COLUMNS = ("account_id", "seq", "source", "community_path", "origin", "amount", "remaining")
_USE_COLUMNS = ("transfer_seq", "account_id", "lot_seq", "source", "community_path", "flow", "amount", "restores_seq")
_HOLD_COLUMNS = ("transfer_seq", "community_path", "hold_id", "state", "expires_at", "resolved_at")

# A batch's writes on PostgreSQL as one statement of data-modifying CTEs, each an INSERT from
# arrays (one per column): the transfers (a small batch's; a bulk batch's went by COPY before),
# the accounts' totals, their slots, the earned years, the new lots, the lot uses and the holds.
# One round trip where there were seven: a group commit of single transfers spent most of its
# time waiting on round trips (issue 18). Each is an INSERT … SELECT FROM unnest (with ON
# CONFLICT for what adds up), so no plan has a table to scan or a join to choose — a plan cached
# while the tables were small stays right (p0017 tells what went wrong with one that did). The
# accounts' totals are added by an upsert whose insert never happens: every row it names was
# read and locked by this batch (`_accounts`); as an UPDATE … FROM it would be a join. Rows come
# in key order, as the statements they replace took them. A transfer inserted here has no seq
# yet when its lots, uses and hold are made: they carry its stand-in (`_stand_in`). The batch's
# events go to the outbox in it too (linli_runtime's OUTBOX_INSERT_PG): a round trip fewer.
_REST_PG = sa.text("""
WITH new_transfers AS (
    INSERT INTO points_transfer (community_path, transfer_id, kind, debit_account_id, credit_account_id,
                                 debit_account, credit_account, amount, reason, source, related_transfer_id,
                                 fingerprint, debit_balance_after, credit_balance_after, created_at)
    SELECT t.community_path, t.transfer_id, t.kind, t.debit_account_id, t.credit_account_id, t.debit_account,
           t.credit_account, t.amount, t.reason, t.source, t.related_transfer_id, t.fingerprint,
           t.debit_balance_after, t.credit_balance_after, t.created_at
    FROM unnest(CAST(:t_community_path AS text[]), CAST(:t_transfer_id AS text[]), CAST(:t_kind AS smallint[]),
                CAST(:t_debit_account_id AS bigint[]), CAST(:t_credit_account_id AS bigint[]),
                CAST(:t_debit_account AS text[]), CAST(:t_credit_account AS text[]), CAST(:t_amount AS bigint[]),
                CAST(:t_reason AS text[]), CAST(:t_source AS text[]), CAST(:t_related_transfer_id AS text[]),
                CAST(:t_fingerprint AS text[]), CAST(:t_debit_balance_after AS bigint[]),
                CAST(:t_credit_balance_after AS bigint[]), CAST(:t_created_at AS timestamptz[]))
         WITH ORDINALITY AS t(community_path, transfer_id, kind, debit_account_id, credit_account_id, debit_account,
                              credit_account, amount, reason, source, related_transfer_id, fingerprint,
                              debit_balance_after, credit_balance_after, created_at, n)
    ORDER BY t.n
    RETURNING seq
), seqs AS (  -- inserted in the arrays' order, so their seqs ascend in it (as in linli_runtime.bulk)
    SELECT seq, row_number() OVER (ORDER BY seq) AS n FROM new_transfers
), account_totals AS (
    INSERT INTO points_account AS a (id, community_path, name, allow_negative, created_at, debits_posted,
                                     credits_posted, debits_pending, credits_pending, earned)
    SELECT * FROM unnest(CAST(:a_id AS bigint[]), CAST(:a_path AS text[]), CAST(:a_name AS text[]),
                         CAST(:a_negative AS boolean[]), CAST(:a_at AS timestamptz[]), CAST(:a_dp AS bigint[]),
                         CAST(:a_cp AS bigint[]), CAST(:a_dn AS bigint[]), CAST(:a_cn AS bigint[]),
                         CAST(:a_earned AS bigint[]))
    ON CONFLICT (id) DO UPDATE SET
        debits_posted = a.debits_posted + excluded.debits_posted,
        credits_posted = a.credits_posted + excluded.credits_posted,
        debits_pending = a.debits_pending + excluded.debits_pending,
        credits_pending = a.credits_pending + excluded.credits_pending,
        earned = a.earned + excluded.earned
), slot_totals AS (
    INSERT INTO points_account_slot AS s (account_id, slot, debits_posted, credits_posted, debits_pending,
                                          credits_pending)
    SELECT * FROM unnest(CAST(:s_id AS bigint[]), CAST(:s_slot AS smallint[]), CAST(:s_dp AS bigint[]),
                         CAST(:s_cp AS bigint[]), CAST(:s_dn AS bigint[]), CAST(:s_cn AS bigint[]))
    ON CONFLICT (account_id, slot) DO UPDATE SET
        debits_posted = s.debits_posted + excluded.debits_posted,
        credits_posted = s.credits_posted + excluded.credits_posted,
        debits_pending = s.debits_pending + excluded.debits_pending,
        credits_pending = s.credits_pending + excluded.credits_pending
), earned_years AS (
    INSERT INTO points_earned_year AS e (account_id, year, earned, community_path)
    SELECT * FROM unnest(CAST(:e_id AS bigint[]), CAST(:e_year AS smallint[]), CAST(:e_earned AS bigint[]),
                         CAST(:e_path AS text[]))
    ON CONFLICT (account_id, year) DO UPDATE SET earned = e.earned + excluded.earned
), new_lots AS (
    INSERT INTO points_lot (account_id, seq, source, community_path, origin, amount, remaining)
    SELECT l.id, COALESCE((SELECT seq FROM seqs WHERE seqs.n = -l.seq - 1), l.seq), l.source, l.path, l.origin,
           l.amount, l.remaining
    FROM unnest(CAST(:l_id AS bigint[]), CAST(:l_seq AS bigint[]), CAST(:l_source AS text[]),
                CAST(:l_path AS text[]), CAST(:l_origin AS smallint[]), CAST(:l_amount AS bigint[]),
                CAST(:l_remaining AS bigint[])) AS l(id, seq, source, path, origin, amount, remaining)
), new_uses AS (
    INSERT INTO points_lot_use (transfer_seq, account_id, lot_seq, source, community_path, flow, amount,
                                restores_seq)
    SELECT COALESCE((SELECT seq FROM seqs WHERE seqs.n = -u.seq - 1), u.seq), u.id,
           COALESCE((SELECT seq FROM seqs WHERE seqs.n = -u.lot_seq - 1), u.lot_seq), u.source, u.path, u.flow,
           u.amount, u.restores
    FROM unnest(CAST(:u_seq AS bigint[]), CAST(:u_id AS bigint[]), CAST(:u_lot_seq AS bigint[]),
                CAST(:u_source AS text[]), CAST(:u_path AS text[]), CAST(:u_flow AS smallint[]),
                CAST(:u_amount AS bigint[]), CAST(:u_restores AS bigint[]))
         AS u(seq, id, lot_seq, source, path, flow, amount, restores)
), new_holds AS (
    INSERT INTO points_hold (transfer_seq, community_path, hold_id, state, expires_at, resolved_at)
    SELECT COALESCE((SELECT seq FROM seqs WHERE seqs.n = -h.seq - 1), h.seq), h.path, h.id, h.state, h.expires,
           h.resolved
    FROM unnest(CAST(:h_seq AS bigint[]), CAST(:h_path AS text[]), CAST(:h_id AS text[]),
                CAST(:h_state AS smallint[]), CAST(:h_expires AS timestamptz[]),
                CAST(:h_resolved AS timestamptz[])) AS h(seq, path, id, state, expires, resolved)
), new_events AS (
""" + OUTBOX_INSERT_PG + """
)
SELECT seq FROM seqs ORDER BY n
""")


def _stand_in(position: int) -> int:
    """The seq a plan carries until `_REST_PG` has inserted its transfer: −(1 + its position in
    the batch, from 1), which the statement replaces by the seq (−seq − 1 = position). Below
    lots.SHORTFALL (−1), the one negative seq stored, which maps to position 0: none."""
    return -(1 + position)


def _columns(prefix: str, names: Sequence[str], records: Sequence[Sequence[Any]]) -> dict[str, list[Any]]:
    """`records`' values as one list per column, named `{prefix}_{name}` (empty lists for none)."""
    by_column = list(zip(*records, strict=True)) if records else [() for _ in names]
    return {f"{prefix}_{name}": list(values) for name, values in zip(names, by_column, strict=True)}


async def _write_rest_pg(conn: AsyncConnection, records: list[tuple[Any, ...]], in_rows: list[_Account],
                         in_slots_: list[_Account], slot_of: dict[int, int], earned: list[dict[str, int | str]],
                         new_lots: list[tuple[Any, ...]], uses: list[tuple[Any, ...]], held: list[tuple[Any, ...]],
                         envelopes: list[EventEnvelope], now: datetime) -> list[int]:
    """`_REST_PG`, with the transfers `records` (none when inserted already); lots, uses and holds
    by COPY instead from `COPY_FROM` rows of a batch whose seqs are known (a bulk batch); the
    events `envelopes` to the outbox. Returns the seqs of `records`, in their order."""
    params: dict[str, list[Any]] = _columns("t", _SEQ_AND_TRANSFER_COLUMNS, records)
    del params["t_seq"]  # a stand-in: the statement draws the seqs
    params.update(outbox_arrays(envelopes))
    params.update(_columns("a", ("id", "path", "name", "negative", "at", "dp", "cp", "dn", "cn", "earned"), [
        (a.id, a.path, a.name, a.allow_negative, now, *(a.deltas.get(c, 0) for c in (*TOTALS, "earned")))
        for a in in_rows]))
    params.update(_columns("s", ("id", "slot", "dp", "cp", "dn", "cn"), [
        (a.id, slot_of[a.id], *(a.deltas.get(c, 0) for c in TOTALS)) for a in in_slots_]))
    params.update(_columns("e", ("id", "year", "earned", "path"),
                           [(e["account_id"], e["year"], e["earned"], e["community_path"]) for e in earned]))
    for prefix, names, rows, table, columns in (
            ("l", ("id", "seq", "source", "path", "origin", "amount", "remaining"), new_lots, lots, _LOT_COLUMNS),
            ("u", ("seq", "id", "lot_seq", "source", "path", "flow", "amount", "restores"), uses, lot_uses,
             _USE_COLUMNS),
            ("h", ("seq", "path", "id", "state", "expires", "resolved"), held, holds, _HOLD_COLUMNS)):
        if len(rows) >= COPY_FROM and not records:
            await insert_records(conn, table, columns, rows)
            rows = []
        params.update(_columns(prefix, names, rows))
    return list((await conn.execute(_REST_PG, params)).scalars())


async def _write(conn: AsyncConnection, plans: list[_Plan], now: datetime, make_event: EventFactory | None,
                 pg: bool, ready: Mapping[tuple[int, str], CreditPayloads] | None = None,
                 keys: list[int] | None = None) -> None:
    """Write what the plans recorded: a few statements, however many plans (on PostgreSQL the
    transfers, the lots taken, then the rest in one: `_REST_PG`). `keys`: seqs drawn already,
    at least one per plan, ascending."""
    statements = _STATEMENTS[pg]
    # A small batch on PostgreSQL (a group commit) inserts its transfers in `_REST_PG` with the
    # rest: one round trip fewer. Until then each plan's seq is its stand-in (`_stand_in`).
    # A bigger one draws its seqs first and writes its transfers with them, by COPY on
    # PostgreSQL, the batch's instant sent as the int it is on the wire (bulk.pg_micros).
    inline = pg and len(plans) < COPY_FROM
    if inline:
        for position, plan in enumerate(plans, start=1):
            plan.seq = _stand_in(position)
    else:
        if keys is None:
            keys = await reserve_keys(conn, transfers, len(plans))
        assert len(keys) >= len(plans)
        for plan, seq in zip(plans, keys, strict=False):  # (more keys than plans: gaps left)
            plan.seq = seq
    created = pg_micros(now) if pg and not inline else now
    records = []
    touched: dict[int, _Account] = {}
    for p in plans:
        path, tid, debit_name, credit_name, amount, kind, reason, source, related, _ = p.request
        debit, credit = p.debit, p.credit
        records.append((p.seq, path, tid, int(kind), debit.id, credit.id, debit_name, credit_name, amount, reason,
                        source, related, p.fingerprint, p.debit_after, p.credit_after, created))
        touched[debit.id] = debit
        touched[credit.id] = credit
    if not inline:
        if pg:
            await copy_records(conn, transfers, _SEQ_AND_TRANSFER_COLUMNS, records, micros=("created_at",))
        else:
            await insert_records(conn, transfers, _SEQ_AND_TRANSFER_COLUMNS, records)
    in_order = [a for _, a in sorted(touched.items()) if any(a.deltas.values())]
    in_rows = [a for a in in_order if not a.slotted]
    # One slot per system account and batch, picked at random (store.py: why slots).
    in_slots_ = [a for a in in_order if a.slotted]
    slot_of = {a.id: random.randrange(SLOTS) for a in in_slots_}
    # Points earned, per account and year: the plans' `earned` deltas are earned.py's rule summed
    # (`_plan`, hold_posting's `_plan_post`), in key order as earned_changes gives them.
    year = local(now).year
    earned: list[dict[str, int | str]] = [
        {"account_id": a.id, "year": year, "earned": a.deltas["earned"], "community_path": a.path}
        for a in in_rows if a.deltas.get("earned")]
    if not pg:
        await add_earned_changes(conn, earned)
        if in_rows:
            await conn.execute(statements["update_accounts"], [
                {"account_id": a.id, **{f"add_{c}": a.deltas.get(c, 0) for c in (*TOTALS, "earned")}}
                for a in in_rows])
        if in_slots_:
            await conn.execute(statements["add_to_slots"], [
                {"account_id": a.id, "slot": slot_of[a.id], **{c: a.deltas.get(c, 0) for c in TOTALS}}
                for a in in_slots_])

    taken: dict[tuple[int, int, str], int] = {}
    uses: list[tuple[Any, ...]] = []
    new_lots: list[tuple[Any, ...]] = []
    for p in plans:
        r = p.request
        if p.takes:
            flow = int(lotrules.flow_to(r.credit_account))
            for lot, source, points in p.takes:
                if lot is not None and lot.plan is None:  # a lot read from the database
                    key = (p.debit.id, lot.seq, lot.source)
                    taken[key] = taken.get(key, 0) + points
                uses.append((p.seq, p.debit.id, lot.lot_seq if lot is not None else lotrules.SHORTFALL, source,
                             r.community_path, flow, points, None))
        if p.new_lots is not None:
            for lot in p.new_lots:
                new_lots.append((p.credit.id, p.seq, lot.source, r.community_path, int(lot.origin), lot.amount,
                                 lot.remaining))
        if p.restored:
            flow = int(lotrules.flow_from(r.debit_account))
            uses.extend((p.seq, p.credit.id, p.seq, source, r.community_path, flow, -points, None)
                        for source, points in p.restored)
    if taken:
        await conn.execute(statements["take_from_lots"], [
            {"lot_account_id": account_id, "lot_seq": seq, "lot_source": source, "taken": points}
            for (account_id, seq, source), points in sorted(taken.items())])
    held = [(p.seq, p.request.community_path, p.request.transfer_id, int(HoldState.PENDING),
             now + timedelta(seconds=p.request.timeout_seconds), None) for p in plans if p.request.kind == Kind.PENDING]
    envelopes = _events(plans, make_event, ready or {}) if make_event is not None else []
    if pg:
        # One round trip for the rest, the events with it (a group commit of single transfers
        # waited on each).
        seqs = await _write_rest_pg(conn, records if inline else [], in_rows, in_slots_, slot_of,
                                    earned, new_lots, uses, held, envelopes, now)
        for plan, seq in zip(plans if inline else (), seqs, strict=True):
            plan.seq = seq
        if envelopes:
            wrote_outbox(conn)
    else:
        await insert_records(conn, lots, _LOT_COLUMNS, new_lots)
        await insert_records(conn, lot_uses, _USE_COLUMNS, uses)
        await insert_records(conn, holds, _HOLD_COLUMNS, held)
        if envelopes:
            await publish_in(conn, *envelopes)


# The most credits one `points.points.credited_batch` event carries: ~150 bytes each, well under
# NATS's 1 MB payload.
CREDITS_PER_EVENT = 1_000


def _events(plans: list[_Plan], make_event: EventFactory,
            ready: Mapping[tuple[int, str], CreditPayloads]) -> list[EventEnvelope]:
    """The events the items cause: a hold each, and the credits of each (caller's context,
    community) as one `points.points.credited` when it is the only one, else as
    `points.points.credited_batch` events of at most CREDITS_PER_EVENT (issue 18: an event per
    credit, and the relay publishing it, was a third of a bulk batch's Python time; nothing in
    the platform consumes them one by one). The first envelope of each (context, subject,
    community) is made by `make_event` in that context (its time, request id, source and trace
    context); the others are copies of it with their own id and payload — what `make_event`
    would have made for them in that same context, at the batch's one instant. `ready`: payloads
    made before (`credit_payloads`)."""
    made: dict[tuple[int, str, str], EventEnvelope] = {}
    envelopes: list[EventEnvelope] = []
    credits: dict[tuple[int, str], list[_Plan]] = {}
    for plan in plans:
        if plan.request.kind == Kind.PENDING:
            _add_event(envelopes, made, plan, "points.hold.placed", _hold_placed(plan.request), make_event)
            continue
        if plan.debit.issuer is not None and plan.credit.volunteer:  # `_credited`, from the accounts
            credits.setdefault((id(plan.context), plan.request.community_path), []).append(plan)
    for key, group in credits.items():
        if len(group) == 1:
            credited = _credited(group[0].request)
            assert credited is not None
            _add_event(envelopes, made, group[0], "points.points.credited", events.PointsCredited(**credited),
                       make_event)
            continue
        made_before = ready.get(key)
        if made_before is not None and not _same_requests(made_before.requests, group):
            made_before = None  # some were refused or replayed: made again for those recorded
        payloads = (made_before.payloads if made_before is not None else
                    _credited_batches([p.request for p in group], [p.debit.issuer or "" for p in group]))
        for start, payload in zip(range(0, len(group), CREDITS_PER_EVENT), payloads, strict=True):
            _add_event(envelopes, made, group[start], "points.points.credited_batch", payload, make_event)
    return envelopes


class CreditPayloads(NamedTuple):
    """A group's `points.points.credited_batch` payloads made before the batch ran, on the guess
    that every one of its credits is recorded (`credit_payloads`), and the requests they are of."""

    requests: list[TransferRequest]
    payloads: list[events.PointsCreditedBatch]


async def credit_payloads(items: Sequence[BatchItem]) -> dict[tuple[int, str], CreditPayloads]:
    """The `points.points.credited_batch` payloads of the items' credits (by caller's context and
    community, as `_events` groups them), made before the batch takes its lock of one batch at a
    time (`Ledger.apply_batch`): each credit's item made field by field is ~1 µs, 10 000 a
    CreateTransfers. `_events` uses them when every credit of the group was recorded, as
    nearly always; otherwise it makes them again for the ones that were. Yields to the event
    loop between payloads (~1 ms each): the batch inside the lock, waiting on PostgreSQL, goes
    on when its answer comes rather than once all of them are made."""
    groups: dict[tuple[int, str], tuple[list[TransferRequest], list[str]]] = {}
    issuers: dict[str, str | None] = {}
    volunteers: dict[str, bool] = {}
    for item in items:
        r = item.request
        if r.kind != Kind.DIRECT:
            continue
        issuer = issuers.get(r.debit_account, "?")
        if issuer == "?":  # ("?" never names a source: ids are validated)
            issuer = issuers[r.debit_account] = issued_from(r.debit_account)
        volunteer = volunteers.get(r.credit_account)
        if volunteer is None:
            volunteer = volunteers[r.credit_account] = volunteer_of(r.credit_account) is not None
        if issuer is None or not volunteer:
            continue
        requests, sources = groups.setdefault((id(item.context), r.community_path), ([], []))
        requests.append(r)
        sources.append(issuer)
    made: dict[tuple[int, str], CreditPayloads] = {}
    for key, (requests, sources) in groups.items():
        if len(requests) > 1:
            payloads = []
            for start in range(0, len(requests), CREDITS_PER_EVENT):
                await asyncio.sleep(0)
                payloads.extend(_credited_batches(requests[start:start + CREDITS_PER_EVENT],
                                                  sources[start:start + CREDITS_PER_EVENT]))
            made[key] = CreditPayloads(requests, payloads)
    return made


def _same_requests(requests: list[TransferRequest], group: list[_Plan]) -> bool:
    return len(requests) == len(group) and all(r is p.request for r, p in zip(requests, group, strict=True))


def _credited_batches(requests: list[TransferRequest], sources: list[str]) -> list[events.PointsCreditedBatch]:
    """The payloads of credits `requests` (issued from funding sources `sources`, "" for
    system/issuance), CREDITS_PER_EVENT a payload."""
    cut = len(VOLUNTEER_PREFIX)
    payloads = []
    for start in range(0, len(requests), CREDITS_PER_EVENT):
        payload = events.PointsCreditedBatch()
        add = payload.items.add  # each credit made in place, not made then copied in
        # Field by field, the empty ones left alone (a third cheaper than keywords).
        for r, source in zip(requests[start:start + CREDITS_PER_EVENT], sources[start:start + CREDITS_PER_EVENT],
                             strict=True):
            credit = add()
            credit.transfer_id = r.transfer_id
            credit.community_path = r.community_path
            credit.volunteer_id = r.credit_account[cut:]
            credit.points = r.amount
            if r.reason:
                credit.reason = r.reason
            if r.source:
                credit.source = r.source
            if source:
                credit.funding_source = source
        payloads.append(payload)
    return payloads


def _add_event(envelopes: list[EventEnvelope], made: dict[tuple[int, str, str], EventEnvelope], plan: _Plan,
               subject: str, payload: Any, make_event: EventFactory) -> None:
    key = (id(plan.context), subject, plan.request.community_path)
    first = made.get(key)
    if first is None:
        made[key] = envelope = _made(plan, subject, payload, make_event)
    else:
        envelope = EventEnvelope()
        envelope.CopyFrom(first)
        envelope.event_id = new_event_id()
        envelope.payload.Pack(payload)
    envelopes.append(envelope)


def _hold_placed(r: TransferRequest) -> events.PointsHoldChanged:
    return events.PointsHoldChanged(
        hold_id=r.transfer_id, community_path=r.community_path, debit_account=r.debit_account,
        credit_account=r.credit_account, amount=r.amount, state=events.POINTS_HOLD_STATE_PENDING,
        reason=r.reason, source=r.source)


def _credited(r: TransferRequest) -> dict[str, Any] | None:
    """What a DIRECT transfer of issued points to a volunteer tells the platform (the fields of a
    `PointsCredited`); None otherwise."""
    source = issued_from(r.debit_account)
    volunteer = volunteer_of(r.credit_account)
    if source is None or volunteer is None:
        return None
    return {"transfer_id": r.transfer_id, "community_path": r.community_path, "volunteer_id": volunteer,
            "points": r.amount, "reason": r.reason, "source": r.source, "funding_source": source}


def _made(plan: _Plan, subject: str, payload: Any, make_event: EventFactory) -> EventEnvelope:
    """An envelope made (and given its trace context) in its caller's context."""
    def made() -> EventEnvelope:
        envelope = make_event(subject, payload, plan.request.community_path)
        stamp(envelope)
        return envelope

    return plan.context.run(made) if plan.context is not None else made()
