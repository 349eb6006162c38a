"""Group commit: concurrent ledger writes applied together, one transaction and one commit for
many requests, each still validated and answered on its own.

Why (issue 18, bench.points_ledger): a single transfer is ~10 indexed statements and a commit,
and on PostgreSQL the commit (its fsync, its round trips, the pool's checkout and return) costs
as much as the statements. TigerBeetle's lesson: batch. Requests that arrive while a batch is
being written wait for the next one, so under load a batch holds what arrived during one
commit, and alone a request waits for nothing but one turn of the event loop.

    batcher = GroupCommit(ledger.run_each, max_batch=64)
    recorded = await batcher(lambda conn: ledger.transfer_in(conn, request))

Each request is queued with the context of its caller (request id, principal, trace: the
events it writes name its own call). `run_each` gets the queued requests (`Queued`) and answers
each on its own. The ledger's (`Ledger.transfer`, `place_hold`) queues the requests themselves
and applies a batch set-oriented (ledger/batch.py); `Ledger.run_each` runs callables one after
the other, each in its caller's context. A request refused with a domain error (no points, an id
reused with other content, an unknown hold) gets its own error and leaves nothing behind; the
others commit. Two requests of one batch naming the same id see each other, as two calls one
after the other would (the second is a replay, or refused as a reuse). A database race (a unique
key taken by another replica, a deadlock) retries the whole batch (`Ledger.run`): every request
in it is then a replay or new, as if it had come alone. An unexpected failure of the batch (the
database gone) fails each of its requests with it: nothing of theirs was committed.

A caller that gives up (cancelled, deadline) before its batch starts is left out; once the batch
has started its request is committed all the same, like a call cancelled after its COMMIT was
sent — its retry, with the same id, is answered as a replay.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_runtime.errors import DomainError

T = TypeVar("T")
Work = Callable[[AsyncConnection], Awaitable[Any]]


@dataclass(frozen=True)
class Queued:
    """A request waiting for its batch, with the context of the call that queued it. Called with
    a connection, it runs `item(conn)` in that context; `run_each` may instead read `item` and
    `context` and apply the batch its own way (the ledger: ledger/batch.py)."""

    item: Any
    context: contextvars.Context

    async def __call__(self, conn: AsyncConnection) -> Any:
        return await asyncio.create_task(self.item(conn), context=self.context)


RunEach = Callable[[Sequence[Queued]], Awaitable[list[Any]]]


class GroupCommit(Generic[T]):
    """Queues `work(conn)` callables and runs them in batches of up to `max_batch` through
    `run_each` (one transaction each), at most `parallel` batches at a time."""

    def __init__(self, run_each: RunEach, *, max_batch: int = 64, parallel: int = 1) -> None:
        self.run_each = run_each
        self.max_batch = max_batch
        self.parallel = parallel
        self._queue: list[tuple[Queued, asyncio.Future[Any]]] = []
        # Flushers running, counted by themselves as they end (a task's done-callback runs a turn
        # later: a request queued in between would find a flusher that will never take it).
        self._running = 0
        self._flushers: set[asyncio.Task[None]] = set()

    async def __call__(self, work: Any) -> T:
        """Queue `work` — a `work(conn)` callable, or whatever `run_each` takes — and wait for
        its batch's outcome."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        # The caller's context travels with its work: it runs there, inside the batch.
        self._queue.append((Queued(work, contextvars.copy_context()), future))
        if self._running < self.parallel:
            self._running += 1
            # A flusher of its own context: a batch is nobody's call.
            task = asyncio.create_task(self._flush(), context=contextvars.Context())
            self._flushers.add(task)
            task.add_done_callback(self._flushers.discard)
        return await future

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(0)  # the requests arriving in this turn of the loop join the batch
            await self._drain()
        finally:
            self._running -= 1  # with no await since the queue was last seen empty

    async def _drain(self) -> None:
        while self._queue:
            taken, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
            batch = [(work, future) for work, future in taken if not future.cancelled()]
            if not batch:
                continue
            try:
                outcomes = await self.run_each([work for work, _ in batch])
            except Exception as error:  # the batch failed whole: so does each of its requests
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, DomainError):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    async def stop(self) -> None:
        """Wait for the batches under way (shutdown: their callers are answered)."""
        while self._flushers:
            await asyncio.gather(*self._flushers, return_exceptions=True)
