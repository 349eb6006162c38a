"""collector_paused: the cyclic collector is off while any of the calls inside it runs (they
overlap on one event loop), and as it was once the last has left — even if one failed."""

from __future__ import annotations

import asyncio
import gc

import pytest

from linli_runtime.memory import collector_paused


async def test_the_collector_is_off_while_any_overlapping_call_runs_and_back_after_the_last() -> None:
    assert gc.isenabled()
    first_in, second_out = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        with collector_paused():
            first_in.set()
            await second_out.wait()
            assert not gc.isenabled()  # the second left first: still paused for this one

    async def second() -> None:
        await first_in.wait()
        with collector_paused():
            assert not gc.isenabled()
        second_out.set()

    await asyncio.gather(first(), second())
    assert gc.isenabled()


def test_a_failing_call_turns_it_back_on_and_a_disabled_collector_stays_off() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("refused")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
