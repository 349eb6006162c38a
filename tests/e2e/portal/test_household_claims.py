"""An owner asks to be bound to their unit and the committee confirms it (issue 13, item 1), in
headless Chromium at 375 px on the demo platform, in a compound of the test's own: the owner files
the claim on 我的房屋, a committee member of the compound sees it with the owners' register's entry
(area from the org tree) and approves it, and the owner's page then shows the unit with its area
and the compound's open vote. Accessibility as on the other me pages; screenshots kept."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from linli.identity.v1 import identity_pb2 as idn
from linli.identity.v1 import identity_pb2_grpc
from linli_runtime.auth import Role
from linli_runtime.testing.platform import DemoPlatform
from tests.e2e.portal.conftest import Ledger, sign_in
from tests.e2e.portal.test_browser import accessible, shoot, sign_in_at_the_issuer

# The fixtures: Chromium, and a page at 375 px.
from tests.e2e.portal.test_browser import browser as browser
from tests.e2e.portal.test_browser import phone as phone
from tests.e2e.portal.test_residents import open_vote


def test_an_owner_claims_a_unit_and_the_committee_approves_it(browser: Any, phone: Any, portal_url: str,
                                                             demo_platform: DemoPlatform, ledger: Ledger) -> None:
    compound = ledger.new_compound(households=2)  # 90.00 m² each
    unit = f"{compound}/b1/h001"
    open_vote(demo_platform, compound, "更换单元门禁 New entrance locks")
    # She lives in her parents' flat (a family member there) and owns unit 1 herself.
    owner = demo_platform.person(Role.HOUSEHOLD_MEMBER, f"{compound}/b1/h002", "林女士 claim e2e")
    committee = demo_platform.person(Role.OWNERS_COMMITTEE, compound, "业委会 claim e2e")

    phone.goto(f"{portal_url}/me/home/claim")
    sign_in_at_the_issuer(phone, demo_platform, owner.phone)
    phone.wait_for_selector("#c-compound")
    accessible(phone)
    phone.select_option("#c-compound", compound)
    phone.click("#choose-compound button[type=submit]")
    phone.wait_for_selector("#c-unit")
    phone.select_option("#c-unit", unit)
    phone.fill("#c-name", "林女士")
    phone.fill("#c-note", "房产证 e2e-001")
    accessible(phone)
    phone.click("#claim button[type=submit]")
    phone.wait_for_selector("#notice")
    assert "审核中" in phone.locator("#claims li.claim").first.inner_text()
    shoot(phone, "me-home-claim-375.png")
    phone.goto(f"{portal_url}/me")  # 我的房屋 shows the claim waiting
    assert "审核中" in phone.locator(".claim-state", has_text="1号").inner_text()

    reviewer = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN").new_page()
    try:
        reviewer.goto(f"{portal_url}/me/claims/review")
        sign_in_at_the_issuer(reviewer, demo_platform, committee.phone)
        card = reviewer.locator("section.claim", has_text="林女士")
        card.wait_for()
        assert card.locator(".area").inner_text() == "90.00 m²"
        assert "未登记" in card.locator(".register-owner").inner_text()  # a unit never registered
        accessible(reviewer)
        shoot(reviewer, "committee-claims-375.png")
        card.locator("button[value=approve]").click()
        reviewer.wait_for_selector("#notice")
        assert reviewer.locator("section.claim", has_text="林女士").count() == 0
    finally:
        reviewer.context.close()

    # Her session was issued before the approval: the page renews it, and the unit shows.
    phone.goto(f"{portal_url}/me")
    phone.wait_for_selector("#household-1")
    first = phone.locator("#household-1")
    assert "业主" in first.inner_text() and first.locator(".area").inner_text() == "90.00 m²"
    assert phone.locator("#household-2").count() == 1  # her parents' flat stays
    accessible(phone)
    shoot(phone, "me-home-approved-375.png")
    phone.click("a[href='/me/votes']")
    phone.wait_for_selector("section.vote")
    assert "更换单元门禁" in phone.locator("main").inner_text()


def test_claims_show_only_to_their_claimant_and_the_deciders(portal_url: str, demo_platform: DemoPlatform,
                                                               ledger: Ledger) -> None:
    compound = ledger.new_compound(households=2)
    a_home, b_home = f"{compound}/b1/h001", f"{compound}/b1/h002"
    a = demo_platform.person(Role.RESIDENT, a_home, "户A claims A")
    b_token = (("authorization", f"Bearer {demo_platform.token(Role.RESIDENT, b_home, '户B claims B')}"),)
    secret = f"B-claim-{uuid.uuid4().hex[:8]}"
    with demo_platform.sync_channel("identity") as channel:  # B claims A's flat too, with a note only B wrote
        filed = identity_pb2_grpc.HouseholdClaimServiceStub(channel).CreateHouseholdClaim(
            idn.CreateHouseholdClaimRequest(household_claim=idn.HouseholdClaim(
                household_path=a_home, register_name="户B", note=secret), request_id=uuid.uuid4().hex),
            metadata=b_token, timeout=15).household_claim
    with httpx.Client(base_url=portal_url, timeout=30, follow_redirects=False) as web:
        sign_in(web, demo_platform, a.phone, "/me")
        for page in ("/me", "/me/home/claim", "/api/me/claims", "/me/claims/review", "/api/me/claims/review"):
            reply = web.get(page)
            assert reply.status_code == 200, (page, reply.status_code, reply.text[:300])
            assert secret not in reply.text and filed.name.rsplit("/", 1)[-1] not in reply.text, page
        assert web.get("/api/me/claims").json() == {"household_claims": []}
        # Nor can A decide B's claim (A is no committee member).
        ident = filed.name.rsplit("/", 1)[-1]
        decided = web.post(f"/me/claims/review/{ident}", data={"decision": "approve", "request_id": "x1"})
        assert decided.status_code == 409 and "未能处理" in decided.text
