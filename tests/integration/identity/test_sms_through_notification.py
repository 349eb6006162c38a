"""Sign-in by phone with LINLI_SMS_SENDER=notification: identity asks the notification service
over gRPC (its own service token, client svc-identity) and notification texts the code through
the Aliyun adapter to the stand-in Aliyun API. Both services run for real on loopback, each on
its own database; identity never imports notification. When notification cannot send, the
sign-in page says why with the right status."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from linli_identity.app import IdentityApp, create_app
from linli_identity.notification_client import NotificationSmsSender
from linli_notification.app import NotificationApp
from linli_notification.settings import NotificationSettings
from linli_notification.sms.aliyun import AliyunSms
from linli_notification.sms.templates import VendorTemplates
from linli_notification.tables import one_time_code

from linli_runtime.clock import ManualClock
from linli_runtime.processes import NatsServer, free_port
from tests.integration.notification.fakes import FakeAliyunSms, Loopback

from .browser import hidden_fields
from .conftest import SERVICES, settings_for


@dataclass
class Platform:
    identity: IdentityApp
    notification: NotificationApp
    vendor: FakeAliyunSms
    browser: httpx.AsyncClient

    async def ask_for_a_code(self, phone: str) -> httpx.Response:
        page = await self.browser.get("/signin")
        return await self.browser.post("/signin", data={**hidden_fields(page.text), "phone": phone})

    def codes_for(self, number: str) -> list[str]:
        return [json.loads(r["TemplateParam"])["code"] for r in self.vendor.sent if r["PhoneNumbers"] == number]


@pytest.fixture
async def platform(nats_server: NatsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                   ) -> AsyncIterator[Platform]:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    vendor = FakeAliyunSms(clock.now)
    vendor_api = Loopback(vendor.handle)
    aliyun = AliyunSms(access_key_id="LTAI-test", access_key_secret="aliyun-secret", sign_name="邻里社区",
                       templates=VendorTemplates({"one_time_code": "SMS_100001"}), endpoint=vendor_api.url, clock=clock)
    # identity first (it calls notification only when a code is asked for, at this port);
    # notification then trusts identity's real issuer, its keys fetched over HTTP (JWKS).
    notification_port = free_port()
    monkeypatch.setenv("NOTIFICATION_SERVICE_ADDR", f"127.0.0.1:{notification_port}")
    identity = create_app(settings_for(f"sqlite+aiosqlite:///{tmp_path / 'identity.db'}", nats_server.url, tmp_path,
                                       sms_sender="notification"),
                          clock=clock, services=SERVICES)
    assert isinstance(identity.sms.sender, NotificationSmsSender), "the settings chose notification"
    await identity.start()
    notification = NotificationApp(NotificationSettings(
        port=notification_port, database_url=f"sqlite+aiosqlite:///{tmp_path / 'notification.db'}",
        nats_url=nats_server.url, sweep_interval_seconds=0, issuer_url=identity.issuer_url),
        clock=clock, providers={"sms": [aliyun], "wechat": []})
    try:
        await notification.start()
        async with httpx.AsyncClient(base_url=identity.issuer_url, timeout=20, follow_redirects=False) as browser:
            yield Platform(identity, notification, vendor, browser)
    finally:
        await identity.stop(grace=1)
        await notification.stop(grace=1)
        vendor_api.close()


async def test_a_person_signs_in_with_the_code_notification_texted(platform: Platform) -> None:
    sent = await platform.ask_for_a_code("136-0000-0011")
    assert sent.status_code == 200, sent.text
    [code] = platform.codes_for("13600000011")
    assert len(code) == 6 and platform.vendor.refused == []
    fields = hidden_fields(sent.text)
    done = await platform.browser.post("/signin/code", data={**fields, "code": code})
    assert done.status_code == 303 and done.headers["location"] == "/"
    async with platform.notification.db.engine.connect() as conn:
        [record] = (await conn.execute(one_time_code.select())).all()
    assert (record.requested_by, record.client_id, record.request_id, record.state) == (
        "identity", "svc-identity", fields["challenge"], "sent"), "identity's challenge is the request id"


async def test_when_notification_cannot_send_the_page_says_why(platform: Platform) -> None:
    platform.vendor.codes["13600000012"] = "isv.MOBILE_NUMBER_ILLEGAL"
    refused = await platform.ask_for_a_code("13600000012")
    assert refused.status_code == 400 and "无法向该号码发送短信" in refused.text

    platform.vendor.codes["13600000013"] = "isv.BUSINESS_LIMIT_CONTROL"
    busy = await platform.ask_for_a_code("13600000013")
    assert busy.status_code == 429 and "请求过于频繁" in busy.text and busy.headers["retry-after"].isdigit()

    platform.vendor.codes["13600000014"] = "isv.AMOUNT_NOT_ENOUGH"
    broke = await platform.ask_for_a_code("13600000014")
    assert broke.status_code == 503 and "短信暂时无法发送" in broke.text

    await platform.notification.stop(grace=0)
    down = await platform.ask_for_a_code("13600000015")
    assert down.status_code == 503 and "短信暂时无法发送" in down.text
    assert platform.vendor.sent == []
