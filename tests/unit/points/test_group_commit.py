"""GroupCommit in memory: concurrent requests share a batch, each gets its own outcome, a call
right after another's answer is never left waiting, and a batch that fails fails each member."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from linli_points.ledger.group_commit import GroupCommit, Work

from linli_runtime.errors import FailedPrecondition


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[int] = []
        self.fail = fail

    async def run_each(self, works: Sequence[Work]) -> list[Any]:
        self.batches.append(len(works))
        await asyncio.sleep(0)  # a commit: the next requests queue meanwhile
        if self.fail:
            raise ConnectionError("the database went away")
        outcomes = []
        for work in works:
            try:
                outcomes.append(await work(None))  # type: ignore[arg-type]
            except FailedPrecondition as error:
                outcomes.append(error)
        return outcomes


async def answer(value: int) -> int:
    if value < 0:
        raise FailedPrecondition(f"{value} is refused", reason="NEGATIVE")
    return value * 10


async def test_concurrent_calls_share_batches_and_each_gets_its_own_outcome() -> None:
    recorder = Recorder()
    batcher: GroupCommit[int] = GroupCommit(recorder.run_each, max_batch=8)
    outcomes = await asyncio.gather(*(batcher(lambda _, v=v: answer(v)) for v in (1, -2, 3, 4)),
                                    return_exceptions=True)
    assert outcomes[0] == 10 and outcomes[2:] == [30, 40]
    assert isinstance(outcomes[1], FailedPrecondition) and outcomes[1].reason == "NEGATIVE"
    assert recorder.batches == [4]


async def test_a_call_right_after_another_is_answered() -> None:
    recorder = Recorder()
    batcher: GroupCommit[int] = GroupCommit(recorder.run_each)
    for v in range(5):  # each call queued as the previous batch's flusher ends
        assert await asyncio.wait_for(batcher(lambda _, v=v: answer(v)), 5) == v * 10
    assert recorder.batches == [1] * 5


async def test_batches_hold_at_most_max_batch() -> None:
    recorder = Recorder()
    batcher: GroupCommit[int] = GroupCommit(recorder.run_each, max_batch=3)
    assert await asyncio.gather(*(batcher(lambda _, v=v: answer(v)) for v in range(7))) == [v * 10 for v in range(7)]
    assert recorder.batches == [3, 3, 1]


async def test_a_failed_batch_fails_each_of_its_calls() -> None:
    batcher: GroupCommit[int] = GroupCommit(Recorder(fail=True).run_each)
    outcomes = await asyncio.gather(*(batcher(lambda _, v=v: answer(v)) for v in range(3)), return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    with pytest.raises(ConnectionError):
        await batcher(lambda _: answer(1))
