"""Waiting in tests for something that happens in the background (an event consumed, a row
written by another process) — never `sleep` for a fixed time and hope.

    await wait_until(lambda: inbox_holds(db, "notification-help", [event_id]),
                     what="the consumer to apply the event")

A negative check ("nothing happened") waits for the thing that would have made it happen to
have run — the consumer's inbox holding the event (`inbox_holds`), the consumer having settled
every message it was given (`consumer_settled`: a redelivery would come before that), the
sweeper's pass returning — and then looks, rather than sleeping a while and looking.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar, overload

from nats.js.errors import NotFoundError
from sqlalchemy import func, select

from linli_runtime.db import Database
from linli_runtime.events.tables import INBOX

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


async def inbox_holds(db: Database, consumer: str, event_ids: Collection[str]) -> bool:
    """Has `consumer` applied every one of `event_ids`? Its inbox row commits together with the
    handler's changes, so once it is there the event's effects are too (and a redelivery of it
    would change nothing)."""
    async with db.session() as session:
        conn = await session.connection()
        held = (await conn.execute(
            select(func.count()).select_from(INBOX)
            .where(INBOX.c.consumer == consumer, INBOX.c.event_id.in_(list(event_ids)))
        )).scalar_one()
    return int(held) == len(set(event_ids))


async def consumer_settled(js: Any, stream: str, consumer: str) -> bool:
    """Has the durable `consumer` settled (acked, or terminated as poison) every message JetStream
    delivered to it, with nothing more waiting for it? Then no redelivery is coming: a message
    refused (nak, even with a delay) or left unacknowledged still counts as pending an ack.
    (Not the ack floor: a filtered consumer's floor stays behind the messages it skipped.)
    `js`: a JetStream context."""
    try:
        info = await js.consumer_info(stream, consumer)
    except NotFoundError:  # not made yet (a service makes its consumers as it starts): nothing settled
        return False
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)
