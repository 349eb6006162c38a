"""The service's migrations build exactly the tables the models declare, on both engines, and
applying them again is a no-op; a database made before the revision ids took the `nt` prefix
upgrades from where it stands."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from linli_notification.app import MIGRATIONS
from linli_notification.demo import WORKER_CHEN, WORKER_HE, WORKER_LI, WORKER_ZHAO
from linli_notification.tables import community, duty_shift, metadata, preferences

from linli_runtime.db import Database
from linli_runtime.migrations import MigrationSet, alembic_config, upgrade

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
HEAD = "nt0010"

# Alembic runs from scratch on every database here: these tests are about the migrations.
pytestmark = pytest.mark.real_migrations


async def differences(db: Database) -> list[object]:
    async with db.engine.connect() as conn:
        diff = await conn.run_sync(lambda sync: compare_metadata(
            MigrationContext.configure(sync, opts={"compare_type": True}), metadata))
    return [d for d in diff if "nf_" in repr(d)]


async def stored_revision(db: Database) -> list[str]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalars())


async def test_migrations_match_the_tables_and_rerun_cleanly(database_url: str) -> None:
    db = Database(database_url)
    try:
        await upgrade(db, MIGRATIONS)
        await upgrade(db, MIGRATIONS)
        assert await differences(db) == []
        assert await stored_revision(db) == [HEAD]
    finally:
        await db.dispose()


def scripts_before_the_renaming(root: Path) -> MigrationSet:
    """The service's migrations as it shipped them before the `nt` prefix: the same scripts
    under the revision ids nf0001 and nf0002, and an env.py that renames nothing."""
    (root / "versions").mkdir(parents=True)
    shutil.copy(MIGRATIONS.script_location / "script.py.mako", root)
    (root / "env.py").write_text("from linli_notification.tables import metadata\n"
                                 "from linli_runtime.migrations import run_env\n\n"
                                 "run_env(metadata)\n")
    for script in sorted((MIGRATIONS.script_location / "versions").glob("nt000[12]_*.py")):
        text = script.read_text(encoding="utf-8").replace("nt0001", "nf0001").replace("nt0002", "nf0002")
        (root / "versions" / ("nf" + script.name.removeprefix("nt"))).write_text(text, encoding="utf-8")
    return MigrationSet(root)


@pytest.mark.parametrize("stands_at", ["nf0002", "nf0001"])
async def test_a_database_made_before_the_renaming_upgrades_from_where_it_stands(
        database_url: str, tmp_path: Path, stands_at: str) -> None:
    db = Database(database_url)
    old = scripts_before_the_renaming(tmp_path / "old-migrations")
    try:
        await upgrade(db)  # the runtime's own tables, as the service always had them
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(old, sync), stands_at))
            await conn.execute(community.insert().values(path=FENGSHU, head_id="head-wu"))
        assert await stored_revision(db) == [stands_at]

        await upgrade(db, MIGRATIONS)
        assert await stored_revision(db) == [HEAD]
        assert await differences(db) == [], "nf0001 → nt0002 drops the old request-id table; the rest follow"
        async with db.engine.connect() as conn:
            kept = (await conn.execute(sa.select(community.c.head_id).where(community.c.path == FENGSHU))).scalar()
        assert kept == "head-wu", "the data stays"
        await upgrade(db, MIGRATIONS)
        assert await stored_revision(db) == [HEAD]
    finally:
        await db.dispose()


async def test_the_demo_roster_moves_from_local_names_to_accounts(database_url: str) -> None:
    """nt0009: a roster made when it named workers locally (`worker-li`) names the demo people's
    accounts after the upgrade — shifts, the head, preferences — so help requests reach an inbox
    someone can read; a local name that is no demo person's stays, for staff to re-roster."""
    db = Database(database_url)
    try:
        await upgrade(db)
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(MIGRATIONS, sync), "nt0008"))
            await conn.execute(community.insert().values(path=FENGSHU, head_id="worker-he"))
            for ident, worker, backup in (("s-1", "worker-li", "worker-chen"), ("s-2", "worker-wu", "worker-li")):
                await conn.execute(duty_shift.insert().values(
                    id=ident, community_path=FENGSHU, weekday=1, start_minute=0, end_minute=600, worker_id=worker,
                    backup_id=backup, note=""))
            await conn.execute(preferences.insert().values(recipient_id="worker-zhao", wechat_openid="openid-zhao"))
        await upgrade(db, MIGRATIONS)
        async with db.engine.connect() as conn:
            head = (await conn.execute(sa.select(community.c.head_id))).scalar()
            shifts = (await conn.execute(sa.select(duty_shift.c.id, duty_shift.c.worker_id, duty_shift.c.backup_id)
                                         .order_by(duty_shift.c.id))).all()
            prefs = (await conn.execute(sa.select(preferences.c.recipient_id, preferences.c.wechat_openid))).all()
        assert head == WORKER_HE
        assert [tuple(r) for r in shifts] == [("s-1", WORKER_LI, WORKER_CHEN), ("s-2", "worker-wu", WORKER_LI)]
        assert [tuple(r) for r in prefs] == [(WORKER_ZHAO, "openid-zhao")]
    finally:
        await db.dispose()
