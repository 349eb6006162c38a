"""How many points one worker may credit alone before a second account must approve — the
rule behind help credits (help_credits.py) and activity points (activities.py), pure.

A worker acts alone when nobody else's account took part in the credit: the helpers of a help
request the worker resolved, and the volunteers of an activity the worker both created and
now confirms (checking volunteers in is open to the worker too). Such credits are counted per
worker and community, in the day and the month (Asia/Shanghai):

    a credit for work …                                         becomes
    from an activity another account created                    credited (two accounts took part)
    within the worker's daily and monthly limit                 credited
    beyond either limit                                         an Adjustment in the worker's name, which
                                                                another account must approve (adjustments.py)

The limits are settings: LINLI_HELP_CREDIT_DAILY_LIMIT / _MONTHLY_LIMIT (30 / 200 points) and
LINLI_ACTIVITY_SOLO_DAILY_LIMIT / _MONTHLY_LIMIT (200 / 1000 points); 0 holds every such credit.
A credit that would pass a limit is held whole, never cut to fit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Points one worker may credit alone without a second approval (0: none)."""

    daily: int
    monthly: int


def breach(limits: Limits, *, credited_today: int, credited_this_month: int, points: int, who: str,
           what: str = "to helpers") -> str:
    """Why crediting `points` more needs a second approval, given what the worker credited alone
    today and this month; "" when it does not."""
    for name, limit, credited in (("daily", limits.daily, credited_today),
                                  ("monthly", limits.monthly, credited_this_month)):
        if credited + points > limit:
            return f"{who} has credited {credited} of a {name} limit of {limit} points {what}"
    return ""
