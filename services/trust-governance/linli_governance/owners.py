"""The owners' register, and the owners a vote counts (art278.electorate).

Each household (unit) of a compound may have an entry: owned by a registered owner (the same
`owner_id` on each unit one owner holds), or held by the developer (unsold, or sold but not
delivered). A unit without an entry is its own owner — what the platform assumed before the
register existed, and what a compound that has not entered its register still gets.

`list_owners` opens its own session; `register_unit` and `units` work inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.governance.v1 import vote_pb2
from linli_governance import art278, org_tree
from linli_governance.tables import UNIT_OWNERS, UnitOwner
from linli_runtime import fields, paging
from linli_runtime.db import Database
from linli_runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.models import typed, typed_all

H = vote_pb2.UnitHolding
DEVELOPER_NAME = "建设单位 Developer (unsold and undelivered units)"


@dataclass(frozen=True)
class Owner:
    """An owner as a vote counts them, with the name the register gives."""

    voter: art278.Voter
    display_name: str
    holding: int


def check_entry(entry: UnitOwner) -> UnitOwner:
    """OWNED units name their owner; DEVELOPER_HELD ones name none (the developer is one owner)."""
    if entry.holding == H.UNIT_HOLDING_OWNED:
        fields.ident("unit_owner.owner_id", entry.owner_id)
        fields.text("unit_owner.owner_name", entry.owner_name, 200)
    elif entry.holding == H.UNIT_HOLDING_DEVELOPER_HELD:
        if entry.owner_id:
            raise InvalidArgument.field("unit_owner.owner_id", "a DEVELOPER_HELD unit names no owner")
    else:
        raise InvalidArgument.field("unit_owner.holding", "must be OWNED or DEVELOPER_HELD")
    return entry


async def _compound_of(session: AsyncSession, household_path: str) -> str:
    unit = await org_tree.find(session, household_path)
    if unit is None:
        raise NotFound(f"household '{household_path}' does not exist", reason="ORG_UNIT_NOT_FOUND")
    if unit.kind != org_tree.HOUSEHOLD:
        raise FailedPrecondition(f"'{household_path}' is not a household", reason="NOT_A_HOUSEHOLD")
    compound = household_path.rsplit("/", 2)[0]  # household → building → compound
    return compound


async def register_unit(session: AsyncSession, entry: UnitOwner) -> UnitOwner:
    check_entry(entry)
    compound = await _compound_of(session, entry.household_path)
    conn = await session.connection()
    values = {
        "compound_path": compound,
        "owner_id": entry.owner_id,
        "owner_name": entry.owner_name.strip(),
        "holding": entry.holding,
    }
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    await conn.execute(
        insert(UNIT_OWNERS)
        .values(household_path=entry.household_path, **values)
        .on_conflict_do_update(index_elements=["household_path"], set_=values)
    )
    row = (await conn.execute(select(UNIT_OWNERS).where(UNIT_OWNERS.c.household_path == entry.household_path))).one()
    return typed(UnitOwner, row)


async def _register(conn: AsyncConnection, compound_path: str) -> dict[str, UnitOwner]:
    rows = await conn.execute(select(UNIT_OWNERS).where(UNIT_OWNERS.c.compound_path == compound_path))
    return {e.household_path: e for e in typed_all(UnitOwner, rows)}


async def units(session: AsyncSession, compound_path: str) -> list[art278.Unit]:
    """Every household of the compound with its area and its entry in the register."""
    register = await _register(await session.connection(), compound_path)
    found = []
    for path, area in await org_tree.households(session, compound_path):
        entry = register.get(path)
        found.append(
            art278.Unit(
                path,
                area,
                owner_id=entry.owner_id if entry and entry.holding == H.UNIT_HOLDING_OWNED else "",
                developer_held=bool(entry and entry.holding == H.UNIT_HOLDING_DEVELOPER_HELD),
            )
        )
    return found


def owners(voters: list[art278.Voter], register: dict[str, UnitOwner]) -> list[Owner]:
    named = []
    for voter in voters:
        entry = next((register[h] for h in voter.households if h in register), None)
        if voter.key == art278.DEVELOPER:
            named.append(Owner(voter, DEVELOPER_NAME, H.UNIT_HOLDING_DEVELOPER_HELD))
        elif entry is not None:
            named.append(Owner(voter, entry.owner_name or entry.owner_id, H.UNIT_HOLDING_OWNED))
        else:
            named.append(Owner(voter, "", H.UNIT_HOLDING_UNSPECIFIED))
    return named


async def list_owners(
    db: Database, compound_path: str, *, page_token: str, size: int
) -> tuple[list[Owner], str, int, int]:
    """One page of the compound's owners (by key), the next page's token, and the totals a vote
    opened now would count (owners, area)."""
    offset = paging.decode_int_token(f"ListOwners:{compound_path}", page_token)
    async with db.session() as session:
        await org_tree.require_compound(session, compound_path)
        voters = art278.electorate(await units(session, compound_path))
        register = await _register(await session.connection(), compound_path)
    page = owners(voters[offset : offset + size], register)
    token = paging.encode_token(f"ListOwners:{compound_path}", offset + size) if offset + size < len(voters) else ""
    return page, token, len(voters), sum(v.area_dm2 for v in voters)
