"""The SMS adapters' pure parts: the vendors' request signatures against the worked examples the
vendors publish (so the adapters agree with Aliyun and Tencent, not only with our stand-ins),
phone numbers as vendors want them, and which approved template a message uses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from linli_notification.providers import OutboundMessage, ProviderError, RecipientRejected
from linli_notification.sms.aliyun import AliyunSms, acs3_authorization, canonical_query
from linli_notification.sms.aliyun import sha256_hex as aliyun_sha256
from linli_notification.sms.phones import aliyun_number, e164, masked
from linli_notification.sms.templates import VendorTemplates
from linli_notification.sms.tencent import tc3_authorization

from linli_runtime.clock import ManualClock

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_acs3_matches_aliyuns_worked_example() -> None:
    # Aliyun, "V3版本请求体&签名机制": ECS RunInstances with every input fixed.
    headers = {"host": "ecs.cn-shanghai.aliyuncs.com", "x-acs-action": "RunInstances", "x-acs-version": "2014-05-26",
               "x-acs-date": "2023-10-26T10:22:32Z", "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
               "x-acs-content-sha256": aliyun_sha256(b"")}
    assert headers["x-acs-content-sha256"] == EMPTY_SHA256
    authorization = acs3_authorization(
        method="POST", path="/", headers=headers, body=b"", access_key_id="YourAccessKeyId",
        access_key_secret="YourAccessKeySecret",
        query={"ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd", "RegionId": "cn-shanghai"})
    assert authorization == (
        "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,"
        "SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"
        "Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0")


def test_acs3_percent_encodes_as_rfc3986_and_sorts() -> None:
    assert canonical_query({"b": "x y*~", "a": "邻里", "A": "+/="}) == "A=%2B%2F%3D&a=%E9%82%BB%E9%87%8C&b=x%20y%2A~"


def test_tc3_matches_tencents_worked_example() -> None:
    # Tencent Cloud, "签名方法 v3": CVM DescribeInstances with the documentation's (masked) keys.
    payload = r'{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}'
    authorization = tc3_authorization(
        secret_id="AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******", secret_key="Gu5t9xGARNpq86cd98joQYCN3*******",
        service="cvm", timestamp=1551113065, payload=payload.encode(),
        headers={"Content-Type": "application/json; charset=utf-8", "Host": "cvm.tencentcloudapi.com"})
    assert authorization == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, "
        "SignedHeaders=content-type;host, "
        "Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c")


@pytest.mark.parametrize("raw,number", [
    ("13800000000", "+8613800000000"), ("138-0000-0000", "+8613800000000"), ("+86 138 0000 0000", "+8613800000000"),
    ("0086 13800000000", "+8613800000000"), ("+85212345678", "+85212345678"),
])
def test_numbers_become_e164(raw: str, number: str) -> None:
    assert e164(raw) == number


@pytest.mark.parametrize("raw", ["", "12345", "call me", "+8612345678901", "+86 1380000000", "+0123456789"])
def test_what_is_no_mobile_number_is_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        e164(raw)


def test_vendor_forms_and_the_masked_form() -> None:
    assert aliyun_number("+8613800000000") == "13800000000" and aliyun_number("+85212345678") == "85212345678"
    assert masked("+8613800000000") == "+86 138****0000" and masked("+85212345678") == "+852****5678"


def test_a_kind_uses_its_template_or_the_catch_all_and_values_are_cut() -> None:
    templates = VendorTemplates({"one_time_code": "SMS_1", "*": "SMS_2"}, max_param_chars=5)
    assert templates.code_for("aliyun", "one_time_code") == "SMS_1" and templates.code_for("aliyun", "x") == "SMS_2"
    message = OutboundMessage("n", "r", "sms", "13800000000", "标题", "一二三四五六七")
    assert templates.values(message) == {"title": "标题", "body": "一二三四…"}
    with pytest.raises(ProviderError, match="LINLI_TENCENT_SMS_TEMPLATES"):
        VendorTemplates({"one_time_code": "1"}).code_for("tencent", "redemption.committed")


def test_an_aliyun_request_carries_the_signed_parameters_and_refuses_a_non_number() -> None:
    aliyun = AliyunSms(access_key_id="LTAI", access_key_secret="s", sign_name="邻里社区",
                       templates=VendorTemplates({"*": "SMS_2"}), endpoint="https://dysmsapi.aliyuncs.com",
                       clock=ManualClock(datetime(2026, 11, 7, 3, 0, tzinfo=UTC)), nonce=lambda: "n-1")
    url, headers = aliyun.request_for(OutboundMessage("n-1", "r", "sms", "138-0000-0000", "t", "b", kind="k"))
    assert url.startswith("https://dysmsapi.aliyuncs.com/?OutId=n-1&PhoneNumbers=13800000000&SignName=")
    assert headers["x-acs-date"] == "2026-11-07T03:00:00Z" and headers["host"] == "dysmsapi.aliyuncs.com"
    assert headers["Authorization"].startswith("ACS3-HMAC-SHA256 Credential=LTAI,SignedHeaders=host;x-acs-action;")
    with pytest.raises(RecipientRejected):
        aliyun.request_for(OutboundMessage("n-2", "r", "sms", "not a number", "t", "b"))
