"""`linli` for a Chinese operator, through the real executable against the demo platform: under
LANG=zh_CN.UTF-8 help, tables and errors are Chinese, under LANG=C English; a roster saved by
Excel as GBK CSV with Chinese headers, and an XLSX one, import (the encoding read is said, the
bad rows reported by line in Chinese, nothing imported under --strict); a list exported as XLSX
opens with openpyxl and holds the rows the list shows."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook, load_workbook

from linli_runtime.auth import Role
from tests.e2e.cli.clikit import CHENGLONGLU, FENGSHU, Cli

ZH = {"LANG": "zh_CN.UTF-8", "LINLI_LANG": ""}  # LINLI_LANG empty: the locale decides
C = {"LANG": "C", "LINLI_LANG": ""}


def test_help_tables_and_errors_speak_the_locales_language(cli: Cli) -> None:
    token = cli.token(Role.COMMUNITY_WORKER, FENGSHU)
    helped = cli.run("volunteers", "list", "--help", env=ZH)
    assert helped.code == 0 and "用法：" in helped.out and "按编号列出社区的志愿者" in helped.out, helped.out
    listed = cli.run("volunteers", "list", FENGSHU, env=ZH, token=token)
    assert listed.code == 0 and "志愿者" in listed.out and "名称" in listed.out and "v-001" in listed.out
    refused = cli.run("pairings", "short", "chengdu/chongzhou", env=ZH, token=token)
    assert refused.code == 6 and refused.err.startswith("错误：无权限："), refused.err
    english = cli.run("pairings", "short", "chengdu/chongzhou", env=C, token=token)
    assert english.failed_with(6, "permission denied")
    assert "Usage:" in cli.run("volunteers", "list", "--help", env=C).out


def test_a_gbk_csv_with_chinese_headers_imports_and_reports_bad_rows_in_chinese(cli: Cli, tmp_path: Path) -> None:
    path = cli.new_community()
    token = cli.token(Role.STREET_OFFICER, CHENGLONGLU)
    roster = tmp_path / "名册.csv"  # as Excel saves "CSV" on a Chinese Windows: GBK, Chinese headers
    roster.write_bytes("志愿者编号,姓名,家庭编号,家庭名称,加入日期\r\n"
                       "z-1,张伟,fz-1,张家,2026-01-05\r\nz-2,张芳,fz-1,张家,\r\n坏 编号,李娜,,,\r\n"
                       "z-4,王磊,,,2999-01-01\r\nz-1,张伟,fz-1,张家,\r\n".encode("gbk"))
    shown = cli.run("roster", "import", path, str(roster), env=ZH, token=token)
    assert shown.code == 0, shown.err
    assert "5 行中已导入 2 行，拒绝 3 行" in shown.out and "按 GB18030/GBK 读取" in shown.out, shown.out
    assert "被拒绝的行" in shown.out and "与第 2 行重复" in shown.out and "加入日期" in shown.out
    as_json = cli.run("roster", "import", path, str(roster), "--json", env=ZH, token=token).json
    assert as_json["encoding"] == "GB18030" and as_json["rows_imported"] == 2
    assert [(r["line"], r["field"]) for r in as_json["rejections"]] == [
        (4, "志愿者编号"), (5, "加入日期"), (6, "志愿者编号")]
    listed = cli.run("volunteers", "list", path, "--json", token=token).json
    assert [(v["volunteer_id"], v["display_name"], v["family_id"]) for v in listed["volunteers"]] == [
        ("z-1", "张伟", "fz-1"), ("z-2", "张芳", "fz-1")]


def test_a_strict_import_with_a_bad_row_imports_nothing_and_says_so_in_chinese(cli: Cli, tmp_path: Path) -> None:
    path = cli.new_community()
    token = cli.token(Role.STREET_OFFICER, CHENGLONGLU)
    roster = tmp_path / "strict.csv"
    roster.write_bytes("志愿者编号,姓名\ns-1,孙一\ns-2,\n".encode("gbk"))
    strict = cli.run("roster", "import", path, str(roster), "--strict", env=ZH, token=token)
    assert strict.code == 7 and strict.err.strip() == (
        "错误：1 行被拒绝，未导入任何行（第一处：第 3 行 姓名：必填，最多 100 个字符）"), strict.err
    assert cli.run("volunteers", "list", path, "--json", token=token).json["count"] == 0


def test_an_xlsx_roster_with_chinese_headers_imports(cli: Cli, tmp_path: Path) -> None:
    path = cli.new_community()
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["姓名", "志愿者编号", "家庭编号", "家庭名称"])
    sheet.append(["周一", "x-1", "fx-1", "周家"])
    sheet.append(["周二", "x-2", "fx-1", "周家"])
    book.save(tmp_path / "名册.xlsx")
    token = cli.token(Role.STREET_OFFICER, CHENGLONGLU)
    report = cli.run("roster", "import", path, str(tmp_path / "名册.xlsx"), "--json", env=ZH, token=token)
    assert report.code == 0, report.err
    assert (report.json["rows_total"], report.json["rows_imported"], report.json["encoding"]) == (2, 2, "")
    listed = cli.run("volunteers", "list", path, "--json", token=token).json
    assert [(v["volunteer_id"], v["display_name"]) for v in listed["volunteers"]] == [("x-1", "周一"), ("x-2", "周二")]


def test_a_list_exported_as_xlsx_under_a_chinese_locale_holds_the_rows_listed(cli: Cli, tmp_path: Path) -> None:
    token = cli.token(Role.COMMUNITY_WORKER, FENGSHU)
    shown = cli.run("volunteers", "list", FENGSHU, "--json", env=ZH, token=token).json
    exported = cli.run("volunteers", "list", FENGSHU, "--xlsx", str(tmp_path / "志愿者.xlsx"), env=ZH, token=token)
    assert (exported.code, exported.out) == (0, ""), exported.err
    book = load_workbook(tmp_path / "志愿者.xlsx", read_only=True)
    rows = list(book["data"].iter_rows(values_only=True))
    # the columns keep the stable keys --json shows, in any language; the cells are the rows listed
    assert rows[0] == ("volunteer_id", "display_name", "family_id", "person_id")
    assert [dict(zip(rows[0], row, strict=True)) for row in rows[1:]] == [
        {k: v or None for k, v in volunteer.items()} for volunteer in shown["volunteers"]]
