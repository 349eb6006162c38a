"""The open-data formats say the same thing: CSV (with a byte-order mark, quoting what needs it),
JSON and XLSX rows in the schema's order, and the schema and licence line with each."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from linli_portal.open_data import LICENCE_LINE, Dataset, Field, fen, to_csv, to_json, to_xlsx
from openpyxl import load_workbook  # type: ignore[import-untyped]

WHEN = datetime(2026, 11, 7, 11, 0, tzinfo=UTC)
DATA = Dataset("lines", "公示明细", "disclosure lines",
               [Field("line", "string", "科目", "line"), fen("amount_fen", "金额", "amount")],
               [{"amount_fen": 12_345, "line": '保洁, "日常"\n清扫'}, {"line": "绿化", "amount_fen": None}],
               {"compound": "chengdu/x", "compound_name": "某小区"})


def test_csv_quotes_what_needs_it_and_keeps_the_schema_order() -> None:
    body = to_csv(DATA)
    assert body.startswith(b"\xef\xbb\xbf")
    assert list(csv.reader(io.StringIO(body.decode("utf-8-sig")))) == [
        ["line", "amount_fen"], ['保洁, "日常"\n清扫', "12345"], ["绿化", ""]]


def test_json_and_xlsx_carry_the_rows_schema_and_licence() -> None:
    document = json.loads(to_json(DATA, source="http://portal/x.json", generated=WHEN))
    assert document["rows"] == [{"line": '保洁, "日常"\n清扫', "amount_fen": 12345},
                                {"line": "绿化", "amount_fen": None}]
    assert document["schema"]["fields"][1] == {"name": "amount_fen", "type": "integer", "description": "金额 amount",
                                               "unit": "fen (1/100 yuan, 分)"}
    assert document["licence_line"] == LICENCE_LINE and document["compound_name"] == "某小区"
    book = load_workbook(io.BytesIO(to_xlsx(DATA, source="http://portal/x.xlsx", generated=WHEN)))
    assert [list(r) for r in book["data"].iter_rows(values_only=True)] == [
        ["line", "amount_fen"], ['保洁, "日常"\n清扫', 12345], ["绿化", None]]
    assert dict(book["about"].iter_rows(values_only=True))["licence_line"] == LICENCE_LINE
    assert DATA.schema(url="/x.csv")["fields"] == document["schema"]["fields"]
