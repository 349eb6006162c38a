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
    volunteers = loaded_all(Volunteer, rows)               # the same, unvalidated: hot paths

Core statements stay where speed matters (the ORM's unit of work costs ~200 µs a transaction,
see DESIGN.md); the model is still the one definition of the table and the type of its rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.orm import configure_mappers
from sqlalchemy.orm.instrumentation import manager_of_class
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
    paths, which the database already holds to the schema. The instance is made the way the ORM
    makes the rows it loads — SQLAlchemy state included, values set directly — at a few µs a row;
    validating one costs tens of µs (~30 µs for an outbox row, measured), and more for wider
    tables. A field the row lacks takes the model's default; a required one it lacks is refused
    (select the whole row) rather than left missing."""
    if isinstance(row, model):
        return row
    mapping: Mapping[str, Any] = row if isinstance(row, Mapping) else row._mapping
    instance = _blank(model)
    values = instance.__dict__
    for name, field in model.model_fields.items():
        if name in mapping:
            values[name] = mapping[name]
        elif not field.is_required():
            values[name] = field.get_default(call_default_factory=True)
        else:
            raise ValueError(f"{model.__name__}: a row without {name!r} cannot be loaded; select the whole row")
    return instance


def loaded_all(model: type[M], rows: Iterable[Any]) -> list[M]:
    return [loaded(model, row) for row in rows]


def _blank(model: type[M]) -> M:
    """An instance with its SQLAlchemy state and no values, what the ORM fills a loaded row into.
    (Not `model_construct`: it replaces the instance's __dict__, state and all.) The mapper must
    be configured first, or the attributes have no implementation yet."""
    manager = manager_of_class(model)
    if not manager.mapper.configured:
        configure_mappers()
    return manager.new_instance()
