"""`linli volunteers list`, `pairings short`, `leaderboard`, `year close` and `roster import`
against volunteer-points: Fengshu's demo data for reads, communities of the test's own for
anything that changes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import grpc
from openpyxl import Workbook

from linli.points.v1 import ledger_pb2, ledger_pb2_grpc, volunteers_pb2, volunteers_pb2_grpc
from linli_runtime.auth import Role
from tests.e2e.cli.clikit import CHENGLONGLU, FENGSHU, Cli

POINTS = "volunteer-points"


def test_volunteers_list_shows_fengshus_volunteers(cli: Cli) -> None:
    token = cli.token(Role.COMMUNITY_WORKER, FENGSHU)
    listed = cli.run("volunteers", "list", FENGSHU, "--json", token=token)
    assert listed.code == 0, listed.err
    ids = [v["volunteer_id"] for v in listed.json["volunteers"]]
    assert listed.json["count"] == len(ids) >= 72 and "v-001" in ids and "v-072" in ids
    family = cli.run("volunteers", "list", FENGSHU, "--family", "f-071", "--json", token=token).json
    assert {v["volunteer_id"] for v in family["volunteers"]} == {"v-071", "v-072"}  # the family of two
    assert "v-001" in cli.run("volunteers", "list", FENGSHU, token=token).out


def test_pairings_short_lists_only_pairings_below_the_monthly_rule(cli: Cli) -> None:
    token = cli.token(Role.COMMUNITY_WORKER, FENGSHU)
    short = cli.run("pairings", "short", FENGSHU, "--json", token=token)
    assert short.code == 0, short.err
    pairings = short.json["pairings"]
    assert short.json["count"] == len(pairings) >= 24  # elders 61–84 had fewer than 2 visits at seeding
    assert all(p["visits_done"] < p["visits_required"] for p in pairings)
    assert [p["visits_done"] for p in pairings] == sorted(p["visits_done"] for p in pairings)  # shortest first
    assert cli.run("pairings", "short", FENGSHU, "--month", "2026-13", token=token).failed_with(2, "--month")
    assert cli.run("pairings", "short", "chengdu/chongzhou", token=token).failed_with(6, "permission denied")


def test_leaderboards_by_volunteer_family_and_team_rank_points_earned(cli: Cli) -> None:
    token = cli.token(Role.COMMUNITY_WORKER, FENGSHU)
    people = cli.run("leaderboard", FENGSHU, "--limit", "0", "--json", token=token).json
    rows = people["rankings"]
    assert people["by"] == "volunteer" and len(rows) == people["count"] >= 72
    assert [r["points_earned"] for r in rows] == sorted((r["points_earned"] for r in rows), reverse=True)
    assert rows[0]["rank"] == 1
    by_id = {r["id"]: r["points_earned"] for r in rows}

    families = cli.run("leaderboard", FENGSHU, "--by", "family", "--limit", "0", "--json", token=token).json
    f071 = next(r for r in families["rankings"] if r["id"] == "f-071")
    assert f071["points_earned"] == by_id["v-071"] + by_id["v-072"]

    teams = cli.run("leaderboard", FENGSHU, "--by", "team", "--json", token=token).json["rankings"]
    assert [t["id"] for t in teams] == ["little-maple-leaf", "red-maple-vanguard"]  # everyone is a little maple leaf
    assert teams[0]["points_earned"] == sum(by_id.values())
    assert "little-maple-leaf" in cli.run("leaderboard", FENGSHU, "--by", "team", token=token).out

    cli.refuse([
        (2, ["--by"], ["leaderboard", FENGSHU, "--by", "street"], token),
        (2, ["--year"], ["leaderboard", FENGSHU, "--year", "1999"], token),
        (6, ["permission denied"], ["leaderboard", "chengdu/chongzhou"], token),
    ])


def community_with_points_earned_in(cli: Cli, year: int) -> str:
    """A community of the test's own with three volunteers who earned 30, 20 and 10 points in
    `year`. The ledger dates every transfer now and no API writes the past, so the test moves
    the transfers' dates back in the service's SQLite file."""
    path = cli.new_community()

    async def work(channel: grpc.aio.Channel) -> None:
        people = volunteers_pb2_grpc.VolunteerServiceStub(channel)
        ledger = ledger_pb2_grpc.LedgerServiceStub(channel)
        for n, points in ((1, 30), (2, 20), (3, 10)):
            await people.CreateVolunteer(volunteers_pb2.CreateVolunteerRequest(volunteer=volunteers_pb2.Volunteer(
                community_path=path, volunteer_id=f"v-{n}", display_name=f"志愿者{n}")))
            await ledger.CreateTransfer(ledger_pb2.CreateTransferRequest(
                community_path=path, transfer_id=f"earned-{n}", debit_account="system/issuance",
                credit_account=f"volunteers/v-{n}", amount=points, reason="governance", source="e2e-cli"))

    cli.grpc(POINTS, work)
    with sqlite3.connect(cli.database(POINTS)) as db:
        db.execute("UPDATE points_transfer SET created_at = ? WHERE community_path = ?",
                   (f"{year}-06-01 02:00:00.000000", path))
    return path


def test_year_close_grants_awards_once_and_shows_the_same_awards_again(cli: Cli) -> None:
    path = community_with_points_earned_in(cli, 2025)
    # Out of scope first: refused, and nothing closed (the in-scope close below is the first).
    assert cli.run("year", "close", path, "--year", "2025", token=cli.token(Role.COMMUNITY_WORKER, FENGSHU)
                   ).failed_with(6, "permission denied")
    token = cli.token(Role.STREET_OFFICER, CHENGLONGLU)
    first = cli.run("year", "close", path, "--year", "2025", "--json", token=token)
    assert first.code == 0, first.err
    assert first.json["newly_closed"] is True
    assert [(a["volunteer_id"], a["tier"], a["rank"], a["points_earned"]) for a in first.json["awards"]] == [
        ("v-1", "gold", 1, 30), ("v-2", "silver", 2, 20), ("v-3", "silver", 3, 10)]
    again = cli.run("year", "close", path, "--year", "2025", token=token)
    assert again.code == 0 and "already closed" in again.out and "志愿者1" in again.out and "gold" in again.out
    repeated = cli.run("year", "close", path, "--year", "2025", "--json", token=token).json
    assert repeated["awards"] == first.json["awards"] and repeated["newly_closed"] is False
    # Another rule for a closed year: refused, the awards stand.
    cli.refuse([
        (1, ["another rule"], ["year", "close", path, "--year", "2025", "--gold", "3"], token),
        (2, ["--year"], ["year", "close", path, "--year", "2999"], token),
        (1, ["not ended"], ["year", "close", path, "--year", "2199"], token),
        (2, ["--year"], ["year", "close", path], token),
    ])


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(["volunteer_id,display_name,family_id,family_name,join_date", *rows]) + "\n")
    return path


def test_roster_import_reports_rejected_rows_and_imports_the_good_ones(cli: Cli, tmp_path: Path) -> None:
    path = cli.new_community()
    token = cli.token(Role.STREET_OFFICER, CHENGLONGLU)
    roster = write_csv(tmp_path / "roster.csv", [
        "r-1,王一,fam-1,王家,2026-01-05", "r-2,王二,fam-1,王家,", "bad id!,李三,,,", "r-4,赵四,,,2999-01-01",
        "r-5,钱五,,,"])
    report = cli.run("roster", "import", path, str(roster), "--json", token=token)
    assert report.code == 0, report.err
    assert (report.json["rows_total"], report.json["rows_imported"], report.json["rows_rejected"]) == (5, 3, 2)
    assert [(r["line"], r["field"]) for r in report.json["rejections"]] == [(4, "volunteer_id"), (5, "join_date")]
    listed = cli.run("volunteers", "list", path, "--json", token=token).json
    assert [v["volunteer_id"] for v in listed["volunteers"]] == ["r-1", "r-2", "r-5"]
    human = cli.run("roster", "import", path, str(roster), token=token)  # again: the same report, nothing new
    assert human.code == 0 and "3 of 5 rows imported" in human.out and "join_date" in human.out
    assert cli.run("volunteers", "list", path, "--json", token=token).json["count"] == 3


def test_roster_import_strict_imports_nothing_and_exits_7(cli: Cli, tmp_path: Path) -> None:
    path = cli.new_community()
    token = cli.token(Role.STREET_OFFICER, CHENGLONGLU)
    roster = write_csv(tmp_path / "roster.csv", ["s-1,孙一,,,", "s-1,孙一 again,,,"])
    strict = cli.run("roster", "import", path, str(roster), "--strict", "--json", token=token)
    assert strict.failed_with(7, "line 3", "volunteer_id")
    assert strict.json["rows_imported"] == 0 and strict.json["mode"] == "all_or_nothing"
    assert cli.run("volunteers", "list", path, "--json", token=token).json["count"] == 0


def test_roster_import_reads_xlsx_workbooks(cli: Cli, tmp_path: Path) -> None:
    path = cli.new_community()
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["volunteer_id", "display_name"])
    sheet.append(["x-1", "周一"])
    sheet.append(["x-2", "周二"])
    book.save(tmp_path / "roster.xlsx")
    token = cli.token(Role.STREET_OFFICER, CHENGLONGLU)
    report = cli.run("roster", "import", path, str(tmp_path / "roster.xlsx"), "--json", token=token)
    assert report.code == 0, report.err
    assert (report.json["rows_total"], report.json["rows_imported"]) == (2, 2)


def test_roster_import_refuses_bad_files_and_out_of_scope_communities(cli: Cli, tmp_path: Path) -> None:
    path = cli.new_community()
    token = cli.token(Role.STREET_OFFICER, CHENGLONGLU)
    (tmp_path / "header.csv").write_text("id,name\n1,x\n")
    (tmp_path / "roster.txt").write_text("volunteer_id,display_name\n")
    good = write_csv(tmp_path / "good.csv", ["g-1,郑一,,,"])
    with (tmp_path / "huge.xlsx").open("wb") as huge:  # 50 MB, sparse: over the services' 8 MiB messages
        huge.truncate(50 * 1000 * 1000)
    cli.refuse([
        (2, ["huge.xlsx is 47.7 MiB", "8 MiB"], ["roster", "import", path, str(tmp_path / "huge.xlsx")], token),
        (2, ["csv_content", "header"], ["roster", "import", path, str(tmp_path / "header.csv")], token),
        (2, [".csv or .xlsx"], ["roster", "import", path, str(tmp_path / "roster.txt")], token),
        (2, ["does not exist"], ["roster", "import", path, str(tmp_path / "missing.csv")], token),
        (6, ["permission denied"], ["roster", "import", path, str(good)], cli.token(Role.COMMUNITY_WORKER, FENGSHU)),
    ])
    assert cli.run("volunteers", "list", path, "--json", token=token).json["count"] == 0
