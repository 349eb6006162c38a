"""SQLite's writes: one writer connection per process, statements run on the event loop's
thread, concurrent transactions committed in groups.

Why (measured, `python -m bench.event_path`): through aiosqlite every statement is a hop to the
connection's thread and back — four or more per statement (cursor, execute, fetch, close) — and
on a busy machine each hop waits for the scheduler, so a one-row transaction cost milliseconds
of waiting for tens of microseconds of SQLite. An indexed SQLite statement in WAL mode costs
less than the hop, so the writer connection runs its statements where the transaction's code
runs. SQLite has one writer at a time anyway: a second connection would only queue.

The hot paths' reads (`Database.reading()`: the relay's claims, a POS redeem's lookups) run on
the loop's thread as well, on a small pool of such connections: under load a thread hop waits
for the GIL as well as the scheduler (measured: a relay's one-statement read took a second
while the writers kept the loop busy).

What keeps the loop free:
- A lock held by another connection (a migration, another process) is waited for with
  `asyncio.sleep`, never inside SQLite (`busy_timeout` is 0 on these connections).
- Checkpoints (copying the WAL back into the database file, with its fsyncs) run on a thread:
  SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold, and on the
  loop's thread that commit held the loop for 90–170 ms (measured on a busy 2-core machine).
  These connections turn it off; after a commit the writer starts a PASSIVE checkpoint (it
  waits for no reader and no writer) on a thread, at most every `checkpoint_interval`.
- ORM reads (`Database.session()`) stay on aiosqlite's threads: a report's long scan must not
  stop the loop. Statements inside a write transaction and in `reading()` run here; keep them
  indexed and bulk work in batches (as the ledger's sweeper does), not one giant statement.

Group commit: transactions queue for the writer in order. When one ends, SQLite's transaction
stays open until the loop's next turn: the transactions ready to run by then (other requests)
run in it, each in a savepoint released when it ends, and then the group commits. Every
member's `transaction()` returns only after that commit — a caller never sees success before
its changes are durable.
A member that fails rolls back to its own savepoint and fails alone; the others commit. A
commit that fails fails every member of the group (none of their changes were committed). A
member cancelled while it waits for the group's commit is committed all the same, like a
transaction cancelled after its COMMIT was sent.

Some errors end SQLite's whole transaction, not just the statement: disk full, an I/O error, a
statement's `OR ROLLBACK` or a trigger's `RAISE(ROLLBACK)`. Then the group's earlier members'
changes are gone with it: they fail too (OperationalError, "retry"), never succeed with changes
that were not committed, and the next transaction starts a new group on a fresh connection.
A constraint checked only at COMMIT (DEFERRABLE INITIALLY DEFERRED) would fail its whole group
the same way: the schema declares none, keep it so.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

log = logging.getLogger("linli.db.sqlite")

T = TypeVar("T")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


class InlineConnection:
    """The part of aiosqlite's `Connection` that SQLAlchemy's aiosqlite dialect uses, running
    each call at once on the calling (event loop) thread. A statement refused because another
    connection holds the write lock is retried after an asynchronous sleep, up to
    `busy_timeout` seconds."""

    def __init__(self, conn: sqlite3.Connection, busy_timeout: float) -> None:
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn  # the dialect checks it before commit
        self._tx = _RunNow()  # the dialect sets isolation_level through aiosqlite's queue
        self.busy_timeout = busy_timeout

    @classmethod
    def opener(cls, path: str, busy_timeout: float) -> Callable[[], Any]:
        async def connect() -> InlineConnection:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=0")  # waits happen in _run, off SQLite
            conn.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run on a thread (SqliteWriter)
            return cls(conn, busy_timeout)

        return connect

    async def _run(self, call: Callable[..., T], *args: Any) -> T:
        delay, deadline = 0.001, None
        while True:
            try:
                return call(*args)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                loop = asyncio.get_running_loop()
                deadline = deadline or loop.time() + self.busy_timeout
                if loop.time() >= deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @property
    def in_transaction(self) -> bool:
        """SQLite's own answer (SQLAlchemy's may still believe in a transaction SQLite ended)."""
        return self._conn.in_transaction

    def cursor(self) -> InlineCursor:
        return InlineCursor(self)

    async def commit(self) -> None:
        await self._run(self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()


class InlineCursor:
    def __init__(self, owner: InlineConnection) -> None:
        self._owner = owner
        self._cursor = owner._conn.cursor()

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        await self._owner._run(self._cursor.execute, sql, () if parameters is None else parameters)
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> InlineCursor:
        # A list, so that a retry after SQLITE_BUSY sees every row again.
        await self._owner._run(self._cursor.executemany, sql, list(seq_of_parameters))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _RunNow:
    """Stands for aiosqlite's call queue: runs the call at once and resolves its future."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, call = item
        try:
            result = call()
        except BaseException as exc:
            if future is None:
                raise
            future.set_exception(exc)
        else:
            if future is not None:
                future.set_result(result)


class _Group:
    """Transactions whose changes wait in one open SQLite transaction for its commit."""

    def __init__(self) -> None:
        self.members = 0
        self.committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closer: asyncio.Task[None] | None = None

    def fail(self, exc: BaseException) -> None:
        if not self.committed.done():
            self.committed.set_exception(exc)
            self.committed.exception()  # retrieved: a group without waiters logs nothing


class GroupRolledBack(OperationalError):
    """SQLite ended a group's transaction under its members (an error that rolls back the whole
    transaction, not just its statement): their changes were not committed."""


class SqliteWriter:
    """The process's one SQLite writer connection, shared in turn by every write transaction."""

    def __init__(self, engine: AsyncEngine, *, path: str, lock_timeout: float,
                 checkpoint_interval: float = 1.0) -> None:
        self.engine = engine
        self.path = path
        self.lock_timeout = lock_timeout
        self.checkpoint_interval = checkpoint_interval
        self._lock = asyncio.Lock()
        self._queued = 0  # tasks between wanting the lock and holding it
        self._conn: AsyncConnection | None = None
        self._group: _Group | None = None  # the open transaction's members, if it has any yet
        self.commits = 0  # SQLite commits (a test and the benchmark read it)
        self.checkpoints = 0  # checkpoints done on the thread (a test reads it)
        self._checkpointing: asyncio.Task[None] | None = None
        self._checkpointed_at: float | None = None  # loop time the last checkpoint started
        self._checkpointer: sqlite3.Connection | None = None  # used on the checkpoint thread only
        self._checkpointer_lock = threading.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        await self._acquire(self.lock_timeout)
        try:
            conn = await self._connection()
            group = self._group
            if group is None:
                await conn.begin()  # BEGIN IMMEDIATE (Database's begin hook)
            # The first transaction of a group works in SQLite's transaction itself (its failure
            # rolls all of it back: there is nothing else in it); the next ones in savepoints.
            mode = "create_savepoint" if group is not None else "rollback_only"
            session = AsyncSession(bind=conn, expire_on_commit=False, join_transaction_mode=mode)
            raised: BaseException | None = None  # by the block itself
            try:
                async with session.begin():
                    try:
                        yield session
                    except BaseException as exc:
                        raised = exc
                        raise
            except BaseException as exc:
                await session.close()
                if await self._after_failure(conn, group) and raised is not None and exc is not raised:
                    # The session's rollback to a savepoint SQLite had already dropped (with its
                    # whole transaction) hides the error that ended it: report that one.
                    raise raised from None
                raise
            await session.close()
            if not _sqlite_in_transaction(conn):
                # The block swallowed an error that ended SQLite's transaction and went on
                # (its later statements ran in autocommit): none of this group is sure to stand.
                error = GroupRolledBack("COMMIT", None, RuntimeError(
                    "SQLite ended this transaction early (the block went on after an error that "
                    "rolled it back); what it wrote afterwards may stand: check before retrying"))
                await self._lose_group(group, error)
                raise error
            if group is None:
                # Commit on the loop's next turn, not now: the transactions that are ready to run
                # (requests that arrived meanwhile) run first and join this one.
                group = self._group = _Group()
                group.closer = asyncio.create_task(self._close(group), name="sqlite-group-commit")
            group.members += 1
        finally:
            self._lock.release()
        await asyncio.shield(group.committed)

    async def _acquire(self, timeout: float | None) -> None:
        # Free and nobody queued: taken at once, no timer to arm and cancel. (Free with a task
        # queued means it was just released to that task: this one queues behind it, timer and all.)
        if not self._lock.locked() and not self._queued:
            await self._lock.acquire()
            return
        self._queued += 1
        try:
            async with asyncio.timeout(timeout):
                await self._lock.acquire()
        except TimeoutError as exc:
            raise OperationalError("BEGIN IMMEDIATE", None, TimeoutError(
                f"no write slot within {timeout}s")) from exc
        finally:
            self._queued -= 1

    async def _connection(self) -> AsyncConnection:
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            self._conn = await self.engine.connect()
        return self._conn

    async def _commit(self, group: _Group) -> None:
        assert self._conn is not None
        self._group = None
        try:
            if not _sqlite_in_transaction(self._conn):
                # Python's sqlite3 makes COMMIT outside a transaction a no-op: without this
                # check the members of a group SQLite rolled back would be told "committed".
                raise GroupRolledBack("COMMIT", None, RuntimeError(
                    "SQLite rolled back this transaction's group before its commit; nothing was committed"))
            await self._conn.commit()
        except BaseException as exc:
            group.fail(exc)
            await self._drop_connection()
            raise
        self.commits += 1
        if not group.committed.done():
            group.committed.set_result(None)
        self._checkpoint_soon()

    def _checkpoint_soon(self) -> None:
        """Start a checkpoint on a thread unless one runs or one started within the interval."""
        if self._checkpointing is not None:
            return
        now = asyncio.get_running_loop().time()
        if self._checkpointed_at is not None and now - self._checkpointed_at < self.checkpoint_interval:
            return
        self._checkpointed_at = now
        self._checkpointing = asyncio.create_task(self._checkpoint(), name="sqlite-checkpoint")

    async def _checkpoint(self) -> None:
        try:
            await asyncio.to_thread(self._checkpoint_on_thread)
            self.checkpoints += 1
        except Exception as exc:  # the WAL grows until the next one succeeds
            log.warning("SQLite checkpoint failed", extra={"error": repr(exc)})
        finally:
            self._checkpointing = None

    def _checkpoint_on_thread(self) -> None:
        with self._checkpointer_lock:
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            # PASSIVE: copies what no reader still needs, waits for nobody (busy_timeout unused).
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    async def _close(self, group: _Group) -> None:
        """Commit `group` once every transaction ready or queued before it has had its turn."""
        await self._acquire(None)
        try:
            if self._group is group:
                await self._commit(group)
        except Exception as exc:  # the members have it; they report it
            log.warning("SQLite group commit failed", extra={"error": repr(exc), "members": group.members})
        finally:
            self._lock.release()

    async def _after_failure(self, conn: AsyncConnection, group: _Group | None) -> bool:
        """A member's work was rolled back: its savepoint, or — the first of a group — SQLite's
        whole transaction (the session rolls back only a transaction it used: one that ran no
        statement is rolled back here). If SQLite's transaction is gone, so is the group's work:
        its members fail and the connection is replaced. Returns whether SQLite's transaction
        was gone."""
        if group is None:  # alone in SQLite's transaction: nobody else's work to lose
            if conn.in_transaction() and not conn.invalidated:
                await conn.rollback()
            return False
        if not conn.invalidated and conn.in_transaction() and _sqlite_in_transaction(conn):
            return False  # rolled back to its savepoint: the group's work stands
        await self._lose_group(group, GroupRolledBack("ROLLBACK", None, RuntimeError(
            "a transaction committed together with this one failed and SQLite rolled back them "
            "all; nothing of this one was committed: retry")))
        return True

    async def _lose_group(self, group: _Group | None, error: BaseException) -> None:
        """SQLite's transaction ended under the group: fail its members, start afresh."""
        if self._group is group:
            self._group = None
        if group is not None:
            group.fail(error)
        await self._drop_connection()

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.invalidate()
            except Exception as exc:
                log.warning("could not discard the SQLite writer connection", extra={"error": repr(exc)})

    async def close(self) -> None:
        """At shutdown, after the last transaction: commit what waits, close the connection."""
        await self._acquire(None)
        try:
            if self._group is not None:
                await self._commit(self._group)
            if self._conn is not None:
                await self._conn.close()
                self._conn = None
        finally:
            self._lock.release()
        if self._checkpointing is not None:
            await asyncio.wait([self._checkpointing])
        with self._checkpointer_lock:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None


def plain_savepoints(engine: AsyncEngine) -> None:
    """The writer engine's savepoints (two per grouped transaction) as plain SQL on SQLite's
    connection: SQLAlchemy compiles each SAVEPOINT and RELEASE afresh (a new name each time)
    and runs it like a query — a quarter of a one-event transaction's CPU (measured)."""
    dialect = engine.sync_engine.dialect

    def run(connection: Any, sql: str) -> None:
        driver = connection.connection.driver_connection
        assert isinstance(driver, InlineConnection), "the writer engine connects with InlineConnection"
        try:
            driver._conn.execute(sql)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc

    dialect.do_savepoint = lambda connection, name: run(connection, f"SAVEPOINT {name}")  # type: ignore[method-assign]
    dialect.do_release_savepoint = (  # type: ignore[method-assign]
        lambda connection, name: run(connection, f"RELEASE SAVEPOINT {name}"))
    dialect.do_rollback_to_savepoint = (  # type: ignore[method-assign]
        lambda connection, name: run(connection, f"ROLLBACK TO SAVEPOINT {name}"))


def _sqlite_in_transaction(conn: AsyncConnection) -> bool:
    """Whether SQLite itself has a transaction open on the writer's connection."""
    try:
        driver = conn.sync_connection.connection.driver_connection if conn.sync_connection else None
    except Exception:  # closed or invalidated: no transaction there
        return False
    return isinstance(driver, InlineConnection) and driver.in_transaction
