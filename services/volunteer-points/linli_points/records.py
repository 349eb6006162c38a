"""Rows created once by a caller-chosen key: a repeated create returns the stored row, a
conflicting one is refused (the row's `fingerprint` is a digest of what created it)."""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_points.tables import PointsTable
from linli_runtime.errors import AlreadyExists
from linli_runtime.models import loaded, table

M = TypeVar("M", bound=PointsTable)


def _where(model: type[PointsTable], key: dict[str, Any]) -> list[sa.ColumnElement[bool]]:
    columns = table(model).c
    return [columns[name] == value for name, value in key.items()]


async def find(conn: AsyncConnection, model: type[M], **key: Any) -> M | None:
    """The row of `model` with this key, or None."""
    row = (await conn.execute(sa.select(table(model)).where(*_where(model, key)))).first()
    return loaded(model, row) if row is not None else None


async def exists(conn: AsyncConnection, model: type[PointsTable], **key: Any) -> bool:
    query = sa.select(sa.literal(1)).select_from(table(model)).where(*_where(model, key))
    return (await conn.execute(query)).first() is not None


async def create_once(conn: AsyncConnection, model: type[M], key: dict[str, Any], values: dict[str, Any],
                      fingerprint: str, what: str) -> tuple[M, bool]:
    """Insert the row keyed by `key` unless it exists; (row, created). A row with this key made
    from other content is ALREADY_EXISTS (ID_REUSED), naming `what` and the id."""
    found = await find(conn, model, **key)
    if found is not None:
        if getattr(found, "fingerprint", None) != fingerprint:
            ident = str(list(key.values())[-1])
            raise AlreadyExists(f"{what} {ident!r} already exists with different content; choose a new id",
                                reason="ID_REUSED", metadata={"id": ident})
        return found, False
    await conn.execute(table(model).insert().values(**key, **values, fingerprint=fingerprint))
    created = await find(conn, model, **key)
    assert created is not None, "the row was inserted in this transaction"
    return created, True
