"""Issue 14's acceptance on the demo platform (what `make run` starts): the demo data shows the
maintenance fund with its movements, the 8 flagship co-building projects, the funding report
and a Red Maple Guardian's certificate — through the very commands the README's first page
gives, run by the real `linli` executable as the city operator it signs in as there, and the
fund on the portal's compound page too."""

from __future__ import annotations

import io
import re
from datetime import datetime
from pathlib import Path

import grpc
import httpx
from pypdf import PdfReader

from linli.points.v1 import awards_pb2, awards_pb2_grpc
from linli_runtime.auth import Role
from linli_runtime.times import SHANGHAI
from tests.e2e.cli.clikit import FENGSHU, SHENGJIAN, Cli

README = Path(__file__).resolve().parents[3] / "README.md"
GOLD = "v-065"  # the README names last year's gold Guardian


def first_page() -> str:
    text = README.read_text(encoding="utf-8")
    return text[:text.index("\n## Architecture")]


def test_the_readmes_first_page_says_where_to_look() -> None:
    page = first_page()
    for command in ("linli compound fund $SHENGJIAN", "linli compound verify $SHENGJIAN",
                    "linli funding report $FENGSHU", "linli projects list $FENGSHU",
                    "linli year certificate $FENGSHU --year $(( $(TZ=Asia/Shanghai date +%Y) - 1 )) "
                    f"--volunteer {GOLD}",
                    f"SHENGJIAN={SHENGJIAN}", f"FENGSHU={FENGSHU}"):
        assert command in page, command
    for url in (f"http://127.0.0.1:8080/c/{SHENGJIAN}", f"http://127.0.0.1:8080/open/v1/compounds/{SHENGJIAN}/",
                f"http://127.0.0.1:8080/open/v1/communities/{FENGSHU}/awards/"):
        assert url in page, url


def city_operator(cli: Cli) -> str:
    return cli.token(Role.CITY_OPERATOR, "chengdu")


def test_the_fund_shows_the_surplus_share_in_and_a_use_under_the_owners_vote(cli: Cli) -> None:
    shown = cli.run("compound", "fund", SHENGJIAN, "--json", token=city_operator(cli))
    assert shown.code == 0, shown.err
    fund = shown.json
    kinds = [m["kind"] for m in fund["movements"]]
    assert "allocation" in kinds and "use" in kinds, kinds
    assert all(m["owners_decision"] for m in fund["movements"] if m["kind"] == "use")
    for period in fund["periods"]:  # each period's movements take its opening to its closing balance
        moved = sum(m["amount_fen"] for m in fund["movements"] if m["period"] == period["period"])
        assert period["opening_fen"] + moved == period["closing_fen"], period
    assert fund["balance_fen"] == fund["periods"][-1]["closing_fen"] > 0
    portal = cli.platform.address("portal")
    page = httpx.get(f"http://{portal}/c/{SHENGJIAN}", timeout=30).text  # the residents' view of the same
    table = page.split('id="fund-table"')[1].split("</table>")[0]
    for m in fund["movements"]:
        if m["period"] == fund["periods"][-1]["period"]:
            assert f'<tr data-fund="{m["transfer"]}">' in table, m


def test_the_funding_report_follows_every_point_to_its_source(cli: Cli) -> None:
    shown = cli.run("funding", "report", FENGSHU, "--json", token=city_operator(cli))
    assert shown.code == 0, shown.err
    lines = {x["kind"]: x for x in shown.json["lines"]}
    assert {"charity_micro_fund", "social_enterprise", "higher_level_fund"} <= set(lines), lines
    assert sum(x["issued"] for x in lines.values()) > 0
    for x in [*lines.values(), shown.json["total"]]:
        assert x["issued"] == x["outstanding"] + x["redeemed"] + x["expired"] + x["returned"], x
        assert 0 <= x["budget_remaining"] <= x["budget"], x


def test_the_eight_flagship_projects_are_listed(cli: Cli) -> None:
    shown = cli.run("projects", "list", FENGSHU, "--json", token=city_operator(cli))
    assert shown.code == 0, shown.err
    flagships = [p for p in shown.json["projects"] if p["project_id"].startswith("prj-demo-")]
    assert len(flagships) == 8 and all(p["owner"] and p["need_id"] for p in flagships)
    assert {p["state"] for p in flagships} >= {"in_progress", "done"}


def test_last_years_gold_guardian_has_a_certificate_in_chinese(cli: Cli, tmp_path: Path) -> None:
    last_year = datetime.now(SHANGHAI).year - 1
    token = city_operator(cli)

    async def awards(channel: grpc.aio.Channel) -> awards_pb2.ListAwardsResponse:
        return await awards_pb2_grpc.AwardServiceStub(channel).ListAwards(  # type: ignore[no-any-return]
            awards_pb2.ListAwardsRequest(community_path=FENGSHU, year=last_year, page_size=100))

    listed = cli.grpc("volunteer-points", awards, token=token)
    assert [a.volunteer_id for a in listed.awards if a.rank == 1] == [GOLD]
    pdf = tmp_path / "gold.pdf"
    saved = cli.run("year", "certificate", FENGSHU, "--year", str(last_year), "--volunteer", GOLD, "--out", str(pdf),
                    "--json", token=token)
    assert saved.code == 0, saved.err
    content = pdf.read_bytes()
    assert content.startswith(b"%PDF-") and saved.json["bytes"] == len(content)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages).replace(" ", "")
    assert "荣誉证书" in text and "金牌·红枫卫士" in text and re.search(rf"{last_year}", text), text[:200]
