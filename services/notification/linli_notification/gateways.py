"""HTTP gateways behind the `Provider` interface (async `httpx`, see `http_gateway`):

- `HttpSmsGateway`: POSTs `{"to", "text", "notice_id"}` as JSON to an SMS relay's endpoint (an
  in-house gateway, or a vendor's simple HTTP API) with a bearer key; any 2xx is accepted, 429
  is throttling (its `Retry-After` honoured). The notice id goes in `Idempotency-Key`, so a
  gateway that supports it drops our retries' duplicates. (Aliyun and Tencent Cloud SMS have
  adapters of their own: `linli_notification.sms`.)
- `WeChatSubscribeGateway`: WeChat subscription messages
  (`/cgi-bin/message/subscribe/send` with a template id), see below for its access token.

Configured by `LINLI_SMS_*` / `LINLI_WECHAT_*` (see settings); the order of SMS providers is the
failover order.

## One WeChat access token for every replica

The classic `/cgi-bin/token` hands out a new token on each call and thereby ends the previous
one: with several replicas each fetching its own, every fetch breaks the others' sends (errcode
40001) until they fetch again — and break the first. The usual fixes are one holder (a table
row with a lease that one replica refreshes and the others read) or WeChat's `stable_token`
endpoint. We use `stable_token` (POST `/cgi-bin/stable_token`, `force_refresh: false`): in
this mode the platform returns the account's *current* token while it is valid, so every
replica that asks gets the same one and asking never ends anyone's; in its last five minutes
the platform hands out the next one, and keeps the old one valid for those five minutes. That
makes the platform itself the one holder — no table, no lease, no replica that must be up
for the others to send, and nothing to go wrong when a replica dies holding a lease.

Each replica caches the token until shortly before the `expires_in` it was given (which
counts down from the platform's expiry, at least 300 s). A send answered with 40001/40014/
42001 (token invalid or expired — the clocks disagreed, or someone force-refreshed) drops the
cached token, asks `stable_token` again once, and sends once more; a second refusal is an
ordinary failure. `force_refresh: true` is never used: it ends the token every replica holds
(WeChat keeps it for leaked tokens, 20 times a day).
"""

from __future__ import annotations

import asyncio
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from linli_notification.http_gateway import DEFAULT_MAX_CONNECTIONS, DEFAULT_TIMEOUT, HttpGateway
from linli_notification.providers import OutboundMessage, ProviderError, RecipientRejected, Throttled
from linli_runtime.clock import Clock, SystemClock

WECHAT_API = "https://api.weixin.qq.com"
# The access token is invalid (40001, 40014) or expired (42001): fetch the current one and retry once.
TOKEN_CODES = frozenset({40001, 40014, 42001})
# The API's rate limits (45009: daily quota, 45011: too frequent).
THROTTLED_CODES = frozenset({45009, 45011})
# The openid is not this app's (40003), or the person has not subscribed to this template (43101).
REJECTED_CODES = frozenset({40003, 43101})
# Ask for a new token this long before the one held expires (WeChat's tokens live ≥ 300 s).
TOKEN_MARGIN = timedelta(seconds=60)


def retry_after(response: httpx.Response) -> timedelta | None:
    value = response.headers.get("Retry-After", "")
    return timedelta(seconds=int(value)) if value.isdigit() else None


class HttpSmsGateway(HttpGateway):
    def __init__(self, name: str, url: str, api_key: str = "", *, timeout: float = DEFAULT_TIMEOUT,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS, ca_file: str = "") -> None:
        super().__init__(name, timeout=timeout, max_connections=max_connections, ca_file=ca_file)
        self.url = url
        self.api_key = api_key

    async def send(self, message: OutboundMessage) -> None:
        headers = {"Idempotency-Key": message.notice_id}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        text = f"【邻里】{message.title}：{message.body}"
        response = await self._request("POST", self.url, headers=headers,
                                       json={"to": message.address, "text": text, "notice_id": message.notice_id})
        if response.status_code == 429:
            raise Throttled("HTTP 429", retry_after(response))
        if not response.is_success:
            raise ProviderError(f"HTTP {response.status_code}")


@dataclass(frozen=True)
class AccessToken:
    value: str
    renew_at: datetime


class WeChatSubscribeGateway(HttpGateway):
    def __init__(self, app_id: str, secret: str, template_id: str, *, base_url: str = WECHAT_API,
                 title_key: str = "thing1", body_key: str = "thing2", timeout: float = DEFAULT_TIMEOUT,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS, name: str = "wechat-subscribe",
                 clock: Clock | None = None, ca_file: str = "") -> None:
        super().__init__(name, timeout=timeout, max_connections=max_connections, ca_file=ca_file)
        self.app_id = app_id
        self.secret = secret
        self.template_id = template_id
        self.base_url = base_url.rstrip("/")
        self.title_key = title_key
        self.body_key = body_key
        self.clock = clock or SystemClock()
        self._token: AccessToken | None = None
        self._lock = asyncio.Lock()
        self.token_fetches = 0  # how often this replica asked for a token (tests watch the cache)

    async def access_token(self, *, refused: str | None = None) -> str:
        """The cached token, or the platform's current one. `refused`: a token a send was just
        refused with — fetch again unless another send already replaced it."""
        async with self._lock:
            held = self._token
            if held is not None and held.value != refused and self.clock.now() < held.renew_at:
                return held.value
            self._token = None
            answer = self._json(await self._request("POST", f"{self.base_url}/cgi-bin/stable_token", json={
                "grant_type": "client_credential", "appid": self.app_id, "secret": self.secret,
                "force_refresh": False}))
            self.token_fetches += 1
            token, lifetime = answer.get("access_token"), answer.get("expires_in")
            if not isinstance(token, str) or not token or not isinstance(lifetime, int) or lifetime <= 0:
                code = int(answer.get("errcode", 0) or 0)
                problem = f"no access token: errcode {code} {answer.get('errmsg', '')}".strip()
                raise Throttled(problem) if code in THROTTLED_CODES else ProviderError(problem)
            # Cached until shortly before it expires (half its life when that is short): a token
            # that dies mid-send costs an attempt.
            margin = min(TOKEN_MARGIN, timedelta(seconds=lifetime / 2))
            self._token = AccessToken(token, self.clock.now() + timedelta(seconds=lifetime) - margin)
            return token

    async def _send_with(self, token: str, body: dict[str, Any]) -> tuple[int, Any]:
        url = f"{self.base_url}/cgi-bin/message/subscribe/send?access_token={urllib.parse.quote(token)}"
        response = await self._request("POST", url, json=body)
        if not response.is_success:
            raise ProviderError(f"HTTP {response.status_code}")
        answer = self._json(response)
        return int(answer.get("errcode", 0) or 0), answer

    async def send(self, message: OutboundMessage) -> None:
        body = {
            "touser": message.address,
            "template_id": self.template_id,
            # Subscription-message "thing" fields hold at most 20 characters.
            "data": {self.title_key: {"value": message.title[:20]}, self.body_key: {"value": message.body[:20]}},
        }
        token = await self.access_token()
        code, answer = await self._send_with(token, body)
        if code in TOKEN_CODES:  # once: the platform's current token, then one more try
            code, answer = await self._send_with(await self.access_token(refused=token), body)
        if code == 0:
            return
        problem = f"errcode {code}: {answer.get('errmsg', '')}"
        if code in REJECTED_CODES:
            raise RecipientRejected(problem)
        if code in THROTTLED_CODES:
            raise Throttled(problem)
        raise ProviderError(problem)
