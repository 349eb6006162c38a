"""A consumer's `linger`: after a batch's first message, the batch gathers for that long before
the rest is taken (volunteer-points' holds posting: its cost is per batch, its lag nobody waits
on); without it the rest is what waits at that instant."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from linli_runtime.events import ConsumerSpec
from linli_runtime.events.consumer import EventConsumer


class Subscription:
    """A pull subscription without the internals `take_waiting` reads (it falls back to
    `fetch`): messages waiting, more published later. The first message is waited for; the rest
    is what waits at that instant, as JetStream answers `take_waiting`'s no-wait pull."""

    def __init__(self) -> None:
        self.waiting: list[str] = []
        self.published = asyncio.Event()

    def publish(self, message: str) -> None:
        self.waiting.append(message)
        self.published.set()

    async def fetch(self, n: int, timeout: float) -> list[str]:
        while n == 1 and not self.waiting:
            self.published.clear()
            await asyncio.wait_for(self.published.wait(), timeout)
        taken, self.waiting = self.waiting[:n], self.waiting[n:]
        return taken


async def _handler(event: Any, session: Any) -> None: ...


@pytest.mark.parametrize(("linger", "batch"), [(0.0, ["m1"]), (0.3, ["m1", "m2", "m3"])])
async def test_a_batch_gathers_for_its_linger_after_the_first_message(linger: float, batch: list[str]) -> None:
    spec = ConsumerSpec(name="holds", stream="S", subjects=["s"], handler=_handler, batch=10, linger=linger)
    consumer = EventConsumer(spec, db=None, bus=None)  # type: ignore[arg-type]  # _fetch needs neither
    sub = Subscription()
    sub.publish("m1")
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, sub.publish, "m2")
    loop.call_later(0.1, sub.publish, "m3")
    assert await consumer._fetch(sub) == batch
