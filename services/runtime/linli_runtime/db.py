"""Async database access: SQLite (WAL) by default, PostgreSQL when DATABASE_URL says so.

Handlers open a transaction with `async with db.transaction() as session:`; everything inside
commits or rolls back together, including events written with `publish_in` (the outbox).
Hot paths may use `session.connection()` and SQLAlchemy Core for speed (see DESIGN.md: the ORM
costs ~200 µs per transaction).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.expression import Executable
from sqlmodel.ext.asyncio.session import AsyncSession

from linli_runtime.sqlite_writer import InlineConnection, SqliteWriter, plain_savepoints

# Set on a connection's `info` by `publish_in`; the commit hook sees it and wakes the relay.
OUTBOX_DIRTY = "linli_outbox_dirty"
# A pooled PostgreSQL connection unused for longer than this is pinged before it is handed out.
PING_AFTER_IDLE = 5.0
_RETURNED_AT = "linli_returned_at"


def async_url(url: str) -> URL:
    """Accept the URLs people write (`postgresql://…`, `sqlite:///…`) and pick the async
    driver for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, statement_cache_size: int = 100,
                 echo: bool = False) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.write_lock_timeout = 30.0
        kwargs: dict[str, Any] = {"echo": echo}
        database = self.url.database or ""
        sqlite_file = self.is_sqlite and database not in ("", ":memory:") and not database.startswith("file:")
        if self.is_sqlite:
            if sqlite_file:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            # LIFO: the connection returned last is handed out next, so a service whose calls are
            # batched keeps using the same few connections and their prepared statements stay
            # hot (FIFO rotated through the whole pool, preparing each statement on every one).
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_use_lifo=True)
            # asyncpg's statement cache and SQLAlchemy's in front of it. 0 behind PgBouncer in
            # transaction mode: consecutive transactions of one connection may run on different
            # server connections, so no prepared statement may outlive its transaction
            # (tests/integration/deploy/test_pooler.py).
            kwargs["connect_args"] = {"statement_cache_size": statement_cache_size,
                                      "prepared_statement_cache_size": statement_cache_size}
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if not self.is_sqlite:
            self._ping_idle_connections()
        self._commit_hooks: list[Callable[[], None]] = []
        engines = [self.engine]
        # A SQLite file's writes go through one writer connection that runs its statements on the
        # loop's thread and commits concurrent transactions in groups, and the hot paths' reads
        # (`reading()`) through connections that run on the loop's thread too (see
        # sqlite_writer.py); ORM reads (`session()`) stay on aiosqlite's threads. (An in-memory
        # database is one connection: neither.)
        self._writer: SqliteWriter | None = None
        self._hot_reader: AsyncEngine | None = None
        if sqlite_file:
            opener = InlineConnection.opener(database, busy_timeout=self.write_lock_timeout)
            writer_engine = create_async_engine(self.url, echo=echo, poolclass=NullPool, async_creator=opener)
            plain_savepoints(writer_engine)
            self._writer = SqliteWriter(writer_engine, path=database, lock_timeout=self.write_lock_timeout)
            self._hot_reader = create_async_engine(self.url, echo=echo, async_creator=opener,
                                                   pool_size=4, max_overflow=8)
            engines += [writer_engine, self._hot_reader]
        # Every engine that runs this database's statements (tracing instruments each).
        self.engines: tuple[AsyncEngine, ...] = tuple(engines)
        for engine in engines:
            if self.is_sqlite:
                # The inline connections never wait inside SQLite: they sleep on the loop between tries.
                _configure_sqlite(engine, busy_timeout_ms=0 if engine is not self.engine else 30000)
            event.listen(engine.sync_engine, "commit", self._after_commit)
            event.listen(engine.sync_engine, "rollback", self._after_rollback)
        self.sessionmaker = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        # Reads take no write lock on SQLite (a deferred BEGIN; see _on_begin).
        self._read_sessionmaker = async_sessionmaker(
            self.engine.execution_options(linli_read_only=True), class_=AsyncSession, expire_on_commit=False
        )
        # SQLite has one writer at a time. Queueing writers here, in order, beats letting them
        # collide in SQLite, whose busy handler makes the losers sleep and poll (measured: ~10x
        # fewer commits/s with 8 concurrent writers). PostgreSQL needs no such queue. (The
        # SQLite writer has its own queue; this one serves an in-memory database.)
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None

    def _ping_idle_connections(self) -> None:
        """Like `pool_pre_ping`, but only for connections that sat idle: with asyncpg a ping is
        BEGIN, `;`, ROLLBACK — three round trips on every checkout, a quarter of a busy
        service's database traffic. A connection in steady use has just proved itself; one
        that waited (a server restart, an idle timeout) is checked, and replaced if dead."""
        pool = self.engine.sync_engine.pool

        @event.listens_for(pool, "checkin")
        def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
            if record is not None:
                record.info[_RETURNED_AT] = time.monotonic()

        @event.listens_for(pool, "checkout")
        def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
            returned = record.info.get(_RETURNED_AT)
            if returned is not None and time.monotonic() - returned < PING_AFTER_IDLE:
                return
            if returned is None:  # just connected
                return
            try:
                dbapi_connection.ping()
            except Exception as exc:  # the pool discards it and connects afresh
                raise DisconnectionError(str(exc)) from exc

    def on_outbox_commit(self, hook: Callable[[], None]) -> None:
        """Call `hook` after each commit that wrote outbox rows (the relay's wake-up)."""
        self._commit_hooks.append(hook)

    def _after_commit(self, conn: Any) -> None:
        if conn.info.pop(OUTBOX_DIRTY, False):
            self._wake_relays()

    def _wake_relays(self) -> None:
        """Outbox rows were committed: the hooks of `on_outbox_commit`."""
        for hook in self._commit_hooks:
            hook()

    def _after_rollback(self, conn: Any) -> None:
        # A connection invalidated mid-transaction (a task cancelled during a statement, a lost
        # server) refuses `info` with PendingRollbackError, which would replace the exception
        # being handled — a CancelledError too. Its DBAPI connection is discarded, flag and all.
        if conn.invalidated:
            return
        conn.info.pop(OUTBOX_DIRTY, None)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one write transaction: committed when the block ends, rolled back if
        it raises. Do not open a second one inside it (on SQLite that waits for itself).

        On a SQLite file the block may share SQLite's transaction with the transactions queued
        behind it (group commit); it still commits or rolls back on its own, and returns only
        once its changes are committed."""
        if self._writer is not None:
            async with self._writer.transaction() as writing:
                yield writing
            return
        if self._write_lock is None:
            async with self.sessionmaker() as session, session.begin():
                yield session
            return
        try:
            async with asyncio.timeout(self.write_lock_timeout):
                await self._write_lock.acquire()
        except TimeoutError as exc:
            raise OperationalError("BEGIN IMMEDIATE", None, TimeoutError(
                f"no write slot within {self.write_lock_timeout}s")) from exc
        try:
            async with self.sessionmaker() as session, session.begin():
                yield session
        finally:
            self._write_lock.release()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads: it sees committed data and takes no write lock. Writes belong in
        `transaction()`."""
        async with self._read_sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection for reads (no write lock; sees committed data), for hot paths.

        On PostgreSQL it runs in autocommit: under READ COMMITTED every statement sees its own
        snapshot anyway, so a transaction around reads adds nothing but BEGIN and ROLLBACK — two
        round trips per read (a sixth of a POS redeem's database traffic). On a SQLite file it
        runs on the loop's thread (no thread hop per statement; see sqlite_writer.py), in a
        deferred read transaction: one snapshot for the block."""
        if self._hot_reader is not None:
            async with self._hot_reader.connect() as conn:
                yield await conn.execution_options(linli_read_only=True)
            return
        if self.is_sqlite:
            async with self.session() as session:
                yield await session.connection()
            return
        async with self.engine.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def _one_statement(self) -> AsyncIterator[AsyncConnection]:
        """A connection for one write statement on its own. A single statement is atomic by
        itself, so on PostgreSQL it runs in autocommit — no BEGIN, no COMMIT: one round trip where
        a transaction around it takes three; on SQLite it takes the write queue like any
        transaction (committed when the block ends)."""
        if self.is_sqlite:
            async with self.transaction() as session:
                yield await session.connection()
            return
        async with self.engine.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    async def write_one(self, statement: Executable, params: Mapping[str, Any] | None = None) -> int:
        """Run one write statement on its own (`_one_statement`) and return the number of rows
        it changed."""
        async with self._one_statement() as conn:
            result: Any = await conn.execute(statement, params)
            return int(result.rowcount)

    async def write_returning(self, statement: Executable, params: Mapping[str, Any] | None = None, *,
                              wrote_outbox: bool = False) -> list[Any]:
        """`write_one` for a statement with RETURNING: its rows. `wrote_outbox`: the statement
        wrote outbox rows (a data-modifying CTE), so the relay is woken once it has committed, as
        the commit of a transaction that wrote them wakes it."""
        async with self._one_statement() as conn:
            rows = list((await conn.execute(statement, params)).all())
        if wrote_outbox:
            self._wake_relays()
        return rows

    async def dispose(self) -> None:
        if self._writer is not None:
            await self._writer.close()
            await self._writer.engine.dispose()
        if self._hot_reader is not None:
            await self._hot_reader.dispose()
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine, *, busy_timeout_ms: int) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy, not the driver, emits BEGIN (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front. A deferred transaction that reads and then
        # writes fails with SQLITE_BUSY when another writer got there first, and busy_timeout
        # cannot help it; with IMMEDIATE the second writer simply waits its turn. Sessions
        # opened with `db.session()` are for reads and begin deferred.
        if conn.get_execution_options().get("linli_read_only"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
