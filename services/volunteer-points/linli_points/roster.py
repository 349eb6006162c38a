"""Roster import: volunteers, families and team memberships from a CSV file or an Excel
workbook, with a report of every rejected row. The file is read and its rows checked (shape,
ids, dates, known teams, duplicates in the file) in a worker process, within bounds
(roster_files.py, workers.py); the good rows are then imported all together (ALL_OR_NOTHING:
only if every row is good) or one by one (PER_ROW). Creating what already exists with the same
content is accepted, so re-importing a file changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_points.people import create_family, create_volunteer, join_team, team_ids
from linli_points.roster_files import Parsed, Rejection, RosterRow, parse_file, precheck
from linli_points.workers import Workers
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import DomainError
from linli_runtime.times import local_day
from linli_runtime.transactions import run_in_transaction

# Told (rows done, rows in the file) once the file is read and after every row imported or
# refused, for a person watching a long import (VolunteerService.StreamImportRoster).
Progress = Callable[[int, int], None]


def _no_progress(done: int, total: int) -> None:
    pass


@dataclass
class ImportReport:
    rows_total: int = 0
    rows_imported: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    encoding: str = ""  # the CSV text's, as roster_files.decode read it; empty for a workbook


async def _apply(conn: AsyncConnection, *, path: str, row: RosterRow, now: datetime, today: date) -> None:
    if row.family_id:
        await create_family(conn, path, row.family_id, row.family_name or row.family_id, now)
    await create_volunteer(conn, path, row.volunteer_id, row.display_name, person_id=row.person_id,
                           family_id=row.family_id, now=now)
    for team in row.team_ids:
        await join_team(conn, path, team, row.volunteer_id, row.join_date or today)


class Roster:
    """Roster imports into a community, on the service's clock: creation times, and today in
    Asia/Shanghai (the latest join date a row may give, and the join date of a row without one).
    Files are read by `workers`, off the event loop."""

    def __init__(self, db: Database, clock: Clock, workers: Workers) -> None:
        self.db = db
        self.clock = clock
        self.workers = workers

    async def import_file(self, path: str, content: bytes, field_name: str, *, workbook: bool,
                          all_or_nothing: bool, progress: Progress | None = None) -> ImportReport:
        """Import a roster that came in the request field `field_name` (named by any refusal)."""
        if workbook:
            precheck(content, field_name)  # what costs nothing is refused now, not after waiting for a worker
        now = self.clock.now()
        today = local_day(now)
        async with self.db.engine.connect() as conn:
            known = await team_ids(conn, path)
        parsed = await self.workers.run(parse_file, content, field_name, known, today, workbook=workbook)
        return await import_rows(self.db, path, parsed, all_or_nothing, now, today, progress or _no_progress)


async def import_rows(db: Database, path: str, parsed: Parsed, all_or_nothing: bool, now: datetime,
                      today: date, progress: Progress = _no_progress) -> ImportReport:
    rows, rejected = parsed.rows, list(parsed.rejections)
    report = ImportReport(rows_total=parsed.total, rejections=rejected, encoding=parsed.encoding)
    done = len(rejected)  # the rows refused while the file was read
    progress(done, parsed.total)
    if all_or_nothing:
        if rejected:
            progress(parsed.total, parsed.total)
            return report

        async def everything(conn: AsyncConnection) -> None:
            for number, row in enumerate(rows, start=1):
                try:
                    await _apply(conn, path=path, row=row, now=now, today=today)
                except DomainError as exc:
                    # Escaping the transaction rolls back every row imported before this one.
                    raise _RowRefused(Rejection(row.line, "", exc.message)) from exc
                progress(number, parsed.total)  # a retried transaction starts again from 1

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
        done += 1
        progress(done, parsed.total)
    report.rejections.sort(key=lambda r: r.line)
    return report


class _RowRefused(Exception):
    def __init__(self, rejection: Rejection) -> None:
        self.rejection = rejection
