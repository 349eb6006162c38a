"""The org tree: city → district → street/town → community → compound → building → household.

Creating a unit writes it and its `governance.org_unit.created` event in one transaction; a
new compound also gets its rollout record and trust-account settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.events.v1 import governance_pb2 as events_pb2
from linli.governance.v1 import org_pb2
from linli_governance import accounts, rollout
from linli_governance.names import SLUG, utc
from linli_governance.tables import org_units
from linli_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.events import publish_in
from linli_runtime.server import ServiceApp

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
COMPOUND_DEPTH = 5  # city/district/street/community/compound


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
    if not SLUG.match(unit.slug):
        raise InvalidArgument.field("slug", "must be 1-63 lowercase ASCII letters, digits, '-' or '_'")
    if not unit.display_name.strip() or len(unit.display_name) > 200:
        raise InvalidArgument.field("display_name", "is required (at most 200 characters)")
    if len(unit.display_name_en) > 200:
        raise InvalidArgument.field("display_name_en", "must be at most 200 characters")
    if (unit.kind == CITY) != (unit.parent_path == ""):
        raise InvalidArgument.field("parent_path", "a city has no parent; every other unit needs one")
    if unit.kind == COMPOUND:
        if unit.compound_type not in (org_pb2.COMPOUND_TYPE_COMMERCIAL, org_pb2.COMPOUND_TYPE_RESETTLEMENT):
            raise InvalidArgument.field("compound_type", "a compound is COMMERCIAL or RESETTLEMENT")
    elif unit.compound_type:
        raise InvalidArgument.field("compound_type", "only compounds have a type")
    if unit.kind == HOUSEHOLD:
        if not 0 < unit.exclusive_area_dm2 <= 10_000_000:
            raise InvalidArgument.field("exclusive_area_dm2", "a household needs its exclusive floor area (> 0 dm²)")
    elif unit.exclusive_area_dm2:
        raise InvalidArgument.field("exclusive_area_dm2", "only households have an exclusive floor area")


def to_proto(r: Any) -> org_pb2.OrgUnit:
    """A row of `org_units` as its message."""
    ts = Timestamp()
    ts.FromDatetime(utc(r.created_at))
    return org_pb2.OrgUnit(
        path=r.path,
        parent_path=r.parent_path or "",
        kind=r.kind,
        display_name=r.display_name,
        display_name_en=r.display_name_en,
        compound_type=r.compound_type,
        exclusive_area_dm2=r.exclusive_area_dm2,
        create_time=ts,
    )


async def find(session: AsyncSession, path: str) -> org_pb2.OrgUnit | None:
    conn = await session.connection()
    row = (await conn.execute(select(org_units).where(org_units.c.path == path))).first()
    return to_proto(row) if row is not None else None


async def get(session: AsyncSession, path: str) -> org_pb2.OrgUnit:
    unit = await find(session, path)
    if unit is None:
        raise NotFound(f"org unit '{path}' does not exist", reason="ORG_UNIT_NOT_FOUND", metadata={"path": path})
    return unit


async def get_compound(session: AsyncSession, path: str) -> org_pb2.OrgUnit:
    unit = await find(session, path)
    if unit is None or unit.kind != COMPOUND:
        raise NotFound(f"compound '{path}' does not exist", reason="COMPOUND_NOT_FOUND", metadata={"path": path})
    return unit


async def create(session: AsyncSession, app: ServiceApp, unit: NewUnit, *, when: datetime) -> org_pb2.OrgUnit:
    validate(unit)
    if unit.parent_path:
        parent = await find(session, unit.parent_path)
        if parent is None:
            raise NotFound(
                f"parent '{unit.parent_path}' does not exist",
                reason="ORG_UNIT_NOT_FOUND",
                metadata={"path": unit.parent_path},
            )
        if unit.kind != parent.kind + 1:
            raise FailedPrecondition(
                f"a {Kind.Name(cast(Any, unit.kind))} cannot sit under a {Kind.Name(parent.kind)}",
                reason="WRONG_PARENT_KIND",
            )
    if await find(session, unit.path) is not None:
        raise AlreadyExists(f"org unit '{unit.path}' already exists", metadata={"path": unit.path})
    conn = await session.connection()
    try:
        # A savepoint: a simultaneous create of the same path (PostgreSQL holds it on the
        # primary key until the first commits) is then told ALREADY_EXISTS, not ABORTED.
        async with session.begin_nested():
            await conn.execute(
                org_units.insert().values(
                    path=unit.path,
                    parent_path=unit.parent_path or None,
                    kind=unit.kind,
                    display_name=unit.display_name.strip(),
                    display_name_en=unit.display_name_en.strip(),
                    compound_type=unit.compound_type,
                    exclusive_area_dm2=unit.exclusive_area_dm2,
                    created_at=when,
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
    )
    await publish_in(session, app.event("governance.org_unit.created", payload, org_scope=unit.path))
    return await get(session, unit.path)


async def children(session: AsyncSession, parent_path: str, *, after: str | None, limit: int) -> list[org_pb2.OrgUnit]:
    conn = await session.connection()
    query = select(org_units).where(org_units.c.parent_path == parent_path)
    if after is not None:
        query = query.where(org_units.c.path > after)
    rows = (await conn.execute(query.order_by(org_units.c.path).limit(limit))).all()
    return [to_proto(r) for r in rows]


async def households(session: AsyncSession, compound_path: str) -> list[tuple[str, int]]:
    """(path, exclusive area) of every household in a compound."""
    conn = await session.connection()
    rows = await conn.execute(
        select(org_units.c.path, org_units.c.exclusive_area_dm2).where(
            org_units.c.kind == HOUSEHOLD, org_units.c.path.startswith(compound_path + "/", autoescape=True)
        )
    )
    return [(r.path, r.exclusive_area_dm2) for r in rows]


async def compounds_under(session: AsyncSession, path: str) -> list[org_pb2.OrgUnit]:
    conn = await session.connection()
    query = select(org_units).where(org_units.c.kind == COMPOUND)
    if path:
        query = query.where(org_units.c.path.startswith(path + "/", autoescape=True) | (org_units.c.path == path))
    rows = (await conn.execute(query.order_by(org_units.c.path))).all()
    return [to_proto(r) for r in rows]
