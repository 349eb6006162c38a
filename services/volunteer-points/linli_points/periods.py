"""Calendar periods as communities live them: days, months and years in China Standard Time
(UTC+8, no daylight saving), turned into UTC bounds for queries on stored UTC times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")


def local(when: datetime) -> datetime:
    return when.astimezone(CHINA)


def month_of(when: datetime) -> str:
    return local(when).strftime("%Y-%m")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[start, end) of `YYYY-MM` in UTC."""
    start = datetime.strptime(month, "%Y-%m").replace(tzinfo=CHINA)
    end = (start + timedelta(days=32)).replace(day=1)
    return start.astimezone(UTC), end.astimezone(UTC)


def year_bounds(year: int) -> tuple[datetime, datetime]:
    return (datetime(year, 1, 1, tzinfo=CHINA).astimezone(UTC), datetime(year + 1, 1, 1, tzinfo=CHINA).astimezone(UTC))


def day_bounds(when: datetime) -> tuple[datetime, datetime]:
    start = local(when).replace(hour=0, minute=0, second=0, microsecond=0)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """`YYYY` or `YYYY-MM` → [start, end) in UTC; ValueError otherwise."""
    if len(period) == 4 and period.isdigit():
        return year_bounds(int(period))
    if len(period) == 7:
        datetime.strptime(period, "%Y-%m")
        return month_bounds(period)
    raise ValueError(period)
