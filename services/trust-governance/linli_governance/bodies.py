"""Governance bodies: the owners' committee, the trust contract (trustee, remuneration rule,
service standards, supervisor) and three-party meeting records.

The committee keeps its history: terms (elected, begun, ended, filed with the street office)
and, within a term, memberships with their start and end — nothing is replaced. A new formation
date begins a new term and ends the current one; the same formation date changes the current
term's members (those who leave end today, those who join start today). The contract is one
current record, replaced whole; meetings are an append-only record. Reads open their own
session; the changes are steps of the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.governance.v1 import bodies_pb2, vote_pb2
from linli_governance import names, org_tree
from linli_governance.periods import local_date
from linli_governance.tables import (
    COMMITTEE_MEMBERS,
    COMMITTEE_TERMS,
    CONTRACTS,
    MEETINGS,
    VOTES,
    CommitteeMembership,
    CommitteeTerm,
    Contract,
    Meeting,
    Vote,
)
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
    validate_members(c.compound_path, c.members)


def validate_members(compound_path: str, members: Sequence[Member], field: str = "committee.members") -> None:
    """Named members in a committee role, of the compound's households, exactly one chairing."""
    if not members:
        raise InvalidArgument.field(field, "a committee has members")
    chairs = 0
    for i, m in enumerate(members):
        _name(m.display_name, f"{field}[{i}].display_name")
        if m.role not in COMMITTEE_ROLES:
            raise InvalidArgument.field(f"{field}[{i}].role", "must be CHAIR, VICE_CHAIR or MEMBER")
        chairs += m.role == bodies_pb2.COMMITTEE_ROLE_CHAIR
        if m.household_path and not m.household_path.startswith(compound_path + "/"):
            raise InvalidArgument.field(f"{field}[{i}].household_path", "must be in the compound")
    if chairs != 1:
        raise InvalidArgument.field(field, "exactly one member chairs the committee")


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


@dataclass(frozen=True)
class TermView:
    """A committee term and its memberships in the order they began (the current members are
    those without an end date)."""

    term: CommitteeTerm
    members: list[CommitteeMembership]

    @property
    def current_members(self) -> list[CommitteeMembership]:
        return [m for m in self.members if m.end_date is None]


def _key(display_name: str, role: int, household_path: str) -> tuple[str, int, str]:
    return display_name.strip(), role, household_path


def membership_changes(
    current: Sequence[CommitteeMembership], wanted: Sequence[Member]
) -> tuple[list[CommitteeMembership], list[Member]]:
    """Within a term: the memberships that end (not wanted any more, or in another role) and the
    members who start."""
    on = {_key(m.display_name, m.role, m.household_path): m for m in current}
    keys = {_key(m.display_name, m.role, m.household_path) for m in wanted}
    ending = [m for k, m in on.items() if k not in keys]
    starting = [m for m in wanted if _key(m.display_name, m.role, m.household_path) not in on]
    return ending, starting


async def _current_term(conn: AsyncConnection, compound_path: str, *, lock: bool = False) -> CommitteeTerm | None:
    query = select(COMMITTEE_TERMS).where(
        COMMITTEE_TERMS.c.compound_path == compound_path, COMMITTEE_TERMS.c.ended_date.is_(None)
    )
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    return typed(CommitteeTerm, row) if row is not None else None


async def _term_view(conn: AsyncConnection, term: CommitteeTerm) -> TermView:
    members = typed_all(
        CommitteeMembership,
        await conn.execute(
            select(COMMITTEE_MEMBERS)
            .where(COMMITTEE_MEMBERS.c.term_id == term.term_id)
            .order_by(COMMITTEE_MEMBERS.c.seq)
        ),
    )
    return TermView(term, members)


async def _start(conn: AsyncConnection, term_id: str, members: Sequence[Member], date: str) -> None:
    if members:
        await conn.execute(
            COMMITTEE_MEMBERS.insert(),
            [
                {
                    "term_id": term_id,
                    "display_name": m.display_name.strip(),
                    "role": m.role,
                    "household_path": m.household_path,
                    "start_date": date,
                    "end_date": None,
                }
                for m in members
            ],
        )


async def update_committee(session: AsyncSession, c: NewCommittee, *, when: datetime) -> TermView:
    validate_committee(c)
    await org_tree.require_compound(session, c.compound_path)
    conn = await session.connection()
    if c.elected_by_vote:
        await passed_vote(
            conn, c.compound_path, c.elected_by_vote, vote_pb2.VOTE_MATTER_ELECT_COMMITTEE, "committee.elected_by_vote"
        )
    current = await _current_term(conn, c.compound_path, lock=True)
    if current is not None and current.formation_date == c.formation_date:
        # The same term: its members change, and each change is dated.
        today = local_date(when)
        ending, starting = membership_changes((await _term_view(conn, current)).current_members, c.members)
        if ending:
            await conn.execute(
                COMMITTEE_MEMBERS.update()
                .where(COMMITTEE_MEMBERS.c.seq.in_([m.seq for m in ending]))
                .values(end_date=max(today, current.formation_date))
            )
        await _start(conn, current.term_id, starting, max(today, current.formation_date))
        await conn.execute(
            COMMITTEE_TERMS.update()
            .where(COMMITTEE_TERMS.c.term_id == current.term_id)
            .values(term_end_date=c.term_end_date, elected_by_vote=c.elected_by_vote or current.elected_by_vote)
        )
        return await _term_view(conn, await _require_current(conn, c.compound_path))
    if current is not None:
        if c.formation_date < current.formation_date:
            raise FailedPrecondition(
                f"the current term began on {current.formation_date}; a new term cannot begin before it",
                reason="TERM_ORDER",
            )
        # A new term: the current one ends the day the new one begins, with its memberships.
        await conn.execute(
            COMMITTEE_TERMS.update()
            .where(COMMITTEE_TERMS.c.term_id == current.term_id)
            .values(ended_date=c.formation_date)
        )
        await conn.execute(
            COMMITTEE_MEMBERS.update()
            .where(COMMITTEE_MEMBERS.c.term_id == current.term_id, COMMITTEE_MEMBERS.c.end_date.is_(None))
            .values(end_date=c.formation_date)
        )
    last = (
        await conn.execute(
            select(func.coalesce(func.max(COMMITTEE_TERMS.c.number), 0)).where(
                COMMITTEE_TERMS.c.compound_path == c.compound_path
            )
        )
    ).scalar_one()
    term_id = uuid.uuid4().hex
    await conn.execute(
        COMMITTEE_TERMS.insert().values(
            term_id=term_id,
            compound_path=c.compound_path,
            number=int(last) + 1,
            formation_date=c.formation_date,
            term_end_date=c.term_end_date,
            elected_by_vote=c.elected_by_vote,
            ended_date=None,
            created_at=when,
        )
    )
    await _start(conn, term_id, c.members, c.formation_date)
    return await _term_view(conn, await _require_current(conn, c.compound_path))


async def _require_current(conn: AsyncConnection, compound_path: str) -> CommitteeTerm:
    term = await _current_term(conn, compound_path)
    if term is None:
        raise NotFound(f"compound '{compound_path}' has no owners' committee yet", reason="COMMITTEE_NOT_FOUND")
    return term


async def file_term(session: AsyncSession, compound_path: str, date: str, reference: str) -> TermView:
    """Record the current term's filing with the street office (备案)."""
    times.parse_date("date", date)
    reference = fields.text("filing_reference", reference, 100, required=True)
    conn = await session.connection()
    term = await _require_current(conn, compound_path)
    if date < term.formation_date:
        raise InvalidArgument.field("date", f"must not be before the term began ({term.formation_date})")
    if term.filed_date:
        raise FailedPrecondition(
            f"term {term.number} was filed on {term.filed_date} ({term.filing_reference})", reason="TERM_ALREADY_FILED"
        )
    await conn.execute(
        COMMITTEE_TERMS.update()
        .where(COMMITTEE_TERMS.c.term_id == term.term_id)
        .values(filed_date=date, filing_reference=reference)
    )
    return await _term_view(conn, await _require_current(conn, compound_path))


async def has_committee(conn: AsyncConnection, compound_path: str) -> bool:
    """Whether the compound ever had a committee term."""
    found = (
        await conn.execute(select(COMMITTEE_TERMS.c.term_id).where(COMMITTEE_TERMS.c.compound_path == compound_path))
    ).first()
    return found is not None


async def get_committee(db: Database, compound_path: str) -> TermView:
    async with db.session() as session:
        conn = await session.connection()
        return await _term_view(conn, await _require_current(conn, compound_path))


async def list_terms(db: Database, compound_path: str, *, page_token: str, size: int) -> tuple[list[TermView], str]:
    """One page of a compound's terms, newest first, each with all its memberships."""
    kind = f"ListCommitteeTerms:{compound_path}"
    before = paging.decode_int_token(kind, page_token)
    async with db.session() as session:
        await org_tree.require_compound(session, compound_path)
        conn = await session.connection()
        query = select(COMMITTEE_TERMS).where(COMMITTEE_TERMS.c.compound_path == compound_path)
        if before:
            query = query.where(COMMITTEE_TERMS.c.number < before)
        rows = typed_all(
            CommitteeTerm, await conn.execute(query.order_by(COMMITTEE_TERMS.c.number.desc()).limit(size + 1))
        )
        views = [await _term_view(conn, t) for t in rows[:size]]
    token = paging.encode_token(kind, rows[size - 1].number) if len(rows) > size else ""
    return views, token


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
