"""Many rows into one table, on PostgreSQL and SQLite.

Why (issue 18, a ledger batch of 10 000 transfers): through SQLAlchemy an executemany of an
INSERT on PostgreSQL is rendered as multi-row VALUES lists of 1 000 rows — 15 000 bound
parameters per statement that the client renders and the server parses and plans — and cost
about 100 µs per row. On PostgreSQL:
- up to `COPY_FROM` rows: one `INSERT … SELECT … FROM unnest($1::text[], $2::bigint[], …)`,
  one array per column, whatever the number of rows (asyncpg encodes the arrays in C, the
  server plans one small statement, prepared once per connection);
- from `COPY_FROM` rows: `COPY … FROM STDIN (FORMAT binary)` (asyncpg's
  `copy_records_to_table`), which skips the executor's per-row work: measured on 10 000 ledger
  transfers, 21 → 9 µs a row on the server. Rows that need keys get them first from the
  table's sequence, in one statement.
SQLite binds rows one at a time in C (`executemany`), which is already that cheap.

    await insert_rows(conn, LOTS, rows)                                # dicts of the same keys
    await insert_records(conn, LOTS, ("account_id", "seq"), records)   # tuples in that order
    seqs = await insert_rows_returning_keys(conn, TRANSFERS, rows)     # their new keys, in order
    seqs = await insert_records_returning_keys(conn, TRANSFERS, columns, records)  # the same, tuples
    seqs = await reserve_keys(conn, TRANSFERS, n)                      # keys to insert rows with
    await copy_records(conn, TRANSFERS, columns, records, micros=("created_at",))  # PostgreSQL: COPY

`copy_records` takes timestamptz columns as `pg_micros` ints where told to: asyncpg's encoding
of a datetime (astimezone, a subtraction, a timedelta's parts: ~0.9 µs) was over half its CPU
for a ledger transfer's row, whose instant is the batch's one.

`one_of(column, name, postgres)` is the matching read: `column` in a list bound as one parameter.

COPY runs on the driver's connection, inside the transaction SQLAlchemy began on it; its
failures are raised as SQLAlchemy's (a unique key taken by a concurrent writer is an
`IntegrityError`, a deadlock a `DBAPIError` with its SQLSTATE), as a statement's would be: the
callers' retries (`linli_runtime.transactions`) see no difference. A COPY is not traced as a
statement of SQLAlchemy's.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import sqlalchemy as sa
from opentelemetry import trace
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection


def one_of(column: sa.ColumnElement[Any], name: str, postgres: bool,
           type_: Any = sa.String) -> sa.ColumnElement[bool]:
    """`column` is one of the list bound as `name` (of `type_`): `= ANY(array)` on PostgreSQL —
    one statement text, prepared once, whatever the list's length — and an expanding IN on
    SQLite."""
    if postgres:
        return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(type_)))
    return column.in_(sa.bindparam(name, expanding=True))


# From this many rows a PostgreSQL insert is a COPY: below, the unnest statement's one round
# trip beats the COPY's (and, for keys, the sequence's) round trips.
COPY_FROM = 100


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


# n new values of the sequence behind a table's serial key. The sequence is found once per
# statement (OFFSET 0 keeps the subquery from being pulled up into the select list, where
# pg_get_serial_sequence ran per row: 5-10 µs a key, against ~1 µs; issue 18).
# One array rather than a row per key: asyncpg decodes it in C, no Record per key.
_NEXT_KEYS = ("SELECT array_agg(nextval(q.s)) FROM (SELECT pg_get_serial_sequence($1, $2)::regclass AS s OFFSET 0) "
              "AS q, generate_series(1, $3)")


async def driver_of(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under `conn`, its transaction begun. SQLAlchemy's adapter begins
    it lazily, on the first statement: a COPY sent before ran outside it, committed at once,
    and stayed when the transaction rolled back. (SQLAlchemy 2.1's adapter marks a begun
    transaction in `_transaction`; the `_started` this read before is gone, so it never began.)
    `_start_transaction` is what the adapter's own first statement calls: BEGIN, nothing in
    autocommit."""
    raw = await conn.get_raw_connection()
    adapted = raw.dbapi_connection
    if getattr(adapted, "_transaction", False) is None:
        start = getattr(adapted, "_start_transaction", None)
        if start is not None:
            await start()
        else:  # another SQLAlchemy: a statement of its own begins it
            await conn.execute(sa.text("SELECT 1"))
    driver: asyncpg.Connection = raw.driver_connection
    return driver


def _as_sqlalchemy(error: asyncpg.PostgresError, statement: str) -> sa.exc.DBAPIError:
    """An asyncpg error raised where SQLAlchemy would have raised its own (the callers' retries
    read `orig.sqlstate`)."""
    kind = sa.exc.IntegrityError if isinstance(error, asyncpg.IntegrityConstraintViolationError) else sa.exc.DBAPIError
    return kind(statement, None, error)  # type: ignore[arg-type]  # `orig.sqlstate` is what the retries read


@contextmanager
def errors_as_sqlalchemy(statement: str) -> Iterator[None]:
    """What a statement sent on asyncpg's connection (`driver_of`) raises, raised as SQLAlchemy
    would have raised it (`_as_sqlalchemy`): the callers' retries see no difference."""
    try:
        yield
    except asyncpg.PostgresError as error:
        raise _as_sqlalchemy(error, statement) from error


def untraced_postgres(conn: AsyncConnection) -> bool:
    """May a hot statement go on asyncpg's connection (`driver_of`) rather than through
    SQLAlchemy's execution? On PostgreSQL, while no span is current: within a traced call it
    goes through SQLAlchemy, whose instrumentation traces it as a statement of that call."""
    return conn.dialect.name == "postgresql" and not trace.get_current_span().get_span_context().is_valid


_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def pg_micros(when: datetime) -> int:
    """`when` as PostgreSQL's binary format carries a timestamptz: microseconds since
    2000-01-01 UTC (what `copy_records` takes for a column named in its `micros`)."""
    delta = when - _PG_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


async def _copy(conn: AsyncConnection, table: sa.Table, columns: Sequence[str],
                records: Sequence[Sequence[Any]], micros: Collection[str] = ()) -> None:
    driver = await driver_of(conn)
    with errors_as_sqlalchemy(f"COPY {table.name}"):
        if not micros:
            await driver.copy_records_to_table(table.name, columns=list(columns), records=records)
            return
        # asyncpg picks each column's encoder from an introductory statement's result columns
        # (`copy_records_to_table` selects the table's): one that says bigint where the table
        # has a timestamptz sends the ints given as the 8 bytes timestamptz_recv reads. Through
        # asyncpg's protocol, as `copy_records_to_table` itself calls it (asyncpg pinned in
        # constraints.txt; tests/integration/points read such rows back).
        quoted = [f'"{c}"' for c in columns]
        selected = ", ".join(f"NULL::bigint AS {q}" if c in micros else q
                             for c, q in zip(columns, quoted, strict=True))
        intro = await driver._prepare(f'SELECT {selected} FROM "{table.name}" LIMIT 1', use_cache=True)
        statement = f'COPY "{table.name}"({", ".join(quoted)}) FROM STDIN (FORMAT binary)'
        await driver._protocol.copy_in(statement, None, None, records, intro._state, None)


async def copy_records(conn: AsyncConnection, table: sa.Table, columns: Sequence[str],
                       records: Sequence[Sequence[Any]], *, micros: Collection[str] = ()) -> None:
    """COPY `records` (tuples of `columns`' values) into `table`, on PostgreSQL, however many;
    the timestamptz columns named in `micros` given as `pg_micros` ints."""
    assert conn.dialect.name == "postgresql"
    if records:
        await _copy(conn, table, columns, records, micros)


async def _next_keys(conn: AsyncConnection, table: sa.Table, n: int) -> list[int]:
    """`n` keys drawn from `table`'s key sequence, ascending."""
    driver = await driver_of(conn)
    with errors_as_sqlalchemy(_NEXT_KEYS):
        keys: list[int] = await driver.fetchval(_NEXT_KEYS, table.name, _key(table).name, n)
    keys.sort()
    return keys


async def reserve_keys(conn: AsyncConnection, table: sa.Table, n: int) -> list[int]:
    """`n` new keys of `table`'s autoincrement key, ascending, for rows the caller inserts with
    them in the same transaction: drawn from the sequence on PostgreSQL; on SQLite the ones
    after the largest (the write transaction is the only writer, and a rowid key takes max + 1
    anyway)."""
    if n <= 0:
        return []
    if conn.dialect.name == "postgresql":
        return await _next_keys(conn, table, n)
    last = (await conn.execute(sa.select(sa.func.coalesce(sa.func.max(_key(table)), 0)))).scalar_one()
    return list(range(last + 1, last + 1 + n))


def _arrays(columns: Sequence[str], records: Sequence[Sequence[Any]]) -> dict[str, list[Any]]:
    """The unnest statement's parameters: one list per column."""
    by_column = zip(*records, strict=True)
    return {f"a_{c}": list(values) for c, values in zip(columns, by_column, strict=True)}


async def insert_records(conn: AsyncConnection, table: sa.Table, columns: Sequence[str],
                         records: Sequence[Sequence[Any]]) -> None:
    """INSERT `records` (tuples of `columns`' values, in that order) into `table`: in one
    statement on PostgreSQL, a COPY from `COPY_FROM` rows. Cheaper than `insert_rows` for
    many rows: no dict per row."""
    if not records:
        return
    if conn.dialect.name == "postgresql":
        if len(records) >= COPY_FROM:
            await _copy(conn, table, columns, records)
        else:
            await conn.execute(_from_arrays(table, tuple(columns), False),
                               _arrays(columns, records))
    else:
        await conn.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in records])


async def insert_rows(conn: AsyncConnection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT `rows` (dicts with the same keys) into `table`, in one statement on PostgreSQL."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        columns = tuple(rows[0])
        if len(rows) >= COPY_FROM:
            await _copy(conn, table, columns, [tuple(r[c] for c in columns) for r in rows])
        else:
            await conn.execute(_from_arrays(table, columns, False), {f"a_{c}": [r[c] for r in rows] for c in columns})
    else:
        await conn.execute(table.insert(), list(rows))


async def insert_rows_returning_keys(conn: AsyncConnection, table: sa.Table,
                                     rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """INSERT `rows` (dicts with the same keys) and return the autoincrement keys they were
    given, in the rows' order (see `insert_records_returning_keys`)."""
    if not rows:
        return []
    columns = tuple(rows[0])
    return await insert_records_returning_keys(conn, table, columns, [tuple(r[c] for c in columns) for r in rows])


async def insert_records_returning_keys(conn: AsyncConnection, table: sa.Table, columns: Sequence[str],
                                        records: Sequence[Sequence[Any]]) -> list[int]:
    """INSERT `records` (tuples of `columns`' values) and return the autoincrement keys they
    were given, in the records' order. Inside a write transaction (on SQLite the keys are
    chosen under its one writer's lock).

    On PostgreSQL the keys ascend in the records' order: a COPY's are drawn from the sequence
    first and sorted; the unnest statement inserts the rows in the arrays' order (ORDER BY
    ordinality), so their keys are drawn in that order, and sorted the keys returned are the
    rows' (the guarantee SQLAlchemy's own `sort_by_parameter_order` rests on for SERIAL keys)."""
    if not records:
        return []
    key = _key(table)
    if conn.dialect.name == "postgresql":
        if len(records) >= COPY_FROM:
            keys = await _next_keys(conn, table, len(records))
            await _copy(conn, table, (key.name, *columns), [(k, *r) for k, r in zip(keys, records, strict=True)])
            return keys
        result = await conn.execute(_from_arrays(table, tuple(columns), True),
                                    _arrays(columns, records))
        return sorted(result.scalars())
    # SQLite: keys given (`reserve_keys`) let sqlite3 insert the rows in one C loop (RETURNING
    # would render VALUES lists).
    keys = await reserve_keys(conn, table, len(records))
    named = (key.name, *columns)
    await conn.execute(table.insert(), [dict(zip(named, (k, *r), strict=True))
                                        for k, r in zip(keys, records, strict=True)])
    return keys
