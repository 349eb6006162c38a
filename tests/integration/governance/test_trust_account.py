"""The trust common account over gRPC: double entry, approvals above the threshold, the
no-overdraft rule, reversals, request ids, field errors and scope."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from linli.governance.v1 import account_pb2, vote_pb2

from .conftest import Governance
from .helpers import (
    HUAIYUAN,
    JIANGNANTING,
    JINSHENG,
    add_households,
    balances,
    build_chongzhou,
    expect_error,
    expense,
    income,
    rid,
    voucher,
    with_budget,
)

COMMITTEE = account_pb2.APPROVAL_PARTY_OWNERS_COMMITTEE
SUPERVISOR = account_pb2.APPROVAL_PARTY_SUPERVISOR
OPERATING = "cash:operating"


@pytest.fixture
async def books(gov: Governance) -> Governance:
    await build_chongzhou(gov)
    await with_budget(gov, JINSHENG)
    return gov


def approve(name: str, party: int, request_id: str | None = None) -> account_pb2.ApproveTransferRequest:
    return account_pb2.ApproveTransferRequest(name=name, party=party, request_id=request_id or rid())


async def test_income_and_expense_post_as_double_entry(books: Governance) -> None:
    trustee = books.caller("trustee", JINSHENG)
    fees = await income(books, trustee, JINSHENG, 1_000_000)
    parking = await income(books, trustee, JINSHENG, 230_000, account_pb2.INCOME_CATEGORY_PARKING)
    spent = await expense(books, trustee, JINSHENG, 150_000)
    assert fees.state == parking.state == spent.state == account_pb2.TRANSFER_STATE_POSTED
    assert (spent.debit_account, spent.credit_account, spent.voucher.file_ref.startswith("invoice ")) == (
        "expense:cleaning",
        OPERATING,
        True,
    )
    assert await balances(books, JINSHENG) == {
        OPERATING: 1_080_000,
        "cash:maintenance_fund": 0,
        "income:property_fees": -1_000_000,
        "income:parking": -230_000,
        "expense:cleaning": 150_000,
    }
    budget = await books.admin(
        books.account.GetBudget,
        account_pb2.GetBudgetRequest(name=f"compounds/{JINSHENG.replace('/', '~')}/budgets/2026"),
    )
    assert {line.code: line.actual_fen for line in budget.budget.lines} == {
        "cleaning": 150_000,
        "repairs": 0,
        "ebike_shed": 0,
    }


async def test_spend_above_threshold_stays_pending_with_one_approval_and_posts_once_with_both(
    books: Governance,
) -> None:
    trustee = books.caller("trustee", JINSHENG)
    committee = books.caller("owners_committee", JINSHENG, subject="committee-chair")
    supervisor = books.caller("trust_supervisor", JINSHENG, subject="supervisor")
    await income(books, trustee, JINSHENG, 2_000_000)
    shed = await expense(books, trustee, JINSHENG, 800_000, "ebike_shed")
    assert shed.state == account_pb2.TRANSFER_STATE_PENDING
    assert (await balances(books, JINSHENG))[OPERATING] == 2_000_000

    first = await committee(books.account.ApproveTransfer, approve(shed.name, COMMITTEE))
    assert first.transfer.state == account_pb2.TRANSFER_STATE_PENDING
    assert list(first.transfer.approvals) == [COMMITTEE]
    assert (await balances(books, JINSHENG))[OPERATING] == 2_000_000
    await expect_error(
        committee(books.account.ApproveTransfer, approve(shed.name, COMMITTEE)),
        grpc.StatusCode.ALREADY_EXISTS,
        reason="ALREADY_APPROVED",
    )

    second_id = rid()
    second = await supervisor(books.account.ApproveTransfer, approve(shed.name, SUPERVISOR, second_id))
    assert second.transfer.state == account_pb2.TRANSFER_STATE_POSTED
    assert list(second.transfer.approvals) == [COMMITTEE, SUPERVISOR]
    # A retry of the posting approval returns the same answer and posts nothing more.
    again = await supervisor(books.account.ApproveTransfer, approve(shed.name, SUPERVISOR, second_id))
    assert again == second
    await expect_error(
        supervisor(books.account.ApproveTransfer, approve(shed.name, SUPERVISOR)),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="NOT_PENDING",
    )
    assert (await balances(books, JINSHENG))[OPERATING] == 1_200_000
    reply = await books.admin(books.account.GetBalances, account_pb2.GetBalancesRequest(compound_path=JINSHENG))
    assert reply.pending_fen == 0


async def test_both_approvals_arriving_together_post_exactly_once(books: Governance) -> None:
    trustee = books.caller("trustee", JINSHENG)
    committee = books.caller("owners_committee", JINSHENG, subject="committee-chair")
    supervisor = books.caller("trust_supervisor", JINSHENG, subject="supervisor")
    await income(books, trustee, JINSHENG, 5_000_000)
    pending = [await expense(books, trustee, JINSHENG, 600_000 + i, "repairs") for i in range(3)]
    results = await asyncio.gather(
        *[
            call
            for t in pending
            for call in (
                committee(books.account.ApproveTransfer, approve(t.name, COMMITTEE)),
                supervisor(books.account.ApproveTransfer, approve(t.name, SUPERVISOR)),
            )
        ]
    )
    assert sum(r.transfer.state == account_pb2.TRANSFER_STATE_POSTED for r in results) == 3
    assert (await balances(books, JINSHENG))["expense:repairs"] == 1_800_003
    listed = await books.admin(
        books.account.ListTransfers,
        account_pb2.ListTransfersRequest(compound_path=JINSHENG, state=account_pb2.TRANSFER_STATE_POSTED),
    )
    assert len(listed.transfers) == 4


async def test_only_the_named_party_may_approve(books: Governance) -> None:
    trustee = books.caller("trustee", JINSHENG)
    committee = books.caller("owners_committee", JINSHENG, subject="committee-chair")
    await income(books, trustee, JINSHENG, 2_000_000)
    shed = await expense(books, trustee, JINSHENG, 900_000, "ebike_shed")
    await expect_error(
        committee(books.account.ApproveTransfer, approve(shed.name, SUPERVISOR)),
        grpc.StatusCode.PERMISSION_DENIED,
        reason="ROLE_NOT_ALLOWED",
    )
    await expect_error(
        trustee(books.account.ApproveTransfer, approve(shed.name, COMMITTEE)),
        grpc.StatusCode.PERMISSION_DENIED,
        reason="ROLE_NOT_ALLOWED",
    )
    elsewhere = books.caller("owners_committee", JIANGNANTING)
    await expect_error(
        elsewhere(books.account.ApproveTransfer, approve(shed.name, COMMITTEE)),
        grpc.StatusCode.PERMISSION_DENIED,
        reason="OUT_OF_SCOPE",
    )
    # A platform admin's grant does not stand in for a party's own.
    await expect_error(
        books.admin(books.account.ApproveTransfer, approve(shed.name, COMMITTEE)),
        grpc.StatusCode.PERMISSION_DENIED,
        reason="ROLE_NOT_ALLOWED",
    )
    await expect_error(
        committee(books.account.ApproveTransfer, approve(shed.name, 0)), grpc.StatusCode.INVALID_ARGUMENT, field="party"
    )


async def passed_spending_vote(gov: Governance, compound: str) -> str:
    households = await add_households(gov, compound, [9_000, 10_000, 11_000])
    close = Timestamp()
    close.FromDatetime(gov.clock.now() + timedelta(days=7))
    officer = gov.caller("owners_committee", compound)
    vote = (
        await officer(
            gov.votes.CreateVote,
            vote_pb2.CreateVoteRequest(
                compound_path=compound,
                title="同意先行垫付维修 Allow repairs before fees arrive",
                matter=vote_pb2.VOTE_MATTER_SPENDING_APPROVAL,
                close_time=close,
                request_id=rid(),
            ),
        )
    ).vote
    for household in households:
        await officer(
            gov.votes.CastBallot,
            vote_pb2.CastBallotRequest(
                vote=vote.name,
                household_path=household,
                choice=vote_pb2.BALLOT_CHOICE_FOR,
                channel=vote_pb2.BALLOT_CHANNEL_PAPER,
                request_id=rid(),
            ),
        )
    recounter = gov.caller("community_worker", compound, subject="second-officer")
    for household in households:
        await recounter(
            gov.votes.RecountPaperBallot,
            vote_pb2.RecountPaperBallotRequest(
                vote=vote.name, household_path=household, choice=vote_pb2.BALLOT_CHOICE_FOR, request_id=rid()
            ),
        )
    gov.clock.advance(days=8)
    closed = await officer(gov.votes.CloseVote, vote_pb2.CloseVoteRequest(name=vote.name, request_id=rid()))
    assert closed.vote.outcome == vote_pb2.VOTE_OUTCOME_PASSED
    return str(vote.name)


async def test_operating_account_goes_negative_only_with_a_passed_owners_decision(books: Governance) -> None:
    trustee = books.caller("trustee", JINSHENG)
    await income(books, trustee, JINSHENG, 100_000)
    await expect_error(
        expense(books, trustee, JINSHENG, 200_000, "repairs"),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="INSUFFICIENT_FUNDS",
    )
    listed = await books.admin(books.account.ListTransfers, account_pb2.ListTransfersRequest(compound_path=JINSHENG))
    assert len(listed.transfers) == 1, "the refused expense left nothing behind"
    assert (await balances(books, JINSHENG))[OPERATING] == 100_000

    fake = f"compounds/{JINSHENG.replace('/', '~')}/votes/doesnotexist"
    await expect_error(
        expense(books, trustee, JINSHENG, 200_000, "repairs", owners_decision=fake), grpc.StatusCode.NOT_FOUND
    )
    decision = await passed_spending_vote(books, JINSHENG)
    spent = await expense(books, trustee, JINSHENG, 200_000, "repairs", owners_decision=decision)
    assert spent.owners_decision == decision
    assert (await balances(books, JINSHENG))[OPERATING] == -100_000
    await expect_error(
        expense(books, trustee, JINSHENG, 1, "repairs", owners_decision=decision),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="DECISION_ALREADY_USED",
    )


async def test_corrections_are_reversals_and_happen_once(books: Governance) -> None:
    trustee = books.caller("trustee", JINSHENG)
    wrong = await income(books, trustee, JINSHENG, 123_400, account_pb2.INCOME_CATEGORY_ADVERTISING)
    reversal = (
        await trustee(
            books.account.ReverseTransfer,
            account_pb2.ReverseTransferRequest(name=wrong.name, reason="录入金额错误 wrong amount", request_id=rid()),
        )
    ).transfer
    assert reversal.kind == account_pb2.TRANSFER_KIND_REVERSAL and reversal.reverses == wrong.name
    assert (reversal.debit_account, reversal.credit_account) == (wrong.credit_account, wrong.debit_account)
    original = (await trustee(books.account.GetTransfer, account_pb2.GetTransferRequest(name=wrong.name))).transfer
    assert original.reversed_by == reversal.name and original.amount_fen == 123_400
    assert (await balances(books, JINSHENG))[OPERATING] == 0
    await expect_error(
        trustee(
            books.account.ReverseTransfer,
            account_pb2.ReverseTransferRequest(name=wrong.name, reason="again", request_id=rid()),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="ALREADY_REVERSED",
    )
    await expect_error(
        trustee(
            books.account.ReverseTransfer,
            account_pb2.ReverseTransferRequest(name=reversal.name, reason="again", request_id=rid()),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="REVERSAL_OF_REVERSAL",
    )
    await expect_error(
        trustee(
            books.account.ReverseTransfer,
            account_pb2.ReverseTransferRequest(name=wrong.name, reason=" ", request_id=rid()),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="reason",
    )
    # Reversing an expense puts the money back and is refused if it would overdraw nothing else.
    await income(books, trustee, JINSHENG, 50_000)
    spent = await expense(books, trustee, JINSHENG, 50_000)
    await trustee(
        books.account.ReverseTransfer,
        account_pb2.ReverseTransferRequest(name=spent.name, reason="duplicate invoice", request_id=rid()),
    )
    assert (await balances(books, JINSHENG))["expense:cleaning"] == 0


async def test_a_retried_posting_posts_once_and_a_reused_id_is_refused(books: Governance) -> None:
    trustee = books.caller("trustee", JINSHENG)
    request = account_pb2.RecordIncomeRequest(
        compound_path=JINSHENG, category=account_pb2.INCOME_CATEGORY_PARKING, amount_fen=5_000, request_id=rid()
    )
    replies = await asyncio.gather(*[trustee(books.account.RecordIncome, request) for _ in range(5)])
    assert len({r.transfer.name for r in replies}) == 1
    assert (await balances(books, JINSHENG))[OPERATING] == 5_000
    changed = account_pb2.RecordIncomeRequest()
    changed.CopyFrom(request)
    changed.amount_fen = 6_000
    await expect_error(
        trustee(books.account.RecordIncome, changed), grpc.StatusCode.ALREADY_EXISTS, field="request_id"
    )
    changed.request_id = ""
    await expect_error(
        trustee(books.account.RecordIncome, changed), grpc.StatusCode.INVALID_ARGUMENT, field="request_id"
    )


async def test_bad_input_names_the_field(books: Governance) -> None:
    trustee = books.caller("trustee", JINSHENG)
    good = account_pb2.RecordExpenseRequest(
        compound_path=JINSHENG,
        budget_line="cleaning",
        amount_fen=100,
        voucher=voucher(),
        counterparty="某保洁服务部",
        request_id="x",
    )
    cases = [
        ({"amount_fen": 0}, "amount_fen"),
        ({"amount_fen": -5}, "amount_fen"),
        ({"budget_line": "gardening"}, "budget_line"),
        ({"budget_line": "Not A Slug"}, "budget_line"),
        ({"voucher": account_pb2.Voucher(file_ref="f.pdf")}, "voucher.sha256"),
        ({"counterparty": ""}, "counterparty"),
        ({"counterparty": "x" * 201}, "counterparty"),
        ({"voucher": account_pb2.Voucher(file_ref="f.pdf", sha256="abc")}, "voucher.sha256"),
        ({"compound_path": ""}, "compound_path"),
        ({"owners_decision": "votes/1"}, "owners_decision"),
        ({"request_id": ""}, "request_id"),
    ]
    for change, field in cases:
        request = account_pb2.RecordExpenseRequest()
        request.CopyFrom(good)
        for key, value in change.items():
            if isinstance(value, account_pb2.Voucher):
                request.voucher.CopyFrom(value)
            else:
                setattr(request, key, value)
        request.request_id = rid() if field != "request_id" else ""
        await expect_error(trustee(books.account.RecordExpense, request), grpc.StatusCode.INVALID_ARGUMENT, field=field)
    await expect_error(
        trustee(
            books.account.RecordIncome,
            account_pb2.RecordIncomeRequest(compound_path=JINSHENG, amount_fen=5, request_id=rid()),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="category",
    )
    for request, field in [
        (account_pb2.ListTransfersRequest(compound_path=JINSHENG, page_size=-1), "page_size"),
        (account_pb2.ListTransfersRequest(compound_path=JINSHENG, page_token="nope"), "page_token"),
    ]:
        await expect_error(trustee(books.account.ListTransfers, request), grpc.StatusCode.INVALID_ARGUMENT, field=field)
    await expect_error(
        trustee(books.account.GetTransfer, account_pb2.GetTransferRequest(name="transfers/1")),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="name",
    )
    for settings, field in [
        (
            account_pb2.AccountSettings(
                compound_path=JINSHENG,
                approval_threshold_fen=0,
                surplus_share_basis_points=1,
                period_kind=account_pb2.PERIOD_KIND_MONTHLY,
            ),
            "settings.approval_threshold_fen",
        ),
        (
            account_pb2.AccountSettings(
                compound_path=JINSHENG,
                approval_threshold_fen=1,
                surplus_share_basis_points=10_001,
                period_kind=account_pb2.PERIOD_KIND_MONTHLY,
            ),
            "settings.surplus_share_basis_points",
        ),
        (account_pb2.AccountSettings(compound_path=JINSHENG, approval_threshold_fen=1), "settings.period_kind"),
    ]:
        await expect_error(
            trustee(books.account.UpdateAccountSettings, account_pb2.UpdateAccountSettingsRequest(settings=settings)),
            grpc.StatusCode.INVALID_ARGUMENT,
            field=field,
        )
    for lines, field in [
        ([], "lines"),
        ([account_pb2.BudgetLine(code="a", title="A"), account_pb2.BudgetLine(code="a", title="A")], "lines[1].code"),
        ([account_pb2.BudgetLine(code="a", title="")], "lines[0].title"),
        ([account_pb2.BudgetLine(code="a", title="A", amount_fen=-1)], "lines[0].amount_fen"),
    ]:
        await expect_error(
            trustee(
                books.account.CreateBudget,
                account_pb2.CreateBudgetRequest(compound_path=JINSHENG, year=2027, lines=lines),
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            field=field,
        )
    await expect_error(
        trustee(
            books.account.CreateBudget,
            account_pb2.CreateBudgetRequest(
                compound_path=JINSHENG, year=1999, lines=[account_pb2.BudgetLine(code="a", title="A")]
            ),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="year",
    )
    # Well-formed but impossible: no such compound, no budget this year.
    ghost = f"{HUAIYUAN}/dingjiangqiao/ghost"
    await expect_error(
        books.admin(books.account.GetBalances, account_pb2.GetBalancesRequest(compound_path=ghost)),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        expense(books, books.caller("trustee", JIANGNANTING), JIANGNANTING, 100),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="NO_BUDGET",
    )


async def test_a_street_cannot_read_or_change_another_streets_compounds(books: Governance) -> None:
    yangma_officer = books.caller("street_officer", "chengdu/chongzhou/yangma")
    yangma_trustee = books.caller("trustee", "chengdu/chongzhou/yangma")
    await yangma_officer(books.account.GetBalances, account_pb2.GetBalancesRequest(compound_path=JINSHENG))
    denied = [
        yangma_officer(books.account.GetBalances, account_pb2.GetBalancesRequest(compound_path=JIANGNANTING)),
        yangma_officer(books.account.ListTransfers, account_pb2.ListTransfersRequest(compound_path=JIANGNANTING)),
        yangma_officer(
            books.account.GetAccountSettings, account_pb2.GetAccountSettingsRequest(compound_path=JIANGNANTING)
        ),
        yangma_trustee(
            books.account.RecordIncome,
            account_pb2.RecordIncomeRequest(
                compound_path=JIANGNANTING, category=account_pb2.INCOME_CATEGORY_PARKING, amount_fen=1, request_id=rid()
            ),
        ),
        yangma_trustee(
            books.account.CreateBudget,
            account_pb2.CreateBudgetRequest(
                compound_path=JIANGNANTING, year=2026, lines=[account_pb2.BudgetLine(code="a", title="A")]
            ),
        ),
    ]
    for call in denied:
        await expect_error(call, grpc.StatusCode.PERMISSION_DENIED, reason="OUT_OF_SCOPE")
    hidden = await income(books, books.caller("trustee", JIANGNANTING), JIANGNANTING, 10)
    await expect_error(
        yangma_officer(books.account.GetTransfer, account_pb2.GetTransferRequest(name=hidden.name)),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    await expect_error(
        yangma_trustee(
            books.account.ReverseTransfer,
            account_pb2.ReverseTransferRequest(name=hidden.name, reason="x", request_id=rid()),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )


async def test_concurrent_expenses_never_overdraw_the_operating_account(books: Governance) -> None:
    trustee = books.caller("trustee", JINSHENG)
    await income(books, trustee, JINSHENG, 100_000)
    results = await asyncio.gather(
        *[expense(books, trustee, JINSHENG, 30_000) for _ in range(6)], return_exceptions=True
    )
    posted = [r for r in results if isinstance(r, account_pb2.Transfer)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(posted) == 3 and len(refused) == 3
    assert all(e.code() == grpc.StatusCode.FAILED_PRECONDITION for e in refused)
    assert (await balances(books, JINSHENG))[OPERATING] == 10_000


async def test_a_replayed_request_id_is_still_scope_checked(books: Governance) -> None:
    trustee = books.caller("trustee", JINSHENG)
    request = account_pb2.RecordIncomeRequest(
        compound_path=JINSHENG, category=account_pb2.INCOME_CATEGORY_PARKING, amount_fen=700, request_id=rid()
    )
    await trustee(books.account.RecordIncome, request)
    outsider = books.caller("trustee", JIANGNANTING)
    await expect_error(outsider(books.account.RecordIncome, request), grpc.StatusCode.PERMISSION_DENIED)


async def test_either_party_may_refuse_a_pending_expense_and_it_never_posts(books: Governance) -> None:
    trustee = books.caller("trustee", JINSHENG)
    committee = books.caller("owners_committee", JINSHENG, subject="committee-chair")
    supervisor = books.caller("trust_supervisor", JINSHENG, subject="supervisor")
    await income(books, trustee, JINSHENG, 2_000_000)
    shed = await expense(books, trustee, JINSHENG, 700_000, "ebike_shed")
    await committee(books.account.ApproveTransfer, approve(shed.name, COMMITTEE))
    await expect_error(
        supervisor(
            books.account.RejectTransfer, account_pb2.RejectTransferRequest(name=shed.name, party=SUPERVISOR, reason="")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="reason",
    )
    voided = (
        await supervisor(
            books.account.RejectTransfer,
            account_pb2.RejectTransferRequest(
                name=shed.name, party=SUPERVISOR, reason="报价过高 quote too high", request_id=rid()
            ),
        )
    ).transfer
    assert voided.state == account_pb2.TRANSFER_STATE_VOIDED and "quote too high" in voided.memo
    await expect_error(
        committee(books.account.ApproveTransfer, approve(shed.name, COMMITTEE)),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="NOT_PENDING",
    )
    await expect_error(
        supervisor(books.account.ApproveTransfer, approve(shed.name, SUPERVISOR)),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="NOT_PENDING",
    )
    await expect_error(
        trustee(
            books.account.ReverseTransfer,
            account_pb2.ReverseTransferRequest(name=shed.name, reason="x", request_id=rid()),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="NOT_POSTED",
    )
    reply = await books.admin(books.account.GetBalances, account_pb2.GetBalancesRequest(compound_path=JINSHENG))
    assert (reply.operating_fen, reply.pending_fen) == (2_000_000, 0)
    await expect_error(
        trustee(
            books.account.RejectTransfer, account_pb2.RejectTransferRequest(name=shed.name, party=COMMITTEE, reason="x")
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        reason="ROLE_NOT_ALLOWED",
    )


async def test_an_undecided_expense_lapses_after_thirty_days(books: Governance) -> None:
    trustee = books.caller("trustee", JINSHENG)
    committee = books.caller("owners_committee", JINSHENG, subject="committee-chair")
    supervisor = books.caller("trust_supervisor", JINSHENG, subject="supervisor")
    await income(books, trustee, JINSHENG, 2_000_000)
    shed = await expense(books, trustee, JINSHENG, 700_000, "ebike_shed")
    await committee(books.account.ApproveTransfer, approve(shed.name, COMMITTEE))
    books.clock.advance(days=29, hours=23)
    reply = await books.admin(books.account.GetBalances, account_pb2.GetBalancesRequest(compound_path=JINSHENG))
    assert reply.pending_fen == 700_000
    books.clock.advance(hours=1)
    await expect_error(
        supervisor(books.account.ApproveTransfer, approve(shed.name, SUPERVISOR)),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="APPROVAL_LAPSED",
    )
    reply = await books.admin(books.account.GetBalances, account_pb2.GetBalancesRequest(compound_path=JINSHENG))
    assert (reply.pending_fen, reply.operating_fen) == (0, 2_000_000)
