"""The authority rules of a compound's books as tables (authority.py, settings_changes.state_at):
two parties need two accounts, nobody approves their own proposal, a split spend is summed
with the same payee's recent expenses on the line, and a settings change must change something."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from linli_governance import accounts, authority, settings_changes
from linli_governance.tables import SettingsChange

from linli.governance.v1 import account_pb2
from linli_runtime.auth import Role
from linli_runtime.errors import FailedPrecondition, PermissionDenied

COMMITTEE = account_pb2.APPROVAL_PARTY_OWNERS_COMMITTEE
SUPERVISOR = account_pb2.APPROVAL_PARTY_SUPERVISOR
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("account", "party", "given", "proposer", "refusal"), [
    ("wang", COMMITTEE, {}, "trustee-li", None),
    ("zhao", SUPERVISOR, {COMMITTEE: "wang"}, "trustee-li", None),
    ("wang", SUPERVISOR, {COMMITTEE: "wang"}, "trustee-li", "SAME_ACCOUNT"),  # one account, both grants
    ("zhao", COMMITTEE, {SUPERVISOR: "zhao"}, "", "SAME_ACCOUNT"),
    ("trustee-li", COMMITTEE, {}, "trustee-li", "OWN_PROPOSAL"),  # the recorder on the committee
    ("trustee-li", SUPERVISOR, {COMMITTEE: "wang"}, "trustee-li", "OWN_PROPOSAL"),
    ("wang", COMMITTEE, {}, "", None),  # recorded before who recorded was kept
    ("wang", COMMITTEE, {COMMITTEE: "wang"}, "", None),  # the same party again is ALREADY_APPROVED, elsewhere
])
def test_two_parties_need_two_accounts_and_neither_the_proposers(
    account: str, party: int, given: dict[int, str], proposer: str, refusal: str | None
) -> None:
    if refusal is None:
        authority.check_approver(account, party, given, proposer)
        return
    with pytest.raises(PermissionDenied) as refused:
        authority.check_approver(account, party, given, proposer)
    assert refused.value.reason == refusal


def test_each_party_approves_with_its_own_grant() -> None:
    assert authority.PARTY_ROLES == {COMMITTEE: Role.OWNERS_COMMITTEE, SUPERVISOR: Role.TRUST_SUPERVISOR}
    assert set(authority.BOTH_PARTIES) == set(authority.PARTY_ROLES)


@pytest.mark.parametrize(("a", "b", "same"), [
    ("成都洁美保洁有限公司", "成都洁美 保洁有限公司", True),
    ("Jiemei Cleaning Co.", "jiemei  cleaning co.", True),
    ("ＡＢＣ物业", "ABC物业", True),  # full-width letters
    ("成都洁美保洁有限公司", "成都洁美保洁公司", False),  # a different name is a different payee
    ("", " ", True),
])
def test_payees_compare_ignoring_case_spaces_and_full_width_forms(a: str, b: str, same: bool) -> None:
    assert (authority.payee_key(a) == authority.payee_key(b)) is same


@pytest.mark.parametrize(("amount", "recent", "total"), [
    (300_000, [], 300_000),
    (300_000, [("成都洁美保洁有限公司", 300_000)], 600_000),
    (300_000, [("成都洁美 保洁有限公司", 100_000), ("别的公司", 900_000)], 400_000),
    (100_000, [("成都洁美保洁有限公司", 200_000), ("成都洁美保洁有限公司", 250_000)], 550_000),
])
def test_a_split_spend_is_summed_with_the_payees_recent_expenses(amount: int, recent: list[tuple[str, int]],
                                                                 total: int) -> None:
    assert authority.split_total(amount, "成都洁美保洁有限公司", recent) == total


@pytest.mark.parametrize(("amount", "payee_recent", "over_budget", "needed"), [
    (300_000, 300_000, 0, 0),  # below the threshold, alone and summed
    (500_000, 500_000, 0, 0),  # at the threshold is not above it
    (300_000, 600_000, 0, accounts.BOTH_PARTIES),  # split: sent to both parties
    (800_000, 800_000, 0, accounts.BOTH_PARTIES),
    (300_000, 300_000, 1, accounts.PARTY_BITS[COMMITTEE]),  # an overspend: the committee alone
    (300_000, 600_000, 1, accounts.BOTH_PARTIES),
])
def test_who_must_approve_an_expense(amount: int, payee_recent: int, over_budget: int, needed: int) -> None:
    assert accounts.approvals_needed(amount, 500_000, over_budget, payee_recent) == needed
    assert authority.needs_both_parties(amount, payee_recent, 500_000) is (needed == accounts.BOTH_PARTIES)


@pytest.mark.parametrize(("current", "proposed", "refused"), [
    ((500_000, 3_000, 1), (500_000, 3_000, 1), True),
    ((500_000, 3_000, 1), (5_000_000, 3_000, 1), False),  # the threshold
    ((500_000, 3_000, 1), (500_000, 2_000, 1), False),  # the surplus share
    ((500_000, 3_000, 1), (500_000, 3_000, 2), False),  # the period
])
def test_a_settings_change_must_change_something(current: tuple[int, int, int], proposed: tuple[int, int, int],
                                                 refused: bool) -> None:
    if not refused:
        authority.check_settings_change(current, proposed)
        return
    with pytest.raises(FailedPrecondition) as unchanged:
        authority.check_settings_change(current, proposed)
    assert unchanged.value.reason == "SETTINGS_UNCHANGED"


@pytest.mark.parametrize(("stored", "age", "state"), [
    (settings_changes.PENDING, timedelta(days=29, hours=23), settings_changes.PENDING),
    (settings_changes.PENDING, timedelta(days=30), settings_changes.LAPSED),
    (settings_changes.APPLIED, timedelta(days=400), settings_changes.APPLIED),
    (settings_changes.REJECTED, timedelta(days=31), settings_changes.REJECTED),
])
def test_a_pending_settings_change_lapses_after_thirty_days(stored: int, age: timedelta, state: int) -> None:
    change = SettingsChange(change_id="c1", compound_path="c/x", approval_threshold_fen=1, surplus_share_bp=0,
                            period_kind=1, state=stored, proposed_by="trustee", created_at=T0)
    assert settings_changes.state_at(change, T0 + age) == state
