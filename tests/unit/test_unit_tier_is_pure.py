"""The unit tier's guard (tests/unit/conftest.py) refuses what would make a unit test impure."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from linli.devtools.v1 import echo_pb2, echo_pb2_grpc
from tests.unit.conftest import ImpureUnitTest, refused_so_far


@pytest.fixture(autouse=True)
def _forgive() -> Iterator[None]:
    """These tests trip the guard on purpose: it must not fail them afterwards."""
    yield
    refused_so_far().clear()


def test_processes_are_refused() -> None:
    with pytest.raises(ImpureUnitTest, match="started a process"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)


async def test_asyncio_subprocesses_are_refused() -> None:
    with pytest.raises(ImpureUnitTest, match="started a process"):
        await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")


def test_connections_and_listeners_are_refused() -> None:
    with socket.socket() as sock, pytest.raises(ImpureUnitTest, match="opened a connection to"):
        sock.connect(("127.0.0.1", 9))
    with socket.socket() as sock, pytest.raises(ImpureUnitTest, match="listened on"):
        sock.bind(("127.0.0.1", 0))


async def test_grpc_servers_and_calls_are_refused_but_an_idle_channel_is_not() -> None:
    with pytest.raises(ImpureUnitTest, match="gRPC server"):
        grpc.aio.server()
    async with grpc.aio.insecure_channel("127.0.0.1:9") as channel:
        stub = echo_pb2_grpc.EchoServiceStub(channel)
        with pytest.raises(ImpureUnitTest, match="gRPC call"):
            await stub.Echo(echo_pb2.EchoRequest(message="hi"))


async def test_sqlite_files_are_refused_and_memory_is_not(tmp_path: Path) -> None:
    with pytest.raises(ImpureUnitTest, match="SQLite file"):
        sqlite3.connect(tmp_path / "x.db")
    engine = create_async_engine("sqlite+aiosqlite://")
    async with engine.connect() as conn:
        assert (await conn.exec_driver_sql("select 1")).scalar_one() == 1
    await engine.dispose()


def test_a_refusal_the_code_under_test_swallowed_still_fails_the_test() -> None:
    try:
        subprocess.run(["true"], check=False)
    except Exception:
        pass  # as a CLI turning every error into an exit code would
    assert refused_so_far(), "the guard remembers, and fails the test after it"
