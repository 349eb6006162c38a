"""Verified terminal credentials, kept a few seconds (issue 18: reading the terminal's row on
every POS call was 7 % of partner-redemption's CPU per redeem).

Only a credential that passed every check is kept — (terminal id, sha256 of the presented
secret) → the principal — for `ttl` seconds, at most `size` of them (the oldest go first). A
refusal is never kept: a new terminal or a rotated secret works at once.

A rotation, revocation or merchant suspension made by this process forgets the terminal (or
everything) once committed, so it takes effect here on the next call; another replica keeps its
entry until it expires (at most `ttl`). An authentication whose read began before a `forget`
does not keep what it read (the generation check): it may have read the row as it was before
the change committed.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from linli_runtime.auth import Principal

DEFAULT_TTL = 3.0
DEFAULT_SIZE = 4096


@dataclass(frozen=True)
class _Entry:
    secret_digest: bytes
    principal: Principal
    until: float


def secret_digest(secret: str) -> bytes:
    """What is kept of a presented secret: its hash, never the secret itself."""
    return hashlib.sha256(secret.encode()).digest()


class TerminalCache:
    def __init__(self, ttl: float = DEFAULT_TTL, size: int = DEFAULT_SIZE,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.size, self._monotonic = ttl, size, monotonic
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.generation = 0  # bumped by every forget

    def get(self, terminal_id: str, digest: bytes) -> Principal | None:
        """The principal of a credential verified less than `ttl` ago, if `digest` is its secret's."""
        entry = self._entries.get(terminal_id)
        if entry is None:
            return None
        if entry.until <= self._monotonic():
            del self._entries[terminal_id]
            return None
        # Another secret (a wrong one, or a new one after a rotation elsewhere) is checked afresh.
        return entry.principal if hmac.compare_digest(entry.secret_digest, digest) else None

    def keep(self, terminal_id: str, digest: bytes, principal: Principal, generation: int) -> None:
        """Keep a credential verified by a read that began at `generation` (none if a forget came since)."""
        if self.ttl <= 0 or generation != self.generation:
            return
        self._entries.pop(terminal_id, None)
        self._entries[terminal_id] = _Entry(digest, principal, self._monotonic() + self.ttl)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, terminal_id: str) -> None:
        """A terminal's secret or state changed (committed): check it against the database again."""
        self.generation += 1
        self._entries.pop(terminal_id, None)

    def forget_all(self) -> None:
        """A merchant's state changed (committed): every terminal is checked again."""
        self.generation += 1
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
