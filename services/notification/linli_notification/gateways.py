"""Real outbound gateways behind the `Provider` interface (standard library HTTP, run in a
thread so the event loop never blocks):

- `HttpSmsGateway`: POSTs `{"to", "text", "notice_id"}` as JSON to an SMS vendor's (or an
  in-house relay's) endpoint with a bearer key; any 2xx is accepted. The notice id goes in
  `Idempotency-Key`, so a gateway that supports it drops our retries' duplicates.
- `WeChatSubscribeGateway`: the WeChat subscription-message API (`/cgi-bin/token` for an
  access token, cached until shortly before it expires; `/cgi-bin/message/subscribe/send`
  with a template id). A non-zero `errcode` is a failure; an expired token is dropped so the
  next attempt fetches a new one.

Configured by `LINLI_SMS_GATEWAYS` / `LINLI_WECHAT_*` (see settings); the order of SMS
gateways is the failover order.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from linli_notification.providers import OutboundMessage, ProviderError

WECHAT_API = "https://api.weixin.qq.com"
EXPIRED_TOKEN_CODES = {40001, 40014, 42001}


def _http(method: str, url: str, body: dict[str, Any] | None, headers: dict[str, str], timeout: float) -> Any:
    data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json; charset=utf-8", **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raise ProviderError(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ProviderError(f"unreachable: {exc}") from None
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        raise ProviderError("answered with something that is not JSON") from None


class HttpSmsGateway:
    def __init__(self, name: str, url: str, api_key: str = "", timeout: float = 5.0) -> None:
        self.name = name
        self.url = url
        self.api_key = api_key
        self.timeout = timeout

    async def send(self, message: OutboundMessage) -> None:
        headers = {"Idempotency-Key": message.notice_id}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        text = f"【邻里】{message.title}：{message.body}"
        await asyncio.to_thread(_http, "POST", self.url, {"to": message.address, "text": text,
                                                          "notice_id": message.notice_id}, headers, self.timeout)


class WeChatSubscribeGateway:
    def __init__(self, app_id: str, secret: str, template_id: str, *, base_url: str = WECHAT_API,
                 title_key: str = "thing1", body_key: str = "thing2", timeout: float = 5.0,
                 name: str = "wechat-subscribe") -> None:
        self.name = name
        self.app_id = app_id
        self.secret = secret
        self.template_id = template_id
        self.base_url = base_url.rstrip("/")
        self.title_key = title_key
        self.body_key = body_key
        self.timeout = timeout
        self._token: tuple[str, float] | None = None
        self._lock = asyncio.Lock()

    async def _access_token(self) -> str:
        async with self._lock:
            if self._token and self._token[1] > time.monotonic():
                return self._token[0]
            query = urllib.parse.urlencode({"grant_type": "client_credential", "appid": self.app_id,
                                            "secret": self.secret})
            answer = await asyncio.to_thread(_http, "GET", f"{self.base_url}/cgi-bin/token?{query}", None, {},
                                             self.timeout)
            token = answer.get("access_token")
            if not token:
                raise ProviderError(f"no access token: errcode {answer.get('errcode')} {answer.get('errmsg', '')}")
            # Refresh five minutes early: a token that dies mid-send costs a failed attempt.
            self._token = (token, time.monotonic() + max(60, int(answer.get("expires_in", 7200)) - 300))
            return str(token)

    async def send(self, message: OutboundMessage) -> None:
        token = await self._access_token()
        body = {
            "touser": message.address,
            "template_id": self.template_id,
            # Subscription-message "thing" fields hold at most 20 characters.
            "data": {self.title_key: {"value": message.title[:20]}, self.body_key: {"value": message.body[:20]}},
        }
        url = f"{self.base_url}/cgi-bin/message/subscribe/send?access_token={urllib.parse.quote(token)}"
        answer = await asyncio.to_thread(_http, "POST", url, body, {}, self.timeout)
        code = int(answer.get("errcode", 0))
        if code in EXPIRED_TOKEN_CODES:
            self._token = None
        if code != 0:
            raise ProviderError(f"errcode {code}: {answer.get('errmsg', '')}")
