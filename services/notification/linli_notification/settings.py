from __future__ import annotations

from linli_runtime.settings import ServiceSettings


class NotificationSettings(ServiceSettings):
    service_name: str = "notification"
    # How often the sweeper looks for overdue acknowledgements, due follow-ups and deliveries.
    sweep_interval_seconds: float = 5.0
    # Where the local provider writes SMS / WeChat messages (`make run`): one JSON per line.
    delivery_file: str = "var/notification-deliveries.jsonl"
