"""Visits confirmed (issue 13): a volunteer logs a visit to the paired elder, pending until the
elder's own account or a community worker confirms it — or rejects it with a reason. Only a
confirmed visit counts toward the month's visits and earns the `elderly-visits` category's
points, once, however often or concurrently it is confirmed. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import grpc
from linli_identity.testing import TestIssuer
from linli_points.app import PointsApp

from linli.events.v1 import points_pb2 as events_pb
from linli.points.v1 import activities_pb2 as act
from linli.points.v1 import ledger_pb2 as led
from linli.points.v1 import pairings_pb2 as par
from linli.points.v1 import volunteers_pb2 as vol
from linli_runtime.clock import ManualClock

from .conftest import FENGSHU, SHENGJIAN, Metadata, Stubs, account_of, bearer, expect_error, published, ts

ELDER_ACCOUNT = "acc-elder-liu"
NOV_20 = datetime(2026, 11, 20, 4, tzinfo=UTC)


async def paired(s: Stubs, md: Metadata, issuer: TestIssuer) -> dict[str, Metadata]:
    """Family f-1 (v-wan, v-li) paired with 刘奶奶, whose record is bound to her account; family
    f-2's v-zhao; 5 points a confirmed visit. Tokens by who holds them."""
    for fid in ("f-1", "f-2"):
        await s.volunteers.CreateFamily(vol.CreateFamilyRequest(family=vol.Family(
            community_path=FENGSHU, family_id=fid, display_name=f"family {fid}")), metadata=md)
    for vid, fid in (("v-wan", "f-1"), ("v-li", "f-1"), ("v-zhao", "f-2")):
        await s.volunteers.CreateVolunteer(vol.CreateVolunteerRequest(volunteer=vol.Volunteer(
            community_path=FENGSHU, volunteer_id=vid, display_name=vid, family_id=fid,
            account_id=account_of(vid))), metadata=md)
    for eid, name, account in (("e-liu", "刘奶奶", ELDER_ACCOUNT), ("e-chen", "陈爷爷", "")):
        await s.pairings.CreateElder(par.CreateElderRequest(elder=par.Elder(
            community_path=FENGSHU, elder_id=eid, display_name=name, account_id=account)), metadata=md)
    for pid, fid, eid in (("p-1", "f-1", "e-liu"), ("p-2", "f-2", "e-chen")):
        await s.pairings.CreatePairing(par.CreatePairingRequest(pairing=par.Pairing(
            community_path=FENGSHU, pairing_id=pid, family_id=fid, elder_id=eid, start_date="2026-01-01")),
            metadata=md)
    await s.activities.UpdateTaskCategory(act.UpdateTaskCategoryRequest(task_category=act.TaskCategory(
        community_path=FENGSHU, slug="elderly-visits", display_name="关爱老人", default_points=5),
        allow_missing=True), metadata=md)
    tokens = {vid: bearer(issuer.issue(account_of(vid), role="volunteer", scope=FENGSHU))
              for vid in ("v-wan", "v-li", "v-zhao")}
    # An elder signs in as a resident of her home; the binding, not the role, lets her confirm.
    tokens["liu"] = bearer(issuer.issue(ELDER_ACCOUNT, role="resident", scope=f"{FENGSHU}/jinshang-chuntian/3-201"))
    return tokens


def visit(visit_id: str, volunteer_id: str = "v-wan", pairing_id: str = "p-1", day: int = 3) -> par.LogVisitRequest:
    return par.LogVisitRequest(community_path=FENGSHU, visit=par.Visit(
        pairing_id=pairing_id, visit_id=visit_id, visit_time=ts(datetime(2026, 11, day, 2, tzinfo=UTC)),
        volunteer_id=volunteer_id, visit_type=events_pb.VISIT_TYPE_COMPANIONSHIP, note="陪聊天"))


async def balance(s: Stubs, md: Metadata, volunteer_id: str) -> int:
    reply = await s.ledger.GetBalance(led.GetBalanceRequest(community_path=FENGSHU,
                                                            account=f"volunteers/{volunteer_id}"), metadata=md)
    return int(reply.balance)


async def done_this_month(s: Stubs, md: Metadata) -> dict[str, int]:
    reply = await s.pairings.ListPairingCompliance(par.ListPairingComplianceRequest(
        community_path=FENGSHU, month="2026-11"), metadata=md)
    return {c.pairing.pairing_id: c.visits_done for c in reply.pairings}


async def test_a_visit_counts_and_earns_only_once_the_elder_confirms_it(
        app: PointsApp, stubs: Stubs, as_worker: Metadata, issuer: TestIssuer, clock: ManualClock) -> None:
    s, md = stubs, as_worker
    who = await paired(s, md, issuer)
    clock.set(NOV_20)
    logged = (await s.pairings.LogVisit(visit("visit-1"), metadata=who["v-wan"])).visit
    again = (await s.pairings.LogVisit(visit("visit-1"), metadata=who["v-wan"])).visit  # a retry
    assert logged == again and logged.state == par.VISIT_STATE_PENDING and logged.elder_id == ""
    assert await done_this_month(s, md) == {"p-1": 0, "p-2": 0}
    assert await balance(s, md, "v-wan") == 0

    # Not the visitor, not another volunteer of the family, not a stranger's account.
    confirm = par.ConfirmVisitRequest(community_path=FENGSHU, visit_id="visit-1")
    await expect_error(s.pairings.ConfirmVisit(confirm, metadata=who["v-wan"]),
                       grpc.StatusCode.PERMISSION_DENIED, "NOT_THE_ELDER")
    await expect_error(s.pairings.ConfirmVisit(confirm, metadata=who["v-li"]),
                       grpc.StatusCode.PERMISSION_DENIED, "NOT_THE_ELDER")
    await expect_error(s.pairings.ConfirmVisit(confirm, metadata=bearer(issuer.issue(
        "acc-other", role="resident", scope=f"{SHENGJIAN}/b1-101"))), grpc.StatusCode.PERMISSION_DENIED, "OUT_OF_SCOPE")

    # The elder finds herself (her own account), sees what is waiting for her and confirms it;
    # three times at once credits once.
    me = await s.pairings.ListElders(par.ListEldersRequest(community_path=FENGSHU, account_id=ELDER_ACCOUNT),
                                     metadata=who["liu"])
    assert [e.elder_id for e in me.elders] == ["e-liu"]
    await expect_error(s.pairings.ListElders(par.ListEldersRequest(community_path=FENGSHU), metadata=who["liu"]),
                       grpc.StatusCode.PERMISSION_DENIED)
    pending = await s.pairings.ListVisits(par.ListVisitsRequest(
        community_path=FENGSHU, elder_id="e-liu", state=par.VISIT_STATE_PENDING), metadata=who["liu"])
    assert [(v.visit_id, v.elder_id) for v in pending.visits] == [("visit-1", "e-liu")]
    results = await asyncio.gather(*(s.pairings.ConfirmVisit(confirm, metadata=who["liu"]) for _ in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, par.ConfirmVisitResponse) for r in results), results
    confirmed = (await s.pairings.ConfirmVisit(confirm, metadata=who["liu"])).visit
    assert (confirmed.state, confirmed.points_credited, confirmed.decided_by, confirmed.transfer_id) == (
        par.VISIT_STATE_CONFIRMED, 5, ELDER_ACCOUNT, "visit:visit-1")
    assert await balance(s, md, "v-wan") == 5
    assert await done_this_month(s, md) == {"p-1": 1, "p-2": 0}
    # The elder's account was asked to confirm (notification tells it); the volunteer is told
    # once, however many confirmations raced.
    [asked] = await published(app, "points.visit.logged", events_pb.VisitLogged)
    assert (asked.elder_account_id, asked.elder_name, asked.volunteer_name, asked.visit_day) == (
        ELDER_ACCOUNT, "刘奶奶", "v-wan", "2026-11-03")
    [told] = await published(app, "points.visit.confirmed", events_pb.VisitDecided)
    assert (told.visit_id, told.volunteer_id, told.elder_name, told.points_credited, told.visits_this_month,
            told.visits_required, told.decided_by, told.reason) == (
        "visit-1", "v-wan", "刘奶奶", 5, 1, 2, ELDER_ACCOUNT, "")
    # A confirmed visit is not rejected afterwards.
    await expect_error(s.pairings.RejectVisit(par.RejectVisitRequest(
        community_path=FENGSHU, visit_id="visit-1", reason="记错了"), metadata=md),
        grpc.StatusCode.FAILED_PRECONDITION, "VISIT_DECIDED")
    # The elder reads the visits to her only; a volunteer their own only.
    await expect_error(s.pairings.ListVisits(par.ListVisitsRequest(community_path=FENGSHU, elder_id="e-chen"),
                                             metadata=who["liu"]), grpc.StatusCode.PERMISSION_DENIED, "NOT_SELF")
    mine = await s.pairings.ListVisits(par.ListVisitsRequest(community_path=FENGSHU, volunteer_id="v-wan"),
                                       metadata=who["v-wan"])
    assert [(v.visit_id, v.state) for v in mine.visits] == [("visit-1", par.VISIT_STATE_CONFIRMED)]
    await expect_error(s.pairings.ListVisits(par.ListVisitsRequest(community_path=FENGSHU, volunteer_id="v-wan"),
                                             metadata=who["v-zhao"]), grpc.StatusCode.PERMISSION_DENIED, "NOT_SELF")


async def test_a_worker_confirms_or_rejects_with_a_reason_and_a_rejected_visit_counts_for_nothing(
        app: PointsApp, stubs: Stubs, as_worker: Metadata, issuer: TestIssuer, clock: ManualClock) -> None:
    s, md = stubs, as_worker
    who = await paired(s, md, issuer)
    clock.set(NOV_20)
    for n, day in enumerate((3, 5, 7)):
        await s.pairings.LogVisit(visit(f"z-{n}", "v-zhao", "p-2", day), metadata=who["v-zhao"])
    pending = await s.pairings.ListVisits(par.ListVisitsRequest(community_path=FENGSHU,
                                                                state=par.VISIT_STATE_PENDING), metadata=md)
    assert [v.visit_id for v in pending.visits] == ["z-2", "z-1", "z-0"]  # newest first
    await expect_error(s.pairings.RejectVisit(par.RejectVisitRequest(community_path=FENGSHU, visit_id="z-0"),
                                              metadata=md), grpc.StatusCode.INVALID_ARGUMENT, field="reason")
    rejected = (await s.pairings.RejectVisit(par.RejectVisitRequest(
        community_path=FENGSHU, visit_id="z-0", reason="陈爷爷说那天没有人来"), metadata=md)).visit
    assert (rejected.state, rejected.decision_note, rejected.points_credited) == (
        par.VISIT_STATE_REJECTED, "陈爷爷说那天没有人来", 0)
    await expect_error(s.pairings.ConfirmVisit(par.ConfirmVisitRequest(community_path=FENGSHU, visit_id="z-0"),
                                               metadata=md), grpc.StatusCode.FAILED_PRECONDITION, "VISIT_DECIDED")
    for visit_id in ("z-1", "z-2"):
        await s.pairings.ConfirmVisit(par.ConfirmVisitRequest(community_path=FENGSHU, visit_id=visit_id),
                                      metadata=md)
    assert await done_this_month(s, md) == {"p-1": 0, "p-2": 2}  # ≥ 2 confirmed: not short
    assert await balance(s, md, "v-zhao") == 10
    # v-zhao is told of each decision: the rejection with its reason, the month filling up.
    [refused] = await published(app, "points.visit.rejected", events_pb.VisitDecided)
    assert (refused.visit_id, refused.reason, refused.points_credited, refused.visit_day, refused.elder_name) == (
        "z-0", "陈爷爷说那天没有人来", 0, "2026-11-03", "陈爷爷")
    confirmed = await published(app, "points.visit.confirmed", events_pb.VisitDecided)
    assert [(e.visit_id, e.visits_this_month, e.points_credited) for e in confirmed] == [("z-1", 1, 5), ("z-2", 2, 5)]
    await expect_error(s.pairings.ConfirmVisit(par.ConfirmVisitRequest(community_path=FENGSHU, visit_id="nope"),
                                               metadata=md), grpc.StatusCode.NOT_FOUND, "VISIT_NOT_FOUND")


async def test_a_volunteer_lists_their_familys_pairings_with_the_elders_names(
        stubs: Stubs, as_worker: Metadata, issuer: TestIssuer) -> None:
    s, md = stubs, as_worker
    who = await paired(s, md, issuer)
    mine = await s.pairings.ListPairings(par.ListPairingsRequest(community_path=FENGSHU, family_id="f-1"),
                                         metadata=who["v-wan"])
    assert [(p.pairing_id, p.elder_display_name) for p in mine.pairings] == [("p-1", "刘奶奶")]
    await expect_error(s.pairings.ListPairings(par.ListPairingsRequest(community_path=FENGSHU, family_id="f-2"),
                                               metadata=who["v-wan"]), grpc.StatusCode.PERMISSION_DENIED,
                       "NOT_OWN_FAMILY")
    await expect_error(s.pairings.ListPairings(par.ListPairingsRequest(community_path=FENGSHU),
                                               metadata=who["v-wan"]), grpc.StatusCode.PERMISSION_DENIED)
