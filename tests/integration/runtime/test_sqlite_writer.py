"""SQLite's one writer connection (linli_runtime.sqlite_writer): concurrent transactions commit
in groups, each still commits or fails on its own and returns only once committed, and a lock
held by another connection is waited for without stopping the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from linli_runtime.db import Database
from linli_runtime.events.tables import OUTBOX
from linli_runtime.migrations import upgrade
from linli_runtime.sqlite_writer import GroupRolledBack
from linli_runtime.testing.waiting import wait_until


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


async def _write(session: Any, event_id: str, *, data: bytes = b"x") -> None:
    conn = await session.connection()
    await conn.execute(OUTBOX.insert().values(event_id=event_id, subject="t.row.written", data=data,
                                              created_at=sa.func.now(), attempts=0))


async def test_an_error_that_ends_sqlites_transaction_fails_the_members_it_took_and_no_one_is_told_committed(
    sqlite_db: Database,
) -> None:
    """Some errors roll back SQLite's whole transaction, not just the statement (disk full, I/O
    error, OR ROLLBACK). The members before the failing one lose their changes with it: they
    must fail (and say retry), not return as if committed; the ones after start a new group."""
    await _insert(sqlite_db, "taken")

    async def ends_the_transaction() -> None:
        async with sqlite_db.transaction() as session:
            await _write(session, "doomed")
            conn = await session.connection()
            await conn.exec_driver_sql(
                "INSERT OR ROLLBACK INTO linli_outbox (event_id, subject, data, created_at, attempts) "
                "VALUES ('taken', 't.row.written', x'00', '2020-01-01', 0)")

    async def plain(event_id: str) -> None:
        async with sqlite_db.transaction() as session:
            await _write(session, event_id)

    outcomes = await asyncio.gather(plain("before"), ends_the_transaction(), plain("after-1"), plain("after-2"),
                                    return_exceptions=True)

    assert isinstance(outcomes[0], GroupRolledBack) and "retry" in str(outcomes[0])
    assert isinstance(outcomes[1], IntegrityError), "the failing one gets its own error"
    assert outcomes[2:] == [None, None]
    assert _committed_ids(sqlite_db) == {"taken", "after-1", "after-2"}
    await _insert(sqlite_db, "later")


async def test_a_group_whose_commit_fails_fails_every_member_and_the_writer_starts_afresh(
    sqlite_db: Database,
) -> None:
    """A constraint checked only at COMMIT fails the whole group (why the schema declares no
    deferred constraint): every member gets the error, none is told committed."""
    async with sqlite_db.transaction() as session:
        conn = await session.connection()
        await conn.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        await conn.exec_driver_sql("CREATE TABLE child (parent_id INTEGER REFERENCES parent (id) "
                                   "DEFERRABLE INITIALLY DEFERRED)")

    async def orphan() -> None:
        async with sqlite_db.transaction() as session:
            await (await session.connection()).exec_driver_sql("INSERT INTO child VALUES (42)")

    outcomes = await asyncio.gather(_insert(sqlite_db, "grouped"), orphan(), return_exceptions=True)

    assert all(isinstance(o, IntegrityError) for o in outcomes), outcomes
    assert _committed_ids(sqlite_db) == set()
    await _insert(sqlite_db, "next")
    assert _committed_ids(sqlite_db) == {"next"}


async def test_a_member_cancelled_inside_its_block_rolls_back_alone_and_its_group_commits(
    sqlite_db: Database,
) -> None:
    entered, never = asyncio.Event(), asyncio.Event()

    async def cancelled() -> None:
        async with sqlite_db.transaction() as session:
            await _write(session, "cancelled")
            entered.set()
            await never.wait()

    first = asyncio.create_task(_insert(sqlite_db, "first"))
    middle = asyncio.create_task(cancelled())
    last = asyncio.create_task(_insert(sqlite_db, "last"))
    await entered.wait()  # "first" has run and waits for the commit; "last" waits for its turn
    before = _commits(sqlite_db)
    middle.cancel()
    await asyncio.wait_for(asyncio.gather(first, last), 10)
    with pytest.raises(asyncio.CancelledError):
        await middle
    assert _committed_ids(sqlite_db) == {"first", "last"}
    assert _commits(sqlite_db) - before == 1, "first and last commit together"


async def test_a_member_cancelled_while_it_waits_for_the_commit_leaves_its_group_whole(sqlite_db: Database) -> None:
    """Cancelled after its block ended, a transaction is committed all the same (like one
    cancelled after its COMMIT was sent); the group's other members are not disturbed."""
    holding, release = asyncio.Event(), asyncio.Event()

    async def holds_the_writer() -> None:
        async with sqlite_db.transaction() as session:
            await _write(session, "holder")
            holding.set()
            await release.wait()

    waiting = asyncio.create_task(_insert(sqlite_db, "waiting"))
    holder = asyncio.create_task(holds_the_writer())
    await holding.wait()  # "waiting" ended its block: it waits for the group's commit
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    release.set()
    await asyncio.wait_for(holder, 10)
    assert _committed_ids(sqlite_db) == {"waiting", "holder"}
    await _insert(sqlite_db, "next")


async def test_a_transaction_queued_just_as_the_writer_is_handed_on_still_times_out(sqlite_db: Database) -> None:
    """The write slot's timeout holds for a transaction that arrives in the instant the slot is
    free but already promised to a queued one (which then holds it)."""
    writer = sqlite_db._writer
    assert writer is not None
    first_in, let_go, never = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with sqlite_db.transaction() as session:
            await _write(session, "first")
            first_in.set()
            await let_go.wait()

    async def stuck() -> None:
        async with sqlite_db.transaction():
            await never.wait()

    async def late() -> None:
        async with sqlite_db.transaction() as session:
            await _write(session, "late")

    holder = asyncio.create_task(first())
    await first_in.wait()
    queued = asyncio.create_task(stuck())
    await asyncio.sleep(0)  # its first step: it queues for the slot the holder has
    writer.lock_timeout = 0.2
    let_go.set()  # the holder runs next: it frees the slot for the stuck one...
    arriving = asyncio.create_task(late())  # ...and this one arrives before the stuck one runs
    try:
        with pytest.raises(OperationalError, match="no write slot"):
            await asyncio.wait_for(asyncio.shield(arriving), 5)
    finally:
        queued.cancel()
        arriving.cancel()
        await asyncio.wait([queued, holder, arriving])
    assert _committed_ids(sqlite_db) == {"first"}


async def test_commits_never_checkpoint_on_the_loop_a_thread_does(tmp_path: Path) -> None:
    """SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL pages (with its
    fsyncs: ~100 ms on the loop, measured); the writer's connections turn it off and checkpoint
    on a thread. The database file grows only when the thread has copied the WAL into it."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'ckpt.db'}")
    await upgrade(db)
    writer = db._writer
    assert writer is not None
    writer.checkpoint_interval = 3600.0
    main_file = tmp_path / "ckpt.db"
    try:
        await _insert(db, "warm-up")  # the first commit checkpoints; the next waits for the interval
        await wait_until(lambda: writer.checkpoints == 1, what="the first checkpoint")
        size_before = main_file.stat().st_size
        for batch in range(3):  # ~1,500 pages of 4 KiB: past SQLite's automatic threshold
            async with db.transaction() as session:
                for i in range(500):
                    await _write(session, f"big-{batch}-{i}", data=b"x" * 3000)
        assert main_file.stat().st_size == size_before, "no commit copied the WAL into the file"
        done = writer.checkpoints
        writer.checkpoint_interval = 0.0
        await _insert(db, "after")
        await wait_until(lambda: writer.checkpoints > done, what="the checkpoint thread")
        assert main_file.stat().st_size > size_before + 4_000_000
    finally:
        await db.dispose()
