"""Sign-in codes through the notification service (`LINLI_SMS_SENDER=notification`): its
`OneTimeCodeService` over gRPC — the only way identity reaches notification, whose package it
never imports.

notification sends the code during the call through the SMS vendors configured there, with
failover, and lets only the identity service's token ask (`svc-identity`). Its answers become
`SmsNotSent`:

| notification answers | SmsNotSent.problem |
|---|---|
| INVALID_ARGUMENT, reason PHONE_REJECTED | REJECTED |
| RESOURCE_EXHAUSTED (the number had its codes, or every vendor is throttling) | BUSY, `retry_after` |
| anything else (down, no vendor took it, our token refused) | UNAVAILABLE |

The challenge id is the request id: gRPC's own retries (UNAVAILABLE only, `make_channel`) and a
repeated call send no second SMS. Nothing here logs the code or the full number.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable

import grpc

from linli.notification.v1 import one_time_codes_pb2 as pb
from linli.notification.v1 import one_time_codes_pb2_grpc as pb_grpc
from linli_identity.accounts import masked_phone
from linli_identity.sms import BUSY, REJECTED, UNAVAILABLE, SmsNotSent
from linli_runtime.clients import make_channel
from linli_runtime.grpc_tls import PLAINTEXT, GrpcTls
from linli_runtime.rich_status import details, error_metadata
from linli_runtime.tracing import NO_TRACING, Tracing

log = logging.getLogger("linli.identity.sms")

# Long enough for notification to try a few vendors in turn (each answers within 5 s or is
# given up), short enough for a person waiting on the sign-in page.
DEFAULT_TIMEOUT = 15.0

TokenSource = Callable[[], "str | Awaitable[str]"]


class NotificationSmsSender:
    """An `SmsSender` calling notification at `address` with the token `token()` gives (this
    service's own, as client `svc-identity`), over TLS as `tls` says (the service's own). The
    channel opens on the first code, inside the running event loop, and is closed by `aclose()`."""

    def __init__(self, address: str, token: TokenSource, *, timeout: float = DEFAULT_TIMEOUT,
                 tracing: Tracing = NO_TRACING, tls: GrpcTls = PLAINTEXT) -> None:
        self.address = address
        self.token = token
        self.timeout = timeout
        self.tracing = tracing
        self.tls = tls
        self._channel: grpc.aio.Channel | None = None

    def _stub(self) -> pb_grpc.OneTimeCodeServiceStub:
        if self._channel is None:
            self._channel = make_channel(self.address, default_timeout=self.timeout, tracing=self.tracing,
                                         tls=self.tls)
        return pb_grpc.OneTimeCodeServiceStub(self._channel)

    async def _bearer(self) -> str:
        token = self.token()
        return await token if inspect.isawaitable(token) else token

    async def send_code(self, phone: str, code: str, *, expires_in: int, request_id: str = "") -> None:
        request = pb.SendOneTimeCodeRequest(phone=phone, code=code, purpose=pb.ONE_TIME_CODE_PURPOSE_SIGN_IN,
                                            locale="zh", ttl_seconds=expires_in, request_id=request_id)
        try:
            await self._stub().SendOneTimeCode(
                request, metadata=(("authorization", f"Bearer {await self._bearer()}"),), timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            raise self._not_sent(exc, phone) from None

    @staticmethod
    def _not_sent(exc: grpc.aio.AioRpcError, phone: str) -> SmsNotSent:
        reason, _ = details(exc)
        status, text = exc.code(), exc.details() or ""
        if status == grpc.StatusCode.INVALID_ARGUMENT and reason == "PHONE_REJECTED":
            return SmsNotSent(REJECTED, text)
        if status == grpc.StatusCode.RESOURCE_EXHAUSTED:
            wait = error_metadata(exc).get("retry_after_seconds", "")
            return SmsNotSent(BUSY, text, retry_after=int(wait) if wait.isdigit() else None)
        # Anything else is ours or notification's to fix, not the person's: say so in the log.
        level = logging.WARNING if status in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) \
            else logging.ERROR
        log.log(level, "notification did not send the sign-in code",
                extra={"phone": masked_phone(phone), "status": status.name, "reason": reason, "error": text})
        return SmsNotSent(UNAVAILABLE, text)

    async def aclose(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
