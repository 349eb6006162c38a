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

from collections.abc import Callable, Iterable, Mapping
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
    return _loader(model)(row)


def loaded_all(model: type[M], rows: Iterable[Any]) -> list[M]:
    load = _loader(model)
    return [load(row) for row in rows]


_LOADERS: dict[type[SQLModel], Callable[[Any], Any]] = {}


def _loader(model: type[M]) -> Callable[[Any], M]:
    found = _LOADERS.get(model)
    if found is None:
        found = _LOADERS[model] = _make_loader(model)
    return found


def _make_loader(model: type[M]) -> Callable[[Any], M]:
    """`loaded` for one model, its mapper configured and its fields looked up once."""
    manager = manager_of_class(model)
    if not manager.mapper.configured:  # else the attributes have no implementation yet
        configure_mappers()
    # Not model_construct: it replaces the instance's __dict__, SQLAlchemy state and all.
    blank = manager.new_instance
    fields = [(name, field.is_required(), field) for name, field in model.model_fields.items()]

    def load(row: Any) -> M:
        if isinstance(row, model):
            return row
        mapping: Mapping[str, Any] = dict(zip(row._fields, row, strict=True)) if isinstance(row, sa.Row) else row
        instance = blank()
        values = instance.__dict__
        for name, required, field in fields:
            if name in mapping:
                values[name] = mapping[name]
            elif not required:
                values[name] = field.get_default(call_default_factory=True)
            else:
                raise ValueError(f"{model.__name__}: a row without {name!r} cannot be loaded; select the whole row")
        return instance

    return load
