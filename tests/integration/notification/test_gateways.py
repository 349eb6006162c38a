"""The HTTP gateways against local stand-ins of an SMS vendor and the WeChat API (the only
parts outside the platform), over real loopback HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from linli_notification.gateways import HttpSmsGateway, WeChatSubscribeGateway
from linli_notification.providers import OutboundMessage, ProviderError, send_with_failover


class FakeApi:
    """Records requests; `answers` maps a path to a list of (status, json) popped per call
    (the last one repeats)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any], dict[str, str]]] = []
        self.answers: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else {}
                path = self.path.split("?")[0]
                fake.requests.append((self.command, self.path, body, dict(self.headers)))
                queue = fake.answers.get(path, [(404, {})])
                status, payload = queue.pop(0) if len(queue) > 1 else queue[0]
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


MSG = OutboundMessage("n-1", "volunteer-007", "sms", "13800000000", "积分兑换成功：体检套餐 ×1",
                      "您在锦城逸景社区卫生服务中心兑换了体检套餐 ×1，使用300积分。")


async def test_sms_gateway_down_fails_over_to_the_next(api: FakeApi) -> None:
    api.answers = {"/down": [(503, {})], "/up": [(200, {"id": "m-1"})]}
    gateways = [HttpSmsGateway("sms-1", f"{api.url}/down", "k1"), HttpSmsGateway("sms-2", f"{api.url}/up", "k2")]
    result = await send_with_failover(gateways, MSG)
    assert result.provider == "sms-2" and result.errors == ("sms-1: HTTP 503",)
    method, _path, body, headers = api.requests[-1]
    assert method == "POST" and body["to"] == "13800000000" and body["text"].startswith("【邻里】积分兑换成功")
    assert headers["Idempotency-Key"] == "n-1" and headers["Authorization"] == "Bearer k2"
    with pytest.raises(ProviderError, match="unreachable"):
        await HttpSmsGateway("sms-x", "http://127.0.0.1:9/nothing", timeout=1).send(MSG)


async def test_wechat_gateway_fetches_caches_and_renews_the_access_token(api: FakeApi) -> None:
    api.answers = {
        "/cgi-bin/token": [(200, {"access_token": "T1", "expires_in": 7200}),
                           (200, {"access_token": "T2", "expires_in": 7200})],
        "/cgi-bin/message/subscribe/send": [(200, {"errcode": 0}), (200, {"errcode": 42001, "errmsg": "expired"}),
                                            (200, {"errcode": 0})],
    }
    wechat = WeChatSubscribeGateway("wx-app", "s3cret", "tmpl-1", base_url=api.url)
    message = OutboundMessage("n-2", "worker-zhao", "wechat", "openid-zhao", "【升级】新的求助：送餐（紧急）",
                              "万阿姨：生病卧床，无法出门买饭。联系方式：138-0000-0000。请尽快确认。")
    await wechat.send(message)
    with pytest.raises(ProviderError, match="42001"):
        await wechat.send(message)
    await wechat.send(message)
    paths = [p.split("?")[0] for _, p, _, _ in api.requests]
    assert paths == ["/cgi-bin/token", "/cgi-bin/message/subscribe/send", "/cgi-bin/message/subscribe/send",
                     "/cgi-bin/token", "/cgi-bin/message/subscribe/send"], "token cached, renewed after expiry"
    assert "access_token=T2" in api.requests[-1][1]
    sent = api.requests[1][2]
    assert sent["touser"] == "openid-zhao" and sent["template_id"] == "tmpl-1"
    assert len(sent["data"]["thing2"]["value"]) == 20, "subscription-message fields hold 20 characters"
