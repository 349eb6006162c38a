"""AIP-155 request ids: the first answer to (method, request id) is stored in the same
transaction as the change; a retry gets it back without repeating the change. The same id with
a different request is refused (INVALID_ARGUMENT on `request_id`).

Concurrent duplicates: on SQLite the second waits for the write lock and then finds the row;
on PostgreSQL it fails on the primary key (or on the business row's own unique key) at commit,
rolls back, and then finds the row."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from linli_governance.tables import requests
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import Aborted, InvalidArgument

R = TypeVar("R", bound=Message)


def fingerprint(request: Message) -> str:
    copy = type(request)()
    copy.CopyFrom(request)
    if "request_id" in copy.DESCRIPTOR.fields_by_name:
        copy.ClearField("request_id")  # type: ignore[arg-type]
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()


async def _stored(session: AsyncSession, method: str, request_id: str, fp: str, cls: type[R]) -> R | None:
    conn = await session.connection()
    row = (
        await conn.execute(
            select(requests.c.fingerprint, requests.c.response).where(
                requests.c.method == method, requests.c.request_id == request_id
            )
        )
    ).first()
    if row is None:
        return None
    if row.fingerprint != fp:
        raise InvalidArgument.field(
            "request_id",
            f"{request_id!r} was already used for a different {method} request",
            reason="REQUEST_ID_REUSED",
        )
    return cls.FromString(row.response)


async def once(
    db: Database,
    clock: Clock,
    method: str,
    request: Message,
    response_cls: type[R],
    body: Callable[[AsyncSession], Awaitable[R]],
) -> R:
    """Run `body` in one transaction, at most once per (method, request id)."""
    request_id: str = getattr(request, "request_id", "")
    if len(request_id) > 128:
        raise InvalidArgument.field("request_id", "must be at most 128 characters")
    if not request_id:
        async with db.transaction() as session:
            return await body(session)
    fp = fingerprint(request)
    try:
        async with db.transaction() as session:
            earlier = await _stored(session, method, request_id, fp, response_cls)
            if earlier is not None:
                return earlier
            response = await body(session)
            conn = await session.connection()
            await conn.execute(
                requests.insert().values(
                    method=method,
                    request_id=request_id,
                    fingerprint=fp,
                    response=response.SerializeToString(),
                    created_at=clock.now(),
                )
            )
            return response
    except IntegrityError as exc:
        async with db.session() as session:
            earlier = await _stored(session, method, request_id, fp, response_cls)
        if earlier is not None:
            return earlier
        raise Aborted("a concurrent change conflicted with this one; retry with the same request id") from exc
