"""PeriodicTask.wake(): the next pass now, not after the interval (the outbox relay is woken by
each commit that wrote events). The interval here is an hour, so only a wake can run a pass."""

from __future__ import annotations

import asyncio

from linli_runtime.tasks import PeriodicTask
from linli_runtime.testing.waiting import wait_until


async def test_a_wake_runs_the_next_pass_without_waiting_for_the_interval() -> None:
    passes = 0

    async def body() -> None:
        nonlocal passes
        passes += 1

    task = PeriodicTask("woken", body, interval=3600)
    task.start()
    try:
        await wait_until(lambda: passes == 1, timeout=5, what="the first pass, at start")
        task.wake()
        await wait_until(lambda: passes == 2, timeout=5, what="a pass on wake")
    finally:
        await task.stop()
    assert passes == 2


async def test_a_wake_during_a_pass_is_not_lost() -> None:
    passes = 0
    in_pass = asyncio.Event()
    release = asyncio.Event()

    async def body() -> None:
        nonlocal passes
        passes += 1
        if passes == 1:
            in_pass.set()
            await release.wait()

    task = PeriodicTask("woken-mid-pass", body, interval=3600)
    task.start()
    try:
        await asyncio.wait_for(in_pass.wait(), 5)
        task.wake()          # e.g. a commit while the relay publishes the previous batch
        release.set()
        await wait_until(lambda: passes == 2, timeout=5, what="another pass after the one woken during")
    finally:
        await task.stop()


async def test_a_task_stopped_while_waiting_ends_at_once() -> None:
    async def body() -> None:
        pass

    task = PeriodicTask("idle", body, interval=3600, stop_timeout=30)
    task.start()
    await asyncio.sleep(0)
    await asyncio.wait_for(task.stop(), 5)
    assert not task.running
