"""Operators' dashboards: no token → sign in (401 for the JSON API), a token that does not reach
the page → 403 with the reason, a good one (header or the sign-in cookie) → the figures the
services give that operator."""

from __future__ import annotations

import html

import grpc
import httpx
import pytest

from linli.governance.v1 import rollout_pb2, rollout_pb2_grpc
from linli_runtime.auth import PrincipalKind, Role, TokenSigner
from linli_runtime.testing.platform import DemoPlatform
from tests.e2e.portal.conftest import FENGSHU
from tools.portal_demo_activity import Activity


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_without_a_token_the_page_sends_you_to_sign_in(web: httpx.Client) -> None:
    reply = web.get("/ops/chengdu?days=30")
    assert reply.status_code == 303
    assert reply.headers["location"] == "/signin?next=/ops/chengdu?days=30"
    signin = web.get(reply.headers["location"])
    assert signin.status_code == 200 and 'name="next" value="/ops/chengdu?days=30"' in signin.text
    assert '<label for="f-token">' in signin.text


def test_without_a_token_the_json_api_is_401(web: httpx.Client) -> None:
    reply = web.get("/api/ops/chengdu")
    assert reply.status_code == 401 and reply.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("token", ["not-a-jwt", TokenSigner("x" * 40).issue("mallory", role="city_operator")])
def test_a_bad_token_is_401(web: httpx.Client, token: str) -> None:
    reply = web.get("/ops/chengdu", headers=bearer(token))
    assert reply.status_code == 401
    assert "not valid" in reply.json()["message"]


def test_a_token_for_another_scope_gets_a_403_page_with_the_reason(web: httpx.Client,
                                                                  demo_platform: DemoPlatform) -> None:
    token = demo_platform.token(Role.COMMUNITY_WORKER, scope=FENGSHU)
    reply = web.get("/ops/chengdu", headers=bearer(token))
    assert reply.status_code == 403
    assert f"您的令牌范围是 {FENGSHU}，不包括 chengdu" in reply.text
    assert f"Your token's scope is {FENGSHU}, which does not include chengdu." in html.unescape(reply.text)
    assert web.get("/api/ops/chengdu/chongzhou", headers=bearer(token)).status_code == 403
    # …while its own community opens.
    assert web.get(f"/ops/{FENGSHU}", headers=bearer(token)).status_code == 200


def test_a_resident_token_cannot_open_operator_pages(web: httpx.Client, demo_platform: DemoPlatform) -> None:
    token = demo_platform.token(Role.RESIDENT, scope=FENGSHU)
    reply = web.get(f"/ops/{FENGSHU}", headers=bearer(token))
    assert reply.status_code == 403 and "cannot open operator pages" in html.unescape(reply.text)


def test_a_service_token_cannot_open_operator_pages(web: httpx.Client, demo_platform: DemoPlatform) -> None:
    token = demo_platform.signer.issue("portal", role=Role.SERVICE, kind=PrincipalKind.SERVICE)
    assert web.get("/ops/chengdu", headers=bearer(token)).status_code == 403


def test_sign_in_sets_an_httponly_cookie_and_opens_the_dashboard(web: httpx.Client,
                                                                 demo_platform: DemoPlatform) -> None:
    token = demo_platform.token(Role.CITY_OPERATOR, scope="chengdu")
    reply = web.post("/signin", data={"token": token, "next": "/ops/chengdu/chongzhou"})
    assert reply.status_code == 303 and reply.headers["location"] == "/ops/chengdu/chongzhou"
    cookie = reply.headers["set-cookie"]
    assert "linli_operator_token=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    page = web.get("/ops/chengdu/chongzhou")
    assert page.status_code == 200 and "崇州市 运营看板" in page.text
    out = web.post("/signout")
    assert out.status_code == 303
    assert web.get("/ops/chengdu/chongzhou").status_code == 303


def test_sign_in_without_next_goes_to_the_tokens_scope(web: httpx.Client, demo_platform: DemoPlatform) -> None:
    token = demo_platform.token(Role.STREET_OFFICER, scope="chengdu/chongzhou/longxing")
    reply = web.post("/signin", data={"token": f"Bearer {token}"})
    assert reply.headers["location"] == "/ops/chengdu/chongzhou/longxing"


@pytest.mark.parametrize("next_page", ["https://evil.example/", "//evil.example/x"])
def test_sign_in_never_sends_you_elsewhere(web: httpx.Client, demo_platform: DemoPlatform, next_page: str) -> None:
    token = demo_platform.token(Role.CITY_OPERATOR, scope="chengdu")
    assert web.post("/signin", data={"token": token, "next": next_page}).headers["location"] == "/ops/chengdu"


def test_sign_in_with_a_bad_token_says_so(web: httpx.Client) -> None:
    reply = web.post("/signin", data={"token": "nonsense"})
    assert reply.status_code == 400 and "令牌无效或已过期" in reply.text and "set-cookie" not in reply.headers


def test_the_city_dashboard_shows_what_the_services_say(web: httpx.Client, demo_platform: DemoPlatform,
                                                        activity: Activity) -> None:
    token = demo_platform.token(Role.CITY_OPERATOR, scope="chengdu")
    body = web.get("/api/ops/chengdu", headers=bearer(token)).json()
    with grpc.insecure_channel(demo_platform.address("trust-governance")) as channel:
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
