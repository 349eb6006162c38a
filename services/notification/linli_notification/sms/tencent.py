"""Tencent Cloud SMS (`SendSms`, API version 2021-01-11), signed with TencentCloud API signature
v3 (`TC3-HMAC-SHA256`) as Tencent documents it ("签名方法 v3"):

    CanonicalRequest = POST \\n / \\n "" \\n CanonicalHeaders \\n SignedHeaders \\n HexEncode(SHA256(payload))
    StringToSign     = "TC3-HMAC-SHA256" \\n Timestamp \\n <UTC date>/sms/tc3_request \\n
                       HexEncode(SHA256(CanonicalRequest))
    SecretSigning    = HMAC(HMAC(HMAC("TC3" + SecretKey, <UTC date>), "sms"), "tc3_request")
    Signature        = HexEncode(HMAC-SHA256(SecretSigning, StringToSign))
    Authorization    = TC3-HMAC-SHA256 Credential=<SecretId>/<scope>, SignedHeaders=<…>, Signature=<…>

The signed headers are `content-type`, `host` and `x-tc-action` (names and values lower-cased).
The service in the credential scope is always `sms`, whatever endpoint a test points at.

Answers: a request-level `Error` (wrong key or signature, `RequestLimitExceeded`…) applies to
the whole call; otherwise the one `SendStatusSet` entry for our number says `Ok` or why not.
`LimitExceeded.*` and `RequestLimitExceeded*` are `Throttled`; an incorrect number or one on the
vendor's blacklist (the person asked to receive nothing) is `RecipientRejected`; the rest is a
`ProviderError`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from linli_notification.http_gateway import DEFAULT_MAX_CONNECTIONS, DEFAULT_TIMEOUT, HttpGateway
from linli_notification.providers import OutboundMessage, ProviderError, RecipientRejected, Throttled
from linli_notification.sms.phones import e164
from linli_notification.sms.templates import VendorTemplates
from linli_runtime.clock import Clock, SystemClock

ENDPOINT = "https://sms.tencentcloudapi.com"
SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"

REJECTED = frozenset({"InvalidParameterValue.IncorrectPhoneNumber", "FailedOperation.PhoneNumberInBlacklist",
                      "FailedOperation.PhoneNumberParseFail"})
THROTTLED_PREFIXES = ("LimitExceeded.", "RequestLimitExceeded")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def tc3_authorization(*, secret_id: str, secret_key: str, service: str, timestamp: int, headers: Mapping[str, str],
                      payload: bytes, method: str = "POST", path: str = "/", query: str = "") -> str:
    """The `Authorization` header for a request whose signed headers are `headers`."""
    signed = {k.lower(): v.strip().lower() for k, v in headers.items()}
    names = sorted(signed)
    canonical = "\n".join([method.upper(), path, query, "".join(f"{n}:{signed[n]}\n" for n in names),
                           ";".join(names), sha256_hex(payload)])
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = f"{ALGORITHM}\n{timestamp}\n{scope}\n{sha256_hex(canonical.encode())}"
    signing_key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"


def classify(code: str, message: str) -> ProviderError:
    problem = f"{code}: {message}".strip()
    if code in REJECTED:
        return RecipientRejected(problem)
    if code.startswith(THROTTLED_PREFIXES):
        return Throttled(problem)
    return ProviderError(problem)


class TencentSms(HttpGateway):
    def __init__(self, *, secret_id: str, secret_key: str, sdk_app_id: str, sign_name: str,
                 templates: VendorTemplates, region: str = "ap-guangzhou", endpoint: str = ENDPOINT,
                 name: str = "tencent-sms", timeout: float = DEFAULT_TIMEOUT,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS, clock: Clock | None = None, ca_file: str = "") -> None:
        super().__init__(name, timeout=timeout, max_connections=max_connections, ca_file=ca_file)
        self.secret_id = secret_id
        self._secret_key = secret_key
        self.sdk_app_id = sdk_app_id
        self.sign_name = sign_name
        self.templates = templates
        self.region = region
        self.endpoint = endpoint.rstrip("/")
        self.host = httpx.URL(self.endpoint).netloc.decode()
        self.clock = clock or SystemClock()

    def request_for(self, message: OutboundMessage) -> tuple[bytes, dict[str, str]]:
        """The JSON payload and headers of the SendSms call for `message`."""
        try:
            number = e164(message.address)
        except ValueError as exc:
            raise RecipientRejected(str(exc)) from None
        payload = json.dumps({
            "PhoneNumberSet": [number],
            "SmsSdkAppId": self.sdk_app_id,
            "SignName": self.sign_name,
            "TemplateId": self.templates.code_for("tencent", message.kind),
            "TemplateParamSet": list(self.templates.values(message).values()),
            "SessionContext": message.notice_id,
        }, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(self.clock.now().timestamp())
        signed = {"content-type": CONTENT_TYPE, "host": self.host, "x-tc-action": ACTION}
        headers = {
            "Content-Type": CONTENT_TYPE, "Host": self.host, "X-TC-Action": ACTION, "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(timestamp), "X-TC-Region": self.region,
            "Authorization": tc3_authorization(secret_id=self.secret_id, secret_key=self._secret_key, service=SERVICE,
                                               timestamp=timestamp, headers=signed, payload=payload),
        }
        return payload, headers

    async def send(self, message: OutboundMessage) -> None:
        payload, headers = self.request_for(message)
        answer = self._json(await self._request("POST", f"{self.endpoint}/", headers=headers, content=payload))
        response: Any = answer.get("Response") if isinstance(answer, dict) else None
        if not isinstance(response, dict):
            raise ProviderError("the answer has no Response")
        error = response.get("Error")
        if isinstance(error, dict):
            raise classify(str(error.get("Code", "")), str(error.get("Message", "")))
        statuses = response.get("SendStatusSet")
        status = statuses[0] if isinstance(statuses, list) and statuses and isinstance(statuses[0], dict) else None
        if status is None:
            raise ProviderError("the answer has no SendStatusSet")
        code = str(status.get("Code", ""))
        if code != "Ok":
            raise classify(code, str(status.get("Message", "")))
