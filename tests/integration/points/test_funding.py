"""Funded points (issue 14, item 5) through gRPC on a running service, SQLite and PostgreSQL:
issuance draws on funding sources' budgets and is refused beyond them; the report shows per
source what was issued, redeemed (oldest points first, refunds given back in the order taken),
expired, returned and is still outstanding; returns go only to the source that paid; budget
changes are idempotent by request id; bad input and callers out of scope are refused."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from linli.points.v1 import activities_pb2 as act
from linli.points.v1 import adjustments_pb2 as adj
from linli.points.v1 import funding_pb2 as fu
from linli.points.v1 import funding_pb2_grpc
from linli.points.v1 import ledger_pb2 as led
from linli.points.v1 import volunteers_pb2 as vol
from linli_runtime.clock import ManualClock
from linli_runtime.testing.errors import error_info

from .conftest import FENGSHU, SHENGJIAN, Metadata, Stubs, expect_error


async def sources(stub: funding_pb2_grpc.FundingServiceStub, md: Metadata) -> None:
    for source_id, name, kind in (("charity", "社区慈善微基金", fu.FUNDING_KIND_CHARITY_MICRO_FUND),
                                  ("enterprise", "社区社会企业", fu.FUNDING_KIND_SOCIAL_ENTERPRISE)):
        await stub.CreateFundingSource(fu.CreateFundingSourceRequest(funding_source=fu.FundingSource(
            community_path=FENGSHU, source_id=source_id, display_name=name, kind=kind)), metadata=md)


async def budget(stub: funding_pb2_grpc.FundingServiceStub, md: Metadata, source_id: str, points: int,
                 request_id: str) -> fu.AddFundingBudgetResponse:
    return await stub.AddFundingBudget(fu.AddFundingBudgetRequest(
        community_path=FENGSHU, source_id=source_id, request_id=request_id, points=points, note="2026 年拨付"),
        metadata=md)


async def activity_credit(s: Stubs, md: Metadata, activity_id: str, category: str, volunteer_id: str) -> list[
        act.SignUp]:
    await s.activities.CreateActivity(act.CreateActivityRequest(activity=act.Activity(
        community_path=FENGSHU, activity_id=activity_id, title=activity_id, category=category)), metadata=md)
    signed = await s.activities.SignUp(act.SignUpRequest(
        community_path=FENGSHU, activity_id=activity_id, volunteer_id=volunteer_id), metadata=md)
    await s.activities.CheckIn(act.CheckInRequest(community_path=FENGSHU, activity_id=activity_id,
                                                  volunteer_id=volunteer_id,
                                                  check_in_code=signed.sign_up.check_in_code), metadata=md)
    confirmed = await s.activities.ConfirmCompletion(act.ConfirmCompletionRequest(
        community_path=FENGSHU, activity_id=activity_id, volunteer_ids=[volunteer_id]), metadata=md)
    return list(confirmed.sign_ups)


async def category(s: Stubs, md: Metadata, slug: str, points: int, source: str) -> None:
    await s.activities.UpdateTaskCategory(act.UpdateTaskCategoryRequest(task_category=act.TaskCategory(
        community_path=FENGSHU, slug=slug, display_name=slug, default_points=points, funding_source=source),
        allow_missing=True), metadata=md)


def lines(report: fu.GetFundingReportResponse) -> dict[str, tuple[int, ...]]:
    return {line.source_id: (line.budget, line.budget_remaining, line.issued, line.redeemed, line.expired,
                             line.returned, line.outstanding) for line in report.lines}


async def test_issuance_draws_on_budgets_and_the_report_follows_every_point(
    stubs: Stubs, as_worker: Metadata, as_service: Metadata,
    token_for: Callable[..., Metadata], clock: ManualClock
) -> None:
    s, md, f = stubs, as_worker, stubs.funding
    await s.volunteers.CreateVolunteer(vol.CreateVolunteerRequest(volunteer=vol.Volunteer(
        community_path=FENGSHU, volunteer_id="v-wan", display_name="万")), metadata=md)
    await sources(f, md)
    listed = await f.ListFundingSources(fu.ListFundingSourcesRequest(community_path=FENGSHU), metadata=md)
    assert [(x.source_id, x.is_default) for x in listed.funding_sources] == [("charity", True), ("enterprise", False)]
    added = await budget(f, md, "charity", 30, "b-1")
    assert await budget(f, md, "charity", 30, "b-1") == added, "a retried budget change lands once"
    await expect_error(budget(f, md, "charity", 31, "b-1"), grpc.StatusCode.ALREADY_EXISTS, "TRANSFER_ID_REUSED")
    await budget(f, md, "enterprise", 50, "b-2")
    await category(s, md, "governance", 30, "")  # the default source: charity
    await category(s, md, "events", 20, "enterprise")

    # 30 from the charity's budget, then 20 from the enterprise's.
    assert [c.points_credited for c in await activity_credit(s, md, "a-1", "governance", "v-wan")] == [30]
    assert [c.points_credited for c in await activity_credit(s, md, "a-2", "events", "v-wan")] == [20]
    # The charity's budget is spent: a further credit is refused, with its reason, and nothing moves.
    await s.activities.CreateActivity(act.CreateActivityRequest(activity=act.Activity(
        community_path=FENGSHU, activity_id="a-3", title="a-3", category="governance")), metadata=md)
    code = (await s.activities.SignUp(act.SignUpRequest(community_path=FENGSHU, activity_id="a-3",
                                                        volunteer_id="v-wan"), metadata=md)).sign_up.check_in_code
    await s.activities.CheckIn(act.CheckInRequest(community_path=FENGSHU, activity_id="a-3", volunteer_id="v-wan",
                                                  check_in_code=code), metadata=md)
    confirm = act.ConfirmCompletionRequest(community_path=FENGSHU, activity_id="a-3", volunteer_ids=["v-wan"])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await s.activities.ConfirmCompletion(confirm, metadata=md)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(refused.value)[0] == "FUNDING_BUDGET_EXHAUSTED"
    assert "funding source 'charity' has 0 points of budget left, 30 needed" in (refused.value.details() or "")
    got = await s.activities.GetActivity(act.GetActivityRequest(community_path=FENGSHU, activity_id="a-3"),
                                         metadata=md)
    assert got.sign_ups[0].state == act.SIGN_UP_STATE_CHECKED_IN, "the confirmation waits for budget"

    # A redemption of 40 takes the oldest points first: the charity's 30, then 10 of the enterprise's.
    await s.ledger.PlaceHold(led.PlaceHoldRequest(
        community_path=FENGSHU, hold_id="r-1", debit_account="volunteers/v-wan",
        credit_account="system/redemption-clearing", amount=40, timeout_seconds=60), metadata=as_service)
    await s.ledger.PostHold(led.PostHoldRequest(community_path=FENGSHU, hold_id="r-1"), metadata=as_service)
    report = await f.GetFundingReport(fu.GetFundingReportRequest(community_path=FENGSHU), metadata=md)
    #                  budget, left, issued, redeemed, expired, returned, outstanding
    assert lines(report) == {"charity": (30, 0, 30, 30, 0, 0, 0), "enterprise": (50, 30, 20, 10, 0, 0, 10)}
    # A partial refund gives back what the redemption took, in the order it took it.
    await s.ledger.ReverseTransfer(led.ReverseTransferRequest(
        community_path=FENGSHU, transfer_id="refund-1", reversed_transfer_id="r-1/post", amount=25,
        reason="refund"), metadata=as_service)
    report = await f.GetFundingReport(fu.GetFundingReportRequest(community_path=FENGSHU), metadata=md)
    assert lines(report) == {"charity": (30, 0, 30, 5, 0, 0, 25), "enterprise": (50, 30, 20, 10, 0, 0, 10)}

    # Taking points back to a source takes only that source's points.
    await s.adjustments.ProposeAdjustment(adj.ProposeAdjustmentRequest(
        community_path=FENGSHU, adjustment_id="adj-1", volunteer_id="v-wan", points=-12, reason="double count",
        funding_source="enterprise"), metadata=md)
    second = token_for("community_worker", subject="worker-zhang")
    await expect_error(s.adjustments.ApproveAdjustment(adj.ApproveAdjustmentRequest(
        community_path=FENGSHU, adjustment_id="adj-1"), metadata=second),
        grpc.StatusCode.FAILED_PRECONDITION, "SOURCE_POINTS_SHORT")
    await s.adjustments.ProposeAdjustment(adj.ProposeAdjustmentRequest(
        community_path=FENGSHU, adjustment_id="adj-2", volunteer_id="v-wan", points=-8, reason="double count",
        funding_source="enterprise"), metadata=md)
    await s.adjustments.ApproveAdjustment(adj.ApproveAdjustmentRequest(community_path=FENGSHU, adjustment_id="adj-2"),
                                          metadata=second)
    # Two days on, expiry takes every point earned before: the enterprise's 2 left (older), then
    # the charity's 25 given back by the refund.
    clock.advance(days=2)
    await s.ledger.ExpirePoints(led.ExpirePointsRequest(community_path=FENGSHU, earned_before="2026-11-09"),
                                metadata=md)
    report = await f.GetFundingReport(fu.GetFundingReportRequest(community_path=FENGSHU), metadata=md)
    assert lines(report) == {"charity": (30, 0, 30, 5, 25, 0, 0), "enterprise": (50, 38, 20, 10, 2, 8, 0)}
    t = report.total
    assert (t.budget, t.issued, t.redeemed, t.expired, t.returned, t.outstanding) == (80, 50, 15, 27, 8, 0)
    assert [line.display_name for line in report.lines] == ["社区慈善微基金", "社区社会企业"]

    # Withdrawing budget it has not issued, never more.
    await expect_error(budget(f, md, "enterprise", -39, "w-1"), grpc.StatusCode.FAILED_PRECONDITION,
                       "FUNDING_BUDGET_EXHAUSTED")
    withdrawn = await budget(f, md, "enterprise", -38, "w-2")
    assert (withdrawn.figures.budget, withdrawn.figures.budget_remaining) == (12, 0)


async def test_a_community_without_sources_issues_unfunded_points(
    stubs: Stubs, as_worker: Metadata
) -> None:
    s, md, f = stubs, as_worker, stubs.funding
    await s.volunteers.CreateVolunteer(vol.CreateVolunteerRequest(volunteer=vol.Volunteer(
        community_path=FENGSHU, volunteer_id="v-li", display_name="李")), metadata=md)
    await category(s, md, "governance", 10, "")
    assert [c.points_credited for c in await activity_credit(s, md, "a-1", "governance", "v-li")] == [10]
    report = await f.GetFundingReport(fu.GetFundingReportRequest(community_path=FENGSHU), metadata=md)
    assert [(line.source_id, line.display_name, line.issued, line.outstanding) for line in report.lines] == [
        ("", "未指定资金来源（无预算）", 10, 10)]
    history = await s.ledger.ListTransfers(led.ListTransfersRequest(community_path=FENGSHU,
                                                                    account="volunteers/v-li"), metadata=md)
    assert history.entries[0].transfer.debit_account == "system/issuance"


async def test_funding_methods_refuse_bad_input_and_callers_out_of_scope(
    stubs: Stubs, as_worker: Metadata, token_for: Callable[..., Metadata]
) -> None:
    s, md, f = stubs, as_worker, stubs.funding
    await sources(f, md)
    malformed = [
        (f.CreateFundingSource(fu.CreateFundingSourceRequest(funding_source=fu.FundingSource(
            community_path=FENGSHU, source_id="bad id", display_name="x", kind=fu.FUNDING_KIND_OTHER)), metadata=md),
         "funding_source.source_id"),
        (f.CreateFundingSource(fu.CreateFundingSourceRequest(funding_source=fu.FundingSource(
            community_path=FENGSHU, source_id="x", display_name="x")), metadata=md), "funding_source.kind"),
        (f.CreateFundingSource(fu.CreateFundingSourceRequest(funding_source=fu.FundingSource(
            community_path=FENGSHU, source_id="x", display_name="x", kind=99)), metadata=md), "funding_source.kind"),
        (f.CreateFundingSource(fu.CreateFundingSourceRequest(funding_source=fu.FundingSource(
            community_path=FENGSHU, source_id="x", display_name="", kind=fu.FUNDING_KIND_OTHER)), metadata=md),
         "funding_source.display_name"),
        (f.AddFundingBudget(fu.AddFundingBudgetRequest(community_path=FENGSHU, source_id="charity", request_id="r",
                                                       points=0), metadata=md), "points"),
        (f.AddFundingBudget(fu.AddFundingBudgetRequest(community_path=FENGSHU, source_id="charity", request_id="r",
                                                       points=2_000_000_000), metadata=md), "points"),
        (f.AddFundingBudget(fu.AddFundingBudgetRequest(community_path=FENGSHU, source_id="charity", points=5),
                            metadata=md), "request_id"),
        (f.AddFundingBudget(fu.AddFundingBudgetRequest(community_path=FENGSHU, source_id="charity", request_id="r",
                                                       points=5, note="x" * 201), metadata=md), "note"),
        (f.SetDefaultFundingSource(fu.SetDefaultFundingSourceRequest(community_path=FENGSHU, source_id=""),
                                   metadata=md), "source_id"),
        (s.activities.UpdateTaskCategory(act.UpdateTaskCategoryRequest(task_category=act.TaskCategory(
            community_path=FENGSHU, slug="c", display_name="c", funding_source="a b"), allow_missing=True),
            metadata=md), "task_category.funding_source"),
        (s.adjustments.ProposeAdjustment(adj.ProposeAdjustmentRequest(
            community_path=FENGSHU, adjustment_id="a", volunteer_id="v", points=1, reason="x", funding_source="/"),
            metadata=md), "funding_source"),
    ]
    for call, field in malformed:
        await expect_error(call, grpc.StatusCode.INVALID_ARGUMENT, field=field)
    unknown = [
        f.AddFundingBudget(fu.AddFundingBudgetRequest(community_path=FENGSHU, source_id="nope", request_id="r",
                                                      points=5), metadata=md),
        f.SetDefaultFundingSource(fu.SetDefaultFundingSourceRequest(community_path=FENGSHU, source_id="nope"),
                                  metadata=md),
        s.activities.UpdateTaskCategory(act.UpdateTaskCategoryRequest(task_category=act.TaskCategory(
            community_path=FENGSHU, slug="c", display_name="c", funding_source="nope"), allow_missing=True),
            metadata=md),
        s.adjustments.ProposeAdjustment(adj.ProposeAdjustmentRequest(
            community_path=FENGSHU, adjustment_id="a", volunteer_id="v", points=1, reason="x", funding_source="nope"),
            metadata=md),
    ]
    for call in unknown:
        await expect_error(call, grpc.StatusCode.NOT_FOUND, "FUNDING_SOURCE_NOT_FOUND")
    await expect_error(f.CreateFundingSource(fu.CreateFundingSourceRequest(funding_source=fu.FundingSource(
        community_path=FENGSHU, source_id="charity", display_name="另一个", kind=fu.FUNDING_KIND_OTHER)), metadata=md),
        grpc.StatusCode.ALREADY_EXISTS, "ID_REUSED")

    # The party committee reads the report; it does not change budgets; a volunteer does neither.
    committee = token_for("party_committee")
    await f.GetFundingReport(fu.GetFundingReportRequest(community_path=FENGSHU), metadata=committee)
    for caller in (committee, token_for("volunteer", subject="v-wan")):
        await expect_error(budget(f, caller, "charity", 5, "b-9"), grpc.StatusCode.PERMISSION_DENIED)
    await expect_error(f.GetFundingReport(fu.GetFundingReportRequest(community_path=FENGSHU),
                                          metadata=token_for("volunteer", subject="v-wan")),
                       grpc.StatusCode.PERMISSION_DENIED)
    chosen = await f.SetDefaultFundingSource(fu.SetDefaultFundingSourceRequest(
        community_path=FENGSHU, source_id="enterprise"), metadata=md)
    assert chosen.funding_source.is_default
    listed = await f.ListFundingSources(fu.ListFundingSourcesRequest(community_path=FENGSHU), metadata=md)
    assert [(x.source_id, x.is_default) for x in listed.funding_sources] == [("charity", False), ("enterprise", True)]
    await expect_error(f.ListFundingSources(fu.ListFundingSourcesRequest(community_path=SHENGJIAN), metadata=md),
                       grpc.StatusCode.PERMISSION_DENIED, "OUT_OF_SCOPE")
