"""Where a volunteer's points came from, and what became of them: the funding attribution.

Points are issued from a funding source's account (`funding/{id}`, its remaining budget) or,
unfunded, from `system/issuance`. A volunteer's balance is one number, but every point in it
keeps the source that issued it, in lots:

- **In.** A transfer into a volunteer's account brings a lot: from a funding source or
  system/issuance, new points of that source (ISSUED); from another volunteer, the sources the
  sender's points had (MOVED); a refund — a reversal of a transfer that took points out — the
  sources that transfer took, in the order it took them (RESTORED). Anything else arriving
  from the clearing or expiry accounts comes back unfunded.
- **Out.** A transfer out of a volunteer's account takes their points **oldest first** (FIFO:
  the rule ExpirePoints already applies), each use recording its source and what became of
  the points: REDEEMED (to system/redemption-clearing: the POS), EXPIRED (system/expiry),
  RETURNED (back to an issuing account), MOVED (to another volunteer). Two exceptions, for
  returns: points returned to a funding source (the reversal of its credit, a negative
  adjustment naming it) are taken only from that source's points — a source's budget is never
  refilled with points another source paid for; refused (FAILED_PRECONDITION,
  SOURCE_POINTS_SHORT) when the volunteer holds fewer of them. Points returned to
  system/issuance take the unfunded points first, then the oldest of the rest.
- Holds move nothing: a redemption's points are taken when its hold is posted.

So per source: issued = outstanding (what volunteers still hold) + redeemed + expired +
returned, where refunds count as negative redemptions — the identity the funding report
(queries.funding_totals) rests on, and the tests check after any sequence of transfers.

Everything here runs inside the ledger's write, under the lock of the volunteer's account row
that write already holds (an outflow's debit account is locked before its limit check; an
inflow's lots are written after the UPDATE of the credited account), so lots of one account
change one transaction at a time.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_points.ledger.accounts import (
    EXPIRY,
    ISSUANCE,
    REDEMPTION_CLEARING,
    funding_of,
    issued_from,
    volunteer_of,
)
from linli_points.ledger.model import Kind, TransferRequest
from linli_points.ledger.tables import lot_uses, lots, transfers
from linli_runtime.errors import FailedPrecondition

log = logging.getLogger("linli.points.lots")

UNFUNDED = ""
MOVES_POINTS = frozenset({Kind.DIRECT, Kind.POST, Kind.REVERSAL})
SHORTFALL = -1  # the lot_seq of points taken beyond an account's lots (not expected; see plan_outflow)
_PAGE = 64  # lots read at a time while taking points (a volunteer rarely needs more than one page)


class Origin(IntEnum):
    ISSUED = 1
    MOVED = 2
    RESTORED = 3
    OPENING = 4  # the balance an account held when lots began (migration p0007): unfunded


class Flow(IntEnum):
    REDEEMED = 1
    EXPIRED = 2
    RETURNED = 3
    MOVED = 4


@dataclass(frozen=True)
class Take:
    """Points an outflow takes from one lot."""

    lot_seq: int
    source: str
    amount: int


def source_points_short(request: TransferRequest, only: str, wanted: int) -> FailedPrecondition:
    """The refusal of a return to funding source `only` of more points than the account holds
    from it (`wanted` of the amount not found among its lots): one wording for the ledger's
    single and batched paths."""
    held = request.amount - wanted
    return FailedPrecondition(
        f"{request.debit_account} holds {held} points issued from funding source {only!r}, not {request.amount}: "
        "points returned to a source must be points it paid for (return the rest to system/issuance)",
        reason="SOURCE_POINTS_SHORT", metadata={"account": request.debit_account, "source": only,
                                               "held": str(held)})


def flow_to(credit_account: str) -> Flow:
    """What becomes of points a volunteer's account sends to `credit_account`."""
    if credit_account == REDEEMED_TO:
        return Flow.REDEEMED
    if credit_account == EXPIRY:
        return Flow.EXPIRED
    if issued_from(credit_account) is not None:
        return Flow.RETURNED
    return Flow.MOVED


REDEEMED_TO = REDEMPTION_CLEARING


async def plan_outflow(conn: AsyncConnection, request: TransferRequest, debit: dict[str, Any]) -> list[Take]:
    """The lots a transfer out of a volunteer's account takes (empty for anything else); refused
    before anything is written when a return to a funding source finds too few of its points."""
    if request.kind not in MOVES_POINTS or volunteer_of(request.debit_account) is None:
        return []
    only = funding_of(request.credit_account)
    first = UNFUNDED if request.credit_account == ISSUANCE else None
    takes: list[Take] = []
    wanted = request.amount
    passes = [only] if only is not None else ([first, None] if first is not None else [None])
    for source in passes:
        taken = {(t.lot_seq, t.source): t.amount for t in takes}
        after: tuple[int, str] = (-1, "")
        while wanted > 0:
            position = sa.tuple_(lots.c.seq, lots.c.source) > sa.tuple_(sa.literal(after[0]), sa.literal(after[1]))
            query = (sa.select(lots.c.seq, lots.c.source, lots.c.remaining)
                     .where(lots.c.account_id == debit["id"], lots.c.remaining > 0, position)
                     .order_by(lots.c.seq, lots.c.source).limit(_PAGE))
            if source is not None:
                query = query.where(lots.c.source == source)
            page = (await conn.execute(query)).all()
            for seq, lot_source, remaining in page:
                left = remaining - taken.get((seq, lot_source), 0)
                if left <= 0 or wanted <= 0:
                    continue
                amount = min(left, wanted)
                takes.append(Take(seq, lot_source, amount))
                wanted -= amount
            if len(page) < _PAGE:
                break
            after = (page[-1].seq, page[-1].source)
        if wanted <= 0:
            break
    if wanted > 0 and only is not None:
        raise source_points_short(request, only, wanted)
    if wanted > 0:
        # The account's lots add up to less than its balance: not expected (every write keeps
        # them equal); the rest is attributed to no source rather than refusing the transfer.
        log.error("a volunteer's lots fall short of the points leaving the account",
                  extra={"account": request.debit_account, "community": request.community_path, "short": wanted})
        takes.append(Take(SHORTFALL, UNFUNDED, wanted))
    return _merged(takes)


def _merged(takes: list[Take]) -> list[Take]:
    """One take per lot, in the order first taken."""
    merged: dict[tuple[int, str], int] = {}
    for t in takes:
        merged[(t.lot_seq, t.source)] = merged.get((t.lot_seq, t.source), 0) + t.amount
    return [Take(seq, source, amount) for (seq, source), amount in merged.items()]


async def record(conn: AsyncConnection, request: TransferRequest, seq: int, debit: dict[str, Any],
                 credit: dict[str, Any], takes: list[Take]) -> None:
    """Write the lots and uses of a transfer just inserted as `seq` (after plan_outflow)."""
    if request.kind not in MOVES_POINTS:
        return
    path = request.community_path
    if takes:
        flow = flow_to(request.credit_account)
        for t in takes:
            if t.lot_seq != SHORTFALL:
                await conn.execute(_TAKE_FROM_LOT, {"lot_account_id": debit["id"], "lot_seq": t.lot_seq,
                                                    "lot_source": t.source, "taken": t.amount})
        await conn.execute(_INSERT_USES, [
            {"transfer_seq": seq, "account_id": debit["id"], "lot_seq": t.lot_seq, "source": t.source,
             "community_path": path, "flow": int(flow), "amount": t.amount, "restores_seq": None} for t in takes])
    if volunteer_of(request.credit_account) is None:
        return
    issuer = issued_from(request.debit_account)
    if issuer is not None and request.kind != Kind.REVERSAL:
        await _add_lot(conn, credit["id"], seq, issuer, path, Origin.ISSUED, request.amount)
    elif takes:  # from another volunteer: their points' sources come along
        totals: dict[str, int] = {}
        for t in takes:
            totals[t.source] = totals.get(t.source, 0) + t.amount
        for source, amount in totals.items():
            await _add_lot(conn, credit["id"], seq, source, path, Origin.MOVED, amount)
    else:
        await _restore(conn, request, seq, credit)


async def _restore(conn: AsyncConnection, request: TransferRequest, seq: int, credit: dict[str, Any]) -> None:
    """A transfer back into a volunteer's account from where their points went (a refund, the
    reversal of an expiry or a return): the sources the reversed transfer took from this account,
    in the order it took them, less what earlier refunds of it gave back; unfunded otherwise."""
    path, left = request.community_path, request.amount
    flow = flow_from(request.debit_account)
    parts: list[tuple[str, int]] = []
    original = None
    if request.kind == Kind.REVERSAL and request.related_transfer_id:
        original = (await conn.execute(sa.select(transfers.c.seq).where(
            transfers.c.community_path == path,
            transfers.c.transfer_id == request.related_transfer_id))).scalar_one_or_none()
    if original is not None:
        used = (await conn.execute(sa.select(lot_uses.c.source, lot_uses.c.amount).where(
            lot_uses.c.transfer_seq == original, lot_uses.c.account_id == credit["id"]).order_by(lot_uses.c.id))).all()
        given_back: dict[str, int] = {}
        for source, amount in (await conn.execute(sa.select(lot_uses.c.source, lot_uses.c.amount).where(
                lot_uses.c.restores_seq == original, lot_uses.c.account_id == credit["id"]))).all():
            given_back[source] = given_back.get(source, 0) - amount
        for source, amount in used:
            back = min(amount, given_back.get(source, 0))
            given_back[source] = given_back.get(source, 0) - back
            part = min(amount - back, left)
            if part > 0:
                parts.append((source, part))
                left -= part
    if left > 0:
        parts.append((UNFUNDED, left))
    totals: dict[str, int] = {}
    for source, amount in parts:
        totals[source] = totals.get(source, 0) + amount
    for source, amount in totals.items():
        await _add_lot(conn, credit["id"], seq, source, path, Origin.RESTORED, amount)
    await conn.execute(_INSERT_USES, [
        {"transfer_seq": seq, "account_id": credit["id"], "lot_seq": seq, "source": source, "community_path": path,
         "flow": int(flow), "amount": -amount, "restores_seq": original} for source, amount in totals.items()])


def flow_from(debit_account: str) -> Flow:
    """What a transfer into a volunteer's account from a non-volunteer account undoes."""
    if debit_account == EXPIRY:
        return Flow.EXPIRED
    if issued_from(debit_account) is not None:
        return Flow.RETURNED
    return Flow.REDEEMED


@functools.cache
def _lot_upsert(dialect_name: str) -> Any:
    """INSERT a lot … ON CONFLICT add to it. Built once per dialect with bind parameters: built
    per call (its `excluded` alias copies every column) it cost more CPU than the rest of a
    transfer (issue 18, profiled)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    insert = dialect.insert(lots).values(
        account_id=sa.bindparam("account_id"), seq=sa.bindparam("seq"), source=sa.bindparam("source"),
        community_path=sa.bindparam("community_path"), origin=sa.bindparam("origin"),
        amount=sa.bindparam("amount"), remaining=sa.bindparam("remaining"))
    return insert.on_conflict_do_update(
        index_elements=[lots.c.account_id, lots.c.seq, lots.c.source],
        set_={"amount": lots.c.amount + insert.excluded.amount,
              "remaining": lots.c.remaining + insert.excluded.remaining})


_TAKE_FROM_LOT = lots.update().where(
    lots.c.account_id == sa.bindparam("lot_account_id"), lots.c.seq == sa.bindparam("lot_seq"),
    lots.c.source == sa.bindparam("lot_source")).values(remaining=lots.c.remaining - sa.bindparam("taken"))
_INSERT_USES = lot_uses.insert()


async def _add_lot(conn: AsyncConnection, account_id: int, seq: int, source: str, path: str, origin: Origin,
                   amount: int) -> None:
    await conn.execute(_lot_upsert(conn.dialect.name), {
        "account_id": account_id, "seq": seq, "source": source, "community_path": path, "origin": int(origin),
        "amount": amount, "remaining": amount})
