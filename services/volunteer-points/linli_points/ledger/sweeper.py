"""Background expiry of holds past their timeout.

Expiry does not depend on the sweeper for correctness: PostHold and VoidHold expire a hold
they find past its time. The sweeper returns the points of holds nobody resolves (a POS that
crashed mid-redemption) within about `interval` seconds of their timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from linli_points.ledger.store import Ledger

log = logging.getLogger("linli.points.sweeper")


class HoldSweeper:
    def __init__(self, ledger: Ledger, interval: float = 1.0, batch: int = 200) -> None:
        self.ledger = ledger
        self.interval = interval
        self.batch = batch
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def run_once(self) -> int:
        """Expire every hold that is due now; returns how many."""
        total = 0
        while not self._stopping.is_set():
            expired = await self.ledger.expire_due(self.batch)
            total += expired
            if expired < self.batch:
                break
        return total

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._loop(), name="points-hold-sweeper")

    async def stop(self, timeout: float = 5.0) -> None:
        """Let the current sweep finish, then end. The task is not cancelled mid-transaction:
        CPython 3.11 can crash when a cancellation is thrown into the async generators of an
        open SQLAlchemy transaction (seen as segfaults at shutdown)."""
        if self._task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                expired = await self.run_once()
                if expired:
                    log.info("holds expired", extra={"count": expired})
            except Exception:  # a database hiccup must not end the sweeper
                log.exception("hold sweep failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)
