"""linli_runtime.group_commit in memory: concurrent calls share a batch, each gets its own outcome;
the choices its docstring names (context, a failing batch, callers that give up, the flusher
cancelled, max_batch, parallel, stop), one test each."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Sequence

import pytest

from linli_runtime.errors import FailedPrecondition, Unavailable
from linli_runtime.group_commit import Batch, GroupCommit
from linli_runtime.testing.waiting import wait_until

CALLER: contextvars.ContextVar[str] = contextvars.ContextVar("CALLER", default="nobody")


class Recorder:
    """A `run` that records its batches and, unless gated, answers each item times ten (odd
    items refused) after one turn of the loop (a commit: the next calls queue meanwhile)."""

    def __init__(self, *, fail_first: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.fail_first = fail_first
        self.gate: asyncio.Event | None = None
        self.started = asyncio.Event()
        self.in_flight = self.most_in_flight = 0

    async def run(self, batch: Batch[int]) -> list[int | BaseException]:
        self.batches.append(list(batch))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.started.set()
        try:
            await asyncio.sleep(0)
            if self.gate is not None:
                await self.gate.wait()
        finally:
            self.in_flight -= 1
        if self.fail_first and len(self.batches) == 1:
            raise ConnectionError("the database went away")
        return [FailedPrecondition(f"{i} is odd", reason="ODD") if i % 2 else i * 10 for i in batch]


async def turns(n: int) -> None:
    """Let the event loop go round `n` times (whatever was ready has run)."""
    for _ in range(n):
        await asyncio.sleep(0)


def reasons(outcomes: Sequence[object]) -> list[object]:
    return [o.reason if isinstance(o, FailedPrecondition) else o for o in outcomes]


async def test_concurrent_calls_share_a_batch_and_a_refused_one_fails_alone() -> None:
    recorder = Recorder()
    commit: GroupCommit[int, int] = GroupCommit(recorder.run)
    outcomes = await asyncio.gather(*(commit(i) for i in range(5)), return_exceptions=True)
    assert reasons(outcomes) == [0, "ODD", 20, "ODD", 40]
    assert recorder.batches == [[0, 1, 2, 3, 4]]  # in arrival order


async def test_batches_hold_at_most_max_batch() -> None:
    recorder = Recorder()
    commit: GroupCommit[int, int] = GroupCommit(recorder.run, max_batch=3)
    outcomes = await asyncio.gather(*(commit(i) for i in range(0, 14, 2)))
    assert outcomes == [i * 10 for i in range(0, 14, 2)]
    assert [len(b) for b in recorder.batches] == [3, 3, 1]


async def test_a_call_right_after_another_is_answered() -> None:
    recorder = Recorder()
    commit: GroupCommit[int, int] = GroupCommit(recorder.run)
    for i in range(0, 10, 2):  # each call queued as the previous batch's flusher ends
        assert await asyncio.wait_for(commit(i), 5) == i * 10
    assert recorder.batches == [[i] for i in range(0, 10, 2)]


async def test_a_failed_batch_fails_only_its_own_calls_and_the_next_batch_runs() -> None:
    recorder = Recorder(fail_first=True)
    commit: GroupCommit[int, int] = GroupCommit(recorder.run, max_batch=2)
    outcomes = await asyncio.gather(*(commit(i) for i in (0, 2, 4)), return_exceptions=True)
    assert [type(o) for o in outcomes[:2]] == [ConnectionError, ConnectionError]
    assert outcomes[2] == 40  # the next batch, after the failed one
    assert await commit(6) == 60


async def test_each_callers_context_is_handed_along_and_the_batch_runs_in_the_first_ones() -> None:
    seen: list[tuple[list[str], str]] = []

    async def run(batch: Batch[int]) -> list[int]:
        seen.append(([ctx[CALLER] for ctx in batch.contexts], CALLER.get()))
        return list(batch)

    commit: GroupCommit[int, int] = GroupCommit(run)

    async def call(who: str, i: int) -> int:
        CALLER.set(who)
        return await commit(i)

    assert list(await asyncio.gather(call("a", 1), call("b", 2), call("c", 3))) == [1, 2, 3]
    assert await call("d", 4) == 4
    assert seen == [(["a", "b", "c"], "a"), (["d"], "d")]  # the second batch: its own first caller's


async def test_a_caller_that_gave_up_before_its_batch_started_is_left_out() -> None:
    recorder = Recorder()
    recorder.gate = asyncio.Event()
    commit: GroupCommit[int, int] = GroupCommit(recorder.run)
    first = asyncio.ensure_future(commit(0))
    await recorder.started.wait()
    gone, kept = asyncio.ensure_future(commit(2)), asyncio.ensure_future(commit(4))
    await asyncio.sleep(0)
    gone.cancel()
    recorder.gate.set()
    assert (await first, await kept) == (0, 40)
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert recorder.batches == [[0], [4]]


async def test_parallel_batches_run_at_once_never_more() -> None:
    recorder = Recorder()
    recorder.gate = asyncio.Event()
    commit: GroupCommit[int, int] = GroupCommit(recorder.run, max_batch=2, parallel=2)
    calls = [asyncio.ensure_future(commit(i)) for i in range(0, 12, 2)]
    await wait_until(lambda: recorder.in_flight == 2, what="two batches under way")
    await turns(5)
    assert recorder.in_flight == 2  # two flushers, each holding a batch; the rest queue
    recorder.gate.set()
    assert await asyncio.gather(*calls) == [i * 10 for i in range(0, 12, 2)]
    assert recorder.most_in_flight == 2
    assert sorted(x for b in recorder.batches for x in b) == list(range(0, 12, 2))


async def test_a_cancelled_flusher_answers_its_batch_and_the_queue_with_unavailable() -> None:
    recorder = Recorder()
    recorder.gate = asyncio.Event()  # never set: the batch hangs, like a database that went quiet
    commit: GroupCommit[int, int] = GroupCommit(recorder.run, max_batch=1)
    calls = [asyncio.ensure_future(commit(i)) for i in (0, 2)]
    await recorder.started.wait()
    await commit.stop(timeout=0.01)
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(o, Unavailable) for o in outcomes), outcomes  # in the batch, and queued behind it
    assert recorder.batches == [[0]]
    recorder.gate = None
    assert await commit(4) == 40  # served again after stop


async def test_stop_waits_until_every_queued_call_is_answered() -> None:
    recorder = Recorder()
    recorder.gate = asyncio.Event()
    commit: GroupCommit[int, int] = GroupCommit(recorder.run, max_batch=1)
    calls = [asyncio.ensure_future(commit(i)) for i in (0, 2, 4)]
    await recorder.started.wait()
    stopping = asyncio.ensure_future(commit.stop())
    await turns(5)
    assert not stopping.done()
    recorder.gate.set()
    await asyncio.wait_for(stopping, 5)
    assert all(c.done() for c in calls) and [c.result() for c in calls] == [0, 20, 40]


async def test_a_busy_group_commit_lingers_as_long_as_its_last_batch_took_until_full() -> None:
    """After a batch of `busy` requests or more, the next batch waits `linger_ratio` × the time the
    batch before took (at most `linger`): requests that come meanwhile join it, and once it is
    full it starts at once. After a batch of fewer than `busy`, or once the queue ran dry, a
    batch waits for nothing."""
    recorder = Recorder()
    recorder.gate = asyncio.Event()
    commit: GroupCommit[int, int] = GroupCommit(recorder.run, max_batch=4, busy=3, linger=30, linger_ratio=100)
    first = [asyncio.ensure_future(commit(i)) for i in (0, 2, 4)]
    await recorder.started.wait()
    second = [asyncio.ensure_future(commit(6))]
    await asyncio.sleep(0.02)  # the first batch takes 20 ms or more: the next may wait 2 s
    recorder.gate.set()
    await asyncio.gather(*first)
    await asyncio.sleep(0.05)  # long past the next turn: without lingering 6 would have gone alone
    assert not second[0].done()
    second += [asyncio.ensure_future(commit(i)) for i in (8, 10, 12)]
    assert await asyncio.wait_for(asyncio.gather(*second), 1) == [60, 80, 100, 120]  # full: no wait
    assert recorder.batches == [[0, 2, 4], [6, 8, 10, 12]]
    # Caught up (the queue ran dry): a request alone is answered without lingering.
    assert await asyncio.wait_for(commit(14), 1) == 140

    few = Recorder()
    commit = GroupCommit(few.run, busy=3, linger=30, linger_ratio=100)
    assert await asyncio.wait_for(asyncio.gather(commit(0), commit(2)), 5) == [0, 20]
    assert await asyncio.wait_for(commit(4), 1) == 40  # the batch before held 2 < busy
    assert few.batches == [[0, 2], [4]]


async def test_lingering_is_bounded_by_linger_and_follows_the_last_batch() -> None:
    loop = asyncio.get_running_loop()
    recorder = Recorder()
    recorder.gate = asyncio.Event()
    commit: GroupCommit[int, int] = GroupCommit(recorder.run, busy=2, linger=0.05, linger_ratio=100)
    first = [asyncio.ensure_future(commit(i)) for i in (0, 2)]
    await recorder.started.wait()
    late = asyncio.ensure_future(commit(4))
    await asyncio.sleep(0.01)  # the batch takes 10 ms or more: 100 × that is past `linger`
    recorder.gate.set()
    await asyncio.gather(*first)
    started = loop.time()
    assert await asyncio.wait_for(late, 5) == 40
    assert 0.04 <= loop.time() - started < 1, "waited `linger`, no longer"

    quick = Recorder()  # batches that take no time: a wait of ratio × nothing
    commit = GroupCommit(quick.run, busy=2, linger=30, linger_ratio=1)
    first = [asyncio.ensure_future(commit(i)) for i in (0, 2)]
    await turns(1)
    late = asyncio.ensure_future(commit(4))
    assert await asyncio.wait_for(asyncio.gather(*first, late), 1) == [0, 20, 40]
    assert quick.batches in ([[0, 2], [4]], [[0, 2, 4]])
