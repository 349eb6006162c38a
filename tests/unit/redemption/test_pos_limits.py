"""The POS abuse limits as rules (pos_limits): fixed windows, lockouts, and the bound on what
guessing a member code can win — computed from the limits, and kept below 1 % a card a day by
the settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from linli_redemption import pos_limits as pl
from linli_redemption.member_codes import ACCEPTED_STEPS
from linli_redemption.settings import RedemptionSettings
from pydantic import ValidationError

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # on an hour's start


@pytest.mark.parametrize(("limit", "now", "window_end"), [
    (pl.Limit(30, pl.MINUTE), T0, T0 + pl.MINUTE),
    (pl.Limit(30, pl.MINUTE), T0 + timedelta(seconds=59.9), T0 + pl.MINUTE),
    (pl.Limit(10, pl.HOUR), T0 + timedelta(minutes=30), T0 + pl.HOUR),
    (pl.Limit(5, timedelta(minutes=10)), T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)),
])
def test_windows_are_fixed_and_aligned(limit: pl.Limit, now: datetime, window_end: datetime) -> None:
    assert limit.window_end(now) == window_end
    assert limit.window_of(now) == limit.window_of(window_end - timedelta(microseconds=1))
    assert limit.window_of(window_end) == limit.window_of(now) + 1


@pytest.mark.parametrize(("count", "counted", "refused"), [
    (10, 1, False), (10, 10, False), (10, 11, True), (1, 1, False), (1, 2, True)])
def test_the_call_after_the_limit_is_refused(count: int, counted: int, refused: bool) -> None:
    assert pl.Limit(count, pl.HOUR).exceeded_by(counted) is refused


@pytest.mark.parametrize(("window", "span", "touched"), [
    (pl.HOUR, pl.DAY, 25),  # a day that does not start on the hour touches 25 hours
    (pl.MINUTE, pl.HOUR, 61),
    (timedelta(hours=5), pl.DAY, 6),
    (pl.DAY, pl.DAY, 2),
])
def test_how_many_windows_a_day_touches(window: timedelta, span: timedelta, touched: int) -> None:
    assert pl.Limit(1, window).windows_touched(span) == touched


@pytest.mark.parametrize(("wrong_per_hour", "per_day", "bound"), [
    (10, 250, 251 * 2 / 10**6),  # the default: 0.05 %
    (1, 25, 26 * 2 / 10**6),
    (199, 4975, 4976 * 2 / 10**6),  # the most the settings allow: 0.995 %
])
def test_guessing_a_card_is_bounded_by_its_wrong_codes(wrong_per_hour: int, per_day: int, bound: float) -> None:
    limits = pl.PosLimits(wrong_codes_per_member=pl.Limit(wrong_per_hour, pl.HOUR))
    assert pl.wrong_codes_per_day(limits) == per_day
    assert pl.guess_success_bound(limits) == pytest.approx(bound)
    assert pl.guess_success_bound(limits) < pl.MAX_GUESS_SUCCESS
    # The bound counts every code accepted at one time (the current step and the one before).
    assert ACCEPTED_STEPS == 2


def test_the_defaults_keep_guessing_below_one_percent_a_card_a_day() -> None:
    limits = RedemptionSettings().pos_limits()
    assert limits == pl.DEFAULT_LIMITS
    assert pl.guess_success_bound(limits) == 251 * 2 / 10**6 < 0.01  # ≈ 0.05 %


@pytest.mark.parametrize("tries", [200, 1000])
def test_settings_refuse_limits_that_would_make_guessing_pay(tries: int) -> None:
    with pytest.raises(ValidationError, match="LINLI_POS_WRONG_CODES_PER_MEMBER_PER_HOUR"):
        RedemptionSettings(pos_wrong_codes_per_member_per_hour=tries)


@pytest.mark.parametrize(("counted_wrong", "locked_until", "left"), [
    (1, None, 4), (4, None, 1), (5, T0 + timedelta(minutes=15), 0), (7, T0 + timedelta(minutes=15), 0)])
def test_the_fifth_wrong_code_locks_the_terminal_out(counted_wrong: int, locked_until: datetime | None,
                                                    left: int) -> None:
    assert pl.lockout_ends(counted_wrong, pl.DEFAULT_LIMITS, T0) == locked_until
    assert pl.wrong_codes_left(counted_wrong, pl.DEFAULT_LIMITS) == left
