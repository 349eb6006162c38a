"""Accounting periods (`2026-10`, `2026-Q3`) in China Standard Time, as the owners read them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from linli_runtime import times
from linli_runtime.errors import InvalidArgument

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


@dataclass(frozen=True)
class Period:
    label: str
    start: datetime
    end: datetime  # exclusive; both in UTC (SQLite compares stored UTC text)
    quarterly: bool


def _month_start(year: int, month: int) -> datetime:
    """The first instant of a month in Shanghai, as UTC (month 13 is next January)."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=times.SHANGHAI).astimezone(UTC)


def parse_period(label: str, field: str = "period") -> Period:
    if m := MONTH.match(label):
        year, month = int(m[1]), int(m[2])
        if not 1 <= month <= 12 or year < 2000:
            raise InvalidArgument.field(field, f"{label!r} is not a month")
        return Period(label, _month_start(year, month), _month_start(year, month + 1), quarterly=False)
    if m := QUARTER.match(label):
        year, quarter = int(m[1]), int(m[2])
        if year < 2000:
            raise InvalidArgument.field(field, f"{label!r} is not a quarter")
        first = 3 * (quarter - 1) + 1
        return Period(label, _month_start(year, first), _month_start(year, first + 3), quarterly=True)
    raise InvalidArgument.field(field, f"must be YYYY-MM or YYYY-Qn, got {label[:20]!r}")


def local_year(when: datetime) -> int:
    """The calendar year `when` falls in, in Shanghai (the budget year)."""
    return times.local_day(when).year


def local_date(when: datetime) -> str:
    """`YYYY-MM-DD` of `when` in Shanghai."""
    return times.local_day(when).isoformat()
