"""`--csv FILE` and `--xlsx FILE` on every list command: the list an operator sees, as a file.

A list command is marked `@exportable` (under its `@app.command`); the mark adds the two options
and, when one is given, `output.emit` hands the command's JSON document here instead of printing
a table. The rows are what `--json` shows — the same stable snake_case keys, amounts in integer
fen or points, times in China time with the offset — one row per item of the document's list
(`rows_key` names it when the document holds several), nested fields flattened to dotted
columns (`reconciliation.balanced`) and lists written as JSON. `--csv -` writes to stdout.
CSV files are UTF-8 with a byte-order mark (spreadsheet programs then read the Chinese as
Chinese); an XLSX file has the rows on the sheet `data` and what the document says besides
(the community, the period…) on the sheet `about`.
"""

from __future__ import annotations

import csv
import functools
import inspect
import io
import json
import sys
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar, overload

import typer

from linli_cli.errors import CliError, ExitCode, usage
from linli_cli.i18n import _, ngettext

F = TypeVar("F", bound=Callable[..., Any])


Rows = Callable[[Any], list[dict[str, Any]]]


@dataclass(frozen=True)
class Target:
    csv: str | None = None
    xlsx: str | None = None
    rows_key: str = ""
    rows: Rows | None = None  # how to read rows out of a document that is not a list (the org tree)

    @property
    def wanted(self) -> bool:
        return bool(self.csv or self.xlsx)


# What the running command was asked to export (set by `@exportable`, read by `output.emit`).
requested: ContextVar[Target | None] = ContextVar("linli_export", default=None)

CsvOption = Annotated[str | None, typer.Option(
    "--csv", metavar="FILE", help="Write the list as CSV to FILE ('-' for stdout) instead of a table.")]
XlsxOption = Annotated[str | None, typer.Option(
    "--xlsx", metavar="FILE", help="Write the list as an Excel workbook to FILE instead of a table.")]


@overload
def exportable(command: F) -> F: ...


@overload
def exportable(*, rows_key: str = "", rows: Rows | None = None) -> Callable[[F], F]: ...


def exportable(command: F | None = None, *, rows_key: str = "", rows: Rows | None = None) -> Any:
    """Mark a list command: it gains `--csv FILE` and `--xlsx FILE`. `rows_key` names the list
    in its JSON document when there are several; `rows` reads the rows out of one that nests
    them (a tree)."""

    def mark(func: F) -> F:
        signature = inspect.signature(func, eval_str=True)  # the module may postpone its annotations

        @functools.wraps(func)
        def wrapper(*args: Any, csv_file: str | None = None, xlsx_file: str | None = None, **kwargs: Any) -> Any:
            if xlsx_file == "-":
                raise usage(_("--xlsx: a workbook needs a file name (--csv - writes to stdout)"))
            token = requested.set(Target(csv_file, xlsx_file, rows_key, rows))
            try:
                return func(*args, **kwargs)
            finally:
                requested.reset(token)

        extra = [inspect.Parameter("csv_file", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=CsvOption),
                 inspect.Parameter("xlsx_file", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=XlsxOption)]
        wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*signature.parameters.values(), *extra])
        wrapper.__annotations__ = {**func.__annotations__, "csv_file": CsvOption, "xlsx_file": XlsxOption}
        return wrapper  # type: ignore[return-value]

    return mark(command) if command is not None else mark


def rows_of(document: Any, rows_key: str = "") -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(the rows, what else the document says) of a command's JSON document."""
    if isinstance(document, list):
        return [r if isinstance(r, dict) else {"value": r} for r in document], {}
    if not isinstance(document, dict):
        return [{"value": document}], {}
    lists = [k for k, v in document.items() if isinstance(v, list)]
    key = rows_key or (lists[0] if len(lists) == 1 else "")
    if not key:
        return [document], {}  # one record: one row
    rows = [r if isinstance(r, dict) else {"value": r} for r in document[key]]
    about = {k: v for k, v in document.items() if k != key}
    return rows, about


def flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested fields as dotted columns; lists as JSON text; None as empty."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            flat[name] = json.dumps(value, ensure_ascii=False)
        else:
            flat[name] = value
    return flat


def table(document: Any, rows_key: str = "") -> tuple[list[str], list[list[Any]], dict[str, Any]]:
    """(columns in first-seen order, cells, about) for a JSON document."""
    rows, about = rows_of(document, rows_key)
    flat = [flatten(r) for r in rows]
    columns: list[str] = []
    for r in flat:
        columns += [c for c in r if c not in columns]
    return columns, [[r.get(c) for c in columns] for r in flat], flatten(about)


def csv_text(columns: list[str], cells: list[list[Any]]) -> str:
    if not columns:
        return ""  # an empty list names no columns: an empty file, not a blank line
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in cells:
        writer.writerow(["" if v is None else ("true" if v is True else "false" if v is False else v) for v in row])
    return out.getvalue()


def xlsx_bytes(columns: list[str], cells: list[list[Any]], about: dict[str, Any]) -> bytes:
    from openpyxl import Workbook  # type: ignore[import-untyped]  # only exports need it
    from openpyxl.styles import Font  # type: ignore[import-untyped]

    book = Workbook()
    sheet = book.active
    sheet.title = "data"
    sheet.append(columns)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in cells:
        sheet.append(row)
    sheet.freeze_panes = "A2"
    if about:
        extra = book.create_sheet("about")
        for key, value in about.items():
            extra.append([key, value])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def tree_rows(root: Any) -> list[dict[str, Any]]:
    """A tree of `children` as one row per node, depth first, with its depth (the root's is 0)."""
    found: list[dict[str, Any]] = []

    def walk(node: dict[str, Any], depth: int) -> None:
        found.append({"depth": depth, **{k: v for k, v in node.items() if k != "children"}})
        for child in node.get("children", []):
            walk(child, depth + 1)

    walk(root, 0)
    return found


def write(document: Any, target: Target) -> None:
    """Write the export(s) `target` asks for; a note on stderr says where, when it is a terminal."""
    if target.rows is not None:
        document = target.rows(document)
    columns, cells, about = table(document, target.rows_key)
    try:
        if target.csv == "-":
            sys.stdout.write(csv_text(columns, cells))
        elif target.csv:
            Path(target.csv).write_text("\ufeff" + csv_text(columns, cells), encoding="utf-8")
        if target.xlsx:
            Path(target.xlsx).write_bytes(xlsx_bytes(columns, cells, about))
    except OSError as exc:
        raise CliError(_("cannot write {file}: {reason}").format(file=exc.filename, reason=exc.strerror),
                       ExitCode.FAILED) from None
    from linli_cli.output import note

    for name in (target.csv, target.xlsx):
        if name and name != "-":
            note(ngettext("wrote {count} row to {file}", "wrote {count} rows to {file}", len(cells)).format(
                count=len(cells), file=name))
