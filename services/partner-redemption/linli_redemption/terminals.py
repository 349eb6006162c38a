"""POS terminals: their credentials (`authorization: Terminal {terminal_id}:{secret}`), the
runtime `Authenticator` that checks them, and the operators' side (create, rotate, revoke, list).

A secret is 256 bits, shown at creation or rotation — and again to a retry of that request
(same request id; see `terminal_secrets` for how without storing it) — and stored as
sha256(salt ‖ secret); rotation replaces it, revocation ends the terminal. Every POS call is
checked against the database or, for a few seconds after it was, against the credentials
verified (`terminal_cache`): a rotation or revocation takes effect on this process's next call,
and on another replica's within the cache's TTL.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli_redemption.tables import HELD_SECRETS, PARTNERS, TERMINALS, Terminal
from linli_redemption.terminal_cache import TerminalCache, secret_digest
from linli_redemption.terminal_secrets import SecretMaker, not_held
from linli_runtime import paging, times
from linli_runtime.auth import Grant, Principal, PrincipalKind, Role
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, FailedPrecondition, NotFound, Unauthenticated
from linli_runtime.models import loaded, loaded_all
from linli_runtime.transactions import run_in_transaction

SCHEME = "terminal"
ACTIVE, REVOKED = "active", "revoked"


@dataclass(frozen=True)
class TerminalCaller:
    """The terminal a POS call came from (its principal, in domain terms)."""

    terminal_id: str
    merchant_id: str
    community_path: str


@dataclass(frozen=True)
class IssuedSecret:
    """A terminal and the secret it was just given (never stored; see terminal_secrets)."""

    terminal: Terminal
    secret: str

    @property
    def authorization(self) -> str:
        return authorization_value(self.terminal.id, self.secret)


def new_secret() -> tuple[str, str, str]:
    """(secret, salt, hash) of a secret drawn at random."""
    secret = SecretMaker.drawn()
    return (secret, *salted(secret))


def salted(secret: str) -> tuple[str, str]:
    """(salt, hash): how a secret is stored."""
    salt = secrets.token_hex(16)
    return salt, hash_secret(salt, secret)


def hash_secret(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


def authorization_value(terminal_id: str, secret: str) -> str:
    return f"Terminal {terminal_id}:{secret}"


def terminal_principal(terminal_id: str, merchant_id: str, community_path: str) -> Principal:
    """A terminal acts for its merchant at its community (the grant), and only on the POS API
    (the runtime refuses a TERMINAL principal on every method not `@allows`-ing it)."""
    return Principal(subject=terminal_id, kind=PrincipalKind.TERMINAL,
                     grants=(Grant(str(Role.MERCHANT), community_path),),
                     claims={"merchant_id": merchant_id, "community_path": community_path})


class TerminalAuthenticator:
    """The runtime `Authenticator` for POS terminals; leaves bearer tokens to the next one."""

    def __init__(self, db: Database | None = None, cache: TerminalCache | None = None) -> None:
        self.db: Database | None = db  # set by the app once its database exists
        self.cache = cache if cache is not None else TerminalCache()
        self._query = (
            sa.select(TERMINALS.c.secret_salt, TERMINALS.c.secret_hash, TERMINALS.c.state,
                      TERMINALS.c.merchant_id, PARTNERS.c.community_path, PARTNERS.c.state.label("merchant_state"))
            .join(PARTNERS, PARTNERS.c.id == TERMINALS.c.merchant_id)
            .where(TERMINALS.c.id == sa.bindparam("tid"))
        )

    def recall(self, metadata: Mapping[str, str]) -> Principal | None:
        """The principal of a terminal credential verified within the cache's TTL, without
        awaiting anything (the runtime asks this first on every call: `Authenticator`); None for
        anything else — another scheme, a malformed or unknown credential — to be `authenticate`d."""
        presented = _presented(metadata)
        if not presented:
            return None
        terminal_id, secret = presented
        return self.cache.get(terminal_id, secret_digest(secret))

    async def authenticate(self, metadata: Mapping[str, str]) -> Principal | None:
        presented = _presented(metadata)
        if presented is None:
            return None
        refused = Unauthenticated("the terminal credential is not valid; it must read "
                                  "'Terminal {terminal_id}:{secret}' with a current secret",
                                  reason="TERMINAL_CREDENTIAL_INVALID")
        if not presented:
            raise refused
        terminal_id, secret = presented
        digest = secret_digest(secret)
        kept = self.cache.get(terminal_id, digest)
        if kept is not None:
            return kept
        generation = self.cache.generation
        assert self.db is not None
        async with self.db.reading() as conn:
            row = (await conn.execute(self._query, {"tid": terminal_id})).first()
        if row is None or not hmac.compare_digest(hash_secret(row.secret_salt, secret), row.secret_hash):
            raise refused
        if row.state != ACTIVE:
            raise Unauthenticated("this terminal has been revoked", reason="TERMINAL_REVOKED")
        if row.merchant_state != ACTIVE:
            raise Unauthenticated("this terminal's merchant is suspended", reason="MERCHANT_SUSPENDED")
        principal = terminal_principal(terminal_id, str(row.merchant_id), str(row.community_path))
        self.cache.keep(terminal_id, digest, principal, generation)
        return principal


def _presented(metadata: Mapping[str, str]) -> tuple[str, str] | tuple[()] | None:
    """The (terminal id, secret) a call presents; () for a `Terminal` credential that is
    malformed (refused by `authenticate`, left to it by `recall`); None for no credential or
    another scheme (another authenticator's)."""
    header = metadata.get("authorization")
    if header is None:
        return None
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != SCHEME:
        return None
    terminal_id, sep, secret = credential.strip().partition(":")
    if not sep or not terminal_id or not secret or len(terminal_id) > 64 or len(secret) > 128:
        return ()
    return terminal_id, secret


class Terminals:
    """The operators' side: a merchant's terminals and their secrets. (The merchant is checked
    by the caller first: `partners.Partners.merchant`.) Creating and rotating are steps of the
    caller's transaction (the API runs them once per request id); `held` is the request's key
    (`terminal_secrets.request_key`) when it has an id, so that a retry is shown the same secret."""

    def __init__(self, db: Database, clock: Clock, maker: SecretMaker, cache: TerminalCache | None = None) -> None:
        self.db, self.clock, self.maker = db, clock, maker
        # The authenticator's verified credentials: forgotten once a change of a terminal commits.
        self.cache = cache if cache is not None else TerminalCache()

    def forget(self, terminal_id: str) -> None:
        """Called once a rotation of `terminal_id`'s secret has committed (the caller's transaction)."""
        self.cache.forget(terminal_id)

    def _secret(self, held: str | None) -> tuple[str, str | None]:
        """(secret, nonce to keep): derived when a retry may ask for it again, else drawn."""
        if held is None:
            return self.maker.drawn(), None
        return self.maker.derived()

    async def _hold(self, conn: AsyncConnection, held: str | None, terminal_id: str, nonce: str | None) -> None:
        """Keep the nonce of a secret issued under a request id; forget every older one of the
        terminal (a secret replaced is never shown again) and any past its time."""
        now = self.clock.now()
        await conn.execute(HELD_SECRETS.delete().where(sa.or_(HELD_SECRETS.c.terminal_id == terminal_id,
                                                              HELD_SECRETS.c.expire_time <= now)))
        if held is not None and nonce is not None:
            await conn.execute(HELD_SECRETS.insert().values(
                request_key=held, terminal_id=terminal_id, nonce=nonce, key_id=self.maker.key_id,
                expire_time=self.maker.expire_time(now)))

    async def create(self, session: AsyncSession, merchant_id: str, terminal_id: str, display_name: str, *,
                     held: str | None = None) -> IssuedSecret:
        conn = await session.connection()
        secret, nonce = self._secret(held)
        salt, digest = salted(secret)
        now = self.clock.now()
        by_id = sa.select(TERMINALS).where(TERMINALS.c.id == terminal_id)
        taken = (await conn.execute(by_id)).first()
        if taken is not None:
            # Terminal ids are global; another merchant's terminal is not named as such.
            advice = "rotate its secret instead" if taken.merchant_id == merchant_id else "choose another id"
            raise AlreadyExists(f"terminal id {terminal_id} is taken; {advice}", reason="TERMINAL_EXISTS")
        await conn.execute(TERMINALS.insert().values(
            id=terminal_id, merchant_id=merchant_id, display_name=display_name, secret_salt=salt,
            secret_hash=digest, create_time=now, secret_time=now))
        await self._hold(conn, held, terminal_id, nonce)
        return IssuedSecret(loaded(Terminal, (await conn.execute(by_id)).one()), secret)

    async def get(self, merchant_id: str, terminal_id: str) -> Terminal:
        async with self.db.reading() as conn:
            row = (await conn.execute(sa.select(TERMINALS).where(
                TERMINALS.c.id == terminal_id, TERMINALS.c.merchant_id == merchant_id))).first()
        if row is None:
            raise NotFound(f"merchant {merchant_id} has no terminal {terminal_id}", reason="TERMINAL_NOT_FOUND")
        return loaded(Terminal, row)

    async def rotate_secret(self, session: AsyncSession, found: Terminal, *, held: str | None = None) -> IssuedSecret:
        """A new secret for `found` (from `get`); the old one stops working at once."""
        conn = await session.connection()
        key = TERMINALS.c.id == found.id
        current = loaded(Terminal, (await conn.execute(sa.select(TERMINALS).where(key))).one())
        if current.state != ACTIVE:
            raise FailedPrecondition("a revoked terminal stays revoked; create a new one", reason="TERMINAL_REVOKED")
        secret, nonce = self._secret(held)
        salt, digest = salted(secret)
        await conn.execute(TERMINALS.update().where(key).values(secret_salt=salt, secret_hash=digest,
                                                                secret_time=self.clock.now()))
        await self._hold(conn, held, found.id, nonce)
        return IssuedSecret(loaded(Terminal, (await conn.execute(sa.select(TERMINALS).where(key))).one()), secret)

    async def shown_again(self, held: str, terminal_id: str) -> str:
        """The secret the request keyed `held` issued to `terminal_id`, while it is held and
        still the terminal's secret (else SECRET_NOT_HELD)."""
        async with self.db.reading() as conn:
            kept = (await conn.execute(sa.select(HELD_SECRETS).where(HELD_SECRETS.c.request_key == held))).first()
            terminal = (await conn.execute(sa.select(TERMINALS).where(TERMINALS.c.id == terminal_id))).first()
        if (kept is None or terminal is None or kept.terminal_id != terminal_id or kept.key_id != self.maker.key_id
                or times.as_utc(kept.expire_time) <= self.clock.now()):
            raise not_held()
        secret = self.maker.derive(kept.nonce)
        if not hmac.compare_digest(hash_secret(terminal.secret_salt, secret), terminal.secret_hash):
            raise not_held()
        return secret

    async def revoke(self, found: Terminal) -> Terminal:
        """End `found` (from `get`) for good (its secrets are never shown again)."""
        async def revoke(conn: AsyncConnection) -> None:
            await conn.execute(TERMINALS.update().where(TERMINALS.c.id == found.id).values(state=REVOKED))
            await self._hold(conn, None, found.id, None)

        await run_in_transaction(self.db, revoke)
        self.cache.forget(found.id)
        return await self.get(found.merchant_id, found.id)

    async def list(self, merchant_id: str, page_token: str, size: int) -> tuple[list[Terminal], str]:
        async with self.db.reading() as conn:
            rows, next_token = await paging.keyset_page(
                conn, sa.select(TERMINALS).where(TERMINALS.c.merchant_id == merchant_id), TERMINALS.c.id,
                kind=f"ListTerminals:{merchant_id}", page_token=page_token, size=size)
        return loaded_all(Terminal, rows), next_token
