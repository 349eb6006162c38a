"""Background loops, one way: `PeriodicTask`.

    sweeper = PeriodicTask("points-hold-sweeper", ledger.expire_due_now, interval=1.0)
    sweeper.start()        # after the app serves
    sweeper.wake()         # run the next pass now, not after the interval (the outbox relay on commit)
    await sweeper.stop()   # before the database closes

Every pass runs to its end: `stop()` lets the current pass finish (up to `stop_timeout`) and
only then cancels. CPython can crash when a cancellation is thrown into the async generators
of an open SQLAlchemy transaction (seen as segfaults at shutdown), and a pass cut half-way
through a SQLite transaction can wedge the write queue. A pass that raises is logged and the
loop goes on: a database hiccup must not end a sweeper. Tests call `run_once()` themselves
(with a ManualClock) and never start the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("linli.tasks")


class PeriodicTask:
    def __init__(self, name: str, body: Callable[[], Awaitable[Any]], *, interval: float,
                 stop_timeout: float = 15.0) -> None:
        if interval <= 0:
            raise ValueError(f"{name}: the interval must be greater than zero")
        self.name = name
        self.body = body
        self.interval = interval
        self.stop_timeout = stop_timeout
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._woken = asyncio.Event()
        self._lock = asyncio.Lock()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def run_once(self) -> Any:
        """One pass, never two at once (a test's pass and the loop's wait for each other)."""
        async with self._lock:
            return await self.body()

    def start(self) -> None:
        if self.running:
            return
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(), name=self.name)

    def wake(self) -> None:
        """Run the next pass as soon as the current one (if any) ends, without waiting for the
        interval. A wake during a pass is not lost: another pass follows it. Safe to call from
        any code on the loop's thread, running or not."""
        self._woken.set()

    async def stop(self) -> None:
        """Let the current pass finish, then end the loop (cancel only after `stop_timeout`)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        self._woken.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self.stop_timeout)
        except TimeoutError:
            log.warning("background pass did not finish in time; cancelling it",
                        extra={"task": self.name, "timeout_s": self.stop_timeout})
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            self._woken.clear()  # before the pass: a wake during it asks for one more
            try:
                await self.run_once()
            except Exception:
                log.exception("background pass failed; trying again next round", extra={"task": self.name})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), self.interval)
