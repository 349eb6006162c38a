"""The authority rules of a compound's books (authority.py) through a running trust-governance,
with tokens from the test issuer, on SQLite and PostgreSQL: a spend above the threshold posts
with the committee's and the supervisor's approvals from two accounts, and is refused a second
approval from one account holding both grants; nobody approves what they recorded; the trustee
cannot change its own threshold — a change waits for both parties or rests on an owners' vote;
a spend split to stay under the threshold is sent to approval."""

from __future__ import annotations

from datetime import timedelta

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from linli.governance.v1 import account_pb2, vote_pb2

from .conftest import Governance
from .helpers import (
    JINSHENG,
    Caller,
    balances,
    build_chongzhou,
    expect_error,
    households_of,
    income,
    rid,
    upload_voucher,
    with_budget,
)

COMMITTEE = account_pb2.APPROVAL_PARTY_OWNERS_COMMITTEE
SUPERVISOR = account_pb2.APPROVAL_PARTY_SUPERVISOR
PENDING, POSTED = account_pb2.TRANSFER_STATE_PENDING, account_pb2.TRANSFER_STATE_POSTED
THRESHOLD = 500_000  # the default: 5,000 yuan
CLEANER = "成都洁美保洁有限公司"


def people(gov: Governance) -> dict[str, Caller]:
    """Jinsheng's people, each an account of their own (the token's `sub`) with their grants."""
    return {
        "trustee": gov.caller("trustee", JINSHENG, subject="acct-trustee-bookkeeper"),
        "committee": gov.caller("owners_committee", JINSHENG, subject="acct-committee-wang"),
        "supervisor": gov.caller("trust_supervisor", JINSHENG, subject="acct-supervisor-zhao"),
        # One person holding both approving grants (a committee member the street also appointed
        # supervisor): still one account.
        "both": Caller(gov.issuer.issue("acct-li-both", grants=[("owners_committee", JINSHENG),
                                                                 ("trust_supervisor", JINSHENG)])),
        # A trustee's bookkeeper who also sits on the owners' committee.
        "trustee_on_committee": Caller(gov.issuer.issue("acct-trustee-chen", grants=[
            ("trustee", JINSHENG), ("owners_committee", JINSHENG)])),
    }


async def books(gov: Governance) -> dict[str, Caller]:
    await build_chongzhou(gov)
    await with_budget(gov, JINSHENG)
    who = people(gov)
    await income(gov, who["trustee"], JINSHENG, 20_000_000)
    return who


async def spend(gov: Governance, who: Caller, amount: int, *, payee: str = CLEANER,
                line: str = "repairs") -> account_pb2.Transfer:
    reply = await who(gov.account.RecordExpense, account_pb2.RecordExpenseRequest(
        compound_path=JINSHENG, budget_line=line, amount_fen=amount, voucher=await upload_voucher(gov, JINSHENG),
        counterparty=payee, request_id=rid()))
    transfer: account_pb2.Transfer = reply.transfer
    return transfer


async def approve(gov: Governance, who: Caller, name: str, party: int) -> account_pb2.Transfer:
    reply = await who(gov.account.ApproveTransfer,
                      account_pb2.ApproveTransferRequest(name=name, party=party, request_id=rid()))
    transfer: account_pb2.Transfer = reply.transfer
    return transfer


async def test_a_spend_above_the_threshold_posts_with_two_accounts_and_not_with_one_holding_both(
    gov: Governance,
) -> None:
    who = await books(gov)
    # Approved by the committee's account and the supervisor's account: posted.
    repair = await spend(gov, who["trustee"], 800_000)
    assert (repair.state, list(repair.required_approvals)) == (PENDING, [COMMITTEE, SUPERVISOR])
    assert repair.recorded_by == "acct-trustee-bookkeeper"
    assert (await approve(gov, who["committee"], repair.name, COMMITTEE)).state == PENDING
    posted = await approve(gov, who["supervisor"], repair.name, SUPERVISOR)
    assert (posted.state, list(posted.approvals)) == (POSTED, [COMMITTEE, SUPERVISOR])
    assert (await balances(gov, JINSHENG))["expense:repairs"] == 800_000

    # One account holding both grants approves once; its second approval is refused and the
    # transfer still waits.
    shed = await spend(gov, who["trustee"], 900_000, line="ebike_shed")
    assert (await approve(gov, who["both"], shed.name, COMMITTEE)).state == PENDING
    refused = await expect_error(approve(gov, who["both"], shed.name, SUPERVISOR),
                                 grpc.StatusCode.PERMISSION_DENIED, reason="SAME_ACCOUNT")
    assert "another account" in (refused.details() or "")
    waiting = (await gov.admin(gov.account.GetTransfer, account_pb2.GetTransferRequest(name=shed.name))).transfer
    assert (waiting.state, list(waiting.approvals)) == (PENDING, [COMMITTEE])
    assert "expense:ebike_shed" not in await balances(gov, JINSHENG)
    # …and the supervisor's own account completes it.
    assert (await approve(gov, who["supervisor"], shed.name, SUPERVISOR)).state == POSTED

    # The platform admin holds no party's grant: it cannot approve for either.
    third = await spend(gov, who["trustee"], 700_000)
    for party in (COMMITTEE, SUPERVISOR):
        await expect_error(approve(gov, gov.admin, third.name, party), grpc.StatusCode.PERMISSION_DENIED,
                           reason="ROLE_NOT_ALLOWED")


async def test_nobody_approves_what_they_recorded(gov: Governance) -> None:
    who = await books(gov)
    own = await spend(gov, who["trustee_on_committee"], 800_000)
    assert own.recorded_by == "acct-trustee-chen"
    await expect_error(approve(gov, who["trustee_on_committee"], own.name, COMMITTEE),
                       grpc.StatusCode.PERMISSION_DENIED, reason="OWN_PROPOSAL")
    assert (await approve(gov, who["committee"], own.name, COMMITTEE)).state == PENDING
    assert (await approve(gov, who["supervisor"], own.name, SUPERVISOR)).state == POSTED


async def test_a_spend_split_to_stay_under_the_threshold_is_sent_to_approval(gov: Governance) -> None:
    who = await books(gov)
    first = await spend(gov, who["trustee"], 300_000)
    assert (first.state, first.payee_recent_fen) == (POSTED, 300_000)
    # The same payee (written with a space and full-width letters), the same line, eight days on:
    # 600,000 fen together, above the threshold — held for both parties though each is below it.
    gov.clock.advance(days=8)
    second = await spend(gov, who["trustee"], 300_000, payee="成都洁美 保洁有限公司")
    assert (second.state, second.payee_recent_fen) == (PENDING, 600_000)
    assert list(second.required_approvals) == [COMMITTEE, SUPERVISOR]
    # Another payee, or the same payee on another line, is weighed on its own.
    assert (await spend(gov, who["trustee"], 300_000, payee="崇州某维修部")).state == POSTED
    assert (await spend(gov, who["trustee"], 300_000, line="ebike_shed")).state == POSTED
    # A refused (voided) expense paid nobody and a reversed one was paid back: neither counts.
    await who["committee"](gov.account.RejectTransfer, account_pb2.RejectTransferRequest(
        name=second.name, party=COMMITTEE, reason="分拆付款，请合并报批", request_id=rid()))
    await who["trustee"](gov.account.ReverseTransfer, account_pb2.ReverseTransferRequest(
        name=first.name, reason="付错了", request_id=rid()))
    assert (await spend(gov, who["trustee"], 300_000)).payee_recent_fen == 300_000
    # Thirty days after the last payment the window has passed.
    gov.clock.advance(days=31)
    again = await spend(gov, who["trustee"], 400_000)
    assert (again.state, again.payee_recent_fen) == (POSTED, 400_000)


def settings_request(threshold_fen: int, owners_decision: str = "") -> account_pb2.UpdateAccountSettingsRequest:
    return account_pb2.UpdateAccountSettingsRequest(
        settings=account_pb2.AccountSettings(compound_path=JINSHENG, approval_threshold_fen=threshold_fen,
                                             surplus_share_basis_points=3_000,
                                             period_kind=account_pb2.PERIOD_KIND_MONTHLY),
        owners_decision=owners_decision, request_id=rid())


async def threshold(gov: Governance) -> int:
    reply = await gov.admin(gov.account.GetAccountSettings,
                            account_pb2.GetAccountSettingsRequest(compound_path=JINSHENG))
    return int(reply.settings.approval_threshold_fen)


async def approve_change(gov: Governance, who: Caller, name: str,
                         party: int) -> account_pb2.ApproveSettingsChangeResponse:
    reply: account_pb2.ApproveSettingsChangeResponse = await who(
        gov.account.ApproveSettingsChange,
        account_pb2.ApproveSettingsChangeRequest(name=name, party=party, request_id=rid()))
    return reply


async def test_the_trustee_cannot_raise_its_own_threshold_alone(gov: Governance) -> None:
    who = await books(gov)
    asked = await who["trustee"](gov.account.UpdateAccountSettings, settings_request(5_000_000))
    change = asked.change
    assert (change.state, change.proposed_by) == (account_pb2.SETTINGS_CHANGE_STATE_PENDING, "acct-trustee-bookkeeper")
    assert asked.settings.approval_threshold_fen == THRESHOLD == await threshold(gov)
    # Spending above the old threshold still waits while the change does.
    assert (await spend(gov, who["trustee"], 800_000)).state == PENDING
    # A second proposal waits for the first to be decided.
    await expect_error(who["committee"](gov.account.UpdateAccountSettings, settings_request(100_000)),
                       grpc.StatusCode.FAILED_PRECONDITION, reason="SETTINGS_CHANGE_PENDING")
    # The trustee holds no approving grant; a trustee on the committee may not approve its own
    # proposal; one account with both grants approves once; the platform admin not at all.
    await expect_error(approve_change(gov, who["trustee"], change.name, COMMITTEE),
                       grpc.StatusCode.PERMISSION_DENIED, reason="ROLE_NOT_ALLOWED")
    await expect_error(approve_change(gov, gov.admin, change.name, SUPERVISOR),
                       grpc.StatusCode.PERMISSION_DENIED, reason="ROLE_NOT_ALLOWED")
    assert (await approve_change(gov, who["both"], change.name, COMMITTEE)).change.state == \
        account_pb2.SETTINGS_CHANGE_STATE_PENDING
    await expect_error(approve_change(gov, who["both"], change.name, SUPERVISOR),
                       grpc.StatusCode.PERMISSION_DENIED, reason="SAME_ACCOUNT")
    assert await threshold(gov) == THRESHOLD
    done = await approve_change(gov, who["supervisor"], change.name, SUPERVISOR)
    assert done.change.state == account_pb2.SETTINGS_CHANGE_STATE_APPLIED
    assert list(done.change.approvals) == [COMMITTEE, SUPERVISOR]
    assert done.settings.approval_threshold_fen == 5_000_000 == await threshold(gov)

    # The trustee's own proposal, when its account also sits on the committee.
    mine = (await who["trustee_on_committee"](gov.account.UpdateAccountSettings,
                                              settings_request(6_000_000))).change
    await expect_error(approve_change(gov, who["trustee_on_committee"], mine.name, COMMITTEE),
                       grpc.StatusCode.PERMISSION_DENIED, reason="OWN_PROPOSAL")
    rejected = (await who["supervisor"](gov.account.RejectSettingsChange, account_pb2.RejectSettingsChangeRequest(
        name=mine.name, party=SUPERVISOR, reason="合同未变更", request_id=rid()))).change
    assert rejected.state == account_pb2.SETTINGS_CHANGE_STATE_REJECTED and "合同未变更" in rejected.rejection_reason
    assert await threshold(gov) == 5_000_000

    # Nobody decides within 30 days: the change lapses.
    old = (await who["trustee"](gov.account.UpdateAccountSettings, settings_request(7_000_000))).change
    gov.clock.advance(days=30)
    await expect_error(approve_change(gov, who["committee"], old.name, COMMITTEE),
                       grpc.StatusCode.FAILED_PRECONDITION, reason="APPROVAL_LAPSED")
    listed = (await who["committee"](gov.account.ListSettingsChanges,
                                     account_pb2.ListSettingsChangesRequest(compound_path=JINSHENG))).changes
    assert [(c.name, c.state) for c in listed] == [
        (old.name, account_pb2.SETTINGS_CHANGE_STATE_LAPSED),
        (mine.name, account_pb2.SETTINGS_CHANGE_STATE_REJECTED),
        (change.name, account_pb2.SETTINGS_CHANGE_STATE_APPLIED)]


async def owners_vote(gov: Governance, matter: int) -> str:
    """A vote of Jinsheng's owners on `matter`, every household for, closed a minute later."""
    close = Timestamp()
    close.FromDatetime(gov.clock.now() + timedelta(minutes=1))
    committee = gov.caller("owners_committee", JINSHENG, subject="acct-committee-wang")
    vote = (await committee(gov.votes.CreateVote, vote_pb2.CreateVoteRequest(
        compound_path=JINSHENG, title="续聘物业服务人并确认信托账户规则 Rehire the trustee on the contract's rules",
        matter=matter, close_time=close, request_id=rid()))).vote
    for home in await households_of(gov, JINSHENG):
        await gov.caller("resident", home)(gov.votes.CastBallot, vote_pb2.CastBallotRequest(
            vote=vote.name, household_path=home, choice=vote_pb2.BALLOT_CHOICE_FOR,
            channel=vote_pb2.BALLOT_CHANNEL_ONLINE, request_id=rid()))
    gov.clock.advance(minutes=1)
    closed = await committee(gov.votes.CloseVote, vote_pb2.CloseVoteRequest(name=vote.name, request_id=rid()))
    assert closed.vote.outcome == vote_pb2.VOTE_OUTCOME_PASSED
    return str(vote.name)


async def test_an_owners_vote_on_the_contract_changes_the_settings_at_once_and_only_once(gov: Governance) -> None:
    who = await books(gov)
    waiting = (await who["trustee"](gov.account.UpdateAccountSettings, settings_request(9_000_000))).change
    decision = await owners_vote(gov, vote_pb2.VOTE_MATTER_HIRE_TRUSTEE)
    applied = await who["trustee"](gov.account.UpdateAccountSettings, settings_request(800_000, decision))
    assert applied.change.state == account_pb2.SETTINGS_CHANGE_STATE_APPLIED
    assert applied.change.owners_decision == decision
    assert applied.settings.approval_threshold_fen == 800_000 == await threshold(gov)
    # The change that was waiting is superseded by the owners' decision.
    listed = (await who["committee"](gov.account.ListSettingsChanges,
                                     account_pb2.ListSettingsChangesRequest(compound_path=JINSHENG))).changes
    assert {c.name: c.state for c in listed}[waiting.name] == account_pb2.SETTINGS_CHANGE_STATE_REJECTED
    # One decision, one change; a vote on another matter decides no settings.
    await expect_error(who["trustee"](gov.account.UpdateAccountSettings, settings_request(900_000, decision)),
                       grpc.StatusCode.FAILED_PRECONDITION, reason="DECISION_ALREADY_USED")
    other = await owners_vote(gov, vote_pb2.VOTE_MATTER_OTHER)
    await expect_error(who["trustee"](gov.account.UpdateAccountSettings, settings_request(900_000, other)),
                       grpc.StatusCode.FAILED_PRECONDITION, reason="DECISION_WRONG_MATTER")
    await expect_error(who["trustee"](gov.account.UpdateAccountSettings, settings_request(800_000)),
                       grpc.StatusCode.FAILED_PRECONDITION, reason="SETTINGS_UNCHANGED")
