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

    async def run_once(self) -> int:
        """Expire every hold that is due now; returns how many."""
        total = 0
        while True:
            expired = await self.ledger.expire_due(self.batch)
            total += expired
            if expired < self.batch:
                return total

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="points-hold-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                expired = await self.run_once()
                if expired:
                    log.info("holds expired", extra={"count": expired})
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not end the sweeper
                log.exception("hold sweep failed; retrying")
            await asyncio.sleep(self.interval)
