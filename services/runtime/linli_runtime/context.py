"""Per-call context carried in contextvars, so logs, events and outgoing calls can see who is
calling and under which request id without threading them through every function."""

from __future__ import annotations

import itertools
import os
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from linli_runtime.auth import Principal

request_id_var: ContextVar[str | None] = ContextVar("linli_request_id", default=None)
principal_var: ContextVar[Principal | None] = ContextVar("linli_principal", default=None)


def _draw_prefix() -> None:
    global _prefix
    _prefix = os.urandom(8).hex()


_prefix = ""
_draw_prefix()
os.register_at_fork(after_in_child=_draw_prefix)  # a forked process numbers its own calls
_numbers = itertools.count(1)


def new_request_id() -> str:
    """32 hex digits, as a UUID4's hex: this process's 16 random ones and the call's number in
    the process — unique without a system call per call (os.urandom is one)."""
    return f"{_prefix}{next(_numbers):016x}"


def current_request_id() -> str | None:
    return request_id_var.get()


def current_principal() -> Principal | None:
    return principal_var.get()
