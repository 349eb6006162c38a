"""Migrations keep every row: a database at rd0002 holding a redemption with a refund, a
restock, a duty swap, needs, a resource and projects is upgraded to the head on both engines,
and afterwards holds the same rows, takes request ids of 128 characters (issue 14 item 10: one
request-id rule across services), and reads its needs and projects in rd0005's terms (a closed
project is done, with its history; its need met; its resources linked)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from linli_redemption.app import MIGRATIONS
from linli_redemption.tables import (
    DUTY_SWAPS,
    NEEDS,
    PARTNERS,
    PROJECT_CHANGES,
    PROJECT_RESOURCES,
    PROJECTS,
    REDEMPTIONS,
    REFUNDS,
    RESTOCKS,
    REWARDS,
)

from linli_runtime.db import Database
from linli_runtime.migrations import alembic_config, upgrade

WHEN = datetime(2026, 11, 7, 9, 0, tzinfo=UTC)
LONG = "r" * 128

# Alembic runs from scratch on every database here: these tests are about the migrations.
pytestmark = pytest.mark.real_migrations


async def migrate_to(db: Database, revision: str) -> None:
    await upgrade(db)  # the runtime's own tables
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(MIGRATIONS, sync), revision))


async def counts(db: Database) -> dict[str, int]:
    async with db.engine.connect() as conn:
        return {t.name: int((await conn.execute(sa.select(sa.func.count()).select_from(t))).scalar_one())
                for t in (PARTNERS, REWARDS, RESTOCKS, REDEMPTIONS, REFUNDS, DUTY_SWAPS, NEEDS, PROJECTS)}


async def test_an_old_database_upgrades_with_its_rows_and_takes_long_request_ids(database_url: str) -> None:
    db = Database(database_url)
    try:
        await migrate_to(db, "rd0002")
        async with db.engine.begin() as conn:
            # Columns as rd0002 knew them (no column added later is named).
            await conn.execute(sa.text(
                "INSERT INTO rd_partner (id, community_path, kind, display_name, create_time) "
                "VALUES ('shop', 'c', 'merchant', '店', :t)"), {"t": WHEN})
            await conn.execute(sa.text(
                "INSERT INTO rd_reward (merchant_id, id, display_name, points, stock, create_time) "
                "VALUES ('shop', 'kit', 'kit', 5, 3, :t)"), {"t": WHEN})
            await conn.execute(sa.text(
                "INSERT INTO rd_restock (merchant_id, reward_id, request_id, units) VALUES ('shop', 'kit', 'x', 1)"))
            await conn.execute(sa.text(
                "INSERT INTO rd_redemption (id, merchant_id, request_id, fingerprint, terminal_id, community_path, "
                "volunteer_id, masked_member, reward_id, reward_name, quantity, points, state, hold_id, "
                "create_time) VALUES ('r-1', 'shop', 'pos-1', 'f', 't', 'c', 'v', 'v*', 'kit', 'kit', 1, 5, "
                "'committed', 'redemption:r-1', :t)"), {"t": WHEN})
            await conn.execute(sa.text(
                "INSERT INTO rd_refund (id, redemption_id, merchant_id, request_id, fingerprint, community_path, "
                "points, reason, create_time) VALUES ('rf-1', 'r-1', 'shop', 'rf', 'f', 'c', 5, 'x', :t)"),
                {"t": WHEN})
            await conn.execute(sa.text(
                "INSERT INTO rd_duty_swap (community_path, version, request_id, first_index, second_index) "
                "VALUES ('c', 'v1', 's', 0, 1)"))
            await conn.execute(sa.text(
                "INSERT INTO rd_need (id, community_path, title, create_time) VALUES ('n-1', 'c', '助餐', :t)"),
                {"t": WHEN})
            await conn.execute(sa.text(
                "INSERT INTO rd_need (id, community_path, title, create_time) VALUES ('n-2', 'c', '义诊', :t)"),
                {"t": WHEN})
            await conn.execute(sa.text(
                "INSERT INTO rd_resource (id, community_path, title, partner_id, create_time) "
                "VALUES ('res-1', 'c', '午餐', 'shop', :t)"), {"t": WHEN})
            await conn.execute(sa.text(
                "INSERT INTO rd_project (id, community_path, request_id, fingerprint, title, need_id, resource_ids, "
                "owner, state, create_time) VALUES ('p-1', 'c', 'p', 'f', '助餐', 'n-1', 'res-1', 'x', 'open', :t)"),
                {"t": WHEN})
            await conn.execute(sa.text(
                "INSERT INTO rd_project (id, community_path, request_id, fingerprint, title, need_id, resource_ids, "
                "owner, state, outcome, create_time, close_time) VALUES ('p-2', 'c', 'p2', 'f', '义诊', 'n-2', "
                "'res-1', 'x', 'closed', '服务30人', :t, :t)"), {"t": WHEN})
        before = await counts(db)
        await upgrade(db, MIGRATIONS)
        assert await counts(db) == before
        async with db.engine.begin() as conn:
            needs = {n.id: (n.state, n.receive_time is not None) for n in (await conn.execute(sa.select(NEEDS))).all()}
            assert needs == {"n-1": ("matched", True), "n-2": ("met", True)}
            projects = {p.id: p.state for p in (await conn.execute(sa.select(PROJECTS))).all()}
            assert projects == {"p-1": "open", "p-2": "done"}
            history = [(c.project_id, c.from_state, c.to_state, c.note) for c in (await conn.execute(
                sa.select(PROJECT_CHANGES).order_by(PROJECT_CHANGES.c.project_id, PROJECT_CHANGES.c.seq))).all()]
            assert history == [("p-1", "", "open", ""), ("p-2", "", "open", ""), ("p-2", "open", "done", "服务30人")]
            assert len((await conn.execute(sa.select(PROJECT_RESOURCES))).all()) == 2
            refund = (await conn.execute(sa.select(REFUNDS))).one()
            assert (refund.id, refund.redemption_id, refund.request_id, refund.points) == ("rf-1", "r-1", "rf", 5)
            # 128 characters fit wherever a request id is kept (PostgreSQL enforces the width).
            await conn.execute(RESTOCKS.insert().values(merchant_id="shop", reward_id="kit", request_id=LONG,
                                                        units=1))
            await conn.execute(REFUNDS.update().values(request_id=LONG))
            await conn.execute(REDEMPTIONS.update().values(request_id=LONG))
            await conn.execute(DUTY_SWAPS.update().values(request_id=LONG))
            await conn.execute(PROJECTS.update().where(PROJECTS.c.id == "p-1").values(request_id=LONG))
    finally:
        await db.dispose()
