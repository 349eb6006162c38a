"""The issuer's signing keys: Ed25519 (JWS `EdDSA`), each named by a `kid`, rotated with overlap.

Life of a key (clock-driven, so tests move a ManualClock instead of waiting):

| state | signs new tokens | in the JWKS |
|---|---|---|
| active (newest unretired key) | yes | yes |
| retired (`retired_at` set) | no | until `drop_after` = retirement + the longest token lifetime + a margin |
| dropped (`drop_after` passed) | no | no — every token it signed has expired; its private part is erased |

Rotation (`rotate`, the admin RPC, or `maintain` once the active key is `rotation_period` old)
makes a new key active at once and retires the old one, which stays published until every
token it signed has expired: a service that fetched the JWKS before the rotation refetches on
the new `kid`, one that holds an old token still finds its key.

Replicas share the keys through the database. Each keeps the keys in memory and reloads them
every `key_refresh_seconds` (`maintain`), so after another replica rotates it may sign with the
retired key for that long; the margin (`SIGNING_LAG`) keeps the retired key published long
enough to cover tokens signed in that window. Two replicas racing to create or rotate both
succeed harmlessly: the newest unretired key is the active one and `maintain` retires the rest.

Private keys are stored as PKCS#8 PEM, encrypted with the key-encryption key from the settings
when one is given (production), plain otherwise (`make run`, with a warning at start-up).
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from joserfc.jwk import OKPKey
from sqlmodel.ext.asyncio.session import AsyncSession

from linli_identity.tables import SigningKey
from linli_runtime import paging
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import FailedPrecondition
from linli_runtime.models import table, typed_all
from linli_runtime.times import as_utc

log = logging.getLogger("linli.identity.keys")

ALGORITHM = "EdDSA"
CURVE: Literal["Ed25519"] = "Ed25519"
KEYS = table(SigningKey)
# How long a replica may go on signing with a key another replica retired (see the docstring).
SIGNING_LAG = timedelta(seconds=60)

ACTIVE, RETIRED, DROPPED = "active", "retired", "dropped"


@dataclass(frozen=True)
class KeyInfo:
    """A key as the admin API shows it (no private part)."""

    kid: str
    algorithm: str
    state: str
    created_at: datetime
    retired_at: datetime | None
    drop_after: datetime | None


def generate_key(now: datetime) -> tuple[str, OKPKey]:
    """A new Ed25519 signing key and its kid (creation time + random, so kids sort by age)."""
    kid = f"{now:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
    return kid, OKPKey.generate_key(CURVE, parameters={"kid": kid, "use": "sig", "alg": ALGORITHM})


class KeyRing:
    def __init__(self, db: Database, clock: Clock, *, token_lifetime: timedelta, rotation_period: timedelta,
                 encryption_key: str = "") -> None:
        self.db = db
        self.clock = clock
        self.token_lifetime = token_lifetime
        self.rotation_period = rotation_period
        self._password = encryption_key or None
        self._active: tuple[SigningKey, OKPKey] | None = None
        self._keys: list[SigningKey] = []

    # -- reading --------------------------------------------------------------------------------

    def signing_key(self) -> tuple[str, OKPKey]:
        """The kid and private key that sign new tokens."""
        if self._active is None:
            raise FailedPrecondition("the issuer has no signing key yet; it creates one at start-up",
                                     reason="NO_SIGNING_KEY")
        row, key = self._active
        return row.kid, key

    def jwks(self) -> dict[str, Any]:
        """The JWKS document: the active key and the retired keys not yet dropped, by the clock."""
        now = self.clock.now()
        return {"keys": [json.loads(k.public_jwk) for k in self._keys if self._state(k, now) != DROPPED]}

    def _state(self, key: SigningKey, now: datetime) -> str:
        if self._active is not None and key.kid == self._active[0].kid:
            return ACTIVE
        if key.drop_after is not None and as_utc(key.drop_after) <= now:
            return DROPPED
        return RETIRED

    def info(self, key: SigningKey) -> KeyInfo:
        return KeyInfo(kid=key.kid, algorithm=key.algorithm, state=self._state(key, self.clock.now()),
                       created_at=key.created_at, retired_at=key.retired_at, drop_after=key.drop_after)

    async def list(self, *, page_size: int = 0, page_token: str = "") -> tuple[list[KeyInfo], str]:
        """Every key, newest first."""
        async with self.db.session() as session:
            conn = await session.connection()
            rows, token = await paging.keyset_page(conn, sa.select(KEYS), KEYS.c.seq, kind="signing-keys",
                                                   page_token=page_token, size=paging.page_size(page_size),
                                                   newest_first=True)
        return [self.info(k) for k in typed_all(SigningKey, rows)], token

    # -- changing ---------------------------------------------------------------------------------

    def _new_key(self, now: datetime) -> SigningKey:
        kid, key = generate_key(now)
        return SigningKey(kid=kid, algorithm=ALGORITHM, public_jwk=json.dumps(key.as_dict(private=False)),
                          private_pem=key.as_pem(private=True, password=self._password),
                          encrypted=self._password is not None, created_at=now)

    async def ensure_active(self) -> None:
        """At start-up: create the first key if there is none, then load the keys."""
        async with self.db.transaction() as session:
            conn = await session.connection()
            live = (await conn.execute(sa.select(KEYS.c.kid).where(KEYS.c.retired_at.is_(None)))).first()
            if live is None:
                key = self._new_key(self.clock.now())
                await conn.execute(KEYS.insert().values(**key.model_dump(exclude={"seq"})))
                log.info("signing key created", extra={"kid": key.kid})
        await self.reload()

    async def rotate(self) -> tuple[KeyInfo, KeyInfo | None]:
        """A new active key now; the old one retires (published until its tokens expire)."""
        async with self.db.transaction() as session:
            rotated = await self.rotate_in(session)
        await self.reload()
        return rotated

    async def rotate_in(self, session: AsyncSession) -> tuple[KeyInfo, KeyInfo | None]:
        """`rotate` inside the caller's transaction (an idempotent admin call); the caller
        `reload()`s after committing."""
        now = self.clock.now()
        conn = await session.connection()
        live = typed_all(SigningKey, (await conn.execute(
            sa.select(KEYS).where(KEYS.c.retired_at.is_(None)).order_by(KEYS.c.seq))).all())
        drop = now + self.token_lifetime + SIGNING_LAG
        await conn.execute(KEYS.update().where(KEYS.c.retired_at.is_(None)).values(retired_at=now, drop_after=drop))
        key = self._new_key(now)
        await conn.execute(KEYS.insert().values(**key.model_dump(exclude={"seq"})))
        log.info("signing key rotated", extra={"kid": key.kid, "retired": [k.kid for k in live]})
        info = KeyInfo(kid=key.kid, algorithm=key.algorithm, state=ACTIVE, created_at=now, retired_at=None,
                       drop_after=None)
        if not live:
            return info, None
        old = live[-1]
        return info, KeyInfo(kid=old.kid, algorithm=old.algorithm, state=RETIRED, created_at=old.created_at,
                             retired_at=now, drop_after=drop)

    async def reload(self) -> None:
        """Read the keys again (another replica may have rotated) and decrypt the active one."""
        async with self.db.session() as session:
            conn = await session.connection()
            keys = typed_all(SigningKey, (await conn.execute(sa.select(KEYS).order_by(KEYS.c.seq))).all())
        live = [k for k in keys if k.retired_at is None]
        if live:
            newest = live[-1]
            if self._active is None or self._active[0].kid != newest.kid:
                private = OKPKey.import_key(newest.private_pem, parameters={"kid": newest.kid},
                                            password=self._password if newest.encrypted else None)
                self._active = (newest, private)
        self._keys = keys

    async def maintain(self) -> None:
        """One pass of the background task: reload; retire stray unretired keys left by a race;
        rotate when the active key is `rotation_period` old; erase dropped keys' private parts."""
        await self.reload()
        now = self.clock.now()
        if self._active is None:
            return
        active = self._active[0]
        if now - as_utc(active.created_at) >= self.rotation_period:
            await self.rotate()
            return
        strays = [k.kid for k in self._keys if k.retired_at is None and k.kid != active.kid]
        dropped = [k.kid for k in self._keys if k.private_pem and k.drop_after is not None
                   and as_utc(k.drop_after) <= now]
        if not strays and not dropped:
            return
        async with self.db.transaction() as session:
            conn = await session.connection()
            if strays:
                await conn.execute(KEYS.update().where(KEYS.c.kid.in_(strays), KEYS.c.retired_at.is_(None))
                                   .values(retired_at=now, drop_after=now + self.token_lifetime + SIGNING_LAG))
            if dropped:
                await conn.execute(KEYS.update().where(KEYS.c.kid.in_(dropped)).values(private_pem=b""))
        await self.reload()
