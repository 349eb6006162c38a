"""`--csv` and `--xlsx` on list commands, through the real executable against the demo platform:
the file holds the rows `--json` shows (the same keys and values), a workbook says what the list
is about on its `about` sheet, `--csv -` writes to stdout; a dead letter list exports too."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from openpyxl import load_workbook

from linli_runtime.auth import Role
from tests.e2e.cli.clikit import FENGSHU, SHENGJIAN, Cli


def test_lists_export_to_csv_and_xlsx_with_the_rows_json_shows(cli: Cli, tmp_path: Path) -> None:
    token = cli.token(Role.COMMUNITY_WORKER, FENGSHU)
    shown = cli.run("volunteers", "list", FENGSHU, "--json", token=token).json
    exported = cli.run("volunteers", "list", FENGSHU, "--csv", str(tmp_path / "v.csv"), "--xlsx",
                       str(tmp_path / "v.xlsx"), token=token)
    assert (exported.code, exported.out) == (0, ""), exported.err
    rows = list(csv.DictReader(io.StringIO((tmp_path / "v.csv").read_text(encoding="utf-8-sig"))))
    assert [r["volunteer_id"] for r in rows] == [v["volunteer_id"] for v in shown["volunteers"]]
    assert rows[0]["display_name"] == shown["volunteers"][0]["display_name"]
    book = load_workbook(tmp_path / "v.xlsx")
    data = list(book["data"].iter_rows(values_only=True))
    assert len(data) == 1 + shown["count"] and data[0][0] == "volunteer_id"
    assert dict(book["about"].iter_rows(values_only=True))["community_path"] == FENGSHU

    disclosures = cli.run("compound", "disclosures", SHENGJIAN, "--csv", "-",
                          token=cli.token(Role.STREET_OFFICER, "chengdu/chongzhou/longxing"))
    assert disclosures.code == 0, disclosures.err
    periods = list(csv.DictReader(io.StringIO(disclosures.out)))
    assert periods and all(p["seal_hash"] for p in periods)
    tree = cli.run("org", "tree", "chengdu/chongzhou", "--depth", "2", "--csv", "-",
                   token=cli.token(Role.CITY_OPERATOR, "chengdu"))
    nodes = list(csv.DictReader(io.StringIO(tree.out)))
    assert (nodes[0]["path"], nodes[0]["depth"]) == ("chengdu/chongzhou", "0")
    assert {n["depth"] for n in nodes} == {"0", "1", "2"}
    letters = cli.run("dead-letters", "list", "--csv", "-", token=cli.admin)
    # The demo platform has no dead letters unless a test made one: an empty export, or the rows.
    assert letters.code == 0 and (letters.out == "" or letters.out.startswith("name,")), letters
    assert cli.run("volunteers", "list", FENGSHU, "--xlsx", "-", token=token).failed_with(2, "--xlsx")
