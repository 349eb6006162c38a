"""Owners' votes: electorate snapshot, one ballot per household, tally by art. 278, and the
result applied to what the vote decided (a budget becomes APPROVED)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.governance.v1 import vote_pb2
from linli_governance import accounts, art278, org_tree
from linli_governance.names import child_name, parse_child_name, utc
from linli_governance.tables import ballots, vote_electorate, votes
from linli_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound

M = vote_pb2.VoteMatter
SPECIAL = {M.VOTE_MATTER_RAISE_MAINTENANCE_FUND, M.VOTE_MATTER_REBUILD, M.VOTE_MATTER_CHANGE_COMMON_USE}
ORDINARY = {
    M.VOTE_MATTER_USE_MAINTENANCE_FUND,
    M.VOTE_MATTER_BUDGET,
    M.VOTE_MATTER_ELECT_COMMITTEE,
    M.VOTE_MATTER_HIRE_TRUSTEE,
    M.VOTE_MATTER_SPENDING_APPROVAL,
    M.VOTE_MATTER_OTHER,
}
OUTCOMES = {
    art278.Outcome.PASSED: vote_pb2.VOTE_OUTCOME_PASSED,
    art278.Outcome.NO_QUORUM: vote_pb2.VOTE_OUTCOME_NO_QUORUM,
    art278.Outcome.REJECTED: vote_pb2.VOTE_OUTCOME_REJECTED,
}


def rule_for(matter: int) -> art278.Rule:
    if matter in SPECIAL:
        return art278.Rule.SPECIAL
    if matter in ORDINARY:
        return art278.Rule.ORDINARY
    raise InvalidArgument.field("matter", "must name what the vote decides")


def vote_name(compound_path: str, vote_id: str) -> str:
    return child_name(compound_path, "votes", vote_id)


async def create(
    session: AsyncSession,
    compound_path: str,
    *,
    title: str,
    matter: int,
    subject: str,
    close_time: datetime,
    when: datetime,
) -> vote_pb2.Vote:
    rule_for(matter)
    await org_tree.get_compound(session, compound_path)
    if close_time <= when:
        raise InvalidArgument.field("close_time", "must be in the future")
    conn = await session.connection()
    if matter == M.VOTE_MATTER_BUDGET:
        budget_compound, year = parse_child_name(subject, "budgets", "subject")
        if budget_compound != compound_path or not year.isdigit():
            raise InvalidArgument.field("subject", "must name a budget of this compound")
        await accounts.get_budget(session, compound_path, int(year))
    elif subject:
        raise InvalidArgument.field("subject", "only BUDGET votes are bound to a resource so far")
    electorate = await org_tree.households(session, compound_path)
    if not electorate:
        raise FailedPrecondition("the compound has no households to vote", reason="NO_ELECTORATE")
    vote_id = uuid.uuid4().hex
    await conn.execute(
        votes.insert().values(
            vote_id=vote_id,
            compound_path=compound_path,
            title=title,
            matter=matter,
            subject=subject,
            close_time=close_time,
            closed=False,
            outcome=vote_pb2.VOTE_OUTCOME_OPEN,
            created_at=when,
        )
    )
    await conn.execute(
        vote_electorate.insert(),
        [{"vote_id": vote_id, "household_path": path, "area_dm2": area} for path, area in electorate],
    )
    return await get(session, compound_path, vote_id)


async def _row(session: AsyncSession, compound_path: str, vote_id: str, *, lock: bool = False) -> Any:
    conn = await session.connection()
    query = select(votes).where(votes.c.vote_id == vote_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    if row is None or row.compound_path != compound_path:
        raise NotFound(f"vote {vote_name(compound_path, vote_id)} does not exist", reason="VOTE_NOT_FOUND")
    return row


async def _tally(session: AsyncSession, row: Any) -> art278.Tally:
    conn = await session.connection()
    area, count = (
        await conn.execute(
            select(func.coalesce(func.sum(vote_electorate.c.area_dm2), 0), func.count()).where(
                vote_electorate.c.vote_id == row.vote_id
            )
        )
    ).one()
    cast = await conn.execute(
        select(vote_electorate.c.area_dm2, ballots.c.choice)
        .join(
            ballots,
            (ballots.c.vote_id == vote_electorate.c.vote_id)
            & (ballots.c.household_path == vote_electorate.c.household_path),
        )
        .where(vote_electorate.c.vote_id == row.vote_id)
    )
    return art278.tally(
        int(area),
        int(count),
        [art278.Ballot(area_dm2=b.area_dm2, consent=b.choice == vote_pb2.BALLOT_CHOICE_FOR) for b in cast],
        rule_for(row.matter),
    )


async def _unconfirmed(session: AsyncSession, vote_id: str) -> int:
    conn = await session.connection()
    count = (
        await conn.execute(
            select(func.count()).where(
                ballots.c.vote_id == vote_id,
                ballots.c.channel == vote_pb2.BALLOT_CHANNEL_PAPER,
                ballots.c.confirmed_by.is_(None),
            )
        )
    ).scalar_one()
    return int(count)


async def _view(session: AsyncSession, row: Any, t: art278.Tally | None = None) -> vote_pb2.Vote:
    vote = _proto(row, t or await _tally(session, row))
    vote.unconfirmed_paper_ballots = await _unconfirmed(session, row.vote_id)
    return vote


def _proto(row: Any, t: art278.Tally) -> vote_pb2.Vote:
    close = Timestamp()
    close.FromDatetime(utc(row.close_time))
    return vote_pb2.Vote(
        name=vote_name(row.compound_path, row.vote_id),
        compound_path=row.compound_path,
        title=row.title,
        matter=row.matter,
        subject=row.subject,
        close_time=close,
        closed=row.closed,
        outcome=row.outcome,
        tally=vote_pb2.Tally(
            electorate_area_dm2=t.electorate_area_dm2,
            electorate_households=t.electorate_households,
            participating_area_dm2=t.participating_area_dm2,
            participating_households=t.participating_households,
            for_area_dm2=t.for_area_dm2,
            for_households=t.for_households,
            quorum_by_area=t.quorum_by_area,
            quorum_by_households=t.quorum_by_households,
            approved_by_area=t.approved_by_area,
            approved_by_households=t.approved_by_households,
            outcome=OUTCOMES[t.outcome],
        ),
    )


async def get(session: AsyncSession, compound_path: str, vote_id: str) -> vote_pb2.Vote:
    row = await _row(session, compound_path, vote_id)
    return await _view(session, row)


async def cast(
    session: AsyncSession,
    compound_path: str,
    vote_id: str,
    *,
    household_path: str,
    choice: int,
    channel: int,
    entered_by: str,
    when: datetime,
) -> vote_pb2.Vote:
    if choice not in (vote_pb2.BALLOT_CHOICE_FOR, vote_pb2.BALLOT_CHOICE_AGAINST, vote_pb2.BALLOT_CHOICE_ABSTAIN):
        raise InvalidArgument.field("choice", "must be FOR, AGAINST or ABSTAIN")
    if channel not in (vote_pb2.BALLOT_CHANNEL_ONLINE, vote_pb2.BALLOT_CHANNEL_PAPER):
        raise InvalidArgument.field("channel", "must be ONLINE or PAPER")
    row = await _row(session, compound_path, vote_id)
    if row.closed or utc(row.close_time) <= when:
        raise FailedPrecondition("the vote is closed", reason="VOTE_CLOSED")
    conn = await session.connection()
    voter = (
        await conn.execute(
            select(vote_electorate.c.area_dm2).where(
                vote_electorate.c.vote_id == vote_id, vote_electorate.c.household_path == household_path
            )
        )
    ).first()
    if voter is None:
        raise InvalidArgument.field("household_path", "is not a household of this vote's electorate")
    earlier = (
        await conn.execute(
            select(ballots.c.choice).where(ballots.c.vote_id == vote_id, ballots.c.household_path == household_path)
        )
    ).first()
    if earlier is not None:
        raise AlreadyExists(
            "this household has already voted; one ballot per household",
            reason="BALLOT_ALREADY_CAST",
            metadata={"household_path": household_path},
        )
    try:
        # A savepoint, so that a simultaneous second ballot (PostgreSQL blocks it on the primary
        # key until the first commits) is refused as a duplicate rather than a conflict.
        async with session.begin_nested():
            await conn.execute(
                ballots.insert().values(
                    vote_id=vote_id,
                    household_path=household_path,
                    choice=choice,
                    channel=channel,
                    entered_by=entered_by,
                    cast_at=when,
                )
            )
    except IntegrityError as exc:
        raise AlreadyExists(
            "this household has already voted; one ballot per household",
            reason="BALLOT_ALREADY_CAST",
            metadata={"household_path": household_path},
        ) from exc
    return await _view(session, row)


async def recount(
    session: AsyncSession,
    compound_path: str,
    vote_id: str,
    *,
    household_path: str,
    choice: int,
    officer: str,
    when: datetime,
) -> tuple[vote_pb2.Vote, bool]:
    """Four eyes on paper: a ballot counts at close only when two different officers, one after
    the other, read the same choice from it."""
    if choice not in (vote_pb2.BALLOT_CHOICE_FOR, vote_pb2.BALLOT_CHOICE_AGAINST, vote_pb2.BALLOT_CHOICE_ABSTAIN):
        raise InvalidArgument.field("choice", "must be FOR, AGAINST or ABSTAIN")
    row = await _row(session, compound_path, vote_id, lock=True)
    if row.closed:
        raise FailedPrecondition("the vote is closed", reason="VOTE_CLOSED")
    conn = await session.connection()
    where = (ballots.c.vote_id == vote_id) & (ballots.c.household_path == household_path)
    entry = (await conn.execute(select(ballots).where(where))).first()
    if entry is None or entry.channel != vote_pb2.BALLOT_CHANNEL_PAPER:
        raise NotFound("no paper ballot of this household in this vote", reason="PAPER_BALLOT_NOT_FOUND")
    if entry.confirmed_by is not None:
        raise FailedPrecondition("this paper ballot is already confirmed", reason="ALREADY_CONFIRMED")
    if entry.entered_by == officer:
        raise FailedPrecondition(
            "a recount must be done by another officer than the one who entered the ballot", reason="SAME_OFFICER"
        )
    confirmed = entry.choice == choice
    values = {"confirmed_by": officer} if confirmed else {"choice": choice, "entered_by": officer, "cast_at": when}
    await conn.execute(ballots.update().where(where).values(**values))
    return await _view(session, row), confirmed


async def close(session: AsyncSession, compound_path: str, vote_id: str, *, when: datetime) -> vote_pb2.Vote:
    row = await _row(session, compound_path, vote_id, lock=True)
    if row.closed:
        raise FailedPrecondition("the vote is already closed", reason="VOTE_CLOSED")
    if when < utc(row.close_time):
        raise FailedPrecondition("the vote is still open until its close time", reason="VOTE_STILL_OPEN")
    unconfirmed = await _unconfirmed(session, vote_id)
    if unconfirmed:
        raise FailedPrecondition(
            f"{unconfirmed} paper ballot(s) still need a second officer's recount", reason="PAPER_BALLOTS_UNCONFIRMED"
        )
    result = await _tally(session, row)
    outcome = OUTCOMES[result.outcome]
    conn = await session.connection()
    await conn.execute(votes.update().where(votes.c.vote_id == vote_id).values(closed=True, outcome=outcome))
    if outcome == vote_pb2.VOTE_OUTCOME_PASSED and row.matter == M.VOTE_MATTER_BUDGET:
        _, year = parse_child_name(row.subject, "budgets", "subject")
        await accounts.approve_budget(session, compound_path, int(year), vote_name(compound_path, vote_id))
    row = await _row(session, compound_path, vote_id)
    return await _view(session, row, result)
