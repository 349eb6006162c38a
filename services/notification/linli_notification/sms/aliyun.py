"""Aliyun SMS (Dysmsapi `SendSms`, API version 2017-05-25), signed with Aliyun's signature V3
(`ACS3-HMAC-SHA256`) as Aliyun documents it ("V3版本请求体&签名机制"):

    CanonicalRequest = Method \\n CanonicalURI \\n CanonicalQueryString \\n CanonicalHeaders \\n
                       SignedHeaders \\n HexEncode(SHA256(body))
    StringToSign     = "ACS3-HMAC-SHA256" \\n HexEncode(SHA256(CanonicalRequest))
    Signature        = HexEncode(HMAC-SHA256(AccessKeySecret, StringToSign))
    Authorization    = ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<…>,Signature=<…>

Query keys and values are percent-encoded by RFC 3986 (only `A–Z a–z 0–9 - _ . ~` stay) and
sorted; the signed headers are `host` and every `x-acs-*` header, lower-cased, sorted. The request
parameters travel in the query string, exactly as signed; the body is empty.

Answers: `Code: OK` is sent. Rate limits (`isv.BUSINESS_LIMIT_CONTROL` — per number: 1 a
minute, 5 an hour, 10 a day for codes — and the other `*LIMIT*` and `Throttling*` codes) are
`Throttled`; `isv.MOBILE_NUMBER_ILLEGAL` is `RecipientRejected`; anything else (a wrong key,
signature or template, no balance, the vendor's own errors) is a `ProviderError`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import UTC

import httpx

from linli_notification.http_gateway import DEFAULT_MAX_CONNECTIONS, DEFAULT_TIMEOUT, HttpGateway
from linli_notification.providers import OutboundMessage, ProviderError, RecipientRejected, Throttled
from linli_notification.sms.phones import aliyun_number, e164
from linli_notification.sms.templates import VendorTemplates
from linli_runtime.clock import Clock, SystemClock

ENDPOINT = "https://dysmsapi.aliyuncs.com"
ACTION = "SendSms"
VERSION = "2017-05-25"
ALGORITHM = "ACS3-HMAC-SHA256"

REJECTED = frozenset({"isv.MOBILE_NUMBER_ILLEGAL"})
THROTTLED_PREFIXES = ("Throttling",)
THROTTLED = frozenset({"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL", "isv.BUSINESS_LIMIT_HOUR",
                       "isv.BUSINESS_LIMIT_DAY", "BUSINESS_LIMIT_CONTROL_MINUTE", "BUSINESS_LIMIT_CONTROL_PHONE"})


def percent_encode(value: str) -> str:
    return urllib.parse.quote(value, safe="-_.~")


def canonical_query(params: Mapping[str, str]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def acs3_authorization(*, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str],
                       body: bytes, access_key_id: str, access_key_secret: str) -> str:
    """The `Authorization` header for a request whose signed headers (`host`, `x-acs-*`, with
    `x-acs-content-sha256` already the body's digest) are `headers`."""
    signed = {k.lower(): v.strip() for k, v in headers.items()}
    names = sorted(signed)
    canonical = "\n".join([
        method.upper(), path or "/", canonical_query(query), "".join(f"{n}:{signed[n]}\n" for n in names),
        ";".join(names), sha256_hex(body)])
    string_to_sign = f"{ALGORITHM}\n{sha256_hex(canonical.encode())}"
    signature = hmac.new(access_key_secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{ALGORITHM} Credential={access_key_id},SignedHeaders={';'.join(names)},Signature={signature}"


def classify(code: str, message: str) -> ProviderError:
    problem = f"{code}: {message}".strip()
    if code in REJECTED:
        return RecipientRejected(problem)
    if code in THROTTLED or code.startswith(THROTTLED_PREFIXES):
        return Throttled(problem)
    return ProviderError(problem)


class AliyunSms(HttpGateway):
    def __init__(self, *, access_key_id: str, access_key_secret: str, sign_name: str, templates: VendorTemplates,
                 endpoint: str = ENDPOINT, name: str = "aliyun-sms", timeout: float = DEFAULT_TIMEOUT,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS, clock: Clock | None = None, ca_file: str = "",
                 nonce: Callable[[], str] = lambda: secrets.token_hex(16)) -> None:
        super().__init__(name, timeout=timeout, max_connections=max_connections, ca_file=ca_file)
        self.access_key_id = access_key_id
        self._secret = access_key_secret
        self.sign_name = sign_name
        self.templates = templates
        self.endpoint = endpoint.rstrip("/")
        self.host = httpx.URL(self.endpoint).netloc.decode()
        self.clock = clock or SystemClock()
        self.nonce = nonce

    def request_for(self, message: OutboundMessage) -> tuple[str, dict[str, str]]:
        """The URL (parameters in its query) and headers of the SendSms call for `message`."""
        try:
            number = aliyun_number(e164(message.address))
        except ValueError as exc:
            raise RecipientRejected(str(exc)) from None
        query = {
            "PhoneNumbers": number,
            "SignName": self.sign_name,
            "TemplateCode": self.templates.code_for("aliyun", message.kind),
            "TemplateParam": json.dumps(self.templates.values(message), ensure_ascii=False, separators=(",", ":")),
            "OutId": message.notice_id,
        }
        body = b""
        signed = {
            "host": self.host,
            "x-acs-action": ACTION,
            "x-acs-version": VERSION,
            "x-acs-date": self.clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "x-acs-signature-nonce": self.nonce(),
            "x-acs-content-sha256": sha256_hex(body),
        }
        headers = {**signed, "Authorization": acs3_authorization(
            method="POST", path="/", query=query, headers=signed, body=body,
            access_key_id=self.access_key_id, access_key_secret=self._secret)}
        return f"{self.endpoint}/?{canonical_query(query)}", headers

    async def send(self, message: OutboundMessage) -> None:
        url, headers = self.request_for(message)
        answer = self._json(await self._request("POST", url, headers=headers, content=b""))
        code = str(answer.get("Code", "")) if isinstance(answer, dict) else ""
        if code == "OK":
            return
        raise classify(code or "NO_CODE", str(answer.get("Message", "")) if isinstance(answer, dict) else "")
