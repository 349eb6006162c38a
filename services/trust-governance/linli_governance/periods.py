"""Accounting periods (`2026-10`, `2026-Q3`) in China Standard Time, as the owners read them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from linli_runtime.errors import InvalidArgument

CST = timezone(timedelta(hours=8), "Asia/Shanghai")
MONTH = re.compile(r"^(\d{4})-(\d{2})$")
QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


@dataclass(frozen=True)
class Period:
    label: str
    start: datetime
    end: datetime  # exclusive; both in UTC (SQLite compares stored UTC text)
    quarterly: bool


def _month_start(year: int, month: int) -> datetime:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=CST)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def parse_period(label: str, field: str = "period") -> Period:
    if m := MONTH.match(label):
        year, month = int(m[1]), int(m[2])
        if not 1 <= month <= 12 or year < 2000:
            raise InvalidArgument.field(field, f"{label!r} is not a month")
        return Period(label, _utc(_month_start(year, month)), _utc(_month_start(year, month + 1)), quarterly=False)
    if m := QUARTER.match(label):
        year, quarter = int(m[1]), int(m[2])
        if year < 2000:
            raise InvalidArgument.field(field, f"{label!r} is not a quarter")
        first = 3 * (quarter - 1) + 1
        return Period(label, _utc(_month_start(year, first)), _utc(_month_start(year, first + 3)), quarterly=True)
    raise InvalidArgument.field(field, f"must be YYYY-MM or YYYY-Qn, got {label!r}")


def local_year(when: datetime) -> int:
    return when.astimezone(CST).year


def local_date(when: datetime) -> str:
    return when.astimezone(CST).date().isoformat()
