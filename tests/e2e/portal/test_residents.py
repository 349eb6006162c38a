"""The residents' side of the portal (issue 13) on the demo platform, in headless Chromium at a
phone's 375 px: an owner signs in at the issuer with phone + SMS code and votes (the tally counts
the household's area, and the ballot can be changed until the close); Ms Wan's story from her
side (staff file for her, the duty worker acknowledges and resolves over gRPC, she sees the
follow-ups and thanks the helpers, the thanks shows on the community's page); the standalone
verifier on a real download; and household A's pages and JSON showing nothing of household B.
Accessibility is checked on every page as on the public ones; screenshots go to var/screenshots."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import linli_verify
from google.protobuf.timestamp_pb2 import Timestamp

from linli.governance.v1 import disclosure_pb2, disclosure_pb2_grpc, vote_pb2, vote_pb2_grpc
from linli.notification.v1 import notification_pb2 as npb
from linli.notification.v1 import notification_pb2_grpc as npb_grpc
from linli_runtime.auth import Role
from linli_runtime.testing.platform import DemoPlatform
from tests.e2e.portal.conftest import FENGSHU, SHENGJIAN, Ledger, sign_in
from tests.e2e.portal.test_browser import accessible, shoot, sign_in_at_the_issuer

# The fixtures: Chromium, and a page at 375 px.
from tests.e2e.portal.test_browser import browser as browser
from tests.e2e.portal.test_browser import phone as phone

FENGSHU_NAME = "communities/" + FENGSHU.replace("/", "~")


def rid() -> str:
    return uuid.uuid4().hex


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def open_vote(platform: DemoPlatform, compound: str, title: str) -> vote_pb2.Vote:
    close = Timestamp()
    close.FromDatetime(datetime.now(UTC) + timedelta(days=3))
    with platform.sync_channel("trust-governance") as channel:
        reply = vote_pb2_grpc.VoteServiceStub(channel).CreateVote(vote_pb2.CreateVoteRequest(
            compound_path=compound, title=title, matter=vote_pb2.VOTE_MATTER_OTHER, close_time=close,
            request_id=rid()), metadata=bearer(platform.token(Role.PLATFORM_ADMIN)), timeout=15)
    vote: vote_pb2.Vote = reply.vote
    return vote


def get_vote(platform: DemoPlatform, name: str) -> vote_pb2.Vote:
    with platform.sync_channel("trust-governance") as channel:
        reply = vote_pb2_grpc.VoteServiceStub(channel).GetVote(vote_pb2.GetVoteRequest(name=name),
                                                               metadata=bearer(platform.token()), timeout=15)
    vote: vote_pb2.Vote = reply.vote
    return vote


def test_an_owner_signs_in_with_an_sms_code_votes_and_the_tally_counts_the_household_area(
        phone: Any, portal_url: str, demo_platform: DemoPlatform, ledger: Ledger) -> None:
    compound = ledger.new_compound(households=2)  # 90.00 m² each
    vote = open_vote(demo_platform, compound, "增设充电棚 A charging shed")
    owner = demo_platform.person(Role.RESIDENT, f"{compound}/b1/h001", "业主 e2e owner")
    phone.goto(f"{portal_url}/me")
    sign_in_at_the_issuer(phone, demo_platform, owner.phone)
    phone.wait_for_selector("#household-1")
    assert phone.url == f"{portal_url}/me"
    assert phone.locator("html").get_attribute("lang") == "zh-CN"
    assert "90.00 m²" in phone.locator("#household-1 .area").inner_text()
    accessible(phone)
    shoot(phone, "me-375.png")

    phone.click("a[href='/me/votes']")
    phone.wait_for_selector("section.vote")
    assert "增设充电棚" in phone.locator("section.vote h2").inner_text()
    accessible(phone)
    phone.check("input[name=choice][value=for]")
    phone.click("section.vote button[type=submit]")
    phone.wait_for_selector("#notice")
    assert phone.locator(".participating-area").inner_text() == "90.00 / 180.00 m²"
    assert phone.locator(".for-area").inner_text() == "90.00 m²"
    assert "赞成" in phone.locator(".my-ballot").inner_text()
    tally = get_vote(demo_platform, vote.name).tally
    assert (tally.participating_area_dm2, tally.for_area_dm2, tally.participating_households) == (9_000, 9_000, 1)
    shoot(phone, "me-votes-375.png")
    # Changed before the close: still one ballot, the latest choice counts.
    phone.check("input[name=choice][value=against]")
    phone.click("section.vote button[type=submit]")
    phone.wait_for_selector("#notice")
    assert phone.locator(".for-area").inner_text() == "0.00 m²"
    tally = get_vote(demo_platform, vote.name).tally
    assert (tally.participating_area_dm2, tally.for_area_dm2, tally.participating_households) == (9_000, 0, 1)
    for path in ("/me/objections", "/me/help", "/me/inbox"):
        phone.goto(f"{portal_url}{path}")
        phone.wait_for_selector("h1")
        accessible(phone)
    # Preferences: the form works without JavaScript, and a half-set quiet period is refused.
    phone.fill("#p-qs", "22:00")
    phone.click("form[action='/me/inbox/preferences'] button[type=submit]")
    assert "免打扰" in phone.locator("#error").inner_text()
    phone.fill("#p-qe", "07:00")
    phone.click("form[action='/me/inbox/preferences'] button[type=submit]")
    phone.wait_for_selector("main h1")
    assert phone.locator("#notice").count() == 1, phone.locator("main").inner_text()
    assert phone.locator("#p-qe").input_value() == "07:00"


def test_ms_wans_story_from_her_side(browser: Any, phone: Any, portal_url: str, demo_platform: DemoPlatform,
                                     ledger: Ledger) -> None:
    compound = ledger.new_compound(households=1)
    home = f"{compound}/b1/h001"
    wan = demo_platform.person(Role.RESIDENT, home, "万阿姨 e2e")
    marker = uuid.uuid4().hex[:6]
    # The community's staff file for her at the portal, recording how to reach her and her home.
    staff = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN").new_page()
    try:
        staff.goto(f"{portal_url}/me/help")
        sign_in_at_the_issuer(staff, demo_platform, demo_platform.person(
            Role.COMMUNITY_WORKER, FENGSHU, "食堂 canteen e2e").phone)
        staff.wait_for_selector("#h-name")
        staff.select_option("#h-community", FENGSHU)
        staff.fill("#h-name", "万阿姨")
        staff.fill("#h-contact", "138-0000-0000")
        staff.fill("#h-unit", home.removeprefix(FENGSHU + "/"))
        staff.check("input[name=category][value=meal]")
        staff.fill("#h-text", f"万阿姨生病卧床，无法出门买饭 {marker}")
        accessible(staff)
        staff.click("form[action='/me/help'] button[type=submit]")
        staff.wait_for_selector("#notice")
    finally:
        staff.context.close()
    # The duty worker takes it and resolves it (gRPC, as the CLI does), then makes a follow-up call.
    worker = bearer(demo_platform.token(Role.COMMUNITY_WORKER, FENGSHU, "值班社工 duty e2e"))
    with demo_platform.sync_channel("notification") as channel:
        desk = npb_grpc.HelpRequestServiceStub(channel)
        [request] = [r for r in desk.ListHelpRequests(npb.ListHelpRequestsRequest(
            parent=FENGSHU_NAME, household_path=home), metadata=worker, timeout=15).help_requests]
        assert marker in request.description and request.on_behalf_of == "万阿姨"
        desk.AcknowledgeHelpRequest(npb.AcknowledgeHelpRequestRequest(name=request.name, request_id=rid()),
                                    metadata=worker, timeout=15)
        resolved = desk.ResolveHelpRequest(npb.ResolveHelpRequestRequest(
            name=request.name, resolution="食堂周六休息，从邻家小馆订餐送到家", helper_ids=["v-001"], request_id=rid()),
            metadata=worker, timeout=15).help_request
        desk.RecordFollowUp(npb.RecordFollowUpRequest(
            name=resolved.follow_ups[0].name, note="电话回访：已好转", early_reason="she called first",
            request_id=rid()), metadata=worker, timeout=15)
    ident = request.name.rsplit("/", 1)[-1]

    phone.goto(f"{portal_url}/me/help")
    sign_in_at_the_issuer(phone, demo_platform, wan.phone)
    phone.wait_for_selector(f"a[href='/me/help/{ident}']")
    accessible(phone)
    phone.click(f"a[href='/me/help/{ident}']")
    phone.wait_for_selector("#follow-ups")
    assert "已回访" in phone.locator("#status").inner_text()  # resolved, then followed up
    assert phone.locator("#follow-ups li").count() == 3
    assert "已好转" in phone.locator("#follow-ups").inner_text()
    assert "邻家小馆" in phone.locator("main").inner_text()
    accessible(phone)
    banner = f"排忧解难办实事 服务居民暖人心 {marker}"
    phone.check("input[name=kind][value=banner]")
    phone.fill("#t-text", banner)
    phone.fill("#t-signed", "万阿姨")
    phone.click("form[action$='/thanks'] button[type=submit]")
    phone.wait_for_selector("#thanks")
    assert banner in phone.locator("#thanks").inner_text()
    shoot(phone, "me-help-thanks-375.png")

    phone.goto(f"{portal_url}/community/{FENGSHU}")
    item = phone.locator("li.thanks.banner", has_text=banner)
    assert item.count() == 1 and "万阿姨" in item.inner_text()
    accessible(phone)
    shoot(phone, "community-375.png")


def leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in leaves(v, (*path, i))]
    return [path]


def changed(doc: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    target: Any = out
    for key in path[:-1]:
        target = target[key]
    value = target[path[-1]]
    if isinstance(value, bool):
        target[path[-1]] = not value
    elif isinstance(value, int):
        target[path[-1]] = value + 1
    elif isinstance(value, str):
        target[path[-1]] = value + "x"
    else:
        target[path[-1]] = "x"
    return out


def test_the_verifier_accepts_a_real_download_and_refuses_any_single_change(
        portal_url: str, web: httpx.Client, ledger: Ledger, tmp_path: Path) -> None:
    latest = ledger.disclosures()[-1]
    head = ledger.verify().published_head_seal_hash
    page = web.get(f"/c/{SHENGJIAN}")
    assert f'href="/d/{SHENGJIAN}/{latest.period}.json"' in page.text
    download = web.get(f"/d/{SHENGJIAN}/{latest.period}.json")
    assert download.status_code == 200 and download.headers["content-type"].startswith("application/json")
    path = tmp_path / "shengjian.json"
    path.write_bytes(download.content)
    run = [sys.executable, "-m", "linli_verify", str(path)]
    verified = subprocess.run([*run, "--head", head or latest.seal_hash], capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    doc = json.loads(download.content)
    assert doc["seal_hash"] == latest.seal_hash and doc["sealed_body"]["lines"], "every transfer line is in it"
    paths = leaves(doc)
    for field in paths:
        assert not linli_verify.check(changed(doc, field)).ok, f"changing {field} went unnoticed"
    # And once through the command line: an amount of a sealed line changed.
    amount = next(p for p in paths if p[-1] == "amount_fen")
    path.write_text(json.dumps(changed(doc, amount), ensure_ascii=False), encoding="utf-8")
    refused = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "NOT VERIFIED" in refused.stdout
    # The disclosure's page lists every line, with the download.
    lines = web.get(f"/d/{SHENGJIAN}/{latest.period}")
    assert lines.status_code == 200 and lines.text.count("<tr><th scope=\"row\">") == len(doc["sealed_body"]["lines"])


def test_household_a_sees_nothing_of_household_b(portal_url: str, demo_platform: DemoPlatform,
                                                 ledger: Ledger) -> None:
    compound = ledger.new_compound(households=2)
    a_home, b_home = f"{compound}/b1/h001", f"{compound}/b1/h002"
    vote = open_vote(demo_platform, compound, "A/B vote")
    disclosure = ledger.close_period(compound)
    a = demo_platform.person(Role.RESIDENT, a_home, "户A household A")
    b = demo_platform.person(Role.RESIDENT, b_home, "户B household B")
    b_token = bearer(demo_platform.token(Role.RESIDENT, b_home, "户B household B"))
    secret = f"B-only-{uuid.uuid4().hex[:8]}"
    # Household B votes, objects and asks for help, with its own token.
    with demo_platform.sync_channel("trust-governance") as channel:
        vote_pb2_grpc.VoteServiceStub(channel).CastBallot(vote_pb2.CastBallotRequest(
            vote=vote.name, household_path=b_home, choice=vote_pb2.BALLOT_CHOICE_AGAINST,
            channel=vote_pb2.BALLOT_CHANNEL_ONLINE, request_id=rid()), metadata=b_token, timeout=15)
        disclosure_pb2_grpc.DisclosureServiceStub(channel).FileObjection(disclosure_pb2.FileObjectionRequest(
            disclosure=disclosure.name, kind=disclosure_pb2.OBJECTION_KIND_OBJECTION, text=f"objection {secret}",
            household_path=b_home, request_id=rid()), metadata=b_token, timeout=15)
    with demo_platform.sync_channel("notification") as channel:
        filed = npb_grpc.HelpRequestServiceStub(channel).CreateHelpRequest(npb.CreateHelpRequestRequest(
            parent=FENGSHU_NAME, request_id=rid(), help_request=npb.HelpRequest(
                category="repair", reporter_role=npb.REPORTER_ROLE_RESIDENT, household_path=b_home,
                description=f"help {secret}")), metadata=b_token, timeout=15).help_request
    b_ident = filed.name.rsplit("/", 1)[-1]
    b_account = b.account.removeprefix("accounts/")

    with httpx.Client(base_url=portal_url, timeout=30, follow_redirects=False) as web:
        sign_in(web, demo_platform, a.phone, "/me")
        pages = ["/me", "/me/votes", "/me/objections", "/me/help", "/me/inbox", "/api/me", "/api/me/votes",
                 "/api/me/objections", "/api/me/help", "/api/me/inbox",
                 # the volunteers' pages (test_volunteer_pages.py walks them as volunteer A and B)
                 "/me/points", "/me/member-code", "/me/rewards", "/me/team", "/api/me/points", "/api/me/member-code",
                 "/api/me/rewards", "/api/me/team"]
        for page in pages:
            reply = web.get(page)
            assert reply.status_code == 200, (page, reply.status_code, reply.text[:300])
            for leak in (secret, b_home, b_account, b_ident):
                assert leak not in reply.text, f"{page} shows household B's {leak}"
        assert [h["household_path"] for h in web.get("/api/me").json()["households"]] == [a_home]
        [mine] = [v for v in web.get("/api/me/votes").json()["votes"] if v["vote"] == vote.name]
        assert mine["my_ballot"] is None and mine["tally"]["participating_owners"] == 1  # B's, counted, not shown
        for page in (f"/me/help/{b_ident}", f"/api/me/help/{b_ident}"):
            assert web.get(page).status_code == 404
        # Nor can A act for B: a ballot or an objection for B's household is refused.
        ballot = web.post("/me/votes/ballot", data={"vote": vote.name, "household": b_home, "choice": "for"})
        assert ballot.status_code == 422
        objection = web.post("/me/objections", data={"household": b_home, "disclosure": disclosure.name,
                                                     "text": "not mine to file"})
        assert objection.status_code == 422
    tally = get_vote(demo_platform, vote.name).tally
    assert (tally.participating_households, tally.for_households) == (1, 0)
