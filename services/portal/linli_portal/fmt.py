"""How figures read on the pages: money in yuan from integer fen, periods, accounts' names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from google.protobuf.timestamp_pb2 import Timestamp

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


def yuan(fen: int) -> str:
    """`1234567` fen → `¥12,345.67` (negative with a minus sign)."""
    sign = "−" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def yuan_short(fen: int) -> str:
    """Axis labels: `¥96k`, `¥1.2m`."""
    value = fen / 100
    if abs(value) >= 1_000_000:
        return f"¥{value / 1_000_000:.1f}m"
    if abs(value) >= 100_000:
        return f"¥{value / 1_000:.0f}k"
    if abs(value) >= 1_000:
        return f"¥{value / 1_000:.1f}k".replace(".0k", "k")
    return f"¥{value:.0f}"


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
