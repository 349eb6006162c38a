"""Residents' pages against the running demo platform: the figures are the ledger's, the chain
badge is the chain check's, and the objection form — a signed-in owner's, for their household —
files in trust-governance, or, with bad input, files nothing and says why; signed out there is
no form, only the way to sign in."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from linli_portal.fmt import yuan

from linli_runtime.auth import Role
from linli_runtime.testing.platform import DemoPlatform
from tests.e2e.portal.conftest import SHENGJIAN, Ledger


def as_owner(web: httpx.Client, platform: DemoPlatform, household: str = "") -> str:
    """`web` acts for a test person owning `household` (a fresh one of Shengjian by default, as
    each household files one objection per disclosure), with that person's token; returns it."""
    household = household or f"{SHENGJIAN}/b9/h{uuid.uuid4().hex[:6]}"
    token = platform.token(Role.RESIDENT, household, f"业主 owner {household.rsplit('/', 1)[-1]}")
    web.headers["authorization"] = f"Bearer {token}"
    return household


def form_fields(html: str) -> dict[str, str]:
    """The objection form's defaults as rendered (hidden request id, selected line)."""
    request_id = re.search(r'name="request_id" value="([0-9a-f]{32})"', html)
    account = re.search(r'<option value="([a-z_:]+)" selected>', html)
    assert request_id and account
    household = re.search(r'<option value="([^"]+)" selected>', html.split('id="f-household"')[1])
    return {"request_id": request_id.group(1), "account": account.group(1), "kind": "objection",
            "household": household.group(1) if household else ""}


def test_the_start_page_lists_the_demo_compounds(web: httpx.Client) -> None:
    page = web.get("/")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert f'href="/c/{SHENGJIAN}"' in page.text and "生建小区" in page.text


def test_the_compound_page_shows_the_ledgers_latest_disclosure(web: httpx.Client, ledger: Ledger) -> None:
    disclosures = ledger.disclosures()
    latest = disclosures[-1]
    page = web.get(f"/c/{SHENGJIAN}")
    assert page.status_code == 200
    html = page.text
    assert f"最新公示 {latest.period}" in html
    for figure in ("income_fen", "expense_fen", "surplus_fen", "to_maintenance_fund_fen", "operating_balance_fen",
                   "maintenance_fund_balance_fen"):
        fen = getattr(latest, figure)
        assert f'data-figure="{figure}" data-fen="{fen}">{yuan(fen)}</dd>' in html, figure
    for line in [*latest.income, *latest.expenses]:
        assert re.search(rf'<tr data-account="{line.account}">.*?data-fen="{line.amount_fen}">'
                         rf"{re.escape(yuan(line.amount_fen))}</td>", html, re.S), line.account
    # The fund's balance at every disclosure, in the chart's text alternative and the table.
    for d in disclosures:
        assert f"{d.period}: {yuan(d.maintenance_fund_balance_fen)}" in html
    assert latest.seal_hash in html


def test_the_maintenance_fund_shows_its_movements_and_the_vote_behind_each_use(web: httpx.Client,
                                                                              ledger: Ledger) -> None:
    """Issue 14 item 1: the latest disclosure's fund movements — the surplus share in, the use
    under the owners' vote out — between the opening and closing balances."""
    latest = ledger.disclosures()[-1]
    uses = [m for m in latest.fund_movements if m.owners_decision]
    assert uses, "the demo pays for the charging shed from the fund"
    html = web.get(f"/c/{SHENGJIAN}").text
    table = html.split('id="fund-table"')[1].split("</table>")[0]
    assert f'data-fen="{latest.maintenance_fund_opening_fen}"' in table
    assert f'data-fen="{latest.maintenance_fund_balance_fen}"' in table
    for m in latest.fund_movements:
        assert re.search(rf'<tr data-fund="{re.escape(m.transfer)}">.*?data-fen="{m.amount_fen}">'
                         rf"{re.escape(yuan(m.amount_fen))}</td>", table, re.S), m.transfer
    assert "按业主表决支出" in table and uses[0].owners_decision.rsplit("/", 1)[1][:8] in table
    assert "充电棚" in table


def test_the_budget_is_the_owners_and_the_service_standards_are_disclosed(web: httpx.Client, ledger: Ledger) -> None:
    """Issue 14 item 2: the page says the budget was approved by the owners' vote, and shows the
    period's service standards against their targets (October's late repair missed its)."""
    latest = ledger.disclosures()[-1]
    html = web.get(f"/c/{SHENGJIAN}").text
    assert "预算已经业主大会表决通过" in html and "Approved by the owners' vote." in html
    table = html.split('id="service-level-table"')[1].split("</table>")[0]
    assert [s.code for s in latest.service_levels] == ["sweeping", "repair_response"]
    for s in latest.service_levels:
        expected = "met" if s.met else "missed"
        assert re.search(rf'<tr data-standard="{s.code}">.*?data-met="{expected}"', table, re.S), s.code
    assert 'data-met="missed"' in table and "≤ 24" in table


def test_budget_vs_actual_is_a_chart_with_a_text_alternative(web: httpx.Client) -> None:
    html = web.get(f"/c/{SHENGJIAN}").text
    charts = re.findall(r'<svg class="chart"[^>]*role="img"[^>]*aria-labelledby="([^"]+)"', html)
    assert len(charts) == 2
    for ids in charts:
        for element_id in ids.split():
            assert f'id="{element_id}">' in html
    assert "Budget vs actual 2026" in html and "保洁 Cleaning: spent ¥9,600.00 of ¥96,000.00" in html


def test_the_verified_badge_is_the_chain_checks_verdict(web: httpx.Client, ledger: Ledger) -> None:
    verdict = ledger.verify()
    assert verdict.valid
    html = web.get(f"/c/{SHENGJIAN}").text
    assert 'id="chain-status" data-valid="true"' in html
    assert f"账目链已验证：{verdict.checked} 期公示" in html


def test_a_compound_without_disclosures_says_so_and_is_not_verified(web: httpx.Client) -> None:
    html = web.get("/c/chengdu/chongzhou/huaiyuan/dingjiangqiao/jiangnanting").text
    assert "还没有公示" in html and 'data-valid="false"' in html and "<form" not in html.split("<main")[1]


@pytest.mark.parametrize("path", ["/c/chengdu/nowhere", "/c/chengdu/../etc", "/c/%E4%B8%AD"])
def test_an_unknown_compound_is_a_404_page(web: httpx.Client, path: str) -> None:
    page = web.get(path)
    assert page.status_code == 404
    assert "没有" in page.text and 'lang="en"' in page.text


def test_signed_out_there_is_no_objection_form_and_a_post_files_nothing(web: httpx.Client, ledger: Ledger) -> None:
    """Issue 12: no anonymous objection. The public page offers owners a sign-in; a form posted
    without a session is sent to sign in, and nothing reaches trust-governance."""
    latest = ledger.disclosures()[-1]
    html = web.get(f"/c/{SHENGJIAN}").text
    assert 'id="objection-sign-in"' in html and f'action="/c/{SHENGJIAN}/objections' not in html
    before = len(ledger.objections(latest.name))
    reply = web.post(f"/c/{SHENGJIAN}/objections", data={
        "request_id": uuid.uuid4().hex, "account": "income:parking", "kind": "objection",
        "text": "匿名的异议 an anonymous objection", "household": f"{SHENGJIAN}/b1/h101"})
    assert reply.status_code == 303 and reply.headers["location"] == f"/signin?next=/c/{SHENGJIAN}"
    assert len(ledger.objections(latest.name)) == before


def test_an_objection_is_filed_in_governance_and_confirmed(web: httpx.Client, ledger: Ledger,
                                                           demo_platform: DemoPlatform) -> None:
    latest = ledger.disclosures()[-1]
    home = as_owner(web, demo_platform)
    page = web.get(f"/c/{SHENGJIAN}")
    assert page.headers["cache-control"] == "no-store", "a page with the owner's households is theirs alone"
    fields = form_fields(page.text)
    assert fields["household"] == home, "their one household here, chosen for them"
    text = f"停车费收入比上月少，请说明 {uuid.uuid4().hex[:8]}"
    reply = web.post(f"/c/{SHENGJIAN}/objections", data={
        **fields, "account": "income:parking", "kind": "inspection", "text": text})
    assert reply.status_code == 201, reply.text
    assert "已收到您的查阅申请" in reply.text
    [filed] = [o for o in ledger.objections(latest.name) if o.text == text]
    assert filed.account == "income:parking" and filed.household_path == home
    assert filed.name in reply.text
    # One inspection request per household per disclosure: a second is refused, and says why.
    again = web.post(f"/c/{SHENGJIAN}/objections", data={
        **fields, "account": "income:parking", "kind": "inspection", "text": text + "（再问一次）",
        "request_id": uuid.uuid4().hex})
    assert again.status_code == 422 and filed.name.rsplit("/", 1)[-1] in again.text
    # Not an owner here: no form, and a post files nothing.
    as_owner(web, demo_platform, "chengdu/jinjiang/chenglonglu/fengshu/jinshang-chuntian/b9/h901")
    html = web.get(f"/c/{SHENGJIAN}").text
    assert 'id="objection-owners-only"' in html and f'action="/c/{SHENGJIAN}/objections' not in html
    refused = web.post(f"/c/{SHENGJIAN}/objections", data={**fields, "request_id": uuid.uuid4().hex,
                                                            "text": "我不是这里的业主 not an owner here"})
    assert refused.status_code == 403
    assert len([o for o in ledger.objections(latest.name) if o.household_path == home]) == 1


def test_submitting_the_same_form_twice_files_one_objection(web: httpx.Client, ledger: Ledger,
                                                            demo_platform: DemoPlatform) -> None:
    latest = ledger.disclosures()[-1]
    as_owner(web, demo_platform)
    fields = form_fields(web.get(f"/c/{SHENGJIAN}").text)
    data = {**fields, "text": f"保洁费用请公开凭证 {uuid.uuid4().hex[:8]}"}
    first = web.post(f"/c/{SHENGJIAN}/objections", data=data)
    again = web.post(f"/c/{SHENGJIAN}/objections", data=data)
    assert first.status_code == again.status_code == 201
    assert len([o for o in ledger.objections(latest.name) if o.text == data["text"]]) == 1


def test_an_empty_month_takes_an_objection_to_the_disclosure_as_a_whole(web: httpx.Client, ledger: Ledger,
                                                                        demo_platform: DemoPlatform) -> None:
    """Issue 16 defect 12: a sealed month without a single transfer has no line to pick, yet a
    resident may well object ("we paid our fees, where are they?"): the form offers the
    disclosure as a whole, and filing it works."""
    path = ledger.new_compound()
    empty = ledger.close_period(path)
    assert (empty.transfer_count, list(empty.income), list(empty.expenses)) == (0, [], [])
    as_owner(web, demo_platform, f"{path}/b1/h001")
    html = web.get(f"/c/{path}").text
    assert '<option value="" selected>整份公示 The disclosure as a whole</option>' in html
    assert "本期没有收支记录" in html
    fields = {"request_id": re.search(r'name="request_id" value="([0-9a-f]{32})"', html).group(1),  # type: ignore[union-attr]
              "account": "", "kind": "objection", "household": f"{path}/b1/h001",
              "text": "本月物业费已经缴纳，为什么公示里没有收入？"}
    reply = web.post(f"/c/{path}/objections", data=fields)
    assert reply.status_code == 201, reply.text
    assert "整份公示 The disclosure as a whole" in reply.text
    [filed] = ledger.objections(empty.name)
    assert (filed.account, filed.text, filed.household_path) == ("", fields["text"], f"{path}/b1/h001")
    # A line that the empty month does not have is still refused, and nothing more is filed.
    refused = web.post(f"/c/{path}/objections", data={**fields, "account": "income:parking",
                                                         "request_id": uuid.uuid4().hex})
    assert refused.status_code == 422 and "请选择公示中的一项" in refused.text
    assert len(ledger.objections(empty.name)) == 1


BAD = [
    ({"text": ""}, "text", "请写明您的问题"),
    ({"text": "   短  "}, "text", "至少4个字"),
    ({"text": "长" * 2001}, "text", "最多2000字"),
    ({"account": "income:lottery"}, "account", "请选择公示中的一项"),
    ({"kind": "complaint"}, "kind", "Choose an objection or an inspection request"),
    ({"household": "chengdu/jinjiang/chenglonglu/fengshu/jinshang-chuntian"}, "household", "您在本小区的房屋"),
    ({"household": f"{SHENGJIAN}/b1/h101"}, "household", "您在本小区的房屋"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_a_bad_objection_files_nothing_and_says_why(web: httpx.Client, ledger: Ledger, demo_platform: DemoPlatform,
                                                    change: dict[str, str], field: str, message: str) -> None:
    latest = ledger.disclosures()[-1]
    before = len(ledger.objections(latest.name))
    as_owner(web, demo_platform, f"{SHENGJIAN}/b9/h999")
    fields = form_fields(web.get(f"/c/{SHENGJIAN}").text)
    reply = web.post(f"/c/{SHENGJIAN}/objections", data={**fields, "text": "请说明这一项的支出明细", **change})
    assert reply.status_code == 422
    assert message in reply.text
    assert 'role="alert"' in reply.text and f'href="#f-{field}"' in reply.text
    assert 'aria-invalid="true"' in reply.text
    assert len(ledger.objections(latest.name)) == before


def test_the_json_twin_carries_the_same_disclosures(web: httpx.Client, ledger: Ledger) -> None:
    body = web.get(f"/api/compounds/{SHENGJIAN}").json()
    assert [d["period"] for d in body["disclosures"]] == [d.period for d in ledger.disclosures()]
    assert body["chain"]["valid"] is True
    assert web.get("/openapi.json").status_code == 200


def test_pages_run_no_scripts_and_public_ones_cache_briefly(web: httpx.Client) -> None:
    page = web.get(f"/c/{SHENGJIAN}")
    assert "script-src 'none'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "public, max-age=60"
    assert "<script" not in page.text
    assert web.get("/signin").headers["cache-control"] == "no-store"
