"""identity's migrations build exactly the tables its models declare, on both engines, and
running them again changes nothing; the bootstrap command refuses a second first admin."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from linli_identity import bootstrap
from linli_identity.app import MIGRATIONS
from linli_identity.tables import IdentityTable

from linli_runtime.db import Database
from linli_runtime.migrations import upgrade

# Alembic runs from scratch on every database here: these tests are about the migrations.
pytestmark = pytest.mark.real_migrations


async def test_migrations_match_the_models_and_rerun_cleanly(database_url: str) -> None:
    db = Database(database_url)
    try:
        await upgrade(db, MIGRATIONS)
        await upgrade(db, MIGRATIONS)
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), IdentityTable.metadata))
        assert [d for d in diff if "identity_" in repr(d)] == []
    finally:
        await db.dispose()


def test_the_bootstrap_command_creates_one_admin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'identity.db'}")
    assert bootstrap.main(["--phone", "13800000000", "--name", "张三"]) == 0
    assert "is the platform admin" in capsys.readouterr().out
    assert bootstrap.main(["--phone", "13800000001", "--name", "李四"]) == 1
    assert "a platform admin exists already" in capsys.readouterr().err
