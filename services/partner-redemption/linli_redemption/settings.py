"""partner-redemption's settings, from the environment (`LINLI_RECOVERY_INTERVAL`, …) on top of
every service's (`PORT`, `DATABASE_URL`, `NATS_URL`, …)."""

from __future__ import annotations

from pydantic import Field, field_validator

from linli_runtime.settings import ServiceSettings


class RedemptionSettings(ServiceSettings):
    service_name: str = "partner-redemption"
    # Seconds between passes of the recovery loop (stuck redemptions, unfinished refunds).
    recovery_interval: float = Field(default=5.0, gt=0)
    # A PENDING redemption older than this (seconds) is settled by recovery, not by its call.
    recovery_grace: float = Field(default=60.0, ge=0)
    # How long after a redemption a refund is allowed (hours).
    refund_window_hours: float = Field(default=168.0, gt=0)
    # The key a terminal secret is derived from, so that a retried CreateTerminal or
    # RotateTerminalSecret (same request id) is shown the same secret without the database
    # holding it (see terminal_secrets). Every replica needs the same key; empty: a random key
    # per process (a warning is logged; a retry reaching another process or a restarted one is
    # told SECRET_NOT_HELD). At least 32 characters.
    terminal_secret_key: str = Field(default="", repr=False)
    # How long (hours) a retry of the request that issued a terminal secret is shown it again.
    terminal_secret_replay_hours: float = Field(default=24.0, gt=0, le=24 * 7)

    @field_validator("terminal_secret_key")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        if value and len(value) < 32:
            raise ValueError("LINLI_TERMINAL_SECRET_KEY must be at least 32 characters long")
        return value
