"""The maintenance fund is real money (issue 14, item 1): the period close moves the surplus
share into `cash:maintenance_fund`; it is spent only under a passed USE_MAINTENANCE_FUND vote
that carries the amount and the purpose, by transfers citing the vote and staying within its
amount; the disclosures show every movement of the fund."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest

from linli.governance.v1 import account_pb2, disclosure_pb2, vote_pb2

from .conftest import Governance
from .helpers import (
    JINSHENG,
    add_households,
    balances,
    build_chongzhou,
    expect_error,
    expense,
    income,
    rid,
    upload_voucher,
    with_budget,
)
from .test_votes import FOR, ballot, close_vote, open_vote

USE_FUND = vote_pb2.VOTE_MATTER_USE_MAINTENANCE_FUND
PURPOSE = "2栋电动车充电棚维修 repair the e-bike charging shed of building 2"


@pytest.fixture
async def fund(gov: Governance) -> list[str]:
    """Jinsheng with three households and August closed: 30 % of a 600,000 fen surplus (180,000
    fen) is in the fund."""
    await build_chongzhou(gov)
    homes = await add_households(gov, JINSHENG, [10_000, 10_000, 10_000])
    await with_budget(gov, JINSHENG)
    trustee = gov.caller("trustee", JINSHENG)
    gov.clock.set(datetime(2026, 8, 10, tzinfo=UTC))
    await income(gov, trustee, JINSHENG, 1_000_000)
    await expense(gov, trustee, JINSHENG, 400_000, "repairs")
    gov.clock.set(datetime(2026, 9, 1, 1, tzinfo=UTC))
    await close_month(gov, "2026-08")
    return homes


async def close_month(gov: Governance, period: str) -> disclosure_pb2.Disclosure:
    reply = await gov.caller("trustee", JINSHENG)(
        gov.disclosures.ClosePeriod,
        disclosure_pb2.ClosePeriodRequest(compound_path=JINSHENG, period=period, request_id=rid()),
    )
    return reply.disclosure


async def passed_vote(gov: Governance, homes: list[str], matter: int, amount: int = 0, purpose: str = "") -> str:
    vote = await open_vote(gov, matter, amount_fen=amount, purpose=purpose)
    for home in homes:
        await ballot(gov, vote.name, home, FOR)
    gov.clock.advance(days=7)
    closed = await close_vote(gov, vote.name)
    assert closed.outcome == vote_pb2.VOTE_OUTCOME_PASSED
    return str(closed.name)


async def spend(
    gov: Governance, decision: str, amount: int, memo: str = "", who: str = "trustee"
) -> account_pb2.Transfer:
    reply = await gov.caller(who, JINSHENG)(
        gov.account.SpendMaintenanceFund,
        account_pb2.SpendMaintenanceFundRequest(
            compound_path=JINSHENG,
            owners_decision=decision,
            amount_fen=amount,
            memo=memo,
            voucher=await upload_voucher(gov, JINSHENG),
            counterparty="崇州某电气维修部",
            request_id=rid(),
        ),
    )
    return reply.transfer


async def test_the_close_moves_the_surplus_share_into_the_fund_account(gov: Governance, fund: list[str]) -> None:
    assert (await balances(gov, JINSHENG))["cash:maintenance_fund"] == 180_000
    august = (
        await gov.admin(
            gov.disclosures.GetDisclosure,
            disclosure_pb2.GetDisclosureRequest(name=f"compounds/{JINSHENG.replace('/', '~')}/disclosures/2026-08"),
        )
    ).disclosure
    assert (august.maintenance_fund_opening_fen, august.fund_in_fen, august.fund_out_fen) == (0, 180_000, 0)
    [allocation] = august.fund_movements
    assert (allocation.kind, allocation.amount_fen) == (disclosure_pb2.FUND_MOVEMENT_KIND_ALLOCATION, 180_000)
    allocated = await gov.admin(gov.account.GetTransfer, account_pb2.GetTransferRequest(name=allocation.transfer))
    assert (allocated.transfer.debit_account, allocated.transfer.credit_account) == (
        "cash:maintenance_fund",
        "cash:operating",
    )
    # Reversing the allocation would take money out of the fund without a vote.
    await expect_error(
        gov.caller("trustee", JINSHENG)(
            gov.account.ReverseTransfer,
            account_pb2.ReverseTransferRequest(name=allocation.transfer, reason="oops", request_id=rid()),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="CLOSE_POSTING_NOT_REVERSIBLE",
    )


async def test_a_fund_vote_carries_its_amount_and_purpose(gov: Governance, fund: list[str]) -> None:
    for change, field in [
        ({"amount_fen": 0, "purpose": PURPOSE}, "amount_fen"),
        ({"amount_fen": 100_000, "purpose": ""}, "purpose"),
        ({"amount_fen": -5, "purpose": PURPOSE}, "amount_fen"),
    ]:
        await expect_error(open_vote(gov, USE_FUND, **change), grpc.StatusCode.INVALID_ARGUMENT, field=field)
    await expect_error(
        open_vote(gov, vote_pb2.VOTE_MATTER_OTHER, amount_fen=100_000),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="amount_fen",
    )
    vote = await open_vote(gov, USE_FUND, amount_fen=150_000, purpose=PURPOSE)
    assert (vote.amount_fen, vote.purpose) == (150_000, PURPOSE)


async def test_the_fund_is_spent_only_under_a_passed_fund_vote_within_its_amount(
    gov: Governance, fund: list[str]
) -> None:
    await expect_error(spend(gov, "", 10_000), grpc.StatusCode.INVALID_ARGUMENT, field="owners_decision")
    pending = await open_vote(gov, USE_FUND, amount_fen=150_000, purpose=PURPOSE)
    await expect_error(
        spend(gov, pending.name, 10_000), grpc.StatusCode.FAILED_PRECONDITION, reason="DECISION_NOT_PASSED"
    )
    other = await passed_vote(gov, fund, vote_pb2.VOTE_MATTER_SPENDING_APPROVAL)
    await expect_error(spend(gov, other, 10_000), grpc.StatusCode.FAILED_PRECONDITION, reason="DECISION_WRONG_MATTER")
    await expect_error(
        spend(gov, pending.name, 10_000, who="resident"), grpc.StatusCode.PERMISSION_DENIED, reason="ROLE_NOT_ALLOWED"
    )

    decision = await passed_vote(gov, fund, USE_FUND, 150_000, PURPOSE)
    deposit = await spend(gov, decision, 100_000)
    assert (deposit.kind, deposit.state, deposit.owners_decision, deposit.memo) == (
        account_pb2.TRANSFER_KIND_FUND_USE,
        account_pb2.TRANSFER_STATE_POSTED,
        decision,
        PURPOSE,
    )
    assert (deposit.debit_account, deposit.credit_account) == ("fund_use:maintenance", "cash:maintenance_fund")
    refused = await expect_error(
        spend(gov, decision, 60_000), grpc.StatusCode.FAILED_PRECONDITION, reason="DECISION_AMOUNT_EXCEEDED"
    )
    assert "at most 50000 fen more" in (refused.details() or "")
    await spend(gov, decision, 50_000, memo="尾款 final payment")
    assert (await balances(gov, JINSHENG))["cash:maintenance_fund"] == 30_000

    # A larger decision still cannot spend more than the fund holds.
    bigger = await passed_vote(gov, fund, USE_FUND, 500_000, "电梯钢丝绳更换 lift ropes")
    await expect_error(spend(gov, bigger, 40_000), grpc.StatusCode.FAILED_PRECONDITION, reason="INSUFFICIENT_FUNDS")
    # A fund vote does not let the operating account go below zero either.
    await expect_error(
        expense(gov, gov.caller("trustee", JINSHENG), JINSHENG, 10_000_000, "repairs", owners_decision=bigger),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="DECISION_WRONG_MATTER",
    )
    # A reversed use gives its amount back to the fund and to the decision.
    await gov.caller("trustee", JINSHENG)(
        gov.account.ReverseTransfer,
        account_pb2.ReverseTransferRequest(name=deposit.name, reason="退款 refunded", request_id=rid()),
    )
    assert (await balances(gov, JINSHENG))["cash:maintenance_fund"] == 130_000
    await spend(gov, decision, 100_000)
    assert (await balances(gov, JINSHENG))["cash:maintenance_fund"] == 30_000


async def test_the_next_disclosure_shows_the_funds_movements_under_their_votes(
    gov: Governance, fund: list[str]
) -> None:
    decision = await passed_vote(gov, fund, USE_FUND, 150_000, PURPOSE)
    first = await spend(gov, decision, 100_000)
    second = await spend(gov, decision, 50_000, memo="尾款 final payment")
    gov.clock.set(datetime(2026, 9, 20, tzinfo=UTC))
    await income(gov, gov.caller("trustee", JINSHENG), JINSHENG, 200_000)
    gov.clock.set(datetime(2026, 10, 1, 1, tzinfo=UTC))
    september = await close_month(gov, "2026-09")
    # Fund uses are not operating expenses: the surplus (and its share) is the income alone.
    assert (september.income_fen, september.expense_fen, september.to_maintenance_fund_fen) == (200_000, 0, 60_000)
    assert (september.maintenance_fund_opening_fen, september.fund_in_fen, september.fund_out_fen) == (
        180_000,
        60_000,
        150_000,
    )
    assert september.maintenance_fund_balance_fen == 180_000 + 60_000 - 150_000
    moves = [(m.transfer, m.kind, m.amount_fen, m.owners_decision, m.memo) for m in september.fund_movements]
    assert moves[:2] == [
        (first.name, disclosure_pb2.FUND_MOVEMENT_KIND_USE, -100_000, decision, PURPOSE),
        (second.name, disclosure_pb2.FUND_MOVEMENT_KIND_USE, -50_000, decision, "尾款 final payment"),
    ]
    assert moves[2][1:3] == (disclosure_pb2.FUND_MOVEMENT_KIND_ALLOCATION, 60_000)
    assert (await balances(gov, JINSHENG))["cash:maintenance_fund"] == september.maintenance_fund_balance_fen
    verdict = await gov.admin(
        gov.disclosures.VerifyDisclosureChain, disclosure_pb2.VerifyDisclosureChainRequest(compound_path=JINSHENG)
    )
    assert verdict.valid and verdict.checked == 2
