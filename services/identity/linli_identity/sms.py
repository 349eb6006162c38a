"""Sign-in by phone: one-time SMS codes.

A code is 6 random digits, lives 5 minutes, is stored as a digest salted with its challenge
id, and may be tried at most 5 times; asking for a new code ends the previous one. Sending is
rate-limited per phone number (5 an hour, one a minute) and per client address (20 an hour),
counted in the database so the limits hold across replicas (`ratelimit.py`). Guessing is
therefore bounded: 5 tries of 10^6 codes for each of at most 5 codes an hour and phone.

Nothing here looks at accounts: a code is sent to any valid number, and what the pages say
after "send" or a wrong code is the same whether the number has an account or not — the
sign-in form does not tell who is registered. (A confirmed number without an account gets one,
if self sign-up is on: see `accounts.Accounts.sign_in_account`.)

Codes leave through an `SmsSender`:

- `DevFileSmsSender` (`make run`, tests): appends each code to `codes.jsonl` under the
  service's var dir and logs where — the development gateway that "shows" the code;
- `notification_client.NotificationSmsSender` (`LINLI_SMS_SENDER=notification`): the
  notification service's `OneTimeCodeService` over gRPC, which sends through the SMS vendors
  configured there (Aliyun, Tencent Cloud, relays) with failover, records each send without the
  code, and limits codes per number once more behind the limits here.

A sender that cannot send raises `SmsNotSent` saying why — the number refused, the vendors
busy, or nothing reachable — and the sign-in page says so; the challenge stays (nobody knows
its code) and a new one may be asked for within the limits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa

from linli_identity import ratelimit
from linli_identity.hashing import digest, matches
from linli_identity.ratelimit import Limit
from linli_identity.tables import SmsChallenge
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.models import table, typed
from linli_runtime.times import as_utc

log = logging.getLogger("linli.identity.sms")

CHALLENGES = table(SmsChallenge)
CODE_DIGITS = 6


class SmsSender(Protocol):
    async def send_code(self, phone: str, code: str, *, expires_in: int, request_id: str = "") -> None:
        """Send `code` to `phone` (E.164) now; `request_id` (the challenge's id) makes a retry
        send nothing twice. Raises `SmsNotSent` when it cannot."""


REJECTED = "rejected"  # the number cannot receive SMS (a vendor refused it)
BUSY = "busy"  # the number had its codes, or every vendor is rate-limiting
UNAVAILABLE = "unavailable"  # nothing could send it now


class SmsNotSent(Exception):
    """The code did not go out: `problem` is REJECTED, BUSY (with `retry_after` seconds when
    known) or UNAVAILABLE."""

    def __init__(self, problem: str, detail: str = "", *, retry_after: int | None = None) -> None:
        super().__init__(f"{problem}: {detail}" if detail else problem)
        self.problem = problem
        self.retry_after = retry_after


class DevFileSmsSender:
    """Writes codes to a file instead of sending them (development and tests)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "codes.jsonl"

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    async def send_code(self, phone: str, code: str, *, expires_in: int, request_id: str = "") -> None:
        line = json.dumps({"sent_at": datetime.now(UTC).isoformat(timespec="seconds"), "phone": phone,
                           "code": code, "expires_in": expires_in,
                           "text": f"【邻里】您的登录验证码是 {code}，{expires_in // 60} 分钟内有效。"
                                   f" Your Linli sign-in code is {code}."}, ensure_ascii=False)
        await asyncio.to_thread(self._append, line)
        log.info("SMS code written to the development gateway's file (not sent)",
                 extra={"phone_tail": phone[-4:], "file": str(self.path)})

    def latest_code(self, phone: str) -> str | None:
        """The last code written for `phone` (tests and the dev gateway page read it)."""
        if not self.path.exists():
            return None
        found = None
        for line in self.path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if entry["phone"] == phone:
                found = str(entry["code"])
        return found


@dataclass(frozen=True)
class SmsPolicy:
    ttl: timedelta = timedelta(minutes=5)
    max_attempts: int = 5
    per_phone_per_hour: int = 5
    per_address_per_hour: int = 20
    resend_gap: timedelta = timedelta(seconds=60)


@dataclass(frozen=True)
class Confirmation:
    """The outcome of entering a code: the phone it confirms, or why not (`problem`)."""

    phone: str = ""
    problem: str = ""


WRONG = "wrong"
EXPIRED = "expired"
LOCKED = "locked"


class SmsCodes:
    def __init__(self, db: Database, clock: Clock, sender: SmsSender, policy: SmsPolicy | None = None) -> None:
        self.db = db
        self.clock = clock
        self.sender = sender
        self.policy = policy or SmsPolicy()

    async def send(self, phone: str, address: str) -> str:
        """A new code for `phone`, sent; returns the challenge id the code form carries. Raises
        `ratelimit.TooManyRequests` when a limit is reached, `SmsNotSent` when the sender could
        not send."""
        now = self.clock.now()
        hour = timedelta(hours=1)
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        challenge_id = secrets.token_urlsafe(16)
        async with self.db.transaction() as session:
            await ratelimit.check_and_count(session, now, [
                Limit(f"sms:phone:{phone}", self.policy.per_phone_per_hour, hour, self.policy.resend_gap),
                Limit(f"sms:address:{address}", self.policy.per_address_per_hour, hour),
            ])
            conn = await session.connection()
            await conn.execute(CHALLENGES.update().where(CHALLENGES.c.phone == phone,
                                                         CHALLENGES.c.consumed_at.is_(None)).values(consumed_at=now))
            await conn.execute(CHALLENGES.insert().values(
                id=challenge_id, phone=phone, code_hash=digest(code, salt=challenge_id), created_at=now,
                expires_at=now + self.policy.ttl, attempts=0))
        await self.sender.send_code(phone, code, expires_in=int(self.policy.ttl.total_seconds()),
                                    request_id=challenge_id)
        return challenge_id

    async def confirm(self, challenge_id: str, code: str) -> Confirmation:
        """Check a code. A wrong one counts as an attempt (committed); the fifth wrong one ends
        the challenge."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            conn = await session.connection()
            row = (await conn.execute(sa.select(CHALLENGES).where(CHALLENGES.c.id == challenge_id))).first()
            if row is None:
                return Confirmation(problem=EXPIRED)
            challenge = typed(SmsChallenge, row)
            if challenge.consumed_at is not None or as_utc(challenge.expires_at) <= now:
                return Confirmation(problem=EXPIRED)
            if challenge.attempts >= self.policy.max_attempts:
                return Confirmation(problem=LOCKED)
            attempts = challenge.attempts + 1
            right = code.isdigit() and matches(code, challenge.code_hash, salt=challenge.id)
            done = right or attempts >= self.policy.max_attempts
            await conn.execute(CHALLENGES.update().where(CHALLENGES.c.id == challenge.id).values(
                attempts=attempts, consumed_at=now if done else None))
        if right:
            return Confirmation(phone=challenge.phone)
        return Confirmation(problem=LOCKED if attempts >= self.policy.max_attempts else WRONG)

    async def purge(self) -> None:
        async with self.db.transaction() as session:
            conn = await session.connection()
            old = CHALLENGES.c.expires_at < self.clock.now() - timedelta(days=1)
            await conn.execute(CHALLENGES.delete().where(old))
            await ratelimit.purge(session, self.clock.now() - timedelta(days=1))
