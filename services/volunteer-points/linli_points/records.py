"""Create-once rows: a repeated create returns the stored row, a conflicting one is refused."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_points.api.common import refuse_conflict


async def create_once(
    conn: AsyncConnection, table: sa.Table, key: dict[str, Any], values: dict[str, Any], fingerprint: str, what: str
) -> tuple[Any, bool]:
    """Insert the row keyed by `key` unless it exists; (row, created)."""
    where = [table.c[k] == v for k, v in key.items()]
    row = (await conn.execute(sa.select(table).where(*where))).first()
    if row is not None:
        if row.fingerprint != fingerprint:
            raise refuse_conflict(what, str(list(key.values())[-1]))
        return row, False
    await conn.execute(table.insert().values(**key, **values, fingerprint=fingerprint))
    return (await conn.execute(sa.select(table).where(*where))).one(), True


async def exists(conn: AsyncConnection, table: sa.Table, **key: Any) -> bool:
    query = sa.select(sa.literal(1)).select_from(table).where(*[table.c[k] == v for k, v in key.items()])
    return (await conn.execute(query)).first() is not None
