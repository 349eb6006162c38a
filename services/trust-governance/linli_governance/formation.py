"""Forming a compound's first owners' committee, step by step, as the Ministry of Housing's
guidance on owners' assemblies and committees (业主大会和业主委员会指导规则) lays it out:

    PREPARATORY_GROUP  the street office (or town) sets up a preparatory group (筹备组) with the
                       community, owners — at least half of its members — and others
    CANDIDATES         the group nominates candidates: 5 to 11, an odd number, one to chair
    ELECTION           the owners vote on them (an ELECT_COMMITTEE vote bound to the formation);
                       a vote that fails returns to CANDIDATES, to nominate and call again
    ELECTED            the vote passed: the first term begins with the candidates that day
    FILED              the term was filed with the street office (备案, within 30 days)

A compound that has (or had) a committee does not form a first one. Each step refuses when the
one before it is not done. `get` opens its own session; the steps are steps of the caller's
transaction; `election_closed` is called by votes.close in the vote's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.governance.v1 import bodies_pb2, vote_pb2
from linli_governance import bodies, names, org_tree, votes
from linli_governance.periods import local_date
from linli_governance.tables import COMMITTEE_TERMS, FORMATIONS, CommitteeFormation
from linli_runtime import fields, times
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.models import typed

F = bodies_pb2.FormationStage
P = bodies_pb2.PreparatoryParty
PARTIES = {
    P.PREPARATORY_PARTY_STREET_OFFICE,
    P.PREPARATORY_PARTY_COMMUNITY,
    P.PREPARATORY_PARTY_OWNER,
    P.PREPARATORY_PARTY_DEVELOPER,
    P.PREPARATORY_PARTY_PROPERTY_COMPANY,
}
MIN_CANDIDATES, MAX_CANDIDATES = 5, 11
TERM_YEARS = 5  # the term a first committee is elected for, unless its rules say otherwise
FILING_DAYS = 30


@dataclass(frozen=True)
class GroupMember:
    display_name: str
    party: int
    household_path: str = ""


@dataclass(frozen=True)
class FormationView:
    formation: CommitteeFormation
    term_number: int
    filed_date: str
    filing_reference: str


def validate_group(compound_path: str, group: Sequence[GroupMember]) -> None:
    """A street office representative leads; owners are at least half of the group."""
    for i, m in enumerate(group):
        fields.text(f"preparatory_group[{i}].display_name", m.display_name, bodies.NAME_LEN, required=True)
        if m.party not in PARTIES:
            raise InvalidArgument.field(f"preparatory_group[{i}].party", "must name whom the member stands for")
        if m.party == P.PREPARATORY_PARTY_OWNER and not m.household_path.startswith(compound_path + "/"):
            raise InvalidArgument.field(
                f"preparatory_group[{i}].household_path", "an owner's household must be in the compound"
            )
    if not any(m.party == P.PREPARATORY_PARTY_STREET_OFFICE for m in group):
        raise InvalidArgument.field(
            "preparatory_group", "the street office (or town) takes part in the preparatory group and leads it"
        )
    owners = sum(m.party == P.PREPARATORY_PARTY_OWNER for m in group)
    if 2 * owners < len(group):
        raise InvalidArgument.field("preparatory_group", "owners must be at least half of the preparatory group")


def validate_candidates(compound_path: str, candidates: Sequence[bodies.Member]) -> None:
    """5 to 11 owners of the compound, an odd number, exactly one to chair."""
    if not MIN_CANDIDATES <= len(candidates) <= MAX_CANDIDATES or len(candidates) % 2 == 0:
        raise InvalidArgument.field(
            "candidates", f"a committee has an odd number of members, {MIN_CANDIDATES} to {MAX_CANDIDATES}"
        )
    for i, m in enumerate(candidates):
        if not m.household_path.startswith(compound_path + "/"):
            raise InvalidArgument.field(f"candidates[{i}].household_path", "a candidate is an owner of the compound")
    bodies.validate_members(compound_path, candidates, "candidates")


def first_term_end(start: str) -> str:
    begun = date.fromisoformat(start)
    try:
        end = begun.replace(year=begun.year + TERM_YEARS)
    except ValueError:  # 29 February
        end = begun.replace(year=begun.year + TERM_YEARS, day=28)
    return (end - timedelta(days=1)).isoformat()


def check_stage(formation: CommitteeFormation, *allowed: int) -> None:
    if formation.stage not in allowed:
        now = F.Name(cast(Any, formation.stage)).removeprefix("FORMATION_STAGE_")
        wanted = " or ".join(F.Name(cast(Any, a)).removeprefix("FORMATION_STAGE_") for a in allowed)
        raise FailedPrecondition(
            f"the formation is at {now}; this step needs it at {wanted}", reason="FORMATION_STEP_ORDER"
        )


async def _find(conn: AsyncConnection, compound_path: str, *, lock: bool = False) -> CommitteeFormation | None:
    query = select(FORMATIONS).where(FORMATIONS.c.compound_path == compound_path)
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    return typed(CommitteeFormation, row) if row is not None else None


async def _require(conn: AsyncConnection, compound_path: str, *, lock: bool = False) -> CommitteeFormation:
    found = await _find(conn, compound_path, lock=lock)
    if found is None:
        raise NotFound(
            f"compound '{compound_path}' has not started forming its first committee", reason="FORMATION_NOT_FOUND"
        )
    return found


async def _view(conn: AsyncConnection, formation: CommitteeFormation) -> FormationView:
    number, filed, reference = 0, "", ""
    if formation.term_id:
        term = (
            await conn.execute(select(COMMITTEE_TERMS).where(COMMITTEE_TERMS.c.term_id == formation.term_id))
        ).one()
        number, filed, reference = term.number, term.filed_date, term.filing_reference
    return FormationView(formation, number, filed, reference)


async def _set(conn: AsyncConnection, compound_path: str, when: datetime, **values: Any) -> FormationView:
    await conn.execute(
        FORMATIONS.update().where(FORMATIONS.c.compound_path == compound_path).values(updated_at=when, **values)
    )
    return await _view(conn, await _require(conn, compound_path))


# -- the steps ------------------------------------------------------------------------------------


async def start(
    session: AsyncSession, compound_path: str, day: str, group: Sequence[GroupMember], *, when: datetime
) -> FormationView:
    times.parse_date("date", day)
    validate_group(compound_path, group)
    await org_tree.require_compound(session, compound_path)
    conn = await session.connection()
    if await bodies.has_committee(conn, compound_path):
        raise FailedPrecondition(
            "the compound already has an owners' committee; later terms are recorded with UpdateOwnersCommittee",
            reason="COMMITTEE_EXISTS",
        )
    if await _find(conn, compound_path) is not None:
        raise AlreadyExists(f"{names.formation_name(compound_path)} is already under way", reason="FORMATION_EXISTS")
    await conn.execute(
        FORMATIONS.insert().values(
            compound_path=compound_path,
            stage=F.FORMATION_STAGE_PREPARATORY_GROUP,
            group_formed_date=day,
            preparatory_group=[
                {"display_name": m.display_name.strip(), "party": m.party, "household_path": m.household_path}
                for m in group
            ],
            candidates=[],
            updated_at=when,
        )
    )
    return await _view(conn, await _require(conn, compound_path))


async def nominate(
    session: AsyncSession, compound_path: str, candidates: Sequence[bodies.Member], *, when: datetime
) -> FormationView:
    validate_candidates(compound_path, candidates)
    conn = await session.connection()
    formation = await _require(conn, compound_path, lock=True)
    check_stage(formation, F.FORMATION_STAGE_PREPARATORY_GROUP, F.FORMATION_STAGE_CANDIDATES)
    listed = [
        {"display_name": m.display_name.strip(), "role": m.role, "household_path": m.household_path} for m in candidates
    ]
    return await _set(conn, compound_path, when, stage=F.FORMATION_STAGE_CANDIDATES, candidates=listed)


async def call_election(
    session: AsyncSession, compound_path: str, *, open_time: datetime | None, close_time: datetime, when: datetime
) -> FormationView:
    conn = await session.connection()
    formation = await _require(conn, compound_path, lock=True)
    check_stage(formation, F.FORMATION_STAGE_CANDIDATES)
    vote = await votes.create(
        session,
        compound_path,
        title="首届业主委员会选举 Election of the first owners' committee",
        matter=vote_pb2.VOTE_MATTER_ELECT_COMMITTEE,
        subject=names.formation_name(compound_path),
        close_time=close_time,
        when=when,
        open_time=open_time,
    )
    return await _set(conn, compound_path, when, stage=F.FORMATION_STAGE_ELECTION, election_vote=vote.name)


async def election_closed(
    session: AsyncSession, compound_path: str, vote_name: str, passed: bool, *, when: datetime
) -> None:
    """The election vote closed: passed, the first term begins with the candidates; failed, the
    formation returns to its candidates (to nominate and call again)."""
    conn = await session.connection()
    formation = await _find(conn, compound_path, lock=True)
    if formation is None or formation.election_vote != vote_name or formation.stage != F.FORMATION_STAGE_ELECTION:
        return
    if not passed:
        await _set(conn, compound_path, when, stage=F.FORMATION_STAGE_CANDIDATES)
        return
    day = local_date(when)
    term = await bodies.update_committee(
        session,
        bodies.NewCommittee(
            compound_path,
            day,
            first_term_end(day),
            [bodies.Member(c["display_name"], c["role"], c["household_path"]) for c in formation.candidates],
            elected_by_vote=vote_name,
        ),
        when=when,
    )
    await _set(conn, compound_path, when, stage=F.FORMATION_STAGE_ELECTED, elected_date=day, term_id=term.term.term_id)


async def term_filed(conn: AsyncConnection, compound_path: str, term_id: str, *, when: datetime) -> None:
    """The first term was filed: the formation is done."""
    formation = await _find(conn, compound_path, lock=True)
    if formation is not None and formation.term_id == term_id:
        await _set(conn, compound_path, when, stage=F.FORMATION_STAGE_FILED)


async def file_term(
    session: AsyncSession, compound_path: str, day: str, reference: str, *, when: datetime
) -> bodies.TermView:
    """Record the current term's filing with the street office; the first term's filing ends
    the formation."""
    term = await bodies.file_term(session, compound_path, day, reference)
    await term_filed(await session.connection(), compound_path, term.term.term_id, when=when)
    return term


def filed_late(view: FormationView) -> bool:
    """Filed more than 30 days after the election (the street office may want to know why)."""
    if not view.filed_date or not view.formation.elected_date:
        return False
    elected = date.fromisoformat(view.formation.elected_date)
    return date.fromisoformat(view.filed_date) > elected + timedelta(days=FILING_DAYS)


async def get(db: Database, compound_path: str) -> FormationView:
    async with db.session() as session:
        conn = await session.connection()
        return await _view(conn, await _require(conn, compound_path))
