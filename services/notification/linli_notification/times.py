"""Local times, dates and `HH:MM` strings (China keeps no summer time, so a community's time zone
is a fixed UTC offset)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from google.protobuf.timestamp_pb2 import Timestamp

from linli_runtime.errors import InvalidArgument


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns; they were written in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def local(value: datetime, utc_offset_minutes: int) -> datetime:
    return as_utc(value).astimezone(timezone(timedelta(minutes=utc_offset_minutes)))


def parse_hhmm(field: str, text: str, *, allow_24: bool = False) -> int:
    """`08:30` → 510 (minutes into the day)."""
    try:
        hours, minutes = text.split(":")
        h, m = int(hours), int(minutes)
    except ValueError:
        raise InvalidArgument.field(field, f"{text!r} is not a local time HH:MM") from None
    if len(hours) != 2 or len(minutes) != 2 or not (0 <= m < 60) or not (
        0 <= h < 24 or (allow_24 and h == 24 and m == 0)
    ):
        raise InvalidArgument.field(field, f"{text!r} is not a local time HH:MM")
    return h * 60 + m


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_date(field: str, text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat() if len(text) == 10 else _bad(field, text)
    except ValueError:
        return _bad(field, text)


def _bad(field: str, text: str) -> str:
    raise InvalidArgument.field(field, f"{text!r} is not a date YYYY-MM-DD")


def ts(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    out = Timestamp()
    out.FromDatetime(as_utc(value))
    return out
