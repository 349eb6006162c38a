"""`linli roster import`: volunteers, families and team memberships from a CSV or XLSX file
(VolunteerService.ImportRoster), with a report of every rejected row.

By default the good rows are imported and the bad ones reported (exit 0: the report says what
to fix, and importing the corrected file again is safe — rows already imported are accepted
unchanged). `--strict` imports nothing unless every row is good, and exits 7 when any row was
rejected."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from linli.points.v1 import volunteers_pb2, volunteers_pb2_grpc
from linli_cli import names, session
from linli_cli.errors import CliError, ExitCode, usage
from linli_cli.output import Json, Token, emit, progress, titled
from linli_cli.volunteers import POINTS, Community

app = typer.Typer(help="Import volunteers from a spreadsheet.", no_args_is_help=True)
# The services accept messages up to 8 MiB (linli_runtime.server.SERVER_OPTIONS; a unit test
# keeps the two equal). The file travels in one message with a few other fields, so a file
# this large is refused before it is read: sending it could only fail, after a long upload.
SERVER_MESSAGE_LIMIT = 8 * 1024 * 1024
ENVELOPE = 4 * 1024
MAX_FILE_BYTES = SERVER_MESSAGE_LIMIT - ENVELOPE


def mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def data_rows(content: bytes) -> int | None:
    """Rows below the header of a CSV file, for the progress bar (None when unreadable: the
    service reports why)."""
    try:
        return max(sum(1 for _ in csv.reader(io.StringIO(content.decode("utf-8-sig")))) - 1, 0)
    except (UnicodeDecodeError, csv.Error):
        return None


@app.command("import")
def import_roster(community: Community,
                  file: Annotated[Path, typer.Argument(metavar="FILE",
                                                       help="A .csv (UTF-8) or .xlsx file with a header row: "
                                                       "volunteer_id, display_name[, family_id, family_name, "
                                                       "team_ids, join_date, person_id].",
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
        raise usage(f"FILE: {file.name} must be a .csv or .xlsx file")
    size = file.stat().st_size
    if size > MAX_FILE_BYTES:
        raise usage(f"FILE: {file.name} is {mib(size)}; the service accepts at most {mib(MAX_FILE_BYTES)} "
                    f"per import (its message limit is {SERVER_MESSAGE_LIMIT // (1024 * 1024)} MiB): "
                    "split it into smaller files")
    content = file.read_bytes()
    mode = volunteers_pb2.IMPORT_MODE_ALL_OR_NOTHING if strict else volunteers_pb2.IMPORT_MODE_PER_ROW
    request = (volunteers_pb2.ImportRosterRequest(community_path=path, csv_content=content, mode=mode)
               if suffix == ".csv" else
               volunteers_pb2.ImportRosterRequest(community_path=path, xlsx_content=content, mode=mode))

    async def work() -> volunteers_pb2.ImportRosterResponse:
        async with session.client(POINTS, token) as c:
            stub = c.stub(volunteers_pb2_grpc.VolunteerServiceStub)
            with progress(not as_json) as bar:
                rows = data_rows(content) if suffix == ".csv" else None
                task = bar.add_task(f"importing {file.name}", total=rows)
                reply = await c.call(stub.ImportRoster, request, timeout=120)
                bar.update(task, total=reply.rows_total, completed=reply.rows_total,
                           description=f"imported {reply.rows_imported} of {reply.rows_total} rows")
            return reply  # type: ignore[no-any-return]

    r = session.run(work())
    data = {"community_path": path, "file": str(file), "mode": "all_or_nothing" if strict else "per_row",
            "rows_total": r.rows_total, "rows_imported": r.rows_imported, "rows_rejected": len(r.rejections),
            "rejections": [{"line": x.line, "field": x.field, "reason": x.reason} for x in r.rejections]}

    def render(out: Console) -> None:
        nothing = " (nothing imported: --strict)" if strict and r.rejections else ""
        out.print(f"{file.name} → {path}: [bold]{r.rows_imported}[/] of {r.rows_total} rows imported, "
                  f"{len(r.rejections)} rejected{nothing}")
        if r.rejections:
            table = titled("rejected rows")
            for column in ("line", "column", "reason"):
                table.add_column(column, justify="right" if column == "line" else "left")
            for x in r.rejections:
                table.add_row(str(x.line), x.field or "-", x.reason)
            out.print(table)

    emit(as_json, data, render)
    if strict and r.rejections:
        raise CliError(f"{len(r.rejections)} row(s) rejected, nothing imported (first: line "
                       f"{r.rejections[0].line} {r.rejections[0].field}: {r.rejections[0].reason})",
                       ExitCode.CHECK_FAILED)
