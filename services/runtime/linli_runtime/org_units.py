"""The org tree as the services that do not own it know it.

Trust-governance owns the tree and announces every unit: `governance.org_unit.created` when it
is made, `governance.org_unit.updated` (its whole state) when it is renamed, closed or reopened,
each with the unit's revision. volunteer-points, partner-redemption and notification keep a copy
of the units down to compounds (buildings and households are the owners' register: no other
service names them) in a table of their own (`points_org_unit`, `rd_org_unit`, `nf_org_unit`,
with the columns `KnownUnitTable` names), filled by a consumer declared in each service's
`consumers.py` with `consumer(...)`: the runtime's inbox applies each event once, and `learn`
keeps the state of the highest revision seen, so a late redelivery never overwrites a newer one.

Requests that put something new into a place name it, and `KnownUnits.require` refuses what the
service has not learned:

- a place it does not know is NOT_FOUND (`ORG_UNIT_UNKNOWN`). AIP-133 and the gRPC status guide
  ask for NOT_FOUND when a request names a parent resource that does not exist, and the place is
  the parent of what is created there. FAILED_PRECONDITION would say "the place is there, but
  not in a state for this" — true only in the seconds between governance creating a unit and
  the event arriving, which the message mentions; for a mistyped or invented path (nearly every
  real case) it would send people looking for a state to fix that does not exist.
- a place that is known but closed (or lies below a closed unit) is FAILED_PRECONDITION
  (`ORG_UNIT_CLOSED`): it exists, and the system's state — closed — is what forbids the request.

Reads of what a service already holds stay open in a closed place. Demo data and tests learn the
units a service's own data names through `learn`, exactly as the events teach them
(`learn_demo_tree`), never by reaching into trust-governance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.events.v1 import governance_pb2
from linli_runtime.auth import normalize_path
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.demo import org_tree as demo_org_tree
from linli_runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.events import ConsumerSpec, Event, PoisonMessage

CREATED = "governance.org_unit.created"
UPDATED = "governance.org_unit.updated"
COMPOUND = governance_pb2.ORG_UNIT_KIND_COMPOUND  # the deepest kind kept


# A service's copy of the tree: a table with the columns path (primary key), parent_path, kind,
# name, name_en, closed, revision and learned_at (each service declares it in its tables.py).
KnownUnitTable = sa.Table


@dataclass(frozen=True)
class UnitState:
    """A unit as the last event about it described it."""

    path: str
    parent_path: str
    kind: int
    name: str
    name_en: str
    closed: bool
    revision: int


def state_of(event: Event) -> UnitState:
    """The unit an org-unit event announces; PoisonMessage for one that names no usable path."""
    payload: governance_pb2.OrgUnitCreated | governance_pb2.OrgUnitUpdated
    if event.envelope.subject == CREATED:
        payload = event.payload(governance_pb2.OrgUnitCreated)
        closed = False
    else:
        payload = event.payload(governance_pb2.OrgUnitUpdated)
        closed = payload.closed
    try:
        path = normalize_path(payload.path)
        parent = normalize_path(payload.parent_path)
    except InvalidArgument as exc:
        raise PoisonMessage(f"org unit event {event.id} carries a malformed path") from exc
    if not path or len(path) > 255:
        raise PoisonMessage(f"org unit event {event.id} names no usable path")
    # Events published before revisions existed carry 0: they are the unit's first state.
    return UnitState(path, parent, int(payload.kind), payload.name, payload.name_en, closed,
                     max(int(payload.revision), 1))


async def learn(conn: AsyncConnection, table: KnownUnitTable, unit: UnitState, when: datetime) -> bool:
    """Keep `unit` unless a state of the same or a later revision is kept already; returns whether
    it was kept. One statement (insert, or update where the revision is older), so replicas
    learning two revisions of one unit at once keep the later whichever commits first."""
    if unit.kind > COMPOUND:
        return False
    values = {"path": unit.path, "parent_path": unit.parent_path, "kind": unit.kind, "name": unit.name[:200],
              "name_en": unit.name_en[:200], "closed": unit.closed, "revision": unit.revision, "learned_at": when}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.path],
        set_={key: statement.excluded[key] for key in values if key != "path"},
        where=table.c.revision < statement.excluded.revision,
    )
    return bool((await conn.execute(statement)).rowcount)


def consumer(name: str, table: KnownUnitTable, clock: Clock) -> ConsumerSpec:
    """The durable consumer that keeps a service's copy of the tree (`name`: `<service>-org-units`)."""

    async def on_org_unit(event: Event, session: AsyncSession) -> None:
        await learn(await session.connection(), table, state_of(event), clock.now())

    return ConsumerSpec(name=name, stream="GOVERNANCE", subjects=[CREATED, UPDATED], handler=on_org_unit)


def demo_states() -> list[UnitState]:
    """The demo data set's tree, as governance's events announce it when it seeds it."""
    return [UnitState(u.path, u.parent_path, u.kind, u.name, u.name_en, False, 1) for u in demo_org_tree.units()]


async def learn_all(db: Database, table: KnownUnitTable, units: Sequence[UnitState], when: datetime) -> int:
    """Learn `units` in one transaction (demo data, test set-ups); returns how many were kept."""
    async with db.transaction() as session:
        conn = await session.connection()
        return sum([await learn(conn, table, unit, when) for unit in units])


async def learn_demo_tree(db: Database, table: KnownUnitTable, when: datetime) -> int:
    """What a service with demo data knows before governance's events arrive: the demo tree."""
    return await learn_all(db, table, demo_states(), when)


def lineage(path: str) -> list[str]:
    """`a/b/c` → [`a`, `a/b`, `a/b/c`]."""
    segments = path.split("/")
    return ["/".join(segments[:i]) for i in range(1, len(segments) + 1)]


class KnownUnits:
    """A service's answers to "is this a place I know, and is it open?"."""

    def __init__(self, db: Database, table: KnownUnitTable, service: str) -> None:
        self.db = db
        self.table = table
        self.service = service

    async def require(self, path: str, *, field: str = "community_path", open_: bool = True) -> None:
        """Refuse a place this service has not learned (NOT_FOUND), or, unless `open_` is False,
        one that is closed or lies below a closed unit (FAILED_PRECONDITION). `path` is
        normalised and already inside the caller's scope (scope first: an outsider learns
        nothing about which places exist)."""
        async with self.db.reading() as conn:
            await self.require_in(conn, path, field=field, open_=open_)

    async def require_in(self, conn: AsyncConnection, path: str, *, field: str = "community_path",
                         open_: bool = True) -> None:
        """As `require`, inside the caller's transaction."""
        rows = (await conn.execute(sa.select(self.table.c.path, self.table.c.closed).where(
            self.table.c.path.in_(lineage(path))))).all()
        if path not in {row.path for row in rows}:
            raise NotFound(
                f"{field}: '{path}' is not a place {self.service} knows. Places come from trust-governance "
                "(OrgService.CreateOrgUnit); check the path, or, if it was created a moment ago, try again in a "
                "few seconds", reason="ORG_UNIT_UNKNOWN", metadata={"path": path, "field": field})
        closed = sorted((row.path for row in rows if row.closed), key=len)
        if open_ and closed:
            where = "it was closed" if closed[-1] == path else f"'{closed[-1]}' above it was closed"
            raise FailedPrecondition(
                f"{field}: '{path}' is closed in trust-governance ({where}): nothing new can be added there; "
                "what is already recorded stays readable", reason="ORG_UNIT_CLOSED",
                metadata={"path": path, "closed": closed[-1]})

    async def get(self, path: str) -> Any:
        """The row kept for `path`, or None (what a service knows of a unit, for tests and tools)."""
        async with self.db.reading() as conn:
            return (await conn.execute(sa.select(self.table).where(self.table.c.path == path))).first()
