"""Alembic migrations, applied at start-up.

Each service's database holds two migration histories: the runtime's own tables (outbox,
inbox, dead letters; version table `linli_runtime_alembic_version`) and the service's tables
(`alembic_version`). A service keeps its scripts in `<package>/migrations/` with an env.py that
calls `run_env(metadata)`.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, String, column, inspect, table, text
from sqlalchemy.engine import Connection

from linli_runtime.db import Database

RUNTIME_MIGRATIONS = Path(__file__).parent
RUNTIME_VERSION_TABLE = "linli_runtime_alembic_version"


@dataclass(frozen=True)
class MigrationSet:
    script_location: Path
    version_table: str = "alembic_version"


def alembic_config(migrations: MigrationSet, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations.script_location))
    config.attributes["version_table"] = migrations.version_table
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, migrations: MigrationSet) -> None:
    if connection.dialect.name == "postgresql":
        # Replicas starting together must not migrate the same database at once.
        key = int.from_bytes(hashlib.sha256(migrations.version_table.encode()).digest()[:8], "big", signed=True)
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    command.upgrade(alembic_config(migrations, connection), "head")


class MigratedCopies(Protocol):
    """Somewhere to take an already-migrated copy of a database from (the test tier's
    `linli_runtime.testing.migrated`): `restore` fills an empty database with a copy made
    by these same migrations and says whether it did."""

    async def restore(self, db: Database, sets: tuple[MigrationSet, ...]) -> bool: ...


# None outside the test tier: a service always migrates its database itself.
_copies: MigratedCopies | None = None


def use_migrated_copies(copies: MigratedCopies | None) -> None:
    """Let `upgrade` fill an empty database from `copies` (None: migrate, always)."""
    global _copies
    _copies = copies


async def upgrade(db: Database, *sets: MigrationSet) -> None:
    """Bring the database to the newest revision of the runtime's tables and then of each set."""
    every = (MigrationSet(RUNTIME_MIGRATIONS, RUNTIME_VERSION_TABLE), *sets)
    if _copies is not None and await _copies.restore(db, every):
        return
    await migrate(db, every)


async def migrate(db: Database, sets: tuple[MigrationSet, ...]) -> None:
    """Run each set's migrations up to its newest revision, in order."""
    for migrations in sets:
        async with db.engine.begin() as conn:
            await conn.run_sync(_upgrade, migrations)


def rename_revisions(connection: Connection, version_table: str, renamed: Mapping[str, str]) -> None:
    """Rewrite revision ids stored in `version_table` that a set's scripts no longer carry
    (`renamed`: old id → new id), so that a database made before the renaming upgrades from
    where it stands instead of failing on an unknown revision."""
    if not renamed or not inspect(connection).has_table(version_table):
        return
    versions = table(version_table, column("version_num", String))
    for old, new in renamed.items():
        connection.execute(versions.update().where(versions.c.version_num == old).values(version_num=new))


def run_env(target_metadata: MetaData | None, *, renamed: Mapping[str, str] | None = None) -> None:
    """Body of every env.py. With a connection handed over by `upgrade`, use it; otherwise
    (the `alembic` command line, e.g. `alembic revision --autogenerate`) connect to
    DATABASE_URL. `renamed` maps revision ids a set once used to the ids its scripts carry now
    (see `rename_revisions`)."""
    config = context.config
    version_table = config.attributes.get("version_table", "alembic_version")

    def run(connection: Connection) -> None:
        rename_revisions(connection, version_table, renamed or {})
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table=version_table,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copy
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    connection: Any = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return

    import os

    async def run_standalone() -> None:
        db = Database(os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///var/linli.db"))
        async with db.engine.begin() as conn:
            await conn.run_sync(run)
        await db.dispose()

    asyncio.run(run_standalone())
