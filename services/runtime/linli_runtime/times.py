"""Time, the same in every service.

Everything is stored in UTC. People read times in Asia/Shanghai (China keeps one zone and no
summer time); a community may run its roster on another fixed offset, so the helpers that turn
instants into local days take the zone. `tzdata` ships the zone database, so `ZoneInfo` works
where the operating system has no zone files (slim container images, Windows).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from google.protobuf.timestamp_pb2 import Timestamp

from linli_runtime.errors import InvalidArgument

SHANGHAI = ZoneInfo("Asia/Shanghai")


def as_utc(value: datetime) -> datetime:
    """`value` in UTC. SQLite hands back naive datetimes for timezone-aware columns; what we
    store is UTC, so a naive value is read as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def fixed_zone(utc_offset_minutes: int) -> tzinfo:
    """A fixed-offset zone (a community's roster zone)."""
    return timezone(timedelta(minutes=utc_offset_minutes))


def local(value: datetime, zone: tzinfo = SHANGHAI) -> datetime:
    """`value` as a wall-clock time in `zone` (Asia/Shanghai unless told)."""
    return as_utc(value).astimezone(zone)


def local_day(value: datetime, zone: tzinfo = SHANGHAI) -> date:
    """The calendar day `value` falls on in `zone`."""
    return local(value, zone).date()


def day_bounds(day: date, zone: tzinfo = SHANGHAI) -> tuple[datetime, datetime]:
    """[start, end) of `day` in `zone`, as UTC instants."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = start + timedelta(days=1)
    return start.astimezone(UTC), end.astimezone(UTC)


def year_bounds(year: int, zone: tzinfo = SHANGHAI) -> tuple[datetime, datetime]:
    """[1 January, next 1 January) of `year` in `zone`, as UTC instants."""
    return (datetime(year, 1, 1, tzinfo=zone).astimezone(UTC),
            datetime(year + 1, 1, 1, tzinfo=zone).astimezone(UTC))


def month_bounds(month: str, zone: tzinfo = SHANGHAI) -> tuple[datetime, datetime]:
    """[first day, first day of the next month) of `YYYY-MM` in `zone`, as UTC instants."""
    year, mon = int(month[:4]), int(month[5:7])
    nxt = (year + 1, 1) if mon == 12 else (year, mon + 1)
    return (datetime(year, mon, 1, tzinfo=zone).astimezone(UTC),
            datetime(nxt[0], nxt[1], 1, tzinfo=zone).astimezone(UTC))


def iso_local(value: datetime, zone: tzinfo = SHANGHAI) -> str:
    """`2026-11-10T09:05:00+08:00`: what a person (and a script) reads."""
    return local(value, zone).isoformat(timespec="seconds")


# -- protobuf Timestamps --------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp_of(when: datetime) -> Timestamp:
    """`Timestamp.FromDatetime` (a naive time is UTC), in C arithmetic: every event and every
    listed row pays it (protobuf's own costs about three times as much)."""
    since = (when if when.tzinfo is not None else when.replace(tzinfo=UTC)) - _EPOCH
    return Timestamp(seconds=since.days * 86400 + since.seconds, nanos=since.microseconds * 1000)


def instant_of(ts: Timestamp) -> datetime:
    """`Timestamp.ToDatetime(tzinfo=UTC)`, in C arithmetic."""
    return _EPOCH + timedelta(seconds=ts.seconds, microseconds=ts.nanos // 1000)


def to_timestamp(value: datetime | None) -> Timestamp | None:
    """A Timestamp for `value` (None stays None, so an unset field stays unset)."""
    return None if value is None else timestamp_of(value)


def from_timestamp(value: Timestamp | None) -> datetime | None:
    """The UTC instant of a Timestamp; None when it is unset (all zero)."""
    if value is None or (value.seconds == 0 and value.nanos == 0):
        return None
    return instant_of(value)


# -- parsing what people type -----------------------------------------------------------------------

def parse_date(field: str, text: str) -> date:
    """`YYYY-MM-DD` → date; INVALID_ARGUMENT naming `field` otherwise."""
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise InvalidArgument.field(field, f"{_shown(text)} is not a date written YYYY-MM-DD")


def parse_month(field: str, text: str) -> str:
    """`YYYY-MM` (years 2000–2200) → the same text, checked."""
    # ASCII digits only: int() alone would also take '+1', ' 1' and full-width digits.
    year, sep, month = text[:4], text[4:5], text[5:]
    if (len(text) == 7 and sep == "-" and text.isascii() and year.isdigit() and month.isdigit()
            and 2000 <= int(year) <= 2200 and 1 <= int(month) <= 12):
        return text
    raise InvalidArgument.field(field, "must be a month written YYYY-MM (years 2000-2200)")


def parse_hhmm(field: str, text: str, *, allow_24: bool = False) -> int:
    """`08:30` → 510 (minutes into the day); `24:00` only with `allow_24` (an end of day)."""
    hours, sep, minutes = text.partition(":")
    if sep and len(hours) == 2 and len(minutes) == 2 and hours.isdigit() and minutes.isdigit():
        h, m = int(hours), int(minutes)
        if m < 60 and (h < 24 or (allow_24 and h == 24 and m == 0)):
            return h * 60 + m
    raise InvalidArgument.field(field, f"{_shown(text)} is not a local time HH:MM")


def hhmm(minute: int) -> str:
    """510 → `08:30`."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _shown(text: str) -> str:
    # Never echo a caller's whole input back: a long value would swell the error trailers.
    return repr(text if len(text) <= 40 else text[:40] + "…")
