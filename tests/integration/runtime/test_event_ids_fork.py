"""Event ids drawn ahead from the OS stay in the process that drew them (envelope.new_event_id)."""

from __future__ import annotations

import os

import pytest

from linli_runtime.events.envelope import new_event_id


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_does_not_hand_out_the_parents_ids() -> None:
    """Ids read ahead stay in the parent: a child with a copy of them would repeat the parent's
    next ids, and the consumers' dedup would drop the second event as a duplicate."""
    new_event_id()  # a block read, ids left over
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        try:
            os.write(write, "".join(new_event_id() for _ in range(8)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    theirs = {child[i:i + 32] for i in range(0, len(child), 32)}
    ours = {new_event_id() for _ in range(8)}
    assert len(theirs) == 8 and not theirs & ours
