"""The collector's settings for a service's own process (issue 18).

Once a service has started, what it loaded to serve — modules, tables, stubs, compiled
statements, demo data — lives as long as the process: `settle_memory` moves it out of the
collector's sight (gc.freeze), so a full collection no longer walks it, and collects young
objects every 10 000 allocations rather than 700 (the older generations as often as before,
relative to that). A 10 000-transfer CreateTransfers makes ~10 tracked objects a transfer; with
the defaults and the whole process in sight of every full collection, the collector took a
third of the call's CPU (bench.points_ledger: 110 -> 69 µs a transfer).

For a service's own process only (`ServiceApp.main`): a frozen object is never collected, so a
process that starts many apps one after another (the tests) would keep each one.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

GC_THRESHOLDS = (10_000, 10, 10)


def settle_memory() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


_paused = 0  # calls inside `collector_paused` (they overlap on one event loop)
_was_enabled = True


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Keep the cyclic collector off while a bulk call builds its many objects (issue 18: a
    10 000-transfer CreateTransfers keeps each of them until it answers, so every collection
    during it walked all made so far again — ~10 % of the call's CPU). Refcounting still frees
    what is dropped; cycles made meanwhile wait for the first collection after. Calls may
    overlap (awaits between): the collector is on again once the last one leaves, as it was."""
    global _paused, _was_enabled
    if _paused == 0:
        _was_enabled = gc.isenabled()
        gc.disable()
    _paused += 1
    try:
        yield
    finally:
        _paused -= 1
        if _paused == 0 and _was_enabled:
            gc.enable()
