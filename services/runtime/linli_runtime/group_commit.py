"""Group commit: concurrent requests applied together, one transaction (or one call) for many,
each still answered on its own. Shared by the ledger (volunteer-points: single transfers and
holds) and the redeem path (partner-redemption: reserve, commit, PlaceHolds).

Why (issue 18): a request's own statements are few and cheap; what each one paid for was its
transaction — BEGIN, COMMIT (an fsync), the pool's checkout and return, SQLAlchemy's work around
each. TigerBeetle's lesson: batch. Requests that arrive while a batch is being written wait for
the next one, so under load a batch holds what arrived during one transaction, and alone a
request waits for nothing but one turn of the event loop.

    reserve = GroupCommit(store.reserve_asked, max_batch=64)
    reserved = await reserve(ask)         # raises the request's own refusal

`run(batch)` gets the queued items (a `Batch`: a list in arrival order) and returns one outcome
per item, in that order: a value, or an exception to raise to that item's caller alone (a
refused request fails alone; the others commit).

The choices, each the same for every user (they were where the two copies differed):

- **Context.** Each caller's context (contextvars: request id, principal, trace) is captured when
  it queues and handed to `run` beside its item (`batch.contexts[i]`): work done for one request
  — the events it writes — can name its own call (the ledger does, ledger/batch.py). The batch
  itself runs in a copy of its first waiting caller's context, so its SQL is traced under that
  call: the whole of it for a request that came alone, as most do when the service is not busy.
  Never the flusher's own context, which belongs to whichever call happened to start it.
- **A failing batch fails only itself.** An exception out of `run` (the database gone) fails
  each caller of that batch — nothing of theirs was committed — and the next batch runs.
- **Callers that give up.** A caller cancelled (deadline, disconnect) before its batch starts is
  left out; once the batch has started its work is committed all the same, like a call
  cancelled after its COMMIT was sent — a retry with the same request id is a replay.
- **The flusher cancelled** (event loop shutting down, `stop(timeout)` run out): every caller
  still waiting — in the batch under way and queued behind it — gets `Unavailable`, never a
  silent hang and never a `CancelledError` its own task did not ask for. The batch under way
  may or may not have committed; a retry with the same request id finds out.
- **`max_batch`** bounds a batch; what is left over waits for the next.
- **`parallel`** batches may run at once (default 1: one transaction at a time, so two batches
  never lock the same rows in different orders).
- **`linger`** (seconds, default 0), **`linger_ratio`** (default 1) and **`busy`** (default 8):
  when the batch before held at least `busy` requests — many callers at once — the next one
  waits `linger_ratio` × the time the batch before took to run, at most `linger`, or until it is
  full, before it starts. A batch's fixed cost (its transaction, round trips and statements, the
  relay woken by its commit) is then shared by more requests: issue 18, single transfers at 32 in
  flight came in batches of ~12, each with ~3 ms of the process's CPU that did not depend on its
  size. Callers that wait on their answers before they call again (closed loop) come back at the
  pace batches are answered, so a wait as long as a batch's run gathers about as many more,
  whatever else the machine does; the price is that wait added to a busy batch's latency (at
  most `linger`). Below `busy` (a few callers, waiting on each batch's round trips) and once the
  queue ran dry a batch waits for nothing but one turn of the loop. (An earlier version waited
  only while the loop had other work ready: on a loop that is never idle under load that made no
  measurable difference.)
- **`stop(timeout=None)`** waits until every queued caller is answered; past `timeout` it
  cancels the flushers (see above). Calls queued after it are still served.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Generic, TypeVar

from linli_runtime.errors import Unavailable

Item = TypeVar("Item")  # an item queued
Out = TypeVar("Out")  # its outcome


class Batch(list[Item], Generic[Item]):
    """The items of one batch, in arrival order, with each caller's context beside its item."""

    __slots__ = ("contexts",)

    def __init__(self, items: Sequence[Item], contexts: Sequence[contextvars.Context]) -> None:
        super().__init__(items)
        self.contexts = list(contexts)


Run = Callable[[Batch[Item]], Coroutine[Any, Any, Sequence[Out | BaseException]]]


class _Waiter(Generic[Item, Out]):
    __slots__ = ("context", "future", "item")

    def __init__(self, item: Item, context: contextvars.Context, future: asyncio.Future[Out]) -> None:
        self.item = item
        self.context = context
        self.future = future


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _stopped() -> Unavailable:
    return Unavailable("服务正在停止，本次请求结果未知，请用同一请求号重试 / the service is stopping before this "
                       "request's batch was answered: retry with the same request id", reason="SERVICE_STOPPING")


class GroupCommit(Generic[Item, Out]):
    """Queues items and runs them through `run` in batches of up to `max_batch`, at most
    `parallel` batches at a time (the next one gathers while these are written)."""

    def __init__(self, run: Run[Item, Out], *, max_batch: int = 64, parallel: int = 1, linger: float = 0.0,
                 linger_ratio: float = 1.0, busy: int = 8) -> None:
        if max_batch < 1 or parallel < 1 or linger < 0 or linger_ratio < 0 or busy < 1:
            raise ValueError("max_batch, parallel and busy are at least 1, linger and linger_ratio at least 0")
        self.run = run
        self.max_batch = max_batch
        self.parallel = parallel
        self.linger = linger
        self.linger_ratio = linger_ratio
        self.busy = busy
        self._queue: list[_Waiter[Item, Out]] = []
        # The size of the batch taken last: lingering follows it.
        self._last_size = 0
        self._last_took = 0.0  # seconds the batch taken last took to run
        self._full: asyncio.Future[None] | None = None  # a lingering batch's: set once the queue is full
        # Flushers running, counted by themselves as they end (a task's done-callback runs a turn
        # later: a request queued in between would find a flusher that will never take it).
        self._running = 0
        self._flushers: set[asyncio.Task[None]] = set()

    async def __call__(self, item: Item) -> Out:
        """Queue `item` and wait for its batch's outcome (raised, if it is an exception)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Out] = loop.create_future()
        self._queue.append(_Waiter(item, contextvars.copy_context(), future))
        if self._full is not None and len(self._queue) >= self.max_batch:
            _settle(self._full)
        if self._running < self.parallel:
            self._running += 1
            # A flusher of its own, empty context: a batch is nobody's call (see `_run`).
            task = loop.create_task(self._flush(), context=contextvars.Context())
            self._flushers.add(task)
            task.add_done_callback(self._flushers.discard)
        return await future

    async def _flush(self) -> None:
        waiting: list[_Waiter[Item, Out]] = []
        try:
            while self._queue:
                await asyncio.sleep(0)  # one turn: the requests already on their way join this batch
                if self.linger and self._last_size >= self.busy and len(self._queue) < self.max_batch:
                    await self._linger()
                taken, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
                self._last_size = len(taken)
                waiting = [w for w in taken if not w.future.done()]  # given up: left out
                if waiting:
                    started = asyncio.get_running_loop().time()
                    await self._run(waiting)
                    self._last_took = asyncio.get_running_loop().time() - started
                waiting = []
            self._last_size = 0  # caught up: the next request finds the service idle, and waits not
        except BaseException:  # this flusher cancelled: nobody waits forever
            last = self._running == 1  # no other flusher will take the queue
            for w in waiting + (self._queue if last else []):
                if not w.future.done():
                    w.future.set_exception(_stopped())
            if last:
                self._queue = []
            raise
        finally:
            self._running -= 1  # with no await since the queue was last seen empty

    async def _linger(self) -> None:
        """Wait `linger_ratio` × the last batch's run time, at most `linger`, or until the queue
        holds a full batch."""
        wait = min(self.linger, self.linger_ratio * self._last_took)
        if wait <= 0:
            return
        loop = asyncio.get_running_loop()
        full = self._full = loop.create_future()
        timer = loop.call_later(wait, _settle, full)
        try:
            await full
        finally:
            timer.cancel()
            self._full = None

    async def _run(self, waiting: list[_Waiter[Item, Out]]) -> None:
        batch = Batch([w.item for w in waiting], [w.context for w in waiting])
        try:
            outcomes = await asyncio.create_task(self.run(batch), context=waiting[0].context.copy())
        except Exception as error:  # the batch failed whole: so does each of its callers
            for w in waiting:
                if not w.future.done():
                    w.future.set_exception(error)
            return
        for w, outcome in zip(waiting, outcomes, strict=True):
            if w.future.done():
                continue
            if isinstance(outcome, BaseException):
                w.future.set_exception(outcome)
            else:
                w.future.set_result(outcome)

    async def stop(self, timeout: float | None = None) -> None:
        """Wait until every queued caller is answered; past `timeout` seconds, cancel the batches
        under way (their callers, and those queued, get `Unavailable`). Cancelling `stop` itself
        leaves the batches running."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._flushers:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                for task in self._flushers:
                    task.cancel()
                await asyncio.wait(set(self._flushers))
                return
            await asyncio.wait(set(self._flushers), timeout=left)
