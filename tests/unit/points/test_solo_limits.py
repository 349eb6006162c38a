"""What one worker may credit alone (solo_limits) as a table: a credit that would pass the daily
or the monthly limit is held whole, and 0 holds everything; held activity credits get an
adjustment id of their own."""

from __future__ import annotations

import pytest
from linli_points.activities import held_credit_id
from linli_points.solo_limits import Limits, breach


@pytest.mark.parametrize(("limits", "today", "month", "points", "held_by"), [
    (Limits(200, 1000), 0, 0, 80, ""),
    (Limits(200, 1000), 120, 120, 80, ""),  # exactly the daily limit: still alone
    (Limits(200, 1000), 160, 160, 80, "daily"),  # held whole, not cut to 40
    (Limits(200, 1000), 0, 950, 80, "monthly"),
    (Limits(200, 1000), 190, 990, 80, "daily"),  # the daily limit is named first
    (Limits(0, 0), 0, 0, 1, "daily"),  # 0: every credit needs a second account
])
def test_a_credit_past_a_limit_is_held_whole(limits: Limits, today: int, month: int, points: int,
                                             held_by: str) -> None:
    why = breach(limits, credited_today=today, credited_this_month=month, points=points, who="acct-zhao")
    if not held_by:
        assert why == ""
    else:
        assert why.startswith("acct-zhao has credited") and f"a {held_by} limit" in why


def test_a_held_activity_credit_has_an_adjustment_id_of_its_own() -> None:
    first, second = held_credit_id("clean-up-1", "v-wan"), held_credit_id("clean-up-1", "v-li")
    assert first != second and first == held_credit_id("clean-up-1", "v-wan")
    assert first.startswith("activity-credit:") and len(first) <= 64 and "/" not in first
