"""Who is on duty at a moment, and which providers are open: pure functions over the roster,
so the rules (weekday, dated/holiday shifts, swaps, opening hours) are tested in memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from linli_runtime.times import fixed_zone, local


@dataclass(frozen=True)
class Shift:
    id: str
    weekday: int  # 1 Monday … 7 Sunday; 0 for a dated shift
    on_date: str | None  # YYYY-MM-DD
    start_minute: int
    end_minute: int
    worker_id: str
    backup_id: str
    order: int = 0  # creation order: of two shifts starting together, the newer one wins


@dataclass(frozen=True)
class Swap:
    on_date: str
    from_worker_id: str
    to_worker_id: str


@dataclass(frozen=True)
class OnDuty:
    shift_id: str
    worker_id: str
    backup_id: str


def on_duty(shifts: Sequence[Shift], swaps: Sequence[Swap], when: datetime, utc_offset_minutes: int) -> OnDuty | None:
    """The shift covering local time `when`. Dated shifts (holidays, special days) replace the
    weekday's shifts on their date; among overlapping shifts the one that began last wins (a
    short evening shift over an all-day one), and of two that began together the newer. Swaps
    for the date then replace the worker or backup."""
    moment = local(when, fixed_zone(utc_offset_minutes))
    day = moment.date().isoformat()
    minute = moment.hour * 60 + moment.minute
    dated = [s for s in shifts if s.on_date == day]
    pool = dated or [s for s in shifts if s.on_date is None and s.weekday == moment.isoweekday()]
    covering = [s for s in pool if s.start_minute <= minute < s.end_minute]
    if not covering:
        return None
    shift = max(covering, key=lambda s: (s.start_minute, s.order))
    worker, backup = shift.worker_id, shift.backup_id
    for swap in swaps:
        if swap.on_date != day:
            continue
        if worker == swap.from_worker_id:
            worker = swap.to_worker_id
        elif backup == swap.from_worker_id:
            backup = swap.to_worker_id
    return OnDuty(shift.id, worker, backup if backup != worker else "")


def standing(duty: OnDuty, workers: set[str]) -> OnDuty | None:
    """`duty` without those who are no longer the community's workers (`workers`: who still
    are): the backup steps up for a worker who left; with nobody left, None — the head takes it."""
    present = [p for p in (duty.worker_id, duty.backup_id) if p and p in workers]
    if not present:
        return None
    return OnDuty(duty.shift_id, present[0], present[1] if len(present) > 1 else "")


@dataclass(frozen=True)
class ProviderHours:
    id: str
    display_name: str
    phone: str
    priority: int
    opening_hours: Sequence[tuple[int, int, int]]  # (weekday, open minute, close minute)


def is_open(provider: ProviderHours, when: datetime, utc_offset_minutes: int) -> bool:
    """No hours listed means always open."""
    if not provider.opening_hours:
        return True
    moment = local(when, fixed_zone(utc_offset_minutes))
    minute = moment.hour * 60 + moment.minute
    return any(day == moment.isoweekday() and start <= minute < end for day, start, end in provider.opening_hours)


def open_alternatives(providers: Sequence[ProviderHours], when: datetime,
                      utc_offset_minutes: int) -> list[ProviderHours]:
    return sorted((p for p in providers if is_open(p, when, utc_offset_minutes)), key=lambda p: (p.priority, p.id))


# The opening of a provider that is always open: one that began before any request was filed.
ALWAYS_OPEN = datetime(1970, 1, 1, tzinfo=UTC)
DAY = 24 * 60


def opening_start(provider: ProviderHours, when: datetime, utc_offset_minutes: int) -> datetime | None:
    """When the opening that `when` falls in began (UTC), or None when the provider is closed
    then. Back-to-back hours are one opening (10:00–14:00 and 14:00–21:00; or until 24:00 and
    from 00:00 the next day); a provider with no hours listed, or open round the clock all week,
    has been open since ALWAYS_OPEN. A provider is suggested for a request once per opening."""
    if not provider.opening_hours:
        return ALWAYS_OPEN
    zone = fixed_zone(utc_offset_minutes)
    moment = local(when, zone)
    minute = moment.hour * 60 + moment.minute

    def window(day: int, *, covering: int | None = None, ending: int | None = None) -> tuple[int, int] | None:
        for weekday, start, end in provider.opening_hours:
            if weekday != day:
                continue
            if (covering is not None and start <= covering < end) or (ending is not None and end == ending):
                return start, end
        return None

    day = moment.date()
    found = window(day.isoweekday(), covering=minute)
    if found is None:
        return None
    for _ in range(8 * len(provider.opening_hours)):  # at most a week of back-to-back hours
        start = found[0]
        earlier = (window(day.isoweekday(), ending=start) if start > 0
                   else window((day - timedelta(days=1)).isoweekday(), ending=DAY))
        if earlier is None:
            return datetime.combine(day, time(), zone).astimezone(UTC) + timedelta(minutes=start)
        if start == 0:
            day -= timedelta(days=1)
        found = earlier
    return ALWAYS_OPEN
