"""A batch of holds posted set-oriented: a dozen multi-row statements for the batch instead of
~12 statements per hold (issue 18: the `points-redemption-holds` consumer posting a fetched
batch of committed redemptions' holds one `Ledger.post_hold_in` at a time was ~40 % of
volunteer-points' CPU per POS redeem).

Each hold is answered exactly as `Ledger.post_hold_in` answers it, in the batch's order:

- pending and not yet due: posted — a POST transfer `<hold id>/post` of the hold's amount
  (pending totals settled into posted ones), the points taken from the volunteer's lots as
  lots.py takes them (oldest first), the hold POSTED, a `points.hold.posted` event;
- posted already (before, or earlier in this batch): answered with its POST transfer;
- voided, or expired: refused (FailedPrecondition HOLD_VOIDED / HOLD_EXPIRED) — a pending hold
  past its time included, as `post_hold_in` refuses it. `post_hold_in` writes that expiry
  before refusing, inside the caller's transaction, which a consumer then rolls back with the
  refused event; here nothing is written for it (the same end state: the sweeper expires it);
- unknown: refused (NotFound HOLD_NOT_FOUND).

A refused hold writes nothing, so the caller may commit the others.

Statements (ledger/batch.py's reads and writes, shared): the holds read once to learn their
debit accounts (unless the caller names them); those accounts locked in id order (one
statement per community, communities in path order — the single path locks the same row, the
debit account, before reading a hold: one order for every writer); the holds and the POST
transfers of those posted already read again under the locks; the volunteers' lots; then the
writes of batch.py's `_write` (transfers, account totals, one slot per system account, lots
taken and their uses, credited events), one UPDATE of the holds' states and the
`points.hold.posted` events. The caller holds the ledger's `batch_lock` (its batches lock the
same rows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.events.v1 import points_pb2 as events
from linli.events.v1.envelope_pb2 import EventEnvelope
from linli_points.ledger.accounts import issued_from, volunteer_of
from linli_points.ledger.batch import (
    BatchItem,
    _Account,
    _accounts,
    _add_event,
    _chunks,
    _Plan,
    _plan_inflow,
    _plan_outflow,
    _read_lots,
    _rows_by_id,
    _transfer,
    _write,
)
from linli_points.ledger.model import Hold, HoldState, Kind, Resolution, TransferRequest, post_id, resolving_request
from linli_points.ledger.rows import hold_of, transfer_of
from linli_points.ledger.tables import holds, in_slots, transfers
from linli_runtime.bulk import one_of
from linli_runtime.errors import DomainError, FailedPrecondition, NotFound
from linli_runtime.events import EventFactory, publish_in

# The posted holds' states in one UPDATE of all their rows (every one POSTED at the same time):
# an executemany was an execution per hold on the server (issue 18, pg_stat_statements).
_RESOLVE_HOLDS = {pg: holds.update().where(one_of(holds.c.transfer_seq, "seqs", pg, sa.BigInteger)).values(
    state=sa.bindparam("new_state"), resolved_at=sa.bindparam("when")) for pg in (True, False)}

# PostgreSQL: holds with their transfers, by (community, hold id), a probe of the hold's unique
# key per id (the LATERAL … LIMIT 1: no plan, generic or not, reads the table whole). Issue 18:
# the transfers' replay lookup (`points_transfers_by_id`, planned afresh at each call) read the
# holds and their would-be POST transfers — twice the ids — at ~100 µs of PostgreSQL per id.
_HOLDS_BY_ID = sa.text(f"""
SELECT t.*, h.state, h.expires_at, h.resolved_at
FROM unnest(CAST(:ids AS text[])) AS wanted(id)
CROSS JOIN LATERAL (
    SELECT * FROM {holds.name} AS h1 WHERE h1.community_path = CAST(:path AS text) AND h1.hold_id = wanted.id LIMIT 1
) AS h
JOIN {transfers.name} AS t ON t.seq = h.transfer_seq
""")

_REFUSED_AS = {HoldState.VOIDED: "HOLD_VOIDED", HoldState.EXPIRED: "HOLD_EXPIRED"}


@dataclass(eq=False)
class _Posting:
    hold: Hold
    plan: _Plan


async def post_holds(
    conn: AsyncConnection, keys: Sequence[tuple[str, str]], *, now: datetime, make_event: EventFactory | None,
    known: Mapping[tuple[str, str], dict[str, Any]], seen: dict[tuple[str, str], dict[str, Any]],
    accounts: Sequence[tuple[str, str]] | None = None,
) -> list[Resolution | DomainError]:
    """Post the holds `keys` names — (community path, hold id) — in the caller's transaction;
    one outcome per key, in order (module docstring).

    `accounts`, when the caller knows them (a committed redemption's event names its volunteer):
    each hold's (debit, credit) account as expected. Those are locked first and the holds read
    once, under the locks (issue 18: the read that only learnt the accounts was a third of the
    consumer's database time); a hold found with other accounts — never, unless the caller
    guessed wrong — sends the batch the long way, its own accounts read first."""
    pg = conn.dialect.name == "postgresql"
    by_path: dict[str, list[str]] = {}
    for path, hold_id in keys:
        by_path.setdefault(path, []).append(hold_id)

    # The holds' accounts (as expected, or as the holds were); then those accounts locked, one
    # order for all.
    requests: dict[str, list[TransferRequest]] = {}
    if accounts is not None:
        for (path, hold_id), (debit, credit) in zip(keys, accounts, strict=True):
            requests.setdefault(path, []).append(TransferRequest(path, hold_id, debit, credit, 0))
    else:
        for path, hold_ids in by_path.items():
            for row in await _rows_by_id(conn, path, hold_ids, pg):
                if row.state is not None:
                    requests.setdefault(path, []).append(_post_request(hold_of(row)))
    accounts_of: dict[str, dict[str, _Account]] = {}
    for path in sorted(requests):
        accounts_of[path] = await _accounts(conn, path, requests[path], known, seen, now, pg)

    # Under the locks: the holds' states now, and the POST transfers of those posted already.
    found: dict[tuple[str, str], Hold] = {}
    posts: dict[tuple[str, str], Any] = {}
    for path, hold_ids in by_path.items():
        if path not in requests:
            continue
        if pg:  # the holds by their own key; the POST transfers only of those posted (seldom)
            for chunk in _chunks(sorted(set(hold_ids)), pg):
                for row in await conn.execute(_HOLDS_BY_ID, {"path": path, "ids": chunk}):
                    found[(path, row.transfer_id)] = hold_of(row)
            posted = [post_id(h) for (p, h), hold in found.items() if p == path and hold.state == HoldState.POSTED]
            rows = await _rows_by_id(conn, path, posted, pg) if posted else []
        else:
            rows = await _rows_by_id(conn, path, [*hold_ids, *map(post_id, hold_ids)], pg)
        for row in rows:
            if row.kind == int(Kind.POST):
                posts[(path, row.related_transfer_id)] = row
            elif row.state is not None:
                found[(path, row.transfer_id)] = hold_of(row)
    if accounts is not None and any(
            h.transfer.debit_account not in accounts_of[path] or h.transfer.credit_account not in accounts_of[path]
            for (path, _), h in found.items()):
        return await post_holds(conn, keys, now=now, make_event=make_event, known=known, seen=seen)
    pending = [BatchItem(_post_request(h)) for h in found.values() if h.state == HoldState.PENDING]
    await _read_lots(conn, pending, accounts_of, pg)

    outcomes: list[Resolution | DomainError | _Posting] = []
    posting: dict[tuple[str, str], _Posting] = {}
    for key in keys:
        path, hold_id = key
        hold = found.get(key)
        earlier = posting.get(key)
        if earlier is not None:  # named twice in the batch: the second finds it posted
            outcomes.append(earlier)
        elif hold is None:
            outcomes.append(NotFound(f"hold {hold_id!r} does not exist in {path}", reason="HOLD_NOT_FOUND"))
        elif hold.state == HoldState.POSTED:
            outcomes.append(Resolution(hold, transfer_of(posts[key])))
        elif hold.state != HoldState.PENDING:
            outcomes.append(_refusal(hold, hold.state))
        elif now >= hold.expires_at:
            outcomes.append(_refusal(hold, HoldState.EXPIRED))
        else:
            locked = accounts_of[path]
            request = _post_request(hold)
            plan = _plan_post(request, locked[request.debit_account], locked[request.credit_account])
            posting[key] = _Posting(hold, plan)
            outcomes.append(posting[key])

    if posting:
        plans = [p.plan for p in posting.values()]
        await _write(conn, plans, now, make_event, pg)
        await conn.execute(_RESOLVE_HOLDS[pg], {"seqs": [p.hold.transfer.seq for p in posting.values()],
                                                "new_state": int(HoldState.POSTED), "when": now})
        if make_event is not None:
            envelopes: list[EventEnvelope] = []
            made: dict[tuple[int, str, str], EventEnvelope] = {}
            for p in posting.values():
                _add_event(envelopes, made, p.plan, "points.hold.posted", _posted(p.hold), make_event)
            await publish_in(conn, *envelopes)
    return [_answer(o, now) for o in outcomes]


def _post_request(hold: Hold) -> TransferRequest:
    """The POST transfer of a hold, as the single path (`Ledger._finish`) makes it."""
    return resolving_request(hold, Kind.POST)


def _plan_post(request: TransferRequest, debit: _Account, credit: _Account) -> _Plan:
    """The pending amount settled into posted totals, and the lots it takes (batch.py's rules)."""
    amount = request.amount
    takes = _plan_outflow(request, debit)
    debit.add("debits_posted", amount)
    debit.add("debits_pending", -amount)
    credit.add("credits_posted", amount)
    credit.add("credits_pending", -amount)
    if issued_from(request.debit_account) is not None and volunteer_of(request.credit_account) is not None:
        credit.add("earned", amount)
    elif issued_from(request.credit_account) is not None and volunteer_of(request.debit_account) is not None:
        debit.add("earned", -amount)
    plan = _Plan(request=request, fingerprint=request.fingerprint(), debit=debit, credit=credit,
                 debit_after=None if in_slots(debit.name) else debit.posted,
                 credit_after=None if in_slots(credit.name) else credit.posted, context=None, takes=takes)
    for lot, _, points in takes:
        if lot is not None:
            lot.remaining -= points
    _plan_inflow(plan)
    return plan


def _refusal(hold: Hold, state: HoldState) -> FailedPrecondition:
    """Store._refusal's answer to posting a hold in `state`."""
    return FailedPrecondition(
        f"cannot post hold {hold.hold_id!r}: it is already {state.name.lower()}",
        reason=_REFUSED_AS[state], metadata={"hold_id": hold.hold_id, "state": state.name})


def _posted(hold: Hold) -> events.PointsHoldChanged:
    t = hold.transfer
    return events.PointsHoldChanged(
        hold_id=t.transfer_id, community_path=t.community_path, debit_account=t.debit_account,
        credit_account=t.credit_account, amount=t.amount, state=events.POINTS_HOLD_STATE_POSTED,
        reason=t.reason, source=t.source)


def _answer(outcome: Resolution | DomainError | _Posting, now: datetime) -> Resolution | DomainError:
    if not isinstance(outcome, _Posting):
        return outcome
    h = outcome.hold
    return Resolution(Hold(h.transfer, HoldState.POSTED, h.expires_at, now), _transfer(outcome.plan, now))
