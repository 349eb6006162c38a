"""The `--json` documents are a contract for scripts: their keys are pinned here, built from
the services' messages, so renaming a key is a deliberate change to this test."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from linli.events.v1 import points_pb2 as events
from linli.governance.v1 import disclosure_pb2, org_pb2, rollout_pb2
from linli.notification.v1 import notification_pb2 as help_pb
from linli.points.v1 import awards_pb2
from linli_cli.awards import award_dict, ranked
from linli_cli.compound import disclosure_dict
from linli_cli.help_requests import request_dict
from linli_cli.org import counts, unit_dict
from linli_cli.output import when


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


def test_a_help_request_speaks_in_lowercase_words_and_iso_times() -> None:
    created = Timestamp(seconds=1_794_000_000)
    d = request_dict(help_pb.HelpRequest(
        name="communities/c/helpRequests/h-1", status=help_pb.STATUS_ACKNOWLEDGED, urgency=help_pb.URGENCY_HIGH,
        reporter_role=help_pb.REPORTER_ROLE_CANTEEN_STAFF, category="meal", create_time=created,
        follow_ups=[help_pb.FollowUp(name="communities/c/helpRequests/h-1/followUps/1", day_offset=1)]))
    assert (d["status"], d["urgency"], d["reporter_role"]) == ("acknowledged", "high", "canteen_staff")
    assert d["create_time"] == when(created) and d["create_time"].endswith("Z")
    assert d["follow_ups"] == [{"name": "communities/c/helpRequests/h-1/followUps/1", "day_offset": 1,
                                "due_time": None, "done": False}]


def test_awards_and_grouped_rankings_share_ranks_on_ties() -> None:
    assert award_dict(awards_pb2.Award(volunteer_id="v-1", display_name="甲", tier=events.AWARD_TIER_GOLD, rank=1,
                                       points_earned=30)) == {
        "rank": 1, "tier": "gold", "volunteer_id": "v-1", "display_name": "甲", "points_earned": 30}
    rows = ranked({"f-1": ("王家", 50), "f-2": ("李家", 70), "f-3": ("张家", 50), "f-4": ("赵家", 10), "f-5": ("", 0)})
    assert [(r["rank"], r["id"]) for r in rows] == [(1, "f-2"), (2, "f-1"), (2, "f-3"), (4, "f-4")]
