"""Votes and bodies (issue 14 item 4): votes open and close on their schedule by the service's
clock; the owners' register counts an owner of several units once and the developer's unsold
units as one owner; committee terms keep their history; the first committee is formed step by
step; objections are answered and closed with a record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from linli.governance.v1 import bodies_pb2, disclosure_pb2, org_pb2, vote_pb2

from .conftest import Governance
from .helpers import JIANGNANTING, JINSHENG, add_households, build_chongzhou, expect_error, rid, unit
from .test_votes import FOR, PAPER, ballot, close_vote, recount

START = datetime(2026, 11, 2, 1, tzinfo=UTC)
CHAIR, MEMBER = bodies_pb2.COMMITTEE_ROLE_CHAIR, bodies_pb2.COMMITTEE_ROLE_MEMBER
OWNED, DEVELOPER_HELD = vote_pb2.UNIT_HOLDING_OWNED, vote_pb2.UNIT_HOLDING_DEVELOPER_HELD


def stamp(when: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


@pytest.fixture
async def homes(gov: Governance) -> list[str]:
    await build_chongzhou(gov)
    gov.clock.set(START)
    return await add_households(gov, JINSHENG, [10_000, 10_000, 10_000, 10_000])


async def create(
    gov: Governance, *, opens: datetime | None, closes: datetime, compound: str = JINSHENG
) -> vote_pb2.Vote:
    request = vote_pb2.CreateVoteRequest(
        compound_path=compound,
        title="业主大会表决 Owners' vote",
        matter=vote_pb2.VOTE_MATTER_OTHER,
        close_time=stamp(closes),
        request_id=rid(),
    )
    if opens is not None:
        request.open_time.CopyFrom(stamp(opens))
    return (await gov.caller("owners_committee", compound)(gov.votes.CreateVote, request)).vote


async def get_vote(gov: Governance, name: str) -> vote_pb2.Vote:
    return (await gov.admin(gov.votes.GetVote, vote_pb2.GetVoteRequest(name=name))).vote


# -- the schedule --------------------------------------------------------------------------------


async def test_a_vote_opens_and_closes_on_schedule_by_the_services_clock(gov: Governance, homes: list[str]) -> None:
    vote = await create(gov, opens=START + timedelta(days=1), closes=START + timedelta(days=8))
    assert (vote.opened, vote.tally.electorate_households) == (False, 0)
    await expect_error(
        ballot(gov, vote.name, homes[0], FOR), grpc.StatusCode.FAILED_PRECONDITION, reason="VOTE_NOT_OPEN"
    )
    # A household added before the vote opens is in its electorate: it is fixed at opening.
    late = await unit(gov, f"{JINSHENG}/b1", "h099", org_pb2.ORG_UNIT_KIND_HOUSEHOLD, "99号", exclusive_area_dm2=10_000)
    assert await gov.app.vote_schedule.run_once() == (0, 0)  # not yet
    gov.clock.set(START + timedelta(days=1))
    assert await gov.app.vote_schedule.run_once() == (1, 0)
    opened = await get_vote(gov, vote.name)
    assert (opened.opened, opened.tally.electorate_households) == (True, 5)
    for home in [*homes[:3], late.path]:
        await ballot(gov, vote.name, home, FOR)
    await ballot(gov, vote.name, homes[3], FOR, PAPER)
    gov.clock.set(START + timedelta(days=8))
    # The paper ballot waits for its recount: the vote stays open past its close time…
    assert await gov.app.vote_schedule.run_once() == (0, 0)
    assert not (await get_vote(gov, vote.name)).closed
    await recount(gov, vote.name, homes[3], FOR)
    # … and the next pass closes it.
    assert await gov.app.vote_schedule.run_once() == (0, 1)
    closed = await get_vote(gov, vote.name)
    assert (closed.closed, closed.outcome, closed.tally.participating_households) == (
        True,
        vote_pb2.VOTE_OUTCOME_PASSED,
        5,
    )
    await expect_error(close_vote(gov, vote.name), grpc.StatusCode.FAILED_PRECONDITION, reason="VOTE_CLOSED")
    await expect_error(
        create(gov, opens=START + timedelta(days=20), closes=START + timedelta(days=10)),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="close_time",
    )


# -- the owners' register ------------------------------------------------------------------------


async def register(gov: Governance, household: str, holding: int, owner_id: str = "", name: str = "") -> None:
    await gov.caller("owners_committee", JINSHENG)(
        gov.votes.UpdateUnitOwner,
        vote_pb2.UpdateUnitOwnerRequest(
            unit_owner=vote_pb2.UnitOwner(
                household_path=household, owner_id=owner_id, owner_name=name, holding=holding
            ),
            request_id=rid(),
        ),
    )


async def test_an_owner_of_several_units_votes_once_and_the_developers_units_are_one_owner(
    gov: Governance, homes: list[str]
) -> None:
    extra = [
        (
            await unit(
                gov, f"{JINSHENG}/b1", f"h0{i}", org_pb2.ORG_UNIT_KIND_HOUSEHOLD, f"{i}号", exclusive_area_dm2=8_000
            )
        ).path
        for i in (60, 61, 62)
    ]
    await register(gov, homes[0], OWNED, "zhang-001", "张先生")
    await register(gov, homes[1], OWNED, "zhang-001", "张先生")
    for unsold in extra:
        await register(gov, unsold, DEVELOPER_HELD)
    await expect_error(
        register(gov, homes[2], OWNED, ""), grpc.StatusCode.INVALID_ARGUMENT, field="unit_owner.owner_id"
    )
    await expect_error(
        register(gov, homes[2], DEVELOPER_HELD, "x"), grpc.StatusCode.INVALID_ARGUMENT, field="unit_owner.owner_id"
    )
    listed = await gov.admin(gov.votes.ListOwners, vote_pb2.ListOwnersRequest(compound_path=JINSHENG, page_size=2))
    assert (listed.total_owners, listed.total_area_dm2) == (4, 64_000)
    everyone = list(listed.owners)
    more = await gov.admin(
        gov.votes.ListOwners, vote_pb2.ListOwnersRequest(compound_path=JINSHENG, page_token=listed.next_page_token)
    )
    everyone += more.owners
    by_id = {o.owner_id: o for o in everyone}
    assert (by_id["zhang-001"].area_dm2, len(by_id["zhang-001"].households)) == (20_000, 2)
    assert (by_id["developer"].holding, by_id["developer"].area_dm2, len(by_id["developer"].households)) == (
        DEVELOPER_HELD,
        24_000,
        3,
    )

    vote = await create(gov, opens=None, closes=START + timedelta(days=7))
    assert (vote.tally.electorate_households, vote.tally.electorate_area_dm2) == (4, 64_000)
    live = await ballot(gov, vote.name, homes[1], FOR)
    assert (live.tally.participating_households, live.tally.participating_area_dm2) == (1, 20_000)
    # From the owner's other unit: the same owner's ballot again (changed, not a second one).
    again = await ballot(gov, vote.name, homes[0], FOR)
    assert (again.tally.participating_households, again.tally.participating_area_dm2) == (1, 20_000)
    await ballot(gov, vote.name, extra[2], FOR, PAPER)  # the developer's representative, on paper
    await expect_error(
        ballot(gov, vote.name, extra[0], FOR, PAPER), grpc.StatusCode.ALREADY_EXISTS, reason="BALLOT_ALREADY_CAST"
    )
    await recount(gov, vote.name, extra[2], FOR)
    counted = (await get_vote(gov, vote.name)).tally
    # 2 owners of 4 by headcount (not 5 of 7 units), 44,000 of 64,000 dm² by area.
    assert (counted.participating_households, counted.participating_area_dm2) == (2, 44_000)
    assert counted.quorum_by_area and not counted.quorum_by_households


# -- committee terms -----------------------------------------------------------------------------


def members(*spec: tuple[str, int]) -> list[bodies_pb2.CommitteeMember]:
    return [bodies_pb2.CommitteeMember(display_name=n, role=r) for n, r in spec]


async def update(gov: Governance, formed: str, *spec: tuple[str, int]) -> bodies_pb2.OwnersCommittee:
    committee = bodies_pb2.OwnersCommittee(
        compound_path=JINSHENG, formation_date=formed, term_end_date="2031-02-28", members=members(*spec)
    )
    reply = await gov.caller("owners_committee", JINSHENG)(
        gov.bodies.UpdateOwnersCommittee, bodies_pb2.UpdateOwnersCommitteeRequest(committee=committee, request_id=rid())
    )
    return reply.committee


async def test_committee_terms_and_memberships_keep_their_history(gov: Governance, homes: list[str]) -> None:
    first = await update(gov, "2026-03-01", ("张主任", CHAIR), ("李委员", MEMBER))
    assert (first.term_number, [m.start_date for m in first.members]) == (1, ["2026-03-01", "2026-03-01"])
    gov.clock.set(datetime(2026, 6, 15, 2, tzinfo=UTC))
    changed = await update(gov, "2026-03-01", ("张主任", CHAIR), ("王委员", MEMBER))  # 李 leaves, 王 joins
    assert [(m.display_name, m.start_date) for m in changed.members] == [
        ("张主任", "2026-03-01"),
        ("王委员", "2026-06-15"),
    ]
    await expect_error(
        update(gov, "2025-01-01", ("赵主任", CHAIR)), grpc.StatusCode.FAILED_PRECONDITION, reason="TERM_ORDER"
    )
    filed = await gov.caller("street_officer", "chengdu/chongzhou/yangma")(
        gov.bodies.FileCommitteeTerm,
        bodies_pb2.FileCommitteeTermRequest(
            compound_path=JINSHENG, date="2026-03-20", filing_reference="羊马备〔2026〕12号", request_id=rid()
        ),
    )
    assert (filed.committee.filed_date, filed.committee.filing_reference) == ("2026-03-20", "羊马备〔2026〕12号")
    second = await update(gov, "2026-09-01", ("王主任", CHAIR), ("刘委员", MEMBER))
    assert (second.term_number, second.filed_date, second.end_date) == (2, "", "")
    terms = await gov.admin(gov.bodies.ListCommitteeTerms, bodies_pb2.ListCommitteeTermsRequest(compound_path=JINSHENG))
    assert [(t.term_number, t.formation_date, t.end_date) for t in terms.terms] == [
        (2, "2026-09-01", ""),
        (1, "2026-03-01", "2026-09-01"),
    ]
    assert [(m.display_name, m.start_date, m.end_date) for m in terms.terms[1].members] == [
        ("张主任", "2026-03-01", "2026-09-01"),
        ("李委员", "2026-03-01", "2026-06-15"),
        ("王委员", "2026-06-15", "2026-09-01"),
    ]
    current = await gov.admin(
        gov.bodies.GetOwnersCommittee, bodies_pb2.GetOwnersCommitteeRequest(compound_path=JINSHENG)
    )
    assert [m.display_name for m in current.committee.members] == ["王主任", "刘委员"]


# -- forming the first committee -----------------------------------------------------------------

GROUP = [
    bodies_pb2.PreparatoryMember(display_name="街道办 周", party=bodies_pb2.PREPARATORY_PARTY_STREET_OFFICE),
    bodies_pb2.PreparatoryMember(display_name="社区党委 陈", party=bodies_pb2.PREPARATORY_PARTY_COMMUNITY),
]


async def test_the_first_committee_is_formed_step_by_step(gov: Governance) -> None:
    await build_chongzhou(gov)
    gov.clock.set(START)
    voters = await add_households(gov, JIANGNANTING, [9_000] * 5)
    officer = gov.caller("street_officer", "chengdu/chongzhou/huaiyuan")
    owners = [
        bodies_pb2.PreparatoryMember(
            display_name=f"业主 {i}", party=bodies_pb2.PREPARATORY_PARTY_OWNER, household_path=h
        )
        for i, h in enumerate(voters[:2])
    ]
    candidates = [
        bodies_pb2.CommitteeMember(display_name=f"候选人{i}", role=CHAIR if i == 0 else MEMBER, household_path=h)
        for i, h in enumerate(voters)
    ]

    async def step(method: str, **fields: object) -> bodies_pb2.CommitteeFormation:
        request_cls = getattr(bodies_pb2, f"{method}Request")
        request = request_cls(compound_path=JIANGNANTING, request_id=rid(), **fields)
        return (await officer(getattr(gov.bodies, method), request)).formation

    await expect_error(
        step("NominateCommitteeCandidates", candidates=candidates),
        grpc.StatusCode.NOT_FOUND,
        reason="FORMATION_NOT_FOUND",
    )
    for group, field in [(GROUP[1:] + owners, "preparatory_group"), (GROUP + owners[:1], "preparatory_group")]:
        await expect_error(
            step("StartCommitteeFormation", date="2026-11-01", preparatory_group=group),
            grpc.StatusCode.INVALID_ARGUMENT,
            field=field,
        )
    started = await step("StartCommitteeFormation", date="2026-11-01", preparatory_group=GROUP + owners)
    assert started.stage == bodies_pb2.FORMATION_STAGE_PREPARATORY_GROUP
    await expect_error(
        step("CallCommitteeElection", close_time=stamp(START + timedelta(days=7))),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="FORMATION_STEP_ORDER",
    )
    await expect_error(
        step("NominateCommitteeCandidates", candidates=candidates[:4]),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="candidates",
    )
    nominated = await step("NominateCommitteeCandidates", candidates=candidates)
    assert nominated.stage == bodies_pb2.FORMATION_STAGE_CANDIDATES and len(nominated.candidates) == 5
    called = await step("CallCommitteeElection", close_time=stamp(START + timedelta(days=7)))
    assert called.stage == bodies_pb2.FORMATION_STAGE_ELECTION
    election = await get_vote(gov, called.election_vote)
    assert (election.matter, election.subject) == (
        vote_pb2.VOTE_MATTER_ELECT_COMMITTEE,
        f"compounds/{JIANGNANTING.replace('/', '~')}/committeeFormation",
    )
    for home in voters[:4]:
        await gov.caller("resident", home)(
            gov.votes.CastBallot,
            vote_pb2.CastBallotRequest(
                vote=election.name, household_path=home, choice=FOR, channel=1, request_id=rid()
            ),
        )
    gov.clock.set(START + timedelta(days=7))
    assert await gov.app.vote_schedule.run_once() == (0, 1)
    elected = (
        await officer(
            gov.bodies.GetCommitteeFormation, bodies_pb2.GetCommitteeFormationRequest(compound_path=JIANGNANTING)
        )
    ).formation
    assert (elected.stage, elected.elected_date, elected.term_number) == (
        bodies_pb2.FORMATION_STAGE_ELECTED,
        "2026-11-09",
        1,
    )
    committee = (
        await officer(gov.bodies.GetOwnersCommittee, bodies_pb2.GetOwnersCommitteeRequest(compound_path=JIANGNANTING))
    ).committee
    assert (committee.elected_by_vote, committee.formation_date, committee.term_end_date) == (
        election.name,
        "2026-11-09",
        "2031-11-08",
    )
    assert [m.display_name for m in committee.members] == [c.display_name for c in candidates]
    await officer(
        gov.bodies.FileCommitteeTerm,
        bodies_pb2.FileCommitteeTermRequest(
            compound_path=JIANGNANTING, date="2026-11-20", filing_reference="怀远备〔2026〕3号", request_id=rid()
        ),
    )
    done = (
        await officer(
            gov.bodies.GetCommitteeFormation, bodies_pb2.GetCommitteeFormationRequest(compound_path=JIANGNANTING)
        )
    ).formation
    assert (done.stage, done.filed_date, done.filing_reference) == (
        bodies_pb2.FORMATION_STAGE_FILED,
        "2026-11-20",
        "怀远备〔2026〕3号",
    )
    await expect_error(
        step("StartCommitteeFormation", date="2026-12-01", preparatory_group=GROUP + owners),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="COMMITTEE_EXISTS",
    )


async def test_a_failed_election_returns_to_the_candidates(gov: Governance) -> None:
    await build_chongzhou(gov)
    gov.clock.set(START)
    voters = await add_households(gov, JIANGNANTING, [9_000] * 5)
    officer = gov.caller("community_worker", JIANGNANTING)
    owners = [
        bodies_pb2.PreparatoryMember(
            display_name="业主", party=bodies_pb2.PREPARATORY_PARTY_OWNER, household_path=voters[0]
        ),
        bodies_pb2.PreparatoryMember(
            display_name="业主二", party=bodies_pb2.PREPARATORY_PARTY_OWNER, household_path=voters[1]
        ),
    ]
    await officer(
        gov.bodies.StartCommitteeFormation,
        bodies_pb2.StartCommitteeFormationRequest(
            compound_path=JIANGNANTING, date="2026-11-01", preparatory_group=GROUP + owners, request_id=rid()
        ),
    )
    await officer(
        gov.bodies.NominateCommitteeCandidates,
        bodies_pb2.NominateCommitteeCandidatesRequest(
            compound_path=JIANGNANTING,
            candidates=[
                bodies_pb2.CommitteeMember(
                    display_name=f"候选人{i}", role=CHAIR if i == 0 else MEMBER, household_path=h
                )
                for i, h in enumerate(voters)
            ],
            request_id=rid(),
        ),
    )
    await officer(
        gov.bodies.CallCommitteeElection,
        bodies_pb2.CallCommitteeElectionRequest(
            compound_path=JIANGNANTING, close_time=stamp(START + timedelta(days=7)), request_id=rid()
        ),
    )
    gov.clock.set(START + timedelta(days=7))  # nobody voted: no quorum
    assert await gov.app.vote_schedule.run_once() == (0, 1)
    again = (
        await officer(
            gov.bodies.GetCommitteeFormation, bodies_pb2.GetCommitteeFormationRequest(compound_path=JIANGNANTING)
        )
    ).formation
    assert again.stage == bodies_pb2.FORMATION_STAGE_CANDIDATES and again.term_number == 0


# -- objections ----------------------------------------------------------------------------------


async def test_objections_are_answered_and_closed_with_a_record(gov: Governance, homes: list[str]) -> None:
    trustee = gov.caller("trustee", JINSHENG)
    gov.clock.set(datetime(2026, 9, 1, 1, tzinfo=UTC))
    august = (
        await trustee(
            gov.disclosures.ClosePeriod,
            disclosure_pb2.ClosePeriodRequest(compound_path=JINSHENG, period="2026-08", request_id=rid()),
        )
    ).disclosure
    filer = gov.caller("resident", homes[0])
    # One objection per household per disclosure: the withdrawal below is another household's.
    other_filer = gov.caller("resident", homes[2])

    async def file(text: str, household: int = 0) -> disclosure_pb2.Objection:
        reply = await (filer if household == 0 else other_filer)(
            gov.disclosures.FileObjection,
            disclosure_pb2.FileObjectionRequest(
                disclosure=august.name, kind=1, text=text, household_path=homes[household], request_id=rid()
            ),
        )
        return reply.objection

    first = await file("本月为什么没有收入？")
    assert (first.state, first.overdue) == (disclosure_pb2.OBJECTION_STATE_OPEN, False)
    committee = gov.caller("owners_committee", JINSHENG)
    await expect_error(
        committee(
            gov.disclosures.CloseObjection,
            disclosure_pb2.CloseObjectionRequest(name=first.name, resolution=2, note="x", request_id=rid()),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="ANSWER_FIRST",
    )
    gov.clock.set(datetime(2026, 9, 20, tzinfo=UTC))  # past the 15-day deadline
    overdue = await gov.admin(
        gov.disclosures.ListObjections, disclosure_pb2.ListObjectionsRequest(disclosure=august.name)
    )
    assert [o.overdue for o in overdue.objections] == [True]
    answered = (
        await trustee(
            gov.disclosures.AnswerObjection,
            disclosure_pb2.AnswerObjectionRequest(
                name=first.name, answer="八月物业费于九月初统一入账，见九月公示。", request_id=rid()
            ),
        )
    ).objection
    assert (answered.state, answered.answered_late, answered.overdue) == (
        disclosure_pb2.OBJECTION_STATE_ANSWERED,
        True,
        False,
    )
    await expect_error(
        trustee(
            gov.disclosures.AnswerObjection,
            disclosure_pb2.AnswerObjectionRequest(name=first.name, answer="again", request_id=rid()),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="ALREADY_ANSWERED",
    )
    closed = (
        await committee(
            gov.disclosures.CloseObjection,
            disclosure_pb2.CloseObjectionRequest(
                name=first.name,
                resolution=disclosure_pb2.OBJECTION_RESOLUTION_DISMISSED,
                note="收入在九月入账，本期无误",
                request_id=rid(),
            ),
        )
    ).objection
    assert (closed.state, closed.resolution, closed.closing_note, closed.closed_by) == (
        disclosure_pb2.OBJECTION_STATE_CLOSED,
        disclosure_pb2.OBJECTION_RESOLUTION_DISMISSED,
        "收入在九月入账，本期无误",
        "tester",
    )
    second = await file("我想撤回", household=2)
    neighbour = gov.caller("resident", homes[1])
    await expect_error(
        neighbour(
            gov.disclosures.CloseObjection,
            disclosure_pb2.CloseObjectionRequest(
                name=second.name,
                resolution=disclosure_pb2.OBJECTION_RESOLUTION_WITHDRAWN,
                household_path=homes[1],
                request_id=rid(),
            ),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="NOT_THE_FILER",
    )
    withdrawn = (
        await other_filer(
            gov.disclosures.CloseObjection,
            disclosure_pb2.CloseObjectionRequest(
                name=second.name,
                resolution=disclosure_pb2.OBJECTION_RESOLUTION_WITHDRAWN,
                household_path=homes[2],
                request_id=rid(),
            ),
        )
    ).objection
    assert (withdrawn.state, withdrawn.resolution) == (
        disclosure_pb2.OBJECTION_STATE_CLOSED,
        disclosure_pb2.OBJECTION_RESOLUTION_WITHDRAWN,
    )
    await expect_error(
        gov.admin(gov.disclosures.AnswerObjection, disclosure_pb2.AnswerObjectionRequest(name=second.name, answer="x")),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="OBJECTION_CLOSED",
    )
