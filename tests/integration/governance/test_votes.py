"""Owners' votes over gRPC: one ballot per household, paper ballots by officers, the art. 278
outcome on close, and the result bound to the budget it approves."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from linli.governance.v1 import account_pb2, org_pb2, vote_pb2

from .conftest import Governance
from .helpers import JINSHENG, add_households, build_chongzhou, expect_error, rid, unit, with_budget

FOR, AGAINST, ABSTAIN = vote_pb2.BALLOT_CHOICE_FOR, vote_pb2.BALLOT_CHOICE_AGAINST, vote_pb2.BALLOT_CHOICE_ABSTAIN
ONLINE, PAPER = vote_pb2.BALLOT_CHANNEL_ONLINE, vote_pb2.BALLOT_CHANNEL_PAPER


@pytest.fixture
async def compound(gov: Governance) -> list[str]:
    await build_chongzhou(gov)
    return await add_households(gov, JINSHENG, [10_000, 10_000, 10_000])


async def open_vote(
    gov: Governance, matter: int, subject: str = "", days: int = 7, amount_fen: int = 0, purpose: str = ""
) -> vote_pb2.Vote:
    close = Timestamp()
    close.FromDatetime(gov.clock.now() + timedelta(days=days))
    reply = await gov.caller("owners_committee", JINSHENG)(
        gov.votes.CreateVote,
        vote_pb2.CreateVoteRequest(
            compound_path=JINSHENG,
            title="业主大会表决 Owners' vote",
            matter=matter,
            subject=subject,
            close_time=close,
            request_id=rid(),
            amount_fen=amount_fen,
            purpose=purpose,
        ),
    )
    return reply.vote


async def ballot(gov: Governance, vote: str, household: str, choice: int, channel: int = ONLINE) -> vote_pb2.Vote:
    who = gov.caller("resident", household) if channel == ONLINE else gov.caller("owners_committee", JINSHENG)
    reply = await who(
        gov.votes.CastBallot,
        vote_pb2.CastBallotRequest(
            vote=vote, household_path=household, choice=choice, channel=channel, request_id=rid()
        ),
    )
    return reply.vote


async def recount(
    gov: Governance, vote: str, household: str, choice: int, officer: str = "second-officer"
) -> vote_pb2.RecountPaperBallotResponse:
    who = gov.caller("community_worker", JINSHENG, subject=officer)
    return await who(
        gov.votes.RecountPaperBallot,
        vote_pb2.RecountPaperBallotRequest(vote=vote, household_path=household, choice=choice, request_id=rid()),
    )


async def close_vote(gov: Governance, name: str) -> vote_pb2.Vote:
    reply = await gov.caller("owners_committee", JINSHENG)(
        gov.votes.CloseVote, vote_pb2.CloseVoteRequest(name=name, request_id=rid())
    )
    return reply.vote


async def test_a_household_votes_once_and_may_change_its_online_ballot_until_the_close(
    gov: Governance, compound: list[str]
) -> None:
    vote = await open_vote(gov, vote_pb2.VOTE_MATTER_ELECT_COMMITTEE)
    await ballot(gov, vote.name, compound[0], FOR)
    # Online again: the owner changed their mind; still one ballot, the latest choice.
    changed = await ballot(gov, vote.name, compound[0], AGAINST)
    assert (changed.tally.participating_households, changed.tally.for_households) == (1, 0)
    mine = await gov.caller("resident", compound[0])(
        gov.votes.GetBallot, vote_pb2.GetBallotRequest(vote=vote.name, household_path=compound[0])
    )
    assert (mine.ballot.choice, mine.ballot.channel, mine.ballot.counted) == (AGAINST, ONLINE, True)
    # A paper ballot for an owner who voted online is refused: one ballot per owner.
    await expect_error(
        ballot(gov, vote.name, compound[0], FOR, PAPER), grpc.StatusCode.ALREADY_EXISTS, reason="BALLOT_ALREADY_CAST"
    )
    # A ballot entered on paper is final: the owner cannot change it online.
    await ballot(gov, vote.name, compound[1], FOR, PAPER)
    await expect_error(
        ballot(gov, vote.name, compound[1], AGAINST), grpc.StatusCode.ALREADY_EXISTS, reason="BALLOT_ALREADY_CAST"
    )
    # Neighbours read their own ballot only.
    await expect_error(
        gov.caller("resident", compound[2])(
            gov.votes.GetBallot, vote_pb2.GetBallotRequest(vote=vote.name, household_path=compound[0])
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    await expect_error(
        gov.caller("resident", compound[2])(
            gov.votes.GetBallot, vote_pb2.GetBallotRequest(vote=vote.name, household_path=compound[2])
        ),
        grpc.StatusCode.NOT_FOUND,
        reason="BALLOT_NOT_FOUND",
    )
    tally = (await gov.admin(gov.votes.GetVote, vote_pb2.GetVoteRequest(name=vote.name))).vote.tally
    assert (tally.participating_households, tally.for_households, tally.electorate_households) == (1, 0, 3)
    # After the close nothing changes any more.
    gov.clock.advance(days=8)
    await expect_error(
        ballot(gov, vote.name, compound[0], FOR), grpc.StatusCode.FAILED_PRECONDITION, reason="VOTE_CLOSED"
    )


async def test_budget_vote_passes_by_art_278_and_approves_the_budget(gov: Governance, compound: list[str]) -> None:
    budget = await with_budget(gov, JINSHENG, approved=False)
    assert budget.state == account_pb2.BUDGET_STATE_DRAFT
    vote = await open_vote(gov, vote_pb2.VOTE_MATTER_BUDGET, subject=budget.name)
    await ballot(gov, vote.name, compound[0], FOR)
    await ballot(gov, vote.name, compound[1], FOR, PAPER)
    live = await ballot(gov, vote.name, compound[2], AGAINST)
    # The paper ballot waits for its recount: 1 for, 1 against is not more than half.
    assert live.tally.outcome == vote_pb2.VOTE_OUTCOME_REJECTED and not live.closed
    assert (live.tally.unconfirmed_households, live.tally.unconfirmed_for_households) == (1, 1)
    await expect_error(close_vote(gov, vote.name), grpc.StatusCode.FAILED_PRECONDITION, reason="VOTE_STILL_OPEN")
    gov.clock.advance(days=7)
    await expect_error(
        close_vote(gov, vote.name), grpc.StatusCode.FAILED_PRECONDITION, reason="PAPER_BALLOTS_UNCONFIRMED"
    )
    recounted = await recount(gov, vote.name, compound[1], FOR)
    assert recounted.confirmed and recounted.vote.tally.outcome == vote_pb2.VOTE_OUTCOME_PASSED
    closed = await close_vote(gov, vote.name)
    assert (closed.closed, closed.outcome) == (True, vote_pb2.VOTE_OUTCOME_PASSED)
    approved = (await gov.admin(gov.account.GetBudget, account_pb2.GetBudgetRequest(name=budget.name))).budget
    assert (approved.state, approved.approved_by_vote) == (account_pb2.BUDGET_STATE_APPROVED, vote.name)
    await expect_error(close_vote(gov, vote.name), grpc.StatusCode.FAILED_PRECONDITION, reason="VOTE_CLOSED")


async def test_special_matter_needs_three_quarters_where_an_ordinary_one_needs_half(
    gov: Governance, compound: list[str]
) -> None:
    special = await open_vote(gov, vote_pb2.VOTE_MATTER_RAISE_MAINTENANCE_FUND)
    ordinary = await open_vote(gov, vote_pb2.VOTE_MATTER_HIRE_TRUSTEE)
    for vote in (special, ordinary):
        await ballot(gov, vote.name, compound[0], FOR)
        await ballot(gov, vote.name, compound[1], FOR)
        await ballot(gov, vote.name, compound[2], ABSTAIN)
    gov.clock.advance(days=8)
    assert (await close_vote(gov, special.name)).outcome == vote_pb2.VOTE_OUTCOME_REJECTED  # 2/3 < 3/4
    assert (await close_vote(gov, ordinary.name)).outcome == vote_pb2.VOTE_OUTCOME_PASSED  # 2/3 > 1/2


async def test_too_few_participants_is_no_quorum_and_late_ballots_are_refused(
    gov: Governance, compound: list[str]
) -> None:
    vote = await open_vote(gov, vote_pb2.VOTE_MATTER_OTHER)
    await ballot(gov, vote.name, compound[0], FOR)
    gov.clock.advance(days=7)
    await expect_error(
        ballot(gov, vote.name, compound[1], FOR), grpc.StatusCode.FAILED_PRECONDITION, reason="VOTE_CLOSED"
    )
    closed = await close_vote(gov, vote.name)
    assert closed.outcome == vote_pb2.VOTE_OUTCOME_NO_QUORUM
    assert not closed.tally.quorum_by_area and not closed.tally.quorum_by_households


async def test_only_the_electorate_at_opening_votes_and_only_for_itself(gov: Governance, compound: list[str]) -> None:
    vote = await open_vote(gov, vote_pb2.VOTE_MATTER_OTHER)
    late = await unit(gov, f"{JINSHENG}/b1", "h099", org_pb2.ORG_UNIT_KIND_HOUSEHOLD, "99号", exclusive_area_dm2=9_000)
    await expect_error(ballot(gov, vote.name, late.path, FOR), grpc.StatusCode.INVALID_ARGUMENT, field="household_path")
    neighbour = gov.caller("resident", compound[1])
    await expect_error(
        neighbour(
            gov.votes.CastBallot,
            vote_pb2.CastBallotRequest(vote=vote.name, household_path=compound[0], choice=FOR, channel=ONLINE),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    await expect_error(
        neighbour(
            gov.votes.CastBallot,
            vote_pb2.CastBallotRequest(vote=vote.name, household_path=compound[1], choice=FOR, channel=PAPER),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        reason="ROLE_NOT_ALLOWED",
    )
    other_street = gov.caller("owners_committee", "chengdu/chongzhou/huaiyuan")
    await expect_error(
        other_street(gov.votes.GetVote, vote_pb2.GetVoteRequest(name=vote.name)), grpc.StatusCode.PERMISSION_DENIED
    )


async def test_bad_vote_input_names_the_field(gov: Governance, compound: list[str]) -> None:
    officer = gov.caller("owners_committee", JINSHENG)
    close = Timestamp()
    close.FromDatetime(gov.clock.now() + timedelta(days=3))
    past = Timestamp()
    past.FromDatetime(gov.clock.now() - timedelta(days=1))
    good = dict(compound_path=JINSHENG, title="t", matter=vote_pb2.VOTE_MATTER_OTHER, close_time=close)
    for change, field in [
        ({"title": ""}, "title"),
        ({"matter": vote_pb2.VOTE_MATTER_UNSPECIFIED}, "matter"),
        ({"close_time": None}, "close_time"),
        ({"close_time": past}, "close_time"),
        ({"compound_path": ""}, "compound_path"),
        ({"matter": vote_pb2.VOTE_MATTER_BUDGET, "subject": "budgets/2026"}, "subject"),
        ({"subject": "compounds/x/budgets/2026"}, "subject"),
    ]:
        fields = {k: v for k, v in {**good, **change}.items() if v is not None}
        await expect_error(
            officer(gov.votes.CreateVote, vote_pb2.CreateVoteRequest(**fields)),  # type: ignore[arg-type]
            grpc.StatusCode.INVALID_ARGUMENT,
            field=field,
        )
    vote = await open_vote(gov, vote_pb2.VOTE_MATTER_OTHER)
    for request, field in [
        (vote_pb2.CastBallotRequest(vote=vote.name, household_path=compound[0], channel=PAPER), "choice"),
        (vote_pb2.CastBallotRequest(vote=vote.name, household_path=compound[0], choice=FOR), "channel"),
        (vote_pb2.CastBallotRequest(vote="votes/1", household_path=compound[0], choice=FOR, channel=PAPER), "vote"),
        (
            vote_pb2.CastBallotRequest(vote=vote.name, household_path="chengdu/elsewhere", choice=FOR, channel=PAPER),
            "household_path",
        ),
    ]:
        await expect_error(officer(gov.votes.CastBallot, request), grpc.StatusCode.INVALID_ARGUMENT, field=field)
    unknown = vote.name.rsplit("/", 1)[0] + "/nosuchvote"
    await expect_error(officer(gov.votes.GetVote, vote_pb2.GetVoteRequest(name=unknown)), grpc.StatusCode.NOT_FOUND)


async def test_simultaneous_ballots_from_one_household_count_once(gov: Governance, compound: list[str]) -> None:
    import asyncio

    vote = await open_vote(gov, vote_pb2.VOTE_MATTER_OTHER)
    results = await asyncio.gather(
        *[ballot(gov, vote.name, compound[0], FOR, channel) for channel in (ONLINE, PAPER, ONLINE, PAPER)],
        return_exceptions=True,
    )
    # One ballot is stored; a later online one may replace an online first one (a change of mind),
    # every other is refused as a second ballot.
    assert sum(isinstance(r, vote_pb2.Vote) for r in results) >= 1
    assert all(r.code() == grpc.StatusCode.ALREADY_EXISTS for r in results if isinstance(r, grpc.aio.AioRpcError))
    tally = (await gov.admin(gov.votes.GetVote, vote_pb2.GetVoteRequest(name=vote.name))).vote.tally
    # Counted at once if the online ballot won, apart until recounted if the paper one did.
    assert tally.participating_households + tally.unconfirmed_households == 1


async def test_paper_ballots_count_when_two_officers_read_the_same_choice(gov: Governance, compound: list[str]) -> None:
    vote = await open_vote(gov, vote_pb2.VOTE_MATTER_OTHER)
    entered = await ballot(gov, vote.name, compound[0], FOR, PAPER)  # entered by officer "tester"
    assert entered.unconfirmed_paper_ballots == 1
    await expect_error(
        recount(gov, vote.name, compound[0], FOR, officer="tester"),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="SAME_OFFICER",
    )
    # The second officer reads AGAINST: the entry changes and needs a third reading.
    changed = await recount(gov, vote.name, compound[0], AGAINST)
    assert not changed.confirmed and changed.vote.unconfirmed_paper_ballots == 1
    assert changed.vote.tally.for_households == 0
    await expect_error(
        recount(gov, vote.name, compound[0], AGAINST), grpc.StatusCode.FAILED_PRECONDITION, reason="SAME_OFFICER"
    )
    confirmed = await recount(gov, vote.name, compound[0], AGAINST, officer="third-officer")
    assert confirmed.confirmed and confirmed.vote.unconfirmed_paper_ballots == 0
    await expect_error(
        recount(gov, vote.name, compound[0], AGAINST, officer="fourth"),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="ALREADY_CONFIRMED",
    )
    await ballot(gov, vote.name, compound[1], FOR)  # online ballots need no recount
    await expect_error(recount(gov, vote.name, compound[1], FOR), grpc.StatusCode.NOT_FOUND)
    await expect_error(recount(gov, vote.name, compound[2], 0), grpc.StatusCode.INVALID_ARGUMENT, field="choice")


async def test_the_live_tally_keeps_unconfirmed_paper_ballots_apart_until_recounted(
    gov: Governance, compound: list[str]
) -> None:
    """Issue 16 defect 13: with two of three ballots typed in from paper and not yet recounted,
    the live tally showed PASSED. They are shown apart and count only once confirmed."""
    vote = await open_vote(gov, vote_pb2.VOTE_MATTER_OTHER)
    await ballot(gov, vote.name, compound[0], FOR)
    await ballot(gov, vote.name, compound[1], FOR, PAPER)
    live = await ballot(gov, vote.name, compound[2], FOR, PAPER)
    tally = live.tally
    assert (tally.participating_households, tally.participating_area_dm2, tally.for_households) == (1, 10_000, 1)
    assert tally.outcome == vote_pb2.VOTE_OUTCOME_NO_QUORUM and not tally.quorum_by_households
    assert (tally.unconfirmed_households, tally.unconfirmed_area_dm2) == (2, 20_000)
    assert (tally.unconfirmed_for_households, tally.unconfirmed_for_area_dm2) == (2, 20_000)
    assert live.unconfirmed_paper_ballots == 2
    await recount(gov, vote.name, compound[1], FOR)
    after_one = (await gov.admin(gov.votes.GetVote, vote_pb2.GetVoteRequest(name=vote.name))).vote.tally
    assert (after_one.participating_households, after_one.unconfirmed_households) == (2, 1)
    assert after_one.outcome == vote_pb2.VOTE_OUTCOME_PASSED  # 2 of 3 take part, both for
    done = (await recount(gov, vote.name, compound[2], FOR)).vote.tally
    assert (done.participating_households, done.for_households, done.unconfirmed_households) == (3, 3, 0)
    assert done.outcome == vote_pb2.VOTE_OUTCOME_PASSED
