"""The idempotent write every retryable change goes through: the domain step runs in one
transaction, at most once per (caller, method, request id), and a retry gets the first answer
back (AIP-155, `linli_runtime.idempotency`). Request ids follow the one rule of every service
(`linli_runtime.fields.request_id`: 1–128 characters); where a method leaves it optional, a
request without one simply runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.protobuf.message import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from linli_redemption.terminal_secrets import request_key
from linli_runtime import fields, idempotency
from linli_runtime.auth import caller
from linli_runtime.clock import Clock
from linli_runtime.db import Database

T = TypeVar("T")
R = TypeVar("R", bound=Message)


def method_of(request: Message) -> str:
    """`CreateTerminalRequest` → `CreateTerminal`: the method a request's id is kept under."""
    return type(request).__name__.removesuffix("Request")


class Writes:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    @staticmethod
    def request_id(request: Message, *, required: bool = False) -> str:
        return fields.request_id(getattr(request, "request_id", ""), required=required)

    def held_key(self, request: Message) -> str | None:
        """The key a secret issued by this request is kept under for its retries (None when the
        request carries no id: nobody can ask again)."""
        rid = self.request_id(request)
        return request_key(caller().subject, method_of(request), rid) if rid else None

    async def once(self, request: Message, response_cls: type[R], step: Callable[[AsyncSession], Awaitable[T]],
                   respond: Callable[[T], R], *, request_id_required: bool = False) -> R:
        """`respond(await step(session))` in one transaction, once per request id (`step` is a
        domain change that runs in the transaction it is handed)."""
        self.request_id(request, required=request_id_required)

        async def body(session: AsyncSession) -> R:
            return respond(await step(session))

        return await idempotency.once(self.db, self.clock, method_of(request), request, response_cls, body)
