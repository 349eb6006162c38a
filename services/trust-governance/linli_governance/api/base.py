"""What every servicer shares: the app, its clock, and the role groups."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from google.protobuf.message import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from linli_runtime import idempotency
from linli_runtime.auth import Role
from linli_runtime.server import ServiceApp

R = TypeVar("R", bound=Message)

OPERATORS = (Role.CITY_OPERATOR, Role.STREET_OFFICER, Role.COMMUNITY_WORKER)
ROLLOUT_ROLES = (*OPERATORS, Role.PARTY_COMMITTEE)
# The trustee (property company) keeps the books; the owners' committee may too.
BOOKKEEPERS = (Role.TRUSTEE, Role.OWNERS_COMMITTEE)
VOTE_OFFICERS = (Role.OWNERS_COMMITTEE, Role.COMMUNITY_WORKER, Role.STREET_OFFICER)
SUPERVISOR_ROLE = "trust_supervisor"


class Api:
    def __init__(self, app: ServiceApp) -> None:
        self.app = app

    def now(self) -> datetime:
        return self.app.clock.now()

    async def read(self, body: Callable[[AsyncSession], Awaitable[R]]) -> R:
        async with self.app.db.session() as session:
            return await body(session)

    async def write(
        self, method: str, request: Message, response_cls: type[R], body: Callable[[AsyncSession], Awaitable[R]]
    ) -> R:
        return await idempotency.once(self.app.db, self.app.clock, method, request, response_cls, body)
