"""Excel workbooks for roster tests, written part by part: a hostile one (a tiny file whose
sheet claims, or holds cells out to, column XFD — 16 384 columns — on every row), and honest
big ones."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from xml.sax.saxutils import escape

_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'officeDocument" Target="xl/workbook.xml"/></Relationships>'),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'worksheet" Target="worksheets/sheet1.xml"/></Relationships>'),
}


def _column(number: int) -> str:
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def workbook(rows: Sequence[Sequence[str] | dict[int, str]], *, dimension: str | None = None,
             extra: dict[str, bytes] | None = None) -> bytes:
    """A workbook whose first sheet holds `rows` as inline strings; `dimension` is written as
    the sheet's claimed extent when given. Rows may be sparse: {column number: text} dicts."""
    out = io.StringIO()
    out.write('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
              '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')
    if dimension:
        out.write(f'<dimension ref="{dimension}"/>')
    out.write("<sheetData>")
    for r, row in enumerate(rows, start=1):
        cells = row.items() if isinstance(row, dict) else list(enumerate(row, start=1))
        out.write(f'<row r="{r}">')
        for c, value in cells:
            out.write(f'<c r="{_column(c)}{r}" t="inlineStr"><is><t>{escape(value)}</t></is></c>')
        out.write("</row>")
    out.write("</sheetData></worksheet>")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in _PARTS.items():
            archive.writestr(name, text)
        archive.writestr("xl/worksheets/sheet1.xml", out.getvalue())
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def hostile(rows: int = 5000, *, claims_extent: bool = True) -> bytes:
    """~40 KB: every row has a cell in A and one in XFD; with `claims_extent` the sheet also says
    A1:XFD{rows}. Read naively (openpyxl pads each row to the sheet's width) it is 82 million cells."""
    return workbook([{1: "v", 16384: "x"} for _ in range(rows)], dimension=f"A1:XFD{rows}" if claims_extent else None)


def big_roster(rows: int = 5000) -> bytes:
    """An honest workbook at the row limit: every row names a team the community lacks (so it
    is rejected at the checks and nothing is written)."""
    header = ["volunteer_id", "display_name", "family_id", "family_name", "team_ids", "join_date", "person_id"]
    body = [[f"v-{n:05d}", f"志愿者{n}", f"f-{n:05d}", f"家庭{n}", "no-such-team", "", ""] for n in range(rows)]
    return workbook([header, *body], dimension=f"A1:G{rows + 1}")
