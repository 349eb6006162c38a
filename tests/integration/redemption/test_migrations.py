"""The service's migrations build exactly the tables its SQLModel models declare, on both
engines, and applying them again is a no-op (the models are the one definition of each table)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from linli_redemption.app import MIGRATIONS
from linli_redemption.tables import metadata

from linli_runtime.db import Database
from linli_runtime.migrations import upgrade

# Alembic runs from scratch on every database here: these tests are about the migrations.
pytestmark = pytest.mark.real_migrations


async def test_migrations_match_the_models_and_rerun_cleanly(database_url: str) -> None:
    db = Database(database_url)
    try:
        await upgrade(db, MIGRATIONS)
        await upgrade(db, MIGRATIONS)
        # Server defaults are compared on PostgreSQL only: SQLite reflects them as text that alembic
        # cannot match ('' against '').
        opts = {"compare_type": True, "compare_server_default": not db.is_sqlite}
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync, opts=opts),
                                                                     metadata))
        ours = [d for d in diff if "rd_" in repr(d)]
        assert ours == []
        assert {name for name in metadata.tables} == {
            "rd_partner", "rd_terminal", "rd_reward", "rd_restock", "rd_member_card", "rd_member_session",
            "rd_redemption", "rd_refund", "rd_duty_rotation", "rd_duty_swap", "rd_need", "rd_resource",
            "rd_project", "rd_held_secret", "rd_project_resource", "rd_project_change", "rd_rate_count", "rd_lockout",
            "rd_org_unit", "rd_day_summary"}
    finally:
        await db.dispose()
