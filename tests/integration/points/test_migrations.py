"""The service's migrations build exactly the tables its models declare (types, server
defaults, keys and indexes), on both engines, and applying them again is a no-op."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from linli_points.app import MIGRATIONS
from linli_points.tables import PointsTable
from sqlalchemy.engine import Connection

from linli_runtime.db import Database
from linli_runtime.migrations import upgrade

# Alembic runs from scratch on every database here: these tests are about the migrations.
pytestmark = pytest.mark.real_migrations


def same_empty_default(context: Any, inspected_column: Any, metadata_column: Any, inspected_default: str | None,
                       metadata_default: Any, rendered_metadata_default: str | None) -> bool | None:
    """SQLite gives DEFAULT '' back as "''" (or "('')" for a table Alembic rebuilt), the model's
    renders as '', and Alembic's SQLite comparison calls them different: they are the same
    default. Anything else is left to Alembic's own comparison."""
    if rendered_metadata_default == "" and inspected_default in ("''", "('')"):
        return False
    return None


def differences(connection: Connection) -> list[Any]:
    ours = set(PointsTable.metadata.tables)

    def only_ours(name: str | None, type_: str, parent_names: Any) -> bool:
        # The database also holds the runtime's tables and the version tables: not ours to judge.
        return type_ != "table" or name in ours

    context = MigrationContext.configure(connection, opts={
        "compare_type": True, "compare_server_default": same_empty_default, "include_name": only_ours})
    return list(compare_metadata(context, PointsTable.metadata))


async def test_migrations_match_the_models_and_rerun_cleanly(database_url: str) -> None:
    db = Database(database_url)
    try:
        await upgrade(db, MIGRATIONS)
        await upgrade(db, MIGRATIONS)
        async with db.engine.connect() as conn:
            assert await conn.run_sync(differences) == []
        assert len(PointsTable.metadata.tables) == 26  # every table of the service, the ledger's included
    finally:
        await db.dispose()
