"""Background expiry of holds past their timeout: a `linli_runtime.tasks.PeriodicTask`.

Expiry does not depend on the sweeper for correctness: PostHold and VoidHold expire a hold
they find past its time. The sweeper returns the points of holds nobody resolves (a POS that
crashed mid-redemption) within about `interval` seconds of their timeout. Tests call
`run_once()` on a ManualClock instead of starting the loop.

A pass expires at most `batch` holds (one transaction each), so that stopping the service never
waits on a long backlog: the task's `stop()` lets the current pass finish, and cancelling a
pass inside a transaction is what PeriodicTask avoids. At one pass a second that is 200 holds a
second, more than the ledger places at all on this machine (README: hold+post ≈ 106 pairs/s),
so the holds nobody resolves cannot outgrow the sweeper.
"""

from __future__ import annotations

import logging

from linli_points.ledger.store import Ledger
from linli_runtime.tasks import PeriodicTask

log = logging.getLogger("linli.points.sweeper")

NAME = "points-hold-sweeper"


async def expire_due_holds(ledger: Ledger, batch: int = 200) -> int:
    """Expire up to `batch` holds that are due now, oldest deadline first; returns how many."""
    expired = await ledger.expire_due(batch)
    if expired:
        log.info("holds expired", extra={"count": expired})
    return expired


def hold_sweeper(ledger: Ledger, interval: float = 1.0, batch: int = 200) -> PeriodicTask:
    """The sweeper; each pass (`run_once()`) returns how many holds it expired."""
    return PeriodicTask(NAME, lambda: expire_due_holds(ledger, batch), interval=interval, stop_timeout=5.0)
