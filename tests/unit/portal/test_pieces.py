"""The portal's pieces without a platform: money formatting, charts, the objection form's
checks, the operator check, and the chain badge's honest states."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import Request
from linli_identity.testing import TestIssuer
from linli_portal import charts
from linli_portal.app import templates
from linli_portal.compound import Chain, CompoundView
from linli_portal.fmt import EN, account_names, points, points_short, yuan, yuan_short
from linli_portal.objections import ObjectionForm
from linli_portal.operators import OutOfScope, SignInNeeded, authorize
from linli_portal.signin import SESSION_COOKIE, Pending, needs_renewal
from starlette.datastructures import Headers

from linli.governance.v1 import disclosure_pb2, org_pb2
from linli_runtime.auth import PrincipalKind


@pytest.mark.parametrize(("fen", "text"), [(0, "¥0.00"), (5, "¥0.05"), (123_456_789, "¥1,234,567.89"),
                                           (-2_500, "-¥25.00"), (10**17 + 1, "¥1,000,000,000,000,000.01")])
def test_money_reads_in_yuan_from_integer_fen_exactly(fen: int, text: str) -> None:
    assert yuan(fen) == text == yuan(fen, EN)


def test_short_money_for_chart_labels_counts_in_wan_and_yi_for_chinese_readers() -> None:
    fens = (9_000, 96_000, 960_000, 9_600_000, 12_000_000, 250_000_000, 123_456_789_00, -960_000)
    assert [yuan_short(f) for f in fens] == ["¥90", "¥960", "¥9,600", "¥9.6万", "¥12万", "¥250万", "¥1.2亿", "-¥9,600"]
    assert [yuan_short(f, EN) for f in fens] == ["¥90", "¥960", "¥9,600", "¥96K", "¥120K", "¥2.5M", "¥123.5M",
                                                 "-¥9,600"]


def test_points_read_whole_or_in_wan() -> None:
    assert [points(n) for n in (0, 960, 96_000, -1_200)] == ["0", "960", "96,000", "-1,200"]
    assert [points_short(n) for n in (960, 9_999, 96_000, 1_234_567, 300_000_000)] == [
        "960", "9,999", "9.6万", "123.5万", "3亿"]
    assert points_short(96_000, EN) == "96K"


def test_accounts_read_chinese_first_with_english() -> None:
    assert account_names("income:parking") == ("停车费", "Parking")
    assert account_names("expense:cleaning", {"cleaning": "保洁 Cleaning"}) == ("保洁", "Cleaning")
    assert account_names("expense:new_line") == ("new line", "new line")


def test_a_chart_is_an_image_with_a_title_and_a_description_and_escapes_text() -> None:
    svg = str(charts.hbars([charts.Bar("<b>保洁</b>", 5, "5 / 10", target=10)], title="T & t", desc="D"))
    assert 'role="img"' in svg and "<title id=" in svg and "<desc id=" in svg
    assert "&lt;b&gt;保洁&lt;/b&gt;" in svg and "T &amp; t" in svg and "<b>" not in svg
    assert charts.hbars([], title="t", desc="d") == ""


def test_every_chart_has_its_own_ids() -> None:
    first = str(charts.columns([("2026-09", 1, "1")], title="a", desc="b"))
    second = str(charts.columns([("2026-09", 1, "1")], title="a", desc="b"))
    assert first.split('aria-labelledby="')[1][:20] != second.split('aria-labelledby="')[1][:20]


def test_a_stacked_chart_draws_one_segment_per_non_zero_count() -> None:
    svg = str(charts.stacked([("怀远镇", [0, 2, 3])], [("a", "#000"), ("b", "#111"), ("c", "#222")],
                             title="t", desc="d"))
    assert svg.count('fill="#111"') == 2 and svg.count('fill="#000"') == 1  # legend + segment; legend only


ACCOUNTS = {"income:parking", "expense:cleaning"}
HOMES = {"c/b1/h101"}


def test_a_good_objection_form_passes_and_keeps_its_request_id() -> None:
    form = ObjectionForm(account="income:parking", kind="inspection", text="  请说明停车费  ", household="c/b1/h101",
                         request_id="a" * 32)
    assert form.validate(ACCOUNTS, HOMES) and form.text == "请说明停车费"
    request = form.request("compounds/c/disclosures/2026-10")
    assert request.kind == disclosure_pb2.OBJECTION_KIND_INSPECTION and request.request_id == "a" * 32


@pytest.mark.parametrize(("change", "field"), [
    ({"account": "income:other"}, "account"), ({"kind": ""}, "kind"), ({"text": "abc"}, "text"),
    ({"text": "x" * 2001}, "text"), ({"household": "c/b2/h101"}, "household")])
def test_each_bad_field_gets_its_message(change: dict[str, str], field: str) -> None:
    form = ObjectionForm(**{"account": "income:parking", "kind": "objection", "text": "请说明停车费", **change})
    assert not form.validate(ACCOUNTS, HOMES)
    assert list(form.errors) == [field] and any(ord(c) > 127 for c in form.errors[field])


def test_an_objection_may_name_no_line_and_is_then_on_the_whole_disclosure() -> None:
    form = ObjectionForm(account="", kind="objection", text="本月为什么没有收入？")
    assert form.validate(set(), HOMES) and form.request("compounds/c/disclosures/2026-10").account == ""


def test_an_empty_disclosure_offers_the_whole_disclosure_only() -> None:
    d = disclosure_pb2.Disclosure(name="compounds/c~x/disclosures/2026-10", period="2026-10")
    html = render_compound(Chain(True, 1), [d], mine=[("c/x/b1/h101", "1栋101室")])
    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', html.split('id="f-account"')[1].split(
        "</select>")[0])
    assert options == [("", "整份公示 The disclosure as a whole")]


def test_a_tampered_request_id_is_replaced() -> None:
    form = ObjectionForm(account="income:parking", text="请说明停车费", request_id="../../x")
    assert form.validate(ACCOUNTS, HOMES) and len(form.request_id) == 32 and form.request_id != "../../x"


def request_with(headers: dict[str, str] | None = None, cookie: str = "") -> Request:
    raw = dict(headers or {})
    if cookie:
        raw["cookie"] = f"{SESSION_COOKIE}={cookie}"
    return Request({"type": "http", "headers": Headers(raw).raw, "method": "GET", "path": "/"})


async def test_the_operator_check(issuer: TestIssuer) -> None:
    verifier = issuer.verifier()
    token = issuer.issue("wang", role="street_officer", scope="chengdu/chongzhou")
    assert (await authorize(verifier, request_with(cookie=token), "chengdu/chongzhou/longxing")).principal.subject \
        == "wang"
    assert (await authorize(verifier, request_with({"authorization": f"Bearer {token}"}), "chengdu/chongzhou")).token \
        == token
    with pytest.raises(OutOfScope, match="does not include chengdu/jinjiang"):
        await authorize(verifier, request_with(cookie=token), "chengdu/jinjiang")
    with pytest.raises(OutOfScope, match=r"does not include chengdu\.$"):
        await authorize(verifier, request_with(cookie=token), "chengdu")
    with pytest.raises(SignInNeeded):
        await authorize(verifier, request_with(), "chengdu/chongzhou")
    with pytest.raises(SignInNeeded):  # another issuer's key
        await authorize(verifier, request_with(cookie=TestIssuer().issue("x", role="city_operator")), "chengdu")
    expired = issuer.issue("wang", role="city_operator", scope="chengdu", ttl_seconds=1, now=1_000_000)
    with pytest.raises(SignInNeeded, match="expired"):
        await authorize(verifier, request_with(cookie=expired), "chengdu")
    resident = issuer.issue("li", role="resident", scope="chengdu/chongzhou/longxing/longxing-community/shengjian")
    with pytest.raises(OutOfScope, match="cannot open operator pages"):
        await authorize(verifier, request_with(cookie=resident), "chengdu")
    for machine in (issuer.issue("svc", role="platform_admin", kind=PrincipalKind.SERVICE),
                    issuer.issue_service_token("portal")):
        with pytest.raises(OutOfScope):
            await authorize(verifier, request_with(cookie=machine), "chengdu")
    # Several grants: any operator grant that reaches the page opens it.
    both = issuer.issue("he", grants=[("volunteer", "chengdu/jinjiang/chenglonglu/fengshu"),
                                      ("community_worker", "chengdu/jinjiang/chenglonglu/fengshu")])
    assert (await authorize(verifier, request_with(cookie=both), "chengdu/jinjiang/chenglonglu/fengshu")).token == both


def test_the_sign_in_in_flight_round_trips_its_cookie_and_uses_s256() -> None:
    import base64
    import hashlib

    pending = Pending.start("/ops/chengdu")
    assert Pending.from_cookie(pending.cookie()) == pending
    assert Pending.from_cookie("not base64 json") is None
    digest = base64.urlsafe_b64encode(hashlib.sha256(pending.verifier.encode()).digest()).decode().rstrip("=")
    assert pending.challenge == digest and len(pending.verifier) >= 43


def test_a_session_is_renewed_shortly_before_its_token_lapses(issuer: TestIssuer) -> None:
    assert not needs_renewal(issuer.issue("a", role="city_operator", scope="chengdu", ttl_seconds=600))
    assert needs_renewal(issuer.issue("a", role="city_operator", scope="chengdu", ttl_seconds=30))
    assert needs_renewal("") and needs_renewal("garbage")


def render_compound(chain: Chain, disclosures: list[disclosure_pb2.Disclosure], *, me: object = None,
                    mine: list[tuple[str, str]] | None = None) -> str:
    """The compound page as `me` (None: nobody signed in) sees it, owning `mine` there."""
    view = CompoundView("c/x", org_pb2.OrgUnit(path="c/x", display_name="某小区"), [], disclosures, None, chain)
    context: dict[str, Any] = {"request": request_with(), "v": view, "form": ObjectionForm(), "notice": "",
                               "me": me or (object() if mine else None), "mine": mine or []}
    return templates.get_template("compound.html").render(context)


def test_the_objection_form_is_for_signed_in_owners_only() -> None:
    """Issue 12: no anonymous objection. Signed out, the page offers sign-in and no form; signed
    in without an owner grant here, it says so; an owner chooses among their own households only."""
    d = disclosure_pb2.Disclosure(name="compounds/c~x/disclosures/2026-10", period="2026-10")
    signed_out = render_compound(Chain(True, 1), [d])
    assert 'action="/c/c/x/objections' not in signed_out and 'href="/signin?next=/c/c/x%23objection"' in signed_out
    stranger = render_compound(Chain(True, 1), [d], me=object())
    assert 'action="/c/c/x/objections' not in stranger and 'id="objection-owners-only"' in stranger
    owner = render_compound(Chain(True, 1), [d], mine=[("c/x/b1/h101", "1栋101室"), ("c/x/b2/h301", "2栋301室")])
    homes = re.findall(r'<option value="([^"]*)"', owner.split('id="f-household"')[1].split("</select>")[0])
    assert 'action="/c/c/x/objections' in owner and homes == ["", "c/x/b1/h101", "c/x/b2/h301"]


def test_an_owner_must_name_their_household() -> None:
    form = ObjectionForm(account="income:parking", kind="objection", text="请说明停车费")
    assert not form.validate(ACCOUNTS, HOMES, required=True) and "household" in form.errors
    neighbours = ObjectionForm(account="income:parking", kind="objection", text="请说明停车费", household="c/b9/h999")
    assert not neighbours.validate(ACCOUNTS, HOMES, required=True) and "household" in neighbours.errors


def test_a_broken_chain_says_where_it_broke() -> None:
    d = disclosure_pb2.Disclosure(name="compounds/c~x/disclosures/2026-10", period="2026-10")
    html = render_compound(Chain(False, 2, "2026-09", "seal_mismatch: recomputed seal differs"), [d])
    assert 'data-valid="false"' in html and "验证未通过：第 2026-09 期公示与账本不符" in html
    assert "Not verified: broken at 2026-09 (seal_mismatch: recomputed seal differs)" in html.replace("&#39;", "'")
    assert "已验证" not in html


def test_no_disclosure_yet_is_not_verified() -> None:
    html = render_compound(Chain(True, 0), [])
    assert 'data-valid="false"' in html and "尚未验证" in html and "还没有公示" in html
