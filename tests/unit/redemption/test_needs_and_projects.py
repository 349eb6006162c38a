"""The pure rules of the needs, resources and projects lists (issue 14, item 7): the unit on duty
when a need came in, how resources are ranked for a need and why, which changes of a
project's state are allowed and what they do to its need, and the checks on new fields."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from linli_redemption.community import check_receive_time, check_weekdays, check_window
from linli_redemption.duty import unit_on_duty
from linli_redemption.matching import Candidate, NeedFacts, places_above, rank
from linli_redemption.projects import (
    CANCELLED,
    DONE,
    IN_PROGRESS,
    OPEN,
    check_project_resources,
    check_transition,
    need_state_after,
)
from linli_redemption.tables import DutyRotation, DutySwap, Resource

from linli_runtime.errors import FailedPrecondition, InvalidArgument

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
STREET = "chengdu/jinjiang/chenglonglu"
SATURDAY = date(2026, 11, 7)
T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def rotation() -> DutyRotation:
    return DutyRotation(community_path="c", partner_ids="u1,u2,u3", start_date="2026-11-02", period_days=7,
                        version="v")


def test_a_need_is_recorded_against_the_unit_on_duty_the_day_it_came_in() -> None:
    assert unit_on_duty(rotation(), [], date(2026, 11, 2)) == "u1"
    assert unit_on_duty(rotation(), [], date(2026, 11, 8)) == "u1"  # the period's last day
    assert unit_on_duty(rotation(), [], date(2026, 11, 9)) == "u2"
    assert unit_on_duty(rotation(), [], date(2026, 11, 23)) == "u1"  # the turn comes round again
    swap = DutySwap(community_path="c", version="v", request_id="s", first_index=1, second_index=2)
    assert unit_on_duty(rotation(), [swap], date(2026, 11, 9)) == "u3"
    assert unit_on_duty(rotation(), [], date(2026, 11, 1)) is None  # before the rotation began


def resource(rid: str, **changes: Any) -> Resource:
    values: dict[str, Any] = dict(id=rid, community_path=FENGSHU, title=rid, partner_id=f"p-{rid}",
                                  category="elderly-meals", create_time=T0)
    values.update(changes)
    return Resource(**values)


def need(**changes: Any) -> NeedFacts:
    values: dict[str, Any] = dict(community_path=FENGSHU, category="elderly-meals", day=SATURDAY,
                                  duty_partner_id="")
    values.update(changes)
    return NeedFacts(**values)


def codes(suggestion: Any) -> list[str]:
    return [r.code for r in suggestion.reasons]


def test_only_resources_of_the_need_s_category_are_suggested() -> None:
    ranked = rank(need(), [Candidate(resource("a", category="haircuts"), True, 0), Candidate(resource("b"), True, 0)],
                  10)
    assert [s.resource.id for s in ranked] == ["b"]
    assert codes(ranked[0])[0] == "CATEGORY_MATCH" and ranked[0].reasons[0].text == "类别相符：elderly-meals"


def test_available_resources_rank_first_and_each_reason_says_why() -> None:
    candidates = [
        Candidate(resource("suspended"), partner_active=False, live_projects=0),
        Candidate(resource("later", available_from="2026-12-01"), True, 0),
        Candidate(resource("over", available_until="2026-10-31"), True, 0),
        Candidate(resource("full", capacity=2), True, 2),
        Candidate(resource("weekdays", weekdays="1,2,3,4,5", capacity=2), True, 1),
        Candidate(resource("weekend", weekdays="6,7", partner_id="u-duty"), True, 0),
        Candidate(resource("street", community_path=STREET), True, 0),
    ]
    ranked = rank(need(duty_partner_id="u-duty"), candidates, 10)
    assert [(s.resource.id, s.available) for s in ranked[:3]] == [("weekend", True), ("street", True),
                                                                   ("weekdays", True)]
    assert all(not s.available for s in ranked[3:])
    weekend, street, weekdays = ranked[:3]
    assert codes(weekend) == ["CATEGORY_MATCH", "AVAILABLE", "SAME_COMMUNITY", "ON_DUTY_UNIT", "NO_CAPACITY_LIMIT",
                              "SERVES_THAT_DAY"]
    assert weekend.score == 100 + 20 + 5 + 5 + 10
    assert codes(weekdays)[-1] == "NOT_THAT_DAY" and "周六不提供服务" in [r.text for r in weekdays.reasons]
    assert "CAPACITY_LEFT" in codes(weekdays) and weekdays.score == 100 + 20 + 1
    assert "FROM_ABOVE" in codes(street) and street.score == 100 + 10 + 5 + 10  # serving on Saturdays counts
    against = {s.resource.id: [r.code for r in s.reasons if r.against] for s in ranked[3:]}
    assert against == {"suspended": ["PARTNER_SUSPENDED"], "later": ["NOT_YET_AVAILABLE"],
                       "over": ["NO_LONGER_AVAILABLE"], "full": ["FULLY_COMMITTED"]}
    assert all(r.text and r.text_en for s in ranked for r in s.reasons)


def test_ties_go_to_the_resource_offered_first_and_the_list_is_cut_at_the_limit() -> None:
    candidates = [Candidate(resource(f"r{i}", create_time=T0 - timedelta(days=i)), True, 0) for i in range(5)]
    assert [s.resource.id for s in rank(need(), candidates, 3)] == ["r4", "r3", "r2"]
    assert rank(need(), [], 3) == []


def test_a_resource_may_be_offered_in_the_community_or_any_place_above_it() -> None:
    assert places_above(FENGSHU) == [FENGSHU, STREET, "chengdu/jinjiang", "chengdu"]


def test_a_project_moves_open_to_in_progress_to_done_or_is_cancelled_before_the_end() -> None:
    for current, target in [(OPEN, IN_PROGRESS), (OPEN, CANCELLED), (IN_PROGRESS, DONE), (IN_PROGRESS, CANCELLED)]:
        check_transition(current, target)
    for current, target in [(OPEN, DONE), (IN_PROGRESS, OPEN), (IN_PROGRESS, IN_PROGRESS), (DONE, CANCELLED),
                            (CANCELLED, IN_PROGRESS), (DONE, DONE)]:
        with pytest.raises(FailedPrecondition) as refused:
            check_transition(current, target)
        assert refused.value.reason == "PROJECT_STATE_CHANGE_NOT_ALLOWED"
        assert refused.value.metadata == {"state": current, "target": target}


def test_what_a_project_s_end_does_to_its_need() -> None:
    assert need_state_after(DONE, 0) == "met"
    assert need_state_after(CANCELLED, 0) == "open"
    assert need_state_after(CANCELLED, 1) == "matched"  # another live project still has it
    assert need_state_after(IN_PROGRESS, 0) is None


def test_new_fields_are_checked() -> None:
    now = datetime(2026, 11, 7, 9, 0, tzinfo=UTC)
    assert check_receive_time(now - timedelta(days=366), now) == now - timedelta(days=366)
    assert check_receive_time(now + timedelta(minutes=4), now)  # a clock a little ahead
    for bad in (now + timedelta(minutes=6), now - timedelta(days=367)):
        with pytest.raises(InvalidArgument) as refused:
            check_receive_time(bad, now)
        assert [v.field for v in refused.value.violations] == ["receive_time"]
    assert check_weekdays([6, 1]) == (1, 6) and check_weekdays([]) == ()
    for days in ([0], [8], [1, 1], [-1]):
        with pytest.raises(InvalidArgument):
            check_weekdays(days)
    check_window(date(2026, 1, 1), date(2026, 1, 1))
    with pytest.raises(InvalidArgument) as backwards:
        check_window(date(2026, 1, 2), date(2026, 1, 1))
    assert [v.field for v in backwards.value.violations] == ["available_until"]
    for ids in ([], ["a", "a"], [f"r{i}" for i in range(21)]):
        with pytest.raises(InvalidArgument):
            check_project_resources(ids)
