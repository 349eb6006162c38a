"""Roster files as Chinese offices save them (roster_files.py): UTF-8 with or without Excel's
byte-order mark, GB18030/GBK (Excel's "CSV" on a Chinese Windows) read in a strict order and
named in the result, and headers in English or Chinese through the one alias table — a
rejection names the column as the file writes it."""

from __future__ import annotations

from datetime import date

import pytest
from linli_points.roster_files import (
    GB18030,
    HEADER_ALIASES,
    KNOWN,
    UTF8,
    UTF8_BOM,
    column_for,
    decode,
    header_key,
    parse,
    parse_file,
)

from linli_runtime.errors import InvalidArgument

from .workbooks import workbook

TODAY = date(2026, 11, 7)
ROWS = ("志愿者编号,姓名,家庭编号,家庭名称,加入日期\n"
        "v-1,王芳,f-1,王家,2026-01-05\nbad id,李四,,,\nv-3,赵六,,,2999-01-01\n")


def test_utf8_with_and_without_a_bom_and_gbk_are_read_and_named() -> None:
    text = "姓名,志愿者编号\n王芳,v-1\n"
    assert decode(text.encode()) == (text, UTF8)
    assert decode(b"\xef\xbb\xbf" + text.encode()) == (text, UTF8_BOM)
    assert decode(text.encode("gbk")) == (text, GB18030)
    assert decode(text.encode("gb18030")) == (text, GB18030)
    assert decode("𠀋,㐀".encode("gb18030")) == ("𠀋,㐀", GB18030)  # beyond GBK: GB18030's four-byte codes


def test_a_gbk_roster_is_not_taken_for_utf8() -> None:
    # A lone GBK character can happen to be valid UTF-8 (lead byte C0–DF, trail 80–BF), a roster
    # of names practically never is: UTF-8 first, then GB18030, reads each file as what it is.
    names = ["王芳", "李四", "赵六", "钱七", "孙八", "周九", "吴十", "郑一", "冯二", "陈三", "褚卫", "蒋沈", "韩杨"]
    roster = "志愿者编号,姓名\n" + "".join(f"v-{n},{name}\n" for n, name in enumerate(names))
    assert decode(roster.encode("gbk")) == (roster, GB18030)
    for name in names:
        assert decode(f"姓名\n{name}\n".encode("gbk")) == (f"姓名\n{name}\n", GB18030)


def test_text_in_neither_encoding_is_refused_naming_the_field() -> None:
    for content in (b"\x81\x30\xff\xff", b"\xef\xbb\xbf\xff\xfe"):
        with pytest.raises(InvalidArgument) as caught:
            decode(content, "csv_content")
        assert [v.field for v in caught.value.violations] == ["csv_content"]


def test_every_column_has_its_english_and_a_chinese_name_and_no_alias_is_shared() -> None:
    assert set(HEADER_ALIASES) == set(KNOWN)
    seen: dict[str, str] = {}
    for column, aliases in HEADER_ALIASES.items():
        assert column in aliases and any(not a.isascii() for a in aliases), column
        for alias in aliases:
            assert seen.setdefault(header_key(alias), column) == column, alias
    assert column_for(" Volunteer ID ") == "volunteer_id" and column_for("DISPLAY-NAME") == "display_name"
    assert column_for("姓名\u3000") == "display_name" and column_for("团队") == "team_ids"
    assert column_for("手机") is None and column_for("ID") is None  # no phone column; a bare ID may be 身份证号


@pytest.mark.parametrize("encode", [lambda t: t.encode(), lambda t: ("\ufeff" + t).encode(), lambda t: t.encode("gbk")])
def test_chinese_headers_read_the_same_rows_in_every_encoding(encode: object) -> None:
    parsed = parse(encode(ROWS), set(), TODAY)  # type: ignore[operator]
    assert [(r.volunteer_id, r.display_name, r.family_name) for r in parsed.rows] == [("v-1", "王芳", "王家")]
    # rejected rows by their line, the column as the file names it
    assert [(r.line, r.field) for r in parsed.rejections] == [(3, "志愿者编号"), (4, "加入日期")]
    assert parsed.total == 3


def test_a_header_that_names_one_column_twice_or_lacks_one_is_refused() -> None:
    for header, fragment in (("姓名,name,志愿者编号", "both mean display_name"),
                             ("编号,手机", "lacks display_name (姓名)"),
                             ("志愿者编号,姓名,电话", "unknown columns 电话")):
        with pytest.raises(InvalidArgument) as caught:
            parse(f"{header}\n".encode(), set(), TODAY)
        assert fragment in caught.value.violations[0].description, caught.value.violations


def test_a_workbook_with_chinese_headers_reads_as_one_with_english_ones() -> None:
    book = workbook([["姓名", "志愿者编号", "团队"], ["周一", "x-1", "little-maple-leaf"], ["周二", "x 2", ""]])
    parsed = parse_file(book, "xlsx_content", {"little-maple-leaf"}, TODAY, workbook=True)
    assert [(r.volunteer_id, r.team_ids) for r in parsed.rows] == [("x-1", ["little-maple-leaf"])]
    assert [(r.line, r.field) for r in parsed.rejections] == [(3, "志愿者编号")]
    assert parsed.encoding == ""  # a workbook has no text encoding to report
