"""Abuse limits at the POS — the rules, pure (the counting is `pos_guard`).

A member code is an 8-digit card number, which anyone who saw one code knows, and a 6-digit
one-time code (member_codes). Whoever holds a terminal credential could try to guess the
one-time code of a card they saw, or flood the service. So every POS call that tries a code
or redeems is counted, per terminal and per member, in fixed windows:

    limit (setting LINLI_POS_…, default)       counts                          when reached: RESOURCE_EXHAUSTED
    resolves per terminal                       every ResolveMemberCode         TERMINAL_RATE_LIMITED, to the
      (RESOLVES_PER_TERMINAL_PER_MINUTE, 30)      of the terminal                 minute's end
    wrong codes per member                      wrong codes tried against one   MEMBER_CODE_TRIES_EXHAUSTED,
      (WRONG_CODES_PER_MEMBER_PER_HOUR, 10)       card, from any terminal         to the hour's end: even the
                                                                                  right code is not looked at
    wrong codes per terminal                    wrong, expired or unknown       the terminal is locked out of
      (WRONG_CODES_BEFORE_LOCKOUT, 5 in           codes the terminal sent         ResolveMemberCode for
      WRONG_CODE_WINDOW_SECONDS, 600)                                             LOCKOUT_SECONDS (900):
                                                                                  TERMINAL_LOCKED_OUT
    redeems per terminal                        new Redeem requests (a retry    TERMINAL_RATE_LIMITED
      (REDEEMS_PER_TERMINAL_PER_MINUTE, 30)       of one is not counted)
    redeems per member                          new Redeem requests for one     MEMBER_RATE_LIMITED
      (REDEEMS_PER_MEMBER_PER_HOUR, 20)           member, from any terminal

Every refusal carries a `google.rpc.RetryInfo` (and ErrorInfo `retry_after_seconds`). A right
code resets nothing: a guesser who is also a member cannot clear a terminal's record by showing
their own code now and then. (A member's count is of *wrong* codes: a try is counted before its
code is looked at — so a thousand terminals guessing at the same instant are counted as a
thousand — and handed back when the code was right, so members who redeem often are never
refused for it.)

**What guessing can win.** The per-member count is the one no number of terminals gets
around: a card gets at most `wrong codes × windows` wrong tries in any 24 hours — a day
touches at most 25 one-hour windows — so a guesser's first hit, if any, is among the first
`wrong_codes_per_day + 1` tries looked at, and each try matches one of the `ACCEPTED_STEPS`
codes then accepted with probability at most 1 in 10^6. With the defaults, 251 × 2 / 10^6 ≈
0.05 % a card a day (`guess_success_bound`); the settings refuse limits that would let it
reach 1 % (`MAX_GUESS_SUCCESS`). The price of the per-member count: someone with terminal
credentials can use up a member's wrong tries for the rest of an hour; the terminal lockout
makes that slow, and every lockout is logged with its terminal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from linli_redemption.member_codes import ACCEPTED_STEPS

MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
CODE_SPACE = 10**6  # 6-digit one-time codes
# The chance a guesser may have of hitting one card's code within a day, at most.
MAX_GUESS_SUCCESS = 0.01


@dataclass(frozen=True)
class Limit:
    """At most `count` within each fixed `window` (windows start at multiples of it since the epoch)."""

    count: int
    window: timedelta

    def window_of(self, now: datetime) -> int:
        """The number of the window `now` falls in."""
        return int(now.timestamp() // self.window.total_seconds())

    def window_end(self, now: datetime) -> datetime:
        return datetime.fromtimestamp((self.window_of(now) + 1) * self.window.total_seconds(), UTC)

    def exceeded_by(self, counted: int) -> bool:
        """Whether the `counted`-th call of a window (this one included) is one too many."""
        return counted > self.count

    def windows_touched(self, span: timedelta) -> int:
        """How many windows a stretch of time `span` long can touch, at most."""
        return math.ceil(span / self.window) + 1  # +1: a stretch that does not start on a window's start


@dataclass(frozen=True)
class PosLimits:
    resolves_per_terminal: Limit = Limit(30, MINUTE)
    wrong_codes_per_member: Limit = Limit(10, HOUR)
    wrong_codes_per_terminal: Limit = Limit(5, timedelta(minutes=10))
    lockout: timedelta = timedelta(minutes=15)
    redeems_per_terminal: Limit = Limit(30, MINUTE)
    redeems_per_member: Limit = Limit(20, HOUR)


DEFAULT_LIMITS = PosLimits()


def wrong_codes_per_day(limits: PosLimits) -> int:
    """The most wrong codes looked at for one card in any 24 hours, whatever the number of terminals."""
    return limits.wrong_codes_per_member.count * limits.wrong_codes_per_member.windows_touched(DAY)


def guess_success_bound(limits: PosLimits, *, accepted_codes: int = ACCEPTED_STEPS,
                        code_space: int = CODE_SPACE) -> float:
    """An upper bound of the chance that guessing hits a card's one-time code within a day. The
    first hit, if any, is among the first `wrong_codes_per_day + 1` tries looked at; each
    matches one of the `accepted_codes` codes then valid with probability at most
    `accepted_codes / code_space` (the union bound over those tries)."""
    return (wrong_codes_per_day(limits) + 1) * accepted_codes / code_space


def lockout_ends(counted_wrong: int, limits: PosLimits, now: datetime) -> datetime | None:
    """When a terminal that just sent its `counted_wrong`-th wrong code in the window is let back
    in, or None when it is not locked out."""
    return now + limits.lockout if counted_wrong >= limits.wrong_codes_per_terminal.count else None


def wrong_codes_left(counted_wrong: int, limits: PosLimits) -> int:
    """Wrong codes a terminal may still send in the window before it is locked out."""
    return max(0, limits.wrong_codes_per_terminal.count - counted_wrong)
