"""Group commit for the redeem path: concurrent requests applied together, one transaction for
many, each still answered on its own.

Why (issue 18, bench.pos_redeem): a redeem's own statements are few and cheap; what each one
paid for was its transactions — BEGIN, COMMIT, the pool's checkout and return, SQLAlchemy's
work around each — twice per redeem (reserve, commit). Requests that arrive while a batch is
being written wait for the next one, so under load a batch holds what arrived during one
transaction, and alone a request waits for nothing but one turn of the event loop.

    reserve = Batcher(store.reserve_batch, max_batch=64)
    row = await reserve(reservation)      # raises the request's own refusal

`run(items)` gets the queued items in arrival order and returns one outcome per item, in that
order: a value, or the exception to raise to that item's caller alone (a refused request fails
alone, the others commit). An exception out of `run` itself (the database gone) fails every
item of the batch: nothing of theirs was committed. The batch runs in the task the first
caller's request started (its context: request id, trace), as the ledger's group commit does.

A caller that gives up (cancelled, deadline) before its batch starts is left out; once the batch
has started its work is committed all the same, like a call cancelled after its COMMIT was sent
— the saga's retry with the same request id, or recovery, takes it from there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")  # an item queued
Out = TypeVar("Out")  # its outcome

Run = Callable[[Sequence[Item]], Awaitable[Sequence[Out | BaseException]]]


class Batcher(Generic[Item, Out]):
    """Queues items and runs them through `run` in batches of up to `max_batch`, one batch at a
    time (the next one gathers while this one is written)."""

    def __init__(self, run: Run[Item, Out], *, max_batch: int = 64) -> None:
        self.run = run
        self.max_batch = max_batch
        self._queue: list[tuple[Item, asyncio.Future[Out]]] = []
        self._flushing = False
        self._task: asyncio.Task[None] | None = None  # the flusher, referenced while it runs

    async def __call__(self, item: Item) -> Out:
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if not self._flushing:
            self._flushing = True
            self._task = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._queue:
                await asyncio.sleep(0)  # one turn: the requests already on their way join this batch
                taken, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
                waiting = [(item, future) for item, future in taken if not future.done()]  # given up: left out
                if not waiting:
                    continue
                try:
                    outcomes = await self.run([item for item, _ in waiting])
                except Exception as exc:  # each caller gets the batch's failure
                    for _, future in waiting:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except BaseException:  # the flusher cancelled (shutting down): nobody waits forever
                    for _, future in waiting + self._queue:
                        future.cancel()
                    self._queue = []
                    raise
                for (_, future), outcome in zip(waiting, outcomes, strict=True):
                    if future.done():
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            self._flushing = False
