"""Does the migrated database hold exactly the tables the models declare?

    await upgrade(db, MIGRATIONS)
    assert await schema_differences(db, PointsTable.metadata) == []

Alembic's autogenerate comparison (types and server defaults included), limited to the tables
of `metadata`: a service's database also holds the runtime's tables and both version tables,
which are another MetaData's business.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from linli_runtime.db import Database


async def schema_differences(db: Database, metadata: MetaData) -> list[Any]:
    """Alembic's list of differences between the database and `metadata` ([] when they agree)."""
    ours = set(metadata.tables)

    def only_ours(name: str | None, type_: str, parent_names: Any) -> bool:
        return type_ != "table" or name in ours

    def for_this_engine(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        """An index the model declares for another engine only (`Index.ddl_if(dialect=…)`, which
        create_all honours and Alembic's comparison does not) is not expected here."""
        ddl_if = getattr(obj, "_ddl_if", None)
        dialect = getattr(ddl_if, "dialect", None)
        if type_ != "index" or reflected or dialect is None:
            return True
        return bool(dialect == db.engine.dialect.name or (isinstance(dialect, (tuple, list, set))
                                                          and db.engine.dialect.name in dialect))

    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True,
            "compare_server_default": True,
            "include_name": only_ours,
            "include_object": for_this_engine,
        })
        return list(compare_metadata(context, metadata))

    async with db.engine.connect() as conn:
        return await conn.run_sync(compare)
