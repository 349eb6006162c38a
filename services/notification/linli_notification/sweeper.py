"""The sweeper: one pass routes requests that found nobody on duty, escalates requests whose
acknowledgement is overdue (one level per pass), suggests providers that opened since a
request's last suggestions (once per opening), hands due follow-ups to the worker on duty,
and sends due deliveries. Time comes from the help desk's clock, so tests drive it with a
`ManualClock` and call `run_once()`; the service runs it every few seconds as a
`linli_runtime.tasks.PeriodicTask` (`periodic`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import Gauge

from linli_notification.dispatcher import Dispatcher
from linli_notification.helpdesk import HelpDesk
from linli_runtime.tasks import PeriodicTask

log = logging.getLogger("linli.notification.sweeper")

K = TypeVar("K", str, int)

# Refreshed by every pass; the alert LinliHelpRequestsPastSla (deploy/k8s/components/monitoring) watches it.
OVERDUE = Gauge("linli_help_requests_overdue", "Help requests still waiting for an acknowledgement that missed "
                "their SLA (escalated at least once, or past the deadline now).")


@dataclass
class SweepResult:
    routed: int = 0
    escalated: int = 0
    suggested: int = 0
    follow_ups: int = 0
    sent: int = 0


class Sweeper:
    def __init__(self, desk: HelpDesk, dispatcher: Dispatcher) -> None:
        self.desk = desk
        self.dispatcher = dispatcher
        self._lock = asyncio.Lock()

    def periodic(self, interval: float) -> PeriodicTask:
        """The loop that runs a pass every `interval` seconds (start it after the app serves)."""
        return PeriodicTask("notification-sweeper", self.run_once, interval=interval)

    async def run_once(self) -> SweepResult:
        """One pass; passes of one sweeper never overlap (several sweepers may: every step is
        conditional on the state it was decided from)."""
        async with self._lock:
            result = SweepResult()
            due = await self.desk.due_work()
            OVERDUE.set(due.past_sla)
            # One transaction per item: one bad row must not hold back the others.
            for request_id in due.unrouted:
                result.routed += await self._each(self.desk.route, request_id)
            for request_id in due.overdue:
                result.escalated += await self._each(self.desk.escalate, request_id)
            # After escalations: one that suggested a provider's opening leaves nothing here.
            for request_id in due.opened:
                result.suggested += await self._each(self.desk.suggest_opened, request_id)
            for seq in due.follow_ups:
                result.follow_ups += await self._each(self.desk.assign_follow_up, seq)
            result.sent = await self.dispatcher.run_once()
            return result

    async def _each(self, step: Callable[[K], Awaitable[bool]], key: K) -> int:
        try:
            return int(await step(key))
        except Exception:
            log.exception("sweep step failed", extra={"step": step.__name__, "key": str(key)})
            return 0
