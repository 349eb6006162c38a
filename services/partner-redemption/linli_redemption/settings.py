"""partner-redemption's settings, from the environment (`LINLI_RECOVERY_INTERVAL`, …) on top of
every service's (`PORT`, `DATABASE_URL`, `NATS_URL`, …)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator, model_validator

from linli_redemption.descriptor import POS_PORT, SERVICE
from linli_redemption.pos_limits import HOUR, MAX_GUESS_SUCCESS, MINUTE, Limit, PosLimits, guess_success_bound
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
    # Seconds a verified terminal credential is trusted without reading its row again (0: never).
    # A rotation, revocation or suspension clears it at once in the process that made it; other
    # replicas see it within this time.
    terminal_cache_seconds: float = Field(default=3.0, ge=0, le=30)
    # The public POS edge: a listener of its own serving PosService and health alone (never the
    # partner, catalogue, settlement or community APIs), TLS only, for merchants' terminals.
    # -1: 50443 when PORT is partner-redemption's fixed local port (`make run`), else none;
    # 0: a free port.
    pos_port: int = Field(default=-1, ge=-1)
    # The edge's own certificate (e.g. one a public CA signed for the POS host name); empty: the
    # service's (LINLI_GRPC_TLS_CERT / _KEY).
    pos_tls_cert: str = ""
    pos_tls_key: str = Field(default="", repr=False)

    def wanted_pos_port(self) -> int | None:
        """The POS edge's port to bind (0: a free one), or None: no POS edge."""
        if self.pos_port >= 0:
            return self.pos_port
        return POS_PORT if self.port == SERVICE.default_port else None

    # -- abuse limits at the POS (pos_limits: what each counts and what guessing can win) ---------
    # ResolveMemberCode calls per terminal per minute.
    pos_resolves_per_terminal_per_minute: int = Field(default=30, ge=1)
    # Wrong codes tried against one member card per hour, from any terminal: the limit that
    # bounds guessing (refused above what would give a guesser 1 % a day).
    pos_wrong_codes_per_member_per_hour: int = Field(default=10, ge=1)
    # Wrong, expired or unknown codes a terminal may send within the window before it is locked out…
    pos_wrong_codes_before_lockout: int = Field(default=5, ge=1)
    pos_wrong_code_window_seconds: int = Field(default=600, ge=60)
    # …and for how long (seconds).
    pos_lockout_seconds: int = Field(default=900, ge=60)
    # New Redeem requests per terminal per minute, and per member per hour (from any terminal).
    pos_redeems_per_terminal_per_minute: int = Field(default=30, ge=1)
    pos_redeems_per_member_per_hour: int = Field(default=20, ge=1)

    def pos_limits(self) -> PosLimits:
        return PosLimits(
            resolves_per_terminal=Limit(self.pos_resolves_per_terminal_per_minute, MINUTE),
            wrong_codes_per_member=Limit(self.pos_wrong_codes_per_member_per_hour, HOUR),
            wrong_codes_per_terminal=Limit(self.pos_wrong_codes_before_lockout,
                                           timedelta(seconds=self.pos_wrong_code_window_seconds)),
            lockout=timedelta(seconds=self.pos_lockout_seconds),
            redeems_per_terminal=Limit(self.pos_redeems_per_terminal_per_minute, MINUTE),
            redeems_per_member=Limit(self.pos_redeems_per_member_per_hour, HOUR))

    @model_validator(mode="after")
    def _guessing_stays_hopeless(self) -> RedemptionSettings:
        bound = guess_success_bound(self.pos_limits())
        if bound >= MAX_GUESS_SUCCESS:
            raise ValueError(f"LINLI_POS_WRONG_CODES_PER_MEMBER_PER_HOUR={self.pos_wrong_codes_per_member_per_hour} "
                             f"would let a guesser hit a member code with a chance of {bound:.1%} a day; "
                             f"keep it below {MAX_GUESS_SUCCESS:.0%}")
        return self

    @field_validator("terminal_secret_key")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        if value and len(value) < 32:
            raise ValueError("LINLI_TERMINAL_SECRET_KEY must be at least 32 characters long")
        return value
