"""Authorization codes (RFC 6749 §4.1) bound to a PKCE S256 challenge (RFC 7636).

A code is random, lives 60 seconds, is stored as a digest, and is good once, for the client,
redirect URI and code verifier it was issued for. PKCE is required of every client — the
confidential portal too (OAuth 2.0 Security BCP) — and only S256: `plain` would put the
verifier in the browser's address bar.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa
from authlib.oauth2.rfc7636 import challenge as pkce
from sqlmodel.ext.asyncio.session import AsyncSession

from linli_identity.hashing import digest
from linli_identity.oauth.errors import OAuthError, invalid_grant, invalid_request
from linli_identity.tables import AuthorizationCode
from linli_runtime.clock import Clock
from linli_runtime.models import table, typed
from linli_runtime.times import as_utc

CODES = table(AuthorizationCode)
LIFETIME = timedelta(seconds=60)
S256 = "S256"


def check_challenge(code_challenge: str, method: str) -> None:
    """The authorization request's PKCE parameters: S256 and a well-formed challenge."""
    if not code_challenge:
        raise invalid_request("code_challenge is required (PKCE with S256)")
    if method != S256:
        raise invalid_request("code_challenge_method must be S256")
    if not pkce.CODE_CHALLENGE_PATTERN.match(code_challenge):
        raise invalid_request("code_challenge is malformed (43-128 characters of A-Z a-z 0-9 - . _ ~)")


def verify_pkce(code_verifier: str, code_challenge: str) -> bool:
    """RFC 7636 §4.6, by Authlib: BASE64URL(SHA256(verifier)) == challenge."""
    if not pkce.CODE_VERIFIER_PATTERN.match(code_verifier):
        return False
    return bool(pkce.compare_s256_code_challenge(code_verifier, code_challenge))


class AuthorizationCodes:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def issue(self, session: AsyncSession, *, client_id: str, account_id: str, redirect_uri: str,
                    code_challenge: str, scope: str, nonce: str) -> str:
        code = secrets.token_urlsafe(32)
        conn = await session.connection()
        await conn.execute(CODES.insert().values(
            code_hash=digest(code), client_id=client_id, account_id=account_id, redirect_uri=redirect_uri,
            code_challenge=code_challenge, scope=scope, nonce=nonce, expires_at=self.clock.now() + LIFETIME))
        return code

    async def redeem(self, session: AsyncSession, *, code: str, client_id: str, redirect_uri: str,
                     code_verifier: str) -> AuthorizationCode:
        conn = await session.connection()
        row = (await conn.execute(sa.select(CODES).where(CODES.c.code_hash == digest(code)))).first()
        if row is None:
            raise invalid_grant("the authorization code is unknown")
        stored = typed(AuthorizationCode, row)
        problem = self._problem(stored, client_id, redirect_uri, code_verifier)
        if problem is not None:
            raise problem
        updated = await conn.execute(CODES.update().where(CODES.c.code_hash == stored.code_hash,
                                                          CODES.c.used_at.is_(None)).values(used_at=self.clock.now()))
        if updated.rowcount != 1:  # type: ignore[attr-defined]
            raise invalid_grant("the authorization code was used already")
        return stored

    def _problem(self, stored: AuthorizationCode, client_id: str, redirect_uri: str,
                 code_verifier: str) -> OAuthError | None:
        if stored.used_at is not None:
            return invalid_grant("the authorization code was used already")
        if as_utc(stored.expires_at) <= self.clock.now():
            return invalid_grant("the authorization code has expired; start the sign-in again")
        if stored.client_id != client_id:
            return invalid_grant("the authorization code was issued to another client")
        if stored.redirect_uri != redirect_uri:
            return invalid_grant("redirect_uri differs from the one in the authorization request")
        if not code_verifier:
            return invalid_request("code_verifier is required (PKCE)")
        if not verify_pkce(code_verifier, stored.code_challenge):
            return invalid_grant("code_verifier does not match the code_challenge")
        return None

    async def purge(self, session: AsyncSession) -> None:
        conn = await session.connection()
        await conn.execute(CODES.delete().where(CODES.c.expires_at < self.clock.now() - timedelta(hours=1)))
