"""When a provider's current opening began: the unit a suggestion is made once per (issue 16, defect 9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from linli_notification.roster import ALWAYS_OPEN, ProviderHours, opening_start

CN = 480
RESTAURANT = ProviderHours("restaurant", "邻家小馆", "", 1, [(d, 10 * 60, 21 * 60) for d in range(1, 8)])
SPLIT = ProviderHours("split", "午晚市", "", 0, [(1, 10 * 60, 14 * 60), (1, 14 * 60, 20 * 60),
                                                 (2, 11 * 60, 13 * 60), (2, 17 * 60, 20 * 60)])
NIGHT = ProviderHours("night", "夜宵", "", 0, [(5, 20 * 60, 24 * 60), (6, 0, 2 * 60)])
ROUND_THE_CLOCK = ProviderHours("24x7", "药店", "", 0, [(d, 0, 24 * 60) for d in range(1, 8)])


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Local (UTC+8) time on November `day`, 2026 (the 9th is a Monday), as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=timezone(timedelta(hours=8))).astimezone(UTC)


def test_an_opening_begins_at_its_opening_time_and_is_none_while_closed() -> None:
    assert opening_start(RESTAURANT, at(9, 9, 59), CN) is None
    assert opening_start(RESTAURANT, at(9, 10), CN) == at(9, 10)
    assert opening_start(RESTAURANT, at(9, 20, 59), CN) == at(9, 10)
    assert opening_start(RESTAURANT, at(10, 10, 30), CN) == at(10, 10), "the next day is another opening"


def test_back_to_back_hours_are_one_opening_and_a_break_starts_another() -> None:
    assert opening_start(SPLIT, at(9, 15), CN) == at(9, 10), "Monday 10–14 and 14–20 run on"
    assert opening_start(SPLIT, at(10, 18), CN) == at(10, 17), "Tuesday closes 13–17"


def test_an_opening_past_midnight_began_the_evening_before() -> None:
    assert opening_start(NIGHT, at(14, 1), CN) == at(13, 20), "Saturday 01:00 is Friday night's opening"


def test_always_open_is_one_opening() -> None:
    assert opening_start(ProviderHours("a", "a", "", 0, []), at(9, 3), CN) == ALWAYS_OPEN
    assert opening_start(ROUND_THE_CLOCK, at(9, 3), CN) == ALWAYS_OPEN
