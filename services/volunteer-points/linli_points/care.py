"""Care runs by itself: the monthly visiting rule of every community's pairings, on the
service's clock, with no one calling CloseMonth (a `linli_runtime.tasks.PeriodicTask`).

Each pass, for every community that has pairings, with today in Asia/Shanghai:

- from the `reminder_day` (the 15th) of a month to its end: remind the families short of
  their visits so far (`Pairings.remind`: once per community and month);
- close the month before this one (`Pairings.close_month`: one lapse per pairing that fell
  short, once per community and month). So a month is closed by the first pass after it ends,
  within `interval` of midnight on the 1st.

Only the month just ended is closed: months before it (a service that was down a whole month,
a deployment with a history) are closed only by CloseMonth, so that starting the service never
floods the workers with stale lapses. Every step is idempotent and guarded by a row's key, so
passes that run again, or on several replicas at once, publish each reminder and lapse once.
Tests call `run_once()` on a ManualClock instead of starting the loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from linli_points.pairings import Pairings
from linli_runtime.clock import Clock
from linli_runtime.tasks import PeriodicTask
from linli_runtime.times import local_day

log = logging.getLogger("linli.points.care")

NAME = "points-care-schedule"


@dataclass
class Pass:
    """What one pass did: reminders and lapses published now, by community."""

    reminded: dict[str, int] = field(default_factory=dict)
    lapsed: dict[str, int] = field(default_factory=dict)


def previous_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


async def care_pass(pairings: Pairings, clock: Clock, reminder_day: int) -> Pass:
    today = local_day(clock.now())
    month = f"{today:%Y-%m}"
    done = Pass()
    for path in await pairings.communities():
        try:
            if today.day >= reminder_day:
                reminded = await pairings.remind(path, month)
                if reminded.newly_reminded:
                    done.reminded[path] = reminded.pairings_reminded
            closed = await pairings.close_month(path, previous_month(month))
            if closed.newly_closed:
                done.lapsed[path] = closed.pairings_lapsed
        except Exception:  # one community's failure must not starve the others; the next pass retries
            log.exception("care pass failed for a community", extra={"community": path})
    if done.reminded or done.lapsed:
        log.info("care pass", extra={"reminded": done.reminded, "lapsed": done.lapsed})
    return done


def care_schedule(pairings: Pairings, clock: Clock, *, interval: float, reminder_day: int) -> PeriodicTask:
    """The schedule; each pass (`run_once()`) returns its `Pass`."""
    return PeriodicTask(NAME, lambda: care_pass(pairings, clock, reminder_day), interval=interval, stop_timeout=15.0)
