"""What the rest of the service asks of the ledger's history: points earned per volunteer in a
period (rankings, year-end awards) and points credited for one reason (activity caps).

The ledger's tables are read only through the ledger package; these are its answers to those
questions. They take the caller's connection, so a question asked inside a transaction (an
activity's cap, checked while crediting it; the year-end close) sees what that transaction
sees. Both are range scans on `ix_points_transfer_period` (community, created_at).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_points.ledger.accounts import ISSUANCE, VOLUNTEER_PREFIX, volunteer_account
from linli_points.ledger.model import Kind
from linli_points.ledger.store import POSTED_KINDS
from linli_points.ledger.tables import transfers

Period = tuple[datetime, datetime]  # [start, end) in UTC


async def earned_per_volunteer(conn: AsyncConnection, path: str, period: Period) -> dict[str, int]:
    """Points each volunteer of `path` earned in the period: credits from system/issuance net
    of those returned to it (reversals, negative adjustments), by volunteer id. A volunteer
    whose returns outweigh their credits in the period has a negative total."""
    is_credit = sa.and_(transfers.c.debit_account == ISSUANCE, transfers.c.credit_account.startswith(VOLUNTEER_PREFIX))
    is_return = sa.and_(transfers.c.credit_account == ISSUANCE, transfers.c.debit_account.startswith(VOLUNTEER_PREFIX))
    account = sa.case((is_credit, transfers.c.credit_account), else_=transfers.c.debit_account)
    signed = sa.case((is_credit, transfers.c.amount), else_=-transfers.c.amount)
    query = (
        sa.select(account.label("account"), sa.func.sum(signed).label("earned"))
        .where(transfers.c.community_path == path, transfers.c.kind.in_([int(k) for k in POSTED_KINDS]),
               sa.or_(is_credit, is_return),
               transfers.c.created_at >= period[0], transfers.c.created_at < period[1])
        .group_by(account)
    )
    return {row.account[len(VOLUNTEER_PREFIX):]: int(row.earned) for row in await conn.execute(query)}


async def credited_for(conn: AsyncConnection, path: str, volunteer_id: str, reason: str, period: Period) -> int:
    """Points credited to a volunteer from system/issuance with `reason` (a task category) by
    direct transfers in the period — what a category's daily and monthly caps count."""
    total = (await conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(transfers.c.amount), 0)).where(
            transfers.c.community_path == path, transfers.c.debit_account == ISSUANCE,
            transfers.c.credit_account == volunteer_account(volunteer_id), transfers.c.reason == reason,
            transfers.c.kind == int(Kind.DIRECT),
            transfers.c.created_at >= period[0], transfers.c.created_at < period[1],
        )
    )).scalar_one()
    return int(total)
