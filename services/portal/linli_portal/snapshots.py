"""Snapshots of a page's costliest sections, kept for a few minutes and refreshed in the
background, so that an operator opening a city of 5,000 communities does not wait for every
community's points and redemptions to be summed again on each load.

- The first load of a key reads the sections and waits for them (there is nothing to show yet).
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
        self._refreshing: dict[Hashable, asyncio.Task[None]] = {}

    async def _read(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> Snapshot[T]:
        taken, mono = self.wall(), self.clock()
        snapshot = Snapshot(await read(), taken, mono)
        if self.keep(snapshot.value):
            self._kept[key] = snapshot
            self._kept.move_to_end(key)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return snapshot

    async def get(self, key: Hashable, read: Callable[[], Awaitable[T]], *,
                  fresh: bool = False) -> tuple[Snapshot[T], bool]:
        """The snapshot of `key` (see the module's rules), and whether it was read just now
        (False: a kept one); `read` makes a new one."""
        kept = self._kept.get(key)
        if kept is None or fresh:
            return await self._read(key, read), True
        self._kept.move_to_end(key)
        if kept.age(self.clock()) > self.ttl and key not in self._refreshing:
            task = asyncio.create_task(self._refresh(key, read))
            self._refreshing[key] = task
        return kept, False

    async def _refresh(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> None:
        try:
            await self._read(key, read)
        except Exception:  # a failed refresh keeps the old snapshot; the next stale load tries again
            log.warning("a page section could not be refreshed", exc_info=True)
        finally:
            self._refreshing.pop(key, None)

    async def settle(self) -> None:
        """Wait for the refreshes under way (tests; and the app's shutdown, after cancelling)."""
        while self._refreshing:
            await asyncio.gather(*self._refreshing.values(), return_exceptions=True)

    async def close(self) -> None:
        for task in self._refreshing.values():
            task.cancel()
        await self.settle()
