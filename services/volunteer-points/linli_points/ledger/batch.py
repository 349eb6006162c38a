"""A batch of transfers and holds applied set-oriented: a dozen multi-row statements for the
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
2. Replays: one SELECT per community of the batch's ids. An id seen before — in the database
   or earlier in this batch — with the same fingerprint is answered with the first result; with
   another fingerprint it is refused (TRANSFER_ID_REUSED).
3. Plan, in memory, in order: the limit check (INSUFFICIENT_POINTS, FUNDING_BUDGET_EXHAUSTED),
   the lots an outflow takes (lots.py's rules: oldest first, a return to a source only from its
   points, SOURCE_POINTS_SHORT), the totals and balances after. Two items on one account see
   each other; a refused item changes nothing.
4. Write: the transfers (linli_runtime.bulk: a COPY on PostgreSQL for many, their seqs drawn
   first), one UPDATE per account, one upsert of one slot per system account, the lots taken,
   the new lots and their uses, the holds, the outbox events (one made whole per caller, the
   others copies of it: `_events`).

Nothing is refused once writing has started, so a batch needs no savepoint per item. A race —
another transaction took one of the ids, a deadlock with a single write — fails a statement;
the caller (`Ledger.run`) then retries the whole batch, which answers those items as replays.
"""

from __future__ import annotations

import contextvars
import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.events.v1 import points_pb2 as events
from linli.events.v1.envelope_pb2 import EventEnvelope
from linli_points.ledger import lots as lotrules
from linli_points.ledger.accounts import ISSUANCE, MAY_GO_NEGATIVE, funding_of, issued_from, points_short, volunteer_of
from linli_points.ledger.earned import add_earned
from linli_points.ledger.model import Hold, HoldState, Kind, Recorded, Transfer, TransferRequest
from linli_points.ledger.rows import hold_of, transfer_of
from linli_points.ledger.tables import SLOTS, account_slots, accounts, holds, in_slots, lot_uses, lots, transfers
from linli_runtime.bulk import insert_records, insert_records_returning_keys, insert_rows, one_of
from linli_runtime.errors import AlreadyExists, DomainError
from linli_runtime.events import EventFactory, publish_in
from linli_runtime.events.envelope import new_event_id
from linli_runtime.tracing import stamp

log = logging.getLogger("linli.points.ledger")

T = TypeVar("T")
TOTALS = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
BATCH_KINDS = frozenset({Kind.DIRECT, Kind.PENDING})
# SQLite binds at most 32 766 parameters per statement: longer lists are read in chunks (SQLite
# locks no rows, so the chunks' order does not matter there; PostgreSQL gets one array).
_SQLITE_CHUNK = 10_000


@dataclass(frozen=True)
class BatchItem:
    """A DIRECT transfer or a hold (PENDING, `timeout_seconds` > 0), already validated, and the
    context of the call that asked for it (its events carry that call's request id and trace)."""

    request: TransferRequest
    context: contextvars.Context | None = None


# What an item comes to: Recorded for a transfer, (Hold, created) for a hold, or its refusal.
Outcome = Recorded | tuple[Hold, bool] | DomainError


@dataclass(eq=False)
class _Account:
    id: int
    name: str
    allow_negative: bool
    locked: bool
    # As read (plus its slots' sums for a locked system account), then as the plan moves them.
    totals: dict[str, int]
    deltas: dict[str, int] = field(default_factory=dict)
    # Its lots with points left, oldest first, when the batch takes points out of it.
    lots: list[_Lot] | None = None

    def add(self, column: str, amount: int) -> None:
        self.deltas[column] = self.deltas.get(column, 0) + amount
        self.totals[column] = self.totals.get(column, 0) + amount

    @property
    def posted(self) -> int:
        return self.totals["credits_posted"] - self.totals["debits_posted"]


@dataclass(eq=False)
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


@dataclass(eq=False)
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
    new_lots: list[_Lot] = field(default_factory=list)
    restored: list[tuple[str, int]] = field(default_factory=list)  # (source, points) given back
    seq: int = 0
    transfer: Transfer | None = None


@dataclass(frozen=True)
class _Later:
    """An item answered once the batch is written: the first request for `plan` (created) or
    one repeating it later in the same batch (a replay)."""

    plan: _Plan
    created: bool


async def apply_batch(
    conn: AsyncConnection, items: Sequence[BatchItem], *, now: datetime, make_event: EventFactory | None,
    known: Mapping[tuple[str, str], dict[str, Any]], seen: dict[tuple[str, str], dict[str, Any]],
) -> list[Outcome]:
    """Record `items` in the caller's transaction (see the module's docstring). `known`: system
    accounts' rows read before (never locked, never deleted); the rows this batch reads for the
    first time go into `seen`, for the caller to keep once committed."""
    assert all(item.request.kind in BATCH_KINDS for item in items)
    pg = conn.dialect.name == "postgresql"
    by_path: dict[str, list[TransferRequest]] = {}
    for item in items:
        by_path.setdefault(item.request.community_path, []).append(item.request)
    accounts_of: dict[str, dict[str, _Account]] = {}
    for path in sorted(by_path):  # one order of locks for every batch
        accounts_of[path] = await _accounts(conn, path, by_path[path], known, seen, now, pg)
    found: dict[tuple[str, str], Any] = {}
    for path, requests in by_path.items():
        for row in await _rows_by_id(conn, path, [r.transfer_id for r in requests], pg):
            found[(path, row.transfer_id)] = row
    await _read_lots(conn, items, accounts_of, pg)

    outcomes: list[Outcome | _Later] = []
    plans: list[_Plan] = []
    recorded: dict[tuple[str, str], _Plan] = {}
    for item in items:
        request = item.request
        fingerprint = request.fingerprint()
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
        outcomes.append(_Later(plan, created=True))
    if plans:
        await _write(conn, plans, now, make_event, pg)
    return [_answer(outcome) for outcome in outcomes]


def _answer(outcome: Outcome | _Later) -> Outcome:
    if not isinstance(outcome, _Later):
        return outcome
    plan = outcome.plan
    assert plan.transfer is not None
    if plan.request.kind == Kind.PENDING:
        expires = plan.transfer.created_at + timedelta(seconds=plan.request.timeout_seconds)
        return Hold(plan.transfer, HoldState.PENDING, expires, None), outcome.created
    return Recorded(plan.transfer, created=outcome.created)


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

    On PostgreSQL one index probe per id (a LATERAL subquery per element of the ids' array):
    `transfer_id = ANY(ids)` let the planner read every transfer of the community through the
    (community, created_at) index and test each against the whole array — measured, 918 ms for a
    batch of 1 000 ids in a community of 30 000 transfers, growing with the community's history
    (issue 18). The community is compared with `(SELECT :path)`, a value the planner sees only
    when running the plan: it cannot estimate a community the statistics do not know yet (a
    community's first bulk load, before ANALYZE) at one row and probe the (community,
    created_at) index with a filter on the id — 323 ms for 1 000 ids among 30 000 transfers,
    against 6 ms through the unique index, which with both its columns bound is one row whatever
    the statistics say. On SQLite the expanding IN is probed through the unique index."""
    columns = (*transfers.c, holds.c.state, holds.c.expires_at, holds.c.resolved_at)
    joined = transfers.outerjoin(holds, holds.c.transfer_seq == transfers.c.seq)
    if not pg:
        return sa.select(*columns).select_from(joined).where(
            transfers.c.community_path == sa.bindparam("path"),
            transfers.c.transfer_id.in_(sa.bindparam("ids", expanding=True)))
    in_path = transfers.c.community_path == sa.select(sa.bindparam("path", type_=sa.String())).scalar_subquery()
    wanted = (sa.func.unnest(sa.bindparam("ids", type_=postgresql.ARRAY(sa.String())))
              .table_valued("id").render_derived(name="wanted"))
    # LIMIT 1 (an id is unique in its community) keeps the planner from flattening the subquery
    # into a join it could again answer by scanning the community.
    found = (sa.select(*columns).select_from(joined).where(in_path, transfers.c.transfer_id == wanted.c.id)
             .limit(1).lateral("found"))
    return sa.select(found).select_from(wanted).join(found, sa.true())


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
    names: set[str] = set()
    limited: set[str] = set()  # system accounts debited with a limit: read under their row's lock
    for r in requests:
        names.add(r.debit_account)
        names.add(r.credit_account)
        if in_slots(r.debit_account) and r.debit_account not in MAY_GO_NEGATIVE:
            limited.add(r.debit_account)
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
        out[name] = _Account(id=row["id"], name=name, allow_negative=row["allow_negative"], locked=locked,
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
    for item in items:
        r = item.request
        if r.kind in lotrules.MOVES_POINTS and volunteer_of(r.debit_account) is not None:
            account = accounts_of[r.community_path][r.debit_account]
            if account.lots is None:
                account.lots = []
                by_id[account.id] = account
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
    takes = _plan_outflow(request, debit)  # may refuse: nothing has moved yet
    if kind == Kind.PENDING:
        debit.add("debits_pending", amount)
        credit.add("credits_pending", amount)
    else:
        debit.add("debits_posted", amount)
        credit.add("credits_posted", amount)
        # Points earned: what came from issuance or a funding source, net of what went back.
        if issued_from(request.debit_account) is not None and volunteer_of(request.credit_account) is not None:
            credit.add("earned", amount)
        elif issued_from(request.credit_account) is not None and volunteer_of(request.debit_account) is not None:
            debit.add("earned", -amount)
    plan = _Plan(request=request, fingerprint=fingerprint, debit=debit, credit=credit,
                 debit_after=None if in_slots(debit.name) else debit.posted,
                 credit_after=None if in_slots(credit.name) else credit.posted,
                 context=item.context, takes=takes)
    for lot, _, points in takes:
        if lot is not None:
            lot.remaining -= points
    _plan_inflow(plan)
    return plan


def _plan_outflow(request: TransferRequest, debit: _Account) -> list[tuple[_Lot | None, str, int]]:
    """lots.plan_outflow over the lots in memory: which lots a transfer out of a volunteer's
    account takes, in the order taken (a lot once); None for points beyond the lots."""
    if request.kind not in lotrules.MOVES_POINTS or volunteer_of(request.debit_account) is None:
        return []
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
    request = plan.request
    if request.kind not in lotrules.MOVES_POINTS or volunteer_of(request.credit_account) is None:
        return
    issuer = issued_from(request.debit_account)
    if issuer is not None:
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
        lot = _Lot(source=source, remaining=points, plan=plan, origin=origin, amount=points)
        plan.new_lots.append(lot)
        if plan.credit.lots is not None:  # the batch takes from this account later: newest last
            plan.credit.lots.append(lot)


# -- writing -----------------------------------------------------------------------------------

_TRANSFER_COLUMNS = (
    "community_path", "transfer_id", "kind", "debit_account_id", "credit_account_id", "debit_account",
    "credit_account", "amount", "reason", "source", "related_transfer_id", "fingerprint", "debit_balance_after",
    "credit_balance_after", "created_at")
_LOT_COLUMNS = ("account_id", "seq", "source", "community_path", "origin", "amount", "remaining")
_USE_COLUMNS = ("transfer_seq", "account_id", "lot_seq", "source", "community_path", "flow", "amount", "restores_seq")


async def _write(conn: AsyncConnection, plans: list[_Plan], now: datetime, make_event: EventFactory | None,
                 pg: bool) -> None:
    """Write what the plans recorded: a dozen statements, however many plans."""
    statements = _STATEMENTS[pg]
    seqs = await insert_records_returning_keys(conn, transfers, _TRANSFER_COLUMNS, [(
        p.request.community_path, p.request.transfer_id, int(p.request.kind), p.debit.id, p.credit.id,
        p.request.debit_account, p.request.credit_account, p.request.amount, p.request.reason, p.request.source,
        p.request.related_transfer_id, p.fingerprint, p.debit_after, p.credit_after, now) for p in plans])
    for plan, seq in zip(plans, seqs, strict=True):
        r = plan.request
        plan.seq = seq
        plan.transfer = Transfer(
            seq=seq, community_path=r.community_path, transfer_id=r.transfer_id, kind=r.kind,
            debit_account=r.debit_account, credit_account=r.credit_account, amount=r.amount, reason=r.reason,
            source=r.source, related_transfer_id=r.related_transfer_id, debit_balance_after=plan.debit_after,
            credit_balance_after=plan.credit_after, created_at=now)
    await add_earned(conn, ((p.request.community_path, p.request.kind, p.request.debit_account,
                             p.request.credit_account, p.debit.id, p.credit.id, p.request.amount) for p in plans), now)

    touched: dict[int, _Account] = {}
    for p in plans:
        touched[p.debit.id] = p.debit
        touched[p.credit.id] = p.credit
    in_rows = [a for _, a in sorted(touched.items()) if not in_slots(a.name) and any(a.deltas.values())]
    if in_rows:
        await conn.execute(statements["update_accounts"], [
            {"account_id": a.id, **{f"add_{c}": a.deltas.get(c, 0) for c in (*TOTALS, "earned")}} for a in in_rows])
    # One slot per system account and batch, picked at random (store.py: why slots).
    in_slots_ = [a for _, a in sorted(touched.items()) if in_slots(a.name) and any(a.deltas.values())]
    if in_slots_:
        await conn.execute(statements["add_to_slots"], [
            {"account_id": a.id, "slot": random.randrange(SLOTS), **{c: a.deltas.get(c, 0) for c in TOTALS}}
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
    await insert_records(conn, lots, _LOT_COLUMNS, new_lots)
    await insert_records(conn, lot_uses, _USE_COLUMNS, uses)

    held = [p for p in plans if p.request.kind == Kind.PENDING]
    if held:
        await insert_rows(conn, holds, [{
            "transfer_seq": p.seq, "community_path": p.request.community_path, "hold_id": p.request.transfer_id,
            "state": int(HoldState.PENDING), "expires_at": now + timedelta(seconds=p.request.timeout_seconds),
            "resolved_at": None} for p in held])
    if make_event is not None:
        envelopes = _events(plans, make_event)
        if envelopes:
            await publish_in(conn, *envelopes)


# The most credits one `points.points.credited_batch` event carries: ~150 bytes each, well under
# NATS's 1 MB payload.
CREDITS_PER_EVENT = 1_000


def _events(plans: list[_Plan], make_event: EventFactory) -> list[EventEnvelope]:
    """The events the items cause: a hold each, and the credits of each (caller's context,
    community) as one `points.points.credited` when it is the only one, else as
    `points.points.credited_batch` events of at most CREDITS_PER_EVENT (issue 18: an event per
    credit, and the relay publishing it, was a third of a bulk batch's Python time; nothing in
    the platform consumes them one by one). The first envelope of each (context, subject,
    community) is made by `make_event` in that context (its time, request id, source and trace
    context); the others are copies of it with their own id and payload — what `make_event`
    would have made for them in that same context, at the batch's one instant."""
    made: dict[tuple[int, str, str], EventEnvelope] = {}
    envelopes: list[EventEnvelope] = []
    credits: dict[tuple[int, str], list[tuple[_Plan, events.PointsCredited]]] = {}
    for plan in plans:
        if plan.request.kind == Kind.PENDING:
            _add_event(envelopes, made, plan, "points.hold.placed", _hold_placed(plan.request), make_event)
            continue
        credited = _credited(plan.request)
        if credited is not None:
            credits.setdefault((id(plan.context), plan.request.community_path), []).append((plan, credited))
    for group in credits.values():
        if len(group) == 1:
            _add_event(envelopes, made, group[0][0], "points.points.credited", group[0][1], make_event)
            continue
        for start in range(0, len(group), CREDITS_PER_EVENT):
            chunk = group[start:start + CREDITS_PER_EVENT]
            _add_event(envelopes, made, chunk[0][0], "points.points.credited_batch",
                       events.PointsCreditedBatch(items=[credited for _, credited in chunk]), make_event)
    return envelopes


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


def _credited(r: TransferRequest) -> events.PointsCredited | None:
    """What a DIRECT transfer of issued points to a volunteer tells the platform; None otherwise."""
    source = issued_from(r.debit_account)
    volunteer = volunteer_of(r.credit_account)
    if source is None or volunteer is None:
        return None
    return events.PointsCredited(
        transfer_id=r.transfer_id, community_path=r.community_path, volunteer_id=volunteer, points=r.amount,
        reason=r.reason, source=r.source, funding_source=source)


def _made(plan: _Plan, subject: str, payload: Any, make_event: EventFactory) -> EventEnvelope:
    """An envelope made (and given its trace context) in its caller's context."""
    def made() -> EventEnvelope:
        envelope = make_event(subject, payload, plan.request.community_path)
        stamp(envelope)
        return envelope

    return plan.context.run(made) if plan.context is not None else made()
