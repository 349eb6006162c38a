"""Typed rows: every table is declared once, as a SQLModel model, and read back as one.

    class PointsTable(SQLModel, registry=registry()):      # tables.py: the service's own MetaData
        pass

    class Volunteer(PointsTable, table=True):
        __tablename__ = "points_volunteer"
        community_path: str = Field(sa_column=sa.Column(sa.String(255), primary_key=True))
        ...

    VOLUNTEERS = table(Volunteer)                           # Core statements on hot paths
    rows = (await conn.execute(sa.select(VOLUNTEERS).where(...))).all()
    volunteers = typed_all(Volunteer, rows)                # list[Volunteer], not Row[Any]

Core statements stay where speed matters (the ORM's unit of work costs ~200 µs a transaction,
see DESIGN.md); the model is still the one definition of the table and the type of its rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.orm import configure_mappers
from sqlmodel import SQLModel

M = TypeVar("M", bound=SQLModel)


def table(model: type[SQLModel]) -> sa.Table:
    """The Core `Table` a `table=True` model declares (typed, for statements)."""
    found = getattr(model, "__table__", None)
    if not isinstance(found, sa.Table):
        raise TypeError(f"{model.__name__} is not a table model (declare it with table=True)")
    return found


def typed(model: type[M], row: Any) -> M:
    """A row (Core `Row`, a mapping, or an instance already) as an instance of `model`,
    validated as the model declares."""
    if isinstance(row, model):
        return row
    mapping = row if isinstance(row, Mapping) else row._mapping
    return model.model_validate(dict(cast(Mapping[str, Any], mapping)))


def typed_all(model: type[M], rows: Iterable[Any]) -> list[M]:
    return [typed(model, row) for row in rows]


def loaded(model: type[M], row: Any) -> M:
    """As `typed`, without validation: for rows read back from the model's own table on hot
    paths, which the database already holds to the schema. Validating a `table=True` model costs
    ~200 µs a row (as much as the ORM's unit of work that Core statements avoid); this ~20 µs."""
    if isinstance(row, model):
        return row
    if not sa.inspect(model).configured:  # validation would configure the mappers; construction does not
        configure_mappers()
    mapping = row if isinstance(row, Mapping) else row._mapping
    # (SQLModel types model_construct as returning SQLModel, not the class it is called on.)
    return cast(M, model.model_construct(**dict(cast(Mapping[str, Any], mapping))))


def loaded_all(model: type[M], rows: Iterable[Any]) -> list[M]:
    return [loaded(model, row) for row in rows]
