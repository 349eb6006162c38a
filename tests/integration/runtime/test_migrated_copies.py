"""The test tier's shortcuts (linli_runtime.testing.migrated, EmbeddedPostgres.without_durability)
give the tests what the real thing gives: a copied database is the migrated one, a database
with anything in it is left to Alembic, and the session's PostgreSQL skips only the disk flush."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from linli_points.app import MIGRATIONS
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from linli_runtime.db import Database
from linli_runtime.migrations import RUNTIME_MIGRATIONS, RUNTIME_VERSION_TABLE, MigrationSet, migrate, upgrade
from linli_runtime.processes import EmbeddedPostgres
from linli_runtime.testing.migrated import MigratedCopies


def shape(connection: Connection) -> dict[str, Any]:
    """Tables with their columns, and every version table's revision."""
    found = inspect(connection)
    tables = {t: sorted(c["name"] for c in found.get_columns(t)) for t in found.get_table_names()}
    versions = {t: connection.execute(text(f"SELECT version_num FROM {t}")).scalars().all()
                for t in tables if t.endswith("alembic_version")}
    return {"tables": tables, "versions": versions}


async def shape_of(db: Database) -> dict[str, Any]:
    async with db.engine.connect() as conn:
        return await conn.run_sync(shape)


EVERY = (MigrationSet(RUNTIME_MIGRATIONS, RUNTIME_VERSION_TABLE), MIGRATIONS)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
async def test_a_copied_database_is_the_migrated_one_and_a_used_one_is_migrated_in_place(
        engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if engine == "sqlite":
        urls = [f"sqlite+aiosqlite:///{tmp_path / name}.db" for name in ("copied", "migrated")]
    else:
        pg: EmbeddedPostgres = request.getfixturevalue("embedded_postgres")
        urls = [pg.database_url(f"copies_{name}") for name in ("copied", "migrated")]
    copied, migrated = Database(urls[0]), Database(urls[1])
    copies = MigratedCopies(tmp_path / "templates")
    try:
        assert await copies.restore(copied, EVERY)
        await migrate(migrated, EVERY)
        by_copy = await shape_of(copied)
        assert by_copy == await shape_of(migrated)
        assert by_copy["versions"] and all(by_copy["versions"].values()), "the version tables came with the copy"
        # Something in it: not replaced; Alembic runs and finds nothing to do.
        assert not await copies.restore(migrated, EVERY)
        await upgrade(migrated, MIGRATIONS)
        assert await shape_of(migrated) == by_copy
    finally:
        await copied.dispose()
        await migrated.dispose()
        if engine == "postgresql":
            for name in ("copied", "migrated"):
                pg.drop_database(f"copies_{name}")


async def test_a_postgresql_database_with_a_table_is_not_replaced(embedded_postgres: EmbeddedPostgres,
                                                                   tmp_path: Path) -> None:
    url = embedded_postgres.database_url("copies_used")
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE kept (x int)"))
            await conn.execute(text("INSERT INTO kept VALUES (42)"))
        assert not await MigratedCopies(tmp_path).restore(db, EVERY)
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT x FROM kept"))).scalar_one() == 42
    finally:
        await db.dispose()
        embedded_postgres.drop_database("copies_used")


async def test_the_sessions_postgresql_skips_only_the_disk_flush(embedded_postgres: EmbeddedPostgres) -> None:
    db = Database(embedded_postgres.database_url("durability"))
    try:
        async with db.engine.connect() as conn:
            settings = {name: (await conn.execute(text(f"SHOW {name}"))).scalar_one()
                        for name in ("fsync", "full_page_writes", "synchronous_commit", "wal_level")}
    finally:
        await db.dispose()
        embedded_postgres.drop_database("durability")
    assert settings == {"fsync": "off", "full_page_writes": "off", "synchronous_commit": "off",
                        "wal_level": settings["wal_level"]}
