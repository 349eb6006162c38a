"""Open data: a dataset — a table with a schema and a licence — written as CSV, JSON or XLSX.

Pure (no service calls): `open_datasets` reads the figures and mounts the URLs. Every format
carries the same three things:

- the rows, one column per schema field, in the schema's order;
- the schema: each field's name, type (Frictionless Table Schema types: string, integer,
  date, datetime), unit where it has one, and a description in Chinese and English — in JSON
  under `schema`, in XLSX on the sheet `schema`, for CSV at `<dataset>.schema.json` (a CSV
  file has no place for it; the response's `Link: <…>; rel="describedby"` points there);
- the licence line — in JSON under `licence`, in XLSX on the sheet `about`, for CSV in the
  `Link: <…>; rel="license"` header and the schema document.

CSV is UTF-8 with a byte-order mark, so spreadsheet programs show the Chinese as Chinese.
Amounts are integer fen (1/100 yuan): exact, and the schema says so.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]

LICENCE = {
    "name": "CC-BY-4.0",
    "path": "https://creativecommons.org/licenses/by/4.0/",
    "title": "Creative Commons Attribution 4.0 International",
}
LICENCE_LINE = ("本数据依 CC BY 4.0 许可开放，可自由使用、转载，请注明来源“邻里平台”。 "
                "Open data under CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/): "
                "use and share it freely, crediting “Linli platform”.")
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # string, integer, date, datetime
    zh: str
    en: str
    unit: str = ""

    def describe(self) -> dict[str, str]:
        found = {"name": self.name, "type": self.type, "description": f"{self.zh} {self.en}"}
        if self.unit:
            found["unit"] = self.unit
        return found


def fen(name: str, zh: str, en: str) -> Field:
    return Field(name, "integer", zh, en, unit="fen (1/100 yuan, 分)")


@dataclass(frozen=True)
class Dataset:
    """One table: `slug` names its file (`disclosures`), `about` says whose it is."""

    slug: str
    title_zh: str
    title_en: str
    fields: Sequence[Field]
    rows: list[dict[str, Any]] = field(default_factory=list)
    about: dict[str, str] = field(default_factory=dict)  # e.g. compound path and name, year

    def schema(self, url: str = "") -> dict[str, Any]:
        """The Table Schema, with the licence line: what `<dataset>.schema.json` serves."""
        return {"title": f"{self.title_zh} {self.title_en}", "fields": [f.describe() for f in self.fields],
                "licence": LICENCE, "licence_line": LICENCE_LINE, **({"data": url} if url else {})}


def to_json(data: Dataset, *, source: str, generated: datetime) -> bytes:
    document = {
        "dataset": data.slug, "title": f"{data.title_zh} {data.title_en}", **data.about, "source": source,
        "generated_at": generated.isoformat(), "licence": LICENCE, "licence_line": LICENCE_LINE,
        "schema": {"fields": [f.describe() for f in data.fields]},
        "rows": [{f.name: row.get(f.name) for f in data.fields} for row in data.rows],
    }
    return json.dumps(document, ensure_ascii=False, indent=2).encode()


def to_csv(data: Dataset) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([f.name for f in data.fields])
    for row in data.rows:
        writer.writerow(["" if row.get(f.name) is None else row[f.name] for f in data.fields])
    return ("\ufeff" + out.getvalue()).encode()


def to_xlsx(data: Dataset, *, source: str, generated: datetime) -> bytes:
    """Three sheets: the data, its schema, and what it is (title, source, licence). CPU work of
    a few milliseconds per thousand rows: callers run it off the event loop."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "data"
    sheet.append([f.name for f in data.fields])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in data.rows:
        sheet.append([row.get(f.name) for f in data.fields])
    sheet.freeze_panes = "A2"
    schema = book.create_sheet("schema")
    schema.append(["name", "type", "unit", "description"])
    for f in data.fields:
        schema.append([f.name, f.type, f.unit, f"{f.zh} {f.en}"])
    about = book.create_sheet("about")
    for key, value in [("title", f"{data.title_zh} {data.title_en}"), *data.about.items(), ("source", source),
                       ("generated_at", generated.isoformat()), ("licence", LICENCE["path"]),
                       ("licence_line", LICENCE_LINE)]:
        about.append([key, value])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
