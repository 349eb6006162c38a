"""One transaction, retried whole after a race the database reports (a unique key taken by a
concurrent writer, a deadlock or serialization failure on PostgreSQL): the retry then sees
the other writer's committed row and answers as a replay."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_runtime.db import Database

log = logging.getLogger("linli.points.tx")

T = TypeVar("T")
RETRIES = 8
# PostgreSQL: serialization_failure, deadlock_detected.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


def retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    orig: Any = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code in RETRYABLE_SQLSTATES


async def run_in_transaction(db: Database, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    for attempt in range(RETRIES):
        try:
            if db.is_sqlite:  # the runtime's transaction queues writers (one at a time on SQLite)
                async with db.transaction() as session:
                    return await work(await session.connection())
            # A Core transaction: the ledger is all Core, and an ORM session around it costs
            # more CPU than some of its statements (the outbox's commit hook is on the engine).
            async with db.engine.begin() as conn:
                return await work(conn)
        except DBAPIError as exc:
            if attempt == RETRIES - 1 or not retryable(exc):
                raise
            log.debug("transaction retried", extra={"attempt": attempt + 1, "error": type(exc).__name__})
    raise AssertionError("unreachable")


def fingerprint(*parts: object) -> str:
    """A digest of what a caller asked for: a replay must match it."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()
