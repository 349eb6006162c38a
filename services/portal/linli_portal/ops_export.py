"""The operator page's download of every community (`ops_view.export_rows`): CSV written a
few hundred rows at a time as the response streams (UTF-8 with a byte-order mark, so that
spreadsheet programs show the Chinese as Chinese, as the open data is written), or an Excel
workbook (openpyxl's write-only mode: rows go straight to the file; CPU work, run off the
event loop by the route)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from openpyxl import Workbook  # type: ignore[import-untyped]

from linli_portal.ops_view import EXPORT_COLUMNS

ROWS_PER_CHUNK = 500


def to_csv(rows: Iterable[list[object]]) -> Iterator[bytes]:
    """The header (machine names, then a row of the Chinese and English titles would break
    readers that take the first row as names: the titles are in the workbook only), then the
    rows, in chunks."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write("\ufeff")
    writer.writerow([name for name, _ in EXPORT_COLUMNS])
    for i, row in enumerate(rows, start=1):
        writer.writerow(row)
        if i % ROWS_PER_CHUNK == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


def to_xlsx(rows: list[list[object]]) -> bytes:
    """One sheet: a row of titles (中文 English), then the rows."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("communities")
    sheet.freeze_panes = "A2"
    sheet.append([title for _, title in EXPORT_COLUMNS])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
