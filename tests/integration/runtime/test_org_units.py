"""A service's copy of the org tree (linli_runtime.org_units) on both engines: the highest
revision wins whatever order events arrive in, households are not kept, and requests naming an
unknown or closed place get NOT_FOUND / FAILED_PRECONDITION with the reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from linli.events.v1 import governance_pb2
from linli_runtime import org_units
from linli_runtime.db import Database
from linli_runtime.errors import FailedPrecondition, NotFound
from linli_runtime.events import Event, PoisonMessage, make_event
from linli_runtime.org_units import UnitState

WHEN = datetime(2026, 11, 7, tzinfo=UTC)
FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"

metadata = sa.MetaData()
KNOWN = sa.Table(
    "t_org_unit", metadata,
    sa.Column("path", sa.String(255), primary_key=True),
    sa.Column("parent_path", sa.String(255), nullable=False),
    sa.Column("kind", sa.SmallInteger, nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("name_en", sa.String(200), nullable=False),
    sa.Column("closed", sa.Boolean, nullable=False),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("learned_at", sa.DateTime(timezone=True), nullable=False),
)


@pytest.fixture
async def known(db: Database) -> AsyncIterator[org_units.KnownUnits]:
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield org_units.KnownUnits(db, KNOWN, "test-service")


def unit(path: str, revision: int = 1, *, name: str = "x", closed: bool = False, kind: int = 4) -> UnitState:
    return UnitState(path, path.rsplit("/", 1)[0], kind, name, "", closed, revision)


async def test_the_highest_revision_wins_whatever_the_order(db: Database, known: org_units.KnownUnits) -> None:
    assert await org_units.learn_all(db, KNOWN, [unit(FENGSHU, 1, name="枫树社区")], WHEN) == 1
    assert await org_units.learn_all(db, KNOWN, [unit(FENGSHU, 3, name="枫树新社区", closed=True)], WHEN) == 1
    # Revision 2 arrives late (a redelivery after a nak): it changes nothing.
    assert await org_units.learn_all(db, KNOWN, [unit(FENGSHU, 2, name="旧名")], WHEN) == 0
    assert await org_units.learn_all(db, KNOWN, [unit(FENGSHU, 3, name="枫树新社区", closed=True)], WHEN) == 0
    row = await known.get(FENGSHU)
    assert (row.name, row.closed, row.revision) == ("枫树新社区", True, 3)
    # Buildings and households are the owners' register: not kept.
    assert await org_units.learn_all(db, KNOWN, [unit(f"{FENGSHU}/c/b1", kind=6)], WHEN) == 0
    assert await known.get(f"{FENGSHU}/c/b1") is None


async def test_unknown_is_not_found_and_closed_above_is_failed_precondition(
        db: Database, known: org_units.KnownUnits) -> None:
    street = FENGSHU.rsplit("/", 1)[0]
    await org_units.learn_all(db, KNOWN, [unit(street, kind=3), unit(FENGSHU), unit(f"{FENGSHU}/jinshang", kind=5)],
                              WHEN)
    await known.require(f"{FENGSHU}/jinshang")
    with pytest.raises(NotFound) as unknown:
        await known.require(f"{street}/hongxing", field="partner.community_path")
    assert unknown.value.reason == "ORG_UNIT_UNKNOWN" and "partner.community_path" in unknown.value.message
    assert "trust-governance" in unknown.value.message
    await org_units.learn_all(db, KNOWN, [unit(street, 2, kind=3, closed=True)], WHEN)
    with pytest.raises(FailedPrecondition) as closed:
        await known.require(f"{FENGSHU}/jinshang")
    assert closed.value.reason == "ORG_UNIT_CLOSED" and closed.value.metadata["closed"] == street
    await known.require(f"{FENGSHU}/jinshang", open_=False)  # known, for what reads may do


async def test_events_before_revisions_count_as_the_first_and_malformed_ones_are_poison() -> None:
    old = make_event("governance.org_unit.created", governance_pb2.OrgUnitCreated(
        path=FENGSHU, parent_path="chengdu/jinjiang/chenglonglu", kind=4, name="枫树社区"), org_scope=FENGSHU,
        source="trust-governance")
    assert org_units.state_of(Event(old)).revision == 1
    bad = make_event("governance.org_unit.updated", governance_pb2.OrgUnitUpdated(path="chengdu/枫树", revision=2),
                     org_scope="", source="trust-governance")
    with pytest.raises(PoisonMessage):
        org_units.state_of(Event(bad))
