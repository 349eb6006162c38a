"""tests/unit is pure and in memory: no processes, no sockets, no servers, no database files.

Every unit test runs with those doors shut, so a test that needs one fails here at once, naming
what it tried, instead of slowing `make test-fast` down for everybody: it belongs in
tests/integration (real NATS, real PostgreSQL, real servers) or tests/e2e. In-memory SQLite
(`sqlite+aiosqlite://`) is allowed; SQLite files are not.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import grpc
import grpc.aio._channel as aio_channel
import pytest

MOVE_IT = ("tests/unit is pure and in memory (see tests/unit/conftest.py): this test {what}; "
           "move it to tests/integration")


class ImpureUnitTest(AssertionError):
    pass


# What the running test tried; checked again after it, in case the code under test swallowed the
# refusal (a CLI turning every error into an exit code).
_refused: list[str] = []


def _fail(what: str) -> NoReturn:
    message = MOVE_IT.format(what=what)
    _refused.append(message)
    raise ImpureUnitTest(message)


def _refuse(what: str, *, show: int | None = 0) -> Callable[..., NoReturn]:
    """A stand-in that refuses, quoting its argument number `show` (the command, the address)."""

    def refused(*args: Any, **kwargs: Any) -> NoReturn:
        target = str(args[show])[:120] if show is not None and len(args) > show else ""
        _fail(f"{what} {target}".strip())

    return refused


def refused_so_far() -> list[str]:
    """What the running test tried (tests/unit/test_unit_tier_is_pure.py clears it)."""
    return _refused


def _sqlite_in_memory_only(real: Callable[..., sqlite3.Connection]) -> Callable[..., sqlite3.Connection]:
    def connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        name = os.fspath(database) if not isinstance(database, str) else database
        if name == ":memory:" or (name.startswith("file:") and "mode=memory" in name):
            return real(database, *args, **kwargs)
        _fail(f"opened the SQLite file {name!r} (use sqlite+aiosqlite:// in memory)")

    return connect


@pytest.fixture(autouse=True)
def _pure(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("started a process", show=1))
    for name in ("fork", "posix_spawn", "posix_spawnp"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, _refuse(f"started a process ({name})"))
    # Connecting or listening, over TCP or a Unix socket (PostgreSQL's); socketpair() stays, as
    # asyncio's event loop wakes itself through one.
    monkeypatch.setattr(socket.socket, "connect", _refuse("opened a connection to", show=1))
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse("opened a connection to", show=1))
    monkeypatch.setattr(socket.socket, "bind", _refuse("listened on", show=1))
    # gRPC's sockets live in its C core, out of Python's reach. A channel connects on its first
    # call, so an aio channel may be made (a client under test holds one) but not called; servers
    # and blocking channels are refused outright.
    for module, name in ((grpc, "server"), (grpc.aio, "server"), (grpc, "insecure_channel"), (grpc, "secure_channel")):
        monkeypatch.setattr(module, name, _refuse(f"made a gRPC {name.replace('_', ' ')}"))
    for callable_type in (aio_channel.UnaryUnaryMultiCallable, aio_channel.UnaryStreamMultiCallable,
                          aio_channel.StreamUnaryMultiCallable, aio_channel.StreamStreamMultiCallable):
        monkeypatch.setattr(callable_type, "__call__", _refuse("made a gRPC call", show=None))
    monkeypatch.setattr(sqlite3, "connect", _sqlite_in_memory_only(sqlite3.connect))
    _refused.clear()
    yield
    if _refused:
        pytest.fail(_refused[0], pytrace=False)
