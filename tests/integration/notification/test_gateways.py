"""The HTTP SMS relay gateway and the WeChat subscription-message gateway against local
stand-ins (real HTTP on loopback, the gateways' real `httpx` clients), the WeChat one with two
"replicas" — two gateway instances — sharing the platform's one access token."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from linli_notification.gateways import HttpSmsGateway, WeChatSubscribeGateway
from linli_notification.providers import (
    OutboundMessage,
    ProviderError,
    RecipientRejected,
    Throttled,
    send_with_failover,
)

from linli_runtime.clock import ManualClock
from tests.integration.notification.fakes import FakeSmsRelay, FakeWeChat, Loopback, Seen, self_signed, serving

MSG = OutboundMessage("n-1", "volunteer-007", "sms", "13800000000", "积分兑换成功：体检套餐 ×1",
                      "您在锦城逸景社区卫生服务中心兑换了体检套餐 ×1，使用300积分。")
WX = OutboundMessage("n-2", "worker-zhao", "wechat", "openid-zhao", "【升级】新的求助：送餐（紧急）",
                     "万阿姨：生病卧床，无法出门买饭。联系方式：138-0000-0000。请尽快确认。")
T0 = datetime(2026, 11, 7, 3, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def wechat(clock: ManualClock) -> Iterator[tuple[FakeWeChat, Loopback]]:
    fake = FakeWeChat(clock.now)
    server = Loopback(fake.handle)
    yield fake, server
    server.close()


def replica(server: Loopback, clock: ManualClock) -> WeChatSubscribeGateway:
    return WeChatSubscribeGateway("wx-app", "wx-secret", "tmpl-1", base_url=server.url, clock=clock)


async def test_sms_relay_down_fails_over_to_the_next_and_429_is_throttling() -> None:
    up, down = FakeSmsRelay(api_key="k2"), FakeSmsRelay(api_key="k1", status=503)
    with serving(down.handle) as down_server, serving(up.handle) as up_server:
        gateways = [HttpSmsGateway("sms-1", down_server.url, "k1"), HttpSmsGateway("sms-2", up_server.url, "k2")]
        result = await send_with_failover(gateways, MSG)
        assert result.provider == "sms-2" and result.errors == ("sms-1: HTTP 503",)
        [sent] = up.received
        assert sent["to"] == "13800000000" and sent["text"].startswith("【邻里】积分兑换成功")
        assert up_server.seen[-1].headers["idempotency-key"] == "n-1"

        down.status = 429
        with pytest.raises(Throttled, match="HTTP 429"):
            await gateways[0].send(MSG)
        for gateway in gateways:
            await gateway.aclose()
    unreachable = HttpSmsGateway("sms-x", "http://127.0.0.1:9/nothing", timeout=1)
    with pytest.raises(ProviderError, match="unreachable"):
        await unreachable.send(MSG)
    await unreachable.aclose()


async def test_a_relay_behind_a_private_ca_is_trusted_only_through_its_ca_file(tmp_path: Path) -> None:
    ca_file, tls = self_signed(tmp_path)
    relay = FakeSmsRelay(api_key="k")
    with serving(relay.handle, tls=tls) as server, warnings.catch_warnings():
        # httpx deprecates a CA path in `verify=`: the gateway must hand it an SSLContext.
        warnings.simplefilter("error", DeprecationWarning)
        trusting = HttpSmsGateway("sms-1", server.url, "k", ca_file=str(ca_file))
        await trusting.send(MSG)
        await trusting.aclose()
        strangers = HttpSmsGateway("sms-2", server.url, "k")  # the public CAs only
        with pytest.raises(ProviderError, match="CERTIFICATE_VERIFY_FAILED"):
            await strangers.send(MSG)
        await strangers.aclose()
    assert server.url.startswith("https://") and len(relay.received) == 1


async def test_two_replicas_share_one_token_and_neither_ends_the_others(
        wechat: tuple[FakeWeChat, Loopback], clock: ManualClock) -> None:
    fake, server = wechat
    a, b = replica(server, clock), replica(server, clock)
    for _ in range(3):
        await a.send(WX)
        await b.send(WX)
        clock.advance(minutes=10)
    assert fake.refusals == [] and len(fake.sent) == 6
    assert a.token_fetches == b.token_fetches == 1, "each replica asked once and cached the token"
    assert [c["force_refresh"] for c in fake.stable_calls] == [False, False], "never a forced refresh"
    assert len(fake.valid) == 1, "both replicas hold the platform's one token"
    # The third replica starting in the token's last five minutes gets the next token; the first
    # two keep sending with theirs until they renew — nobody's token was ended.
    clock.set(T0 + timedelta(hours=2) - timedelta(minutes=4))
    c = replica(server, clock)
    await c.send(WX)
    await a.send(WX)
    await b.send(WX)
    assert fake.refusals == [] and len(fake.valid) == 2
    assert (await a.access_token()) != (await c.access_token()), "a and c each send with a valid token"
    # Shortly before their token expires, a and b renew by themselves and get c's.
    clock.set(T0 + timedelta(hours=2) - timedelta(seconds=30))
    await a.send(WX)
    await b.send(WX)
    assert fake.refusals == [] and (await a.access_token()) == (await b.access_token()) == (await c.access_token())
    for gateway in (a, b, c):
        await gateway.aclose()


async def test_the_classic_token_endpoint_would_break_the_other_replica(
        wechat: tuple[FakeWeChat, Loopback], clock: ManualClock) -> None:
    """Why stable_token: the stand-in ends a token when a new one is fetched the classic way,
    as WeChat does — the fake can tell, so the test above could fail."""
    fake, server = wechat
    a = replica(server, clock)
    await a.send(WX)
    fake.handle(Seen("GET", "/cgi-bin/token", {}, {}, b""))  # another replica, the old way
    fake.handle(Seen("POST", "/cgi-bin/stable_token", {}, {}, b'{"grant_type": "client_credential", '
                     b'"appid": "wx-app", "secret": "wx-secret", "force_refresh": true}'))
    await a.send(WX)  # refused with 40001, refreshed once, sent
    assert fake.refusals == [40001] and len(fake.sent) == 2 and a.token_fetches == 2
    await a.aclose()


async def test_an_expired_token_is_refreshed_once_and_the_message_sent(
        wechat: tuple[FakeWeChat, Loopback], clock: ManualClock) -> None:
    fake, server = wechat
    a, b = replica(server, clock), replica(server, clock)
    await a.send(WX)
    await b.send(WX)
    fake.expire_all()  # the platform's clock runs ahead of ours
    await a.send(WX)
    await b.send(WX)
    assert fake.refusals == [42001, 42001] and len(fake.sent) == 4
    assert a.token_fetches == b.token_fetches == 2
    assert (await a.access_token()) == (await b.access_token()), "both refreshed to the platform's new token"
    await a.aclose()
    await b.aclose()


async def test_a_token_refused_twice_fails_the_attempt_without_looping(
        wechat: tuple[FakeWeChat, Loopback], clock: ManualClock) -> None:
    fake, _ = wechat
    original = fake.handle

    def refuse_sends(seen: Seen) -> tuple[int, Any]:
        if seen.path.endswith("/subscribe/send"):
            return 200, {"errcode": 40001, "errmsg": "invalid credential"}
        return original(seen)

    server_refusing = Loopback(refuse_sends)
    a = replica(server_refusing, clock)
    with pytest.raises(ProviderError, match="errcode 40001"):
        await a.send(WX)
    sends = [s for s in server_refusing.seen if s.path.endswith("/subscribe/send")]
    assert len(sends) == 2 and a.token_fetches == 2, "one refresh, one more try, then an ordinary failure"
    await a.aclose()
    server_refusing.close()


async def test_wechat_answers_map_to_what_happens_next(wechat: tuple[FakeWeChat, Loopback],
                                                       clock: ManualClock) -> None:
    fake, _ = wechat
    answers = iter([43101, 45009, 40037])
    original = fake.handle

    def handle(seen: Seen) -> tuple[int, Any]:
        if seen.path.endswith("/subscribe/send"):
            return 200, {"errcode": next(answers), "errmsg": "no"}
        return original(seen)

    other = Loopback(handle)
    a = replica(other, clock)
    with pytest.raises(RecipientRejected, match="43101"):
        await a.send(WX)
    with pytest.raises(Throttled, match="45009"):
        await a.send(WX)
    with pytest.raises(ProviderError, match="40037") as raised:
        await a.send(WX)
    assert type(raised.value) is ProviderError
    body = other.seen[1].json()
    assert body["touser"] == "openid-zhao" and body["template_id"] == "tmpl-1"
    assert len(body["data"]["thing2"]["value"]) == 20, "subscription-message fields hold 20 characters"
    await a.aclose()
    other.close()


async def test_a_wrong_app_secret_is_a_provider_error(wechat: tuple[FakeWeChat, Loopback], clock: ManualClock) -> None:
    _fake, server = wechat
    wrong = WeChatSubscribeGateway("wx-app", "not-it", "tmpl-1", base_url=server.url, clock=clock)
    with pytest.raises(ProviderError, match="errcode 40013"):
        await wrong.send(WX)
    await wrong.aclose()
