"""AIP-155 request ids, for every mutation a client may retry.

`once(db, clock, method, request, ResponseType, body)` runs `body(session)` in one transaction
and stores its answer under (caller, method, request id) in the same transaction. The same id
again returns the stored answer without running `body`; the same id with a different request
is refused with ALREADY_EXISTS (reason REQUEST_ID_REUSED). Ids are scoped to the caller, so one
client's id can neither collide with nor reveal another's answer.

Concurrent duplicates: on SQLite the second waits for the write lock and then finds the row; on
PostgreSQL the loser fails on the primary key at commit, rolls back, and answers from the row —
or, when its body already saw the winner's change and refused it as existing (ALREADY_EXISTS),
answers from the winner's row too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from linli_runtime import fields
from linli_runtime.clock import Clock
from linli_runtime.context import current_principal
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, FieldViolation, Unavailable
from linli_runtime.events.tables import REQUEST_IDS, AnsweredRequest
from linli_runtime.models import loaded

R = TypeVar("R", bound=Message)

def fingerprint(request: Message) -> str:
    """What the request asks for, without its request id."""
    copy = type(request)()
    copy.CopyFrom(request)
    if "request_id" in copy.DESCRIPTOR.fields_by_name:
        copy.ClearField("request_id")  # type: ignore[arg-type]
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()


async def _stored(session: AsyncSession, key: tuple[str, str, str], fp: str, cls: type[R]) -> R | None:
    caller, method, request_id = key
    conn = await session.connection()
    row = (
        await conn.execute(
            select(REQUEST_IDS).where(
                REQUEST_IDS.c.caller == caller, REQUEST_IDS.c.method == method,
                REQUEST_IDS.c.request_id == request_id,
            )
        )
    ).first()
    if row is None:
        return None
    answered = loaded(AnsweredRequest, row)  # our own row, read back whole
    if answered.fingerprint != fp:
        raise AlreadyExists(
            f"request_id {request_id!r} was already used for a different {method} request; use a new id",
            reason="REQUEST_ID_REUSED",
            violations=[FieldViolation("request_id", "already used for a different request")],
        )
    return cls.FromString(answered.response)


async def once(
    db: Database,
    clock: Clock,
    method: str,
    request: Message,
    response_cls: type[R],
    body: Callable[[AsyncSession], Awaitable[R]],
    *,
    caller: str | None = None,
) -> R:
    """Run `body` in one transaction, at most once per (caller, method, request id)."""
    request_id: str = getattr(request, "request_id", "")
    if not request_id:
        async with db.transaction() as session:
            return await body(session)
    fields.request_id(request_id)  # the one rule of every service, and its one message
    if caller is None:
        principal = current_principal()
        caller = principal.subject if principal is not None else ""
    key = (caller, method, request_id)
    fp = fingerprint(request)
    try:
        async with db.transaction() as session:
            earlier = await _stored(session, key, fp, response_cls)
            if earlier is not None:
                return earlier
            response = await body(session)
            conn = await session.connection()
            await conn.execute(
                REQUEST_IDS.insert().values(
                    caller=caller, method=method, request_id=request_id, fingerprint=fp,
                    response=response.SerializeToString(), created_at=clock.now(),
                )
            )
            return response
    except AlreadyExists:
        # The body saw what a concurrent call with the same id committed meanwhile (PostgreSQL's
        # READ COMMITTED: "that claim exists already"): answer as that call did.
        async with db.session() as session:
            earlier = await _stored(session, key, fp, response_cls)
        if earlier is not None:
            return earlier
        raise
    except IntegrityError as exc:
        # A concurrent call with the same id committed first (or the body hit a unique key
        # that a concurrent duplicate took): answer as that call did.
        async with db.session() as session:
            earlier = await _stored(session, key, fp, response_cls)
        if earlier is not None:
            return earlier
        raise Unavailable("a concurrent change conflicted with this one; retry with the same request id",
                          reason="CONCURRENT_CHANGE") from exc
