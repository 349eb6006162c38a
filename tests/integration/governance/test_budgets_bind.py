"""Budgets bind (issue 14, item 2): spending needs the year's budget approved by an owners' vote;
an expense that would take its line beyond the line's budget waits for the owners' committee;
the trust contract's service standards are recorded against their targets each period and
disclosed with the period."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest

from linli.governance.v1 import account_pb2, bodies_pb2, disclosure_pb2

from .conftest import Governance
from .helpers import (
    JINSHENG,
    approve_by_vote,
    build_chongzhou,
    expect_error,
    expense,
    income,
    rid,
    settle_account_settings,
    with_budget,
)

COMMITTEE = account_pb2.APPROVAL_PARTY_OWNERS_COMMITTEE
SUPERVISOR = account_pb2.APPROVAL_PARTY_SUPERVISOR
AT_LEAST, AT_MOST = bodies_pb2.STANDARD_DIRECTION_AT_LEAST, bodies_pb2.STANDARD_DIRECTION_AT_MOST


@pytest.fixture
async def books(gov: Governance) -> Governance:
    """Jinsheng with the 2026 budget approved (cleaning: 1,200,000 fen), an approval threshold of
    2,000,000 fen (so that only the budget decides), and money in the account."""
    await build_chongzhou(gov)
    await with_budget(gov, JINSHENG)
    await settle_account_settings(gov, JINSHENG, threshold_fen=2_000_000)
    await income(gov, gov.caller("trustee", JINSHENG), JINSHENG, 20_000_000)
    return gov


async def decide(gov: Governance, name: str, party: int, *, reject: bool = False) -> account_pb2.Transfer:
    role, subject = ("owners_committee", "committee-chair") if party == COMMITTEE else ("trust_supervisor",
                                                                                        "supervisor")
    who = gov.caller(role, JINSHENG, subject=subject)
    if reject:
        request = account_pb2.RejectTransferRequest(name=name, party=party, reason="超预算不同意", request_id=rid())
        return (await who(gov.account.RejectTransfer, request)).transfer
    reply = await who(
        gov.account.ApproveTransfer, account_pb2.ApproveTransferRequest(name=name, party=party, request_id=rid())
    )
    return reply.transfer


async def test_spending_needs_a_budget_approved_by_the_owners(gov: Governance) -> None:
    await build_chongzhou(gov)
    trustee = gov.caller("trustee", JINSHENG)
    await income(gov, trustee, JINSHENG, 1_000_000)
    await expect_error(expense(gov, trustee, JINSHENG, 10_000), grpc.StatusCode.FAILED_PRECONDITION, reason="NO_BUDGET")
    draft = await with_budget(gov, JINSHENG, approved=False)
    refused = await expect_error(
        expense(gov, trustee, JINSHENG, 10_000), grpc.StatusCode.FAILED_PRECONDITION, reason="BUDGET_NOT_APPROVED"
    )
    assert "owners' BUDGET vote" in (refused.details() or "")
    vote = await approve_by_vote(gov, JINSHENG, draft.name)
    budget = (await gov.admin(gov.account.GetBudget, account_pb2.GetBudgetRequest(name=draft.name))).budget
    assert (budget.state, budget.approved_by_vote) == (account_pb2.BUDGET_STATE_APPROVED, vote)
    spent = await expense(gov, trustee, JINSHENG, 10_000)
    assert spent.state == account_pb2.TRANSFER_STATE_POSTED and list(spent.required_approvals) == []


async def test_an_overspend_waits_for_the_owners_committee(books: Governance) -> None:
    trustee = books.caller("trustee", JINSHENG)
    within = await expense(books, trustee, JINSHENG, 1_000_000, "cleaning")
    assert (within.state, within.over_budget_fen) == (account_pb2.TRANSFER_STATE_POSTED, 0)
    over = await expense(books, trustee, JINSHENG, 300_000, "cleaning")
    assert (over.state, list(over.required_approvals), over.over_budget_fen) == (
        account_pb2.TRANSFER_STATE_PENDING,
        [COMMITTEE],
        100_000,
    )
    # The supervisor's approval is not what an overspend below the threshold waits for.
    await expect_error(
        decide(books, over.name, SUPERVISOR), grpc.StatusCode.FAILED_PRECONDITION, reason="APPROVAL_NOT_NEEDED"
    )
    # While it waits, it counts against the line: the next one would take the line 150,000 over.
    second = await expense(books, trustee, JINSHENG, 50_000, "cleaning")
    assert (second.state, second.over_budget_fen) == (account_pb2.TRANSFER_STATE_PENDING, 150_000)
    voided = await decide(books, second.name, COMMITTEE, reject=True)
    assert voided.state == account_pb2.TRANSFER_STATE_VOIDED
    posted = await decide(books, over.name, COMMITTEE)
    assert (posted.state, list(posted.approvals)) == (account_pb2.TRANSFER_STATE_POSTED, [COMMITTEE])
    budget = (
        await books.admin(
            books.account.GetBudget,
            account_pb2.GetBudgetRequest(name=f"compounds/{JINSHENG.replace('/', '~')}/budgets/2026"),
        )
    ).budget
    cleaning = next(line for line in budget.lines if line.code == "cleaning")
    assert (cleaning.amount_fen, cleaning.actual_fen) == (1_200_000, 1_300_000)
    # Other lines are untouched by the cleaning overspend.
    assert (await expense(books, trustee, JINSHENG, 300_000, "repairs")).state == account_pb2.TRANSFER_STATE_POSTED


async def test_above_the_threshold_and_over_budget_waits_for_both(books: Governance) -> None:
    trustee = books.caller("trustee", JINSHENG)
    big = await expense(books, trustee, JINSHENG, 6_000_000, "ebike_shed")  # the line holds 5,000,000
    assert (list(big.required_approvals), big.over_budget_fen) == ([COMMITTEE, SUPERVISOR], 1_000_000)
    assert (await decide(books, big.name, SUPERVISOR)).state == account_pb2.TRANSFER_STATE_PENDING
    assert (await decide(books, big.name, COMMITTEE)).state == account_pb2.TRANSFER_STATE_POSTED


def contract(*standards: bodies_pb2.ServiceStandard) -> bodies_pb2.TrustContract:
    return bodies_pb2.TrustContract(
        compound_path=JINSHENG,
        trustee_name="崇州某物业服务有限公司",
        start_date="2026-01-01",
        end_date="2028-12-31",
        remuneration=bodies_pb2.RemunerationRule(fixed_fen=100_000),
        service_standards=list(standards),
    )


STANDARDS = [
    bodies_pb2.ServiceStandard(
        code="sweeping", description="公共区域每日清扫", unit="times per week", target=7, direction=AT_LEAST
    ),
    bodies_pb2.ServiceStandard(
        code="repair_response", description="报修24小时内响应", unit="hours", target=24, direction=AT_MOST
    ),
    bodies_pb2.ServiceStandard(code="greening", description="绿化养护", unit="times per month", target=2),
]


async def level(
    gov: Governance, code: str, measured: int, period: str = "2026-08", who: str = "trustee", note: str = ""
) -> bodies_pb2.ServiceLevel:
    reply = await gov.caller(who, JINSHENG)(
        gov.bodies.RecordServiceLevel,
        bodies_pb2.RecordServiceLevelRequest(
            compound_path=JINSHENG, period=period, code=code, measured=measured, note=note, request_id=rid()
        ),
    )
    return reply.service_level


async def test_service_standards_are_measured_each_period_and_disclosed(books: Governance) -> None:
    await expect_error(level(books, "sweeping", 7), grpc.StatusCode.FAILED_PRECONDITION, reason="CONTRACT_NOT_FOUND")
    await books.admin(
        books.bodies.UpdateTrustContract,
        bodies_pb2.UpdateTrustContractRequest(contract=contract(*STANDARDS), request_id=rid()),
    )
    books.clock.set(datetime(2026, 8, 20, tzinfo=UTC))
    short = await level(books, "sweeping", 6, note="暴雨停扫一天 one day lost to a storm")
    assert (short.measured, short.target, short.met, short.direction) == (6, 7, False, AT_LEAST)
    assert short.name == f"compounds/{JINSHENG.replace('/', '~')}/periods/2026-08/serviceLevels/sweeping"
    fast = await level(books, "repair_response", 20, who="trust_supervisor")
    assert (fast.met, fast.recorded_by) == (True, "tester")
    again = await level(books, "sweeping", 7)  # a corrected count replaces the first
    assert again.met and again.note == ""
    for code, measured, period, field in [
        ("lawn", 1, "2026-08", "code"),
        ("sweeping", -1, "2026-08", "measured"),
        ("sweeping", 1, "2026-Q3", "period"),
        ("sweeping", 1, "August", "period"),
    ]:
        await expect_error(level(books, code, measured, period), grpc.StatusCode.INVALID_ARGUMENT, field=field)
    await expect_error(level(books, "sweeping", 7, who="resident"), grpc.StatusCode.PERMISSION_DENIED)
    listed = await books.admin(
        books.bodies.ListServiceLevels, bodies_pb2.ListServiceLevelsRequest(compound_path=JINSHENG, period="2026-08")
    )
    assert [(lv.code, lv.measured, lv.met) for lv in listed.service_levels] == [
        ("sweeping", 7, True),
        ("repair_response", 20, True),
    ]

    books.clock.set(datetime(2026, 9, 1, 1, tzinfo=UTC))
    august = (
        await books.caller("trustee", JINSHENG)(
            books.disclosures.ClosePeriod,
            disclosure_pb2.ClosePeriodRequest(compound_path=JINSHENG, period="2026-08", request_id=rid()),
        )
    ).disclosure
    assert [(s.code, s.target, s.direction, s.recorded, s.measured, s.met) for s in august.service_levels] == [
        ("sweeping", 7, AT_LEAST, True, 7, True),
        ("repair_response", 24, AT_MOST, True, 20, True),
        ("greening", 2, bodies_pb2.STANDARD_DIRECTION_UNSPECIFIED, False, 0, False),  # nobody recorded it
    ]
    await expect_error(level(books, "greening", 2), grpc.StatusCode.FAILED_PRECONDITION, reason="PERIOD_CLOSED")
    late = await level(books, "repair_response", 30, period="2026-09")
    assert not late.met  # 30 hours is beyond an AT_MOST target of 24
