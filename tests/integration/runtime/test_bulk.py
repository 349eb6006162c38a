"""linli_runtime.bulk: rows written on asyncpg's own connection (a COPY, the outbox's insert)
belong to the caller's transaction, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from linli_runtime.bulk import COPY_FROM, insert_rows
from linli_runtime.db import Database
from linli_runtime.events.tables import OUTBOX


@pytest.mark.parametrize("rows", [COPY_FROM, 3], ids=["copy", "unnest"])
async def test_rows_inserted_first_in_a_transaction_go_when_it_rolls_back(db: Database, rows: int) -> None:
    """A COPY sent before any statement of SQLAlchemy's ran outside the transaction (the adapter
    had not begun it) and stayed after the rollback."""
    now = datetime.now(UTC)
    written = [{"event_id": f"bulk-{i}", "subject": "test.bulk.written", "data": b"x", "created_at": now,
                "attempts": 0} for i in range(rows)]
    with pytest.raises(RuntimeError, match="refused"):
        async with db.transaction() as session:
            await insert_rows(await session.connection(), OUTBOX, written)
            raise RuntimeError("refused")
    async with db.reading() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(OUTBOX)) == 0
    async with db.transaction() as session:
        await insert_rows(await session.connection(), OUTBOX, written)
    async with db.reading() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(OUTBOX)) == rows
