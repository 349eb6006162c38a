"""Migrated copies for the test tier: each kind of database is migrated once per test session
and every further empty database of that kind starts as a copy.

Why: ~760 integration tests each start a service on a fresh SQLite file or PostgreSQL database,
and running a service's whole Alembic history costs ~0.2 s of CPU and ~1-2 s of fsyncs there,
against a few milliseconds to copy a file or to `CREATE DATABASE … TEMPLATE`. The copy is made
by the same `migrate` on the first database of its kind, so what the tests run against is what
the migrations make; the migration tests themselves (`@pytest.mark.real_migrations`) and any
database that is not empty still run Alembic for real.

A copy is taken only where that is safe, and otherwise the database is migrated:
- SQLite: only while the file does not exist yet (no connection can have opened it).
- PostgreSQL: only when the database has no table yet and can be dropped (no other session on
  it); it is dropped and created again from the template.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from linli_runtime.db import Database
from linli_runtime.migrations import MigrationSet, migrate

log = logging.getLogger(__name__)


def _kind(dialect: str, sets: tuple[MigrationSet, ...]) -> str:
    described = repr((dialect, [(str(s.script_location), s.version_table) for s in sets]))
    return hashlib.sha256(described.encode()).hexdigest()[:16]


class MigratedCopies:
    """Templates under `folder` (SQLite files) and as `linli_tpl_*` databases on whichever
    PostgreSQL server a database lives on."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._pg_templates: set[tuple[str, str]] = set()  # (server, template name)

    async def restore(self, db: Database, sets: tuple[MigrationSet, ...]) -> bool:
        if db.is_sqlite:
            return await self._sqlite(db, sets)
        if db.url.get_backend_name() == "postgresql":
            return await self._postgres(db, sets)
        return False

    async def _sqlite(self, db: Database, sets: tuple[MigrationSet, ...]) -> bool:
        if not db.url.database or db.url.database == ":memory:" or _exists(db.url.database):
            return False
        template = self.folder / f"{_kind('sqlite', sets)}.db"
        if not _exists(template):
            scratch = self.folder / f"{uuid.uuid4().hex}.db"
            made = Database(f"sqlite+aiosqlite:///{scratch}")
            try:
                await migrate(made, sets)
            finally:
                await made.dispose()  # the last connection's close folds the WAL into the file
            scratch.replace(template)
        return _copy_unless_there(template, Path(db.url.database))

    async def _postgres(self, db: Database, sets: tuple[MigrationSet, ...]) -> bool:
        name = db.url.database
        if not name:
            return False
        async with db.engine.connect() as conn:
            tables = (await conn.execute(text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"))).scalar_one()
        if tables:
            return False
        await db.engine.dispose()  # our own idle connections would keep the drop from happening
        template = f"linli_tpl_{_kind('postgresql', sets)}"
        maintenance = db.url.set(database="postgres")
        admin = create_async_engine(maintenance, isolation_level="AUTOCOMMIT")
        server = repr(maintenance)
        try:
            try:
                conn = await admin.connect()
            except Exception:  # no maintenance database here (a pooler in front of the server)
                log.warning("no maintenance database next to %s: migrating it instead of copying", name)
                return False
            try:
                return await self._copy_postgres(conn, db, sets, name, template, server)
            finally:
                await conn.close()
        finally:
            await admin.dispose()

    async def _copy_postgres(self, conn: AsyncConnection, db: Database, sets: tuple[MigrationSet, ...], name: str,
                             template: str, server: str) -> bool:
        if (server, template) not in self._pg_templates:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{template}"'))
            await conn.execute(text(f'CREATE DATABASE "{template}"'))
            made = Database(db.url.set(database=template).render_as_string(hide_password=False))
            try:
                await migrate(made, sets)
            finally:
                await made.dispose()
            self._pg_templates.add((server, template))
        try:
            await conn.execute(text(f'DROP DATABASE "{name}"'))
        except Exception:  # someone else is connected: migrate it where it stands
            log.warning("%s has other sessions: migrating it instead of copying", name)
            return False
        await conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        return True


def _exists(path: str | Path) -> bool:
    return Path(path).exists()


def _copy_unless_there(template: Path, target: Path) -> bool:
    """Synchronous on purpose: no other task can open `target` between the look and the copy."""
    if target.exists():
        return False
    shutil.copyfile(template, target)
    return True

