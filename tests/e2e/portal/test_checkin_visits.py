"""Check-in by the organiser's rotating QR code and visits confirmed (issue 13), in headless
Chromium at 375 px on the demo platform: the organiser's page shows the QR code of a signed,
short-lived URL; a volunteer who opens it (signing in on the way) is checked in, and credited
once when the organiser confirms; a replayed URL and one for an activity outside its window
show the reason on the page. A volunteer logs a visit to the paired elder, the community worker
confirms it from their page, and it earns its points; the elder rejects another. All of it in
a community of the module's own (the demo's Fengshu keeps its 72 volunteers for the tests that
count them). Accessibility as on every page; screenshots in var/screenshots."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from linli.governance.v1 import org_pb2, org_pb2_grpc
from linli.notification.v1 import notification_pb2 as npb
from linli.notification.v1 import notification_pb2_grpc as npb_grpc
from linli.points.v1 import activities_pb2 as apb
from linli.points.v1 import activities_pb2_grpc, ledger_pb2_grpc, pairings_pb2_grpc, volunteers_pb2_grpc
from linli.points.v1 import ledger_pb2 as led
from linli.points.v1 import pairings_pb2 as ppb
from linli.points.v1 import volunteers_pb2 as vpb
from linli_runtime.auth import Role
from linli_runtime.testing.platform import DemoPlatform, Person
from linli_runtime.testing.waiting import wait_until
from linli_runtime.times import SHANGHAI
from tests.e2e.portal.conftest import FENGSHU, Ledger, sign_in
from tests.e2e.portal.test_browser import accessible, shoot, sign_in_at_the_issuer

# The fixtures: Chromium, and a page at 375 px.
from tests.e2e.portal.test_browser import browser as browser
from tests.e2e.portal.test_browser import phone as phone

CHENGLONGLU = FENGSHU.rsplit("/", 1)[0]


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def stamp(when: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(when)
    return out


@pytest.fixture(scope="module")
def community(demo_platform: DemoPlatform) -> str:
    """A community of the module's own beside Fengshu, created in trust-governance as an operator
    would, and waited for until volunteer-points has learned it from governance's event (read
    from its SQLite file: no API lists the places a service knows)."""
    path = f"{CHENGLONGLU}/checkin-{uuid.uuid4().hex[:8]}"
    with demo_platform.sync_channel("trust-governance") as channel:
        org_pb2_grpc.OrgServiceStub(channel).CreateOrgUnit(org_pb2.CreateOrgUnitRequest(
            parent_path=CHENGLONGLU, slug=path.rsplit("/", 1)[-1], kind=org_pb2.ORG_UNIT_KIND_COMMUNITY,
            display_name="签到测试社区", request_id=uuid.uuid4().hex),
            metadata=bearer(demo_platform.token(Role.PLATFORM_ADMIN)), timeout=15)

    def known() -> bool:
        with sqlite3.connect(demo_platform.var_dir / "volunteer_points.db") as db:
            return db.execute("SELECT 1 FROM points_org_unit WHERE path = ?", (path,)).fetchone() is not None

    # On a thread of its own: Playwright's sync API may already run an event loop on this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, wait_until(known, what=f"volunteer-points to learn {path}")).result()
    programme = Programme(demo_platform, path)
    for slug, name, points in (("governance", "参与社区治理", 10), ("elderly-visits", "关爱老人", 5)):
        programme.category(slug, name, points)
    return path


class Programme:
    """A community's volunteer programme over gRPC, as its community worker."""

    def __init__(self, platform: DemoPlatform, community: str) -> None:
        self.platform = platform
        self.community = community
        self.slug = community.replace("/", "~")
        self.md = bearer(platform.token(Role.COMMUNITY_WORKER, community, "李社工 check-in e2e"))

    def category(self, slug: str, name: str, points: int) -> None:
        with self.platform.sync_channel("volunteer-points") as channel:
            activities_pb2_grpc.ActivityServiceStub(channel).UpdateTaskCategory(apb.UpdateTaskCategoryRequest(
                task_category=apb.TaskCategory(community_path=self.community, slug=slug, display_name=name,
                                               default_points=points), allow_missing=True),
                metadata=self.md, timeout=15)

    def activity(self, title: str, start: datetime, end: datetime) -> str:
        activity_id = f"e2e-{uuid.uuid4().hex[:10]}"
        with self.platform.sync_channel("volunteer-points") as channel:
            activities_pb2_grpc.ActivityServiceStub(channel).CreateActivity(apb.CreateActivityRequest(
                activity=apb.Activity(community_path=self.community, activity_id=activity_id, title=title,
                                      category="governance", start_time=stamp(start), end_time=stamp(end))),
                metadata=self.md, timeout=15)
        return activity_id

    def volunteer(self, person: Person, family_id: str = "") -> str:
        volunteer_id = f"v-e2e-{uuid.uuid4().hex[:8]}"
        with self.platform.sync_channel("volunteer-points") as channel:
            volunteers_pb2_grpc.VolunteerServiceStub(channel).CreateVolunteer(vpb.CreateVolunteerRequest(
                volunteer=vpb.Volunteer(community_path=self.community, volunteer_id=volunteer_id,
                                        display_name=person.name, family_id=family_id,
                                        account_id=person.account.removeprefix("accounts/"))),
                metadata=self.md, timeout=15)
        return volunteer_id

    def family_paired_with(self, elder_name: str, elder: Person | None = None) -> str:
        """A new family paired with a new elder (bound to `elder`'s account if given); the family's id."""
        tag = uuid.uuid4().hex[:8]
        family_id, elder_id = f"f-e2e-{tag}", f"e-e2e-{tag}"
        with self.platform.sync_channel("volunteer-points") as channel:
            volunteers_pb2_grpc.VolunteerServiceStub(channel).CreateFamily(vpb.CreateFamilyRequest(
                family=vpb.Family(community_path=self.community, family_id=family_id, display_name="测试家庭")),
                metadata=self.md, timeout=15)
            pairings = pairings_pb2_grpc.PairingServiceStub(channel)
            pairings.CreateElder(ppb.CreateElderRequest(elder=ppb.Elder(
                community_path=self.community, elder_id=elder_id, display_name=elder_name,
                account_id=elder.account.removeprefix("accounts/") if elder else "")), metadata=self.md, timeout=15)
            pairings.CreatePairing(ppb.CreatePairingRequest(pairing=ppb.Pairing(
                community_path=self.community, pairing_id=f"p-e2e-{tag}", family_id=family_id, elder_id=elder_id,
                start_date="2026-01-01")), metadata=self.md, timeout=15)
        return family_id

    def sign_up(self, activity_id: str, volunteer_id: str) -> None:
        with self.platform.sync_channel("volunteer-points") as channel:
            activities_pb2_grpc.ActivityServiceStub(channel).SignUp(apb.SignUpRequest(
                community_path=self.community, activity_id=activity_id, volunteer_id=volunteer_id),
                metadata=self.md, timeout=15)

    def activity_now(self, activity_id: str) -> apb.GetActivityResponse:
        with self.platform.sync_channel("volunteer-points") as channel:
            reply: apb.GetActivityResponse = activities_pb2_grpc.ActivityServiceStub(channel).GetActivity(
                apb.GetActivityRequest(community_path=self.community, activity_id=activity_id), metadata=self.md,
                timeout=15)
        return reply

    def balance(self, volunteer_id: str) -> int:
        with self.platform.sync_channel("volunteer-points") as channel:
            reply = ledger_pb2_grpc.LedgerServiceStub(channel).GetBalance(led.GetBalanceRequest(
                community_path=self.community, account=f"volunteers/{volunteer_id}"), metadata=self.md, timeout=15)
        return int(reply.balance)


def test_a_volunteer_checks_in_through_the_organisers_qr_url_once_and_only_in_the_window(
        browser: Any, phone: Any, portal_url: str, demo_platform: DemoPlatform, community: str) -> None:
    programme = Programme(demo_platform, community)
    now = datetime.now(UTC)
    meeting = programme.activity("楼道议事会 e2e", now - timedelta(minutes=5), now + timedelta(hours=1))
    tomorrow = programme.activity("明天的清扫 e2e", now + timedelta(days=1), now + timedelta(days=1, hours=1))
    person = demo_platform.person(Role.VOLUNTEER, community, "志愿者 check-in e2e")
    volunteer_id = programme.volunteer(person)
    for activity_id in (meeting, tomorrow):
        programme.sign_up(activity_id, volunteer_id)

    organiser = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN").new_page()
    try:
        organiser.goto(f"{portal_url}/me/organise/{programme.slug}/{meeting}")
        sign_in_at_the_issuer(organiser, demo_platform, demo_platform.person(
            Role.COMMUNITY_WORKER, community, "组织者 organiser e2e").phone)
        organiser.wait_for_selector("#qr svg")
        # The page reloads itself when the code rotates (no JavaScript).
        refresh = organiser.locator("meta[http-equiv=refresh]").get_attribute("content")
        assert refresh is not None and 2 <= int(refresh) <= 30
        url = organiser.locator("#check-in-url").get_attribute("href")
        assert url is not None and url.startswith(f"{portal_url}/me/checkin/{programme.slug}/{meeting}?t=")
        assert "楼道议事会" in organiser.locator("h1").inner_text()
        accessible(organiser)
        shoot(organiser, "organiser-checkin-375.png")

        # The volunteer opens the URL: to the issuer to sign in, and straight back to check in.
        phone.goto(url)
        sign_in_at_the_issuer(phone, demo_platform, person.phone)
        phone.wait_for_selector("#checked-in")
        assert "签到成功" in phone.locator("#checked-in").inner_text()
        assert "楼道议事会" in phone.locator("main h2").inner_text()
        accessible(phone)
        shoot(phone, "me-checkin-375.png")

        # The same URL again (a replay, a reload): refused, with the reason on the page.
        phone.goto(url)
        phone.wait_for_selector("#refused")
        assert phone.locator("#refused").get_attribute("data-reason") == "ALREADY_CHECKED_IN"
        assert "重复签到无效" in phone.locator("#refused").inner_text()
        accessible(phone)
        shoot(phone, "me-checkin-replayed-375.png")

        # The organiser sees the check-in and confirms it: the points are credited, once.
        organiser.goto(f"{portal_url}/me/organise/{programme.slug}/{meeting}")
        row = organiser.locator(f"li.sign-up[data-volunteer='{volunteer_id}']")
        assert "已签到" in row.inner_text()
        organiser.click("#confirm")
        organiser.wait_for_selector("#notice")
        assert "记入 10 积分" in organiser.locator("#notice").inner_text()
        assert "已确认完成" in organiser.locator(f"li.sign-up[data-volunteer='{volunteer_id}']").inner_text()
        organiser.click("#confirm")  # nothing checked any more: nothing more credited
        assert programme.balance(volunteer_id) == 10

        # Tomorrow's activity, found from the organiser's start page by its id: the organiser may
        # show its code, but it checks nobody in today.
        organiser.goto(f"{portal_url}/me/organise")
        accessible(organiser)
        organiser.fill("#o-community", community)
        organiser.fill("#o-activity", tomorrow)
        organiser.click("form[action='/me/organise'] button[type=submit]")
        organiser.wait_for_selector("#qr svg")
        assert organiser.url == f"{portal_url}/me/organise/{programme.slug}/{tomorrow}"
        later = organiser.locator("#check-in-url").get_attribute("href")
        assert later is not None
    finally:
        organiser.context.close()
    phone.goto(later)
    phone.wait_for_selector("#refused")
    assert phone.locator("#refused").get_attribute("data-reason") == "OUTSIDE_CHECK_IN_WINDOW"
    assert "不在本活动的签到时间内" in phone.locator("#refused").inner_text()
    accessible(phone)
    # A token that is not the organiser's is refused too.
    phone.goto(f"{portal_url}/me/checkin/{programme.slug}/{meeting}?t=1.AAAAAAAAAAAAAAAAAAAAAA")
    phone.wait_for_selector("#refused")
    assert phone.locator("#refused").get_attribute("data-reason") == "CHECK_IN_TOKEN_INVALID"
    assert programme.balance(volunteer_id) == 10


def test_a_volunteer_logs_a_visit_and_the_community_worker_confirms_it_from_the_pages(
        browser: Any, phone: Any, portal_url: str, demo_platform: DemoPlatform, community: str) -> None:
    programme = Programme(demo_platform, community)
    grandma = demo_platform.person(Role.RESIDENT, f"{community}/home/1/101", "孙奶奶 elder e2e")
    family_id = programme.family_paired_with("孙奶奶 e2e", grandma)
    person = demo_platform.person(Role.VOLUNTEER, community, "探访志愿者 visits e2e")
    volunteer_id = programme.volunteer(person, family_id)
    before = programme.balance(volunteer_id)

    phone.goto(f"{portal_url}/me/visits")
    sign_in_at_the_issuer(phone, demo_platform, person.phone)
    phone.wait_for_selector("form[action='/me/visits']")
    assert "孙奶奶" in phone.locator("form[action='/me/visits'] fieldset").first.inner_text()
    accessible(phone)
    phone.click("form[action='/me/visits'] button[type=submit]")  # no type chosen: refused, nothing logged
    assert "探访类型" in phone.locator("#error").inner_text()
    phone.check("input[name=visit_type][value='2']")  # 亲情陪护
    phone.fill("textarea[name=note]", "陪孙奶奶聊天 e2e")
    phone.click("form[action='/me/visits'] button[type=submit]")
    phone.wait_for_selector("#notice")
    row = phone.locator("#my-visits li.visit").first
    assert "亲情陪护" in row.inner_text() and "待确认" in row.inner_text()
    visit_id = row.get_attribute("data-visit")
    accessible(phone)
    shoot(phone, "me-visits-375.png")

    worker = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN").new_page()
    try:
        worker.goto(f"{portal_url}/me/visits/review")
        sign_in_at_the_issuer(worker, demo_platform, demo_platform.person(
            Role.COMMUNITY_WORKER, community, "探访审核 review e2e").phone)
        pending = worker.locator(f"li.visit[data-visit='{visit_id}']")
        pending.wait_for()
        assert volunteer_id in pending.inner_text()
        accessible(worker)
        shoot(worker, "worker-visits-375.png")
        pending.locator("button.confirm").click()
        worker.wait_for_selector("#notice")
        assert "获得 5 积分" in worker.locator("#notice").inner_text()
        assert worker.locator(f"li.visit[data-visit='{visit_id}']").count() == 0
    finally:
        worker.context.close()
    phone.goto(f"{portal_url}/me/visits")
    row = phone.locator(f"#my-visits li.visit[data-visit='{visit_id}']")
    assert "已确认" in row.inner_text() and "+5" in row.inner_text()
    assert programme.balance(volunteer_id) == before + 5
    # Another visit: 孙奶奶 herself (her account is bound to her record) says it did not happen.
    phone.check("input[name=visit_type][value='3']")  # 居家清扫
    phone.click("form[action='/me/visits'] button[type=submit]")
    phone.wait_for_selector("#notice")
    # Logged in the same minute as the first, perhaps: found by its type, not its place.
    second = phone.locator("#my-visits li.visit", has_text="居家清扫").get_attribute("data-visit")
    assert second is not None and second != visit_id
    elder = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN").new_page()
    try:
        elder.goto(f"{portal_url}/me/visits/review")
        sign_in_at_the_issuer(elder, demo_platform, grandma.phone)
        mine = elder.locator(f"li.visit[data-visit='{second}']")
        mine.wait_for()
        assert "来看望我的探访" in elder.locator("main h2").first.inner_text()
        accessible(elder)
        mine.locator("input[name=reason]").fill("那天没有人来")
        mine.locator("button.reject").click()
        elder.wait_for_selector("#notice")
    finally:
        elder.context.close()
    phone.goto(f"{portal_url}/me/visits")
    row = phone.locator(f"#my-visits li.visit[data-visit='{second}']")
    assert "未通过" in row.inner_text() and "那天没有人来" in row.inner_text()
    assert programme.balance(volunteer_id) == before + 5  # a rejected visit earns nothing
    # The JSON twin; and another family's volunteer sees none of it.
    twin = phone.request.get(f"{portal_url}/api/me/visits").json()["volunteering"]
    assert [(m["volunteer_id"], sorted(v["visitId"] for v in m["visits"])) for m in twin] == [
        (volunteer_id, sorted([second, visit_id]))]
    other = demo_platform.person(Role.VOLUNTEER, community, "另一家 other family e2e")
    programme.volunteer(other, programme.family_paired_with("周爷爷 e2e"))
    with httpx.Client(base_url=portal_url, timeout=30, follow_redirects=False) as web:
        sign_in(web, demo_platform, other.phone, "/me/visits")
        for page in ("/me/visits", "/api/me/visits"):
            reply = web.get(page)
            assert reply.status_code == 200, (page, reply.text[:300])
            for leak in (visit_id, volunteer_id, "孙奶奶", "陪孙奶奶聊天"):
                assert leak not in reply.text, f"{page} shows the other family's {leak}"


def test_an_owner_subscribes_to_the_compounds_notices_from_the_inbox(
        phone: Any, portal_url: str, demo_platform: DemoPlatform, ledger: Ledger) -> None:
    compound = ledger.new_compound(households=1)
    owner = demo_platform.person(Role.RESIDENT, f"{compound}/b1/h001", "订阅 e2e owner")
    phone.goto(f"{portal_url}/me/inbox")
    sign_in_at_the_issuer(phone, demo_platform, owner.phone)
    box = phone.locator(f"input[name=subscribed][value='{compound}']")
    box.wait_for()
    assert not box.is_checked()
    box.check()
    phone.click("form[action='/me/inbox/preferences'] button[type=submit]")
    phone.wait_for_selector("#notice")
    assert phone.locator(f"input[name=subscribed][value='{compound}']").is_checked()
    accessible(phone)
    name = f"recipients/{owner.account.removeprefix('accounts/')}/preferences"
    with demo_platform.sync_channel("notification") as channel:
        prefs = npb_grpc.InboxServiceStub(channel).GetPreferences(npb.GetPreferencesRequest(name=name), metadata=bearer(
            demo_platform.issuer.token_for(owner.phone)), timeout=15).preferences
    assert list(prefs.subscribed_paths) == [compound]


def test_the_demo_has_a_meeting_open_for_check_in_today_with_the_demo_volunteer_signed_up(
        demo_platform: DemoPlatform) -> None:
    """What README's first page has a newcomer try under `make run`."""
    today = datetime.now(SHANGHAI).strftime("%Y%m%d")
    found = Programme(demo_platform, FENGSHU).activity_now(f"demo-meeting-{today}")
    now = datetime.now(UTC).replace(tzinfo=None)
    opens = found.activity.start_time.ToDatetime() - timedelta(minutes=30)
    assert opens <= now < found.activity.end_time.ToDatetime()
    assert [u.volunteer_id for u in found.sign_ups] == ["v-001"]
