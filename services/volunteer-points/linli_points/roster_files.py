"""Reading a roster file — a CSV file or an Excel workbook — into rows and rejections.

Pure functions of the file's bytes, free of the database and of gRPC, so that they run in a
worker process (workers.py) and never on the service's event loop: a workbook is a zip of XML
that can expand far beyond its size, and even a bounded one costs openpyxl a second or more.

Bounds, each checked before the work it protects and refused with INVALID_ARGUMENT naming the
field the file came in and the limit:

- the file: at most `MAX_BYTES` (2 MiB);
- a workbook unpacked: at most `MAX_UNPACKED` bytes of parts (read from the zip's directory,
  before anything is inflated);
- the first sheet's extent: at most a header and `MAX_ROWS` rows, `MAX_COLUMNS` columns — a
  sheet out to column XFD on 5,000 rows is 82 million cells once openpyxl pads its rows. The
  extent the sheet claims (its `<dimension>`) is refused first; the first three checks cost next
  to nothing and `precheck` runs them on the request loop, before a file waits its turn for a
  worker. Then the extent its cells really reach is measured by one streaming pass over the
  sheet's XML that keeps two numbers (`sheet_extent`), never by openpyxl, which pads every row
  to its widest cell while it counts (35 s for a 700 KB workbook without a `<dimension>`), and
  whose reader trusts a claimed extent that may be short of the data;
- rows are then streamed with openpyxl's read-only reader within that measured extent: each
  cell at most `MAX_CELL_CHARS` characters, the CSV they make at most `MAX_BYTES`.

A workbook becomes CSV text (dates as YYYY-MM-DD, whole numbers without '.0') so that both
formats go through the same row checks.

CSV text is read as Chinese offices save it: UTF-8 (with Excel's byte-order mark or without),
else GB18030 — Excel's "CSV" on a Chinese Windows writes GBK, which GB18030 contains. The order
is strict, not a guess: a GBK file is almost never valid UTF-8 (its two-byte characters break
UTF-8's continuation rules), while any UTF-8 file would also "decode" as GB18030 into nonsense,
so UTF-8 is tried first and the encoding read is reported back (`Parsed.encoding`).

Headers may be the English column names or their Chinese names (`HEADER_ALIASES`, one table),
in any case, with spaces, hyphens or underscores; a rejection names the column as the file
writes it.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import IO
from xml.parsers import expat

from linli_runtime.errors import InvalidArgument
from linli_runtime.fields import ID

MAX_BYTES = 2 * 1024 * 1024
MAX_UNPACKED = 32 * 1024 * 1024
MAX_ROWS = 5000
MAX_COLUMNS = 64  # A … BL: the roster's 7 columns and room for a sheet's stray ones
MAX_CELL_CHARS = 1000
REQUIRED = ("volunteer_id", "display_name")
KNOWN = (*REQUIRED, "family_id", "family_name", "team_ids", "join_date", "person_id")
# Every name a roster's header may give a column, by the column it means: the English name
# itself, spelled loosely, and the Chinese names offices use. Compared after `header_key`. A bare
# "id" is not one: on a Chinese roster it is as likely the ID card number (身份证号) as ours.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "volunteer_id": ("volunteer_id", "volunteer", "志愿者编号", "志愿者id", "志愿者号", "编号"),
    "display_name": ("display_name", "name", "姓名", "名字", "志愿者姓名", "显示名"),
    "family_id": ("family_id", "family", "家庭编号", "家庭id", "家庭号", "户号"),
    "family_name": ("family_name", "家庭名称", "家庭名", "家庭"),
    "team_ids": ("team_ids", "team_id", "teams", "team", "团队", "团队编号", "队伍", "队伍编号", "所属团队"),
    "join_date": ("join_date", "joined", "加入日期", "入队日期", "加入时间"),
    "person_id": ("person_id", "person", "人员编号", "居民编号"),
}
UTF8, UTF8_BOM, GB18030 = "UTF-8", "UTF-8 with BOM", "GB18030"


def header_key(text: str) -> str:
    """A header cell as the aliases are compared: trimmed (full-width spaces too), lower case,
    spaces and hyphens as underscores. `Volunteer ID` → `volunteer_id`, `姓名 ` → `姓名`."""
    key = text.replace("\u3000", " ").strip().lower()
    return re.sub(r"[\s\-]+", "_", key)


ALIASES: dict[str, str] = {header_key(alias): column for column, names in HEADER_ALIASES.items() for alias in names}


def chinese_name(column: str) -> str:
    """The first Chinese name of a column (`display_name` → 姓名)."""
    return next(alias for alias in HEADER_ALIASES[column] if not alias.isascii())


def column_for(header: str) -> str | None:
    """The roster column a header cell names, or None."""
    return ALIASES.get(header_key(header))


def decode(content: bytes, field_name: str = "csv_content") -> tuple[str, str]:
    """(the text, the encoding read): UTF-8 with or without a byte-order mark, else GB18030."""
    if content.startswith(b"\xef\xbb\xbf"):
        try:
            return content[3:].decode("utf-8"), UTF8_BOM
        except UnicodeDecodeError:
            raise InvalidArgument.field(field_name, "starts with a UTF-8 byte-order mark but is not UTF-8 "
                                                    "text") from None
    try:
        return content.decode("utf-8"), UTF8
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("gb18030"), GB18030
    except UnicodeDecodeError:
        raise InvalidArgument.field(field_name, "is neither UTF-8 nor GB18030/GBK text: save it as CSV (UTF-8) or "
                                                "as an Excel workbook") from None
# A workbook is a zip file; a workbook sent as CSV (before `xlsx_content` existed) starts so.
ZIP_MAGIC = b"PK\x03\x04"


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


@dataclass(frozen=True)
class Parsed:
    """Rows that passed the checks, the rejections, how many data rows the file has, and the
    encoding its text was read in (empty for a workbook)."""

    rows: list[RosterRow]
    rejections: list[Rejection]
    total: int
    encoding: str = ""


def parse_file(content: bytes, field_name: str, known_teams: set[str], today: date, *, workbook: bool) -> Parsed:
    """Check and read a roster file that came in `field_name` (a workbook or CSV text)."""
    if workbook:
        return replace(parse(xlsx_to_csv(content, field_name), known_teams, today, field_name), encoding="")
    return parse(content, known_teams, today, field_name)


def column_letters(number: int) -> str:
    """1 → A, 64 → BL, 16384 → XFD."""
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _refusal(field_name: str, description: str) -> InvalidArgument:
    return InvalidArgument.field(field_name, description, reason="ROSTER_FILE_TOO_LARGE")


def _extent_refusal(field_name: str, rows: int, columns: int) -> InvalidArgument | None:
    if rows <= MAX_ROWS + 1 and columns <= MAX_COLUMNS:
        return None
    return _refusal(
        field_name,
        f"the first sheet spans A1:{column_letters(columns)}{rows} ({rows} rows × {columns} columns); a roster may "
        f"have at most {MAX_ROWS + 1} rows (a header and {MAX_ROWS} volunteers) and {MAX_COLUMNS} columns "
        f"(A–{column_letters(MAX_COLUMNS)}) — delete the empty rows and columns beyond the data")


_FIRST_SHEET = re.compile(rb"<(?:\w+:)?sheet\b[^>]*?\b(?:\w+:)?id=\"([^\"]+)\"")
_RELATIONSHIP = re.compile(rb"<(?:\w+:)?Relationship\b[^>]*>")
_ATTRIBUTE = re.compile(rb"\b(Id|Target)=\"([^\"]+)\"")
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\b[^>]*?\bref=\"(?:[A-Z]+\d+:)?([A-Z]+)(\d+)\"")
_HEAD = 64 * 1024  # of a sheet's XML: where its <dimension> is


def precheck(content: bytes, field_name: str = "xlsx_content") -> None:
    """The checks that cost next to nothing, for the request loop itself, so that a hostile file
    is refused at once rather than after waiting its turn for a worker: the file's size, the
    zip directory's unpacked sizes, and the extent the first sheet claims (read from the first
    64 KiB of its XML). What the sheet's cells really reach `xlsx_to_csv` measures, in a worker."""
    if len(content) > MAX_BYTES:
        raise _refusal(field_name, f"must be at most {MAX_BYTES} bytes (this file has {len(content)})")
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            parts = {part.filename: part for part in archive.infolist()}
            unpacked = sum(part.file_size for part in parts.values())
            if unpacked > MAX_UNPACKED:
                raise _refusal(field_name, f"unpacks to {unpacked // (1024 * 1024)} MiB; a roster workbook may "
                                           f"unpack to at most {MAX_UNPACKED // (1024 * 1024)} MiB")
            sheet = _first_sheet(archive, parts)
            if sheet is None:
                return
            with archive.open(sheet) as stream:
                head = stream.read(_HEAD)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError):
        raise InvalidArgument.field(field_name, "is not an Excel workbook (.xlsx)") from None
    extent = _DIMENSION.search(head)
    if extent is not None:
        refused = _extent_refusal(field_name, int(extent.group(2)), _column_number(extent.group(1).decode()))
        if refused is not None:
            raise refused


def _first_sheet(archive: zipfile.ZipFile, parts: dict[str, zipfile.ZipInfo]) -> str | None:
    """The part name of the workbook's first sheet, read as openpyxl would (the first <sheet> of
    xl/workbook.xml through its relationship); None when the workbook is laid out otherwise."""
    book, rels = parts.get("xl/workbook.xml"), parts.get("xl/_rels/workbook.xml.rels")
    if book is None or rels is None or book.file_size > _HEAD * 16 or rels.file_size > _HEAD * 16:
        return None
    first = _FIRST_SHEET.search(archive.read(book))
    if first is None:
        return None
    for relationship in _RELATIONSHIP.findall(archive.read(rels)):
        attributes = dict(_ATTRIBUTE.findall(relationship))
        if attributes.get(b"Id") == first.group(1) and b"Target" in attributes:
            target = attributes[b"Target"].decode()
            name = target.lstrip("/") if target.startswith("/") else "xl/" + target
            return name if name in parts else None
    return None


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


_CELL_REFERENCE = re.compile(r"([A-Z]{1,3})([0-9]{1,7})")


class _Malformed(ValueError):
    """The sheet's XML is not a worksheet's."""


def sheet_extent(stream: IO[bytes]) -> tuple[int, int]:
    """(rows, columns) that a worksheet's cells reach, from one streaming pass over its XML
    (`<row r=…>` and `<c r=…>`, positions counted where they are left out, as openpyxl does);
    only rows with a cell count. Nothing is kept but the numbers: no row is padded, no tree built."""
    rows = columns = row = column = 0

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal rows, columns, row, column
        local = name.rpartition(":")[2]
        if local == "row":
            number = attributes.get("r")
            row = int(number) if number is not None and number.isdigit() else row + 1
            column = 0
        elif local == "c":
            reference = attributes.get("r")
            if reference is None:
                column += 1
            else:
                parts = _CELL_REFERENCE.fullmatch(reference)
                if parts is None:
                    raise _Malformed(reference)
                column = _column_number(parts.group(1))
            rows, columns = max(rows, row), max(columns, column)

    def no_doctype(*_: object) -> None:
        raise _Malformed("a worksheet has no document type declaration")

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = no_doctype  # no entities to expand, however defined
    parser.ParseFile(stream)
    return rows, columns


def _check_extent(content: bytes, part: str, field_name: str) -> tuple[int, int]:
    """The extent the cells of the sheet in `part` reach, refused beyond the limits."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive, archive.open(part) as stream:
            rows, columns = sheet_extent(stream)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, expat.ExpatError, ValueError):
        raise InvalidArgument.field(field_name, "is not an Excel workbook (.xlsx): its first sheet cannot be "
                                                "read") from None
    refused = _extent_refusal(field_name, rows, columns)
    if refused is not None:
        raise refused
    return rows, columns


def xlsx_to_csv(content: bytes, field_name: str = "xlsx_content") -> bytes:
    """The first sheet of a workbook as CSV, within the bounds above."""
    precheck(content, field_name)
    # The first sheet measured before openpyxl opens the workbook: opening a sheet without a
    # <dimension> costs openpyxl a pass over all of it, to look for one.
    part = _first_sheet_of(content)
    extent = _check_extent(content, part, field_name) if part is not None else None
    from openpyxl import load_workbook  # type: ignore[import-untyped]  # only roster imports need it

    try:
        # read-only: rows are read only when iterated
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise InvalidArgument.field(field_name, "is not an Excel workbook (.xlsx)") from exc
    try:
        if not book.worksheets:
            raise InvalidArgument.field(field_name, "has no sheet")
        sheet = book.worksheets[0]
        # What is measured must be what is read: the part openpyxl reads for this sheet (its
        # read-only sheet's path), measured again if it is not the one found above.
        read = getattr(sheet, "_worksheet_path", None) or part
        if read is None:
            raise InvalidArgument.field(field_name, "is not an Excel workbook (.xlsx): its first sheet cannot be "
                                                    "found")
        if extent is None or read != part:
            extent = _check_extent(content, read, field_name)
        rows, columns = extent
        if rows == 0:
            return b""  # no cells: the row checks say the header is missing
        out = io.StringIO()
        writer = csv.writer(out)
        # Within the measured extent, not the one the sheet claims: a short claim would drop rows.
        for number, row in enumerate(sheet.iter_rows(min_row=1, max_row=rows, max_col=columns, values_only=True),
                                     start=1):
            cells = [_cell(value) for value in row]
            while cells and not cells[-1]:
                cells.pop()  # a sheet's rows are padded to its widest: the padding is not data
            for column, value in enumerate(cells, start=1):
                if len(value) > MAX_CELL_CHARS:
                    raise _refusal(field_name, f"cell {column_letters(column)}{number} holds {len(value)} "
                                               f"characters; at most {MAX_CELL_CHARS}")
            writer.writerow(cells)
            if out.tell() > MAX_BYTES:
                raise _refusal(field_name, f"holds more than {MAX_BYTES} bytes of text")
        return out.getvalue().encode()
    finally:
        book.close()


def _first_sheet_of(content: bytes) -> str | None:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return _first_sheet(archive, {part.filename: part for part in archive.infolist()})


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


def parse(content: bytes, known_teams: set[str], today: date, field_name: str = "csv_content") -> Parsed:
    """The rows of CSV text (a workbook's, converted) checked one by one."""
    if len(content) > MAX_BYTES:
        raise InvalidArgument.field(field_name, f"must be at most {MAX_BYTES} bytes")
    text, encoding = decode(content, field_name)
    reader = csv.reader(io.StringIO(text))
    try:
        written = [h.strip() for h in next(reader, [])]
    except csv.Error as exc:
        raise InvalidArgument.field(field_name, f"is not readable as CSV ({exc})") from None
    header = _columns(written, field_name)
    shown = dict(zip(header, written, strict=True))  # a column as the file writes it
    good: list[RosterRow] = []
    rejected: list[Rejection] = []
    seen: dict[str, int] = {}
    total = 0
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # a blank line, as csv.DictReader skips them
            total += 1
            if total > MAX_ROWS:
                raise InvalidArgument.field(field_name, f"must have at most {MAX_ROWS} rows")
            line = reader.line_num
            if len(cells) > len(header):
                rejected.append(Rejection(line, "", "the row has more cells than the header"))
                continue
            values = {column: (cells[i] if i < len(cells) else "").strip() for i, column in enumerate(header)}
            problem = _check(values, known_teams, today)
            if problem is not None:
                rejected.append(Rejection(line, shown.get(problem[0], problem[0]), problem[1]))
                continue
            volunteer_id = values["volunteer_id"]
            if volunteer_id in seen:
                rejected.append(Rejection(line, shown["volunteer_id"], f"repeats line {seen[volunteer_id]}"))
                continue
            seen[volunteer_id] = line
            good.append(RosterRow(
                line=line, volunteer_id=volunteer_id, display_name=values["display_name"],
                family_id=values.get("family_id", ""), family_name=values.get("family_name", ""),
                team_ids=[t.strip() for t in values.get("team_ids", "").split(";") if t.strip()],
                join_date=date.fromisoformat(values["join_date"]) if values.get("join_date") else None,
                person_id=values.get("person_id", ""),
            ))
    except csv.Error as exc:
        raise InvalidArgument.field(field_name, f"is not readable as CSV at line {reader.line_num} ({exc})") from None
    return Parsed(good, rejected, total, encoding)


def _columns(written: list[str], field_name: str) -> list[str]:
    """The roster column of each header cell (English or Chinese names, `HEADER_ALIASES`)."""
    columns: list[str] = []
    unknown: list[str] = []
    for cell in written:
        column = column_for(cell)
        if column is None:
            unknown.append(cell or "(empty)")
        elif column in columns:
            first = written[columns.index(column)]
            raise InvalidArgument.field(field_name, f"the columns {first} and {cell} both mean {column}")
        columns.append(column or cell)
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise InvalidArgument.field(field_name, f"the header row lacks {', '.join(missing)} "
                                                f"({', '.join(chinese_name(c) for c in missing)})")
    if unknown:
        raise InvalidArgument.field(field_name, f"unknown columns {', '.join(unknown)}; known: {', '.join(KNOWN)} "
                                                "or their Chinese names (姓名, 志愿者编号…)")
    return columns


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
