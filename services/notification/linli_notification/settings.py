"""notification's settings, from the environment (`LINLI_*`, beside the runtime's `PORT`,
`DATABASE_URL`, `NATS_URL`). Under `make run` nothing needs setting: with no SMS or WeChat
provider configured, messages (one-time codes included) go to the local delivery file.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from sqlalchemy.engine import make_url

from linli_notification.one_time_codes import Limit as CodeLimit
from linli_runtime.settings import ServiceSettings

SMS_PROVIDERS = ("aliyun", "tencent", "http")


class NotificationSettings(ServiceSettings):
    service_name: str = "notification"
    # How often the sweeper looks for overdue acknowledgements, due follow-ups and deliveries.
    sweep_interval_seconds: float = 5.0
    # Where the local provider writes SMS / WeChat messages (`make run`): one JSON per line.
    # Empty: next to the SQLite database (var/ under `make run`), else var/.
    delivery_file: str = ""
    # A CA bundle (PEM) that outbound gateways are verified with instead of the public CAs: an
    # in-house SMS relay under a private CA. Empty: the public CAs (the vendors' APIs).
    gateway_ca_file: str = ""
    # The duty roster names only the community's workers: accounts holding a community_worker
    # grant there, as the identity service announces its grants (the IDENTITY stream). Off
    # (false) when another OIDC provider keeps the grants: then any account id is accepted.
    roster_requires_worker_grant: bool = True

    # -- outbound SMS: the providers, in failover order ---------------------------------------
    # Which SMS providers to use, in this order (comma-separated: aliyun, tencent, http). Empty:
    # every configured one, in that order; with none configured, the local delivery file.
    sms_providers: str = ""
    # http: comma-separated endpoint URLs of SMS relays, tried in this order, with a bearer key.
    sms_gateways: str = ""
    sms_api_key: str = ""
    # aliyun: Dysmsapi SendSms. The AccessKey (a RAM user allowed SendSms only), also read from
    # Aliyun's own ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET.
    aliyun_access_key_id: str = Field(default="", validation_alias=AliasChoices(
        "LINLI_ALIYUN_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_ID"))
    aliyun_access_key_secret: SecretStr = Field(default=SecretStr(""), validation_alias=AliasChoices(
        "LINLI_ALIYUN_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"))
    # The approved signature (签名, e.g. 邻里社区) and templates, `kind=template` comma-separated,
    # `*` for every kind without its own: `one_time_code=SMS_1234,*=SMS_5678`.
    aliyun_sms_sign_name: str = ""
    aliyun_sms_templates: str = ""
    aliyun_sms_endpoint: str = "https://dysmsapi.aliyuncs.com"
    # tencent: SMS SendSms. The API key (a CAM sub-user allowed SendSms only), also read from
    # Tencent's own TENCENTCLOUD_SECRET_ID / _KEY; the SMS application's SdkAppId; the approved
    # signature and templates (as for aliyun: `one_time_code=1234567,*=7654321`).
    tencent_secret_id: str = Field(default="", validation_alias=AliasChoices(
        "LINLI_TENCENT_SECRET_ID", "TENCENTCLOUD_SECRET_ID"))
    tencent_secret_key: SecretStr = Field(default=SecretStr(""), validation_alias=AliasChoices(
        "LINLI_TENCENT_SECRET_KEY", "TENCENTCLOUD_SECRET_KEY"))
    tencent_sms_app_id: str = ""
    tencent_sms_sign_name: str = ""
    tencent_sms_templates: str = ""
    tencent_sms_region: str = "ap-guangzhou"
    tencent_sms_endpoint: str = "https://sms.tencentcloudapi.com"

    # -- WeChat subscription messages: app id, secret and the template notices use -------------
    wechat_app_id: str = ""
    wechat_secret: str = ""
    wechat_template_id: str = ""
    wechat_api_base: str = "https://api.weixin.qq.com"

    # -- one-time codes (OneTimeCodeService) ----------------------------------------------------
    # The OAuth clients whose service tokens may send one-time codes (comma-separated): the
    # identity service's own, `svc-identity`. Another OIDC provider must put the client's id in
    # the token's `client_id` claim.
    one_time_code_clients: str = "svc-identity"
    # How many codes one number may be sent (one_time_codes.py): at most one every this many
    # seconds, this many an hour and this many a day — a backstop a little looser than identity's
    # own limits in front of it (LINLI_SMS_PER_PHONE_PER_HOUR, LINLI_SMS_RESEND_SECONDS there),
    # close to what the SMS vendors allow anyway (Aliyun: one a minute, 5 an hour, 10 a day).
    one_time_code_gap_seconds: int = Field(default=30, ge=1, le=3600)
    one_time_codes_per_number_per_hour: int = Field(default=6, ge=1)
    one_time_codes_per_number_per_day: int = Field(default=10, ge=1)

    def delivery_path(self) -> Path:
        if self.delivery_file:
            return Path(self.delivery_file)
        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            return Path(url.database).parent / "notification-deliveries.jsonl"
        return Path("var") / "notification-deliveries.jsonl"

    def one_time_code_limits(self) -> tuple[CodeLimit, ...]:
        return (CodeLimit(1, timedelta(seconds=self.one_time_code_gap_seconds)),
                CodeLimit(self.one_time_codes_per_number_per_hour, timedelta(hours=1)),
                CodeLimit(self.one_time_codes_per_number_per_day, timedelta(days=1)))

    def code_senders(self) -> frozenset[str]:
        return frozenset(c.strip() for c in self.one_time_code_clients.split(",") if c.strip())
