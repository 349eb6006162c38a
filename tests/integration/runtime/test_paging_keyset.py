"""AIP-158 keyset pages over a real table, on SQLite and PostgreSQL (the page-size and token
rules themselves: tests/unit/runtime/test_paging.py)."""

from __future__ import annotations

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
