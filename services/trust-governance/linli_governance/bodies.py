"""Governance bodies: the owners' committee, the trust contract (trustee, remuneration rule,
service standards, supervisor) and three-party meeting records."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.governance.v1 import bodies_pb2, vote_pb2
from linli_governance import org_tree
from linli_governance.names import SLUG, child_name, parse_child_name, utc
from linli_governance.tables import committees, contracts, meetings, votes
from linli_runtime.errors import FailedPrecondition, InvalidArgument, NotFound


def parse_date(value: str, field: str) -> date:
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or len(value) != 10:
        raise InvalidArgument.field(field, "must be a date, YYYY-MM-DD")
    return parsed


def _text(value: str, field: str, max_len: int = 200) -> str:
    value = value.strip()
    if not value or len(value) > max_len:
        raise InvalidArgument.field(field, f"is required (at most {max_len} characters)")
    return value


async def passed_vote(conn: AsyncConnection, compound_path: str, name: str, matter: int, field: str) -> None:
    """`name` must be a closed, passed vote of this compound on `matter`."""
    vote_compound, vote_id = parse_child_name(name, "votes", field)
    row = (await conn.execute(select(votes).where(votes.c.vote_id == vote_id))).first()
    if row is None or vote_compound != compound_path or row.compound_path != compound_path:
        raise NotFound(f"vote {name} does not exist in this compound", reason="VOTE_NOT_FOUND")
    if row.matter != matter or not row.closed or row.outcome != vote_pb2.VOTE_OUTCOME_PASSED:
        raise FailedPrecondition(
            f"vote {name} is not a passed {vote_pb2.VoteMatter.Name(matter)} vote",  # type: ignore[arg-type]
            reason="DECISION_NOT_PASSED",
        )


# -- owners' committee -------------------------------------------------------------------------


def validate_committee(c: bodies_pb2.OwnersCommittee) -> None:
    start = parse_date(c.formation_date, "committee.formation_date")
    if parse_date(c.term_end_date, "committee.term_end_date") <= start:
        raise InvalidArgument.field("committee.term_end_date", "must be after the formation date")
    if not c.members:
        raise InvalidArgument.field("committee.members", "a committee has members")
    chairs = 0
    for i, m in enumerate(c.members):
        _text(m.display_name, f"committee.members[{i}].display_name")
        if m.role not in (
            bodies_pb2.COMMITTEE_ROLE_CHAIR,
            bodies_pb2.COMMITTEE_ROLE_VICE_CHAIR,
            bodies_pb2.COMMITTEE_ROLE_MEMBER,
        ):
            raise InvalidArgument.field(f"committee.members[{i}].role", "must be CHAIR, VICE_CHAIR or MEMBER")
        chairs += m.role == bodies_pb2.COMMITTEE_ROLE_CHAIR
        if m.household_path and not m.household_path.startswith(c.compound_path + "/"):
            raise InvalidArgument.field(f"committee.members[{i}].household_path", "must be in the compound")
    if chairs != 1:
        raise InvalidArgument.field("committee.members", "exactly one member chairs the committee")


async def update_committee(session: AsyncSession, c: bodies_pb2.OwnersCommittee) -> bodies_pb2.OwnersCommittee:
    await org_tree.get_compound(session, c.compound_path)
    conn = await session.connection()
    if c.elected_by_vote:
        await passed_vote(
            conn, c.compound_path, c.elected_by_vote, vote_pb2.VOTE_MATTER_ELECT_COMMITTEE, "committee.elected_by_vote"
        )
    values = {
        "formation_date": c.formation_date,
        "term_end_date": c.term_end_date,
        "members": [
            {"display_name": m.display_name.strip(), "role": m.role, "household_path": m.household_path}
            for m in c.members
        ],
        "elected_by_vote": c.elected_by_vote,
    }
    await conn.execute(committees.delete().where(committees.c.compound_path == c.compound_path))
    await conn.execute(committees.insert().values(compound_path=c.compound_path, **values))
    return await get_committee(session, c.compound_path)


async def get_committee(session: AsyncSession, compound_path: str) -> bodies_pb2.OwnersCommittee:
    conn = await session.connection()
    row = (await conn.execute(select(committees).where(committees.c.compound_path == compound_path))).first()
    if row is None:
        raise NotFound(f"compound '{compound_path}' has no owners' committee yet", reason="COMMITTEE_NOT_FOUND")
    return bodies_pb2.OwnersCommittee(
        compound_path=compound_path,
        formation_date=row.formation_date,
        term_end_date=row.term_end_date,
        members=[bodies_pb2.CommitteeMember(**m) for m in row.members],
        elected_by_vote=row.elected_by_vote,
    )


# -- trust contract ----------------------------------------------------------------------------


def validate_contract(c: bodies_pb2.TrustContract) -> None:
    _text(c.trustee_name, "contract.trustee_name")
    start = parse_date(c.start_date, "contract.start_date")
    if parse_date(c.end_date, "contract.end_date") <= start:
        raise InvalidArgument.field("contract.end_date", "must be after the start date")
    r = c.remuneration
    if r.fixed_fen < 0:
        raise InvalidArgument.field("contract.remuneration.fixed_fen", "must not be negative")
    if not 0 <= r.income_share_basis_points <= 10_000:
        raise InvalidArgument.field("contract.remuneration.income_share_basis_points", "must be 0..10000")
    if (r.fixed_fen > 0) == (r.income_share_basis_points > 0):
        raise InvalidArgument.field("contract.remuneration", "set either fixed_fen or income_share_basis_points")
    if r.cap_fen < 0:
        raise InvalidArgument.field("contract.remuneration.cap_fen", "must not be negative")
    seen: set[str] = set()
    for i, s in enumerate(c.service_standards):
        if not SLUG.match(s.code) or s.code in seen:
            raise InvalidArgument.field(f"contract.service_standards[{i}].code", "must be a unique lowercase slug")
        seen.add(s.code)
        _text(s.description, f"contract.service_standards[{i}].description", 500)
        _text(s.unit, f"contract.service_standards[{i}].unit", 50)
        if s.target <= 0:
            raise InvalidArgument.field(f"contract.service_standards[{i}].target", "must be a positive measure")


async def update_contract(session: AsyncSession, c: bodies_pb2.TrustContract) -> bodies_pb2.TrustContract:
    await org_tree.get_compound(session, c.compound_path)
    conn = await session.connection()
    if c.hired_by_vote:
        await passed_vote(
            conn, c.compound_path, c.hired_by_vote, vote_pb2.VOTE_MATTER_HIRE_TRUSTEE, "contract.hired_by_vote"
        )
    await conn.execute(contracts.delete().where(contracts.c.compound_path == c.compound_path))
    await conn.execute(
        contracts.insert().values(
            compound_path=c.compound_path,
            trustee_name=c.trustee_name.strip(),
            start_date=c.start_date,
            end_date=c.end_date,
            fixed_fen=c.remuneration.fixed_fen,
            income_share_bp=c.remuneration.income_share_basis_points,
            cap_fen=c.remuneration.cap_fen,
            standards=[
                {"code": s.code, "description": s.description, "unit": s.unit, "target": s.target}
                for s in c.service_standards
            ],
            supervisor_name=c.supervisor_name.strip(),
            hired_by_vote=c.hired_by_vote,
        )
    )
    return await get_contract(session, c.compound_path)


async def find_contract(conn: AsyncConnection, compound_path: str) -> Any:
    return (await conn.execute(select(contracts).where(contracts.c.compound_path == compound_path))).first()


async def get_contract(session: AsyncSession, compound_path: str) -> bodies_pb2.TrustContract:
    row = await find_contract(await session.connection(), compound_path)
    if row is None:
        raise NotFound(f"compound '{compound_path}' has no trust contract yet", reason="CONTRACT_NOT_FOUND")
    return bodies_pb2.TrustContract(
        compound_path=compound_path,
        trustee_name=row.trustee_name,
        start_date=row.start_date,
        end_date=row.end_date,
        remuneration=bodies_pb2.RemunerationRule(
            fixed_fen=row.fixed_fen, income_share_basis_points=row.income_share_bp, cap_fen=row.cap_fen
        ),
        service_standards=[bodies_pb2.ServiceStandard(**s) for s in row.standards],
        supervisor_name=row.supervisor_name,
        hired_by_vote=row.hired_by_vote,
    )


def remuneration_due(contract: Any, period_income_fen: int) -> int:
    """The trustee's pay for a period under its contract: fixed, or a share of the period's
    income; either capped when the contract sets a cap."""
    if contract is None:
        return 0
    due = int(contract.fixed_fen or max(0, period_income_fen) * contract.income_share_bp // 10_000)
    return min(due, int(contract.cap_fen)) if contract.cap_fen else due


# -- three-party meetings ----------------------------------------------------------------------

PARTIES = {
    bodies_pb2.MEETING_PARTY_PARTY_ORGANISATION,
    bodies_pb2.MEETING_PARTY_OWNERS_COMMITTEE,
    bodies_pb2.MEETING_PARTY_PROPERTY_COMPANY,
}


def validate_meeting(r: bodies_pb2.CreateMeetingRecordRequest) -> None:
    parse_date(r.date, "date")
    for i, a in enumerate(r.attendees):
        _text(a.display_name, f"attendees[{i}].display_name")
        if a.party not in PARTIES:
            raise InvalidArgument.field(f"attendees[{i}].party", "must be one of the three parties")
    if {a.party for a in r.attendees} != PARTIES:
        raise InvalidArgument.field(
            "attendees",
            "a three-party meeting needs the party organisation, the owners' committee and the property company",
        )
    if not r.decisions:
        raise InvalidArgument.field("decisions", "record at least one decision")
    for i, d in enumerate(r.decisions):
        _text(d, f"decisions[{i}]", 1000)
    for i, t in enumerate(r.topics):
        _text(t, f"topics[{i}]", 300)


def meeting_proto(row: Any) -> bodies_pb2.MeetingRecord:
    ts = Timestamp()
    ts.FromDatetime(utc(row.created_at))
    return bodies_pb2.MeetingRecord(
        name=child_name(row.compound_path, "meetings", row.meeting_id),
        compound_path=row.compound_path,
        date=row.date,
        attendees=[bodies_pb2.Attendee(**a) for a in row.attendees],
        topics=row.topics,
        decisions=row.decisions,
        create_time=ts,
    )


async def create_meeting(
    session: AsyncSession, compound_path: str, r: bodies_pb2.CreateMeetingRecordRequest, *, when: datetime
) -> bodies_pb2.MeetingRecord:
    await org_tree.get_compound(session, compound_path)
    conn = await session.connection()
    meeting_id = uuid.uuid4().hex
    await conn.execute(
        meetings.insert().values(
            meeting_id=meeting_id,
            compound_path=compound_path,
            date=r.date,
            attendees=[{"display_name": a.display_name.strip(), "party": a.party} for a in r.attendees],
            topics=[t.strip() for t in r.topics],
            decisions=[d.strip() for d in r.decisions],
            created_at=when,
        )
    )
    row = (await conn.execute(select(meetings).where(meetings.c.meeting_id == meeting_id))).one()
    return meeting_proto(row)


async def list_meetings(
    session: AsyncSession, compound_path: str, *, after_seq: int, limit: int
) -> tuple[list[bodies_pb2.MeetingRecord], int | None]:
    conn = await session.connection()
    rows = (
        await conn.execute(
            select(meetings)
            .where(meetings.c.compound_path == compound_path, meetings.c.seq > after_seq)
            .order_by(meetings.c.seq)
            .limit(limit + 1)
        )
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [meeting_proto(r) for r in rows], (rows[-1].seq if more else None)
