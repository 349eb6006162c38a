from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from linli_runtime.settings import ServiceSettings


class NotificationSettings(ServiceSettings):
    service_name: str = "notification"
    # How often the sweeper looks for overdue acknowledgements, due follow-ups and deliveries.
    sweep_interval_seconds: float = 5.0
    # Where the local provider writes SMS / WeChat messages (`make run`): one JSON per line.
    # Empty: next to the SQLite database (var/ under `make run`), else var/.
    delivery_file: str = ""

    # Outbound gateways; when none is configured for a channel the local file provider is used.
    # SMS: comma-separated endpoint URLs, tried in this order (failover).
    sms_gateways: str = ""
    sms_api_key: str = ""
    # WeChat subscription messages: app id, secret and the template notices use.
    wechat_app_id: str = ""
    wechat_secret: str = ""
    wechat_template_id: str = ""
    wechat_api_base: str = "https://api.weixin.qq.com"

    def delivery_path(self) -> Path:
        if self.delivery_file:
            return Path(self.delivery_file)
        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            return Path(url.database).parent / "notification-deliveries.jsonl"
        return Path("var") / "notification-deliveries.jsonl"
