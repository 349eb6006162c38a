"""The migrations build exactly the tables the models declare, on both engines, and applying
them again is a no-op."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from linli_governance.app import MIGRATIONS
from linli_governance.tables import metadata

from linli_runtime.db import Database
from linli_runtime.migrations import upgrade


async def test_migrations_match_the_models_and_rerun_cleanly(database_url: str) -> None:
    db = Database(database_url)
    try:
        await upgrade(db, MIGRATIONS)
        await upgrade(db, MIGRATIONS)
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), metadata)
            )
        # The runtime's own tables (outbox, inbox, request ids) share the database.
        assert [d for d in diff if "gov_" in repr(d)] == []
        assert all(name.startswith("gov_") for name in metadata.tables)
        async with db.engine.connect() as conn:
            stored = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalars()
            assert list(stored) == ["gov0007"]
    finally:
        await db.dispose()
