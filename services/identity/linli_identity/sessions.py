"""The issuer's own browser sessions (its sign-in, consent and device pages).

The cookie holds a random session id (only its digest is stored); the session holds a CSRF
token that every form of the issuer's pages carries and every POST must echo. A session starts
anonymous (so the phone form has a CSRF token) and is *replaced* when a phone and code are
confirmed — a new id, so an id planted before sign-in (session fixation) is worthless after.
Disabling an account deletes its sessions (`accounts.Accounts.disable`).

Cookie: HttpOnly (no script reads it), SameSite=Lax (not sent on cross-site POSTs; sent on the
top-level redirect back from a client to /oauth/authorize), Secure when the issuer is HTTPS.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from linli_identity.hashing import digest
from linli_identity.tables import WebSession
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.models import table, typed
from linli_runtime.times import as_utc

SESSIONS = table(WebSession)
COOKIE = "linli_issuer_session"


@dataclass(frozen=True)
class Session:
    cookie: str  # the id as the browser holds it
    csrf_token: str
    account_id: str | None

    def csrf_ok(self, token: str) -> bool:
        return bool(token) and hmac.compare_digest(token, self.csrf_token)


class WebSessions:
    def __init__(self, db: Database, clock: Clock, lifetime: timedelta) -> None:
        self.db = db
        self.clock = clock
        self.lifetime = lifetime

    async def load(self, cookie: str | None) -> Session | None:
        if not cookie or len(cookie) > 100:
            return None
        async with self.db.session() as session:
            conn = await session.connection()
            row = (await conn.execute(sa.select(SESSIONS).where(SESSIONS.c.id_hash == digest(cookie)))).first()
        if row is None:
            return None
        stored = typed(WebSession, row)
        if as_utc(stored.expires_at) <= self.clock.now():
            return None
        return Session(cookie, stored.csrf_token, stored.account_id)

    async def start(self, account_id: str | None = None, *, replacing: str | None = None) -> Session:
        """A new session (anonymous, or signed in as `account_id`), ending `replacing`."""
        cookie = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        now = self.clock.now()
        async with self.db.transaction() as session:
            conn = await session.connection()
            if replacing:
                await conn.execute(SESSIONS.delete().where(SESSIONS.c.id_hash == digest(replacing)))
            await conn.execute(SESSIONS.insert().values(id_hash=digest(cookie), csrf_token=csrf, account_id=account_id,
                                                        created_at=now, expires_at=now + self.lifetime))
        return Session(cookie, csrf, account_id)

    async def end(self, cookie: str) -> None:
        async with self.db.transaction() as session:
            conn = await session.connection()
            await conn.execute(SESSIONS.delete().where(SESSIONS.c.id_hash == digest(cookie)))

    async def purge(self) -> None:
        async with self.db.transaction() as session:
            conn = await session.connection()
            await conn.execute(SESSIONS.delete().where(SESSIONS.c.expires_at < self.clock.now()))
