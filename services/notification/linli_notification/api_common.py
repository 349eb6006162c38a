"""What every RPC of the service shares: request ids (AIP-155), page tokens (AIP-158) and who
may do what."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

import sqlalchemy as sa
from google.protobuf.message import Message
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_notification.tables import request_id as request_ids
from linli_runtime.auth import Principal, Role, caller
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, InvalidArgument, PermissionDenied

R = TypeVar("R", bound=Message)

# Roles that run help requests and rosters (within their scope).
STAFF_ROLES = (Role.COMMUNITY_WORKER, Role.STREET_OFFICER, Role.CITY_OPERATOR, Role.PARTY_COMMITTEE)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
DEFAULT_PAGE = 20
MAX_PAGE = 100


def is_staff(who: Principal) -> bool:
    return who.role in {str(r) for r in STAFF_ROLES} | {Role.PLATFORM_ADMIN.value, Role.SERVICE.value}


def require_staff() -> Principal:
    who = caller()
    if not is_staff(who):
        raise PermissionDenied(f"role '{who.role}' may not do this; community staff may",
                               reason="ROLE_NOT_ALLOWED", metadata={"role": who.role})
    return who


def fingerprint(request: Message) -> str:
    copy = type(request)()
    copy.CopyFrom(request)
    if "request_id" in copy.DESCRIPTOR.fields_by_name:
        copy.ClearField("request_id")  # type: ignore[arg-type]
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()


async def once(db: Database, clock: Clock, method: str, request: Message, response_cls: type[R],
               run: Callable[[AsyncConnection], Awaitable[R]]) -> R:
    """Run a mutation in one transaction. With a request id, remember the answer: the same id
    again gets the same answer; the same id with different content is refused."""
    rid: str = getattr(request, "request_id", "")
    if rid and not _REQUEST_ID.match(rid):
        raise InvalidArgument.field("request_id", "use 1–128 letters, digits, '_', '.', ':' or '-' (e.g. a UUID)")
    who = caller().subject
    fp = fingerprint(request)
    for attempt in (1, 2):
        try:
            async with db.transaction() as session:
                conn = await session.connection()
                if rid:
                    seen = (await conn.execute(sa.select(request_ids).where(
                        request_ids.c.caller == who, request_ids.c.method == method,
                        request_ids.c.request_id == rid))).first()
                    if seen is not None:
                        if seen.fingerprint != fp:
                            raise AlreadyExists(
                                f"request id {rid!r} was already used for a different {method}; use a new id",
                                reason="REQUEST_ID_REUSED")
                        return response_cls.FromString(seen.response)
                response = await run(conn)
                if rid:
                    await conn.execute(request_ids.insert().values(
                        caller=who, method=method, request_id=rid, fingerprint=fp,
                        response=response.SerializeToString(), created_at=clock.now()))
                return response
        except IntegrityError:
            if attempt == 2 or not rid:
                raise
            # A concurrent call with the same request id committed first: answer as it did.
    raise AssertionError("unreachable")


def page_size(value: int) -> int:
    if value < 0:
        raise InvalidArgument.field("page_size", "must not be negative")
    return min(value or DEFAULT_PAGE, MAX_PAGE)


def decode_token(token: str, scope: str) -> int | None:
    """Page tokens name the last row seen (`seq`) and what was listed, so a token from another
    list is refused instead of silently giving a wrong page."""
    if not token:
        return None
    try:
        kind, seq = base64.urlsafe_b64decode(token.encode() + b"==").decode().rsplit("|", 1)
        if kind != hashlib.sha256(scope.encode()).hexdigest()[:12]:
            raise ValueError
        return int(seq)
    except ValueError:
        raise InvalidArgument.field("page_token", "is not a token this list returned") from None


def encode_token(seq: int, scope: str) -> str:
    raw = f"{hashlib.sha256(scope.encode()).hexdigest()[:12]}|{seq}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def text_field(field: str, value: str, *, required: bool = False, limit: int = 2000) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidArgument.field(field, "is required")
    if len(value) > limit:
        raise InvalidArgument.field(field, f"is longer than {limit} characters")
    return value
