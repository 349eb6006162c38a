"""The access log's line per call (linli_runtime.logs.AccessLog): the same JSON `log.info` would
write, and, held while an event loop answers calls, written in the order lines were made."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from linli_runtime.context import request_id_var
from linli_runtime.logs import AccessLog, JsonLineFormatter, configure_logging


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """The root logger as `configure_logging` leaves it (its one handler: pytest's own capture
    handlers are set aside for the test), writing to a string."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("echo")
    written = io.StringIO()
    root.handlers[0].setStream(written)  # type: ignore[attr-defined]
    try:
        yield written
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@contextmanager
def alone() -> Iterator[None]:
    """The runtime's handler as the root logger's only one, as in a service (pytest adds its
    capture handlers around each test's call)."""
    root = logging.getLogger()
    handlers = root.handlers[:]
    root.handlers[:] = [h for h in handlers if h.__class__.__name__ == "_JsonStreamHandler"]
    try:
        yield
    finally:
        root.handlers[:] = handlers


async def test_lines_wait_for_the_loops_round_and_keep_their_order_with_other_lines(stream: io.StringIO) -> None:
    access = AccessLog(logging.getLogger("linli.grpc"))
    token = request_id_var.set('a"quoted"-id')
    with alone():
        try:
            access("/linli.devtools.v1.EchoService/Echo", "OK", 0.0012345)
            access("/linli.devtools.v1.EchoService/Echo", "NOT_FOUND", 0.5)
        finally:
            request_id_var.reset(token)
        assert stream.getvalue() == ""  # held: one write for the round's calls
        logging.getLogger("linli.test").warning("after the calls")  # writes the held lines first
    lines = stream.getvalue().splitlines()
    entries = [json.loads(line) for line in lines]
    assert [(e["message"], e.get("code")) for e in entries] == [("rpc", "OK"), ("rpc", "NOT_FOUND"),
                                                                  ("after the calls", None)]
    assert entries[0]["request_id"] == 'a"quoted"-id' and entries[0]["duration_ms"] == 1.234
    assert entries[0]["service"] == "echo" and entries[0]["logger"] == "linli.grpc"
    for line, entry in zip(lines[:2], entries[:2], strict=True):
        assert JsonLineFormatter().encode(entry) == line  # byte for byte what the formatter writes

    with alone():
        access("/linli.devtools.v1.EchoService/Echo", "OK", 0.001)
    await asyncio.sleep(0)  # the write was scheduled before this resumption: it has run
    assert len(stream.getvalue().splitlines()) == 4


def test_without_an_event_loop_a_line_is_written_at_once(stream: io.StringIO) -> None:
    with alone():
        AccessLog(logging.getLogger("linli.grpc"))("/linli.devtools.v1.EchoService/Echo", "OK", 0.001)
    assert json.loads(stream.getvalue())["message"] == "rpc"
