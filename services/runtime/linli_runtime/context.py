"""Per-call context carried in contextvars, so logs, events and outgoing calls can see who is
calling and under which request id without threading them through every function."""

from __future__ import annotations

import os
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from linli_runtime.auth import Principal

request_id_var: ContextVar[str | None] = ContextVar("linli_request_id", default=None)
principal_var: ContextVar[Principal | None] = ContextVar("linli_principal", default=None)


def new_request_id() -> str:
    """32 random hex digits (as a UUID4's hex, without building the UUID)."""
    return os.urandom(16).hex()


def current_request_id() -> str | None:
    return request_id_var.get()


def current_principal() -> Principal | None:
    return principal_var.get()
