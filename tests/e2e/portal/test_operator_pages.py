"""Operators' dashboards: signing in through the platform's issuer (authorization code + PKCE:
the portal sends the browser there, the person signs in with phone + SMS code, comes back with
a code the portal exchanges), the session cookies, renewal and sign-out; no token → sign in (401
for the JSON API), a token that does not reach the page → 403 with the reason, a good one (the
session, or a bearer header for the JSON API) → the figures the services give that operator."""

from __future__ import annotations

import csv
import html
import io

import httpx
import pytest
from linli_identity.testing import TestIssuer

from linli.governance.v1 import rollout_pb2, rollout_pb2_grpc
from linli_runtime.auth import Role
from linli_runtime.testing.platform import DemoPlatform
from tests.e2e.portal.conftest import FENGSHU, query_of, sign_in
from tools.portal_demo_activity import Activity

# The demo data's Chengdu city operator and Fengshu worker (linli_identity.demo).
CITY_OPERATOR, FENGSHU_WORKER = "+8613800000001", "+8613800000003"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_without_a_session_the_page_sends_you_to_the_issuer(web: httpx.Client, demo_platform: DemoPlatform,
                                                            portal_url: str) -> None:
    reply = web.get("/ops/chengdu?days=30")
    assert reply.status_code == 303
    assert reply.headers["location"] == "/signin?next=/ops/chengdu?days=30"
    start = web.get(reply.headers["location"])
    assert start.status_code == 303
    target = start.headers["location"]
    assert target.startswith(f"{demo_platform.issuer_url}/oauth/authorize?")
    asked = query_of(target)
    assert (asked["client_id"], asked["response_type"], asked["code_challenge_method"]) == (
        "linli-portal", "code", "S256")
    assert asked["redirect_uri"] == f"{portal_url}/auth/callback"
    assert asked["state"] and len(asked["code_challenge"]) == 43
    cookie = start.headers["set-cookie"]
    assert "linli_signin=" in cookie and "HttpOnly" in cookie and "Path=/auth" in cookie


def test_without_a_token_the_json_api_is_401(web: httpx.Client) -> None:
    reply = web.get("/api/ops/chengdu")
    assert reply.status_code == 401 and reply.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("token", ["not-a-jwt", "forged"])
def test_a_bad_token_is_401(web: httpx.Client, demo_platform: DemoPlatform, token: str) -> None:
    if token == "forged":  # named after the platform's issuer, signed with another key
        token = TestIssuer(demo_platform.issuer_url).issue("mallory", role="city_operator", scope="chengdu")
    reply = web.get("/ops/chengdu", headers=bearer(token))
    assert reply.status_code == 401
    assert "not valid" in reply.json()["message"]


def test_signing_in_through_the_issuer_sets_the_session_and_signing_out_ends_it(
        web: httpx.Client, demo_platform: DemoPlatform) -> None:
    back = sign_in(web, demo_platform, CITY_OPERATOR, "/ops/chengdu/chongzhou")
    assert back.status_code == 303 and back.headers["location"] == "/ops/chengdu/chongzhou"
    cookies = back.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("linli_session="))
    refresh = next(c for c in cookies if c.startswith("linli_refresh="))
    for cookie in (session, refresh):
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    page = web.get("/ops/chengdu/chongzhou")
    assert page.status_code == 200 and "崇州市 运营看板" in page.text
    held = web.cookies.get("linli_refresh")
    out = web.post("/signout")
    assert out.status_code == 303
    assert web.get("/ops/chengdu/chongzhou").status_code == 303
    # The sign-in was revoked at the issuer, not just forgotten here.
    secret = demo_platform.issuer.wiring.secrets_dir / "linli-portal.secret"
    again = httpx.post(f"{demo_platform.issuer_url}/oauth/token", auth=("linli-portal", secret.read_text().strip()),
                       data={"grant_type": "refresh_token", "refresh_token": held})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_a_lapsing_session_is_renewed_with_the_refresh_token(web: httpx.Client, demo_platform: DemoPlatform) -> None:
    sign_in(web, demo_platform, CITY_OPERATOR, "/ops/chengdu")
    first = web.cookies.get("linli_session")
    web.cookies.delete("linli_session")  # as if it had lapsed in the browser
    page = web.get("/ops/chengdu/chongzhou")
    assert page.status_code == 200 and "崇州市 运营看板" in page.text
    renewed = [c for c in page.headers.get_list("set-cookie") if c.startswith("linli_session=")]
    assert renewed and first not in renewed[0]


def test_sign_in_without_next_goes_to_the_accounts_scope(web: httpx.Client, demo_platform: DemoPlatform) -> None:
    assert sign_in(web, demo_platform, FENGSHU_WORKER).headers["location"] == f"/ops/{FENGSHU}"


@pytest.mark.parametrize("next_page", ["https://evil.example/", "//evil.example/x"])
def test_sign_in_never_sends_you_elsewhere(web: httpx.Client, demo_platform: DemoPlatform, next_page: str) -> None:
    assert sign_in(web, demo_platform, CITY_OPERATOR, next_page).headers["location"] == "/ops/chengdu"


def test_a_callback_that_did_not_start_here_or_was_cancelled_signs_nobody_in(web: httpx.Client) -> None:
    web.get("/signin")  # a sign-in in flight, with its state
    forged = web.get("/auth/callback", params={"code": "x", "state": "not-the-state"})
    assert forged.status_code == 400 and "登录已过期" in forged.text and "linli_session" not in str(forged.headers)
    cancelled = web.get("/auth/callback", params={"error": "access_denied", "state": "x"})
    assert cancelled.status_code == 400 and "登录已取消" in cancelled.text


def test_a_token_for_another_scope_gets_a_403_page_with_the_reason(web: httpx.Client,
                                                                  demo_platform: DemoPlatform) -> None:
    token = demo_platform.token(Role.COMMUNITY_WORKER, scope=FENGSHU)
    reply = web.get("/ops/chengdu", headers=bearer(token))
    assert reply.status_code == 403
    assert f"您的授权范围是 {FENGSHU}，不包括 chengdu" in reply.text
    assert f"Your grants reach {FENGSHU}, which does not include chengdu." in html.unescape(reply.text)
    assert web.get("/api/ops/chengdu/chongzhou", headers=bearer(token)).status_code == 403
    # …while its own community opens, saying what each part of the page took (Server-Timing).
    own = web.get(f"/ops/{FENGSHU}", headers=bearer(token))
    assert own.status_code == 200
    timing = [part.strip().split(";dur=") for part in own.headers["server-timing"].split(",")]
    assert {name for name, _ in timing} == {"org", "rollout", "points", "help", "redemptions", "render"}
    assert all(float(ms) >= 0 for _, ms in timing)


def test_a_resident_token_cannot_open_operator_pages(web: httpx.Client, demo_platform: DemoPlatform) -> None:
    token = demo_platform.token(Role.RESIDENT, scope=f"{FENGSHU}/jinshang-chuntian")
    reply = web.get(f"/ops/{FENGSHU}", headers=bearer(token))
    assert reply.status_code == 403 and "cannot open operator pages" in html.unescape(reply.text)


def test_the_portals_own_token_cannot_open_operator_pages(web: httpx.Client, demo_platform: DemoPlatform) -> None:
    token = demo_platform.service_token("portal")  # read-only public pages: not an operator
    assert web.get("/ops/chengdu", headers=bearer(token)).status_code == 403


def test_the_city_dashboard_shows_what_the_services_say(web: httpx.Client, demo_platform: DemoPlatform,
                                                        activity: Activity) -> None:
    token = demo_platform.token(Role.CITY_OPERATOR, scope="chengdu")
    body = web.get("/api/ops/chengdu", headers=bearer(token)).json()
    with demo_platform.sync_channel("trust-governance") as channel:
        summary = rollout_pb2_grpc.RolloutServiceStub(channel).SummarizeRollout(
            rollout_pb2.SummarizeRolloutRequest(path="chengdu"), metadata=(("authorization", f"Bearer {token}"),))
    assert body["headline"] == summary.headline and body["compound_count"] == summary.compound_count
    assert {r["street"] for r in body["rollout"]} == {g.key for g in summary.by_street}
    [fengshu] = [c for c in body["communities"] if c["path"] == FENGSHU]
    assert fengshu["volunteers"] == 72 and fengshu["points_earned"] > 0
    [help_row] = [h for h in body["help_requests"] if h["community"] == FENGSHU]
    assert help_row["requests"] >= len(activity.help_requests) and help_row["acknowledged"] >= 2
    redeemed = sum(points for _, merchant, points in activity.redemptions if merchant == "jinchengyijing-health")
    [merchant] = [m for m in body["redemptions"] if m["merchant"] == "jinchengyijing-health"]
    assert merchant["redemptions"] >= len(activity.redemptions) and merchant["net_points"] >= redeemed
    assert body["problems"] == [] and body["unbalanced_days"] == []
    page = web.get("/ops/chengdu", headers=bearer(token))
    assert page.status_code == 200
    for section in ("rollout-table", "volunteer-table", "help-table", "merchant-table"):
        assert f'id="{section}"' in page.text
    assert summary.headline in page.text


def test_a_narrower_scope_filters_the_dashboard(web: httpx.Client, demo_platform: DemoPlatform) -> None:
    token = demo_platform.token(Role.CITY_OPERATOR, scope="chengdu")
    narrowed = web.get("/ops?scope=chengdu/chongzhou", headers=bearer(token))
    assert narrowed.headers["location"] == "/ops/chengdu/chongzhou"
    body = web.get("/api/ops/chengdu/chongzhou", headers=bearer(token)).json()
    assert body["communities"] == [] and body["redemptions"] == []
    assert all(r["street"].startswith("chengdu/chongzhou/") for r in body["rollout"])


def test_operator_pages_are_never_cached(web: httpx.Client, demo_platform: DemoPlatform) -> None:
    token = demo_platform.token(Role.CITY_OPERATOR, scope="chengdu")
    assert web.get("/ops/chengdu/chongzhou", headers=bearer(token)).headers["cache-control"] == "no-store"


def test_the_city_page_pages_sorts_narrows_drills_down_and_downloads(web: httpx.Client,
                                                                     demo_platform: DemoPlatform) -> None:
    token = demo_platform.token(Role.CITY_OPERATOR, scope="chengdu")
    body = web.get("/api/ops/chengdu", headers=bearer(token)).json()
    page = web.get("/ops/chengdu", headers=bearer(token)).text
    # Totals, and each district rolled up with a link to its own page (the drill-down).
    assert 'id="area-table"' in page and 'href="/ops/chengdu/chongzhou"' in page
    assert 'data-communities="' in page and ("更新于" in page or "数据为当前最新" in page)
    # Sorted by name, narrowed to the district Fengshu is in: Fengshu is listed, its figures as the JSON says.
    district = "/".join(FENGSHU.split("/")[:2])
    narrowed = web.get(f"/ops/chengdu?district={district}&sort=name", headers=bearer(token)).text
    table = narrowed[narrowed.index('id="volunteer-table"'):narrowed.index("</table>", narrowed.index(
        'id="volunteer-table"'))]
    assert f'href="/ops/{FENGSHU}"' in table and 'aria-sort="ascending"' in table
    other = next((c["path"] for c in body["communities"] if not c["path"].startswith(district + "/")), None)
    assert other is None or f'href="/ops/{other}"' not in table
    # The download: every community, the same figures as the page's JSON.
    csv_reply = web.get("/ops/chengdu/communities.csv", headers=bearer(token))
    assert csv_reply.status_code == 200 and csv_reply.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_reply.headers["content-disposition"]
    header, *lines = csv.reader(io.StringIO(csv_reply.content.decode("utf-8-sig")))
    rows = {r[0]: dict(zip(header, r, strict=True)) for r in lines}
    for c in body["communities"]:
        assert (int(rows[c["path"]]["volunteers"]), int(rows[c["path"]]["points_earned"])) == (
            c["volunteers"], c["points_earned"])
    xlsx = web.get(f"/ops/chengdu/communities.xlsx?district={district}", headers=bearer(token))
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert web.get("/ops/chengdu/communities.pdf", headers=bearer(token)).status_code == 404
    # Another scope's operator cannot download this city.
    fengshu = demo_platform.token(Role.CITY_OPERATOR, scope=FENGSHU)
    assert web.get("/ops/chengdu/communities.csv", headers=bearer(fengshu)).status_code == 403
