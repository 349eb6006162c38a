"""Points earned per volunteer account and China-time year (`points_earned_year`), kept as the
ledger writes its transfers, so that a year's board (the operators' city dashboard, over every
community) reads one row per volunteer instead of summing the year's transfers.

Earned is what the ledger has always counted (the accounts' `earned` total, `queries`' sums): a
posted transfer (DIRECT, POST, REVERSAL) from system/issuance or a funding source to a volunteer
adds its amount to the volunteer's year; one from a volunteer back to such an account (a
reversal of a credit, a negative adjustment) takes it off — in the year of the transfer's time.
The write path calls `add_earned` once per transaction with the transfers it wrote (batch.py's
`_write`, store.py's `_record`): one INSERT … ON CONFLICT DO UPDATE earned = earned + excluded.earned,
no statement at all when none of them earns."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_points.ledger.accounts import issued_from, volunteer_of
from linli_points.ledger.model import Kind
from linli_points.ledger.tables import earned_years
from linli_runtime.times import local

_EARNING_KINDS = frozenset({Kind.DIRECT, Kind.POST, Kind.REVERSAL})  # store.POSTED_KINDS

# What earned.py needs of a written transfer: its community, kind, debit account, credit account,
# their ids, amount.
Written = tuple[str, int, str, str, int, int, int]


def earned_by(kind: int, debit_account: str, credit_account: str) -> int:
    """+1 when a transfer of `kind` between these accounts earns its credit account points, −1
    when it takes earned points back from its debit account, 0 when it earns nothing."""
    if kind not in _EARNING_KINDS:
        return 0
    if issued_from(debit_account) is not None and volunteer_of(credit_account) is not None:
        return 1
    if issued_from(credit_account) is not None and volunteer_of(debit_account) is not None:
        return -1
    return 0


def earned_changes(written: Iterable[Written], when: datetime) -> list[dict[str, int | str]]:
    """What transfers written at `when` add to each (account id, year), with the account's
    community, in key order (concurrent batches then lock the rows they share in one order)."""
    year = local(when).year
    added: dict[int, int] = {}
    community: dict[int, str] = {}
    for path, kind, debit, credit, debit_id, credit_id, amount in written:
        sign = earned_by(kind, debit, credit)
        if sign:
            account_id = credit_id if sign > 0 else debit_id
            added[account_id] = added.get(account_id, 0) + sign * amount
            community[account_id] = path
    return [{"account_id": a, "year": year, "earned": e, "community_path": community[a]}
            for a, e in sorted(added.items()) if e]


@functools.cache
def _upsert(dialect_name: str) -> Any:
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    insert = dialect.insert(earned_years)
    return insert.on_conflict_do_update(index_elements=[earned_years.c.account_id, earned_years.c.year],
                                        set_={"earned": earned_years.c.earned + insert.excluded.earned})


async def add_earned(conn: AsyncConnection, written: Iterable[Written], when: datetime) -> None:
    """Add what the transfers written at `when` in `conn`'s transaction earned (one statement)."""
    await add_earned_changes(conn, earned_changes(written, when))


async def add_earned_changes(conn: AsyncConnection, changes: list[dict[str, int | str]]) -> None:
    """Add `changes` as `earned_changes` makes them (a ledger batch sums its own)."""
    if changes:
        await conn.execute(_upsert(conn.dialect.name), changes)
