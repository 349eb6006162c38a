"""`Database.reading()` and `Database.write_one()`: the hot paths' read connection (autocommit
on PostgreSQL) and single-statement writes, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from linli_runtime.db import Database
from linli_runtime.events.tables import OUTBOX


async def test_reading_sees_committed_writes_and_write_one_counts_the_rows_it_changed(db: Database) -> None:
    insert = OUTBOX.insert().values(event_id=sa.bindparam("eid"), subject="t.row.written", data=b"x",
                                    created_at=sa.func.now(), attempts=0)
    assert await db.write_one(insert, {"eid": "e-1"}) == 1
    assert await db.write_one(insert, {"eid": "e-2"}) == 1
    bump = OUTBOX.update().where(OUTBOX.c.event_id.in_(["e-1", "e-2", "e-none"])).values(attempts=3)
    assert await db.write_one(bump) == 2
    async with db.reading() as conn:
        rows = (await conn.execute(sa.select(OUTBOX.c.event_id, OUTBOX.c.attempts)
                                   .order_by(OUTBOX.c.event_id))).all()
        assert [tuple(r) for r in rows] == [("e-1", 3), ("e-2", 3)]
        # A reader never blocks a writer. On PostgreSQL the reading connection holds no
        # transaction (autocommit), so its next statement sees the write; SQLite's deferred read
        # transaction keeps the snapshot of its first read.
        assert await db.write_one(OUTBOX.delete().where(OUTBOX.c.event_id == "e-1")) == 1
        left = (await conn.execute(sa.select(sa.func.count()).select_from(OUTBOX))).scalar_one()
        assert left == (2 if db.is_sqlite else 1)


async def test_write_returning_answers_the_rows_and_wakes_the_relay_only_for_outbox_writes(db: Database) -> None:
    woken: list[str] = []
    db.on_outbox_commit(lambda: woken.append("relay"))
    insert = (OUTBOX.insert().values(event_id=sa.bindparam("eid"), subject="t.row.written", data=b"x",
                                     created_at=sa.func.now(), attempts=0).returning(OUTBOX.c.event_id))
    assert [r.event_id for r in await db.write_returning(insert, {"eid": "e-1"}, wrote_outbox=True)] == ["e-1"]
    assert woken == ["relay"]  # committed (one statement, autocommit on PostgreSQL), then woken
    bump = (OUTBOX.update().where(OUTBOX.c.event_id.in_(["e-1", "e-none"])).values(attempts=2)
            .returning(OUTBOX.c.event_id, OUTBOX.c.attempts))
    assert [tuple(r) for r in await db.write_returning(bump)] == [("e-1", 2)]
    assert woken == ["relay"]
    async with db.reading() as conn:
        assert (await conn.execute(sa.select(OUTBOX.c.attempts))).scalar_one() == 2
