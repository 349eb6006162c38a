"""SQLite's one writer connection (linli_runtime.sqlite_writer): concurrent transactions commit
in groups, each still commits or fails on its own and returns only once committed, and a lock
held by another connection is waited for without stopping the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from linli_runtime.db import Database
from linli_runtime.events.tables import OUTBOX
from linli_runtime.migrations import upgrade


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'writer.db'}")
    await upgrade(database)
    try:
        yield database
    finally:
        await database.dispose()


class Refused(Exception):
    pass


async def _insert(db: Database, event_id: str, *, fail: bool = False) -> None:
    async with db.transaction() as session:
        conn = await session.connection()
        await conn.execute(OUTBOX.insert().values(event_id=event_id, subject="t.row.written", data=b"x",
                                                  created_at=sa.func.now(), attempts=0))
        if fail:
            raise Refused(event_id)
    # Back from the block means committed: another connection sees the row.
    assert event_id in _committed_ids(db), f"{event_id} returned before its commit"


def _committed_ids(db: Database) -> set[str]:
    with sqlite3.connect(str(db.url.database)) as other:
        return {row[0] for row in other.execute("SELECT event_id FROM linli_outbox")}


def _commits(db: Database) -> int:
    assert db._writer is not None
    return db._writer.commits


async def test_concurrent_transactions_commit_together_and_a_failing_one_fails_alone(sqlite_db: Database) -> None:
    before = _commits(sqlite_db)
    outcomes = await asyncio.gather(
        *(_insert(sqlite_db, f"e{i}", fail=(i == 3)) for i in range(8)), return_exceptions=True)

    assert [type(o).__name__ for o in outcomes] == ["NoneType"] * 3 + ["Refused"] + ["NoneType"] * 4
    assert _committed_ids(sqlite_db) == {f"e{i}" for i in range(8)} - {"e3"}
    assert _commits(sqlite_db) - before < 7, "eight transactions ready together share commits"


async def test_the_first_transaction_of_a_group_failing_leaves_the_next_ones_whole(sqlite_db: Database) -> None:
    outcomes = await asyncio.gather(_insert(sqlite_db, "first", fail=True), _insert(sqlite_db, "second"),
                                    return_exceptions=True)
    assert isinstance(outcomes[0], Refused) and outcomes[1] is None
    assert _committed_ids(sqlite_db) == {"second"}


async def test_a_lock_held_by_another_connection_is_waited_for_with_the_loop_running(sqlite_db: Database) -> None:
    other = sqlite3.connect(str(sqlite_db.url.database), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # holds SQLite's write lock
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    writing = asyncio.create_task(_insert(sqlite_db, "waited"))
    started = time.monotonic()
    await asyncio.sleep(0.3)
    assert not writing.done(), "the write waits for the lock"
    assert ticks >= 10, "the loop kept running while the writer waited"
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(writing, 10)
    ticking.cancel()
    assert time.monotonic() - started >= 0.3
    assert _committed_ids(sqlite_db) == {"waited"}


async def test_a_cancelled_transaction_rolls_back_and_the_group_behind_it_commits(sqlite_db: Database) -> None:
    entered = asyncio.Event()

    async def cancelled() -> None:
        async with sqlite_db.transaction() as session:
            conn = await session.connection()
            await conn.execute(OUTBOX.insert().values(event_id="cancelled", subject="t.row.written", data=b"x",
                                                      created_at=sa.func.now(), attempts=0))
            entered.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(cancelled())
    await entered.wait()
    queued = [asyncio.create_task(_insert(sqlite_db, f"after-{i}")) for i in range(3)]
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(asyncio.gather(*queued), 10)
    assert _committed_ids(sqlite_db) == {"after-0", "after-1", "after-2"}


async def test_a_transaction_refused_before_its_first_statement_leaves_the_writer_usable(sqlite_db: Database) -> None:
    with pytest.raises(Refused):
        async with sqlite_db.transaction():
            raise Refused("validation failed before any statement")
    await _insert(sqlite_db, "next")
    assert _committed_ids(sqlite_db) == {"next"}
