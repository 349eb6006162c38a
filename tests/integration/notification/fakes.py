"""Stand-ins for what lies outside the platform — SMS vendors and the WeChat API — as real HTTP
servers on loopback (one thread each), so the gateways are tested through their real
`httpx` clients.

The Aliyun and Tencent stand-ins check every request's signature the way the vendors document
it, with code written here independently of the adapters (`linli_notification.sms`): a request
that does not verify gets the vendor's signature error, exactly as in production. The WeChat
stand-in keeps one access token per app as the platform does for `stable_token`, and, for
contrast, ends the previous token on every classic `/cgi-bin/token` call.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Now = Callable[[], datetime]


@dataclass
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else {}


Handler = Callable[[Seen], tuple[int, Any]]


class Loopback:
    """A threaded HTTP server on a free loopback port answering with `handle(seen)`; HTTPS when
    given a server-side `tls` context (`self_signed`)."""

    def __init__(self, handle: Handler, *, tls: ssl.SSLContext | None = None) -> None:
        self.seen: list[Seen] = []
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the vendors' servers
            disable_nagle_algorithm = True  # headers and body leave at once, no delayed-ACK stalls

            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                seen = Seen(self.command, path, dict(urllib.parse.parse_qsl(query, keep_blank_values=True)),
                            {k.lower(): v for k, v in self.headers.items()}, body)
                seen.headers["x-raw-query"] = query
                server.seen.append(seen)
                status, payload = handle(seen)
                data = json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.http.daemon_threads = True
        if tls is not None:
            self.http.socket = tls.wrap_socket(self.http.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.http.server_address[1]}"
        self.host = f"127.0.0.1:{self.http.server_address[1]}"
        self._thread = threading.Thread(target=self.http.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-api", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self._thread.join(5)


@contextmanager
def serving(handle: Handler, *, tls: ssl.SSLContext | None = None) -> Iterator[Loopback]:
    server = Loopback(handle, tls=tls)
    try:
        yield server
    finally:
        server.close()


def self_signed(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A certificate for 127.0.0.1 signed by itself (the private CA clients must be told to
    trust: the returned PEM file) and a server context serving it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "linli test SMS relay")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "relay.pem", directory / "relay.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    return cert_file, server


# -- Aliyun Dysmsapi, signature V3 --------------------------------------------------------------------


def rfc3986(value: str) -> str:
    # Aliyun: every byte but A-Z a-z 0-9 - _ . ~ percent-encoded, upper-case hex, space as %20.
    return "".join(chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "-_.~") else f"%{b:02X}"
                   for b in value.encode())


ACS3 = re.compile(r"^ACS3-HMAC-SHA256 Credential=(?P<key>[^,]+),SignedHeaders=(?P<names>[^,]+),"
                  r"Signature=(?P<signature>[0-9a-f]{64})$")


def acs3_problem(seen: Seen, secrets_by_key: dict[str, str], now: datetime, nonces: set[str]) -> str | None:
    """Why the request's V3 signature does not verify (None when it does)."""
    match = ACS3.match(seen.headers.get("authorization", ""))
    if match is None:
        return "no ACS3-HMAC-SHA256 Authorization header"
    secret = secrets_by_key.get(match["key"])
    if secret is None:
        return "InvalidAccessKeyId.NotFound"
    names = match["names"].split(";")
    required = {"host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce",
                "x-acs-content-sha256"}
    if not required <= set(names) or names != sorted(names):
        return f"signed headers {names} lack {sorted(required - set(names))} or are not sorted"
    if seen.headers.get("x-acs-content-sha256") != hashlib.sha256(seen.body).hexdigest():
        return "x-acs-content-sha256 is not the body's digest"
    signed_at = datetime.strptime(seen.headers["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    if abs(signed_at - now) > timedelta(minutes=15):
        return "x-acs-date is more than 15 minutes off"
    nonce = seen.headers["x-acs-signature-nonce"]
    if nonce in nonces:
        return "the signature nonce was used before"
    pairs = sorted((rfc3986(k), rfc3986(v)) for k, v in
                   urllib.parse.parse_qsl(seen.headers["x-raw-query"], keep_blank_values=True))
    canonical_request = "\n".join([
        seen.method, seen.path, "&".join(f"{k}={v}" for k, v in pairs),
        "".join(f"{n}:{seen.headers.get(n, '').strip()}\n" for n in names), ";".join(names),
        hashlib.sha256(seen.body).hexdigest()])
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical_request.encode()).hexdigest()
    expected = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, match["signature"]):
        return "the signature does not match"
    nonces.add(nonce)
    return None


@dataclass
class FakeAliyunSms:
    """Dysmsapi SendSms. `codes[phone]` answers with that Code instead of OK."""

    now: Now
    access_keys: dict[str, str] = field(default_factory=lambda: {"LTAI-test": "aliyun-secret"})
    codes: dict[str, str] = field(default_factory=dict)
    sent: list[dict[str, str]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    nonces: set[str] = field(default_factory=set)

    def handle(self, seen: Seen) -> tuple[int, Any]:
        request_id = secrets.token_hex(8)
        problem = acs3_problem(seen, self.access_keys, self.now(), self.nonces)
        if problem is not None:
            self.refused.append(problem)
            return 400, {"Code": "SignatureDoesNotMatch", "Message": problem, "RequestId": request_id}
        if (seen.headers.get("x-acs-action"), seen.headers.get("x-acs-version")) != ("SendSms", "2017-05-25"):
            return 400, {"Code": "InvalidAction.NotFound", "Message": "unknown action", "RequestId": request_id}
        code = self.codes.get(seen.query.get("PhoneNumbers", ""), "OK")
        if code != "OK":
            return 200, {"Code": code, "Message": f"refused: {code}", "RequestId": request_id}
        self.sent.append(dict(seen.query))
        return 200, {"Code": "OK", "Message": "OK", "BizId": secrets.token_hex(8), "RequestId": request_id}


# -- Tencent Cloud SMS, signature v3 ------------------------------------------------------------------

TC3 = re.compile(r"^TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[a-z]+)"
                 r"/tc3_request, SignedHeaders=(?P<names>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$")


def tc3_problem(seen: Seen, keys: dict[str, str], now: datetime) -> str | None:
    """Why the request's TC3 signature does not verify (None when it does)."""
    match = TC3.match(seen.headers.get("authorization", ""))
    if match is None:
        return "no TC3-HMAC-SHA256 Authorization header"
    key = keys.get(match["id"])
    if key is None:
        return "AuthFailure.SecretIdNotFound"
    timestamp = int(seen.headers.get("x-tc-timestamp", "0"))
    signed_at = datetime.fromtimestamp(timestamp, UTC)
    if abs(signed_at - now) > timedelta(minutes=5):
        return "AuthFailure.SignatureExpire"
    if match["service"] != "sms" or match["date"] != signed_at.strftime("%Y-%m-%d"):
        return "the credential scope's service or date is wrong"
    names = match["names"].split(";")
    if not {"content-type", "host"} <= set(names):
        return "content-type and host must be signed"
    canonical_request = "\n".join([
        seen.method, "/", "", "".join(f"{n}:{seen.headers.get(n, '').strip().lower()}\n" for n in names),
        ";".join(names), hashlib.sha256(seen.body).hexdigest()])
    scope = f"{match['date']}/sms/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"

    def mac(k: bytes, m: str) -> bytes:
        return hmac.new(k, m.encode(), hashlib.sha256).digest()

    signing = mac(mac(mac(("TC3" + key).encode(), match["date"]), "sms"), "tc3_request")
    if not hmac.compare_digest(hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest(), match["signature"]):
        return "AuthFailure.SignatureFailure"
    return None


@dataclass
class FakeTencentSms:
    """SMS SendSms 2021-01-11. `codes[phone]` answers that number's SendStatus Code instead of
    Ok; `error` answers a request-level error."""

    now: Now
    keys: dict[str, str] = field(default_factory=lambda: {"AKID-test": "tencent-secret"})
    codes: dict[str, str] = field(default_factory=dict)
    error: str = ""
    sent: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def handle(self, seen: Seen) -> tuple[int, Any]:
        request_id = secrets.token_hex(8)
        problem = tc3_problem(seen, self.keys, self.now())
        if problem is not None:
            self.refused.append(problem)
            code = problem if problem.startswith("AuthFailure") else "AuthFailure.SignatureFailure"
            return 200, {"Response": {"Error": {"Code": code, "Message": problem}, "RequestId": request_id}}
        if (seen.headers.get("x-tc-action"), seen.headers.get("x-tc-version")) != ("SendSms", "2021-01-11"):
            return 200, {"Response": {"Error": {"Code": "InvalidAction", "Message": "?"}, "RequestId": request_id}}
        if self.error:
            return 200, {"Response": {"Error": {"Code": self.error, "Message": self.error}, "RequestId": request_id}}
        body = seen.json()
        [phone] = body["PhoneNumberSet"]
        code = self.codes.get(phone, "Ok")
        if code == "Ok":
            self.sent.append(body)
        return 200, {"Response": {"SendStatusSet": [{
            "SerialNo": secrets.token_hex(6), "PhoneNumber": phone, "Fee": 1, "SessionContext": body["SessionContext"],
            "Code": code, "Message": "send success" if code == "Ok" else code, "IsoCode": "CN"}],
            "RequestId": request_id}}


# -- WeChat: stable_token, the classic token, subscription messages ----------------------------------


@dataclass
class WeChatToken:
    value: str
    expires: datetime


@dataclass
class FakeWeChat:
    """One app (`appid`/`secret`). Tokens from `stable_token` behave as WeChat documents: the
    current token while it has more than five minutes left (never a new one), the next one in
    its last five minutes (the old one still valid until it expires), a forced refresh ending
    the old one at once. The classic `/cgi-bin/token` ends the previous token on every call."""

    now: Now
    appid: str = "wx-app"
    secret: str = "wx-secret"
    lifetime: timedelta = timedelta(hours=2)
    valid: dict[str, datetime] = field(default_factory=dict)  # token → expiry
    current: WeChatToken | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[int] = field(default_factory=list)  # errcodes given to sends
    stable_calls: list[dict[str, Any]] = field(default_factory=list)

    def _new(self) -> WeChatToken:
        token = WeChatToken("T-" + secrets.token_hex(6), self.now() + self.lifetime)
        self.valid[token.value] = token.expires
        self.current = token
        return token

    def expire_all(self) -> None:
        """The platform's clock says every token held is past its time (42001 on use)."""
        for token in self.valid:
            self.valid[token] = self.now() - timedelta(seconds=1)
        if self.current is not None:
            self.current = WeChatToken(self.current.value, self.now() - timedelta(seconds=1))

    def handle(self, seen: Seen) -> tuple[int, Any]:
        now = self.now()
        if seen.path == "/cgi-bin/stable_token":
            body = seen.json()
            self.stable_calls.append(body)
            if (body.get("appid"), body.get("secret"), body.get("grant_type")) != (
                    self.appid, self.secret, "client_credential"):
                return 200, {"errcode": 40013, "errmsg": "invalid appid or secret"}
            if body.get("force_refresh"):
                if self.current is not None:
                    self.valid.pop(self.current.value, None)
                token = self._new()
            elif self.current is None or self.current.expires - now <= timedelta(minutes=5):
                token = self._new()  # the previous one keeps its own expiry
            else:
                token = self.current
            return 200, {"access_token": token.value, "expires_in": int((token.expires - now).total_seconds())}
        if seen.path == "/cgi-bin/token":
            if self.current is not None:
                self.valid.pop(self.current.value, None)
            token = self._new()
            return 200, {"access_token": token.value, "expires_in": int(self.lifetime.total_seconds())}
        if seen.path == "/cgi-bin/message/subscribe/send":
            token = seen.query.get("access_token", "")
            if token not in self.valid:
                self.refusals.append(40001)
                return 200, {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
            if self.valid[token] <= now:
                self.refusals.append(42001)
                return 200, {"errcode": 42001, "errmsg": "access_token expired"}
            self.sent.append(seen.json())
            return 200, {"errcode": 0, "errmsg": "ok"}
        return 404, {"errcode": -1, "errmsg": "no such path"}


# -- an SMS relay (the `http` provider) ---------------------------------------------------------------


@dataclass
class FakeSmsRelay:
    """An in-house SMS relay: records `{"to", "text", "notice_id"}`; `status` answers instead of 200."""

    api_key: str = "relay-key"
    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)

    def handle(self, seen: Seen) -> tuple[int, Any]:
        if seen.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"error": "unauthorized"}
        if self.status != 200:
            return self.status, {"error": "busy"}
        self.received.append(seen.json())
        return 200, {"id": secrets.token_hex(4)}

    def codes_for(self, phone: str) -> list[str]:
        """The codes texted to `phone` (digits of 4–8 in the text, oldest first)."""
        return [m.group(1) for r in self.received if r["to"] == phone
                for m in [re.search(r"(?<!\d)(\d{4,8})(?!\d)", r["text"])] if m]
