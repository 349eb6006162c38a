"""Database transactions when the task running them is cancelled (a gRPC call whose client went
away, a timeout), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from linli_runtime.db import Database
from linli_runtime.events.tables import OUTBOX
from linli_runtime.testing.waiting import wait_until


async def test_a_task_cancelled_inside_a_transaction_ends_cancelled_and_the_database_stays_usable(
    db: Database,
) -> None:
    started = asyncio.Event()

    async def work() -> None:
        async with db.transaction() as session:
            conn = await session.connection()
            await conn.execute(OUTBOX.delete())  # the transaction holds a write
            started.set()
            if db.is_sqlite:  # a running SQLite statement cannot be interrupted: cancel between
                await asyncio.sleep(30)
            else:  # cancelled mid-statement: asyncpg's connection is invalidated (the hard case)
                await conn.execute(text("SELECT pg_sleep(30)"))

    task = asyncio.create_task(work())
    async with asyncio.timeout(10):
        await started.wait()
    if not db.is_sqlite:  # cancel only once PostgreSQL is running the statement
        await wait_until(lambda: _running(db, "SELECT pg_sleep(30)"), what="PostgreSQL to run the statement")
    task.cancel()
    # Before the fix the rollback hook asked the invalidated connection for its info and the
    # task ended in PendingRollbackError: the cancellation was lost (a cancelled call logged as
    # INTERNAL, `asyncio.timeout` around database work not raising TimeoutError).
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(10), db.transaction() as session:
        conn = await session.connection()
        assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1


async def _running(db: Database, statement: str) -> bool:
    """Is another connection running `statement` right now (PostgreSQL)?"""
    async with db.engine.connect() as conn:
        running = await conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = :statement"),
            {"statement": statement})
        return bool(running.scalar_one())
