"""group_commit.Batcher: concurrent items go as one batch, each answered on its own."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from linli_redemption.group_commit import Batcher

from linli_runtime.errors import FailedPrecondition


async def test_concurrent_items_are_one_batch_and_a_refused_one_fails_alone() -> None:
    batches: list[list[int]] = []

    async def run(items: Sequence[int]) -> list[int | BaseException]:
        batches.append(list(items))
        return [FailedPrecondition("odd", reason="ODD") if i % 2 else i * 10 for i in items]

    batcher: Batcher[int, int] = Batcher(run, max_batch=3)
    outcomes = await asyncio.gather(*(batcher(i) for i in range(5)), return_exceptions=True)
    assert batches == [[0, 1, 2], [3, 4]]  # up to max_batch each, in arrival order
    assert [o if isinstance(o, int) else o.reason for o in outcomes] == [0, "ODD", 20, "ODD", 40]  # type: ignore[union-attr]


async def test_a_failed_batch_fails_each_of_its_items_and_the_next_batch_runs() -> None:
    calls = 0

    async def run(items: Sequence[str]) -> list[str | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database gone")
        return [item.upper() for item in items]

    batcher: Batcher[str, str] = Batcher(run)
    first = await asyncio.gather(batcher("a"), batcher("b"), return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in first)
    assert await batcher("c") == "C"


async def test_a_caller_that_gave_up_before_its_batch_started_is_left_out() -> None:
    seen: list[list[str]] = []
    gate, started = asyncio.Event(), asyncio.Event()

    async def run(items: Sequence[str]) -> list[str | BaseException]:
        seen.append(list(items))
        if len(seen) == 1:
            started.set()
            await gate.wait()
        return list(items)

    batcher: Batcher[str, str] = Batcher(run)
    first = asyncio.ensure_future(batcher("first"))
    await started.wait()
    gone, kept = asyncio.ensure_future(batcher("gone")), asyncio.ensure_future(batcher("kept"))
    await asyncio.sleep(0)
    gone.cancel()
    gate.set()
    assert (await first, await kept) == ("first", "kept")
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert seen == [["first"], ["kept"]]
