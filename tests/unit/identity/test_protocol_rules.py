"""Pure rules of the issuer: PKCE, claims, scopes, client credentials, phone numbers, user codes,
where `next` may point, names."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from linli_identity.accounts import masked_phone, normalize_phone
from linli_identity.names import new_account_id, new_grant_id, parse_account, parse_grant
from linli_identity.oauth.codes import check_challenge, verify_pkce
from linli_identity.oauth.device import normalize_user_code, shown
from linli_identity.oauth.errors import OAuthError
from linli_identity.oauth.server import client_credentials, parse_scope
from linli_identity.tokens import Subject, access_claims
from linli_identity.web.app import safe_next

from linli_runtime.auth import Grant
from linli_runtime.errors import InvalidArgument

# RFC 7636 Appendix B.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_pkce_s256_matches_the_rfc_example_and_nothing_else() -> None:
    assert verify_pkce(VERIFIER, CHALLENGE)
    assert not verify_pkce(VERIFIER[:-1] + "Y", CHALLENGE)
    assert not verify_pkce("short", CHALLENGE)


@pytest.mark.parametrize(("challenge", "method"), [("", "S256"), (CHALLENGE, "plain"), (CHALLENGE, ""),
                                                   ("x" * 20, "S256"), ("bad challenge!" * 4, "S256")])
def test_authorization_requests_need_a_well_formed_s256_challenge(challenge: str, method: str) -> None:
    with pytest.raises(OAuthError) as refused:
        check_challenge(challenge, method)
    assert refused.value.error == "invalid_request"


def test_access_token_claims() -> None:
    subject = Subject("acc_aaaaaaaaaaaaaaaaaaaa", "张三", "person",
                      (Grant("community_worker", "chengdu/jinjiang/chenglonglu/fengshu"),))
    now = datetime(2026, 11, 7, 9, 0, tzinfo=UTC)
    claims = access_claims(issuer="https://id.example", subject=subject, client_id="linli-cli", scope="openid",
                           issued_at=now, lifetime=timedelta(minutes=10))
    assert claims["exp"] - claims["iat"] == 600 and claims["iat"] == int(now.timestamp())
    assert {k: claims[k] for k in ("iss", "sub", "aud", "client_id", "name", "kind", "scope")} == {
        "iss": "https://id.example", "sub": "acc_aaaaaaaaaaaaaaaaaaaa", "aud": "linli", "client_id": "linli-cli",
        "name": "张三", "kind": "person", "scope": "openid"}
    assert claims["grants"] == [{"role": "community_worker", "scope": "chengdu/jinjiang/chenglonglu/fengshu"}]
    assert claims["jti"] != access_claims(issuer="x", subject=subject, client_id="c", scope="", issued_at=now,
                                          lifetime=timedelta(minutes=1))["jti"]


def test_scopes() -> None:
    assert parse_scope("") == "openid"
    assert parse_scope("openid openid offline_access") == "openid offline_access"
    with pytest.raises(OAuthError) as refused:
        parse_scope("openid admin")
    assert refused.value.error == "invalid_scope"


def test_client_credentials_from_basic_or_the_form_but_not_both() -> None:
    basic = "Basic " + base64.b64encode(b"svc-x:s3cret").decode()
    assert client_credentials({}, basic) == ("svc-x", "s3cret")
    assert client_credentials({"client_id": "linli-cli"}, None) == ("linli-cli", None)
    with pytest.raises(OAuthError):
        client_credentials({"client_secret": "y"}, basic)
    with pytest.raises(OAuthError) as refused:
        client_credentials({}, "Basic !!!")
    assert refused.value.error == "invalid_client" and refused.value.status == 401


@pytest.mark.parametrize(("typed", "e164"), [
    ("13800001234", "+8613800001234"), ("+86 138-0000-1234", "+8613800001234"), ("0086 13800001234", "+8613800001234"),
    ("+44 20 7946 0958", "+442079460958")])
def test_phone_numbers_become_e164(typed: str, e164: str) -> None:
    assert normalize_phone("phone", typed) == e164


@pytest.mark.parametrize("typed", ["", "12345", "phone", "+0123456789", "1380000123"])
def test_what_is_no_phone_number_is_refused(typed: str) -> None:
    with pytest.raises(InvalidArgument):
        normalize_phone("phone", typed)


def test_masked_phone() -> None:
    assert masked_phone("+8613800001234") == "+86 138****1234"


def test_user_codes_are_typed_loosely() -> None:
    assert normalize_user_code("bcdf-ghjk ") == "BCDFGHJK"
    assert shown("BCDFGHJK") == "BCDF-GHJK"


@pytest.mark.parametrize(("target", "safe"), [
    ("/oauth/authorize?client_id=x", "/oauth/authorize?client_id=x"), ("/device?user_code=A", "/device?user_code=A"),
    ("/", "/"), ("https://evil.example/", "/"), ("//evil.example/", "/"), ("/\\evil.example", "/"),
    ("/oauth/authorizeX", "/"), ("/admin", "/")])
def test_after_sign_in_only_the_issuers_own_flows(target: str, safe: str) -> None:
    assert safe_next(target) == safe


def test_names() -> None:
    account, grant = new_account_id(), new_grant_id()
    assert parse_account("name", f"accounts/{account}") == account
    assert parse_account("name", "accounts/me", me=account) == account
    assert parse_grant("name", f"accounts/{account}/grants/{grant}") == (account, grant)
    for bad in ("accounts/acc_1", "users/" + account, f"accounts/{account}/grants/x", "accounts/me"):
        with pytest.raises(InvalidArgument):
            if "grants" in bad:
                parse_grant("name", bad)
            else:
                parse_account("name", bad)
