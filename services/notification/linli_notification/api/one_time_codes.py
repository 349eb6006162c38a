"""linli.notification.v1.OneTimeCodeService: one-time codes by SMS, sent now, for the identity
service alone (see `one_time_codes` for the outcomes)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from linli.notification.v1 import one_time_codes_pb2 as pb
from linli.notification.v1 import one_time_codes_pb2_grpc as pb_grpc
from linli_notification.api import convert
from linli_notification.api.access import require_code_sender
from linli_notification.one_time_codes import LOCALES, CodeRequest, OneTimeCodes
from linli_notification.sms.phones import e164
from linli_runtime import fields
from linli_runtime.errors import InvalidArgument

CODE = re.compile(r"^[0-9]{4,8}$")
PURPOSES = {v: k for k, v in convert.PURPOSES.items()}
DEFAULT_TTL_SECONDS = 300


def parse_locale(value: str) -> str:
    """`zh`, `zh_CN`, `zh-Hans-CN`, `en-US`… → `zh` / `en`; empty → `zh`."""
    language = re.split(r"[-_]", value.strip(), maxsplit=1)[0].lower() if value.strip() else "zh"
    if language not in LOCALES:
        raise InvalidArgument.field("locale", f"must be Chinese or English ({' or '.join(LOCALES)}, e.g. zh_CN)")
    return language


class OneTimeCodeServicer(pb_grpc.OneTimeCodeServiceServicer):
    def __init__(self, codes: OneTimeCodes, senders: frozenset[str]) -> None:
        self.codes = codes
        self.senders = senders

    async def SendOneTimeCode(self, request: pb.SendOneTimeCodeRequest, context: Any) -> pb.SendOneTimeCodeResponse:
        # Who first: nobody else learns even which numbers we would accept.
        who = require_code_sender(self.senders)
        try:
            phone = e164(request.phone)
        except ValueError as exc:
            raise InvalidArgument.field("phone", str(exc)) from None
        if not CODE.match(request.code):
            raise InvalidArgument.field("code", "must be 4 to 8 digits")
        purpose = PURPOSES.get(request.purpose)
        if purpose is None:
            raise InvalidArgument.field("purpose", "is required: ONE_TIME_CODE_PURPOSE_SIGN_IN or _VERIFY_PHONE")
        ttl = fields.in_range("ttl_seconds", request.ttl_seconds or DEFAULT_TTL_SECONDS, 60, 3600)
        wanted = CodeRequest(phone=phone, code=request.code, purpose=purpose, locale=parse_locale(request.locale),
                             ttl=timedelta(seconds=ttl), request_id=fields.request_id(request.request_id))
        record = await self.codes.send(wanted, requested_by=who.subject, client_id=str(who.claims.get("client_id", "")))
        return pb.SendOneTimeCodeResponse(delivery=convert.one_time_code(record))
