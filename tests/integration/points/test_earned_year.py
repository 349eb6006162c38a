"""Points earned per account and year kept at write time (`points_earned_year`, ledger/earned.py),
on SQLite and PostgreSQL: after mixed writes — funded and unfunded credits, returns, reversals,
holds, refusals, batches and single transfers, replays, across a new year in China time — the
table is the transfers summed as the year's boards summed them (`queries.earned_per_volunteer`),
and the migration's backfill rebuilds it the same from the transfers."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from linli_points.ledger import queries
from linli_points.ledger.accounts import VOLUNTEER_PREFIX
from linli_points.ledger.batch import BatchItem
from linli_points.ledger.store import Ledger
from linli_points.ledger.tables import accounts, earned_years

from linli_runtime.clock import ManualClock
from linli_runtime.times import year_bounds

from .conftest import FENGSHU
from .test_ledger import credit
from .test_ledger_batches import OTHER, mixed_requests, one_by_one

VERSIONS = Path(__file__).resolve().parents[3] / "services/volunteer-points/linli_points/migrations/versions"


def migration(name: str = "p0016_points_earned_year") -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, VERSIONS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def kept(ledger: Ledger) -> dict[tuple[str, str, int], int]:
    """Each row's earnings by its account's community and volunteer; every row keeps its
    account's community (the board's index, p0018)."""
    async with ledger.db.engine.connect() as conn:
        rows = (await conn.execute(sa.select(accounts.c.community_path, accounts.c.name, earned_years.c.year,
                                             earned_years.c.earned, earned_years.c.community_path)
                                   .join(accounts, accounts.c.id == earned_years.c.account_id))).all()
    assert [kept for path, _, _, _, kept in rows if kept != path] == []
    return {(path, name[len(VOLUNTEER_PREFIX):], int(year)): int(e) for path, name, year, e, _ in rows if e}


async def summed(ledger: Ledger, years: list[int]) -> dict[tuple[str, str, int], int]:
    out = {}
    async with ledger.db.engine.connect() as conn:
        for path in (FENGSHU, OTHER):
            for year in years:
                for volunteer, earned in (await queries.earned_per_volunteer(conn, path, year_bounds(year))).items():
                    if earned:
                        out[(path, volunteer, year)] = earned
    return out


async def test_the_years_earnings_kept_at_write_time_are_the_transfers_summed(
        ledger: Ledger, clock: ManualClock) -> None:
    clock.set(datetime(2025, 12, 31, 15, 30, tzinfo=UTC))  # 23:30 on New Year's Eve in China
    await ledger.apply_batch([BatchItem(r) for r in mixed_requests(FENGSHU)])  # the set-oriented batch
    clock.set(clock.now() + timedelta(hours=1))  # 2026 in China, still 2025 in UTC
    await one_by_one(ledger, mixed_requests(OTHER))  # the single path
    await ledger.apply_batch([BatchItem(r) for r in mixed_requests(FENGSHU)])  # replays: nothing earned twice
    await ledger.transfer_many([credit("late-c", "volunteers/v-zhao", 7, FENGSHU)])
    await ledger.reverse(FENGSHU, "undo-c3", "c3", 4, "entered twice")  # a 2025 credit reversed in 2026
    await ledger.reverse(OTHER, "undo-c2", "c2", 5, "wrong volunteer")  # a funded credit
    await ledger.post_hold(OTHER, "h1")
    expected = await summed(ledger, [2025, 2026])
    assert await kept(ledger) == expected
    assert {year for _, _, year in expected} == {2025, 2026}
    assert expected[(FENGSHU, "v-wan", 2026)] == -4  # a year's returns can outweigh its credits

    async with ledger.db.engine.begin() as conn:  # the migrations' backfill, from the transfers alone
        await conn.execute(earned_years.delete())
        await conn.execute(sa.text(migration().backfill(conn.dialect.name)))
        await conn.execute(sa.text(migration("p0018_earned_year_board").FILL))  # each row's community
    assert await kept(ledger) == expected
