"""VoteService.ListVotes: the votes of a compound, or of every compound below a place, newest
first with their live tallies; filtered by state; paged (AIP-158); refused outside the caller's
scope and for bad input, on SQLite and PostgreSQL."""

from __future__ import annotations

import grpc
import pytest

from linli.governance.v1 import vote_pb2

from .conftest import Governance
from .helpers import DISTRICT, JIANGNANTING, JINSHENG, YANGMA, add_households, build_chongzhou, expect_error
from .test_votes import FOR, PAPER, ballot, close_vote, open_vote

OPEN, CLOSED = vote_pb2.VOTE_STATE_OPEN, vote_pb2.VOTE_STATE_CLOSED


@pytest.fixture
async def households(gov: Governance) -> list[str]:
    await build_chongzhou(gov)
    return await add_households(gov, JINSHENG, [10_000, 10_000, 10_000])


async def list_votes(gov: Governance, path: str, state: int = vote_pb2.VOTE_STATE_UNSPECIFIED, *,
                     role: str = "street_officer", scope: str = DISTRICT, page_size: int = 0,
                     page_token: str = "") -> vote_pb2.ListVotesResponse:
    reply: vote_pb2.ListVotesResponse = await gov.caller(role, scope)(gov.votes.ListVotes, vote_pb2.ListVotesRequest(
        path=path, state=state, page_size=page_size, page_token=page_token))
    return reply


async def every_page(gov: Governance, path: str, state: int, page_size: int) -> list[vote_pb2.Vote]:
    found: list[vote_pb2.Vote] = []
    token = ""
    while True:
        page = await list_votes(gov, path, state, page_size=page_size, page_token=token)
        assert len(page.votes) <= page_size
        found.extend(page.votes)
        token = page.next_page_token
        if not token:
            return found


async def test_votes_are_listed_newest_first_with_their_tally_and_filtered_by_state(
        gov: Governance, households: list[str]) -> None:
    first = await open_vote(gov, vote_pb2.VOTE_MATTER_ELECT_COMMITTEE, days=1)
    gov.clock.advance(minutes=1)
    second = await open_vote(gov, vote_pb2.VOTE_MATTER_CHANGE_COMMON_USE, days=7)
    await ballot(gov, second.name, households[0], FOR)
    await ballot(gov, second.name, households[1], FOR, PAPER)
    for household in households:
        await ballot(gov, first.name, household, FOR)
    gov.clock.advance(days=2)
    await close_vote(gov, first.name)

    listed = (await list_votes(gov, JINSHENG)).votes
    assert [v.name for v in listed] == [second.name, first.name]
    # The paper ballot waits for its recount apart from the count (issue 16 defect 13).
    assert listed[0].tally.participating_households == 1 and listed[0].unconfirmed_paper_ballots == 1
    assert listed[0].tally.unconfirmed_households == 1
    assert listed[0].create_time.ToDatetime() > listed[1].create_time.ToDatetime()
    assert (listed[1].closed, listed[1].outcome) == (True, vote_pb2.VOTE_OUTCOME_PASSED)
    assert [v.name for v in (await list_votes(gov, JINSHENG, OPEN)).votes] == [second.name]
    assert [v.name for v in (await list_votes(gov, JINSHENG, CLOSED)).votes] == [first.name]
    # A wider place lists its compounds' votes; a sibling compound has none of them.
    assert [v.name for v in (await list_votes(gov, YANGMA)).votes] == [second.name, first.name]
    await add_households(gov, JIANGNANTING, [9_000])
    assert (await list_votes(gov, JIANGNANTING)).votes == []
    # The compound's own committee lists its votes too.
    mine = await list_votes(gov, JINSHENG, role="owners_committee", scope=JINSHENG)
    assert len(mine.votes) == 2


async def test_pages_follow_one_another_without_gaps_or_repeats_even_at_the_same_instant(
        gov: Governance, households: list[str]) -> None:
    names = [(await open_vote(gov, vote_pb2.VOTE_MATTER_OTHER)).name for _ in range(5)]  # one clock instant
    gov.clock.advance(seconds=1)
    names.append((await open_vote(gov, vote_pb2.VOTE_MATTER_OTHER)).name)
    paged = await every_page(gov, JINSHENG, vote_pb2.VOTE_STATE_UNSPECIFIED, page_size=2)
    assert sorted(v.name for v in paged) == sorted(names) and len(paged) == 6
    assert paged[0].name == names[-1]  # the newest first
    assert len(await every_page(gov, JINSHENG, OPEN, page_size=4)) == 6
    assert len((await list_votes(gov, JINSHENG, page_size=5000)).votes) == 6  # coerced, not refused


async def test_bad_input_is_invalid_argument_naming_the_field(gov: Governance, households: list[str]) -> None:
    await open_vote(gov, vote_pb2.VOTE_MATTER_OTHER)
    await open_vote(gov, vote_pb2.VOTE_MATTER_OTHER)
    page = await list_votes(gov, JINSHENG, page_size=1)
    cases = [
        (vote_pb2.ListVotesRequest(path=""), "path"),
        (vote_pb2.ListVotesRequest(path="chengdu/崇州"), "path"),
        (vote_pb2.ListVotesRequest(path=JINSHENG, state=7), "state"),  # type: ignore[arg-type]
        (vote_pb2.ListVotesRequest(path=JINSHENG, page_size=-1), "page_size"),
        (vote_pb2.ListVotesRequest(path=JINSHENG, page_token="not-a-token"), "page_token"),
        # A token is bound to its list: another filter or place does not take it.
        (vote_pb2.ListVotesRequest(path=JINSHENG, state=OPEN, page_token=page.next_page_token), "page_token"),
        (vote_pb2.ListVotesRequest(path=YANGMA, page_token=page.next_page_token), "page_token"),
    ]
    officer = gov.caller("street_officer", DISTRICT)
    for request, field in cases:
        await expect_error(officer(gov.votes.ListVotes, request), grpc.StatusCode.INVALID_ARGUMENT, field=field)


async def test_out_of_scope_callers_and_unknown_places_learn_nothing(gov: Governance, households: list[str]) -> None:
    await open_vote(gov, vote_pb2.VOTE_MATTER_OTHER)
    for role, scope in (("owners_committee", JIANGNANTING), ("street_officer", "chengdu/jinjiang"),
                        ("resident", f"{JIANGNANTING}/b1/h001")):
        await expect_error(list_votes(gov, JINSHENG, role=role, scope=scope), grpc.StatusCode.PERMISSION_DENIED)
    # An owner lists the votes of their own compound (they vote in them), not of the wider place.
    assert (await list_votes(gov, JINSHENG, role="resident", scope=households[0])).votes
    await expect_error(list_votes(gov, YANGMA, role="resident", scope=households[0]), grpc.StatusCode.PERMISSION_DENIED)
    await expect_error(list_votes(gov, f"{YANGMA}/no-such-community"), grpc.StatusCode.NOT_FOUND,
                       reason="ORG_UNIT_NOT_FOUND")
    # Outside the scope, an unknown place is refused like a known one: no existence oracle.
    await expect_error(list_votes(gov, "chengdu/jinjiang/nowhere", role="owners_committee", scope=JINSHENG),
                       grpc.StatusCode.PERMISSION_DENIED)


async def test_votes_created_after_a_page_was_read_do_not_shift_the_next_page(
        gov: Governance, households: list[str]) -> None:
    older = [(await open_vote(gov, vote_pb2.VOTE_MATTER_OTHER)).name for _ in range(3)]
    gov.clock.advance(minutes=1)
    first = await list_votes(gov, JINSHENG, page_size=2)
    gov.clock.advance(minutes=1)
    await open_vote(gov, vote_pb2.VOTE_MATTER_OTHER)  # newer than every listed one
    rest = await list_votes(gov, JINSHENG, page_size=2, page_token=first.next_page_token)
    assert sorted([v.name for v in first.votes] + [v.name for v in rest.votes]) == sorted(older)
