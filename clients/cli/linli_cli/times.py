"""Times as operators type them: China time unless an offset is given, or relative to now.

    2026-11-20 18:00 / 2026-11-20T18:00   China time (Asia/Shanghai)
    2026-11-20T18:00+08:00                any ISO 8601 offset
    2026-11-20                            that day — its start, or its end where a deadline is meant
    +7d  +12h  +30m  +90s                 from now
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from linli_cli.errors import usage
from linli_cli.i18n import N_, _
from linli_cli.output import CHINA

RELATIVE = re.compile(r"\+(\d{1,4})([smhd])")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
SHAPES = N_("+7d, +12h, +30m, 2026-11-20 18:00 (China time) or 2026-11-20")


def parse_moment(value: str, what: str, now: datetime, *, day_end: bool = False) -> datetime:
    """The instant `value` names (see the module docstring); a bare day is its start, or its
    end with `day_end`. A usage error naming `what` otherwise."""
    text = value.strip()
    relative = RELATIVE.fullmatch(text)
    if relative:  # to the second, as every time is shown
        return (now + timedelta(**{UNITS[relative.group(2)]: int(relative.group(1))})).replace(microsecond=0)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise usage(_("{what}: {value!r} is not a time: give {shapes}").format(
            what=what, value=value, shapes=_(SHAPES))) from None
    if len(text) == 10 and day_end:
        parsed += timedelta(days=1)
    return parsed.replace(tzinfo=CHINA) if parsed.tzinfo is None else parsed


def parse_future(value: str, what: str, now: datetime) -> datetime:
    """A deadline: like parse_moment (a bare day meaning its end), and after `now`."""
    moment = parse_moment(value, what, now, day_end=True)
    if moment <= now:
        raise usage(_("{what}: {value!r} is not in the future").format(what=what, value=value))
    return moment
