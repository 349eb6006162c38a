"""`--csv` / `--xlsx` on list commands: the rows are the --json document's list, flattened; the
options come from `@exportable` without the command declaring them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated

import typer
from openpyxl import load_workbook  # type: ignore[import-untyped]
from typer.testing import CliRunner

from linli_cli import export
from linli_cli.output import Json, emit

DOCUMENT = {"community_path": "chengdu/x", "volunteers": [
    {"volunteer_id": "v-1", "display_name": "王秀英, \"小王\"", "points": 35, "team": {"id": "red", "size": 2},
     "tags": ["a", "b"], "joined": None},
    {"volunteer_id": "v-2", "display_name": "李叔", "points": 20, "extra": True},
]}


def test_the_documents_list_becomes_rows_with_dotted_columns() -> None:
    columns, cells, about = export.table(DOCUMENT)
    assert columns == ["volunteer_id", "display_name", "points", "team.id", "team.size", "tags", "joined", "extra"]
    assert cells[0] == ["v-1", "王秀英, \"小王\"", 35, "red", 2, '["a", "b"]', None, None]
    assert about == {"community_path": "chengdu/x"}
    text = export.csv_text(columns, cells)
    assert list(csv.reader(io.StringIO(text)))[1:] == [
        ["v-1", "王秀英, \"小王\"", "35", "red", "2", '["a", "b"]', "", ""],
        ["v-2", "李叔", "20", "", "", "", "", "true"]]
    assert export.rows_of({"a": [{"x": 1}], "b": [{"y": 2}]}, "b")[0] == [{"y": 2}]
    assert export.rows_of({"id": "one"})[0] == [{"id": "one"}], "a single record is one row"
    assert export.csv_text(*export.table({"dead_letters": []})[:2]) == "", "an empty list: an empty file"


def test_exportable_adds_the_options_and_writes_the_files(tmp_path: Path) -> None:
    app = typer.Typer()

    @app.command("list")
    @export.exportable
    def list_(scope: Annotated[str, typer.Argument()], as_json: Json = False) -> None:
        emit(as_json, {**DOCUMENT, "community_path": scope}, lambda out: out.print("a table"))

    @app.command("other")
    def other() -> None:
        pass

    runner = CliRunner()
    assert runner.invoke(app, ["list", "chengdu/x"]).stdout.strip() == "a table"
    done = runner.invoke(app, ["list", "chengdu/y", "--csv", str(tmp_path / "v.csv"), "--xlsx",
                               str(tmp_path / "v.xlsx")])
    assert done.exit_code == 0, done.output
    assert done.stdout == ""
    written = (tmp_path / "v.csv").read_bytes()
    assert written.startswith(b"\xef\xbb\xbf") and "王秀英" in written.decode("utf-8-sig")
    book = load_workbook(tmp_path / "v.xlsx")
    assert [r[0] for r in book["data"].iter_rows(values_only=True)] == ["volunteer_id", "v-1", "v-2"]
    assert dict(book["about"].iter_rows(values_only=True)) == {"community_path": "chengdu/y"}
    piped = runner.invoke(app, ["list", "chengdu/x", "--csv", "-"])
    assert piped.stdout.splitlines()[0] == "volunteer_id,display_name,points,team.id,team.size,tags,joined,extra"
    assert runner.invoke(app, ["list", "chengdu/x", "--xlsx", "-"]).exit_code != 0
    shown = runner.invoke(app, ["list", "chengdu/x", "--json"])
    assert json.loads(shown.stdout)["community_path"] == "chengdu/x", shown.output
