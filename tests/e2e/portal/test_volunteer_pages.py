"""The volunteers' side of the portal (issue 13 item 2) on the demo platform, in headless
Chromium at a phone's 375 px: a volunteer signs in at the issuer with phone + SMS code, sees
their balance, shows their member code — and the sample POS client (`tools/pos_client.py`, a
real gRPC call at partner-redemption's POS edge over TLS, as under `make run`) redeems the digits
on the screen; the pages then show the new balance and the redemption. The demo volunteer
(+86 138 0000 0005) sees their family, pairing and last year's award, and downloads its
certificate. Volunteer A's pages and JSON show nothing of volunteer B (balance, redemptions,
member code). Accessibility is checked on every page; screenshots go to var/screenshots."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from linli.points.v1 import ledger_pb2, ledger_pb2_grpc, volunteers_pb2, volunteers_pb2_grpc
from linli.redemption.v1 import admin_pb2, admin_pb2_grpc
from linli_cli.pos import DEMO_REWARD
from linli_runtime.auth import Role
from linli_runtime.testing.platform import DemoPlatform, Person
from linli_runtime.times import SHANGHAI
from tests.e2e.portal.conftest import FENGSHU, sign_in
from tests.e2e.portal.test_browser import REPO, accessible, shoot, sign_in_at_the_issuer

# The fixtures: Chromium, and a page at 375 px.
from tests.e2e.portal.test_browser import browser as browser
from tests.e2e.portal.test_browser import phone as phone

DEMO_VOLUNTEER_PHONE = "+8613800000005"  # v-001 of Fengshu (linli_identity.demo)


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


@dataclass(frozen=True)
class Volunteer:
    person: Person
    volunteer_id: str
    name: str


def new_volunteer(platform: DemoPlatform, name: str, points: int) -> Volunteer:
    """A person with the volunteer role at Fengshu, bound to a new volunteer record there (by the
    community's worker) with `points` credited (by the platform admin, as the ledger's writers)."""
    person = platform.person(Role.VOLUNTEER, FENGSHU, name)
    volunteer_id = f"e2e-{uuid.uuid4().hex[:8]}"
    worker = bearer(platform.token(Role.COMMUNITY_WORKER, FENGSHU, "李社工 volunteer e2e"))
    with platform.sync_channel("volunteer-points") as channel:
        volunteers_pb2_grpc.VolunteerServiceStub(channel).CreateVolunteer(volunteers_pb2.CreateVolunteerRequest(
            volunteer=volunteers_pb2.Volunteer(community_path=FENGSHU, volunteer_id=volunteer_id, display_name=name,
                                               account_id=person.account.removeprefix("accounts/"))),
            metadata=worker, timeout=15)
        ledger_pb2_grpc.LedgerServiceStub(channel).CreateTransfer(ledger_pb2.CreateTransferRequest(
            community_path=FENGSHU, transfer_id=f"fund-{volunteer_id}", debit_account="system/issuance",
            credit_account=f"volunteers/{volunteer_id}", amount=points, reason="governance", source="e2e"),
            metadata=bearer(platform.token()), timeout=15)
    return Volunteer(person, volunteer_id, name)


def pos_redeem(platform: DemoPlatform, member_code: str) -> subprocess.CompletedProcess[str]:
    """The sample POS client at the POS edge (TLS, trusting the platform's CA), as the demo
    terminal, with the digits the volunteer shows."""
    return subprocess.run([sys.executable, str(REPO / "tools" / "pos_client.py"), "redeem", "--member-code",
                           member_code, "--reward", DEMO_REWARD, "--request-id", uuid.uuid4().hex],
                          capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={**os.environ, **platform.client_env})


def test_a_volunteer_shows_the_member_code_and_the_pos_redeems_it(phone: Any, portal_url: str,
                                                                   demo_platform: DemoPlatform) -> None:
    wang = new_volunteer(demo_platform, "王秀英 e2e", 100)
    phone.goto(f"{portal_url}/me/points")
    sign_in_at_the_issuer(phone, demo_platform, wang.person.phone)
    phone.wait_for_selector("#points-fengshu")
    assert phone.url == f"{portal_url}/me/points"
    assert phone.locator("html").get_attribute("lang") == "zh-CN"
    assert phone.locator("#points-fengshu .balance").inner_text() == "100"
    assert "枫树" in phone.locator("#points-h-fengshu").inner_text()
    accessible(phone)
    shoot(phone, "me-points-375.png")

    shown = phone.goto(f"{portal_url}/me/member-code")
    assert shown.headers["cache-control"] == "no-store"  # a guessable secret: never cached
    refresh = phone.locator("meta[http-equiv=refresh]").get_attribute("content")
    assert refresh is not None and 5 <= int(refresh) <= 120
    digits = "".join(phone.locator("#code-fengshu .code-digits").inner_text().split())
    assert re.fullmatch(r"\d{14}", digits)
    assert phone.locator("#code-fengshu svg[role=img] title").count() == 1
    accessible(phone)
    shoot(phone, "me-member-code-375.png")

    till = pos_redeem(demo_platform, digits)
    assert till.returncode == 0, till.stdout + till.stderr
    assert "100 points available" in till.stdout and "血压测量 x1 for 10 points" in till.stdout
    redemption = re.search(r"redeemed: (\S+) ", till.stdout).group(1)  # type: ignore[union-attr]

    phone.goto(f"{portal_url}/me/points")
    assert phone.locator("#points-fengshu .balance").inner_text() == "90"  # at once: the held points count as spent
    first = phone.locator("#points-fengshu table.history tbody tr").first
    posted_by = time.monotonic() + 15  # the hold is posted from the committed event, a moment after the till's answer
    while first.locator(".change").inner_text() != "−10" and time.monotonic() < posted_by:
        phone.wait_for_timeout(100)
        phone.reload()
    assert "积分兑换" in first.inner_text() and first.locator(".change").inner_text() == "−10"
    phone.click("a[href='/me/rewards']")
    phone.wait_for_selector(f"tr[data-redemption='{redemption}']")
    row = phone.locator(f"tr[data-redemption='{redemption}']").inner_text()
    assert "锦城逸景社区卫生服务中心" in row and "血压测量" in row and "已兑换" in row
    assert phone.locator("li.reward[data-reward='merchants/jinchengyijing-health/rewards/blood-pressure-check']"
                         ).count() == 1
    accessible(phone)
    shoot(phone, "me-rewards-375.png")
    phone.click("a[href='/me/team']")
    phone.wait_for_selector("#team-fengshu")
    accessible(phone)
    mine = phone.request.get(f"{portal_url}/api/me/points").json()["volunteers"]
    assert [(v["volunteer_id"], v["balance"]) for v in mine] == [(wang.volunteer_id, 90)]


def test_the_demo_volunteer_sees_family_pairing_and_award_and_downloads_the_certificate(
        phone: Any, portal_url: str, demo_platform: DemoPlatform) -> None:
    phone.goto(f"{portal_url}/me/team")
    sign_in_at_the_issuer(phone, demo_platform, DEMO_VOLUNTEER_PHONE)
    phone.wait_for_selector("#team-fengshu")
    team = phone.locator("#team-fengshu").inner_text()
    assert "小枫叶" in team and phone.locator("#team-fengshu li.pairing").count() >= 1
    assert "铜牌" in phone.locator("#team-fengshu li.award").first.inner_text()
    accessible(phone)
    shoot(phone, "me-team-375.png")
    last_year = datetime.now(SHANGHAI).year - 1
    link = phone.locator("#team-fengshu li.award a.button").first.get_attribute("href")
    assert link == f"/me/awards/{last_year}/certificate.pdf?community={FENGSHU}"
    pdf = phone.request.get(f"{portal_url}{link}", timeout=90_000)
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF-")


def test_volunteer_a_sees_nothing_of_volunteer_b(portal_url: str, demo_platform: DemoPlatform) -> None:
    a = new_volunteer(demo_platform, "志愿者甲 e2e A", 40)
    b = new_volunteer(demo_platform, "志愿者乙 e2e B", 70)
    worker = bearer(demo_platform.token(Role.COMMUNITY_WORKER, FENGSHU, "李社工 volunteer e2e"))
    with demo_platform.sync_channel("partner-redemption") as channel:
        b_code = admin_pb2_grpc.MemberCardServiceStub(channel).GetMemberCode(admin_pb2.GetMemberCodeRequest(
            community_path=FENGSHU, volunteer_id=b.volunteer_id), metadata=worker, timeout=15).member_code
    till = pos_redeem(demo_platform, b_code)
    assert till.returncode == 0, till.stdout + till.stderr
    b_redemption = re.search(r"redeemed: (\S+) ", till.stdout).group(1)  # type: ignore[union-attr]
    leaks = (b.volunteer_id, b.name, b.person.account.removeprefix("accounts/"), b_redemption,
             b_code[:8])  # B's card number: the first 8 digits of every code of B's

    with httpx.Client(base_url=portal_url, timeout=60, follow_redirects=False) as web:
        sign_in(web, demo_platform, a.person.phone, "/me/points")
        for page in ("/me/points", "/me/member-code", "/me/rewards", "/me/team", "/api/me/points",
                     "/api/me/member-code", "/api/me/rewards", "/api/me/team"):
            reply = web.get(page)
            assert reply.status_code == 200, (page, reply.status_code, reply.text[:300])
            assert reply.headers["cache-control"] == "no-store", page
            for leak in leaks:
                assert leak not in reply.text, f"{page} shows volunteer B's {leak}"
        assert [(v["volunteer_id"], v["balance"]) for v in web.get("/api/me/points").json()["volunteers"]] == [
            (a.volunteer_id, 40)]
        assert web.get("/api/me/rewards").json()["volunteers"][0]["redemptions"] == []
        [code] = web.get("/api/me/member-code").json()["member_codes"]
        assert code["volunteer_id"] == a.volunteer_id and not code["member_code"].startswith(b_code[:8])
        # B's certificate is not A's to fetch: A's own records only, whatever the query names.
        assert web.get(f"/me/awards/2025/certificate.pdf?community={FENGSHU}x").status_code == 404
