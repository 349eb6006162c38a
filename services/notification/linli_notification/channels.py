"""The providers each channel uses, from the settings, in failover order.

SMS: the providers named in `LINLI_SMS_PROVIDERS` (`aliyun`, `tencent`, `http`), in that order;
when it is empty, every configured one in the order aliyun, tencent, http. A provider that is
named but not configured, or configured by halves, stops the service at start-up saying what it
lacks — better than finding out from the first resident who gets no code. WeChat: the
subscription-message gateway when configured. A channel with no provider uses the local
delivery file (`make run`: the file is where one-time codes and notices "arrive").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from linli_notification.gateways import HttpSmsGateway, WeChatSubscribeGateway
from linli_notification.providers import CHANNELS, FileProvider, Provider
from linli_notification.settings import SMS_PROVIDERS, NotificationSettings
from linli_notification.sms.aliyun import AliyunSms
from linli_notification.sms.templates import VendorTemplates
from linli_notification.sms.tencent import TencentSms
from linli_runtime.clock import Clock


class ProviderSettingsError(ValueError):
    """The SMS / WeChat settings name a provider they do not configure, or configure by halves."""


def _missing(values: Mapping[str, object]) -> list[str]:
    return [name for name, value in values.items() if not value]


def _templates(text: str, setting: str) -> VendorTemplates:
    try:
        return VendorTemplates.parse(text, setting)
    except ValueError as exc:
        raise ProviderSettingsError(str(exc)) from None


def aliyun(settings: NotificationSettings, clock: Clock) -> AliyunSms | None:
    """Aliyun SMS when its key is set (None when nothing of it is)."""
    secret = settings.aliyun_access_key_secret.get_secret_value()
    if not settings.aliyun_access_key_id and not secret:
        return None
    wanted = {"LINLI_ALIYUN_ACCESS_KEY_ID": settings.aliyun_access_key_id, "LINLI_ALIYUN_ACCESS_KEY_SECRET": secret,
              "LINLI_ALIYUN_SMS_SIGN_NAME": settings.aliyun_sms_sign_name,
              "LINLI_ALIYUN_SMS_TEMPLATES": settings.aliyun_sms_templates}
    if missing := _missing(wanted):
        raise ProviderSettingsError(f"Aliyun SMS is half configured: set {', '.join(missing)}")
    return AliyunSms(access_key_id=settings.aliyun_access_key_id, access_key_secret=secret,
                     sign_name=settings.aliyun_sms_sign_name,
                     templates=_templates(settings.aliyun_sms_templates, "LINLI_ALIYUN_SMS_TEMPLATES"),
                     endpoint=settings.aliyun_sms_endpoint, clock=clock, ca_file=settings.gateway_ca_file)


def tencent(settings: NotificationSettings, clock: Clock) -> TencentSms | None:
    """Tencent Cloud SMS when its key is set (None when nothing of it is)."""
    secret = settings.tencent_secret_key.get_secret_value()
    if not settings.tencent_secret_id and not secret:
        return None
    wanted = {"LINLI_TENCENT_SECRET_ID": settings.tencent_secret_id, "LINLI_TENCENT_SECRET_KEY": secret,
              "LINLI_TENCENT_SMS_APP_ID": settings.tencent_sms_app_id,
              "LINLI_TENCENT_SMS_SIGN_NAME": settings.tencent_sms_sign_name,
              "LINLI_TENCENT_SMS_TEMPLATES": settings.tencent_sms_templates}
    if missing := _missing(wanted):
        raise ProviderSettingsError(f"Tencent Cloud SMS is half configured: set {', '.join(missing)}")
    return TencentSms(secret_id=settings.tencent_secret_id, secret_key=secret,
                      sdk_app_id=settings.tencent_sms_app_id, sign_name=settings.tencent_sms_sign_name,
                      templates=_templates(settings.tencent_sms_templates, "LINLI_TENCENT_SMS_TEMPLATES"),
                      region=settings.tencent_sms_region, endpoint=settings.tencent_sms_endpoint, clock=clock,
                      ca_file=settings.gateway_ca_file)


def http_relays(settings: NotificationSettings) -> list[HttpSmsGateway]:
    return [HttpSmsGateway(f"sms-{i + 1}", url.strip(), settings.sms_api_key, ca_file=settings.gateway_ca_file)
            for i, url in enumerate(settings.sms_gateways.split(",")) if url.strip()]


def sms_providers(settings: NotificationSettings, clock: Clock) -> list[Provider]:
    named = [n.strip().lower() for n in settings.sms_providers.split(",") if n.strip()]
    if unknown := [n for n in named if n not in SMS_PROVIDERS]:
        raise ProviderSettingsError(f"LINLI_SMS_PROVIDERS names {', '.join(unknown)}: use "
                                    f"{', '.join(SMS_PROVIDERS)}")
    makers: dict[str, Callable[[], list[Provider]]] = {
        "aliyun": lambda: [p for p in [aliyun(settings, clock)] if p is not None],
        "tencent": lambda: [p for p in [tencent(settings, clock)] if p is not None],
        "http": lambda: list(http_relays(settings)),
    }
    providers: list[Provider] = []
    for name in dict.fromkeys(named) if named else SMS_PROVIDERS:
        made = makers[name]()
        if named and not made:
            raise ProviderSettingsError(f"LINLI_SMS_PROVIDERS names {name}, which is not configured "
                                        "(see README, notification: SMS and WeChat)")
        providers.extend(made)
    return providers


def configured_providers(settings: NotificationSettings, clock: Clock) -> dict[str, list[Provider]]:
    """Every channel's providers (see the module docstring)."""
    local = FileProvider(settings.delivery_path())
    wechat: list[Provider] = []
    wanted = {"LINLI_WECHAT_APP_ID": settings.wechat_app_id, "LINLI_WECHAT_SECRET": settings.wechat_secret,
              "LINLI_WECHAT_TEMPLATE_ID": settings.wechat_template_id}
    if any(wanted.values()):
        if missing := _missing(wanted):
            raise ProviderSettingsError(f"WeChat subscription messages are half configured: set {', '.join(missing)}")
        wechat.append(WeChatSubscribeGateway(settings.wechat_app_id, settings.wechat_secret,
                                             settings.wechat_template_id, base_url=settings.wechat_api_base,
                                             clock=clock, ca_file=settings.gateway_ca_file))
    table = {"sms": sms_providers(settings, clock) or [local], "wechat": wechat or [local]}
    assert set(table) == set(CHANNELS)
    return table
