"""Refresh tokens: opaque, stored as digests, rotated on every use, with reuse detection.

Each use of a refresh token marks it used and issues its successor in the same *family* (one
family per sign-in). Presenting a token that was already used means two parties hold it — the
client and a thief, or a client that lost a race — so the whole family is revoked: the
legitimate client signs in again, the thief's copy is dead (OAuth 2.0 Security BCP §4.14).
Disabling an account revokes all its refresh tokens in the same transaction
(`accounts.revoke_refresh_tokens`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from linli_identity.hashing import digest
from linli_identity.tables import RefreshToken
from linli_runtime.clock import Clock
from linli_runtime.models import table, typed
from linli_runtime.times import as_utc

TOKENS = table(RefreshToken)


@dataclass(frozen=True)
class Rotated:
    """A good token was used: its successor, and what it was issued for."""

    token: str
    account_id: str
    scope: str


@dataclass(frozen=True)
class Refused:
    """A token that must not be used. `reused`: the family has just been revoked — the caller
    commits that before answering invalid_grant."""

    description: str
    reused: bool = False


class RefreshTokens:
    def __init__(self, clock: Clock, lifetime: timedelta) -> None:
        self.clock = clock
        self.lifetime = lifetime

    async def issue(self, session: AsyncSession, *, account_id: str, client_id: str, scope: str,
                    family_id: str | None = None) -> str:
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        conn = await session.connection()
        await conn.execute(TOKENS.insert().values(
            token_hash=digest(token), family_id=family_id or secrets.token_hex(16), account_id=account_id,
            client_id=client_id, scope=scope, issued_at=now, expires_at=now + self.lifetime))
        return token

    async def rotate(self, session: AsyncSession, token: str, client_id: str) -> Rotated | Refused:
        conn = await session.connection()
        row = (await conn.execute(sa.select(TOKENS).where(TOKENS.c.token_hash == digest(token)))).first()
        if row is None:
            return Refused("the refresh token is unknown")
        stored = typed(RefreshToken, row)
        now = self.clock.now()
        if stored.client_id != client_id:
            return Refused("the refresh token was issued to another client")
        if stored.revoked_at is not None:
            return Refused(f"the refresh token was revoked ({stored.revoke_reason}); sign in again")
        if stored.used_at is not None:
            await conn.execute(TOKENS.update().where(TOKENS.c.family_id == stored.family_id,
                                                     TOKENS.c.revoked_at.is_(None))
                               .values(revoked_at=now, revoke_reason="reuse detected"))
            return Refused("the refresh token was used before: every token of this sign-in is now revoked; "
                           "sign in again", reused=True)
        if as_utc(stored.expires_at) <= now:
            return Refused("the refresh token has expired; sign in again")
        # Conditional on still being unused: of two concurrent rotations only one wins.
        updated = await conn.execute(TOKENS.update().where(TOKENS.c.token_hash == stored.token_hash,
                                                           TOKENS.c.used_at.is_(None)).values(used_at=now))
        if updated.rowcount != 1:  # type: ignore[attr-defined]
            return Refused("the refresh token was used concurrently; sign in again")
        successor = await self.issue(session, account_id=stored.account_id, client_id=client_id, scope=stored.scope,
                                     family_id=stored.family_id)
        return Rotated(successor, stored.account_id, stored.scope)

    async def revoke(self, session: AsyncSession, token: str, client_id: str, reason: str) -> bool:
        """End `token`'s whole family (its sign-in), if it is a refresh token of `client_id`;
        False when it is not (unknown, another client's, or an access token)."""
        conn = await session.connection()
        row = (await conn.execute(sa.select(TOKENS.c.family_id, TOKENS.c.client_id)
                                  .where(TOKENS.c.token_hash == digest(token)))).first()
        if row is None or row.client_id != client_id:
            return False
        await conn.execute(TOKENS.update().where(TOKENS.c.family_id == row.family_id, TOKENS.c.revoked_at.is_(None))
                           .values(revoked_at=self.clock.now(), revoke_reason=reason))
        return True

    async def purge(self, session: AsyncSession, before: timedelta = timedelta(days=7)) -> None:
        """Forget tokens that expired more than `before` ago (reuse of those is refused as unknown)."""
        conn = await session.connection()
        await conn.execute(TOKENS.delete().where(TOKENS.c.expires_at < self.clock.now() - before))
