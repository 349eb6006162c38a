"""The sweeper: one pass routes requests that found nobody on duty, escalates requests whose
acknowledgement is overdue (one level per pass), hands due follow-ups to the worker on duty,
and sends due deliveries. Time comes from the app's clock, so tests drive it with a
`ManualClock` and call `run_once()`; the service runs it every few seconds."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from linli_notification import helpdesk
from linli_notification.dispatcher import Dispatcher
from linli_runtime.db import Database

log = logging.getLogger("linli.notification.sweeper")


@dataclass
class SweepResult:
    routed: int = 0
    escalated: int = 0
    follow_ups: int = 0
    sent: int = 0


class Sweeper:
    def __init__(self, app: helpdesk.EventMaker, db: Database, dispatcher: Dispatcher, interval: float) -> None:
        self.app = app
        self.db = db
        self.dispatcher = dispatcher
        self.interval = interval
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def run_once(self) -> SweepResult:
        async with self._lock:
            result = SweepResult()
            now = self.app.clock.now()
            async with self.db.transaction() as session:
                conn = await session.connection()
                unrouted = await helpdesk.unrouted(conn)
                overdue = await helpdesk.overdue(conn, now)
                due = await helpdesk.due_follow_ups(conn, now)
            # One transaction per item: one bad row must not hold back the others.
            for request_id in unrouted:
                result.routed += await self._each(helpdesk.route, request_id)
            for request_id in overdue:
                result.escalated += await self._each(helpdesk.escalate, request_id)
            for seq in due:
                result.follow_ups += await self._each(helpdesk.assign_follow_up, seq)
            result.sent = await self.dispatcher.run_once()
            return result

    async def _each(self, step, key) -> int:  # type: ignore[no-untyped-def]
        try:
            async with self.db.transaction() as session:
                return int(await step(self.app, await session.connection(), key))
        except Exception:
            log.exception("sweep step failed", extra={"step": step.__name__, "key": str(key)})
            return 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="notification-sweeper")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("sweep failed")
            try:
                await asyncio.wait_for(self._stopping.wait(), self.interval)
            except TimeoutError:
                pass
