"""The runtime's tables (outbox, inbox, dead letters, request ids) are SQLModel models: the
migrations build exactly what the models declare, on SQLite and PostgreSQL, and rows read back
as the models."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from google.protobuf.wrappers_pb2 import StringValue

from linli_runtime.db import Database
from linli_runtime.events import make_event, publish_in
from linli_runtime.events.tables import OUTBOX, OutboxEvent, metadata
from linli_runtime.migrations import upgrade
from linli_runtime.models import loaded_all, typed_all
from linli_runtime.testing.schema import schema_differences


async def test_the_migrations_build_what_the_models_declare(db: Database) -> None:
    assert sorted(metadata.tables) == ["linli_dead_letter", "linli_inbox", "linli_outbox", "linli_request_ids"]
    assert await schema_differences(db, metadata) == []
    await upgrade(db)  # again: nothing to do
    assert await schema_differences(db, metadata) == []


async def test_the_outbox_fills_its_pages_on_postgresql(db: Database) -> None:
    """rt0005 reset rt0004's fillfactor 50 (room for a lease): the relay deletes what it sent and
    updates no row, so half-empty pages would only double what inserts and claims read."""
    if db.is_sqlite:
        return  # SQLite has no fillfactor
    async with db.reading() as conn:
        options = await conn.scalar(sa.text("SELECT reloptions FROM pg_class WHERE relname = 'linli_outbox'"))
    assert not options


async def test_the_outbox_has_its_unsent_index_on_sqlite_only(db: Database) -> None:
    """rt0006: on PostgreSQL the relay deletes what it sent, so the primary key reads the unsent
    rows in order and the unsent index only cost every event an entry; SQLite keeps sent rows."""
    async with db.reading() as conn:
        indexes = await conn.run_sync(lambda sync: {i["name"] for i in sa.inspect(sync).get_indexes("linli_outbox")})
    assert ("ix_linli_outbox_unsent" in indexes) == db.is_sqlite


async def test_the_comparison_sees_a_model_the_migrations_do_not_match(db: Database) -> None:
    drifted = sa.MetaData()
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["linli_outbox"].append_column(sa.Column("priority", sa.Integer, nullable=True))
    drifted.tables["linli_inbox"].c.consumer.type = sa.String(64)
    differences = [repr(d) for d in await schema_differences(db, drifted)]
    assert any("priority" in d for d in differences), differences
    assert any("modify_type" in d and "consumer" in d for d in differences), differences


async def test_outbox_rows_read_back_as_typed_models(db: Database) -> None:
    event = make_event("test.thing.happened", StringValue(value="x"), org_scope="chengdu/test", source="test")
    async with db.transaction() as session:
        await publish_in(session, event)
    async with db.engine.connect() as conn:
        rows = await conn.execute(sa.select(OUTBOX).where(OUTBOX.c.event_id == event.event_id))
        [validated] = typed_all(OutboxEvent, rows)
        rows = await conn.execute(sa.select(OUTBOX).where(OUTBOX.c.event_id == event.event_id))
        [unvalidated] = loaded_all(OutboxEvent, rows)
    for row in (validated, unvalidated):
        assert isinstance(row, OutboxEvent)
        assert (row.event_id, row.subject, row.data) == (event.event_id, event.subject, event.SerializeToString())
        assert isinstance(row.seq, int) and isinstance(row.created_at, datetime)
        assert (row.attempts, row.sent_at, row.claimed_until) == (0, None, None)
    assert validated.model_dump() == unvalidated.model_dump()
