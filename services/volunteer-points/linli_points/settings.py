"""volunteer-points' settings, from the environment (LINLI_* and the runtime's, see README)."""

from __future__ import annotations

from pydantic import Field

from linli_runtime.settings import ServiceSettings


class PointsSettings(ServiceSettings):
    service_name: str = "volunteer-points"
    # Seconds between sweeps for holds past their timeout.
    hold_sweep_interval: float = Field(default=1.0, gt=0)
    # Points one worker may credit to the helpers of the help requests they resolve, per day and
    # per month (Asia/Shanghai), before further credits wait for a second account's approval
    # (an Adjustment). 0: every help credit needs a second approval.
    help_credit_daily_limit: int = Field(default=30, ge=0)
    help_credit_monthly_limit: int = Field(default=200, ge=0)
    # Points one worker may credit per day and per month (Asia/Shanghai) by confirming activities
    # they created themselves — acting alone — before further such credits wait for a second
    # account's approval (an Adjustment; solo_limits). 0: every such credit needs a second approval.
    activity_solo_daily_limit: int = Field(default=200, ge=0)
    activity_solo_monthly_limit: int = Field(default=1000, ge=0)
    # Worker processes that read roster workbooks and draw certificates off the event loop
    # (workers.py); at most this many such jobs run at once, the others wait their turn.
    worker_processes: int = Field(default=1, ge=1, le=8)
    # Seconds between passes of the care schedule (care.py: mid-month reminders, month closes).
    care_check_interval: float = Field(default=300.0, gt=0)
    # From this day of the month (Asia/Shanghai) pairings short of visits are reminded.
    care_reminder_day: int = Field(default=15, ge=1, le=28)
    # A font file with Chinese characters for award certificates (.ttf/.otf/.ttc); empty: found
    # at run time through fontconfig or the usual font directories (certificates.py).
    certificate_font: str = ""
