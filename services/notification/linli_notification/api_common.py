"""What every RPC of the service shares: request ids (AIP-155), page tokens (AIP-158) and who
may do what."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli_runtime import idempotency, paging
from linli_runtime.auth import Principal, Role, caller
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import InvalidArgument, PermissionDenied

R = TypeVar("R", bound=Message)

# Roles that run help requests and rosters (within their scope).
STAFF_ROLES = (Role.COMMUNITY_WORKER, Role.STREET_OFFICER, Role.CITY_OPERATOR, Role.PARTY_COMMITTEE)
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


async def once(db: Database, clock: Clock, method: str, request: Message, response_cls: type[R],
               run: Callable[[AsyncConnection], Awaitable[R]]) -> R:
    """Run a mutation in one transaction, at most once per (caller, method, request id): the
    runtime's AIP-155 store, handed the transaction's connection."""

    async def body(session: AsyncSession) -> R:
        return await run(await session.connection())

    return await idempotency.once(db, clock, method, request, response_cls, body, caller=caller().subject)


def page_size(value: int) -> int:
    return paging.page_size(value, default=DEFAULT_PAGE, maximum=MAX_PAGE)


def text_field(field: str, value: str, *, required: bool = False, limit: int = 2000) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidArgument.field(field, "is required")
    if len(value) > limit:
        raise InvalidArgument.field(field, f"is longer than {limit} characters")
    return value
