"""One-time codes (sign-in by phone) sent by SMS now, for the identity service.

Not a notice: there is no inbox row, no delivery row and no sweeper. The code goes out during
the call, through the SMS providers in failover order (a code that arrives in ten minutes is
useless), and the call's answer says how it went. Every send is recorded (`OneTimeCode`) before
it starts and finished after, so the record shows who asked, for which masked number, why,
through which provider and with what outcome — never the code: it is not stored (nor its hash:
see the table) and is blanked out of providers' error texts before they are recorded or logged.

| outcome | record state | answer |
|---|---|---|
| the number had its codes (`limits`) | none | RESOURCE_EXHAUSTED, PHONE_RATE_LIMITED, RetryInfo |
| a provider took it | `sent` | the record |
| a provider refused the number itself | `rejected` | INVALID_ARGUMENT, reason PHONE_REJECTED |
| every provider throttled | `throttled` | RESOURCE_EXHAUSTED, reason SMS_THROTTLED, `retry_after_seconds` |
| otherwise no provider took it | `failed` | UNAVAILABLE, reason SMS_UNAVAILABLE |

A number gets at most one code every 30 s, 6 an hour and 10 a day (`LIMITS`, the defaults of
the settings LINLI_ONE_TIME_CODE_GAP_SECONDS, LINLI_ONE_TIME_CODES_PER_NUMBER_PER_HOUR and
_PER_DAY): the backstop
should a caller misbehave, a little looser than identity's own limits in front of it (by default
one a minute, 5 an hour) and close to what the vendors allow anyway (Aliyun: one a minute, 5 an
hour, 10 a day per number). Codes that did not go out do not count.
The count is kept per number as a digest, for a day (`OneTimeCodeSend`). On PostgreSQL two
replicas checking the same number at the same instant may both pass: a limit against floods can
afford that.

A request id (the caller's challenge id) makes the call safe to retry: the same caller and id get
the first answer again, without a second SMS, whatever the outcome — a failed code is asked for
anew, with a new code and a new id. A send still under way answers ABORTED; one that never
finished (the process died mid-send) answers UNAVAILABLE after `STALE`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_notification.providers import (
    ONE_TIME_CODE,
    OutboundMessage,
    Provider,
    ProviderError,
    RecipientRejected,
    Throttled,
    send_with_failover,
)
from linli_notification.sms.phones import masked
from linli_notification.tables import OneTimeCode, one_time_code, one_time_code_send
from linli_notification.templates import render
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import (
    Aborted,
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    ResourceExhausted,
    Unavailable,
    retry_after,
)
from linli_runtime.models import typed
from linli_runtime.times import as_utc
from linli_runtime.transactions import fingerprint

log = logging.getLogger("linli.notification.one_time_codes")

PURPOSES = ("sign_in", "verify_phone")
LOCALES = ("zh", "en")
# A send still "sending" this long after it began never finished (the process died mid-send).
STALE = timedelta(minutes=2)
SENDING, SENT, REJECTED, THROTTLED, FAILED = "sending", "sent", "rejected", "throttled", "failed"


@dataclass(frozen=True)
class Limit:
    count: int  # at most this many codes to one number…
    window: timedelta  # …within this long


# One every 30 s, 6 an hour, 10 a day by default (see the module docstring and the settings). The
# longest window is how long a number's digest is kept.
LIMITS = (Limit(1, timedelta(seconds=30)), Limit(6, timedelta(hours=1)), Limit(10, timedelta(days=1)))


def phone_digest(phone: str) -> str:
    return hashlib.sha256(f"linli-one-time-code:{phone}".encode()).hexdigest()


def wait_for(sent: Sequence[datetime], now: datetime, limits: Sequence[Limit] = LIMITS) -> int | None:
    """Seconds until a number that was sent codes at `sent` (oldest first) may get another;
    None when it may now."""
    waits = []
    for limit in limits:
        recent = [t for t in sent if t > now - limit.window]
        if len(recent) >= limit.count:
            waits.append(recent[len(recent) - limit.count] + limit.window - now)
    return max(1, math.ceil(max(waits).total_seconds())) if waits else None


@dataclass(frozen=True)
class CodeRequest:
    phone: str  # E.164
    code: str
    purpose: str  # one of PURPOSES
    locale: str  # one of LOCALES
    ttl: timedelta
    request_id: str

    def fingerprint(self) -> str:
        """What was asked, without the code or the full number: a request id used again for
        something else is refused."""
        return fingerprint(masked(self.phone), self.purpose, self.locale, int(self.ttl.total_seconds()))

    def message(self, record_id: str) -> OutboundMessage:
        minutes = max(1, int(self.ttl.total_seconds()) // 60)
        text = render(ONE_TIME_CODE, self.locale, {"code": self.code, "minutes": minutes, "purpose": self.purpose})
        return OutboundMessage(record_id, masked(self.phone), "sms", self.phone, text.title, text.body,
                               kind=ONE_TIME_CODE, params={"code": self.code, "minutes": str(minutes)})


def blank(text: str, code: str) -> str:
    """`text` with the code blanked out (a vendor's error may quote the request)."""
    return text.replace(code, "*" * len(code)) if code else text


class OneTimeCodes:
    def __init__(self, db: Database, clock: Clock, providers: Sequence[Provider],
                 limits: Sequence[Limit] = LIMITS) -> None:
        self.db = db
        self.clock = clock
        self.providers = providers
        self.limits = tuple(limits)

    async def send(self, request: CodeRequest, *, requested_by: str, client_id: str) -> OneTimeCode:
        """Send the code now (see the module docstring for the outcomes); the record when sent."""
        if not request.request_id:  # no retry protection asked for: a record of its own
            request = replace(request, request_id=f"none:{uuid.uuid4().hex}")
        record = await self._begin(request, requested_by, client_id)
        if record.state != SENDING:
            return answer(record)  # an earlier call with this request id
        state, provider, errors, wait = SENT, "", "", None
        try:
            result = await send_with_failover(self.providers, request.message(record.id))
            provider, errors = result.provider, "; ".join(result.errors)
        except RecipientRejected as exc:
            state, errors = REJECTED, str(exc)
        except Throttled as exc:
            state, errors = THROTTLED, str(exc)
            wait = int(exc.retry_after.total_seconds()) if exc.retry_after else None
        except ProviderError as exc:
            state, errors = FAILED, str(exc)
        errors = blank(errors, request.code)[:1000]
        finished = await self._finish(record, state, provider, errors, wait)
        log.info("one-time code sent" if state == SENT else "one-time code not sent",
                 extra={"record": record.id, "phone": record.masked_phone, "purpose": record.purpose,
                        "state": state, "provider": provider, "errors": errors, "request_id": record.request_id})
        return answer(finished)

    async def _begin(self, request: CodeRequest, requested_by: str, client_id: str) -> OneTimeCode:
        """The record of this request: a new one (state sending), or the one an earlier call with
        the same request id made."""
        found = await self._find(requested_by, request.request_id)
        if found is None:
            record = OneTimeCode(id="otc-" + uuid.uuid4().hex[:16], requested_by=requested_by, client_id=client_id,
                                 request_id=request.request_id, fingerprint=request.fingerprint(),
                                 masked_phone=masked(request.phone), purpose=request.purpose, locale=request.locale,
                                 state=SENDING, created_at=self.clock.now())
            try:
                async with self.db.transaction() as session:
                    conn = await session.connection()
                    await self._count_for_the_number(conn, request.phone, record)
                    await conn.execute(one_time_code.insert().values(record.model_dump(exclude={"seq"})))
                return record
            except IntegrityError:  # the same request id, at the same moment
                found = await self._find(requested_by, request.request_id)
                if found is None:
                    raise
        if found.fingerprint != request.fingerprint():
            raise AlreadyExists(f"request_id {request.request_id!r} was already used for another one-time code; "
                                "use a new id", reason="REQUEST_ID_REUSED",
                                violations=[FieldViolation("request_id", "already used for another code")])
        if found.state == SENDING:
            if as_utc(found.created_at) + STALE > self.clock.now():
                raise Aborted("this one-time code is being sent right now; wait for that answer",
                              reason="SEND_IN_PROGRESS")
            raise Unavailable("the send with this request id never finished; ask for a new code",
                              reason="SMS_UNAVAILABLE")
        return found

    async def _count_for_the_number(self, conn: AsyncConnection, phone: str, record: OneTimeCode) -> None:
        """Refuse (RESOURCE_EXHAUSTED) when the number had its codes; else count this one. Rows
        past the longest window go first (no number's digest is kept longer)."""
        now = self.clock.now()
        await conn.execute(one_time_code_send.delete().where(
            one_time_code_send.c.sent_at <= now - max(limit.window for limit in self.limits)))
        digest = phone_digest(phone)
        sent = [as_utc(t) for t in (await conn.execute(
            sa.select(one_time_code_send.c.sent_at).where(one_time_code_send.c.phone_digest == digest)
            .order_by(one_time_code_send.c.sent_at))).scalars()]
        wait = wait_for(sent, now, self.limits)
        if wait is not None:
            log.warning("one-time code refused: the number had its codes",
                        extra={"phone": record.masked_phone, "retry_after_seconds": wait,
                               "requested_by": record.requested_by})
            raise ResourceExhausted(f"{record.masked_phone} has been sent as many codes as it may for now; "
                                    f"try again in {wait} s", reason="PHONE_RATE_LIMITED", metadata=retry_after(wait))
        await conn.execute(one_time_code_send.insert().values(phone_digest=digest, record_id=record.id, sent_at=now))

    async def _find(self, requested_by: str, request_id: str) -> OneTimeCode | None:
        async with self.db.transaction() as session:
            conn = await session.connection()
            row = (await conn.execute(sa.select(one_time_code).where(
                one_time_code.c.requested_by == requested_by, one_time_code.c.request_id == request_id))).first()
        return typed(OneTimeCode, row) if row is not None else None

    async def _finish(self, record: OneTimeCode, state: str, provider: str, errors: str,
                      wait: int | None) -> OneTimeCode:
        async with self.db.transaction() as session:
            conn = await session.connection()
            await conn.execute(one_time_code.update().where(one_time_code.c.id == record.id).values(
                state=state, provider=provider, errors=errors, retry_after_seconds=wait, finished_at=self.clock.now()))
            if state != SENT:  # nothing reached the number: not counted against it
                await conn.execute(one_time_code_send.delete().where(one_time_code_send.c.record_id == record.id))
            row = (await conn.execute(sa.select(one_time_code).where(one_time_code.c.id == record.id))).one()
        return typed(OneTimeCode, row)


def answer(record: OneTimeCode) -> OneTimeCode:
    """The record when it was sent; the error its outcome stands for otherwise."""
    if record.state == SENT:
        return record
    if record.state == REJECTED:
        raise InvalidArgument(f"the SMS provider will not send to {record.masked_phone}: {record.errors}",
                              reason="PHONE_REJECTED",
                              violations=[FieldViolation("phone", "the SMS provider refuses this number")])
    if record.state == THROTTLED:
        wait = record.retry_after_seconds
        metadata = {"retry_after_seconds": str(wait)} if wait else {}
        raise ResourceExhausted(f"every SMS provider is limiting how often we send to {record.masked_phone}; "
                                f"try again {f'in {wait} s' if wait else 'later'} ({record.errors})",
                                reason="SMS_THROTTLED", metadata=metadata)
    raise Unavailable(f"no SMS provider took the code ({record.errors or 'none configured'}); ask for a new "
                      "code in a moment", reason="SMS_UNAVAILABLE")
