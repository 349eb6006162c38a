"""Roster import: volunteers, families and team memberships from a CSV file, with a report of
every rejected row. Rows are checked first (shape, ids, dates, known teams, duplicates in the
file); then imported all together (ALL_OR_NOTHING: only if every row is good) or one by one
(PER_ROW). Creating what already exists with the same content is accepted, so re-importing a
file changes nothing."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_points.people import create_family, create_volunteer, join_team, team_ids
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import DomainError, InvalidArgument
from linli_runtime.fields import ID
from linli_runtime.times import local_day
from linli_runtime.transactions import run_in_transaction

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000
REQUIRED = ("volunteer_id", "display_name")
KNOWN = (*REQUIRED, "family_id", "family_name", "team_ids", "join_date", "person_id")


def xlsx_to_csv(content: bytes) -> bytes:
    """The first sheet of a workbook as CSV (dates as YYYY-MM-DD, whole numbers without '.0'),
    so both formats go through the same checks."""
    from openpyxl import load_workbook  # type: ignore[import-untyped]  # only roster imports need it

    if len(content) > MAX_BYTES:
        raise InvalidArgument.field("xlsx_content", f"must be at most {MAX_BYTES} bytes")
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise InvalidArgument.field("xlsx_content", "is not an Excel workbook (.xlsx)") from exc
    out = io.StringIO()
    writer = csv.writer(out)
    sheet = book.worksheets[0]
    for count, row in enumerate(sheet.iter_rows(values_only=True)):
        if count > MAX_ROWS:
            raise InvalidArgument.field("xlsx_content", f"must have at most {MAX_ROWS} rows")
        writer.writerow([_cell(value) for value in row])
    book.close()
    return out.getvalue().encode()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass
class RosterRow:
    line: int
    volunteer_id: str
    display_name: str
    family_id: str = ""
    family_name: str = ""
    team_ids: list[str] = field(default_factory=list)
    join_date: date | None = None
    person_id: str = ""


@dataclass
class Rejection:
    line: int
    field: str
    reason: str


@dataclass
class ImportReport:
    rows_total: int = 0
    rows_imported: int = 0
    rejections: list[Rejection] = field(default_factory=list)


def parse(content: bytes, known_teams: set[str], today: date) -> tuple[list[RosterRow], list[Rejection], int]:
    """Rows that passed the checks, the rejections, and how many data rows the file has."""
    if len(content) > MAX_BYTES:
        raise InvalidArgument.field("csv_content", f"must be at most {MAX_BYTES} bytes")
    try:
        text = content.decode("utf-8-sig")  # Excel writes a byte-order mark
    except UnicodeDecodeError:
        raise InvalidArgument.field("csv_content", "must be UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InvalidArgument.field("csv_content", f"the header row lacks {', '.join(missing)}")
    unknown = [c for c in header if c not in KNOWN]
    if unknown:
        raise InvalidArgument.field("csv_content", f"unknown columns {', '.join(unknown)}; known: {', '.join(KNOWN)}")
    good: list[RosterRow] = []
    rejected: list[Rejection] = []
    seen: dict[str, int] = {}
    total = 0
    for raw in reader:
        total += 1
        if total > MAX_ROWS:
            raise InvalidArgument.field("csv_content", f"must have at most {MAX_ROWS} rows")
        line = reader.line_num
        values = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if None in raw:
            rejected.append(Rejection(line, "", "the row has more cells than the header"))
            continue
        problem = _check(values, known_teams, today)
        if problem is not None:
            rejected.append(Rejection(line, *problem))
            continue
        volunteer_id = values["volunteer_id"]
        if volunteer_id in seen:
            rejected.append(Rejection(line, "volunteer_id", f"repeats line {seen[volunteer_id]}"))
            continue
        seen[volunteer_id] = line
        good.append(RosterRow(
            line=line, volunteer_id=volunteer_id, display_name=values["display_name"],
            family_id=values.get("family_id", ""), family_name=values.get("family_name", ""),
            team_ids=[t.strip() for t in values.get("team_ids", "").split(";") if t.strip()],
            join_date=date.fromisoformat(values["join_date"]) if values.get("join_date") else None,
            person_id=values.get("person_id", ""),
        ))
    return good, rejected, total


def _check(values: dict[str, str], known_teams: set[str], today: date) -> tuple[str, str] | None:
    for column in ("volunteer_id", "family_id", "person_id"):
        value = values.get(column, "")
        if (value or column == "volunteer_id") and not ID.match(value):
            return column, "must be 1-64 characters of letters, digits, '.', '_', ':' or '-'"
    for column, value in values.items():
        if "\x00" in value:
            return column, "must not contain NUL characters"
    if not values["display_name"] or len(values["display_name"]) > 100:
        return "display_name", "is required, at most 100 characters"
    if values.get("family_name") and not values.get("family_id"):
        return "family_id", "is required when family_name is given"
    if len(values.get("family_name", "")) > 100:
        return "family_name", "must be at most 100 characters"
    for team in (t.strip() for t in values.get("team_ids", "").split(";") if t.strip()):
        if team not in known_teams:
            return "team_ids", f"team {team!r} does not exist in this community"
    if values.get("join_date"):
        try:
            if len(values["join_date"]) != 10 or date.fromisoformat(values["join_date"]) > today:
                return "join_date", "must be a date written YYYY-MM-DD, not in the future"
        except ValueError:
            return "join_date", "must be a date written YYYY-MM-DD"
    return None


async def _apply(conn: AsyncConnection, *, path: str, row: RosterRow, now: datetime, today: date) -> None:
    if row.family_id:
        await create_family(conn, path, row.family_id, row.family_name or row.family_id, now)
    await create_volunteer(conn, path, row.volunteer_id, row.display_name, person_id=row.person_id,
                           family_id=row.family_id, now=now)
    for team in row.team_ids:
        await join_team(conn, path, team, row.volunteer_id, row.join_date or today)


class Roster:
    """Roster imports into a community, on the service's clock: creation times, and today in
    Asia/Shanghai (the latest join date a row may give, and the join date of a row without one)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def import_csv(self, path: str, content: bytes, *, all_or_nothing: bool) -> ImportReport:
        now = self.clock.now()
        return await import_roster(self.db, path, content, all_or_nothing, now, local_day(now))


async def import_roster(db: Database, path: str, content: bytes, all_or_nothing: bool, now: datetime,
                        today: date) -> ImportReport:
    async with db.engine.connect() as conn:
        known = await team_ids(conn, path)
    rows, rejected, total = parse(content, known, today)
    report = ImportReport(rows_total=total, rejections=rejected)
    if all_or_nothing:
        if rejected:
            return report

        async def everything(conn: AsyncConnection) -> None:
            for row in rows:
                try:
                    await _apply(conn, path=path, row=row, now=now, today=today)
                except DomainError as exc:
                    # Escaping the transaction rolls back every row imported before this one.
                    raise _RowRefused(Rejection(row.line, "", exc.message)) from exc

        try:
            await run_in_transaction(db, everything)
        except _RowRefused as refused:
            report.rejections.append(refused.rejection)
            return report
        report.rows_imported = len(rows)
        return report
    for row in rows:
        try:
            await run_in_transaction(db, partial(_apply, path=path, row=row, now=now, today=today))
            report.rows_imported += 1
        except DomainError as exc:
            report.rejections.append(Rejection(row.line, "", exc.message))
    report.rejections.sort(key=lambda r: r.line)
    return report


class _RowRefused(Exception):
    def __init__(self, rejection: Rejection) -> None:
        self.rejection = rejection
