"""CPU-bound work off the event loop: reading roster workbooks, drawing certificates.

A thread would not do: openpyxl and PDF layout are pure Python and hold the GIL, so a thread
parsing a workbook still starves the loop that answers GetBalance and the POS's PlaceHold.
`Workers` runs such functions in a small pool of worker processes, started on first use with
`spawn` (a fresh interpreter: nothing of the server's gRPC threads, sockets or database
connections is forked). At most `size` jobs run at once; the rest wait their turn on a
semaphore, so five uploads at once use one core each in turn, never all the cores the service
answers on. A job's function must be importable at module level and its arguments and result
picklable; a DomainError it raises reaches the caller as raised.

A worker that dies (killed, out of memory) breaks the pool: the job's caller gets UNAVAILABLE
(retry later) and the next job starts a new pool.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any, TypeVar

from linli_runtime.errors import Unavailable

log = logging.getLogger("linli.points.workers")

T = TypeVar("T")


class Workers:
    def __init__(self, size: int = 1) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one process")
        self.size = size
        self._executor: ProcessPoolExecutor | None = None
        self._slots = asyncio.Semaphore(size)

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(self.size, mp_context=multiprocessing.get_context("spawn"))
        return self._executor

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`function(*args, **kwargs)` in a worker process, waiting for a free one first."""
        async with self._slots:
            pool = self._pool()
            try:
                return await asyncio.get_running_loop().run_in_executor(pool, partial(function, *args, **kwargs))
            except BrokenProcessPool:
                log.warning("a worker process died; starting a new pool for the next job",
                            extra={"job": getattr(function, "__name__", "?")})
                if self._executor is pool:
                    self._executor = None
                    pool.shutdown(wait=False, cancel_futures=True)
                raise Unavailable("the service could not finish this file right now; try again",
                                  reason="WORKER_UNAVAILABLE") from None

    async def close(self) -> None:
        """Stop the worker processes (jobs still waiting are cancelled)."""
        pool, self._executor = self._executor, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
