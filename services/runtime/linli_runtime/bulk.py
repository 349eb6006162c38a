"""Many rows into one table in one statement, on PostgreSQL and SQLite.

Why (issue 18, a ledger batch of 10 000 transfers): through SQLAlchemy an executemany of an
INSERT on PostgreSQL is rendered as multi-row VALUES lists of 1 000 rows — 15 000 bound
parameters per statement that the client renders and the server parses and plans — and cost
about 100 µs per row. One `INSERT … SELECT … FROM unnest($1::text[], $2::bigint[], …)` binds
one array per column, whatever the number of rows: asyncpg encodes the arrays in C and the
server plans one small statement. SQLite binds rows one at a time in C (`executemany`), which is
already that cheap.

    await insert_rows(conn, LOTS, rows)                           # rows: dicts of the same keys
    seqs = await insert_rows_returning_keys(conn, TRANSFERS, rows)  # their new keys, in order
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection


@functools.cache
def _from_arrays(table: sa.Table, columns: tuple[str, ...], returning: bool) -> Any:
    """INSERT INTO table (columns) SELECT … FROM unnest(one array per column) WITH ORDINALITY
    ORDER BY ordinality [RETURNING the autoincrement key]. Built once per table and columns."""
    arrays = [sa.bindparam(f"a_{c}", type_=postgresql.ARRAY(table.c[c].type)) for c in columns]
    rows = sa.func.unnest(*arrays).table_valued(*columns, with_ordinality="n").render_derived()
    statement = table.insert().from_select(list(columns), sa.select(*(rows.c[c] for c in columns))
                                           .order_by(rows.c.n))
    if returning:
        statement = statement.returning(_key(table))
    return statement


def _key(table: sa.Table) -> sa.Column[Any]:
    (key,) = table.primary_key.columns
    assert key.autoincrement in (True, "auto"), f"{table.name}: one autoincrement key expected"
    return key


async def insert_rows(conn: AsyncConnection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT `rows` (dicts with the same keys) into `table`, in one statement on PostgreSQL."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        columns = tuple(rows[0])
        await conn.execute(_from_arrays(table, columns, False), {f"a_{c}": [r[c] for r in rows] for c in columns})
    else:
        await conn.execute(table.insert(), list(rows))


async def insert_rows_returning_keys(conn: AsyncConnection, table: sa.Table,
                                     rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """INSERT `rows` and return the autoincrement keys they were given, in the rows' order.
    Inside a write transaction (on SQLite the keys are chosen under its one writer's lock).

    On PostgreSQL the rows are inserted in the arrays' order (ORDER BY ordinality), so their
    keys are drawn from the sequence in that order: sorted, the keys returned are the rows'
    (the guarantee SQLAlchemy's own `sort_by_parameter_order` rests on for SERIAL keys)."""
    if not rows:
        return []
    if conn.dialect.name == "postgresql":
        columns = tuple(rows[0])
        result = await conn.execute(_from_arrays(table, columns, True),
                                    {f"a_{c}": [r[c] for r in rows] for c in columns})
        return sorted(result.scalars())
    # SQLite: the write transaction is the only writer, and a rowid key takes max + 1 anyway; keys
    # given here let sqlite3 insert the rows in one C loop (RETURNING would render VALUES lists).
    key = _key(table)
    last = (await conn.execute(sa.select(sa.func.coalesce(sa.func.max(key), 0)))).scalar_one()
    keys = list(range(last + 1, last + 1 + len(rows)))
    await conn.execute(table.insert(), [{**r, key.name: k} for r, k in zip(rows, keys, strict=True)])
    return keys
