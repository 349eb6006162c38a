"""One transaction, retried whole after a race the database reports — a unique key taken by a
concurrent writer, or on PostgreSQL a deadlock or serialization failure. The retry then sees
the other writer's committed row and answers as a replay, so callers write their work as if
they were alone. Also the request fingerprint that replays are checked against."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_runtime.db import Database

log = logging.getLogger("linli.transactions")

T = TypeVar("T")
RETRIES = 8
# PostgreSQL: serialization_failure, deadlock_detected.
CONFLICT_SQLSTATES = frozenset({"40001", "40P01"})


def is_conflict(exc: BaseException) -> bool:
    """A deadlock or serialization failure: nobody's fault, gone when the work is run again."""
    if not isinstance(exc, DBAPIError):
        return False
    orig: Any = exc.orig
    return (getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)) in CONFLICT_SQLSTATES


def is_race(exc: DBAPIError) -> bool:
    """A conflict, or a unique key a concurrent writer took first."""
    return isinstance(exc, IntegrityError) or is_conflict(exc)


async def retried_on_race(work: Callable[[], Awaitable[T]], *, retries: int = RETRIES) -> T:
    """`work()` (a whole transaction, or one statement on its own), run again after a race the
    database reports, up to `retries` times in all; any other error is raised at once."""
    for attempt in range(retries):
        try:
            return await work()
        except DBAPIError as exc:
            if attempt == retries - 1 or not is_race(exc):
                raise
            log.debug("transaction retried", extra={"attempt": attempt + 1, "error": type(exc).__name__})
    raise AssertionError("unreachable")


async def run_in_transaction(db: Database, work: Callable[[AsyncConnection], Awaitable[T]],
                             *, retries: int = RETRIES) -> T:
    async def once() -> T:
        if db.is_sqlite:  # the runtime's transaction queues writers (one at a time on SQLite)
            async with db.transaction() as session:
                return await work(await session.connection())
        # A Core transaction: hot paths are Core, and an ORM session around them costs more
        # CPU than some of their statements (the outbox's commit hook is on the engine).
        async with db.engine.begin() as conn:
            return await work(conn)

    return await retried_on_race(once, retries=retries)


def fingerprint(*parts: object) -> str:
    """A digest of what a caller asked for: a retry with the same request id must match it."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()
