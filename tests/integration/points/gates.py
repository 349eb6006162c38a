"""A gate in front of the service's worker processes, for tests that must show what the service
does *while* a job runs in a worker — by the order of events, never by a stopwatch.

    gate = Gate(tmp_path)                                  # closed: the test holds the lock
    app.roster.workers = GatedWorkers(app.workers, gate)   # the service's own pool, jobs held
    ...                                                    # a job reaches its worker and waits
    await wait_until(lambda: gate.arrived() >= 1, ...)
    ...                                                    # whatever must happen meanwhile
    gate.open()

A job, in its worker process, first says it arrived (a file in the gate's directory), then waits
for a shared lock on the gate's file, which the test holds exclusively until it opens the gate
(`flock`: the worker is a separate process, so no object of the test reaches it). `behind_gate`
is at module level so that the worker (a spawned interpreter) can import it by name.
"""

from __future__ import annotations

import fcntl
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from linli_points.workers import Workers

T = TypeVar("T")


def behind_gate(lock_path: str, arrivals: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Runs in the worker process: arrive, wait for the gate to open, then do the job."""
    Path(arrivals, f"{os.getpid()}-{uuid.uuid4().hex}").touch()
    with open(lock_path, "rb") as gate:
        fcntl.flock(gate, fcntl.LOCK_SH)  # blocks while the test holds the gate closed
        fcntl.flock(gate, fcntl.LOCK_UN)
    return function(*args, **kwargs)


class Gate:
    """Closed when made. `open()` is idempotent and may be called from any thread."""

    def __init__(self, directory: Path) -> None:
        self.arrivals = directory / "arrivals"
        self.arrivals.mkdir()
        self.lock_path = directory / "gate"
        self.lock_path.touch()
        self._held: Any = open(self.lock_path, "rb")  # held until the gate opens
        fcntl.flock(self._held, fcntl.LOCK_EX)
        self._opening = threading.Lock()
        self.opened_by = ""

    def arrived(self) -> int:
        """How many jobs have reached the gate (and passed it, once it is open)."""
        return sum(1 for _ in self.arrivals.iterdir())

    def open(self, by: str = "the test") -> None:
        with self._opening:
            if self._held is None:
                return
            fcntl.flock(self._held, fcntl.LOCK_UN)
            self._held.close()
            self._held = None
            self.opened_by = by

    def open_at_the_latest_after(self, seconds: float) -> threading.Timer:
        """A backstop, so that a service that never answers while a job is held (its event loop
        blocked waiting for the job) fails the test's assertions instead of hanging it."""
        timer = threading.Timer(seconds, self.open, kwargs={"by": "the backstop"})
        timer.daemon = True
        timer.start()
        return timer


class GatedWorkers:
    """The service's own worker pool, each job held at `gate` in its worker process first."""

    def __init__(self, pool: Workers, gate: Gate) -> None:
        self.pool = pool
        self.gate = gate

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self.pool.run(behind_gate, str(self.gate.lock_path), str(self.gate.arrivals), function,
                                   *args, **kwargs)

    async def close(self) -> None:
        await self.pool.close()
