"""Owners' votes: opened and closed on their schedule by the service's clock (`run_schedule`, a
PeriodicTask of the app), the electorate fixed when a vote opens — owners as art. 278 and its
judicial interpretation count them (art278.electorate over the owners' register, owners.py) —,
one ballot per owner (an online one changeable until the close, the latest choice counting),
tally by art. 278, and the result applied to what the vote decided (a budget becomes APPROVED,
an election begins the first committee's term).

`get` and `list_page` open their own session; the changes are steps of the caller's
transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.governance.v1 import vote_pb2
from linli_governance import accounts, art278, names, org_tree, owners
from linli_governance.tables import BALLOTS, ELECTORATE, VOTES, Ballot, Vote
from linli_runtime import fields, paging, times
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.models import typed, typed_all

log = logging.getLogger("linli.governance.votes")
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
CHOICES = (vote_pb2.BALLOT_CHOICE_FOR, vote_pb2.BALLOT_CHOICE_AGAINST, vote_pb2.BALLOT_CHOICE_ABSTAIN)
CHANNELS = (vote_pb2.BALLOT_CHANNEL_ONLINE, vote_pb2.BALLOT_CHANNEL_PAPER)
STATES = (vote_pb2.VOTE_STATE_UNSPECIFIED, vote_pb2.VOTE_STATE_OPEN, vote_pb2.VOTE_STATE_CLOSED)
# Each listed vote carries its live tally (two small queries): pages stay smaller than the
# runtime's usual maximum.
MAX_LIST_PAGE = 200


@dataclass(frozen=True)
class Unconfirmed:
    """Paper ballots entered but not yet confirmed by a second officer: shown beside the tally,
    counted in none of its figures (a typing error must not swing the live outcome)."""

    households: int = 0
    area_dm2: int = 0
    for_households: int = 0
    for_area_dm2: int = 0


@dataclass(frozen=True)
class CastBallot:
    """A ballot as stored, reduced to what the count needs."""

    area_dm2: int
    choice: int
    channel: int
    confirmed: bool

    @property
    def counts(self) -> bool:
        """Online ballots count at once; paper ones once a second officer has confirmed them."""
        return self.channel != vote_pb2.BALLOT_CHANNEL_PAPER or self.confirmed


def split_ballots(ballots: list[CastBallot]) -> tuple[list[art278.Ballot], Unconfirmed]:
    """The ballots art. 278 counts, and the unconfirmed paper ballots kept apart."""
    counted = [art278.Ballot(b.area_dm2, b.choice == vote_pb2.BALLOT_CHOICE_FOR) for b in ballots if b.counts]
    waiting = [b for b in ballots if not b.counts]
    in_favour = [b for b in waiting if b.choice == vote_pb2.BALLOT_CHOICE_FOR]
    return counted, Unconfirmed(
        households=len(waiting),
        area_dm2=sum(b.area_dm2 for b in waiting),
        for_households=len(in_favour),
        for_area_dm2=sum(b.area_dm2 for b in in_favour),
    )


@dataclass(frozen=True)
class VoteView:
    """A vote with its live tally (counted ballots only) and the paper ballots still waiting
    for a recount, apart."""

    vote: Vote
    tally: art278.Tally
    unconfirmed: Unconfirmed

    @property
    def unconfirmed_paper_ballots(self) -> int:
        return self.unconfirmed.households

    @property
    def name(self) -> str:
        return names.vote_name(self.vote.compound_path, self.vote.vote_id)


def rule_for(matter: int) -> art278.Rule:
    if matter in SPECIAL:
        return art278.Rule.SPECIAL
    if matter in ORDINARY:
        return art278.Rule.ORDINARY
    raise InvalidArgument.field("matter", "must name what the vote decides")


def check_choice(choice: int) -> None:
    if choice not in CHOICES:
        raise InvalidArgument.field("choice", "must be FOR, AGAINST or ABSTAIN")


def check_channel(channel: int) -> None:
    if channel not in CHANNELS:
        raise InvalidArgument.field("channel", "must be ONLINE or PAPER")


def check_state(state: int) -> None:
    if state not in STATES:
        raise InvalidArgument.field("state", "must be OPEN, CLOSED or unset (all)")


# Decisions about money carry how much and what for: the fund's (required, so that the transfers
# citing the vote can be held to it) and a spending approval's (optional).
CARRY_AMOUNT = {M.VOTE_MATTER_USE_MAINTENANCE_FUND, M.VOTE_MATTER_SPENDING_APPROVAL}
PURPOSE_LEN = 500


def check_decision(matter: int, amount_fen: int, purpose: str) -> str:
    """The amount and purpose a vote carries: required for USE_MAINTENANCE_FUND, allowed for
    SPENDING_APPROVAL, refused for every other matter. Returns the purpose, trimmed."""
    purpose = fields.text("purpose", purpose, PURPOSE_LEN)
    if matter not in CARRY_AMOUNT:
        if amount_fen or purpose:
            raise InvalidArgument.field(
                "amount_fen" if amount_fen else "purpose",
                "only USE_MAINTENANCE_FUND and SPENDING_APPROVAL votes carry an amount and a purpose",
            )
        return ""
    if matter == M.VOTE_MATTER_USE_MAINTENANCE_FUND:
        if amount_fen <= 0:
            raise InvalidArgument.field("amount_fen", "a vote to use the maintenance fund says how much (fen, > 0)")
        if not purpose:
            raise InvalidArgument.field("purpose", "a vote to use the maintenance fund says what the money is for")
    if amount_fen:
        accounts.amount(amount_fen)
    return purpose


def budget_year(compound_path: str, subject: str) -> int:
    """The year of the budget a BUDGET vote decides on (`subject` names it)."""
    budget_compound, year = names.parse_compound_child("subject", subject, names.BUDGETS)
    if budget_compound != compound_path or not year.isdigit():
        raise InvalidArgument.field("subject", "must name a budget of this compound")
    return int(year)


def may_change(earlier_channel: int, channel: int) -> bool:
    """An online ballot may be replaced by the same owner's new online ballot until the close; a
    paper ballot is what the owner signed, and stands (a second one of any kind is refused)."""
    return earlier_channel == vote_pb2.BALLOT_CHANNEL_ONLINE and channel == vote_pb2.BALLOT_CHANNEL_ONLINE


def recount_result(entered: Ballot, choice: int, officer: str) -> bool:
    """Four eyes on paper: does this reading confirm the entry? Refuses a second reading by the
    officer who made the entry, and a ballot already confirmed."""
    if entered.confirmed_by is not None:
        raise FailedPrecondition("this paper ballot is already confirmed", reason="ALREADY_CONFIRMED")
    if entered.entered_by == officer:
        raise FailedPrecondition(
            "a recount must be done by another officer than the one who entered the ballot", reason="SAME_OFFICER"
        )
    return entered.choice == choice


# -- within a transaction -------------------------------------------------------------------------


async def _row(conn: AsyncConnection, compound_path: str, vote_id: str, *, lock: bool = False) -> Vote:
    query = select(VOTES).where(VOTES.c.vote_id == vote_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    if row is None or row.compound_path != compound_path:
        raise NotFound(f"vote {names.vote_name(compound_path, vote_id)} does not exist", reason="VOTE_NOT_FOUND")
    return typed(Vote, row)


async def _tally(conn: AsyncConnection, vote: Vote) -> tuple[art278.Tally, Unconfirmed]:
    """The live count: each owner's ballot carries the area of all the owner's units. A vote
    not opened yet has no electorate: an empty tally."""
    voters = {
        r.voter: int(r.area)
        for r in await conn.execute(
            select(ELECTORATE.c.voter, func.sum(ELECTORATE.c.area_dm2).label("area"))
            .where(ELECTORATE.c.vote_id == vote.vote_id)
            .group_by(ELECTORATE.c.voter)
        )
    }
    if not voters:
        return art278.Tally(0, 0, 0, 0, 0, 0, False, False, False, False), Unconfirmed()
    rows = await conn.execute(
        select(BALLOTS.c.voter, BALLOTS.c.choice, BALLOTS.c.channel, BALLOTS.c.confirmed_by).where(
            BALLOTS.c.vote_id == vote.vote_id
        )
    )
    counted, unconfirmed = split_ballots(
        [CastBallot(voters.get(r.voter, 0), r.choice, r.channel, r.confirmed_by is not None) for r in rows]
    )
    return art278.tally(sum(voters.values()), len(voters), counted, rule_for(vote.matter)), unconfirmed


async def _open(session: AsyncSession, vote_id: str, compound_path: str) -> int:
    """Fix the electorate: every unit with its area and its owner as art. 278 counts them.
    Returns how many owners."""
    conn = await session.connection()
    units = await owners.units(session, compound_path)
    rows = [
        {"vote_id": vote_id, "household_path": u.household, "area_dm2": u.area_dm2, "voter": art278.owner_key(u)}
        for u in units
    ]
    if rows:
        await conn.execute(ELECTORATE.insert(), rows)
    await conn.execute(VOTES.update().where(VOTES.c.vote_id == vote_id).values(opened=True))
    return len({r["voter"] for r in rows})


async def _view(conn: AsyncConnection, vote: Vote) -> VoteView:
    tally, unconfirmed = await _tally(conn, vote)
    return VoteView(vote, tally, unconfirmed)


async def create(
    session: AsyncSession,
    compound_path: str,
    *,
    title: str,
    matter: int,
    subject: str,
    close_time: datetime,
    when: datetime,
    amount_fen: int = 0,
    purpose: str = "",
    open_time: datetime | None = None,
) -> VoteView:
    rule_for(matter)
    purpose = check_decision(matter, amount_fen, purpose)
    await org_tree.require_compound(session, compound_path)
    opens = max(open_time or when, when)
    if close_time <= when:
        raise InvalidArgument.field("close_time", "must be in the future")
    if close_time <= opens:
        raise InvalidArgument.field("close_time", "must be after the open time")
    conn = await session.connection()
    if matter == M.VOTE_MATTER_BUDGET:
        await accounts.budget_view(conn, compound_path, budget_year(compound_path, subject))
    elif matter == M.VOTE_MATTER_ELECT_COMMITTEE and subject:
        if subject != names.formation_name(compound_path):
            raise InvalidArgument.field("subject", "an election names the compound's committee formation, or nothing")
    elif subject:
        raise InvalidArgument.field("subject", "only BUDGET and committee election votes are bound to a resource")
    if not await org_tree.households(session, compound_path):
        raise FailedPrecondition("the compound has no households to vote", reason="NO_ELECTORATE")
    vote_id = uuid.uuid4().hex
    await conn.execute(
        VOTES.insert().values(
            vote_id=vote_id,
            compound_path=compound_path,
            title=title,
            matter=matter,
            subject=subject,
            close_time=close_time,
            closed=False,
            outcome=vote_pb2.VOTE_OUTCOME_OPEN,
            created_at=when,
            amount_fen=amount_fen,
            purpose=purpose,
            open_time=opens,
            opened=False,
        )
    )
    if opens <= when:
        await _open(session, vote_id, compound_path)
    return await _view(conn, await _row(conn, compound_path, vote_id))


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
) -> VoteView:
    check_choice(choice)
    check_channel(channel)
    conn = await session.connection()
    vote = await _row(conn, compound_path, vote_id)
    if vote.closed or times.as_utc(vote.close_time) <= when:
        raise FailedPrecondition("the vote is closed", reason="VOTE_CLOSED")
    if not vote.opened or when < times.as_utc(vote.open_time):
        raise FailedPrecondition(
            f"the vote opens at {times.as_utc(vote.open_time).isoformat()}; ballots are taken from then",
            reason="VOTE_NOT_OPEN",
        )
    elector = (
        await conn.execute(
            select(ELECTORATE.c.voter).where(
                ELECTORATE.c.vote_id == vote_id, ELECTORATE.c.household_path == household_path
            )
        )
    ).first()
    if elector is None:
        raise InvalidArgument.field("household_path", "is not a household of this vote's electorate")
    voter = str(elector.voter)
    already = AlreadyExists(
        "this owner has already voted (one ballot per owner, whichever of their units it is cast from)",
        reason="BALLOT_ALREADY_CAST",
        metadata={"household_path": household_path},
    )
    earlier = (
        await conn.execute(
            select(BALLOTS.c.channel, BALLOTS.c.household_path).where(
                BALLOTS.c.vote_id == vote_id, BALLOTS.c.voter == voter
            )
        )
    ).first()
    if earlier is not None:
        if not may_change(int(earlier.channel), channel):
            raise already
        # The owner changes their mind before the close: the latest online choice counts, cast
        # from whichever of their units (still one row per owner).
        await conn.execute(
            BALLOTS.update()
            .where(BALLOTS.c.vote_id == vote_id, BALLOTS.c.voter == voter)
            .values(household_path=household_path, choice=choice, entered_by=entered_by, cast_at=when)
        )
        return await _view(conn, vote)
    try:
        # A savepoint, so that a simultaneous second ballot (PostgreSQL blocks it on the primary
        # key until the first commits) is refused as a duplicate rather than a conflict.
        async with session.begin_nested():
            await conn.execute(
                BALLOTS.insert().values(
                    vote_id=vote_id,
                    household_path=household_path,
                    voter=voter,
                    choice=choice,
                    channel=channel,
                    entered_by=entered_by,
                    cast_at=when,
                )
            )
    except IntegrityError as exc:
        raise already from exc
    return await _view(conn, vote)


async def recount(
    session: AsyncSession,
    compound_path: str,
    vote_id: str,
    *,
    household_path: str,
    choice: int,
    officer: str,
    when: datetime,
) -> tuple[VoteView, bool]:
    """Four eyes on paper: a ballot counts at close only when two different officers, one after
    the other, read the same choice from it. A differing reading replaces the entry, which then
    waits for yet another officer. Returns the vote and whether this reading confirmed."""
    check_choice(choice)
    conn = await session.connection()
    vote = await _row(conn, compound_path, vote_id, lock=True)
    if vote.closed:
        raise FailedPrecondition("the vote is closed", reason="VOTE_CLOSED")
    where = (BALLOTS.c.vote_id == vote_id) & (BALLOTS.c.household_path == household_path)
    row = (await conn.execute(select(BALLOTS).where(where))).first()
    entered = typed(Ballot, row) if row is not None else None
    if entered is None or entered.channel != vote_pb2.BALLOT_CHANNEL_PAPER:
        raise NotFound("no paper ballot of this household in this vote", reason="PAPER_BALLOT_NOT_FOUND")
    confirmed = recount_result(entered, choice, officer)
    values = {"confirmed_by": officer} if confirmed else {"choice": choice, "entered_by": officer, "cast_at": when}
    await conn.execute(BALLOTS.update().where(where).values(**values))
    return await _view(conn, vote), confirmed


async def close(session: AsyncSession, compound_path: str, vote_id: str, *, when: datetime) -> VoteView:
    conn = await session.connection()
    vote = await _row(conn, compound_path, vote_id, lock=True)
    if vote.closed:
        raise FailedPrecondition("the vote is already closed", reason="VOTE_CLOSED")
    if when < times.as_utc(vote.close_time):
        raise FailedPrecondition("the vote is still open until its close time", reason="VOTE_STILL_OPEN")
    result, unconfirmed = await _tally(conn, vote)
    if unconfirmed.households:
        raise FailedPrecondition(
            f"{unconfirmed.households} paper ballot(s) still need a second officer's recount",
            reason="PAPER_BALLOTS_UNCONFIRMED",
        )
    outcome = OUTCOMES[result.outcome]
    await conn.execute(VOTES.update().where(VOTES.c.vote_id == vote_id).values(closed=True, outcome=outcome))
    name = names.vote_name(compound_path, vote_id)
    if outcome == vote_pb2.VOTE_OUTCOME_PASSED and vote.matter == M.VOTE_MATTER_BUDGET:
        year = budget_year(compound_path, vote.subject)
        await accounts.approve_budget(session, compound_path, year, name)
    if vote.matter == M.VOTE_MATTER_ELECT_COMMITTEE and vote.subject:
        # formation → votes (it calls elections): imported here to keep the module graph acyclic.
        from linli_governance import formation

        passed = outcome == vote_pb2.VOTE_OUTCOME_PASSED
        await formation.election_closed(session, compound_path, name, passed, when=when)
    return await _view(conn, await _row(conn, compound_path, vote_id))


async def run_schedule(db: Database, now: datetime) -> tuple[int, int]:
    """One pass of the schedule: open the votes whose open time has come, close those whose close
    time has passed (each in its own transaction; a vote still waiting for paper recounts stays
    open and is closed by a later pass). Returns (opened, closed)."""
    async with db.session() as session:
        conn = await session.connection()
        due_open = (
            await conn.execute(
                select(VOTES.c.vote_id, VOTES.c.compound_path).where(
                    VOTES.c.opened.is_(False), VOTES.c.closed.is_(False), VOTES.c.open_time <= now
                )
            )
        ).all()
        due_close = (
            await conn.execute(
                select(VOTES.c.vote_id, VOTES.c.compound_path).where(
                    VOTES.c.opened.is_(True), VOTES.c.closed.is_(False), VOTES.c.close_time <= now
                )
            )
        ).all()
    opened = closed = 0
    for vote_id, compound_path in due_open:
        async with db.transaction() as session:
            vote = await _row(await session.connection(), compound_path, vote_id, lock=True)
            if not vote.opened:
                await _open(session, vote_id, compound_path)
                opened += 1
    for vote_id, compound_path in due_close:
        try:
            async with db.transaction() as session:
                await close(session, compound_path, vote_id, when=now)
            closed += 1
        except FailedPrecondition as waiting:
            if waiting.reason not in ("PAPER_BALLOTS_UNCONFIRMED", "VOTE_CLOSED"):
                raise
            log.info("vote not closed on schedule", extra={"vote": vote_id, "why": str(waiting.reason)})
    return opened, closed


# -- reads ------------------------------------------------------------------------------------------


async def ballot_of(db: Database, compound_path: str, vote_id: str, household_path: str) -> Ballot:
    """The ballot that counts for the owner of `household_path` (cast from any of their units);
    NOT_FOUND while they have not voted."""
    async with db.session() as session:
        conn = await session.connection()
        await _row(conn, compound_path, vote_id)
        voter = (
            await conn.execute(
                select(ELECTORATE.c.voter).where(
                    ELECTORATE.c.vote_id == vote_id, ELECTORATE.c.household_path == household_path
                )
            )
        ).first()
        row = None
        if voter is not None:
            row = (
                await conn.execute(select(BALLOTS).where(BALLOTS.c.vote_id == vote_id, BALLOTS.c.voter == voter.voter))
            ).first()
    if row is None:
        raise NotFound("this household's owner has not voted in this vote", reason="BALLOT_NOT_FOUND")
    return typed(Ballot, row)


async def get(db: Database, compound_path: str, vote_id: str) -> VoteView:
    async with db.session() as session:
        conn = await session.connection()
        return await _view(conn, await _row(conn, compound_path, vote_id))


def _at_or_below(path: str) -> ColumnElement[bool]:
    return or_(VOTES.c.compound_path == path, VOTES.c.compound_path.startswith(path + "/", autoescape=True))


async def list_page(
    db: Database, path: str, *, state: int, page_token: str, size: int, within: Sequence[str] = ()
) -> tuple[list[VoteView], str]:
    """One page of the votes of the compounds at or below `path` (a compound, or a place above
    compounds) — only those within one of `within` when given (the caller's grants below
    `path`) — newest first, each with its live tally, and the next page's token. NOT_FOUND for
    a place that does not exist."""
    check_state(state)
    query = select(VOTES).where(_at_or_below(path))
    if within:
        query = query.where(or_(*(_at_or_below(scope) for scope in within)))
    if state == vote_pb2.VOTE_STATE_OPEN:
        query = query.where(VOTES.c.closed.is_(False))
    elif state == vote_pb2.VOTE_STATE_CLOSED:
        query = query.where(VOTES.c.closed.is_(True))
    async with db.session() as session:
        await org_tree.require_unit(session, path)
        conn = await session.connection()
        rows, token = await paging.newest_first_page(
            conn, query, VOTES.c.created_at, VOTES.c.vote_id, kind=f"ListVotes:{path}:{state}:{','.join(within)}",
            page_token=page_token, size=size,
        )
        return [await _view(conn, vote) for vote in typed_all(Vote, rows)], token
