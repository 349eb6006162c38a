"""AIP-155 request ids (linli_runtime.idempotency), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from sqlalchemy import func, select

from linli.devtools.v1.echo_pb2 import EchoRequest
from linli_runtime.clock import ManualClock
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, InvalidArgument
from linli_runtime.idempotency import once
from tests.integration.runtime.eventkit import applied, create_test_tables


async def record(db: Database, request: EchoRequest, caller: str = "li") -> StringValue:
    async def body(session) -> StringValue:  # type: ignore[no-untyped-def]
        conn = await session.connection()
        result = await conn.execute(applied.insert().values(event_id=request.request_id, value=request.message))
        return StringValue(value=f"{request.message}#{result.inserted_primary_key[0]}")

    return await once(db, ManualClock(), "Record", request, StringValue, body, caller=caller)


async def rows(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(applied))).scalar_one())


async def test_same_request_id_returns_the_first_answer_and_changes_once(db: Database) -> None:
    await create_test_tables(db)
    request = EchoRequest(message="hello", request_id="req-1")
    first = await record(db, request)
    assert await record(db, request) == first
    assert await rows(db) == 1


async def test_concurrent_duplicates_change_once(db: Database) -> None:
    await create_test_tables(db)
    request = EchoRequest(message="hello", request_id="req-2")
    answers = await asyncio.gather(*(record(db, request) for _ in range(10)))
    assert len({a.value for a in answers}) == 1
    assert await rows(db) == 1


async def test_reused_id_with_other_content_is_refused_and_changes_nothing(db: Database) -> None:
    await create_test_tables(db)
    await record(db, EchoRequest(message="hello", request_id="req-3"))
    with pytest.raises(AlreadyExists) as refused:
        await record(db, EchoRequest(message="other", request_id="req-3"))
    assert refused.value.reason == "REQUEST_ID_REUSED"
    assert [v.field for v in refused.value.violations] == ["request_id"]
    assert await rows(db) == 1


async def test_ids_are_scoped_to_the_caller(db: Database) -> None:
    await create_test_tables(db)
    mine = await record(db, EchoRequest(message="hello", request_id="req-4"), caller="li")
    theirs = await record(db, EchoRequest(message="other", request_id="req-4"), caller="wang")
    assert mine != theirs and await rows(db) == 2


async def test_malformed_request_id_is_invalid_argument(db: Database) -> None:
    await create_test_tables(db)
    for bad in ("has space", "x" * 129, "中文"):
        with pytest.raises(InvalidArgument):
            await record(db, EchoRequest(message="hello", request_id=bad))
    assert await rows(db) == 0
