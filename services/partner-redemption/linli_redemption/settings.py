"""partner-redemption's settings, from the environment (`LINLI_RECOVERY_INTERVAL`, …) on top of
every service's (`PORT`, `DATABASE_URL`, `NATS_URL`, …)."""

from __future__ import annotations

from pydantic import Field

from linli_runtime.settings import ServiceSettings


class RedemptionSettings(ServiceSettings):
    service_name: str = "partner-redemption"
    # Seconds between passes of the recovery loop (stuck redemptions, unfinished refunds).
    recovery_interval: float = Field(default=5.0, gt=0)
    # A PENDING redemption older than this (seconds) is settled by recovery, not by its call.
    recovery_grace: float = Field(default=60.0, ge=0)
    # How long after a redemption a refund is allowed (hours).
    refund_window_hours: float = Field(default=168.0, gt=0)
