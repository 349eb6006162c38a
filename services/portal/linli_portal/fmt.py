"""How figures read on the pages: money in yuan from integer fen, points, periods, accounts' names.

Money and points are formatted by Babel for the reader's locale, the one helper every page and
chart uses: Chinese readers (zh_CN, the pages' language) read ¥12,345.67 exactly and, where
space is short (chart labels), ¥9.6万 and 1.2亿 — the 万/亿 they count in, not "96k"; the English
spans and an English reader get ¥96K. Amounts stay integer fen until they are shown.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from babel import Locale
from babel.numbers import format_compact_decimal, format_decimal
from google.protobuf.timestamp_pb2 import Timestamp

ZH = "zh_CN"
EN = "en"

CST = timezone(timedelta(hours=8), "CST")

# Income accounts by their ledger name: Chinese first, English second.
INCOME_NAMES = {
    "income:property_fees": ("物业费", "Property fees"),
    "income:parking": ("停车费", "Parking"),
    "income:advertising": ("广告收入", "Advertising"),
    "income:ebike_charging": ("电动车充电", "E-bike charging"),
    "income:other": ("其他收入", "Other income"),
}
EXPENSE_NAMES = {
    "expense:trustee_remuneration": ("受托人酬金", "Trustee remuneration"),
}


@functools.cache
def _locale(name: str) -> Locale:
    """Parsed once: Babel parses a locale's name on every call otherwise (half a millisecond,
    most of the cost of a figure, and a city page shows hundreds)."""
    return Locale.parse(name)


def _yuan_of(fen: int) -> Decimal:
    return Decimal(int(fen)) / 100  # exact: fen are integers, never floats


def yuan(fen: int, locale: str = ZH) -> str:
    """`1234567` fen → `¥12,345.67` (negative `-¥25.00`), exactly, to the fen: the locale's
    grouping, and ¥ in either language (Babel's English would write CN¥)."""
    return format_decimal(_yuan_of(fen), format="¥#,##0.00", locale=_locale(locale), decimal_quantization=True)


def yuan_short(fen: int, locale: str = ZH) -> str:
    """Chart labels: `¥9.6万`, `¥1.2亿` for Chinese readers, `¥96K`, `¥1.2M` for English ones;
    below ten thousand yuan the whole yuan (`¥960`)."""
    value = _yuan_of(fen)
    sign = "-" if value < 0 else ""
    return f"{sign}¥{_compact(abs(value), locale)}"


def points(count: int, locale: str = ZH) -> str:
    """Points as a full number: `96,000`."""
    return format_decimal(int(count), locale=_locale(locale))


def points_short(count: int, locale: str = ZH) -> str:
    """Points where space is short: `9.6万` (zh_CN), `96K` (en); small counts whole."""
    sign = "-" if count < 0 else ""
    return f"{sign}{_compact(Decimal(abs(int(count))), locale)}"


def _compact(value: Decimal, locale: str) -> str:
    if value < 10_000:  # 万 starts at ten thousand: smaller amounts are read whole
        return format_decimal(value.quantize(Decimal(1)), locale=_locale(locale))
    return format_compact_decimal(value, locale=_locale(locale), fraction_digits=1)


def percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "—"


def account_names(account: str, budget_titles: dict[str, str] | None = None) -> tuple[str, str]:
    """(Chinese, English) for a ledger account. Budget line titles read `保洁 Cleaning`."""
    if account in INCOME_NAMES:
        return INCOME_NAMES[account]
    if account in EXPENSE_NAMES:
        return EXPENSE_NAMES[account]
    code = account.split(":", 1)[-1]
    title = (budget_titles or {}).get(code, "")
    if title:
        zh, _, en = title.partition(" ")
        return zh, en or code.replace("_", " ")
    return code.replace("_", " "), code.replace("_", " ")


def local_time(ts: Timestamp) -> datetime | None:
    if not ts.seconds and not ts.nanos:
        return None
    return ts.ToDatetime(tzinfo=UTC).astimezone(CST)


def date_text(ts: Timestamp) -> str:
    when = local_time(ts)
    return when.strftime("%Y-%m-%d") if when else "—"


def datetime_text(ts: Timestamp) -> str:
    when = local_time(ts)
    return when.strftime("%Y-%m-%d %H:%M") if when else "—"


def today_cst(now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(CST)
