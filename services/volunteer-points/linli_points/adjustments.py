"""Manual corrections of a volunteer's points under the four-eyes rule.

    proposed ──(another worker approves)──▶ approved: a ledger transfer, in the same transaction
        └─────(anyone allowed rejects)────▶ rejected

The service also proposes adjustments itself, for work it may not credit alone: a help
request's helpers beyond the resolving worker's limit (help_credits.py). Such a proposal carries
the task category and the help request; approved, its transfer is that category's credit.

A correction is never an edit: approving one records a transfer between the volunteer and a
funding source (the one named, else the default; a debit named no source goes back to
system/issuance) — funding.py — (`adjustment:{id}`), so the history shows it and a mistaken one is fixed by a
counter-adjustment. The proposer may not approve their own proposal. Approving or rejecting
again answers the decision as it stands.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_points import names
from linli_points.funding import issuing_account, returning_account
from linli_points.funding import source as source_of
from linli_points.ledger.accounts import volunteer_account
from linli_points.ledger.model import TransferRequest
from linli_points.ledger.store import Ledger
from linli_points.records import create_once, find
from linli_points.tables import ID, Adjustment
from linli_runtime.errors import FailedPrecondition, NotFound
from linli_runtime.models import loaded_all, table
from linli_runtime.paging import keyset_page
from linli_runtime.transactions import fingerprint, run_in_transaction

ADJUSTMENTS = table(Adjustment)
MAX_ADJUSTMENT = 100_000


class AdjustmentState(IntEnum):
    """Numbers match linli.points.v1.AdjustmentState."""

    PROPOSED = 1
    APPROVED = 2
    REJECTED = 3


def adjustment_transfer_id(adjustment_id: str) -> str:
    return f"adjustment:{adjustment_id}"


class Adjustments:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.db = ledger.db

    async def propose(self, path: str, adjustment_id: str, *, volunteer_id: str, points: int, reason: str,
                      proposed_by: str, funding_source: str = "") -> Adjustment:
        """Propose `points` (negative: taken back) for a volunteer; a repeat answers the first."""
        now = self._now()
        return await run_in_transaction(self.db, lambda conn: propose(
            conn, path, adjustment_id, volunteer_id=volunteer_id, points=points, reason=reason,
            proposed_by=proposed_by, now=now, funding_source=funding_source))

    async def approve(self, path: str, adjustment_id: str, *, approver: str) -> Adjustment:
        who = approver[:ID]

        async def work(conn: AsyncConnection) -> Adjustment:
            found = await _adjustment(conn, path, adjustment_id)
            if found.state == AdjustmentState.APPROVED:
                return found
            if found.state == AdjustmentState.REJECTED:
                raise FailedPrecondition(f"adjustment {adjustment_id!r} was rejected", reason="ADJUSTMENT_REJECTED")
            if found.proposed_by == who:
                raise FailedPrecondition("a second person must approve an adjustment; you proposed it",
                                         reason="SAME_APPROVER")
            account = volunteer_account(found.volunteer_id)
            if found.points > 0:
                debit, credit = await issuing_account(conn, path, found.funding_source), account
            else:
                debit, credit = account, await returning_account(conn, path, found.funding_source)
            transfer_id = adjustment_transfer_id(adjustment_id)
            # Work the service held for approval is credited as that work (its category's caps
            # count it); a manual correction as an adjustment.
            await self.ledger.transfer_in(conn, TransferRequest(
                community_path=path, transfer_id=transfer_id, debit_account=debit, credit_account=credit,
                amount=abs(found.points), reason=found.category or "adjustment",
                source=found.source or names.adjustment_source(adjustment_id)))
            await conn.execute(ADJUSTMENTS.update().where(*_key(path, adjustment_id)).values(
                state=int(AdjustmentState.APPROVED), decided_by=who, decided_at=self._now(),
                transfer_id=transfer_id))
            return await _adjustment(conn, path, adjustment_id)

        return await run_in_transaction(self.db, work)

    async def reject(self, path: str, adjustment_id: str, *, decider: str) -> Adjustment:
        async def work(conn: AsyncConnection) -> Adjustment:
            found = await _adjustment(conn, path, adjustment_id)
            if found.state == AdjustmentState.APPROVED:
                raise FailedPrecondition(f"adjustment {adjustment_id!r} was approved; propose a counter-adjustment",
                                         reason="ADJUSTMENT_APPROVED")
            if found.state != AdjustmentState.PROPOSED:
                return found
            await conn.execute(ADJUSTMENTS.update().where(*_key(path, adjustment_id)).values(
                state=int(AdjustmentState.REJECTED), decided_by=decider[:ID], decided_at=self._now()))
            return await _adjustment(conn, path, adjustment_id)

        return await run_in_transaction(self.db, work)

    async def list_page(self, path: str, *, page_token: str, size: int) -> tuple[list[Adjustment], str]:
        async with self.db.engine.connect() as conn:
            rows, next_token = await keyset_page(
                conn, sa.select(ADJUSTMENTS).where(ADJUSTMENTS.c.community_path == path),
                ADJUSTMENTS.c.adjustment_id, kind="adjustments", page_token=page_token, size=size)
        return loaded_all(Adjustment, rows), next_token

    def _now(self) -> datetime:
        return self.ledger.now()


async def propose(conn: AsyncConnection, path: str, adjustment_id: str, *, volunteer_id: str, points: int,
                  reason: str, proposed_by: str, now: datetime, category: str = "", source: str = "",
                  funding_source: str = "") -> Adjustment:
    """Record a proposal inside the caller's transaction (a repeat answers the first; the same id
    with other content is ALREADY_EXISTS). `category` and `source` are for work the service
    proposes itself (help_credits.py); `funding_source` must exist (NOT_FOUND)."""
    if funding_source:
        await source_of(conn, path, funding_source)
    # (the newer fields only when given: proposals made before they existed still match)
    newer = (category, source, funding_source) if category or source or funding_source else ()
    created, _ = await create_once(
        conn, Adjustment, {"community_path": path, "adjustment_id": adjustment_id},
        {"volunteer_id": volunteer_id, "points": points, "reason": reason[:200],
         "state": int(AdjustmentState.PROPOSED), "proposed_by": proposed_by[:ID], "proposed_at": now,
         "category": category, "source": source[:200], "funding_source": funding_source},
        fingerprint(volunteer_id, points, reason, proposed_by, *newer), "adjustment")
    return created


def _key(path: str, adjustment_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (ADJUSTMENTS.c.community_path == path, ADJUSTMENTS.c.adjustment_id == adjustment_id)


async def _adjustment(conn: AsyncConnection, path: str, adjustment_id: str) -> Adjustment:
    found = await find(conn, Adjustment, community_path=path, adjustment_id=adjustment_id)
    if found is None:
        raise NotFound(f"adjustment {adjustment_id!r} does not exist in {path}", reason="ADJUSTMENT_NOT_FOUND")
    return found
