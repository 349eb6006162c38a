"""Which providers each channel gets from the settings: the local file with none configured
(`make run`), the vendors in the order asked, and a refusal naming what is missing when a
provider is named but not configured, or configured by halves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from linli_notification.channels import ProviderSettingsError, configured_providers
from linli_notification.gateways import HttpSmsGateway, WeChatSubscribeGateway
from linli_notification.providers import FileProvider
from linli_notification.settings import NotificationSettings
from linli_notification.sms.aliyun import AliyunSms
from linli_notification.sms.tencent import TencentSms

from linli_runtime.clock import ManualClock

ALIYUN = dict(aliyun_access_key_id="LTAI", aliyun_access_key_secret="s", aliyun_sms_sign_name="邻里社区",
              aliyun_sms_templates="one_time_code=SMS_1, *=SMS_2")
TENCENT = dict(tencent_secret_id="AKID", tencent_secret_key="k", tencent_sms_app_id="1400000001",
               tencent_sms_sign_name="邻里社区", tencent_sms_templates="*=2000002")


@pytest.fixture(autouse=True)
def _no_vendor_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "TENCENTCLOUD_SECRET_ID",
                 "TENCENTCLOUD_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    yield


def providers(tmp_path: Path, **values: Any) -> dict[str, list[Any]]:
    settings = NotificationSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'n.db'}", **values)
    return configured_providers(settings, ManualClock())


def test_with_nothing_configured_every_channel_writes_the_local_file(tmp_path: Path) -> None:
    table = providers(tmp_path)
    [sms], [wechat] = table["sms"], table["wechat"]
    assert isinstance(sms, FileProvider) and sms is wechat
    assert sms.path == tmp_path / "notification-deliveries.jsonl"


def test_every_configured_vendor_in_the_default_order_or_the_order_asked(tmp_path: Path) -> None:
    everything = {**ALIYUN, **TENCENT, "sms_gateways": "https://relay-1/sms, https://relay-2/sms"}
    assert [p.name for p in providers(tmp_path, **everything)["sms"]] == [
        "aliyun-sms", "tencent-sms", "sms-1", "sms-2"]
    chosen = providers(tmp_path, sms_providers="tencent, http", **everything)["sms"]
    assert [type(p) for p in chosen] == [TencentSms, HttpSmsGateway, HttpSmsGateway]
    [aliyun] = providers(tmp_path, **ALIYUN)["sms"]
    assert isinstance(aliyun, AliyunSms) and aliyun.templates.codes == {"one_time_code": "SMS_1", "*": "SMS_2"}
    [wechat] = providers(tmp_path, wechat_app_id="wx", wechat_secret="s", wechat_template_id="t")["wechat"]
    assert isinstance(wechat, WeChatSubscribeGateway)


@pytest.mark.parametrize("values,problem", [
    ({"aliyun_access_key_id": "LTAI"}, "Aliyun SMS is half configured: set LINLI_ALIYUN_ACCESS_KEY_SECRET, "
                                       "LINLI_ALIYUN_SMS_SIGN_NAME, LINLI_ALIYUN_SMS_TEMPLATES"),
    ({**TENCENT, "tencent_sms_app_id": ""}, "Tencent Cloud SMS is half configured: set LINLI_TENCENT_SMS_APP_ID"),
    ({**ALIYUN, "aliyun_sms_templates": "SMS_1"}, "LINLI_ALIYUN_SMS_TEMPLATES: 'SMS_1' is not kind=template"),
    ({"sms_providers": "aliyun"}, "LINLI_SMS_PROVIDERS names aliyun, which is not configured"),
    ({"sms_providers": "twilio"}, "LINLI_SMS_PROVIDERS names twilio: use aliyun, tencent, http"),
    ({"wechat_app_id": "wx"}, "set LINLI_WECHAT_SECRET, LINLI_WECHAT_TEMPLATE_ID"),
])
def test_a_provider_named_or_half_configured_stops_the_start(tmp_path: Path, values: dict[str, Any],
                                                             problem: str) -> None:
    with pytest.raises(ProviderSettingsError) as refused:
        providers(tmp_path, **values)
    assert problem in str(refused.value)
