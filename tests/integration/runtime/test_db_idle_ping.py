"""Pooled PostgreSQL connections are handed out last-returned first and pinged only after sitting
idle (not on every checkout), and a connection that died while idle is replaced instead of
failing the next caller."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

import linli_runtime.db as dbmod
from linli_runtime.db import Database
from linli_runtime.processes import EmbeddedPostgres


async def test_a_connection_killed_while_idle_is_replaced_on_checkout(
    embedded_postgres: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(embedded_postgres.database_url("idle_ping"), pool_size=1)
    try:
        async with db.engine.connect() as conn:
            first_pid = (await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()
        async with db.engine.connect() as conn:  # in steady use: the same connection, no ping needed
            assert (await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one() == first_pid
        other = Database(embedded_postgres.database_url("idle_ping"))
        try:
            async with other.engine.begin() as conn:
                await conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})
        finally:
            await other.dispose()
        monkeypatch.setattr(dbmod, "PING_AFTER_IDLE", 0.0)  # as if it sat idle past the threshold
        async with db.engine.connect() as conn:
            again = (await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()
        assert again != first_pid
    finally:
        await db.dispose()


async def test_the_pool_hands_out_the_connection_returned_last(embedded_postgres: EmbeddedPostgres) -> None:
    """LIFO: calls one after another reuse one connection (its prepared statements stay hot)
    instead of rotating through every connection a burst opened."""
    db = Database(embedded_postgres.database_url("idle_ping"), pool_size=3)
    try:
        async def pid(conn: AsyncConnection) -> int:
            return int((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())

        async with db.engine.connect() as a, db.engine.connect() as b, db.engine.connect() as c:
            opened = {await pid(a), await pid(b), await pid(c)}  # a burst: three in the pool
        assert len(opened) == 3
        used = set()
        for _ in range(4):
            async with db.engine.connect() as conn:
                used.add(await pid(conn))
        assert len(used) == 1
    finally:
        await db.dispose()
