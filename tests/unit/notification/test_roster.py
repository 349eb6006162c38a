"""Who is on duty, which providers are open, quiet hours: pure rules, in memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from linli_notification.notices import Prefs
from linli_notification.roster import (
    OnDuty,
    ProviderHours,
    Shift,
    Swap,
    is_open,
    on_duty,
    open_alternatives,
    standing,
)

CN = 480  # UTC+8
CHENGDU = timezone(timedelta(minutes=CN))


def at(local_day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in November 2026 given in Chengdu local time (7 Nov is a Saturday)."""
    return datetime(2026, 11, local_day, hour, minute, tzinfo=CHENGDU)

WEEK = [
    *[Shift(f"wd{d}", d, None, 8 * 60 + 30, 17 * 60 + 30, "li", "chen") for d in range(1, 6)],
    Shift("sat", 6, None, 0, 24 * 60, "zhao", "sun"),
    Shift("sun", 7, None, 0, 24 * 60, "sun", "zhao"),
]


@pytest.mark.parametrize("day, hour, expected", [
    (7, 11, OnDuty("sat", "zhao", "sun")),  # Saturday
    (7, 23, OnDuty("sat", "zhao", "sun")),
    (8, 0, OnDuty("sun", "sun", "zhao")),  # Sunday just after midnight local
    (9, 9, OnDuty("wd1", "li", "chen")),  # Monday morning
    (9, 8, None),  # before the weekday shift
    (9, 17, OnDuty("wd1", "li", "chen")),
    (13, 18, None),  # Friday evening: nobody rostered
])
def test_the_shift_covering_the_local_time(day: int, hour: int, expected: OnDuty | None) -> None:
    assert on_duty(WEEK, [], at(day, hour), CN) == expected


def test_utc_day_boundary_uses_local_time() -> None:
    # 2026-11-06 20:00 UTC is Saturday 04:00 in Chengdu.
    assert on_duty(WEEK, [], datetime(2026, 11, 6, 20, tzinfo=UTC), CN) == OnDuty("sat", "zhao", "sun")


def test_dated_shifts_replace_the_weekday_roster_on_their_date() -> None:
    holiday = [*WEEK, Shift("h1", 0, "2026-11-09", 10 * 60, 16 * 60, "he", "")]
    assert on_duty(holiday, [], at(9, 11), CN) == OnDuty("h1", "he", "")
    assert on_duty(holiday, [], at(9, 9), CN) is None, "the weekday shift does not apply on the holiday"
    assert on_duty(holiday, [], at(10, 9), CN) == OnDuty("wd2", "li", "chen")


def test_the_later_starting_of_overlapping_shifts_wins() -> None:
    shifts = [*WEEK, Shift("sat-evening", 6, None, 18 * 60, 22 * 60, "wu", "zhao")]
    assert on_duty(shifts, [], at(7, 19), CN) == OnDuty("sat-evening", "wu", "zhao")
    assert on_duty(shifts, [], at(7, 17), CN) == OnDuty("sat", "zhao", "sun")


def test_swaps_replace_worker_or_backup_on_their_date_only() -> None:
    swaps = [Swap("2026-11-07", "zhao", "li"), Swap("2026-11-08", "zhao", "chen")]
    assert on_duty(WEEK, swaps, at(7, 11), CN) == OnDuty("sat", "li", "sun")
    assert on_duty(WEEK, swaps, at(8, 11), CN) == OnDuty("sun", "sun", "chen"), "the backup swapped"
    assert on_duty(WEEK, swaps, at(14, 11), CN) == OnDuty("sat", "zhao", "sun"), "next Saturday as usual"
    assert on_duty(WEEK, [Swap("2026-11-07", "zhao", "sun")], at(7, 11), CN) == OnDuty("sat", "sun", ""), (
        "nobody backs themselves up")


CANTEEN = ProviderHours("canteen", "枫香小厨", "", 0, [(d, 10 * 60 + 30, 19 * 60) for d in range(1, 6)])
RESTAURANT = ProviderHours("restaurant", "邻家小馆", "", 1, [(d, 10 * 60, 21 * 60) for d in range(1, 8)])
ALWAYS = ProviderHours("always", "24h", "", 5, [])


def test_a_closed_canteen_is_skipped_and_an_open_restaurant_suggested() -> None:
    assert [p.id for p in open_alternatives([RESTAURANT, CANTEEN, ALWAYS], at(7, 11), CN)] == ["restaurant", "always"]
    assert [p.id for p in open_alternatives([RESTAURANT, CANTEEN], at(9, 11), CN)] == ["canteen", "restaurant"]
    assert [p.id for p in open_alternatives([RESTAURANT, CANTEEN], at(9, 22), CN)] == []
    assert not is_open(CANTEEN, at(9, 19), CN), "closing time is exclusive"


@pytest.mark.parametrize("start, end, hour, minute, until_local_hour", [
    (22 * 60, 7 * 60, 23, 0, 7),  # wraps midnight
    (22 * 60, 7 * 60, 3, 0, 7),
    (22 * 60, 7 * 60, 12, 0, None),
    (13 * 60, 14 * 60, 13, 30, 14),  # a nap
    (None, None, 23, 0, None),
])
def test_quiet_hours(start: int | None, end: int | None, hour: int, minute: int,
                     until_local_hour: int | None) -> None:
    prefs = Prefs("p", quiet_start=start, quiet_end=end)
    until = prefs.quiet_until(at(7, hour, minute))
    if until_local_hour is None:
        assert until is None
    else:
        assert until is not None and (until.hour + 8) % 24 == until_local_hour and until > at(7, hour, minute)


def test_someone_no_longer_a_worker_is_passed_over_for_the_backup_then_the_head() -> None:
    """A revoked grant takes a person off duty at once, whatever the roster says (issue 12)."""
    duty = OnDuty("s-1", "acc_zhao", "acc_sun")
    assert standing(duty, {"acc_zhao", "acc_sun"}) == duty
    assert standing(duty, {"acc_sun"}) == OnDuty("s-1", "acc_sun", "")
    assert standing(duty, {"acc_zhao"}) == OnDuty("s-1", "acc_zhao", "")
    assert standing(duty, set()) is None
    assert standing(OnDuty("s-1", "acc_zhao", ""), {"acc_sun"}) is None
