"""The sign-in pages: phone → SMS code → session; codes expire, attempts are limited, sending is
rate-limited per phone and per address; the answers do not tell who has an account; forms need
their CSRF token; the session cookie is HttpOnly and SameSite=Lax."""

from __future__ import annotations

import pytest
from linli_identity.sessions import COOKIE

from .browser import Browser, hidden_fields
from .conftest import Identity


async def start(browser: Browser, phone: str) -> tuple[dict[str, str], int, str]:
    page = await browser.client.get("/signin")
    sent = await browser.client.post("/signin", data={**hidden_fields(page.text), "phone": phone})
    return hidden_fields(sent.text), sent.status_code, sent.text


async def test_signing_in_sets_an_http_only_lax_cookie_and_signs_up_a_new_number(identity: Identity) -> None:
    browser = Browser(identity)
    try:
        done = await browser.sign_in("13600000002")
        assert done.status_code == 303 and done.headers["location"] == "/"
        cookie = done.headers["set-cookie"]
        assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
        home = await browser.client.get("/")
        assert "用户0002" in home.text  # the new account, named after the number's last digits
    finally:
        await browser.close()


async def test_the_answer_is_the_same_for_a_known_and_an_unknown_number(identity: Identity) -> None:
    await identity.person("已注册", "+8613600000003")
    browser = Browser(identity)
    try:
        _, known_status, known = await start(browser, "13600000003")
        _, unknown_status, unknown = await start(browser, "13600000004")
    finally:
        await browser.close()
    assert known_status == unknown_status == 200

    def scrub(html: str) -> str:
        import re

        return re.sub(r'value="[^"]*"|\+86 136\*\*\*\*000[34]', "", html)

    assert scrub(known) == scrub(unknown)


async def test_five_wrong_codes_end_the_code_and_an_old_code_expires(identity: Identity) -> None:
    browser = Browser(identity)
    try:
        fields, _, _ = await start(browser, "13600000005")
        code = identity.sms.latest_code("+8613600000005")
        wrong = "000000" if code != "000000" else "111111"
        for attempt in range(5):
            answer = await browser.client.post("/signin/code", data={**fields, "code": wrong})
            assert answer.status_code == 400
            if attempt < 4:
                assert "验证码不正确" in answer.text
                fields = hidden_fields(answer.text)
        assert "尝试次数过多" in answer.text
        answer = await browser.client.post("/signin/code", data={**fields, "code": code})
        assert answer.status_code == 400  # the right code, too late
        identity.clock.advance(seconds=61)
        fields, _, _ = await start(browser, "13600000005")
        identity.clock.advance(minutes=5)
        answer = await browser.client.post("/signin/code", data={**fields,
                                                                 "code": identity.sms.latest_code("+8613600000005")})
        assert answer.status_code == 400 and "已失效" in answer.text
    finally:
        await browser.close()


async def test_sending_is_rate_limited_per_phone_and_per_address(identity: Identity) -> None:
    browser = Browser(identity)
    try:
        _, status, _ = await start(browser, "13600000006")
        assert status == 200
        _, status, text = await start(browser, "13600000006")
        assert status == 429 and "请求过于频繁" in text  # within a minute of the last code
        for _ in range(4):
            identity.clock.advance(seconds=61)
            assert (await start(browser, "13600000006"))[1] == 200
        identity.clock.advance(seconds=61)
        page = await browser.client.get("/signin")
        sixth = await browser.client.post("/signin", data={**hidden_fields(page.text), "phone": "13600000006"})
        assert sixth.status_code == 429 and int(sixth.headers["retry-after"]) > 0  # five an hour
        # Per address: 20 an hour from one client, whatever the numbers.
        identity.clock.advance(hours=2)
        statuses = [(await start(browser, f"1360000{i:04d}"))[1] for i in range(100, 121)]
        assert statuses.count(200) == 20 and statuses[-1] == 429
    finally:
        await browser.close()


@pytest.mark.parametrize("path", ["/signin", "/signin/code", "/device"])
async def test_a_form_without_its_csrf_token_changes_nothing(identity: Identity, path: str) -> None:
    browser = Browser(identity)
    try:
        if path == "/device":
            await browser.sign_in("13600000007")
        page = await browser.client.get("/signin")
        fields = {**hidden_fields(page.text), "csrf_token": "forged", "phone": "13600000008", "code": "123456",
                  "user_code": "BCDFGHJK", "decision": "approve", "challenge": "x"}
        answer = await browser.client.post(path, data=fields)
        assert answer.status_code in (303, 400)
        assert identity.sms.latest_code("+8613600000008") is None
    finally:
        await browser.close()


async def test_a_disabled_account_cannot_sign_in(identity: Identity) -> None:
    account = await identity.person("停用", "+8613600000009")
    async with identity.app.db.transaction() as session:
        found = await identity.app.accounts.get(session, account)
        await identity.app.accounts.disable(session, found, by="test", reason="test")
    browser = Browser(identity)
    try:
        answer = await browser.sign_in("13600000009")
        assert answer.status_code == 403 and "已停用" in answer.text
    finally:
        await browser.close()


async def test_discovery_and_jwks(identity: Identity) -> None:
    async with identity.http() as http:
        discovery = (await http.get("/.well-known/openid-configuration")).json()
        jwks = await http.get("/jwks.json")
    assert discovery["issuer"] == identity.issuer
    assert discovery["jwks_uri"] == f"{identity.issuer}/jwks.json"
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    assert "urn:ietf:params:oauth:grant-type:device_code" in discovery["grant_types_supported"]
    [key] = jwks.json()["keys"]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "EdDSA" and "d" not in key
