"""Reading roster files within bounds (roster_files.py): a workbook whose sheet spans column
XFD is refused from its extent before openpyxl reads it (shown by refusing with openpyxl
unimportable, not by a stopwatch), the extent is what the cells reach whatever the sheet claims,
a cell or an unpacked workbook beyond its limit is refused naming the limit, and refusals name
the field the file came in."""

from __future__ import annotations

import io
import sys
from datetime import date
from xml.parsers import expat

import pytest
from linli_points.roster_files import (
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    MAX_UNPACKED,
    column_letters,
    parse_file,
    precheck,
    sheet_extent,
    xlsx_to_csv,
)

from linli_runtime.errors import InvalidArgument

from .workbooks import big_roster, hostile, workbook

TODAY = date(2026, 11, 7)


def refusal(content: bytes, field: str = "xlsx_content") -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        xlsx_to_csv(content, field)
    assert [v.field for v in caught.value.violations] == [field]
    return caught.value


def test_column_letters() -> None:
    assert [column_letters(n) for n in (1, 26, 27, 64, 16384)] == ["A", "Z", "AA", "BL", "XFD"]


@pytest.fixture
def without_openpyxl(monkeypatch: pytest.MonkeyPatch) -> None:
    """openpyxl cannot be imported: what is refused now was refused before openpyxl read a row
    (it pads each row to the sheet's widest cell, and opening a sheet without a <dimension>
    reads all of it)."""
    monkeypatch.setitem(sys.modules, "openpyxl", None)


@pytest.mark.parametrize("claims_extent", [True, False])
def test_a_sheet_out_to_column_xfd_is_refused_before_its_rows_are_expanded(
    claims_extent: bool, without_openpyxl: None
) -> None:
    refused = refusal(hostile(claims_extent=claims_extent))
    assert refused.reason == "ROSTER_FILE_TOO_LARGE"
    assert "A1:XFD5000" in refused.message and f"{MAX_COLUMNS} columns (A–BL)" in refused.message
    with pytest.raises(ImportError):
        parse_file(big_roster(3), "xlsx_content", set(), TODAY, workbook=True)  # (the fixture holds)


def test_the_extent_is_what_the_cells_reach_counted_where_positions_are_left_out() -> None:
    def extent(rows: str) -> tuple[int, int]:
        return sheet_extent(io.BytesIO(
            b'<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:sheetData>'
            + rows.encode() + b"</x:sheetData></x:worksheet>"))

    assert extent('<x:row r="1"><x:c r="A1"/><x:c r="C1"/></x:row><x:row r="7"/>') == (1, 3), \
        "a row without cells does not count"
    assert extent("<x:row><x:c/><x:c/></x:row><x:row><x:c/></x:row>") == (2, 2)
    assert extent('<x:row r="4"><x:c r="B4"/><x:c/></x:row><x:row><x:c r="XFD5"/></x:row>') == (5, 16384)
    # each refused by the caller as "not an Excel workbook"
    for malformed in ('<x:row><x:c r="1A"/></x:row>', "<x:row><x:c></x:row>"):
        with pytest.raises((ValueError, expat.ExpatError)):
            extent(malformed)
    with pytest.raises(ValueError, match="no document type"):  # so no entities to expand
        sheet_extent(io.BytesIO(b'<!DOCTYPE x [<!ENTITY a "aaaa">]><worksheet><sheetData/></worksheet>'))


def test_a_sheet_claiming_less_than_it_holds_is_read_to_its_last_row() -> None:
    rows = [["volunteer_id", "display_name"], ["v-1", "甲"], ["v-2", "乙"], ["v-3", "丙"]]
    assert xlsx_to_csv(workbook(rows, dimension="A1:B2")).decode().splitlines() == [
        "volunteer_id,display_name", "v-1,甲", "v-2,乙", "v-3,丙"]
    assert "A1:BM2" in refusal(workbook([["volunteer_id"], {65: "x"}], dimension="A1:A1")).message


def test_rows_cells_and_unpacked_size_have_limits_that_the_refusal_names() -> None:
    header = ["volunteer_id", "display_name"]
    assert "at most 5001 rows" in refusal(workbook([header] * 5002, dimension="A1:B5002")).message
    long_cell = refusal(workbook([header, ["v-1", "x" * (MAX_CELL_CHARS + 1)]], dimension="A1:B2"))
    assert f"cell B2 holds {MAX_CELL_CHARS + 1} characters; at most {MAX_CELL_CHARS}" in long_cell.message
    padding = {"xl/media/padding.bin": b"\0" * (MAX_UNPACKED + 1)}
    assert "may unpack to at most 32 MiB" in refusal(workbook([header], extra=padding)).message
    assert "not an Excel workbook" in refusal(b"PK\x03\x04 but no zip", "csv_content").message


def test_an_honest_workbook_at_the_limits_is_read_with_trailing_padding_dropped() -> None:
    parsed = parse_file(big_roster(), "xlsx_content", set(), TODAY, workbook=True)
    assert (parsed.total, len(parsed.rows), len(parsed.rejections)) == (5000, 0, 5000)
    assert {r.field for r in parsed.rejections} == {"team_ids"}
    padded = workbook([["volunteer_id", "display_name", "", ""], ["v-1", "王", "", ""]], dimension="A1:D2")
    assert parse_file(padded, "xlsx_content", set(), TODAY, workbook=True).rows[0].volunteer_id == "v-1"


def test_row_checks_of_a_workbook_name_the_field_it_came_in() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_file(workbook([["name"], ["x"]]), "xlsx_content", set(), TODAY, workbook=True)
    assert [v.field for v in caught.value.violations] == ["xlsx_content"]
    with pytest.raises(InvalidArgument) as caught:
        parse_file(b"name\nx\n", "csv_content", set(), TODAY, workbook=False)
    assert [v.field for v in caught.value.violations] == ["csv_content"]


def test_the_precheck_reads_the_claimed_extent_without_parsing_the_workbook(without_openpyxl: None) -> None:
    with pytest.raises(InvalidArgument) as caught:
        precheck(hostile(), "xlsx_content")
    assert "A1:XFD5000" in caught.value.message
    precheck(hostile(claims_extent=False), "xlsx_content")  # no claim: left to the full check
    precheck(big_roster(), "xlsx_content")
