"""Volunteers, activities (sign-up → check-in → confirmation → points), pairings and visits,
rankings and year-end awards through gRPC on a running service (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import grpc
from linli_identity.testing import TestIssuer
from linli_points.app import PointsApp, create_app
from linli_points.settings import PointsSettings

from linli.events.v1 import points_pb2 as events_pb
from linli.points.v1 import activities_pb2 as act
from linli.points.v1 import adjustments_pb2 as adj
from linli.points.v1 import awards_pb2 as aw
from linli.points.v1 import funding_pb2 as fu
from linli.points.v1 import ledger_pb2 as led
from linli.points.v1 import pairings_pb2 as par
from linli.points.v1 import volunteers_pb2 as vol
from linli_runtime.clock import ManualClock
from linli_runtime.processes import NatsServer

from .conftest import FENGSHU, SHENGJIAN, Metadata, Stubs, expect_error, published, ts


async def people(s: Stubs, md: Metadata) -> None:
    """Two families, three volunteers, one team, one category."""
    for fid in ("f-1", "f-2"):
        await s.volunteers.CreateFamily(vol.CreateFamilyRequest(family=vol.Family(
            community_path=FENGSHU, family_id=fid, display_name=f"family {fid}")), metadata=md)
    for vid, fid, name in (("v-wan", "f-1", "万阿姨"), ("v-li", "f-1", "李叔"), ("v-zhao", "f-2", "赵姐")):
        await s.volunteers.CreateVolunteer(vol.CreateVolunteerRequest(volunteer=vol.Volunteer(
            community_path=FENGSHU, volunteer_id=vid, display_name=name, family_id=fid)), metadata=md)
    await s.volunteers.CreateTeam(vol.CreateTeamRequest(team=vol.Team(
        community_path=FENGSHU, team_id="red-maple-vanguard", display_name="红枫党员先锋队")), metadata=md)
    await s.activities.UpdateTaskCategory(act.UpdateTaskCategoryRequest(task_category=act.TaskCategory(
        community_path=FENGSHU, slug="governance", display_name="参与社区治理", default_points=10, daily_cap=15),
        allow_missing=True), metadata=md)


async def test_volunteers_families_teams_are_created_once_and_listed(stubs: Stubs, as_worker: Metadata) -> None:
    s, md = stubs, as_worker
    await people(s, md)
    await people(s, md)  # the same creates again: nothing new, no error
    await expect_error(
        s.volunteers.CreateVolunteer(vol.CreateVolunteerRequest(volunteer=vol.Volunteer(
            community_path=FENGSHU, volunteer_id="v-wan", display_name="someone else")), metadata=md),
        grpc.StatusCode.ALREADY_EXISTS, "ID_REUSED")
    await expect_error(
        s.volunteers.CreateVolunteer(vol.CreateVolunteerRequest(volunteer=vol.Volunteer(
            community_path=FENGSHU, volunteer_id="v-x", display_name="x", family_id="f-404")), metadata=md),
        grpc.StatusCode.NOT_FOUND, "FAMILY_NOT_FOUND")
    page = await s.volunteers.ListVolunteers(vol.ListVolunteersRequest(community_path=FENGSHU, page_size=2),
                                             metadata=md)
    rest = await s.volunteers.ListVolunteers(vol.ListVolunteersRequest(
        community_path=FENGSHU, page_size=2, page_token=page.next_page_token), metadata=md)
    assert [v.volunteer_id for v in [*page.volunteers, *rest.volunteers]] == ["v-li", "v-wan", "v-zhao"]
    assert not rest.next_page_token
    in_f1 = await s.volunteers.ListVolunteers(vol.ListVolunteersRequest(community_path=FENGSHU, family_id="f-1"),
                                              metadata=md)
    assert len(in_f1.volunteers) == 2

    join = vol.JoinTeamRequest(community_path=FENGSHU, team_id="red-maple-vanguard", volunteer_id="v-wan",
                               join_date="2026-03-01")
    await s.volunteers.JoinTeam(join, metadata=md)
    await s.volunteers.JoinTeam(join, metadata=md)
    teams = await s.volunteers.ListTeams(vol.ListTeamsRequest(community_path=FENGSHU), metadata=md)
    assert [(t.team_id, t.member_count) for t in teams.teams] == [("red-maple-vanguard", 1)]
    await expect_error(s.volunteers.LeaveTeam(vol.LeaveTeamRequest(
        community_path=FENGSHU, team_id="red-maple-vanguard", volunteer_id="v-wan", leave_date="2026-02-01"),
        metadata=md), grpc.StatusCode.INVALID_ARGUMENT, field="leave_date")
    left = await s.volunteers.LeaveTeam(vol.LeaveTeamRequest(
        community_path=FENGSHU, team_id="red-maple-vanguard", volunteer_id="v-wan", leave_date="2026-06-30"),
        metadata=md)
    assert (left.membership.join_date, left.membership.leave_date) == ("2026-03-01", "2026-06-30")


async def test_only_confirmed_work_earns_points_once_within_caps(
    app: PointsApp, stubs: Stubs, as_worker: Metadata, token_for: Callable[..., Metadata],
    as_volunteer: Callable[..., Awaitable[Metadata]]
) -> None:
    s, md = stubs, as_worker
    await people(s, md)
    for activity_id in ("a-1", "a-2"):
        await s.activities.CreateActivity(act.CreateActivityRequest(activity=act.Activity(
            community_path=FENGSHU, activity_id=activity_id, title="业主议事会", category="governance")), metadata=md)
    wan = await as_volunteer("v-wan")
    signed = await s.activities.SignUp(act.SignUpRequest(community_path=FENGSHU, activity_id="a-1",
                                                         volunteer_id="v-wan"), metadata=wan)
    again = await s.activities.SignUp(act.SignUpRequest(community_path=FENGSHU, activity_id="a-1",
                                                        volunteer_id="v-wan"), metadata=wan)
    assert signed.sign_up == again.sign_up and not signed.sign_up.check_in_code  # codes are retired
    await expect_error(s.activities.SignUp(act.SignUpRequest(community_path=FENGSHU, activity_id="a-1",
                                                             volunteer_id="v-li"), metadata=wan),
                       grpc.StatusCode.PERMISSION_DENIED, "NOT_SELF")
    await s.activities.SignUp(act.SignUpRequest(community_path=FENGSHU, activity_id="a-1", volunteer_id="v-li"),
                              metadata=md)
    confirm = act.ConfirmCompletionRequest(community_path=FENGSHU, activity_id="a-1", volunteer_ids=["v-wan"])
    await expect_error(s.activities.ConfirmCompletion(confirm, metadata=md), grpc.StatusCode.FAILED_PRECONDITION,
                       "NOT_CHECKED_IN")  # signed up is not enough
    # A volunteer checks in with the organiser's QR code (test_check_in_qr.py), not by asking.
    await expect_error(s.activities.CheckIn(act.CheckInRequest(
        community_path=FENGSHU, activity_id="a-1", volunteer_id="v-wan"), metadata=wan),
        grpc.StatusCode.PERMISSION_DENIED, "USE_ORGANISER_QR_CODE")
    await s.activities.CheckIn(act.CheckInRequest(community_path=FENGSHU, activity_id="a-1", volunteer_id="v-wan"),
                               metadata=md)
    # v-li signed up but did not check in: confirming both credits nobody
    await expect_error(s.activities.ConfirmCompletion(act.ConfirmCompletionRequest(
        community_path=FENGSHU, activity_id="a-1", volunteer_ids=["v-wan", "v-li"]), metadata=md),
        grpc.StatusCode.FAILED_PRECONDITION, "NOT_CHECKED_IN")
    done = await s.activities.ConfirmCompletion(confirm, metadata=md)
    await s.activities.ConfirmCompletion(confirm, metadata=md)  # confirming again credits nothing more
    assert [(x.state, x.points_credited) for x in done.sign_ups] == [(act.SIGN_UP_STATE_CONFIRMED, 10)]

    # a second activity the same day: the daily cap of 15 leaves 5
    code = (await s.activities.SignUp(act.SignUpRequest(community_path=FENGSHU, activity_id="a-2",
                                                        volunteer_id="v-wan"), metadata=md)).sign_up.check_in_code
    await s.activities.CheckIn(act.CheckInRequest(community_path=FENGSHU, activity_id="a-2", volunteer_id="v-wan",
                                                  check_in_code=code), metadata=md)
    capped = await s.activities.ConfirmCompletion(act.ConfirmCompletionRequest(
        community_path=FENGSHU, activity_id="a-2", volunteer_ids=["v-wan"]), metadata=md)
    assert capped.sign_ups[0].points_credited == 5
    balance = await s.ledger.GetBalance(led.GetBalanceRequest(community_path=FENGSHU, account="volunteers/v-wan"),
                                        metadata=md)
    assert (balance.balance, balance.earned) == (15, 15)

    credited = await published(app, "points.points.credited", events_pb.PointsCredited)
    assert [(c.volunteer_id, c.points, c.reason, c.source) for c in credited] == [
        ("v-wan", 10, "governance", "activities/a-1"), ("v-wan", 5, "governance", "activities/a-2")]


async def test_pairing_compliance_and_lapse_events_once_per_month(
    app: PointsApp, stubs: Stubs, as_worker: Metadata, clock: ManualClock
) -> None:
    s, md = stubs, as_worker
    await people(s, md)
    for eid in ("e-1", "e-2"):
        await s.pairings.CreateElder(par.CreateElderRequest(elder=par.Elder(
            community_path=FENGSHU, elder_id=eid, display_name=f"elder {eid}")), metadata=md)
    # Paired from November: the service's own care schedule makes its first pass as it starts
    # (on the clock's 7 November, closing October), and under load that pass may read the
    # pairings after they exist — paired before October, they would lapse for October too.
    for pid, fid, eid in (("p-1", "f-1", "e-1"), ("p-2", "f-2", "e-2")):
        await s.pairings.CreatePairing(par.CreatePairingRequest(pairing=par.Pairing(
            community_path=FENGSHU, pairing_id=pid, family_id=fid, elder_id=eid, start_date="2026-11-01")),
            metadata=md)
    clock.set(datetime(2026, 11, 20, 4, tzinfo=UTC))
    for n, (vid, pid) in enumerate((("v-wan", "p-1"), ("v-li", "p-1"), ("v-zhao", "p-2"))):
        logged = await s.pairings.LogVisit(par.LogVisitRequest(community_path=FENGSHU, visit=par.Visit(
            pairing_id=pid, visit_id=f"visit-{n}", visit_time=ts(datetime(2026, 11, 3 + n, 2, tzinfo=UTC)),
            volunteer_id=vid, confirmation=par.VISIT_CONFIRMATION_ELDER,
            visit_type=events_pb.VISIT_TYPE_HOME_CLEANING)), metadata=md)
        assert logged.visit.visit_type == events_pb.VISIT_TYPE_HOME_CLEANING
        await s.pairings.ConfirmVisit(par.ConfirmVisitRequest(community_path=FENGSHU, visit_id=f"visit-{n}"),
                                      metadata=md)  # only confirmed visits count (test_visits.py)
    await expect_error(s.pairings.LogVisit(par.LogVisitRequest(community_path=FENGSHU, visit=par.Visit(
        pairing_id="p-2", visit_id="visit-x", visit_time=ts(datetime(2026, 11, 5, tzinfo=UTC)),
        volunteer_id="v-wan", confirmation=par.VISIT_CONFIRMATION_PROXY,
        visit_type=events_pb.VISIT_TYPE_COMPANIONSHIP)), metadata=md),
        grpc.StatusCode.FAILED_PRECONDITION, "NOT_IN_FAMILY")
    short = await s.pairings.ListPairingCompliance(par.ListPairingComplianceRequest(
        community_path=FENGSHU, month="2026-11", only_short=True), metadata=md)
    assert [(p.pairing.pairing_id, p.visits_done) for p in short.pairings] == [("p-2", 1)]
    await expect_error(s.pairings.CloseMonth(par.CloseMonthRequest(community_path=FENGSHU, month="2026-11"),
                                             metadata=md), grpc.StatusCode.FAILED_PRECONDITION, "MONTH_NOT_OVER")

    clock.set(datetime(2026, 12, 1, 1, tzinfo=UTC))
    closes = await asyncio.gather(*(s.pairings.CloseMonth(par.CloseMonthRequest(
        community_path=FENGSHU, month="2026-11"), metadata=md) for _ in range(3)))
    assert sum(c.newly_closed for c in closes) == 1
    assert {(c.pairings_evaluated, c.pairings_lapsed) for c in closes} == {(2, 1)}

    lapsed = await published(app, "points.pairing.lapsed", events_pb.PairingLapsed)
    assert [(e.pairing, e.family_id, e.elder_name, e.month, e.visits_done, e.visits_required) for e in lapsed] == [
        (f"{FENGSHU}/pairings/p-2", "f-2", "elder e-2", "2026-11", 1, 2)]


async def test_rankings_and_year_end_close_is_idempotent_with_one_set_of_events(
    app: PointsApp, stubs: Stubs, as_worker: Metadata, as_service: Metadata, clock: ManualClock
) -> None:
    s, md = stubs, as_worker
    await people(s, md)
    for n, (vid, points) in enumerate((("v-wan", 30), ("v-li", 20), ("v-zhao", 20), ("v-wan", 5))):
        await s.ledger.CreateTransfer(led.CreateTransferRequest(
            community_path=FENGSHU, transfer_id=f"t{n}", debit_account="system/issuance",
            credit_account=f"volunteers/{vid}", amount=points, reason="governance"), metadata=as_service)
    # spending is not earning: rankings count earned points, not the balance
    await s.ledger.CreateTransfer(led.CreateTransferRequest(
        community_path=FENGSHU, transfer_id="spend", debit_account="volunteers/v-wan",
        credit_account="system/redemption-clearing", amount=30), metadata=as_service)
    board = await s.awards.ListRankings(aw.ListRankingsRequest(community_path=FENGSHU, period="2026"), metadata=md)
    assert [(r.rank, r.volunteer_id, r.points_earned) for r in board.rankings] == [
        (1, "v-wan", 35), (2, "v-li", 20), (2, "v-zhao", 20)]
    assert board.rankings[0].display_name == "万阿姨"
    await s.volunteers.JoinTeam(vol.JoinTeamRequest(community_path=FENGSHU, team_id="red-maple-vanguard",
                                                    volunteer_id="v-zhao", join_date="2026-01-01"), metadata=md)
    team = await s.awards.ListRankings(aw.ListRankingsRequest(community_path=FENGSHU, period="2026-11",
                                                              team_id="red-maple-vanguard"), metadata=md)
    assert [(r.rank, r.volunteer_id) for r in team.rankings] == [(1, "v-zhao")]

    close = aw.CloseYearRequest(community_path=FENGSHU, year=2026, gold_count=1, silver_count=1, bronze_count=1)
    await expect_error(s.awards.CloseYear(close, metadata=md), grpc.StatusCode.FAILED_PRECONDITION, "YEAR_NOT_OVER")
    clock.set(datetime(2027, 1, 2, tzinfo=UTC))
    first, second = await asyncio.gather(s.awards.CloseYear(close, metadata=md), s.awards.CloseYear(close, metadata=md))
    assert sorted([first.newly_closed, second.newly_closed]) == [False, True]
    assert list(first.awards) == list(second.awards)
    # the tie at rank 2 takes both into silver; nobody is left at rank 3 for bronze
    assert [(a.volunteer_id, a.tier, a.rank) for a in first.awards] == [
        ("v-wan", events_pb.AWARD_TIER_GOLD, 1), ("v-li", events_pb.AWARD_TIER_SILVER, 2),
        ("v-zhao", events_pb.AWARD_TIER_SILVER, 2)]
    await expect_error(s.awards.CloseYear(aw.CloseYearRequest(community_path=FENGSHU, year=2026), metadata=md),
                       grpc.StatusCode.ALREADY_EXISTS, "YEAR_CLOSED_WITH_OTHER_RULE")
    listed = await s.awards.ListAwards(aw.ListAwardsRequest(community_path=FENGSHU, year=2026), metadata=md)
    assert list(listed.awards) == list(first.awards)
    exported = await s.awards.ExportAwards(aw.ExportAwardsRequest(community_path=FENGSHU, year=2026), metadata=md)
    assert exported.filename == "fengshu-awards-2026.csv"
    assert exported.csv_content.decode("utf-8-sig").splitlines() == [
        "rank,tier,volunteer_id,display_name,points_earned", "1,gold,v-wan,万阿姨,35", "2,silver,v-li,李叔,20",
        "2,silver,v-zhao,赵姐,20"]
    await expect_error(s.awards.ExportAwards(aw.ExportAwardsRequest(community_path=FENGSHU, year=2025), metadata=md),
                       grpc.StatusCode.FAILED_PRECONDITION, "YEAR_NOT_CLOSED")
    # a rule by shares is recorded as such: the same shares replay, counts are another rule
    by_share = aw.CloseYearRequest(community_path="chengdu/jinjiang/chenglonglu/fengshu/jinshang-chuntian",
                                   year=2025, gold_percent=34, silver_percent=0, bronze_percent=50)
    shared = await s.awards.CloseYear(by_share, metadata=md)
    assert (shared.newly_closed, list(shared.awards)) == (True, [])  # nobody earned points there in 2025
    assert not (await s.awards.CloseYear(by_share, metadata=md)).newly_closed
    await expect_error(s.awards.CloseYear(aw.CloseYearRequest(community_path=by_share.community_path, year=2025,
                                                              gold_count=34, bronze_count=50), metadata=md),
                       grpc.StatusCode.ALREADY_EXISTS, "YEAR_CLOSED_WITH_OTHER_RULE")

    granted = await published(app, "points.award.granted", events_pb.YearEndAwardGranted)
    assert len(granted) == 3
    payload = granted[0]
    assert (payload.award, payload.year, payload.tier) == (f"{FENGSHU}/awards/2026/v-wan", 2026,
                                                           events_pb.AWARD_TIER_GOLD)


async def drained(call: Any) -> list[Any]:
    """A server-streaming call read to its end (awaitable like a unary one, for expect_error)."""
    return [message async for message in call]


async def test_every_community_method_refuses_other_communities_and_malformed_input(
    stubs: Stubs, as_worker: Metadata
) -> None:
    s, md = stubs, as_worker
    elsewhere: list[Any] = [
        s.volunteers.CreateVolunteer(vol.CreateVolunteerRequest(volunteer=vol.Volunteer(
            community_path=SHENGJIAN, volunteer_id="v", display_name="x")), metadata=md),
        s.volunteers.GetVolunteer(vol.GetVolunteerRequest(community_path=SHENGJIAN, volunteer_id="v"), metadata=md),
        s.volunteers.ListVolunteers(vol.ListVolunteersRequest(community_path=SHENGJIAN), metadata=md),
        s.volunteers.GetVolunteerProfile(vol.GetVolunteerProfileRequest(community_path=SHENGJIAN, volunteer_id="v"),
                                         metadata=md),
        s.volunteers.BindVolunteerAccount(vol.BindVolunteerAccountRequest(
            community_path=SHENGJIAN, volunteer_id="v", account_id="acc-x"), metadata=md),
        s.volunteers.CreateFamily(vol.CreateFamilyRequest(family=vol.Family(
            community_path=SHENGJIAN, family_id="f", display_name="x")), metadata=md),
        s.volunteers.ListFamilies(vol.ListFamiliesRequest(community_path=SHENGJIAN), metadata=md),
        s.volunteers.CreateTeam(vol.CreateTeamRequest(team=vol.Team(
            community_path=SHENGJIAN, team_id="t", display_name="x")), metadata=md),
        s.volunteers.ListTeams(vol.ListTeamsRequest(community_path=SHENGJIAN), metadata=md),
        s.volunteers.JoinTeam(vol.JoinTeamRequest(community_path=SHENGJIAN, team_id="t", volunteer_id="v",
                                                  join_date="2026-01-01"), metadata=md),
        s.volunteers.LeaveTeam(vol.LeaveTeamRequest(community_path=SHENGJIAN, team_id="t", volunteer_id="v",
                                                    leave_date="2026-01-01"), metadata=md),
        s.volunteers.ImportRoster(vol.ImportRosterRequest(community_path=SHENGJIAN, csv_content=b"x",
                                                          mode=vol.IMPORT_MODE_PER_ROW), metadata=md),
        drained(s.volunteers.StreamImportRoster(vol.StreamImportRosterRequest(roster=vol.ImportRosterRequest(
            community_path=SHENGJIAN, csv_content=b"x", mode=vol.IMPORT_MODE_PER_ROW)), metadata=md)),
        s.activities.ListTaskCategories(act.ListTaskCategoriesRequest(community_path=SHENGJIAN), metadata=md),
        s.activities.UpdateTaskCategory(act.UpdateTaskCategoryRequest(task_category=act.TaskCategory(
            community_path=SHENGJIAN, slug="c", display_name="x")), metadata=md),
        s.activities.CreateActivity(act.CreateActivityRequest(activity=act.Activity(
            community_path=SHENGJIAN, activity_id="a", title="x", category="c")), metadata=md),
        s.activities.GetActivity(act.GetActivityRequest(community_path=SHENGJIAN, activity_id="a"), metadata=md),
        s.activities.SignUp(act.SignUpRequest(community_path=SHENGJIAN, activity_id="a", volunteer_id="v"),
                            metadata=md),
        s.activities.CheckIn(act.CheckInRequest(community_path=SHENGJIAN, activity_id="a", volunteer_id="v"),
                             metadata=md),
        s.activities.IssueCheckInToken(act.IssueCheckInTokenRequest(community_path=SHENGJIAN, activity_id="a"),
                                       metadata=md),
        s.activities.CheckInWithToken(act.CheckInWithTokenRequest(community_path=SHENGJIAN, activity_id="a",
                                                                  token="1.x"), metadata=md),
        s.activities.ConfirmCompletion(act.ConfirmCompletionRequest(community_path=SHENGJIAN, activity_id="a",
                                                                    volunteer_ids=["v"]), metadata=md),
        s.activities.ListHelpCredits(act.ListHelpCreditsRequest(community_path=SHENGJIAN), metadata=md),
        s.pairings.CreateElder(par.CreateElderRequest(elder=par.Elder(
            community_path=SHENGJIAN, elder_id="e", display_name="x")), metadata=md),
        s.pairings.CreatePairing(par.CreatePairingRequest(pairing=par.Pairing(
            community_path=SHENGJIAN, pairing_id="p", family_id="f", elder_id="e", start_date="2026-01-01")),
            metadata=md),
        s.pairings.ListPairings(par.ListPairingsRequest(community_path=SHENGJIAN), metadata=md),
        s.pairings.LogVisit(par.LogVisitRequest(community_path=SHENGJIAN, visit=par.Visit(
            pairing_id="p", visit_id="x", volunteer_id="v", visit_time=ts(datetime(2026, 1, 2, tzinfo=UTC)),
            confirmation=par.VISIT_CONFIRMATION_ELDER)), metadata=md),
        s.pairings.ListPairingCompliance(par.ListPairingComplianceRequest(community_path=SHENGJIAN, month="2026-01"),
                                         metadata=md),
        s.pairings.ListVisits(par.ListVisitsRequest(community_path=SHENGJIAN), metadata=md),
        s.pairings.ListElders(par.ListEldersRequest(community_path=SHENGJIAN), metadata=md),
        s.pairings.ConfirmVisit(par.ConfirmVisitRequest(community_path=SHENGJIAN, visit_id="x"), metadata=md),
        s.pairings.RejectVisit(par.RejectVisitRequest(community_path=SHENGJIAN, visit_id="x", reason="没来"),
                               metadata=md),
        s.pairings.CloseMonth(par.CloseMonthRequest(community_path=SHENGJIAN, month="2026-01"), metadata=md),
        s.awards.ListRankings(aw.ListRankingsRequest(community_path=SHENGJIAN, period="2026"), metadata=md),
        s.awards.CloseYear(aw.CloseYearRequest(community_path=SHENGJIAN, year=2025), metadata=md),
        s.awards.CloseYears(aw.CloseYearsRequest(community_paths=[SHENGJIAN], year=2025), metadata=md),
        s.awards.ListAwards(aw.ListAwardsRequest(community_path=SHENGJIAN, year=2025), metadata=md),
        s.awards.SummarizeCommunities(aw.SummarizeCommunitiesRequest(community_paths=[SHENGJIAN], year=2025),
                                      metadata=md),
        s.awards.ExportAwards(aw.ExportAwardsRequest(community_path=SHENGJIAN, year=2025), metadata=md),
        s.awards.GetAwardCertificate(aw.GetAwardCertificateRequest(community_path=SHENGJIAN, year=2025,
                                                                   volunteer_id="v"), metadata=md),
        s.awards.RecordRewardHandover(aw.RecordRewardHandoverRequest(
            community_path=SHENGJIAN, year=2025, volunteer_id="v", item="x", received_by="x"), metadata=md),
        s.adjustments.ProposeAdjustment(adj.ProposeAdjustmentRequest(
            community_path=SHENGJIAN, adjustment_id="a", volunteer_id="v", points=1, reason="x"), metadata=md),
        s.adjustments.ApproveAdjustment(adj.ApproveAdjustmentRequest(community_path=SHENGJIAN, adjustment_id="a"),
                                        metadata=md),
        s.adjustments.RejectAdjustment(adj.RejectAdjustmentRequest(community_path=SHENGJIAN, adjustment_id="a"),
                                       metadata=md),
        s.adjustments.ListAdjustments(adj.ListAdjustmentsRequest(community_path=SHENGJIAN), metadata=md),
        s.funding.CreateFundingSource(fu.CreateFundingSourceRequest(funding_source=fu.FundingSource(
            community_path=SHENGJIAN, source_id="f", display_name="x", kind=fu.FUNDING_KIND_OTHER)), metadata=md),
        s.funding.ListFundingSources(fu.ListFundingSourcesRequest(community_path=SHENGJIAN), metadata=md),
        s.funding.SetDefaultFundingSource(fu.SetDefaultFundingSourceRequest(community_path=SHENGJIAN,
                                                                            source_id="f"), metadata=md),
        s.funding.AddFundingBudget(fu.AddFundingBudgetRequest(community_path=SHENGJIAN, source_id="f",
                                                              request_id="r", points=1), metadata=md),
        s.funding.GetFundingReport(fu.GetFundingReportRequest(community_path=SHENGJIAN), metadata=md),
    ]
    services = (vol, act, par, aw, adj, fu)
    names = {"VolunteerService", "ActivityService", "PairingService", "AwardService", "AdjustmentService",
             "FundingService"}
    total = sum(len(m.DESCRIPTOR.services_by_name[n].methods) for m in services for n in names
                if n in m.DESCRIPTOR.services_by_name)
    assert len(elsewhere) == total  # one call per method
    for call in elsewhere:
        await expect_error(call, grpc.StatusCode.PERMISSION_DENIED, "OUT_OF_SCOPE")

    malformed: list[tuple[Any, str]] = [
        (s.volunteers.CreateVolunteer(vol.CreateVolunteerRequest(volunteer=vol.Volunteer(
            community_path=FENGSHU, volunteer_id="bad id", display_name="x")), metadata=md), "volunteer.volunteer_id"),
        (s.volunteers.CreateVolunteer(vol.CreateVolunteerRequest(volunteer=vol.Volunteer(
            community_path=FENGSHU, volunteer_id="v", display_name=" ")), metadata=md), "volunteer.display_name"),
        (s.volunteers.CreateVolunteer(vol.CreateVolunteerRequest(volunteer=vol.Volunteer(
            volunteer_id="v", display_name="x")), metadata=md), "volunteer.community_path"),
        (s.volunteers.ListVolunteers(vol.ListVolunteersRequest(community_path=FENGSHU, page_token="zz"),
                                     metadata=md), "page_token"),
        (s.volunteers.ListFamilies(vol.ListFamiliesRequest(community_path=FENGSHU, page_size=-5), metadata=md),
         "page_size"),
        (s.volunteers.JoinTeam(vol.JoinTeamRequest(community_path=FENGSHU, team_id="t", volunteer_id="v",
                                                   join_date="2026-13-01"), metadata=md), "join_date"),
        (s.activities.CreateActivity(act.CreateActivityRequest(activity=act.Activity(
            community_path=FENGSHU, activity_id="a", title="", category="c")), metadata=md), "activity.title"),
        (s.activities.CreateActivity(act.CreateActivityRequest(activity=act.Activity(
            community_path=FENGSHU, activity_id="a", title="x", category="c", points=-1)), metadata=md),
         "activity.points"),
        (s.activities.CheckInWithToken(act.CheckInWithTokenRequest(activity_id="a", token="1.x"),
                                       metadata=md), "community_path"),
        (s.activities.ConfirmCompletion(act.ConfirmCompletionRequest(community_path=FENGSHU, activity_id="a"),
                                        metadata=md), "volunteer_ids"),
        (s.activities.UpdateTaskCategory(act.UpdateTaskCategoryRequest(task_category=act.TaskCategory(
            community_path=FENGSHU, slug="c", display_name="x", daily_cap=-1)), metadata=md),
         "task_category.daily_cap"),
        (s.pairings.CreatePairing(par.CreatePairingRequest(pairing=par.Pairing(
            community_path=FENGSHU, pairing_id="p", family_id="f", elder_id="e", start_date="yesterday")),
            metadata=md), "pairing.start_date"),
        (s.pairings.LogVisit(par.LogVisitRequest(community_path=FENGSHU, visit=par.Visit(
            pairing_id="p", visit_id="x", volunteer_id="v", visit_time=ts(datetime(2026, 1, 2, tzinfo=UTC)),
            confirmation=7, visit_type=events_pb.VISIT_TYPE_OTHER)), metadata=md), "visit.confirmation"),
        (s.pairings.LogVisit(par.LogVisitRequest(community_path=FENGSHU, visit=par.Visit(
            pairing_id="p", visit_id="x", volunteer_id="v", visit_time=ts(datetime(2026, 1, 2, tzinfo=UTC)),
            confirmation=par.VISIT_CONFIRMATION_ELDER)), metadata=md), "visit.visit_type"),
        (s.pairings.LogVisit(par.LogVisitRequest(community_path=FENGSHU, visit=par.Visit(
            pairing_id="p", visit_id="x", volunteer_id="v", visit_time=ts(datetime(2026, 1, 2, tzinfo=UTC)),
            confirmation=par.VISIT_CONFIRMATION_ELDER, visit_type=42)), metadata=md), "visit.visit_type"),
        (s.pairings.LogVisit(par.LogVisitRequest(community_path=FENGSHU, visit=par.Visit(
            pairing_id="p", visit_id="x", volunteer_id="v", confirmation=par.VISIT_CONFIRMATION_ELDER)),
            metadata=md), "visit.visit_time"),
        (s.pairings.ListPairingCompliance(par.ListPairingComplianceRequest(community_path=FENGSHU, month="2026-1"),
                                          metadata=md), "month"),
        (s.awards.ListRankings(aw.ListRankingsRequest(community_path=FENGSHU, period="last year"), metadata=md),
         "period"),
        (s.awards.ListRankings(aw.ListRankingsRequest(community_path=FENGSHU, period="0001"), metadata=md), "period"),
        (s.pairings.ListPairingCompliance(par.ListPairingComplianceRequest(community_path=FENGSHU, month="0001-01"),
                                          metadata=md), "month"),
        (s.awards.CloseYear(aw.CloseYearRequest(community_path=FENGSHU, year=2025, gold_count=-1), metadata=md),
         "gold_count"),
        (s.awards.CloseYear(aw.CloseYearRequest(community_path=FENGSHU, year=2025, gold_count=1, gold_percent=10),
                            metadata=md), "gold_percent"),
        (s.awards.CloseYear(aw.CloseYearRequest(community_path=FENGSHU, year=2025, gold_percent=60,
                                                silver_percent=50), metadata=md), "bronze_percent"),
        (s.awards.CloseYear(aw.CloseYearRequest(community_path=FENGSHU, year=2025, silver_percent=101), metadata=md),
         "silver_percent"),
        (s.awards.ListAwards(aw.ListAwardsRequest(community_path=FENGSHU, year=99), metadata=md), "year"),
        (s.adjustments.ProposeAdjustment(adj.ProposeAdjustmentRequest(
            community_path=FENGSHU, adjustment_id="a", volunteer_id="v", points=0, reason="x"), metadata=md),
         "points"),
        (s.adjustments.ProposeAdjustment(adj.ProposeAdjustmentRequest(
            community_path=FENGSHU, adjustment_id="a", volunteer_id="v", points=5, reason=" "), metadata=md),
         "reason"),
    ]
    for call, field in malformed:
        await expect_error(call, grpc.StatusCode.INVALID_ARGUMENT, field=field)


async def test_demo_data_seeds_fengshu_once(database_url: str, nats_server: NatsServer, clock: ManualClock,
                                            issuer: TestIssuer) -> None:
    settings = PointsSettings(port=0, database_url=database_url, nats_url=nats_server.url,
                              demo_data=True)
    md = (("authorization", f"Bearer {issuer.issue('w', role='community_worker', scope=FENGSHU)}"),)
    for _ in range(2):  # a restart seeds nothing new
        app = issuer.trust(create_app(settings, clock))
        await app.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
                s = Stubs(channel)
                vols = await s.volunteers.ListVolunteers(vol.ListVolunteersRequest(community_path=FENGSHU,
                                                                                   page_size=1000), metadata=md)
                fams = await s.volunteers.ListFamilies(vol.ListFamiliesRequest(community_path=FENGSHU,
                                                                               page_size=1000), metadata=md)
                teams = await s.volunteers.ListTeams(vol.ListTeamsRequest(community_path=FENGSHU), metadata=md)
                pairs = await s.pairings.ListPairings(par.ListPairingsRequest(community_path=FENGSHU,
                                                                              page_size=1000), metadata=md)
                cats = await s.activities.ListTaskCategories(act.ListTaskCategoriesRequest(community_path=FENGSHU),
                                                             metadata=md)
                issued = await s.ledger.GetBalance(led.GetBalanceRequest(community_path=FENGSHU,
                                                                         account="system/issuance"), metadata=md)
                report = await s.funding.GetFundingReport(fu.GetFundingReportRequest(community_path=FENGSHU),
                                                          metadata=md)
                last_year = await s.awards.ListAwards(aw.ListAwardsRequest(community_path=FENGSHU, year=2025),
                                                      metadata=md)
                gold = last_year.awards[0]
                certificate = await s.awards.GetAwardCertificate(aw.GetAwardCertificateRequest(
                    community_path=FENGSHU, year=2025, volunteer_id=gold.volunteer_id), metadata=md, timeout=60)
        finally:
            await app.stop(grace=1)
        assert (len(vols.volunteers), len(fams.families), len(pairs.pairings), len(cats.task_categories)) == (
            72, 71, 84, 8)
        assert sorted((t.team_id, t.member_count) for t in teams.teams) == [
            ("little-maple-leaf", 72), ("red-maple-vanguard", 24)]
        assert issued.balance < 0
        assert sum(c.placeholder for c in cats.task_categories) == 4
        # every demo point is paid for by one of the article's five sources, within its budget
        assert [line.display_name for line in report.lines] == [
            "社区慈善微基金", "上级项目经费", "微基金立项", "社区合伙人资源共享", "社区社会企业"]
        assert report.total.budget == 49000 and report.total.issued == report.total.outstanding > 0
        assert report.total.budget_remaining == report.total.budget - report.total.issued
        assert all(c.funding_source for c in cats.task_categories)
        # last year is closed: its Red Maple Guardians can have their certificates
        assert (last_year.year_close.closed_by, last_year.year_close.issuer_name) == (
            "demo", "中共枫树社区委员会　枫树社区居民委员会")
        assert [a.tier for a in last_year.awards][:1] == [events_pb.AWARD_TIER_GOLD] and len(last_year.awards) >= 6
        # …and the demo volunteer (v-001, the phone +86 138 0000 0005) is one of them, for their own page.
        assert [(a.tier, a.rank) for a in last_year.awards if a.volunteer_id == "v-001"] == [
            (events_pb.AWARD_TIER_BRONZE, 5)]
        assert certificate.pdf_content.startswith(b"%PDF-")


async def test_adjustments_need_a_second_approver_and_are_transfers_not_edits(
    stubs: Stubs, token_for: Callable[..., Metadata]
) -> None:
    s = stubs
    li = token_for("community_worker", subject="worker-li")
    zhang = token_for("community_worker", subject="worker-zhang")
    propose = adj.ProposeAdjustmentRequest(community_path=FENGSHU, adjustment_id="adj-1", volunteer_id="v-wan",
                                           points=12, reason="visit logged on paper in October")
    proposed = await s.adjustments.ProposeAdjustment(propose, metadata=li)
    assert proposed == await s.adjustments.ProposeAdjustment(propose, metadata=li)
    assert proposed.adjustment.state == adj.ADJUSTMENT_STATE_PROPOSED
    approve = adj.ApproveAdjustmentRequest(community_path=FENGSHU, adjustment_id="adj-1")
    await expect_error(s.adjustments.ApproveAdjustment(approve, metadata=li), grpc.StatusCode.FAILED_PRECONDITION,
                       "SAME_APPROVER")
    approved = await s.adjustments.ApproveAdjustment(approve, metadata=zhang)
    assert approved == await s.adjustments.ApproveAdjustment(approve, metadata=zhang)
    assert (approved.adjustment.state, approved.adjustment.decided_by, approved.adjustment.transfer_id) == (
        adj.ADJUSTMENT_STATE_APPROVED, "worker-zhang", "adjustment:adj-1")
    await expect_error(s.adjustments.RejectAdjustment(adj.RejectAdjustmentRequest(
        community_path=FENGSHU, adjustment_id="adj-1"), metadata=zhang), grpc.StatusCode.FAILED_PRECONDITION,
        "ADJUSTMENT_APPROVED")

    # a debit beyond the balance is refused and stays proposed
    await s.adjustments.ProposeAdjustment(adj.ProposeAdjustmentRequest(
        community_path=FENGSHU, adjustment_id="adj-2", volunteer_id="v-wan", points=-13, reason="double count"),
        metadata=li)
    await expect_error(s.adjustments.ApproveAdjustment(adj.ApproveAdjustmentRequest(
        community_path=FENGSHU, adjustment_id="adj-2"), metadata=zhang), grpc.StatusCode.FAILED_PRECONDITION,
        "INSUFFICIENT_POINTS")
    rejected = await s.adjustments.RejectAdjustment(adj.RejectAdjustmentRequest(
        community_path=FENGSHU, adjustment_id="adj-2"), metadata=zhang)
    assert rejected.adjustment.state == adj.ADJUSTMENT_STATE_REJECTED
    listed = await s.adjustments.ListAdjustments(adj.ListAdjustmentsRequest(community_path=FENGSHU), metadata=li)
    assert [(a.adjustment_id, a.state) for a in listed.adjustments] == [
        ("adj-1", adj.ADJUSTMENT_STATE_APPROVED), ("adj-2", adj.ADJUSTMENT_STATE_REJECTED)]
    history = await s.ledger.ListTransfers(led.ListTransfersRequest(community_path=FENGSHU,
                                                                    account="volunteers/v-wan"), metadata=li)
    assert [(e.transfer.transfer_id, e.change, e.balance_after) for e in history.entries] == [
        ("adjustment:adj-1", 12, 12)]


ROSTER = """volunteer_id,display_name,family_id,family_name,team_ids,join_date
v-101,刘芳,f-101,刘家,red-maple-vanguard,2026-03-01
v-102,陈伟,f-101,刘家,,
v-103,,f-102,陈家,,
bad id,王五,,,,
v-104,周杰,f-104,周家,no-such-team,
v-101,刘芳,f-101,刘家,,
v-105,吴敏,,,red-maple-vanguard,2030-01-01
"""


async def test_roster_import_reports_every_rejected_row_and_is_all_or_nothing_when_asked(
    stubs: Stubs, as_worker: Metadata
) -> None:
    s, md = stubs, as_worker
    await s.volunteers.CreateTeam(vol.CreateTeamRequest(team=vol.Team(
        community_path=FENGSHU, team_id="red-maple-vanguard", display_name="红枫党员先锋队")), metadata=md)
    request = vol.ImportRosterRequest(community_path=FENGSHU, csv_content=("\ufeff" + ROSTER).encode(),
                                      mode=vol.IMPORT_MODE_ALL_OR_NOTHING)
    report = await s.volunteers.ImportRoster(request, metadata=md)
    expected = [(4, "display_name"), (5, "volunteer_id"), (6, "team_ids"), (7, "volunteer_id"), (8, "join_date")]
    assert (report.rows_total, report.rows_imported) == (7, 0)
    assert [(r.line, r.field) for r in report.rejections] == expected
    listed = await s.volunteers.ListVolunteers(vol.ListVolunteersRequest(community_path=FENGSHU), metadata=md)
    assert list(listed.volunteers) == []  # nothing imported

    request.mode = vol.IMPORT_MODE_PER_ROW
    report = await s.volunteers.ImportRoster(request, metadata=md)
    assert (report.rows_total, report.rows_imported) == (7, 2)
    assert [(r.line, r.field) for r in report.rejections] == expected
    again = await s.volunteers.ImportRoster(request, metadata=md)  # a second import changes nothing
    assert again.rows_imported == 2
    listed = await s.volunteers.ListVolunteers(vol.ListVolunteersRequest(community_path=FENGSHU), metadata=md)
    assert [(v.volunteer_id, v.family_id) for v in listed.volunteers] == [("v-101", "f-101"), ("v-102", "f-101")]
    teams = await s.volunteers.ListTeams(vol.ListTeamsRequest(community_path=FENGSHU), metadata=md)
    assert teams.teams[0].member_count == 1

    # a row that conflicts with what exists fails at import: all-or-nothing keeps nothing of the file
    conflicting = "volunteer_id,display_name\nv-201,新人\nv-101,另一个名字\n"
    report = await s.volunteers.ImportRoster(vol.ImportRosterRequest(
        community_path=FENGSHU, csv_content=conflicting.encode(), mode=vol.IMPORT_MODE_ALL_OR_NOTHING), metadata=md)
    assert report.rows_imported == 0 and [r.line for r in report.rejections] == [3]
    await expect_error(s.volunteers.GetVolunteer(vol.GetVolunteerRequest(community_path=FENGSHU, volunteer_id="v-201"),
                                                 metadata=md), grpc.StatusCode.NOT_FOUND)
    for content, mode, field in ((b"", vol.IMPORT_MODE_PER_ROW, "csv_content"),
                                 (b"name\nx\n", vol.IMPORT_MODE_PER_ROW, "csv_content"),
                                 (b"\xff\xfe", vol.IMPORT_MODE_PER_ROW, "csv_content"),
                                 (ROSTER.encode(), vol.IMPORT_MODE_UNSPECIFIED, "mode")):
        await expect_error(s.volunteers.ImportRoster(vol.ImportRosterRequest(
            community_path=FENGSHU, csv_content=content, mode=mode), metadata=md),
            grpc.StatusCode.INVALID_ARGUMENT, field=field)


async def test_roster_import_reads_excel_workbooks(stubs: Stubs, as_worker: Metadata) -> None:
    import io
    from datetime import date

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["volunteer_id", "display_name", "family_id", "join_date"])
    sheet.append(["v-301", "黄丽", "f-301", date(2026, 2, 1)])
    sheet.append([302, "没有编号格式", "", None])  # a number is read as its digits
    sheet.append(["v 303", "坏编号", "", None])
    buffer = io.BytesIO()
    book.save(buffer)
    report = await stubs.volunteers.ImportRoster(vol.ImportRosterRequest(
        community_path=FENGSHU, xlsx_content=buffer.getvalue(), mode=vol.IMPORT_MODE_PER_ROW), metadata=as_worker,
        timeout=120)  # as the CLI: the first file starts the worker process
    assert (report.rows_total, report.rows_imported) == (3, 2)
    assert [(r.line, r.field) for r in report.rejections] == [(4, "volunteer_id")]
    got = await stubs.volunteers.GetVolunteer(vol.GetVolunteerRequest(community_path=FENGSHU, volunteer_id="302"),
                                              metadata=as_worker)
    assert got.volunteer.display_name == "没有编号格式"
    await expect_error(stubs.volunteers.ImportRoster(vol.ImportRosterRequest(
        community_path=FENGSHU, xlsx_content=b"not a workbook", mode=vol.IMPORT_MODE_PER_ROW), metadata=as_worker),
        grpc.StatusCode.INVALID_ARGUMENT, field="xlsx_content")
