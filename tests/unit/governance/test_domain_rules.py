"""The domain modules' pure rules, in memory: what each aggregate allows before it touches the
database (the gRPC tests in tests/integration/governance show the same rules end to end)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from linli_governance import accounts, bodies, disclosures, names, org_tree, projects, rollout, service_levels, votes
from linli_governance.art278 import Rule
from linli_governance.sealing import GENESIS, canonical_json, seal
from linli_governance.tables import AccountSettings, Ballot, Budget, Disclosure, OrgUnit, ServiceLevel, Transfer

from linli.governance.v1 import account_pb2, bodies_pb2, disclosure_pb2, org_pb2, project_pb2, rollout_pb2, vote_pb2
from linli_runtime.errors import FailedPrecondition, InvalidArgument

NOW = datetime(2026, 11, 10, 2, tzinfo=UTC)
COMPOUND = "chengdu/chongzhou/yangma/chongjianglu/jinsheng"


def field_of(caught: pytest.ExceptionInfo[InvalidArgument]) -> str:
    return caught.value.violations[0].field


def reason_of(caught: pytest.ExceptionInfo[FailedPrecondition]) -> str:
    return str(caught.value.reason)


# -- names ------------------------------------------------------------------------------------------


def test_compound_resource_names_round_trip_and_name_the_field() -> None:
    name = names.vote_name(COMPOUND, "7f3a")
    assert name == "compounds/chengdu~chongzhou~yangma~chongjianglu~jinsheng/votes/7f3a"
    assert names.parse_compound_child("vote", name, names.VOTES) == (COMPOUND, "7f3a")
    assert names.objection_name(names.disclosure_name(COMPOUND, "2026-10"), "o1").endswith(
        "/disclosures/2026-10/objections/o1"
    )
    for bad in ("votes/1", name.replace("/votes/", "/transfers/"), "compounds//votes/1", f"{name}/extra"):
        with pytest.raises(InvalidArgument) as caught:
            names.parse_compound_child("vote", bad, names.VOTES)
        assert field_of(caught) == "vote"


# -- the org tree ---------------------------------------------------------------------------------


def unit(**change: object) -> org_tree.NewUnit:
    fields: dict[str, object] = dict(
        parent_path="chengdu/chongzhou", slug="yangma", kind=org_tree.STREET, display_name="羊马街道"
    )
    fields.update(change)
    return org_tree.NewUnit(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": 0}, "kind"),
        ({"slug": "Yang Ma"}, "slug"),
        ({"display_name": "  "}, "display_name"),
        ({"display_name_en": "x" * 201}, "display_name_en"),
        ({"kind": org_tree.CITY}, "parent_path"),
        ({"parent_path": "", "kind": org_tree.DISTRICT}, "parent_path"),
        ({"compound_type": org_pb2.COMPOUND_TYPE_COMMERCIAL}, "compound_type"),
        ({"kind": org_tree.COMPOUND}, "compound_type"),
        ({"kind": org_tree.HOUSEHOLD}, "exclusive_area_dm2"),
        ({"kind": org_tree.HOUSEHOLD, "exclusive_area_dm2": org_tree.MAX_AREA_DM2 + 1}, "exclusive_area_dm2"),
        ({"exclusive_area_dm2": 9_000}, "exclusive_area_dm2"),
    ],
)
def test_a_new_unit_is_checked_field_by_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        org_tree.validate(unit(**change))
    assert field_of(caught) == field


def test_a_unit_sits_directly_under_the_level_above() -> None:
    org_tree.validate(unit())
    assert unit().path == "chengdu/chongzhou/yangma"
    district = OrgUnit(path="chengdu/chongzhou", kind=org_tree.DISTRICT, display_name="崇州市", created_at=NOW)
    org_tree.check_parent(unit(), district)
    with pytest.raises(FailedPrecondition) as caught:
        org_tree.check_parent(unit(kind=org_tree.COMMUNITY), district)
    assert reason_of(caught) == "WRONG_PARENT_KIND"


# -- the rollout ------------------------------------------------------------------------------------

S = rollout_pb2.RolloutStage


def checklist(done: bool) -> list[dict[str, object]]:
    return [{"key": k, "title": t, "done": done} for k, t in rollout.CHECKLIST]


def test_stages_move_one_at_a_time_and_exit_from_anywhere_but_exited() -> None:
    rollout.check_transition(S.ROLLOUT_STAGE_NOT_STARTED, S.ROLLOUT_STAGE_SURVEYED, checklist(False))
    rollout.check_transition(S.ROLLOUT_STAGE_PILOT, S.ROLLOUT_STAGE_EXITED, checklist(False))
    for current, target, reason in [
        (S.ROLLOUT_STAGE_SURVEYED, S.ROLLOUT_STAGE_IMPORTING, "ROLLOUT_OUT_OF_ORDER"),
        (S.ROLLOUT_STAGE_PILOT, S.ROLLOUT_STAGE_SURVEYED, "ROLLOUT_OUT_OF_ORDER"),
        (S.ROLLOUT_STAGE_EXITED, S.ROLLOUT_STAGE_SURVEYED, "ROLLOUT_OUT_OF_ORDER"),
        (S.ROLLOUT_STAGE_EXITED, S.ROLLOUT_STAGE_EXITED, "ROLLOUT_EXITED"),
        (S.ROLLOUT_STAGE_IMPORTING, S.ROLLOUT_STAGE_ADOPTED, "CHECKLIST_INCOMPLETE"),
    ]:
        with pytest.raises(FailedPrecondition) as caught:
            rollout.check_transition(current, target, checklist(False))
        assert reason_of(caught) == reason
    rollout.check_transition(S.ROLLOUT_STAGE_IMPORTING, S.ROLLOUT_STAGE_ADOPTED, checklist(True))
    with pytest.raises(InvalidArgument):
        rollout.check_transition(S.ROLLOUT_STAGE_PILOT, 99, checklist(True))


def test_a_checklist_item_is_marked_by_its_key_only() -> None:
    before = checklist(False)
    after = rollout.with_item(before, "budget_approved", True)
    assert [item["done"] for item in after] == [False, False, True, False, False]
    assert not any(item["done"] for item in before), "the stored list is not changed in place"
    with pytest.raises(InvalidArgument) as caught:
        rollout.with_item(before, "nonsense", True)
    assert field_of(caught) == "key"


def test_the_summary_counts_by_stage_street_and_type_and_says_it_in_a_headline() -> None:
    rows = [
        ("chengdu/chongzhou/yangma/c/a", S.ROLLOUT_STAGE_ADOPTED, org_pb2.COMPOUND_TYPE_RESETTLEMENT),
        ("chengdu/chongzhou/yangma/c/b", S.ROLLOUT_STAGE_IMPORTING, org_pb2.COMPOUND_TYPE_COMMERCIAL),
        ("chengdu/chongzhou/huaiyuan/d/e", S.ROLLOUT_STAGE_ADOPTED, org_pb2.COMPOUND_TYPE_RESETTLEMENT),
    ]
    s = rollout.summary("chengdu/chongzhou", "崇州市", rows)
    assert s.headline == "崇州市: 2 adopted, 1 importing" and s.compound_count == 3
    assert list(s.by_street) == ["chengdu/chongzhou/huaiyuan", "chengdu/chongzhou/yangma"]
    assert s.by_compound_type == {
        "commercial": Counter({S.ROLLOUT_STAGE_IMPORTING: 1}),
        "resettlement": Counter({S.ROLLOUT_STAGE_ADOPTED: 2}),
    }
    assert rollout.summary("x", "X", []).headline == "X: no compounds in the trust model yet"


# -- the trust account ------------------------------------------------------------------------------


def settings(**change: int) -> AccountSettings:
    values = dict(approval_threshold_fen=500_000, surplus_share_bp=3_000, period_kind=account_pb2.PERIOD_KIND_MONTHLY)
    values.update(change)
    return AccountSettings(compound_path=COMPOUND, **values)


def test_account_settings_and_budgets_are_checked_naming_the_field() -> None:
    accounts.validate_settings(settings())
    for change, field in [
        ({"approval_threshold_fen": 0}, "settings.approval_threshold_fen"),
        ({"surplus_share_bp": 10_001}, "settings.surplus_share_basis_points"),
        ({"period_kind": 0}, "settings.period_kind"),
    ]:
        with pytest.raises(InvalidArgument) as caught:
            accounts.validate_settings(settings(**change))
        assert field_of(caught) == field
    line = accounts.NewBudgetLine
    accounts.validate_budget(2026, [line("cleaning", "保洁", 0)])
    for year, lines, field in [
        (1999, [line("a", "A", 1)], "year"),
        (2026, [], "lines"),
        (2026, [line("a", "A", 1), line("a", "B", 1)], "lines[1].code"),
        (2026, [line("Not Slug", "A", 1)], "lines[0].code"),
        (2026, [line("a", " ", 1)], "lines[0].title"),
        (2026, [line("a", "A", -1)], "lines[0].amount_fen"),
    ]:
        with pytest.raises(InvalidArgument) as caught:
            accounts.validate_budget(year, lines)
        assert field_of(caught) == field


def test_amounts_and_income_categories() -> None:
    assert accounts.amount(1) == 1
    for bad in (0, -5, accounts.MAX_AMOUNT_FEN + 1):
        with pytest.raises(InvalidArgument):
            accounts.amount(bad)
    assert accounts.income_account(account_pb2.INCOME_CATEGORY_PARKING) == "income:parking"
    with pytest.raises(InvalidArgument) as caught:
        accounts.income_account(0)
    assert field_of(caught) == "category"


def transfer(**change: object) -> Transfer:
    values: dict[str, object] = dict(
        transfer_id="t1",
        compound_path=COMPOUND,
        kind=account_pb2.TRANSFER_KIND_EXPENSE,
        state=account_pb2.TRANSFER_STATE_PENDING,
        debit_account="expense:repairs",
        credit_account=accounts.OPERATING,
        amount_fen=600_000,
        created_at=NOW.replace(tzinfo=None),  # as SQLite hands it back
    )
    values.update(change)
    return Transfer(**values)  # type: ignore[arg-type]


def test_who_must_approve_an_expense() -> None:
    committee, supervisor = account_pb2.APPROVAL_PARTY_OWNERS_COMMITTEE, account_pb2.APPROVAL_PARTY_SUPERVISOR
    assert accounts.over_budget(1_200_000, 1_000_000, 200_000) == 0  # exactly the budget
    assert accounts.over_budget(1_200_000, 1_000_000, 300_000) == 100_000
    assert accounts.over_budget(1_200_000, 1_500_000, 1) == 300_001  # the line is over already
    assert accounts.parties_of(accounts.approvals_needed(100, 500_000, 0)) == []
    assert accounts.parties_of(accounts.approvals_needed(100, 500_000, 1)) == [committee]
    assert accounts.parties_of(accounts.approvals_needed(600_000, 500_000, 0)) == [committee, supervisor]
    assert accounts.parties_of(accounts.approvals_needed(600_000, 500_000, 9)) == [committee, supervisor]
    pending_overspend = transfer(required_approvals=1)
    accounts.check_party_needed(pending_overspend, committee)
    with pytest.raises(FailedPrecondition) as caught:
        accounts.check_party_needed(pending_overspend, supervisor)
    assert reason_of(caught) == "APPROVAL_NOT_NEEDED"


def test_spending_needs_an_approved_budget() -> None:
    approved = Budget(compound_path=COMPOUND, year=2026, state=account_pb2.BUDGET_STATE_APPROVED)
    accounts.check_budget_approved(approved, COMPOUND, 2026)
    for budget, reason in [
        (None, "NO_BUDGET"),
        (Budget(compound_path=COMPOUND, year=2026, state=account_pb2.BUDGET_STATE_DRAFT), "BUDGET_NOT_APPROVED"),
    ]:
        with pytest.raises(FailedPrecondition) as caught:
            accounts.check_budget_approved(budget, COMPOUND, 2026)
        assert reason_of(caught) == reason


def test_a_service_standard_is_met_on_its_side_of_the_target_and_disclosed_when_unrecorded() -> None:
    at_least, at_most = bodies_pb2.STANDARD_DIRECTION_AT_LEAST, bodies_pb2.STANDARD_DIRECTION_AT_MOST
    assert service_levels.met(at_least, 7, 7) and not service_levels.met(at_least, 6, 7)
    assert service_levels.met(at_most, 24, 24) and not service_levels.met(at_most, 25, 24)
    assert service_levels.met(bodies_pb2.STANDARD_DIRECTION_UNSPECIFIED, 8, 7)  # read as AT_LEAST
    standards = [
        {"code": "sweeping", "description": "清扫", "unit": "times per week", "target": 7},
        {"code": "repair_response", "description": "报修", "unit": "hours", "target": 24, "direction": at_most},
    ]
    recorded = ServiceLevel(
        compound_path=COMPOUND,
        period="2026-10",
        code="repair_response",
        description="报修",
        unit="hours",
        target=24,
        direction=at_most,
        measured=30,
        recorded_by="t",
        recorded_at=NOW,
    )
    lines = service_levels.disclosure_lines(standards, {"repair_response": recorded})
    assert [(x["code"], x["measured"], x["met"]) for x in lines] == [
        ("sweeping", None, None),
        ("repair_response", 30, False),
    ]


def test_a_pending_expense_is_decidable_for_thirty_days() -> None:
    accounts.check_decidable(transfer(), NOW + accounts.PENDING_LIFETIME - timedelta(seconds=1))
    with pytest.raises(FailedPrecondition) as caught:
        accounts.check_decidable(transfer(), NOW + accounts.PENDING_LIFETIME)
    assert reason_of(caught) == "APPROVAL_LAPSED"
    with pytest.raises(FailedPrecondition) as caught:
        accounts.check_decidable(transfer(state=account_pb2.TRANSFER_STATE_POSTED), NOW)
    assert reason_of(caught) == "NOT_PENDING"


def test_only_a_posted_transfer_is_reversed_and_only_once() -> None:
    posted = account_pb2.TRANSFER_STATE_POSTED
    accounts.check_reversible(transfer(state=posted))
    for change, reason in [
        ({}, "NOT_POSTED"),
        ({"state": posted, "kind": account_pb2.TRANSFER_KIND_REVERSAL}, "REVERSAL_OF_REVERSAL"),
        ({"state": posted, "reversed_by": "t2"}, "ALREADY_REVERSED"),
    ]:
        with pytest.raises(FailedPrecondition) as caught:
            accounts.check_reversible(transfer(**change))
        assert reason_of(caught) == reason


def test_budget_actuals_net_reversals_per_line() -> None:
    assert accounts.line_actuals(
        [
            ("expense:repairs", accounts.OPERATING, 500),
            ("expense:cleaning", accounts.OPERATING, 200),
            (accounts.OPERATING, "expense:repairs", 500),  # the repairs expense reversed
            (accounts.OPERATING, "income:parking", 900),
        ]
    ) == {"repairs": 0, "cleaning": 200}


# -- votes ------------------------------------------------------------------------------------------


def test_matters_choose_their_art_278_rule() -> None:
    assert votes.rule_for(vote_pb2.VOTE_MATTER_REBUILD) is Rule.SPECIAL
    assert votes.rule_for(vote_pb2.VOTE_MATTER_BUDGET) is Rule.ORDINARY
    with pytest.raises(InvalidArgument) as caught:
        votes.rule_for(vote_pb2.VOTE_MATTER_UNSPECIFIED)
    assert field_of(caught) == "matter"


def test_a_budget_vote_names_a_budget_of_its_own_compound() -> None:
    assert votes.budget_year(COMPOUND, names.budget_name(COMPOUND, 2026)) == 2026
    for subject in (names.budget_name("chengdu/elsewhere", 2026), names.compound_child(COMPOUND, "budgets", "next")):
        with pytest.raises(InvalidArgument) as caught:
            votes.budget_year(COMPOUND, subject)
        assert field_of(caught) == "subject"


def test_a_paper_ballot_is_confirmed_by_another_officer_reading_the_same_choice() -> None:
    entered = Ballot(
        vote_id="v",
        household_path=f"{COMPOUND}/b1/h1",
        choice=vote_pb2.BALLOT_CHOICE_FOR,
        channel=vote_pb2.BALLOT_CHANNEL_PAPER,
        entered_by="first",
        cast_at=NOW,
    )
    assert votes.recount_result(entered, vote_pb2.BALLOT_CHOICE_FOR, "second") is True
    assert votes.recount_result(entered, vote_pb2.BALLOT_CHOICE_AGAINST, "second") is False
    with pytest.raises(FailedPrecondition) as caught:
        votes.recount_result(entered, vote_pb2.BALLOT_CHOICE_FOR, "first")
    assert reason_of(caught) == "SAME_OFFICER"
    entered.confirmed_by = "second"
    with pytest.raises(FailedPrecondition) as caught:
        votes.recount_result(entered, vote_pb2.BALLOT_CHOICE_FOR, "third")
    assert reason_of(caught) == "ALREADY_CONFIRMED"
    for check, value, field in [(votes.check_choice, 0, "choice"), (votes.check_channel, 0, "channel")]:
        with pytest.raises(InvalidArgument) as bad:
            check(value)
        assert field_of(bad) == field


# -- projects ---------------------------------------------------------------------------------------

P = project_pb2.ProjectStatus


def test_a_fund_vote_carries_how_much_and_what_for_and_others_carry_neither() -> None:
    use, approval, other = (
        vote_pb2.VOTE_MATTER_USE_MAINTENANCE_FUND,
        vote_pb2.VOTE_MATTER_SPENDING_APPROVAL,
        vote_pb2.VOTE_MATTER_OTHER,
    )
    assert votes.check_decision(use, 150_000, "  充电棚维修 ") == "充电棚维修"
    assert votes.check_decision(approval, 0, "") == ""
    assert votes.check_decision(other, 0, "") == ""
    for matter, amount, purpose, field in [
        (use, 0, "充电棚维修", "amount_fen"),
        (use, 150_000, " ", "purpose"),
        (use, 10**14, "x", "amount_fen"),
        (other, 1, "", "amount_fen"),
        (vote_pb2.VOTE_MATTER_BUDGET, 0, "x", "purpose"),
    ]:
        with pytest.raises(InvalidArgument) as caught:
            votes.check_decision(matter, amount, purpose)
        assert field_of(caught) == field


def test_the_close_postings_are_not_reversed_so_the_fund_loses_nothing_without_a_vote() -> None:
    for kind in (account_pb2.TRANSFER_KIND_FUND_ALLOCATION, account_pb2.TRANSFER_KIND_REMUNERATION):
        with pytest.raises(FailedPrecondition) as caught:
            accounts.check_reversible(transfer(kind=kind, state=account_pb2.TRANSFER_STATE_POSTED))
        assert reason_of(caught) == "CLOSE_POSTING_NOT_REVERSIBLE"


def test_unconfirmed_paper_ballots_are_kept_apart_from_the_count() -> None:
    """Issue 16 defect 13: two of three ballots typed in from paper and not yet recounted must
    not make the live outcome PASSED; they are shown apart."""
    FOR, AGAINST = vote_pb2.BALLOT_CHOICE_FOR, vote_pb2.BALLOT_CHOICE_AGAINST
    ONLINE, PAPER = vote_pb2.BALLOT_CHANNEL_ONLINE, vote_pb2.BALLOT_CHANNEL_PAPER
    ballots = [
        votes.CastBallot(10_000, FOR, ONLINE, confirmed=False),
        votes.CastBallot(12_000, FOR, PAPER, confirmed=False),
        votes.CastBallot(9_000, AGAINST, PAPER, confirmed=False),
        votes.CastBallot(11_000, FOR, PAPER, confirmed=True),
    ]
    counted, unconfirmed = votes.split_ballots(ballots)
    assert [(b.area_dm2, b.consent) for b in counted] == [(10_000, True), (11_000, True)]
    assert unconfirmed == votes.Unconfirmed(households=2, area_dm2=21_000, for_households=1, for_area_dm2=12_000)
    tally = votes.art278.tally(42_000, 4, counted, Rule.ORDINARY)
    assert tally.participating_households == 2 and tally.outcome.value == "no_quorum"


def test_projects_move_forward_or_are_cancelled_and_spend_nets_reversals() -> None:
    projects.check_transition(P.PROJECT_STATUS_PLANNED, P.PROJECT_STATUS_IN_PROGRESS)
    projects.check_transition(P.PROJECT_STATUS_COMPLETED, P.PROJECT_STATUS_COMPLETED)  # more photos
    for current, target in [
        (P.PROJECT_STATUS_PLANNED, P.PROJECT_STATUS_COMPLETED),
        (P.PROJECT_STATUS_COMPLETED, P.PROJECT_STATUS_PLANNED),
        (P.PROJECT_STATUS_CANCELLED, P.PROJECT_STATUS_IN_PROGRESS),
    ]:
        with pytest.raises(FailedPrecondition) as caught:
            projects.check_transition(current, target)
        assert reason_of(caught) == "PROJECT_STATUS_ORDER"
    for check, field in [(projects.check_kind, "kind"), (projects.check_status, "status")]:
        with pytest.raises(InvalidArgument) as bad:
            check(0)
        assert field_of(bad) == field
    assert projects.spent_by_project(
        [("p", account_pb2.TRANSFER_KIND_EXPENSE, 300), ("p", account_pb2.TRANSFER_KIND_REVERSAL, 300), ("q", 2, 5)]
    ) == {"p": 0, "q": 5}


# -- governance bodies ------------------------------------------------------------------------------

CHAIR, MEMBER = bodies_pb2.COMMITTEE_ROLE_CHAIR, bodies_pb2.COMMITTEE_ROLE_MEMBER


def test_a_committee_has_dates_in_order_and_exactly_one_chair() -> None:
    good = bodies.NewCommittee(
        COMPOUND, "2026-03-01", "2031-02-28", [bodies.Member("张", CHAIR), bodies.Member("李", MEMBER)]
    )
    bodies.validate_committee(good)
    for change, field in [
        ({"formation_date": "2026-3-1"}, "committee.formation_date"),
        ({"term_end_date": "2026-03-01"}, "committee.term_end_date"),
        ({"members": []}, "committee.members"),
        ({"members": [bodies.Member("李", MEMBER)]}, "committee.members"),
        ({"members": [bodies.Member("张", CHAIR), bodies.Member("张", 9)]}, "committee.members[1].role"),
        ({"members": [bodies.Member("张", CHAIR, "chengdu/elsewhere/h1")]}, "committee.members[0].household_path"),
    ]:
        with pytest.raises(InvalidArgument) as caught:
            bodies.validate_committee(bodies.NewCommittee(**{**good.__dict__, **change}))  # type: ignore[arg-type]
        assert field_of(caught) == field


def test_a_contract_pays_either_fixed_or_a_share_and_its_standards_are_unique() -> None:
    base = dict(compound_path=COMPOUND, trustee_name="物业", start_date="2026-01-01", end_date="2028-12-31")
    bodies.validate_contract(bodies.NewContract(**base, fixed_fen=80_000))  # type: ignore[arg-type]
    sweep = bodies.Standard("sweeping", "每日清扫", "times per week", 7)
    for change, field in [
        ({}, "contract.remuneration"),
        ({"fixed_fen": 1, "income_share_bp": 1}, "contract.remuneration"),
        ({"fixed_fen": -1}, "contract.remuneration.fixed_fen"),
        ({"income_share_bp": 10_001}, "contract.remuneration.income_share_basis_points"),
        ({"fixed_fen": 1, "cap_fen": -1}, "contract.remuneration.cap_fen"),
        ({"fixed_fen": 1, "end_date": "2025-12-31"}, "contract.end_date"),
        ({"fixed_fen": 1, "standards": [sweep, sweep]}, "contract.service_standards[1].code"),
        ({"fixed_fen": 1, "standards": [bodies.Standard("x", "d", "u", 0)]}, "contract.service_standards[0].target"),
    ]:
        with pytest.raises(InvalidArgument) as caught:
            bodies.validate_contract(bodies.NewContract(**{**base, **change}))  # type: ignore[arg-type]
        assert field_of(caught) == field


def test_a_three_party_meeting_needs_all_three_parties_and_a_decision() -> None:
    parties = [bodies.Attendee(f"p{p}", p) for p in sorted(bodies.MEETING_PARTIES)]
    bodies.validate_meeting(bodies.NewMeeting("2026-10-12", parties, [], ["决定"]))
    for meeting, field in [
        (bodies.NewMeeting("2026-10-12", parties[:2], [], ["决定"]), "attendees"),
        (bodies.NewMeeting("2026-10-12", parties, [], []), "decisions"),
        (bodies.NewMeeting("12/10/2026", parties, [], ["决定"]), "date"),
        (bodies.NewMeeting("2026-10-12", [*parties, bodies.Attendee("x", 0)], [], ["d"]), "attendees[3].party"),
    ]:
        with pytest.raises(InvalidArgument) as caught:
            bodies.validate_meeting(meeting)
        assert field_of(caught) == field


# -- disclosures ------------------------------------------------------------------------------------


def test_the_fund_takes_its_share_of_a_surplus_only_and_never_more_than_is_there() -> None:
    figures = {"income_fen": 1_000_000, "expense_fen": 400_000}
    assert disclosures.surplus_share(figures, 3_000, available=1_000_000) == 180_000
    assert disclosures.surplus_share(figures, 3_000, available=100_000) == 100_000
    assert disclosures.surplus_share({"income_fen": 1, "expense_fen": 5}, 3_000, available=10) == 0


def test_a_chain_link_names_what_broke() -> None:
    figures = disclosures.ledger_figures([], 0, 0)
    body = canonical_json(figures)
    row = Disclosure(
        name="d",
        compound_path=COMPOUND,
        period="2026-10",
        period_start=NOW,
        period_end=NOW,
        body=body,
        seal_hash=seal(GENESIS, body),
        previous_seal_hash=GENESIS,
        published_at=NOW,
    )
    assert disclosures.check_chain_link(row, GENESIS, figures) == ""
    assert disclosures.check_chain_link(row, "1" * 64, figures).startswith("chain_mismatch")
    assert disclosures.check_chain_link(row, GENESIS, {**figures, "income_fen": 1}).startswith("ledger_mismatch")
    row.body = canonical_json({**figures, "income_fen": 1})
    assert disclosures.check_chain_link(row, GENESIS, figures).startswith("seal_mismatch")


# -- votes and bodies (issue 14 item 4) ------------------------------------------------------------


def test_a_preparatory_group_is_led_by_the_street_office_and_half_owners() -> None:
    from linli_governance import formation

    P = bodies_pb2.PreparatoryParty
    street = formation.GroupMember("街道办", P.PREPARATORY_PARTY_STREET_OFFICE)
    owner = formation.GroupMember("业主", P.PREPARATORY_PARTY_OWNER, f"{COMPOUND}/b1/h1")
    community = formation.GroupMember("社区", P.PREPARATORY_PARTY_COMMUNITY)
    formation.validate_group(COMPOUND, [street, owner])
    for group, field in [
        ([owner, community], "preparatory_group"),  # nobody from the street office
        ([street, community, owner], "preparatory_group"),  # owners fewer than half
        ([street, formation.GroupMember("业主", P.PREPARATORY_PARTY_OWNER, "elsewhere/h1")], "preparatory_group[1]"),
    ]:
        with pytest.raises(InvalidArgument) as caught:
            formation.validate_group(COMPOUND, group)
        assert field_of(caught).startswith(field)


def test_candidates_are_an_odd_five_to_eleven_owners_with_one_chair() -> None:
    from linli_governance import formation

    def slate(n: int, chairs: int = 1) -> list[bodies.Member]:
        return [
            bodies.Member(
                f"c{i}",
                bodies_pb2.COMMITTEE_ROLE_CHAIR if i < chairs else bodies_pb2.COMMITTEE_ROLE_MEMBER,
                f"{COMPOUND}/b1/h{i}",
            )
            for i in range(n)
        ]

    formation.validate_candidates(COMPOUND, slate(5))
    formation.validate_candidates(COMPOUND, slate(11))
    for candidates in (slate(4), slate(6), slate(13), slate(5, chairs=2)):
        with pytest.raises(InvalidArgument) as caught:
            formation.validate_candidates(COMPOUND, candidates)
        assert field_of(caught) == "candidates"
    assert formation.first_term_end("2026-11-09") == "2031-11-08"
    assert formation.first_term_end("2028-02-29") == "2033-02-27"


def test_a_membership_change_ends_who_leaves_and_starts_who_joins() -> None:
    from linli_governance.tables import CommitteeMembership

    def on(name: str, role: int) -> CommitteeMembership:
        return CommitteeMembership(term_id="t", display_name=name, role=role, start_date="2026-03-01", seq=len(name))

    chair, member = bodies_pb2.COMMITTEE_ROLE_CHAIR, bodies_pb2.COMMITTEE_ROLE_MEMBER
    ending, starting = bodies.membership_changes(
        [on("张", chair), on("李", member)], [bodies.Member("张", member), bodies.Member("王", chair)]
    )
    assert [m.display_name for m in ending] == ["张", "李"]  # 张 changes role: that membership ends
    assert [m.display_name for m in starting] == ["张", "王"]


def test_an_objection_closes_once_answered_or_withdrawn_by_its_household() -> None:
    from linli_governance.tables import Objection

    def objection(state: int) -> Objection:
        return Objection(
            objection_id="o",
            disclosure="d",
            kind=1,
            account="",
            text="?",
            household_path=f"{COMPOUND}/b1/h1",
            created_at=NOW,
            deadline=NOW,
            state=state,
        )

    res = disclosure_pb2.ObjectionResolution
    opened, answered = disclosure_pb2.OBJECTION_STATE_OPEN, disclosure_pb2.OBJECTION_STATE_ANSWERED
    disclosures.check_closable(objection(answered), res.OBJECTION_RESOLUTION_DISMISSED, "")
    disclosures.check_closable(objection(opened), res.OBJECTION_RESOLUTION_WITHDRAWN, f"{COMPOUND}/b1/h1")
    for state, resolution, household, reason in [
        (opened, res.OBJECTION_RESOLUTION_ACCEPTED, "", "ANSWER_FIRST"),
        (opened, res.OBJECTION_RESOLUTION_WITHDRAWN, f"{COMPOUND}/b1/h2", "NOT_THE_FILER"),
        (disclosure_pb2.OBJECTION_STATE_CLOSED, res.OBJECTION_RESOLUTION_DISMISSED, "", "OBJECTION_CLOSED"),
    ]:
        with pytest.raises(FailedPrecondition) as caught:
            disclosures.check_closable(objection(state), resolution, household)
        assert reason_of(caught) == reason
