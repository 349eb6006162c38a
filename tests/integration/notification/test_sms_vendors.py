"""The Aliyun and Tencent Cloud SMS adapters against local stand-ins of the vendors' APIs that
verify every request's signature with the vendors' published algorithms, written independently
in `fakes.py` (real HTTP on loopback, the adapters' real `httpx` clients)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from linli_notification.providers import (
    ONE_TIME_CODE,
    OutboundMessage,
    ProviderError,
    RecipientRejected,
    Throttled,
    send_with_failover,
)
from linli_notification.sms.aliyun import AliyunSms
from linli_notification.sms.templates import VendorTemplates
from linli_notification.sms.tencent import TencentSms

from linli_runtime.clock import ManualClock
from tests.integration.notification.fakes import FakeAliyunSms, FakeTencentSms, Loopback, serving

NOW = datetime(2026, 11, 7, 3, 0, tzinfo=UTC)
CODE = OutboundMessage("otc-1", "+86 138****0000", "sms", "+8613800000000", "邻里登录验证码",
                       "您的登录验证码是 482913，5 分钟内有效。", kind=ONE_TIME_CODE,
                       params={"code": "482913", "minutes": "5"})
NOTICE = OutboundMessage("n-7", "volunteer-007", "sms", "138-0000-0000", "积分兑换成功：体检套餐 ×1",
                         "您在锦城逸景社区卫生服务中心兑换了体检套餐 ×1，使用300积分，余额980积分。"
                         "欢迎继续参加志愿服务。",
                         kind="redemption.committed")
ALIYUN_TEMPLATES = {"one_time_code": "SMS_100001", "*": "SMS_100002"}
TENCENT_TEMPLATES = {"one_time_code": "2000001", "*": "2000002"}


@dataclass
class Vendors:
    clock: ManualClock
    aliyun_api: FakeAliyunSms
    tencent_api: FakeTencentSms
    aliyun_server: Loopback
    tencent_server: Loopback

    def aliyun(self, secret: str = "aliyun-secret", **kwargs: Any) -> AliyunSms:
        return AliyunSms(access_key_id="LTAI-test", access_key_secret=secret, sign_name="邻里社区",
                         templates=VendorTemplates(ALIYUN_TEMPLATES), endpoint=self.aliyun_server.url,
                         clock=self.clock, **kwargs)

    def tencent(self, secret: str = "tencent-secret") -> TencentSms:
        return TencentSms(secret_id="AKID-test", secret_key=secret, sdk_app_id="1400000001", sign_name="邻里社区",
                          templates=VendorTemplates(TENCENT_TEMPLATES), endpoint=self.tencent_server.url,
                          clock=self.clock)


@pytest.fixture
def vendors() -> Iterator[Vendors]:
    clock = ManualClock(NOW)
    aliyun, tencent = FakeAliyunSms(clock.now), FakeTencentSms(clock.now)
    with serving(aliyun.handle) as a, serving(tencent.handle) as t:
        yield Vendors(clock, aliyun, tencent, a, t)


async def test_aliyun_sends_a_code_with_a_signature_the_vendor_verifies(vendors: Vendors) -> None:
    aliyun = vendors.aliyun()
    await aliyun.send(CODE)
    vendors.clock.advance(seconds=1)
    await aliyun.send(NOTICE)
    await aliyun.aclose()
    assert vendors.aliyun_api.refused == []
    first, second = vendors.aliyun_api.sent
    assert first == {"PhoneNumbers": "13800000000", "SignName": "邻里社区", "TemplateCode": "SMS_100001",
                     "TemplateParam": '{"code":"482913","minutes":"5"}', "OutId": "otc-1"}
    assert second["TemplateCode"] == "SMS_100002", "a notice kind without its own template uses '*'"
    params = json.loads(second["TemplateParam"])
    assert params["title"] == NOTICE.title and len(params["body"]) == 35 and params["body"].endswith("…"), \
        "values are cut to the vendor's 35 characters"
    assert len(vendors.aliyun_api.nonces) == 2, "a fresh nonce per request"


async def test_tencent_sends_a_code_with_a_signature_the_vendor_verifies(vendors: Vendors) -> None:
    tencent = vendors.tencent()
    await tencent.send(CODE)
    await tencent.send(NOTICE)
    await tencent.aclose()
    assert vendors.tencent_api.refused == []
    first, second = vendors.tencent_api.sent
    assert first == {"PhoneNumberSet": ["+8613800000000"], "SmsSdkAppId": "1400000001", "SignName": "邻里社区",
                     "TemplateId": "2000001", "TemplateParamSet": ["482913", "5"], "SessionContext": "otc-1"}
    assert second["TemplateId"] == "2000002" and second["PhoneNumberSet"] == ["+8613800000000"]
    assert second["TemplateParamSet"][0] == NOTICE.title


async def test_a_wrong_secret_is_refused_by_the_vendor_and_fails_over(vendors: Vendors) -> None:
    """The stand-ins really check signatures: a wrong secret fails, and the next provider sends."""
    wrong_aliyun, wrong_tencent, tencent = vendors.aliyun(secret="not-it"), vendors.tencent(secret="not-it"), \
        vendors.tencent()
    result = await send_with_failover([wrong_aliyun, wrong_tencent, tencent], CODE)
    assert result.provider == "tencent-sms"
    assert result.errors[0].startswith("aliyun-sms: SignatureDoesNotMatch")
    assert result.errors[1].startswith("tencent-sms: AuthFailure.SignatureFailure")
    assert vendors.aliyun_api.refused == ["the signature does not match"]
    assert len(vendors.tencent_api.sent) == 1
    for provider in (wrong_aliyun, wrong_tencent, tencent):
        await provider.aclose()


async def test_a_request_signed_too_long_ago_is_refused(vendors: Vendors) -> None:
    aliyun = vendors.aliyun()
    vendors.aliyun_api.now = lambda: vendors.clock.now().replace(hour=5)  # the vendor's clock runs 2 h ahead
    with pytest.raises(ProviderError, match="more than 15 minutes"):
        await aliyun.send(CODE)
    await aliyun.aclose()


async def test_a_reused_nonce_is_refused(vendors: Vendors) -> None:
    aliyun = vendors.aliyun(nonce=lambda: "always-the-same")
    await aliyun.send(CODE)
    with pytest.raises(ProviderError, match="nonce was used before"):
        await aliyun.send(CODE)
    await aliyun.aclose()


@pytest.mark.parametrize("vendor,code,error", [
    ("aliyun", "isv.BUSINESS_LIMIT_CONTROL", Throttled),
    ("aliyun", "Throttling.User", Throttled),
    ("aliyun", "isv.MOBILE_NUMBER_ILLEGAL", RecipientRejected),
    ("aliyun", "isv.AMOUNT_NOT_ENOUGH", ProviderError),
    ("tencent", "LimitExceeded.PhoneNumberThirtySecondLimit", Throttled),
    ("tencent", "LimitExceeded.PhoneNumberDailyLimit", Throttled),
    ("tencent", "InvalidParameterValue.IncorrectPhoneNumber", RecipientRejected),
    ("tencent", "FailedOperation.PhoneNumberInBlacklist", RecipientRejected),
    ("tencent", "FailedOperation.InsufficientBalanceInSmsPackage", ProviderError),
])
async def test_vendor_answers_map_to_what_happens_next(vendors: Vendors, vendor: str, code: str,
                                                       error: type[ProviderError]) -> None:
    if vendor == "aliyun":
        vendors.aliyun_api.codes["13800000000"] = code
        provider: AliyunSms | TencentSms = vendors.aliyun()
    else:
        vendors.tencent_api.codes["+8613800000000"] = code
        provider = vendors.tencent()
    with pytest.raises(ProviderError, match=code) as raised:
        await provider.send(CODE)
    assert type(raised.value) is error
    await provider.aclose()


async def test_a_request_level_throttle_at_tencent_is_throttling(vendors: Vendors) -> None:
    vendors.tencent_api.error = "RequestLimitExceeded"
    tencent = vendors.tencent()
    with pytest.raises(Throttled, match="RequestLimitExceeded"):
        await tencent.send(CODE)
    await tencent.aclose()


async def test_an_invalid_number_stops_the_failover_and_a_throttle_moves_on(vendors: Vendors) -> None:
    aliyun, tencent = vendors.aliyun(), vendors.tencent()
    vendors.aliyun_api.codes["13800000000"] = "isv.MOBILE_NUMBER_ILLEGAL"
    with pytest.raises(RecipientRejected):
        await send_with_failover([aliyun, tencent], CODE)
    assert vendors.tencent_api.sent == [], "no other provider is asked about a number that is not one"

    vendors.aliyun_api.codes["13800000000"] = "isv.BUSINESS_LIMIT_CONTROL"
    result = await send_with_failover([aliyun, tencent], CODE)
    assert result.provider == "tencent-sms" and "isv.BUSINESS_LIMIT_CONTROL" in result.errors[0]

    vendors.tencent_api.codes["+8613800000000"] = "LimitExceeded.PhoneNumberOneHourLimit"
    with pytest.raises(Throttled):
        await send_with_failover([aliyun, tencent], CODE)
    await aliyun.aclose()
    await tencent.aclose()


async def test_not_a_phone_number_is_rejected_before_any_request(vendors: Vendors) -> None:
    aliyun = vendors.aliyun()
    with pytest.raises(RecipientRejected, match="not a phone number"):
        await aliyun.send(OutboundMessage("n-1", "r", "sms", "call me maybe", "t", "b", kind="x"))
    assert vendors.aliyun_server.seen == []
    await aliyun.aclose()


async def test_a_kind_without_a_template_is_a_provider_error_naming_the_setting(vendors: Vendors) -> None:
    aliyun = AliyunSms(access_key_id="LTAI-test", access_key_secret="aliyun-secret", sign_name="邻里社区",
                       templates=VendorTemplates({"one_time_code": "SMS_1"}), endpoint=vendors.aliyun_server.url,
                       clock=vendors.clock)
    with pytest.raises(ProviderError, match="LINLI_ALIYUN_SMS_TEMPLATES"):
        await aliyun.send(NOTICE)
    await aliyun.aclose()


async def test_a_vendor_that_does_not_answer_in_time_is_a_provider_error(vendors: Vendors) -> None:
    import threading

    release = threading.Event()

    def slow(seen: Any) -> tuple[int, Any]:
        release.wait(5)
        return 200, {"Code": "OK"}

    server = Loopback(slow)
    aliyun = AliyunSms(access_key_id="LTAI-test", access_key_secret="s", sign_name="邻里社区",
                       templates=VendorTemplates(ALIYUN_TEMPLATES), endpoint=server.url, clock=vendors.clock,
                       timeout=0.3)
    with pytest.raises(ProviderError, match=r"no answer within 0\.3 s"):
        await aliyun.send(CODE)
    release.set()
    await aliyun.aclose()
    server.close()
