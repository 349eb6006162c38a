"""`linli roster import`: volunteers, families and team memberships from a CSV or XLSX file
(VolunteerService.StreamImportRoster), with a report of every rejected row.

The file goes to the service whole, as it is: the service reads it (UTF-8 or GB18030/GBK CSV,
or a workbook; English or Chinese headers — linli_points.roster_files), within its bounds and
off its request loop, and says which encoding it read. The progress bar counts the rows the
service reports done as it imports them (it streams its progress), so a strict import stays one
transaction and a file's duplicate rows are still found: cutting the file into pieces on this
side would give a bar, but neither of those.

By default the good rows are imported and the bad ones reported (exit 0: the report says what
to fix, and importing the corrected file again is safe — rows already imported are accepted
unchanged). `--strict` imports nothing unless every row is good, and exits 7 when any row was
rejected."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from linli.points.v1 import volunteers_pb2, volunteers_pb2_grpc
from linli_cli import names, session
from linli_cli.errors import CliError, ExitCode, usage
from linli_cli.i18n import _
from linli_cli.output import Json, Token, emit, progress, titled
from linli_cli.roster_reasons import reason
from linli_cli.volunteers import POINTS, Community

app = typer.Typer(help="Import volunteers from a spreadsheet.", no_args_is_help=True)
ENCODINGS = {"UTF-8": "UTF-8", "UTF-8 with BOM": "UTF-8 (BOM)", "GB18030": "GB18030/GBK"}
# The services accept messages up to 8 MiB (linli_runtime.server.SERVER_OPTIONS; a unit test
# keeps the two equal). The file travels in one message with a few other fields, so a file
# this large is refused before it is read: sending it could only fail, after a long upload.
SERVER_MESSAGE_LIMIT = 8 * 1024 * 1024
ENVELOPE = 4 * 1024
MAX_FILE_BYTES = SERVER_MESSAGE_LIMIT - ENVELOPE


def mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


@app.command("import")
def import_roster(community: Community,
                  file: Annotated[Path, typer.Argument(metavar="FILE",
                                                       help="A .csv (UTF-8 or GBK/GB18030, as Excel saves it) "
                                                       "or .xlsx file with a header row: volunteer_id, "
                                                       "display_name[, family_id, family_name, team_ids, "
                                                       "join_date, person_id], or their Chinese names (志愿者编号, "
                                                       "姓名, 家庭编号, 家庭名称, 团队, 加入日期, 人员编号).",
                                                       exists=True, dir_okay=False, readable=True)],
                  strict: Annotated[bool, typer.Option(help="Import nothing unless every row is good; "
                                                       "exit 7 when any row is rejected.")] = False,
                  token: Token = None, as_json: Json = False) -> None:
    """Import a roster file; rejected rows are listed with their line, column and reason.

    The good rows are imported and the command exits 0 with the report (import the corrected
    file again: rows already imported are accepted unchanged). With --strict nothing is
    imported unless every row is good, and any rejected row means exit 7."""
    path = names.org_path(community, "COMMUNITY")
    suffix = file.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise usage(_("FILE: {file} must be a .csv or .xlsx file").format(file=file.name))
    size = file.stat().st_size
    if size > MAX_FILE_BYTES:
        raise usage(_("FILE: {file} is {size}; the service accepts at most {limit} per import (its message "
                      "limit is {message_limit} MiB): split it into smaller files").format(
            file=file.name, size=mib(size), limit=mib(MAX_FILE_BYTES),
            message_limit=SERVER_MESSAGE_LIMIT // (1024 * 1024)))
    content = file.read_bytes()
    mode = volunteers_pb2.IMPORT_MODE_ALL_OR_NOTHING if strict else volunteers_pb2.IMPORT_MODE_PER_ROW
    request = (volunteers_pb2.ImportRosterRequest(community_path=path, csv_content=content, mode=mode)
               if suffix == ".csv" else
               volunteers_pb2.ImportRosterRequest(community_path=path, xlsx_content=content, mode=mode))

    async def work() -> volunteers_pb2.ImportRosterResponse:
        async with session.client(POINTS, token) as c:
            stub = c.stub(volunteers_pb2_grpc.VolunteerServiceStub)
            with progress(not as_json) as bar:
                task = bar.add_task(_("reading {file}").format(file=file.name), total=None)
                report = None
                async for step in c.stream(stub.StreamImportRoster,
                                           volunteers_pb2.StreamImportRosterRequest(roster=request), timeout=300):
                    bar.update(task, total=step.rows_total, completed=step.rows_done,
                               description=_("importing {file}").format(file=file.name))
                    if step.HasField("report"):
                        report = step.report
                if report is None:
                    raise CliError(_("the service ended the import without a report: import the file again "
                                     "(rows already imported are accepted unchanged)"), ExitCode.UNAVAILABLE)
                bar.update(task, description=_("imported {imported} of {total} rows").format(
                    imported=report.rows_imported, total=report.rows_total))
            return report  # type: ignore[no-any-return]

    r = session.run(work())
    data = {"community_path": path, "file": str(file), "mode": "all_or_nothing" if strict else "per_row",
            "encoding": r.encoding, "rows_total": r.rows_total, "rows_imported": r.rows_imported,
            "rows_rejected": len(r.rejections),
            "rejections": [{"line": x.line, "field": x.field, "reason": x.reason} for x in r.rejections]}

    def render(out: Console) -> None:
        nothing = _(" (nothing imported: --strict)") if strict and r.rejections else ""
        read_as = (_(" (read as {encoding})").format(encoding=ENCODINGS.get(r.encoding, r.encoding))
                   if r.encoding else "")
        out.print(_("{file} → {path}: [bold]{imported}[/] of {total} rows imported, {rejected} rejected").format(
            file=file.name, path=path, imported=r.rows_imported, total=r.rows_total, rejected=len(r.rejections))
                  + nothing + read_as)
        if r.rejections:
            table = titled(_("rejected rows"))
            for column in ("line", "column", "reason"):
                table.add_column(column, justify="right" if column == "line" else "left")
            for x in r.rejections:
                table.add_row(str(x.line), x.field or "-", reason(x.reason))
            out.print(table)

    emit(as_json, data, render)
    if strict and r.rejections:
        first = r.rejections[0]
        raise CliError(_("{count} row(s) rejected, nothing imported (first: line {line} {column}: {reason})").format(
            count=len(r.rejections), line=first.line, column=first.field, reason=reason(first.reason)),
                       ExitCode.CHECK_FAILED)
