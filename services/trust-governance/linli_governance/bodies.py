"""Governance bodies: the owners' committee, the trust contract (trustee, remuneration rule,
service standards, supervisor) and three-party meeting records.

A compound has one current committee and one current contract, each replaced whole; meetings
are an append-only record. Reads open their own session; the changes are steps of the caller's
transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.governance.v1 import bodies_pb2, vote_pb2
from linli_governance import names, org_tree
from linli_governance.tables import COMMITTEES, CONTRACTS, MEETINGS, VOTES, Committee, Contract, Meeting, Vote
from linli_runtime import fields, paging, times
from linli_runtime.db import Database
from linli_runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.models import typed, typed_all

COMMITTEE_ROLES = (
    bodies_pb2.COMMITTEE_ROLE_CHAIR,
    bodies_pb2.COMMITTEE_ROLE_VICE_CHAIR,
    bodies_pb2.COMMITTEE_ROLE_MEMBER,
)
MEETING_PARTIES = {
    bodies_pb2.MEETING_PARTY_PARTY_ORGANISATION,
    bodies_pb2.MEETING_PARTY_OWNERS_COMMITTEE,
    bodies_pb2.MEETING_PARTY_PROPERTY_COMPANY,
}
NAME_LEN = 200  # people's and companies' names


@dataclass(frozen=True)
class Member:
    display_name: str
    role: int
    household_path: str = ""


@dataclass(frozen=True)
class NewCommittee:
    compound_path: str
    formation_date: str
    term_end_date: str
    members: Sequence[Member]
    elected_by_vote: str = ""


@dataclass(frozen=True)
class Standard:
    """A service standard of the contract: what is measured, in which unit, the target, and on
    which side of it the standard is met (AT_LEAST unless it says AT_MOST)."""

    code: str
    description: str
    unit: str
    target: int
    direction: int = bodies_pb2.STANDARD_DIRECTION_UNSPECIFIED


@dataclass(frozen=True)
class NewContract:
    compound_path: str
    trustee_name: str
    start_date: str
    end_date: str
    fixed_fen: int = 0
    income_share_bp: int = 0
    cap_fen: int = 0
    standards: Sequence[Standard] = field(default_factory=list)
    supervisor_name: str = ""
    hired_by_vote: str = ""


@dataclass(frozen=True)
class Attendee:
    display_name: str
    party: int


@dataclass(frozen=True)
class NewMeeting:
    date: str
    attendees: Sequence[Attendee]
    topics: Sequence[str]
    decisions: Sequence[str]


class RemunerationRule(Protocol):
    @property
    def fixed_fen(self) -> int: ...
    @property
    def income_share_bp(self) -> int: ...
    @property
    def cap_fen(self) -> int: ...


def _name(value: str, field_name: str, max_len: int = NAME_LEN) -> str:
    return fields.text(field_name, value, max_len, required=True)


# -- rules ------------------------------------------------------------------------------------------


def validate_committee(c: NewCommittee) -> None:
    start = times.parse_date("committee.formation_date", c.formation_date)
    if times.parse_date("committee.term_end_date", c.term_end_date) <= start:
        raise InvalidArgument.field("committee.term_end_date", "must be after the formation date")
    if not c.members:
        raise InvalidArgument.field("committee.members", "a committee has members")
    chairs = 0
    for i, m in enumerate(c.members):
        _name(m.display_name, f"committee.members[{i}].display_name")
        if m.role not in COMMITTEE_ROLES:
            raise InvalidArgument.field(f"committee.members[{i}].role", "must be CHAIR, VICE_CHAIR or MEMBER")
        chairs += m.role == bodies_pb2.COMMITTEE_ROLE_CHAIR
        if m.household_path and not m.household_path.startswith(c.compound_path + "/"):
            raise InvalidArgument.field(f"committee.members[{i}].household_path", "must be in the compound")
    if chairs != 1:
        raise InvalidArgument.field("committee.members", "exactly one member chairs the committee")


def validate_contract(c: NewContract) -> None:
    _name(c.trustee_name, "contract.trustee_name")
    start = times.parse_date("contract.start_date", c.start_date)
    if times.parse_date("contract.end_date", c.end_date) <= start:
        raise InvalidArgument.field("contract.end_date", "must be after the start date")
    if c.fixed_fen < 0:
        raise InvalidArgument.field("contract.remuneration.fixed_fen", "must not be negative")
    if not 0 <= c.income_share_bp <= 10_000:
        raise InvalidArgument.field("contract.remuneration.income_share_basis_points", "must be 0..10000")
    if (c.fixed_fen > 0) == (c.income_share_bp > 0):
        raise InvalidArgument.field("contract.remuneration", "set either fixed_fen or income_share_basis_points")
    if c.cap_fen < 0:
        raise InvalidArgument.field("contract.remuneration.cap_fen", "must not be negative")
    seen: set[str] = set()
    for i, s in enumerate(c.standards):
        if not fields.SLUG.match(s.code) or s.code in seen:
            raise InvalidArgument.field(f"contract.service_standards[{i}].code", "must be a unique lowercase slug")
        seen.add(s.code)
        _name(s.description, f"contract.service_standards[{i}].description", 500)
        _name(s.unit, f"contract.service_standards[{i}].unit", 50)
        if s.target <= 0:
            raise InvalidArgument.field(f"contract.service_standards[{i}].target", "must be a positive measure")
        if s.direction not in bodies_pb2.StandardDirection.values():
            raise InvalidArgument.field(f"contract.service_standards[{i}].direction", "must be AT_LEAST or AT_MOST")


def validate_meeting(m: NewMeeting) -> None:
    times.parse_date("date", m.date)
    for i, a in enumerate(m.attendees):
        _name(a.display_name, f"attendees[{i}].display_name")
        if a.party not in MEETING_PARTIES:
            raise InvalidArgument.field(f"attendees[{i}].party", "must be one of the three parties")
    if {a.party for a in m.attendees} != MEETING_PARTIES:
        raise InvalidArgument.field(
            "attendees",
            "a three-party meeting needs the party organisation, the owners' committee and the property company",
        )
    if not m.decisions:
        raise InvalidArgument.field("decisions", "record at least one decision")
    for i, d in enumerate(m.decisions):
        _name(d, f"decisions[{i}]", 1000)
    for i, t in enumerate(m.topics):
        _name(t, f"topics[{i}]", 300)


def remuneration_due(contract: RemunerationRule | None, period_income_fen: int) -> int:
    """The trustee's pay for a period under its contract: fixed, or a share of the period's
    income; either capped when the contract sets a cap."""
    if contract is None:
        return 0
    due = int(contract.fixed_fen or max(0, period_income_fen) * contract.income_share_bp // 10_000)
    return min(due, int(contract.cap_fen)) if contract.cap_fen else due


async def passed_vote(conn: AsyncConnection, compound_path: str, name: str, matter: int, field_name: str) -> None:
    """`name` must be a closed, passed vote of this compound on `matter`."""
    vote_compound, vote_id = names.parse_compound_child(field_name, name, names.VOTES)
    row = (await conn.execute(select(VOTES).where(VOTES.c.vote_id == vote_id))).first()
    vote = typed(Vote, row) if row is not None else None
    if vote is None or vote_compound != compound_path or vote.compound_path != compound_path:
        raise NotFound(f"vote {name} does not exist in this compound", reason="VOTE_NOT_FOUND")
    if vote.matter != matter or not vote.closed or vote.outcome != vote_pb2.VOTE_OUTCOME_PASSED:
        raise FailedPrecondition(
            f"vote {name} is not a passed {vote_pb2.VoteMatter.Name(cast(Any, matter))} vote",
            reason="DECISION_NOT_PASSED",
        )


# -- owners' committee -------------------------------------------------------------------------------


async def update_committee(session: AsyncSession, c: NewCommittee) -> Committee:
    validate_committee(c)
    await org_tree.require_compound(session, c.compound_path)
    conn = await session.connection()
    if c.elected_by_vote:
        await passed_vote(
            conn, c.compound_path, c.elected_by_vote, vote_pb2.VOTE_MATTER_ELECT_COMMITTEE, "committee.elected_by_vote"
        )
    await conn.execute(COMMITTEES.delete().where(COMMITTEES.c.compound_path == c.compound_path))
    await conn.execute(
        COMMITTEES.insert().values(
            compound_path=c.compound_path,
            formation_date=c.formation_date,
            term_end_date=c.term_end_date,
            members=[
                {"display_name": m.display_name.strip(), "role": m.role, "household_path": m.household_path}
                for m in c.members
            ],
            elected_by_vote=c.elected_by_vote,
        )
    )
    return await _committee(conn, c.compound_path)


async def _committee(conn: AsyncConnection, compound_path: str) -> Committee:
    row = (await conn.execute(select(COMMITTEES).where(COMMITTEES.c.compound_path == compound_path))).first()
    if row is None:
        raise NotFound(f"compound '{compound_path}' has no owners' committee yet", reason="COMMITTEE_NOT_FOUND")
    return typed(Committee, row)


async def get_committee(db: Database, compound_path: str) -> Committee:
    async with db.session() as session:
        return await _committee(await session.connection(), compound_path)


# -- trust contract -----------------------------------------------------------------------------------


async def update_contract(session: AsyncSession, c: NewContract) -> Contract:
    validate_contract(c)
    await org_tree.require_compound(session, c.compound_path)
    conn = await session.connection()
    if c.hired_by_vote:
        await passed_vote(
            conn, c.compound_path, c.hired_by_vote, vote_pb2.VOTE_MATTER_HIRE_TRUSTEE, "contract.hired_by_vote"
        )
    await conn.execute(CONTRACTS.delete().where(CONTRACTS.c.compound_path == c.compound_path))
    await conn.execute(
        CONTRACTS.insert().values(
            compound_path=c.compound_path,
            trustee_name=c.trustee_name.strip(),
            start_date=c.start_date,
            end_date=c.end_date,
            fixed_fen=c.fixed_fen,
            income_share_bp=c.income_share_bp,
            cap_fen=c.cap_fen,
            standards=[
                {
                    "code": s.code,
                    "description": s.description,
                    "unit": s.unit,
                    "target": s.target,
                    "direction": s.direction,
                }
                for s in c.standards
            ],
            supervisor_name=c.supervisor_name.strip(),
            hired_by_vote=c.hired_by_vote,
        )
    )
    return await _contract(conn, c.compound_path)


async def find_contract(conn: AsyncConnection, compound_path: str) -> Contract | None:
    row = (await conn.execute(select(CONTRACTS).where(CONTRACTS.c.compound_path == compound_path))).first()
    return typed(Contract, row) if row is not None else None


async def _contract(conn: AsyncConnection, compound_path: str) -> Contract:
    contract = await find_contract(conn, compound_path)
    if contract is None:
        raise NotFound(f"compound '{compound_path}' has no trust contract yet", reason="CONTRACT_NOT_FOUND")
    return contract


async def get_contract(db: Database, compound_path: str) -> Contract:
    async with db.session() as session:
        return await _contract(await session.connection(), compound_path)


# -- three-party meetings -------------------------------------------------------------------------------


async def create_meeting(session: AsyncSession, compound_path: str, m: NewMeeting, *, when: datetime) -> Meeting:
    validate_meeting(m)
    await org_tree.require_compound(session, compound_path)
    conn = await session.connection()
    meeting_id = uuid.uuid4().hex
    await conn.execute(
        MEETINGS.insert().values(
            meeting_id=meeting_id,
            compound_path=compound_path,
            date=m.date,
            attendees=[{"display_name": a.display_name.strip(), "party": a.party} for a in m.attendees],
            topics=[t.strip() for t in m.topics],
            decisions=[d.strip() for d in m.decisions],
            created_at=when,
        )
    )
    row = (await conn.execute(select(MEETINGS).where(MEETINGS.c.meeting_id == meeting_id))).one()
    return typed(Meeting, row)


async def list_meetings(db: Database, compound_path: str, *, page_token: str, size: int) -> tuple[list[Meeting], str]:
    """One page of a compound's meeting records, oldest first, and the next page's token."""
    async with db.session() as session:
        rows, token = await paging.keyset_page(
            await session.connection(),
            select(MEETINGS).where(MEETINGS.c.compound_path == compound_path),
            MEETINGS.c.seq,
            kind=f"ListMeetingRecords:{compound_path}",
            page_token=page_token,
            size=size,
        )
    return typed_all(Meeting, rows), token
