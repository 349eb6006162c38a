"""The migrations build exactly the tables the models declare, on both engines, and applying
them again is a no-op."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from linli_governance.app import MIGRATIONS
from linli_governance.tables import metadata

from linli.events.v1.envelope_pb2 import EventEnvelope
from linli.events.v1.governance_pb2 import OrgUnitUpdated
from linli_runtime.db import Database
from linli_runtime.events.tables import OUTBOX
from linli_runtime.migrations import alembic_config, upgrade

# Alembic runs from scratch on every database here: these tests are about the migrations.
pytestmark = pytest.mark.real_migrations


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
            assert list(stored) == ["gov0010"]
    finally:
        await db.dispose()


async def test_data_made_before_moves_forward(database_url: str) -> None:
    """A database at gov0007 with a committee, a vote with a ballot and pending and posted
    expenses: gov0008 folds the committee into its first term with dated memberships, makes
    every household its own owner in votes made before, and gov0006's approvals stand."""
    from alembic import command

    from linli_runtime.migrations import RUNTIME_MIGRATIONS, RUNTIME_VERSION_TABLE, MigrationSet, alembic_config

    db = Database(database_url)
    try:
        await upgrade(db, MigrationSet(RUNTIME_MIGRATIONS, RUNTIME_VERSION_TABLE))
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(MIGRATIONS, sync), "gov0007"))
        async with db.engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO gov_committees (compound_path, formation_date, term_end_date, members, "
                    "elected_by_vote) VALUES ('c/x', '2026-03-01', '2031-02-28', :members, '')"
                ),
                {"members": '[{"display_name": "张主任", "role": 1, "household_path": "c/x/b1/h1"}]'},
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO gov_votes (vote_id, compound_path, title, matter, subject, close_time, closed, "
                    "outcome, created_at) VALUES ('v1', 'c/x', 't', 15, '', :t, false, 1, :t)"
                ),
                {"t": datetime(2026, 10, 1, tzinfo=UTC)},
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO gov_vote_electorate (vote_id, household_path, area_dm2) "
                    "VALUES ('v1', 'c/x/b1/h1', 9000)"
                )
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO gov_ballots (vote_id, household_path, choice, channel, entered_by, cast_at) "
                    "VALUES ('v1', 'c/x/b1/h1', 1, 1, 'r', :t)"
                ),
                {"t": datetime(2026, 10, 2, tzinfo=UTC)},
            )
        await upgrade(db, MIGRATIONS)
        async with db.engine.connect() as conn:
            term = (await conn.execute(sa.text("SELECT * FROM gov_committee_terms"))).mappings().one()
            assert (term["compound_path"], term["number"], term["formation_date"], term["ended_date"]) == (
                "c/x",
                1,
                "2026-03-01",
                None,
            )
            member = (await conn.execute(sa.text("SELECT * FROM gov_committee_members"))).mappings().one()
            assert (member["term_id"], member["display_name"], member["start_date"], member["end_date"]) == (
                term["term_id"],
                "张主任",
                "2026-03-01",
                None,
            )
            assert (await conn.execute(sa.text("SELECT voter FROM gov_vote_electorate"))).scalar_one() == "c/x/b1/h1"
            assert (await conn.execute(sa.text("SELECT voter FROM gov_ballots"))).scalar_one() == "c/x/b1/h1"
            opened = (await conn.execute(sa.text("SELECT opened FROM gov_votes"))).scalar_one()
            assert bool(opened)
            assert not (await conn.run_sync(lambda sync: sa.inspect(sync).has_table("gov_committees")))
    finally:
        await db.dispose()


async def test_gov0010_announces_the_existing_tree_to_the_services_that_keep_a_copy(database_url: str) -> None:
    """Units made before revisions existed reach the new org-unit consumers: the upgrade puts one
    `governance.org_unit.updated` per unit down to compounds into the outbox (households stay)."""
    db = Database(database_url)
    try:
        await upgrade(db)  # the runtime's own tables
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(MIGRATIONS, sync), "gov0004"))
            units = sa.table("gov_org_units", *(sa.column(c) for c in (
                "path", "parent_path", "kind", "display_name", "display_name_en", "compound_type",
                "exclusive_area_dm2", "created_at")))
            when = datetime(2026, 1, 1, tzinfo=UTC)
            await conn.execute(units.insert(), [
                dict(path="chengdu", parent_path=None, kind=1, display_name="成都市", display_name_en="Chengdu",
                     compound_type=0, exclusive_area_dm2=0, created_at=when),
                dict(path="chengdu/x", parent_path="chengdu", kind=2, display_name="某区", display_name_en="",
                     compound_type=0, exclusive_area_dm2=0, created_at=when),
                dict(path="chengdu/x/y/z/c/b/h", parent_path="chengdu/x/y/z/c/b", kind=7, display_name="101",
                     display_name_en="", compound_type=0, exclusive_area_dm2=9000, created_at=when),
            ])
        await upgrade(db, MIGRATIONS)
        await upgrade(db, MIGRATIONS)  # announced once
        async with db.engine.connect() as conn:
            rows = (await conn.execute(sa.select(OUTBOX.c.subject, OUTBOX.c.data))).all()
            revisions = (await conn.execute(sa.text("SELECT path, revision FROM gov_org_units ORDER BY path"))).all()
        assert {r.subject for r in rows} == {"governance.org_unit.updated"}
        announced = []
        for row in rows:
            payload = OrgUnitUpdated()
            assert EventEnvelope.FromString(row.data).payload.Unpack(payload)
            announced.append((payload.path, payload.parent_path, payload.name, payload.revision, payload.closed))
        assert sorted(announced) == [("chengdu", "", "成都市", 1, False), ("chengdu/x", "chengdu", "某区", 1, False)]
        assert [tuple(r) for r in revisions] == [("chengdu", 1), ("chengdu/x", 1), ("chengdu/x/y/z/c/b/h", 1)]
    finally:
        await db.dispose()
