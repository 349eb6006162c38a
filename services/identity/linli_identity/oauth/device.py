"""The device authorization grant (RFC 8628): how the `linli` CLI signs in.

1. The CLI posts to `/oauth/device_authorization` and gets a `device_code` (secret, kept by the
   CLI), a `user_code` (`BCDF-GHJK`, shown to the person) and the page to confirm it on.
2. The person opens `/device`, signs in at the issuer if needed, types (or follows a link with)
   the user code, and approves or denies.
3. Meanwhile the CLI polls the token endpoint every `interval` seconds: `authorization_pending`
   until the person decides, `slow_down` (and 5 s more) if it polls faster, then its tokens, or
   `access_denied`, or `expired_token` after 10 minutes.

User codes use 20 consonants (RFC 8628 §6.1: no vowels, so no words; no look-alike digits),
8 characters: 20^8 ≈ 2.6·10^10 codes for a handful alive at once, and the device page is
behind the issuer's sign-in.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from linli_identity.hashing import digest
from linli_identity.tables import DeviceCode
from linli_runtime.clock import Clock
from linli_runtime.models import table, typed
from linli_runtime.times import as_utc

DEVICE_CODES = table(DeviceCode)
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
LIFETIME = timedelta(minutes=10)
INTERVAL = 5
SLOW_DOWN_STEP = 5

PENDING, APPROVED, DENIED, USED = "pending", "approved", "denied", "used"


@dataclass(frozen=True)
class DeviceStart:
    device_code: str
    user_code: str  # as shown: XXXX-XXXX
    expires_in: int
    interval: int


@dataclass(frozen=True)
class PollResult:
    """`error` is an RFC 8628 error code, or "" with `account_id` and `scope` when approved."""

    error: str = ""
    account_id: str = ""
    scope: str = ""


def shown(user_code: str) -> str:
    return f"{user_code[:4]}-{user_code[4:]}"


def normalize_user_code(value: str) -> str:
    """What a person typed → the stored form: upper case, without dashes and spaces."""
    return "".join(c for c in value.upper() if c.isalnum())


class DeviceCodes:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def start(self, session: AsyncSession, *, client_id: str, scope: str) -> DeviceStart:
        device_code = secrets.token_urlsafe(32)
        user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
        now = self.clock.now()
        conn = await session.connection()
        await conn.execute(DEVICE_CODES.insert().values(
            device_code_hash=digest(device_code), user_code=user_code, client_id=client_id, scope=scope,
            status=PENDING, interval_seconds=INTERVAL, created_at=now, expires_at=now + LIFETIME))
        return DeviceStart(device_code, shown(user_code), int(LIFETIME.total_seconds()), INTERVAL)

    async def pending(self, session: AsyncSession, user_code: str) -> DeviceCode | None:
        """The pending, unexpired request with this user code, if any."""
        conn = await session.connection()
        row = (await conn.execute(sa.select(DEVICE_CODES).where(
            DEVICE_CODES.c.user_code == normalize_user_code(user_code), DEVICE_CODES.c.status == PENDING))).first()
        if row is None:
            return None
        found = typed(DeviceCode, row)
        return found if as_utc(found.expires_at) > self.clock.now() else None

    async def decide(self, session: AsyncSession, user_code: str, *, account_id: str, approve: bool) -> bool:
        """Approve or deny a pending request; False when there is none (expired, or decided)."""
        conn = await session.connection()
        result = await conn.execute(DEVICE_CODES.update().where(
            DEVICE_CODES.c.user_code == normalize_user_code(user_code), DEVICE_CODES.c.status == PENDING,
            DEVICE_CODES.c.expires_at > self.clock.now(),
        ).values(status=APPROVED if approve else DENIED, account_id=account_id if approve else None))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def poll(self, session: AsyncSession, *, device_code: str, client_id: str) -> PollResult:
        """One poll of the token endpoint. Records the poll time (for slow_down), so the caller
        commits even when the answer is an error."""
        conn = await session.connection()
        row = (await conn.execute(sa.select(DEVICE_CODES).where(
            DEVICE_CODES.c.device_code_hash == digest(device_code)))).first()
        if row is None:
            return PollResult(error="invalid_grant")
        stored = typed(DeviceCode, row)
        now = self.clock.now()
        if stored.client_id != client_id:
            return PollResult(error="invalid_grant")
        if as_utc(stored.expires_at) <= now:
            return PollResult(error="expired_token")
        if stored.status == DENIED:
            return PollResult(error="access_denied")
        if stored.status == USED:
            return PollResult(error="invalid_grant")
        where = DEVICE_CODES.c.device_code_hash == stored.device_code_hash
        if stored.status == APPROVED and stored.account_id:
            updated = await conn.execute(DEVICE_CODES.update().where(where, DEVICE_CODES.c.status == APPROVED)
                                         .values(status=USED, last_polled_at=now))
            if updated.rowcount != 1:  # type: ignore[attr-defined]
                return PollResult(error="invalid_grant")
            return PollResult(account_id=stored.account_id, scope=stored.scope)
        too_soon = stored.last_polled_at is not None and \
            (now - as_utc(stored.last_polled_at)).total_seconds() < stored.interval_seconds
        interval = stored.interval_seconds + (SLOW_DOWN_STEP if too_soon else 0)
        await conn.execute(DEVICE_CODES.update().where(where).values(last_polled_at=now, interval_seconds=interval))
        return PollResult(error="slow_down" if too_soon else "authorization_pending")

    async def purge(self, session: AsyncSession) -> None:
        conn = await session.connection()
        expired = DEVICE_CODES.c.expires_at < self.clock.now() - timedelta(hours=1)
        await conn.execute(DEVICE_CODES.delete().where(expired))
