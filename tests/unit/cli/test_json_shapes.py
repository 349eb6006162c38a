"""The `--json` documents are a contract for scripts: their keys are pinned here, built from
the services' messages, so renaming a key is a deliberate change to this test."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from linli.events.v1 import points_pb2 as events
from linli.governance.v1 import disclosure_pb2, org_pb2, rollout_pb2, vote_pb2
from linli.notification.v1 import notification_pb2 as help_pb
from linli.points.v1 import adjustments_pb2, awards_pb2
from linli.redemption.v1 import resources_pb2
from linli_cli.adjustments import adjustment_dict
from linli_cli.awards import award_dict, ranked
from linli_cli.compound import disclosure_dict
from linli_cli.duty import shift_dict
from linli_cli.help_requests import request_dict
from linli_cli.org import counts, unit_dict
from linli_cli.output import when
from linli_cli.redemptions import redemption_dict
from linli_cli.votes import vote_dict


def test_org_units_name_their_kind_and_compound_type_in_words() -> None:
    compound = org_pb2.OrgUnit(path="chengdu/chongzhou/x/y/z", kind=org_pb2.ORG_UNIT_KIND_COMPOUND,
                               display_name="生建小区", compound_type=org_pb2.COMPOUND_TYPE_RESETTLEMENT)
    assert unit_dict(compound) == {"path": "chengdu/chongzhou/x/y/z", "kind": "compound", "display_name": "生建小区",
                                   "display_name_en": "", "compound_type": "resettlement"}
    assert "compound_type" not in unit_dict(org_pb2.OrgUnit(path="chengdu", kind=org_pb2.ORG_UNIT_KIND_CITY))
    assert counts([rollout_pb2.StageCount(stage=rollout_pb2.ROLLOUT_STAGE_ADOPTED, count=14)]) == {"adopted": 14}


def test_a_disclosure_keeps_its_figures_in_fen_and_its_seals() -> None:
    d = disclosure_dict(disclosure_pb2.Disclosure(
        name="compounds/a/disclosures/2026-10", period="2026-10", income_fen=100, expense_fen=40, surplus_fen=60,
        seal_hash="ab" * 32, income=[disclosure_pb2.DisclosureLine(account="income:parking", amount_fen=100)],
        expenses=[disclosure_pb2.DisclosureLine(account="expense:cleaning", amount_fen=40, budget_fen=1000,
                                                year_actual_fen=400)]))
    assert set(d) == {"name", "period", "income_fen", "expense_fen", "surplus_fen", "to_maintenance_fund_fen",
                      "operating_balance_fen", "maintenance_fund_balance_fen", "pending_fen", "transfer_count",
                      "seal_hash", "previous_seal_hash", "publish_time", "income", "expenses"}
    assert d["publish_time"] is None  # unset timestamps are null, not 1970
    assert d["expenses"] == [{"account": "expense:cleaning", "amount_fen": 40, "budget_fen": 1000,
                              "year_actual_fen": 400}]


def test_a_help_request_speaks_in_lowercase_words_and_china_times() -> None:
    created = Timestamp(seconds=1_794_000_000)  # 2026-11-06T21:20:00Z
    thanks = help_pb.Thanks(kind="banner", text="排忧解难办实事", recipient_ids=["worker-zhao"])
    setattr(thanks, "from", "万阿姨")
    d = request_dict(help_pb.HelpRequest(
        name="communities/c/helpRequests/h-1", status=help_pb.STATUS_ACKNOWLEDGED, urgency=help_pb.URGENCY_HIGH,
        reporter_role=help_pb.REPORTER_ROLE_CANTEEN_STAFF, category="meal", create_time=created,
        on_behalf_of="万阿姨", contact="138-0000-0000", compound_path="c/x", thanks=[thanks],
        history=[help_pb.StatusChange(to_status=help_pb.STATUS_SUBMITTED, actor_id="canteen", change_time=created)],
        follow_ups=[help_pb.FollowUp(name="communities/c/helpRequests/h-1/followUps/1", day_offset=1)]))
    assert set(d) == {"name", "id", "community_path", "compound_path", "status", "category", "urgency",
                      "description", "reporter_id", "reporter_role", "on_behalf_of", "contact", "assignee_id",
                      "escalation_level", "acknowledge_by", "create_time", "update_time", "resolution",
                      "helper_ids", "suggestions", "follow_ups", "thanks", "history"}
    assert (d["id"], d["status"], d["urgency"], d["reporter_role"]) == ("h-1", "acknowledged", "high",
                                                                         "canteen_staff")
    assert (d["on_behalf_of"], d["contact"], d["compound_path"]) == ("万阿姨", "138-0000-0000", "c/x")
    assert d["create_time"] == when(created) == "2026-11-07T05:20:00+08:00"
    assert d["follow_ups"] == [{"name": "communities/c/helpRequests/h-1/followUps/1", "day_offset": 1,
                                "due_time": None, "assignee_id": "", "done": False, "done_by": "",
                                "done_time": None, "note": "", "early_reason": ""}]
    assert d["thanks"] == [{"kind": "banner", "text": "排忧解难办实事", "from": "万阿姨",
                            "recipient_ids": ["worker-zhao"], "record_time": None, "recorded_by": ""}]
    assert d["history"] == [{"from_status": None, "to_status": "submitted", "actor_id": "canteen",
                             "change_time": "2026-11-07T05:20:00+08:00", "note": "", "escalation_level": 0,
                             "assignee_id": ""}]


def test_a_vote_keeps_its_tally_and_unconfirmed_paper_ballots_apart() -> None:
    v = vote_pb2.Vote(name="compounds/a~b~c~d~e/votes/" + "7f" * 16, compound_path="a/b/c/d/e", title="电动车棚",
                      matter=vote_pb2.VOTE_MATTER_CHANGE_COMMON_USE, close_time=Timestamp(seconds=1_794_000_000),
                      outcome=vote_pb2.VOTE_OUTCOME_OPEN, unconfirmed_paper_ballots=2,
                      tally=vote_pb2.Tally(electorate_households=12, participating_households=8,
                                           outcome=vote_pb2.VOTE_OUTCOME_PASSED))
    d = vote_dict(v)
    assert set(d) == {"name", "id", "compound_path", "title", "matter", "subject", "create_time", "close_time",
                      "closed", "outcome", "unconfirmed_paper_ballots", "tally"}
    assert (d["id"], d["matter"], d["outcome"], d["unconfirmed_paper_ballots"]) == (
        "7f" * 16, "change_common_use", "open", 2)
    assert d["close_time"] == "2026-11-07T05:20:00+08:00" and d["create_time"] is None
    assert d["tally"] == {"electorate_area_dm2": 0, "electorate_households": 12, "participating_area_dm2": 0,
                          "participating_households": 8, "for_area_dm2": 0, "for_households": 0,
                          "quorum_by_area": False, "quorum_by_households": False, "approved_by_area": False,
                          "approved_by_households": False, "outcome_if_closed_now": "passed"}


def test_adjustments_redemptions_and_duty_shifts_keep_their_keys() -> None:
    a = adjustment_dict(adjustments_pb2.Adjustment(
        community_path="c", adjustment_id="adj-1", volunteer_id="v-1", points=-5, reason="typo",
        state=adjustments_pb2.ADJUSTMENT_STATE_PROPOSED, proposed_by="w-1", propose_time=Timestamp(seconds=1)))
    assert a == {"community_path": "c", "adjustment_id": "adj-1", "volunteer_id": "v-1", "points": -5,
                 "reason": "typo", "state": "proposed", "proposed_by": "w-1", "decided_by": "", "transfer_id": "",
                 "propose_time": "1970-01-01T08:00:01+08:00", "decide_time": None}
    r = redemption_dict(resources_pb2.Redemption(name="merchants/m/redemptions/r", redemption_id="r",
                                                 state=resources_pb2.REDEMPTION_STATE_PENDING, points=10))
    assert set(r) == {"name", "redemption_id", "merchant_id", "terminal_id", "request_id", "reward_id",
                      "reward_name", "quantity", "points", "state", "masked_member", "refunded_points",
                      "void_reason", "transfer_id", "create_time", "commit_time"}
    assert (r["state"], r["points"], r["commit_time"]) == ("pending", 10, None)
    s = shift_dict(help_pb.DutyShift(name="communities/c/dutyShifts/s-1", weekday=6, start_time="00:00",
                                     end_time="24:00", worker_id="worker-zhao", backup_id="worker-sun"))
    assert s == {"name": "communities/c/dutyShifts/s-1", "id": "s-1", "weekday": 6, "date": "",
                 "start_time": "00:00", "end_time": "24:00", "worker_id": "worker-zhao", "backup_id": "worker-sun",
                 "note": ""}


def test_awards_and_grouped_rankings_share_ranks_on_ties() -> None:
    assert award_dict(awards_pb2.Award(volunteer_id="v-1", display_name="甲", tier=events.AWARD_TIER_GOLD, rank=1,
                                       points_earned=30)) == {
        "rank": 1, "tier": "gold", "volunteer_id": "v-1", "display_name": "甲", "points_earned": 30}
    rows = ranked({"f-1": ("王家", 50), "f-2": ("李家", 70), "f-3": ("张家", 50), "f-4": ("赵家", 10), "f-5": ("", 0)})
    assert [(r["rank"], r["id"]) for r in rows] == [(1, "f-2"), (2, "f-1"), (2, "f-3"), (4, "f-4")]
