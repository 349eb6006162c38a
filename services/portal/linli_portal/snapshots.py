"""Snapshots of a page's costliest sections, kept for a few minutes and refreshed in the
background, so that an operator opening a city of 5,000 communities does not wait for every
community's points and redemptions to be summed again on each load.

- The first load of a key starts reading the sections and waits for them a moment (`wait`);
  if they take longer, the page shows the rest and says they are being summed up, and the
  read goes on in the background with its own, longer deadline, kept for the next load.
- A load within `ttl` of the snapshot shows it as it is.
- A load after `ttl` shows the snapshot at once and starts one refresh in the background (a
  second such load does not start another); the next load shows the new figures.
- A load asking for fresh figures (`?refresh=1`, the page's "刷新" link) reads them and waits.
- A read that reports a problem (a section the services could not give) is shown but not kept:
  the next load tries again rather than showing the failure for `ttl`.

The page says when its figures were taken ("数据更新于 HH:MM"). Keys carry the operator's role as
well as the unit, so one role never sees figures read under another's rights; the route has
already checked that the operator's scope covers the unit. At most `size` keys are kept (the
least recently used goes). Time comes from `clock` (monotonic seconds; a test passes its own).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

DEFAULT_TTL_S = 300.0  # five minutes: the README's stated freshness of the city page's points and redemptions


@dataclass(frozen=True)
class Snapshot(Generic[T]):
    value: T
    taken_at: datetime  # UTC, when the read that made it started
    taken_mono: float

    def age(self, now_mono: float) -> float:
        return now_mono - self.taken_mono


class Snapshots(Generic[T]):
    def __init__(self, *, ttl: float = DEFAULT_TTL_S, size: int = 64, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC),
                 keep: Callable[[T], bool] = lambda _: True) -> None:
        self.ttl, self.size, self.clock, self.wall, self.keep = ttl, size, clock, wall, keep
        self._kept: OrderedDict[Hashable, Snapshot[T]] = OrderedDict()
        self._refreshing: dict[Hashable, asyncio.Task[Snapshot[T] | None]] = {}

    async def _read(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> Snapshot[T]:
        taken, mono = self.wall(), self.clock()
        snapshot = Snapshot(await read(), taken, mono)
        if self.keep(snapshot.value):
            self._kept[key] = snapshot
            self._kept.move_to_end(key)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return snapshot

    def _start(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> asyncio.Task[Snapshot[T] | None]:
        """The read of `key` under way, or a new one: one at a time per key, however many ask."""
        task = self._refreshing.get(key)
        if task is None:
            task = asyncio.create_task(self._refresh(key, read))
            self._refreshing[key] = task
        return task

    async def _refresh(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> Snapshot[T] | None:
        try:
            return await self._read(key, read)
        except Exception:  # a failed read keeps the old snapshot; the next load tries again
            log.warning("a page section could not be read", exc_info=True)
            return None
        finally:
            self._refreshing.pop(key, None)

    async def get(self, key: Hashable, read: Callable[[], Awaitable[T]], *, fresh: bool = False,
                  wait: float | None = None) -> tuple[Snapshot[T] | None, bool]:
        """The snapshot of `key` (see the module's rules), and whether it was read for this
        call (False: a kept one). Without a snapshot (or with `fresh`) the read runs in the
        background and the caller waits for it at most `wait` seconds (None: until it ends):
        past that, (None, True) — the page says its figures are being summed up, and the read
        goes on, kept for the next load."""
        kept = self._kept.get(key)
        if kept is None or fresh:
            task = self._start(key, read)
            try:
                return await asyncio.wait_for(asyncio.shield(task), wait), True
            except TimeoutError:
                return None, True
        self._kept.move_to_end(key)
        if kept.age(self.clock()) > self.ttl:
            self._start(key, read)
        return kept, False

    async def settle(self) -> None:
        """Wait for the refreshes under way (tests; and the app's shutdown, after cancelling)."""
        while self._refreshing:
            await asyncio.gather(*self._refreshing.values(), return_exceptions=True)

    async def close(self) -> None:
        for task in self._refreshing.values():
            task.cancel()
        await self.settle()
