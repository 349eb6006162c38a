"""AIP-158 keyset pages over a real table, on SQLite and PostgreSQL (the page-size and token
rules themselves: tests/unit/runtime/test_paging.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from linli_runtime import paging
from linli_runtime.db import Database


async def test_keyset_pages_walk_every_row_once_in_key_order(db: Database) -> None:
    metadata = sa.MetaData()
    items = sa.Table("test_items", metadata, sa.Column("key", sa.String(8), primary_key=True),
                     sa.Column("group", sa.String(8)))
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(items.insert(), [{"key": f"k{i:02}", "group": "a" if i % 3 else "b"} for i in range(20)])
    seen: list[str] = []
    token = ""
    async with db.engine.connect() as conn:
        while True:
            rows, token = await paging.keyset_page(conn, sa.select(items).where(items.c.group == "a"), items.c.key,
                                                   kind="items", page_token=token, size=4)
            seen += [r.key for r in rows]
            if not token:
                break
    assert seen == [f"k{i:02}" for i in range(20) if i % 3]


async def test_newest_first_pages_walk_every_row_once_even_when_rows_share_an_instant(db: Database) -> None:
    metadata = sa.MetaData()
    items = sa.Table("test_newest_items", metadata, sa.Column("id", sa.String(8), primary_key=True),
                     sa.Column("created", sa.DateTime(timezone=True), nullable=False))
    start = datetime(2026, 11, 7, 3, 0, tzinfo=UTC)
    # Three instants, four rows each (ids in no time order), microseconds included.
    rows = [{"id": f"{(i * 7) % 12:02}", "created": start + timedelta(seconds=i // 4, microseconds=i // 4)}
            for i in range(12)]
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(items.insert(), rows)
    seen: list[str] = []
    token = ""
    async with db.engine.connect() as conn:
        while True:
            page, token = await paging.newest_first_page(conn, sa.select(items), items.c.created, items.c.id,
                                                         kind="items", page_token=token, size=5)
            seen += [r.id for r in page]
            if not token:
                break
    assert seen == [r["id"] for r in sorted(rows, key=lambda r: (r["created"], r["id"]), reverse=True)]
