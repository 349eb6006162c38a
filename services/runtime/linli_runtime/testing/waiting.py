"""Waiting in tests for something that happens in the background (an event consumed, a row
written by another process) — never `sleep` for a fixed time and hope.

    await wait_until(lambda: inbox_has(db, event_id), what="the consumer to apply the event")

A negative check ("nothing happened") waits for the thing that would have made it happen to
have run — the consumer's inbox holding the event, the sweeper's pass returning — and then
looks, rather than sleeping a while and looking.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def wait_until(condition: Callable[[], Awaitable[T]], timeout: float = ..., what: str = ...,
                     interval: float = ...) -> T: ...


@overload
async def wait_until(condition: Callable[[], T], timeout: float = ..., what: str = ...,
                     interval: float = ...) -> T: ...


async def wait_until(condition: Callable[[], Any], timeout: float = 15.0, what: str = "",
                     interval: float = 0.02) -> Any:
    """Poll `condition` (sync or async) until it returns something truthy, and return that; fail
    with `what` when `timeout` seconds pass first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for: {what or condition}")
        await asyncio.sleep(interval)
