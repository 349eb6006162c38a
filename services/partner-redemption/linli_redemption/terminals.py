"""POS terminal credentials: `authorization: Terminal {terminal_id}:{secret}`.

A secret is 256 random bits, shown once (at creation or rotation) and stored as
sha256(salt ‖ secret); rotation replaces it, revocation ends the terminal. Every POS call is
checked against the database, so a rotation or revocation takes effect on the next call.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping

import sqlalchemy as sa

from linli_redemption.common import reading
from linli_redemption.tables import partner, terminal
from linli_runtime.auth import Principal, PrincipalKind, Role
from linli_runtime.db import Database
from linli_runtime.errors import Unauthenticated

SCHEME = "terminal"


def new_secret() -> tuple[str, str, str]:
    """(secret, salt, hash)."""
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    return secret, salt, hash_secret(salt, secret)


def hash_secret(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


def authorization_value(terminal_id: str, secret: str) -> str:
    return f"Terminal {terminal_id}:{secret}"


def terminal_principal(terminal_id: str, merchant_id: str, community_path: str) -> Principal:
    return Principal(subject=terminal_id, kind=PrincipalKind.TERMINAL, role=str(Role.MERCHANT),
                     scope=community_path, claims={"merchant_id": merchant_id})


class TerminalAuthenticator:
    """The runtime `Authenticator` for POS terminals; leaves bearer tokens to the next one."""

    def __init__(self, db: Database | None = None) -> None:
        self.db: Database | None = db  # set by the app once its database exists
        self._query = (
            sa.select(terminal.c.secret_salt, terminal.c.secret_hash, terminal.c.state,
                      terminal.c.merchant_id, partner.c.community_path, partner.c.state.label("merchant_state"))
            .join(partner, partner.c.id == terminal.c.merchant_id)
            .where(terminal.c.id == sa.bindparam("tid"))
        )

    async def authenticate(self, metadata: Mapping[str, str]) -> Principal | None:
        header = metadata.get("authorization")
        if header is None:
            return None
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != SCHEME:
            return None
        terminal_id, sep, secret = credential.strip().partition(":")
        refused = Unauthenticated("the terminal credential is not valid; it must read "
                                  "'Terminal {terminal_id}:{secret}' with a current secret",
                                  reason="TERMINAL_CREDENTIAL_INVALID")
        if not sep or not terminal_id or not secret or len(terminal_id) > 64 or len(secret) > 128:
            raise refused
        assert self.db is not None
        async with reading(self.db) as session:
            row = (await session.execute(self._query, {"tid": terminal_id})).first()
        if row is None or not hmac.compare_digest(hash_secret(row.secret_salt, secret), row.secret_hash):
            raise refused
        if row.state != "active":
            raise Unauthenticated("this terminal has been revoked", reason="TERMINAL_REVOKED")
        if row.merchant_state != "active":
            raise Unauthenticated("this terminal's merchant is suspended", reason="MERCHANT_SUSPENDED")
        return terminal_principal(terminal_id, row.merchant_id, row.community_path)
