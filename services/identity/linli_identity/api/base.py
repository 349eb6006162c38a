"""What every identity servicer shares: the domain objects, the caller as an actor, reads and
idempotent writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from linli_identity.accounts import Accounts
from linli_identity.grants import Actor, Grants
from linli_identity.keys import KeyRing
from linli_runtime import idempotency
from linli_runtime.auth import caller
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import PermissionDenied

R = TypeVar("R", bound=Message)


@dataclass(frozen=True)
class Domain:
    db: Database
    clock: Clock
    accounts: Accounts
    grants: Grants
    keys: KeyRing


class Api:
    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.db = domain.db
        self.accounts = domain.accounts
        self.grants = domain.grants

    async def actor(self, session: AsyncSession) -> Actor:
        """The caller with its grants as stored now (see grants.py for why not the token's)."""
        return await self.grants.actor(session, caller().subject)

    async def read(self, body: Callable[[AsyncSession], Awaitable[R]]) -> R:
        async with self.db.session() as session:
            return await body(session)

    async def write(self, method: str, request: Message, response_cls: type[R],
                    body: Callable[[AsyncSession], Awaitable[R]]) -> R:
        return await idempotency.once(self.db, self.domain.clock, method, request, response_cls, body)


def deny(what: str) -> PermissionDenied:
    return PermissionDenied(f"your grants do not allow you to {what}", reason="NO_AUTHORITY")
