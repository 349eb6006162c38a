"""The org tree: city → district → street/town → community → compound → building → household.

Creating a unit writes it and its `governance.org_unit.created` event in one transaction; a
new compound also gets its rollout record and trust-account settings. A unit's path, parent and
kind never change (they are its identity everywhere); renaming, closing and reopening it raise
its revision and publish `governance.org_unit.updated` with its whole state, in the same
transaction. Nothing is added below a closed unit.

Reads (`get`, `list_children`, `list_subtree`) open their own session; `create` is a step of the caller's
transaction (the API runs it at most once per request id, see `linli_runtime.idempotency`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, select
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.events.v1 import governance_pb2 as events_pb2
from linli.governance.v1 import org_pb2
from linli_governance import accounts, rollout
from linli_governance.tables import ORG_UNITS, OrgUnit
from linli_runtime import fields, paging
from linli_runtime.db import Database
from linli_runtime.errors import Aborted, AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.events import publish_in
from linli_runtime.events.envelope import EventFactory
from linli_runtime.models import typed, typed_all

Kind = org_pb2.OrgUnitKind
CITY, DISTRICT, STREET, COMMUNITY, COMPOUND, BUILDING, HOUSEHOLD = (
    Kind.ORG_UNIT_KIND_CITY,
    Kind.ORG_UNIT_KIND_DISTRICT,
    Kind.ORG_UNIT_KIND_STREET,
    Kind.ORG_UNIT_KIND_COMMUNITY,
    Kind.ORG_UNIT_KIND_COMPOUND,
    Kind.ORG_UNIT_KIND_BUILDING,
    Kind.ORG_UNIT_KIND_HOUSEHOLD,
)
MAX_AREA_DM2 = 10_000_000  # 100,000 m²: no household is larger


@dataclass(frozen=True)
class NewUnit:
    parent_path: str
    slug: str
    kind: int
    display_name: str
    display_name_en: str = ""
    compound_type: int = 0
    exclusive_area_dm2: int = 0

    @property
    def path(self) -> str:
        return f"{self.parent_path}/{self.slug}" if self.parent_path else self.slug


def validate(unit: NewUnit) -> None:
    """Field checks that need no database (INVALID_ARGUMENT naming the field)."""
    if unit.kind not in Kind.values() or unit.kind == Kind.ORG_UNIT_KIND_UNSPECIFIED:
        raise InvalidArgument.field("kind", "must be one of CITY … HOUSEHOLD")
    fields.slug("slug", unit.slug)
    fields.text("display_name", unit.display_name, 200, required=True)
    fields.text("display_name_en", unit.display_name_en, 200)
    if (unit.kind == CITY) != (unit.parent_path == ""):
        raise InvalidArgument.field("parent_path", "a city has no parent; every other unit needs one")
    if unit.kind == COMPOUND:
        if unit.compound_type not in (org_pb2.COMPOUND_TYPE_COMMERCIAL, org_pb2.COMPOUND_TYPE_RESETTLEMENT):
            raise InvalidArgument.field("compound_type", "a compound is COMMERCIAL or RESETTLEMENT")
    elif unit.compound_type:
        raise InvalidArgument.field("compound_type", "only compounds have a type")
    if unit.kind == HOUSEHOLD:
        if not 0 < unit.exclusive_area_dm2 <= MAX_AREA_DM2:
            raise InvalidArgument.field("exclusive_area_dm2", "a household needs its exclusive floor area (> 0 dm²)")
    elif unit.exclusive_area_dm2:
        raise InvalidArgument.field("exclusive_area_dm2", "only households have an exclusive floor area")


def check_parent(unit: NewUnit, parent: OrgUnit) -> None:
    """Each level sits directly under the level above it."""
    if unit.kind != parent.kind + 1:
        raise FailedPrecondition(
            f"a {Kind.Name(cast(Any, unit.kind))} cannot sit under a {Kind.Name(cast(Any, parent.kind))}",
            reason="WRONG_PARENT_KIND",
        )


# -- within a transaction -------------------------------------------------------------------------


async def find(session: AsyncSession, path: str) -> OrgUnit | None:
    conn = await session.connection()
    row = (await conn.execute(select(ORG_UNITS).where(ORG_UNITS.c.path == path))).first()
    return typed(OrgUnit, row) if row is not None else None


async def require_unit(session: AsyncSession, path: str) -> OrgUnit:
    unit = await find(session, path)
    if unit is None:
        raise NotFound(f"org unit '{path}' does not exist", reason="ORG_UNIT_NOT_FOUND", metadata={"path": path})
    return unit


async def require_compound(session: AsyncSession, path: str) -> OrgUnit:
    unit = await find(session, path)
    if unit is None or unit.kind != COMPOUND:
        raise NotFound(f"compound '{path}' does not exist", reason="COMPOUND_NOT_FOUND", metadata={"path": path})
    return unit


async def create(session: AsyncSession, make_event: EventFactory, unit: NewUnit, *, when: datetime) -> OrgUnit:
    validate(unit)
    if unit.parent_path:
        parent = await find(session, unit.parent_path)
        if parent is None:
            raise NotFound(
                f"parent '{unit.parent_path}' does not exist",
                reason="ORG_UNIT_NOT_FOUND",
                metadata={"path": unit.parent_path},
            )
        check_parent(unit, parent)
        await require_open(session, parent)
    if await find(session, unit.path) is not None:
        raise AlreadyExists(f"org unit '{unit.path}' already exists", metadata={"path": unit.path})
    conn = await session.connection()
    try:
        # A savepoint: a simultaneous create of the same path (PostgreSQL holds it on the
        # primary key until the first commits) is then told ALREADY_EXISTS, not ABORTED.
        async with session.begin_nested():
            await conn.execute(
                ORG_UNITS.insert().values(
                    path=unit.path,
                    parent_path=unit.parent_path or None,
                    kind=unit.kind,
                    display_name=unit.display_name.strip(),
                    display_name_en=unit.display_name_en.strip(),
                    compound_type=unit.compound_type,
                    exclusive_area_dm2=unit.exclusive_area_dm2,
                    created_at=when,
                    revision=1,
                    updated_at=when,
                )
            )
    except IntegrityError as exc:
        raise AlreadyExists(f"org unit '{unit.path}' already exists", metadata={"path": unit.path}) from exc
    if unit.kind == COMPOUND:
        await rollout.start(session, unit.path, when=when)
        await accounts.open_compound(session, unit.path)
    payload = events_pb2.OrgUnitCreated(
        path=unit.path,
        parent_path=unit.parent_path,
        kind=cast(Any, unit.kind),  # the two enums share their numbers
        name=unit.display_name.strip(),
        name_en=unit.display_name_en.strip(),
        revision=1,
    )
    await publish_in(session, make_event("governance.org_unit.created", payload, unit.path))
    return await require_unit(session, unit.path)


async def closed_above(session: AsyncSession, path: str) -> OrgUnit | None:
    """The nearest closed unit at or above `path`, if any: closing a unit closes its subtree."""
    segments = path.split("/")
    lineage = ["/".join(segments[:i]) for i in range(1, len(segments) + 1)]
    conn = await session.connection()
    rows = (await conn.execute(select(ORG_UNITS).where(
        ORG_UNITS.c.path.in_(lineage), ORG_UNITS.c.closed_at.is_not(None)))).all()
    closed = typed_all(OrgUnit, rows)
    return max(closed, key=lambda u: len(u.path)) if closed else None


async def require_open(session: AsyncSession, unit: OrgUnit) -> None:
    closed = await closed_above(session, unit.path)
    if closed is not None:
        where = "it was" if closed.path == unit.path else f"'{closed.path}' above it was"
        raise FailedPrecondition(
            f"org unit '{unit.path}' is closed ({where} closed: {closed.status_reason or 'no reason given'}); "
            "reopen it first", reason="ORG_UNIT_CLOSED", metadata={"path": unit.path, "closed": closed.path})


@dataclass(frozen=True)
class Rename:
    display_name: str | None = None  # None: unchanged
    display_name_en: str | None = None


def validate_rename(change: Rename) -> None:
    if change.display_name is None and change.display_name_en is None:
        raise InvalidArgument.field("update_mask", "name display_name and/or display_name_en")
    if change.display_name is not None:
        fields.text("org_unit.display_name", change.display_name, 200, required=True)
    if change.display_name_en is not None:
        fields.text("org_unit.display_name_en", change.display_name_en, 200)


async def rename(session: AsyncSession, make_event: EventFactory, path: str, change: Rename, *,
                 when: datetime) -> OrgUnit:
    """New names; unchanged names change nothing (no new revision, no event)."""
    validate_rename(change)
    unit = await require_unit(session, path)
    values: dict[str, str] = {}
    if change.display_name is not None and change.display_name.strip() != unit.display_name:
        values["display_name"] = change.display_name.strip()
    if change.display_name_en is not None and change.display_name_en.strip() != unit.display_name_en:
        values["display_name_en"] = change.display_name_en.strip()
    if not values:
        return unit
    changed = ["name" if key == "display_name" else "name_en" for key in values]
    return await _change(session, make_event, unit, values, changed, when=when)


async def close(session: AsyncSession, make_event: EventFactory, path: str, reason: str, *,
                when: datetime) -> OrgUnit:
    reason = fields.text("reason", reason, 500, required=True)
    unit = await require_unit(session, path)
    if unit.closed_at is not None:
        raise FailedPrecondition(f"org unit '{path}' is already closed", reason="ORG_UNIT_CLOSED",
                                 metadata={"path": path})
    return await _change(session, make_event, unit, {"closed_at": when, "status_reason": reason}, ["closed"],
                         when=when)


async def reopen(session: AsyncSession, make_event: EventFactory, path: str, reason: str, *,
                 when: datetime) -> OrgUnit:
    reason = fields.text("reason", reason, 500, required=True)
    unit = await require_unit(session, path)
    if unit.closed_at is None:
        raise FailedPrecondition(f"org unit '{path}' is open", reason="ORG_UNIT_OPEN", metadata={"path": path})
    return await _change(session, make_event, unit, {"closed_at": None, "status_reason": reason}, ["closed"],
                         when=when)


async def _change(session: AsyncSession, make_event: EventFactory, unit: OrgUnit, values: dict[str, Any],
                  changed: list[str], *, when: datetime) -> OrgUnit:
    """Write `values` at the next revision and announce the unit's whole new state."""
    conn = await session.connection()
    written = await conn.execute(ORG_UNITS.update().where(
        ORG_UNITS.c.path == unit.path, ORG_UNITS.c.revision == unit.revision,
    ).values(**values, revision=unit.revision + 1, updated_at=when))
    if written.rowcount != 1:  # another change of the same unit committed first
        raise Aborted(f"org unit '{unit.path}' changed meanwhile; try again", reason="CONCURRENT_CHANGE")
    now = await require_unit(session, unit.path)
    payload = events_pb2.OrgUnitUpdated(
        path=now.path,
        parent_path=now.parent_path or "",
        kind=cast(Any, now.kind),
        name=now.display_name,
        name_en=now.display_name_en,
        closed=now.closed_at is not None,
        revision=now.revision,
        changed_fields=changed,
    )
    await publish_in(session, make_event("governance.org_unit.updated", payload, now.path))
    return now


async def households(session: AsyncSession, compound_path: str) -> list[tuple[str, int]]:
    """(path, exclusive area) of every household in a compound."""
    conn = await session.connection()
    rows = await conn.execute(
        select(ORG_UNITS.c.path, ORG_UNITS.c.exclusive_area_dm2).where(
            ORG_UNITS.c.kind == HOUSEHOLD, ORG_UNITS.c.path.startswith(compound_path + "/", autoescape=True)
        )
    )
    return [(r.path, r.exclusive_area_dm2) for r in rows]


# -- reads ------------------------------------------------------------------------------------------


async def get(db: Database, path: str) -> OrgUnit:
    async with db.session() as session:
        return await require_unit(session, path)


async def list_children(db: Database, parent_path: str, *, page_token: str, size: int) -> tuple[list[OrgUnit], str]:
    """One page of a unit's children in path order, and the next page's token ("" at the end)."""
    async with db.session() as session:
        await require_unit(session, parent_path)
        rows, token = await paging.keyset_page(
            await session.connection(),
            select(ORG_UNITS).where(ORG_UNITS.c.parent_path == parent_path),
            ORG_UNITS.c.path,
            kind=f"ListOrgUnits:{parent_path}",
            page_token=page_token,
            size=size,
        )
    return typed_all(OrgUnit, rows), token


OrgUnitRow = Row[Any]  # a `gov_org_units` row as `list_subtree` reads it (no model validated per row)

SUBTREE_PAGE_MAX = 10_000  # a city's districts, streets and 5,000 communities in one page
_PARENTS_PER_STATEMENT = 1000  # `parent_path IN (…)` stays well under SQLite's bound parameters


async def list_subtree(db: Database, parent_path: str, down_to_kind: int, *, page_token: str,
                       size: int) -> tuple[list[OrgUnitRow], str]:
    """One page, in path order, of every unit below `parent_path` whose kind is `down_to_kind`
    or above it (its districts, streets and communities), and the next page's token ("" at the
    end). Read a level at a time by the `parent_path` index — one statement per level (per
    thousand parents), not a call per unit — rather than by path prefix, which would also read
    every compound and household below. Each page reads the levels whole (each is the parents of
    the next): the listing is bounded by `down_to_kind`, compounds at most."""
    if not CITY <= down_to_kind <= COMPOUND:
        raise InvalidArgument.field("down_to_kind", "list at most down to compounds (ORG_UNIT_KIND_COMPOUND); page "
                                                    "through a compound's buildings and households by parent_path")
    kind = f"ListOrgUnits:{parent_path}:down_to:{down_to_kind}"
    after = paging.decode_token(kind, page_token)
    found: list[Row[Any]] = []
    async with db.session() as session:
        await require_unit(session, parent_path)
        conn = await session.connection()
        parents = [parent_path]
        while parents:
            level: list[Row[Any]] = []
            for start in range(0, len(parents), _PARENTS_PER_STATEMENT):
                some = parents[start:start + _PARENTS_PER_STATEMENT]
                query = select(ORG_UNITS).where(ORG_UNITS.c.parent_path.in_(some), ORG_UNITS.c.kind <= down_to_kind)
                level.extend((await conn.execute(query)).all())
            parents = sorted(u.path for u in level if u.kind < down_to_kind)
            found.extend(u for u in level if u.path > after)
    found.sort(key=lambda u: u.path)
    if len(found) <= size:
        return found, ""
    page = found[:size]
    return page, paging.encode_token(kind, page[-1].path)
