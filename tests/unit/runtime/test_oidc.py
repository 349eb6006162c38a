"""linli_runtime.oidc: what a service accepts as an access token, and what it refuses.

Every refusal is UNAUTHENTICATED; the keys are made here (joserfc, PyJWT for the attacks), the
JWKS is static or served through an in-memory HTTP transport, and time is a ManualClock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OKPKey, RSAKey

from linli_runtime.auth import Grant, Principal, PrincipalKind, authorize, may_act_as, reach, scopes_for
from linli_runtime.clock import ManualClock
from linli_runtime.errors import PermissionDenied, Unauthenticated
from linli_runtime.oidc import OidcAuthenticator, RemoteJwks, StaticJwks, TokenVerifier, quiet_eddsa

ISSUER = "https://id.linli.test"
FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"


def ed_key(kid: str) -> OKPKey:
    return OKPKey.generate_key("Ed25519", parameters={"kid": kid, "use": "sig", "alg": "EdDSA"})


def jwks(*keys: Any) -> dict[str, Any]:
    return {"keys": [k.as_dict(private=False) for k in keys]}


def claims(clock: ManualClock, **over: Any) -> dict[str, Any]:
    now = int(clock.now().timestamp())
    base = {"iss": ISSUER, "sub": "acc_aaaaaaaaaaaaaaaaaaaa", "aud": "linli", "iat": now, "exp": now + 600,
            "jti": "j1", "kind": "person", "name": "张三",
            "grants": [{"role": "community_worker", "scope": FENGSHU}]}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: Any, body: dict[str, Any], alg: str = "EdDSA") -> str:
    with quiet_eddsa():
        return jwt.encode({"alg": alg, "kid": key.kid}, body, key, algorithms=[alg])


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def key() -> OKPKey:
    return ed_key("k1")


@pytest.fixture
def verifier(clock: ManualClock, key: OKPKey) -> TokenVerifier:
    return TokenVerifier(issuer=ISSUER, keys=StaticJwks(jwks(key)), clock=clock)


async def test_a_good_token_gives_the_account_and_its_grants(verifier: TokenVerifier, key: OKPKey,
                                                             clock: ManualClock) -> None:
    principal = await verifier.verify(sign(key, claims(clock)))
    assert principal.subject == "acc_aaaaaaaaaaaaaaaaaaaa"
    assert principal.kind is PrincipalKind.PERSON
    assert principal.grants == (Grant("community_worker", FENGSHU),)


async def test_rs256_is_accepted_too(clock: ManualClock) -> None:
    rsa = RSAKey.generate_key(2048, parameters={"kid": "r1", "use": "sig", "alg": "RS256"})
    verifier = TokenVerifier(issuer=ISSUER, keys=StaticJwks(jwks(rsa)), clock=clock)
    assert (await verifier.verify(sign(rsa, claims(clock), "RS256"))).subject.startswith("acc_")


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def refused_tokens(key: OKPKey, clock: ManualClock) -> dict[str, str]:
    other = ed_key("k-unknown")
    # The classic confusion attack, forged by hand (PyJWT itself refuses to make it): HMAC-SHA256
    # keyed with the public key, which a careless verifier would take as the HMAC secret.
    signing_input = f"{b64({'alg': 'HS256', 'kid': key.kid})}.{b64(claims(clock))}"
    mac = hmac.new(key.as_pem(private=False), signing_input.encode(), hashlib.sha256).digest()
    hs256 = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    return {
        "expired": sign(key, claims(clock, iat=int(clock.now().timestamp()) - 700,
                                    exp=int(clock.now().timestamp()) - 100)),
        "wrong issuer": sign(key, claims(clock, iss="https://evil.example")),
        "wrong audience": sign(key, claims(clock, aud="someone-else")),
        "alg none": f"{b64({'alg': 'none', 'kid': key.kid})}.{b64(claims(clock))}.",
        "HS256 signed with the public key": hs256,
        "a key not in the JWKS": sign(other, claims(clock)),
        "a known kid, another key": sign(OKPKey.generate_key("Ed25519", parameters={"kid": key.kid}), claims(clock)),
        "no exp": sign(key, claims(clock, exp=None)),
        "no sub": sign(key, claims(clock, sub=None)),
        "issued in the future": sign(key, claims(clock, iat=int(clock.now().timestamp()) + 3600)),
        "malformed grants": sign(key, claims(clock, grants=[{"role": "x"}])),
        "a grant scope that is no path": sign(key, claims(clock, grants=[{"role": "x", "scope": "a b/c"}])),
        "garbage": "not.a.token",
    }


@pytest.mark.parametrize("case", list(refused_tokens(ed_key("k1"), ManualClock())))
async def test_these_tokens_are_refused(case: str, verifier: TokenVerifier, key: OKPKey, clock: ManualClock) -> None:
    token = refused_tokens(key, clock)[case]
    with pytest.raises(Unauthenticated) as refused:
        await verifier.verify(token)
    assert refused.value.reason in ("TOKEN_INVALID", "TOKEN_EXPIRED")


async def test_expiry_follows_the_clock_even_for_a_token_verified_before(verifier: TokenVerifier, key: OKPKey,
                                                                          clock: ManualClock) -> None:
    token = sign(key, claims(clock))
    await verifier.verify(token)
    clock.advance(seconds=599)
    await verifier.verify(token)  # still good (and cached)
    clock.advance(seconds=1)
    with pytest.raises(Unauthenticated) as refused:
        await verifier.verify(token)
    assert refused.value.reason == "TOKEN_EXPIRED"


async def test_recall_answers_only_a_token_verified_before_and_only_until_it_expires(
        verifier: TokenVerifier, key: OKPKey, clock: ManualClock) -> None:
    """The runtime asks `recall` first on every call (no await): it must never answer for a
    token it has not verified itself — a forged one, one altered by a byte — nor past `exp`."""
    token = sign(key, claims(clock))
    assert verifier.recall(token) is None  # never verified: not known
    principal = await verifier.verify(token)
    assert verifier.recall(token) is principal
    forged = sign(ed_key("k1"), claims(clock))  # the same kid and claims, another key
    at = len(token) - 10  # a character inside the signature
    tampered = token[:at] + ("B" if token[at] == "A" else "A") + token[at + 1:]
    for other in (forged, tampered):
        assert verifier.recall(other) is None
        with pytest.raises(Unauthenticated):
            await verifier.verify(other)
        assert verifier.recall(other) is None  # a refusal is not remembered
    authenticator = OidcAuthenticator(verifier)
    assert authenticator.recall({"authorization": f"Bearer {token}"}) is principal
    assert authenticator.recall({"authorization": f"bearer  {token} "}) is principal
    assert authenticator.recall({"authorization": f"Terminal {token}"}) is None
    assert authenticator.recall({}) is None
    clock.advance(seconds=600)  # exp reached
    assert verifier.recall(token) is None
    assert authenticator.recall({"authorization": f"Bearer {token}"}) is None
    with pytest.raises(Unauthenticated) as refused:
        await verifier.verify(token)
    assert refused.value.reason == "TOKEN_EXPIRED"


async def test_the_verified_tokens_kept_are_bounded_least_recently_used_first(key: OKPKey, clock: ManualClock) -> None:
    verifier = TokenVerifier(issuer=ISSUER, keys=StaticJwks(jwks(key)), clock=clock, cache_size=2)
    first, second, third = (sign(key, claims(clock, jti=f"j{n}")) for n in range(3))
    await verifier.verify(first)
    await verifier.verify(second)
    assert verifier.recall(first) is not None  # used: now the most recent
    await verifier.verify(third)  # pushes out the least recently used: second
    assert verifier.recall(second) is None
    assert verifier.recall(first) is not None and verifier.recall(third) is not None
    assert (await verifier.verify(second)).token_id == "j1"  # verified again from scratch


def test_symmetric_algorithms_cannot_be_configured() -> None:
    with pytest.raises(ValueError, match="asymmetric"):
        TokenVerifier(issuer=ISSUER, keys=StaticJwks({"keys": []}), algorithms=("EdDSA", "HS256"))


async def test_rotation_a_new_kid_is_fetched_and_an_old_key_is_refused_once_dropped(clock: ManualClock) -> None:
    old, new = ed_key("old"), ed_key("new")
    published = {"jwks": jwks(old)}
    verifier = TokenVerifier(issuer=ISSUER, keys=StaticJwks(lambda: published["jwks"]), clock=clock)
    old_token = sign(old, claims(clock))
    await verifier.verify(old_token)
    published["jwks"] = jwks(old, new)  # rotation: new signs, old still published
    await verifier.verify(sign(new, claims(clock)))
    await verifier.verify(old_token)
    published["jwks"] = jwks(new)  # old dropped once its tokens expired
    clock.advance(minutes=11)
    with pytest.raises(Unauthenticated):
        await verifier.verify(sign(old, claims(clock)))


class CountingJwks:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.requests: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/jwks.json"})
        return httpx.Response(200, json=self.document)


async def test_remote_jwks_via_discovery_refetches_an_unknown_kid_at_most_once_per_interval(clock: ManualClock) -> None:
    k1, k2 = ed_key("k1"), ed_key("k2")
    served = CountingJwks(jwks(k1))
    keys = RemoteJwks.from_issuer(ISSUER, clock=clock, min_refresh_seconds=30,
                                  transport=httpx.MockTransport(served.handler))
    verifier = TokenVerifier(issuer=ISSUER, keys=keys, clock=clock)
    await verifier.verify(sign(k1, claims(clock)))
    assert served.requests == ["/.well-known/openid-configuration", "/jwks.json"]
    # A flood of tokens with an unknown kid right after a fetch: no more fetches.
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            await verifier.verify(sign(ed_key("made-up"), claims(clock, jti=f"x{_}")))
    assert keys.fetches == 1
    # The issuer rotates; after the interval the new kid is fetched once and accepted.
    served.document = jwks(k1, k2)
    clock.advance(seconds=31)
    await verifier.verify(sign(k2, claims(clock)))
    assert keys.fetches == 2


async def test_remote_jwks_keeps_its_keys_when_the_issuer_is_down(clock: ManualClock) -> None:
    k1 = ed_key("k1")
    served = CountingJwks(jwks(k1))
    up = {"ok": True}

    def handler(request: httpx.Request) -> httpx.Response:
        if not up["ok"]:
            return httpx.Response(503)
        return served.handler(request)

    keys = RemoteJwks(f"{ISSUER}/jwks.json", clock=clock, max_age_seconds=60, transport=httpx.MockTransport(handler))
    verifier = TokenVerifier(issuer=ISSUER, keys=keys, clock=clock)
    await verifier.verify(sign(k1, claims(clock)))
    up["ok"] = False
    clock.advance(seconds=120)
    await verifier.verify(sign(k1, claims(clock, jti="later")))  # stale keys still verify


async def test_the_authenticator_refuses_a_bad_bearer_and_ignores_no_header(verifier: TokenVerifier) -> None:
    auth = OidcAuthenticator(verifier)
    assert await auth.authenticate({}) is None
    with pytest.raises(Unauthenticated):
        await auth.authenticate({"authorization": "Bearer nope"})
    with pytest.raises(Unauthenticated):
        await auth.authenticate({"authorization": "Basic abc"})


async def test_a_person_with_several_grants_acts_in_each_at_its_place(verifier: TokenVerifier, key: OKPKey,
                                                                       clock: ManualClock) -> None:
    jiangnanting = "chengdu/chongzhou/huaiyuan/dingjiangqiao/jiangnanting"
    token = sign(key, claims(clock, grants=[{"role": "community_worker", "scope": FENGSHU},
                                            {"role": "owners_committee", "scope": jiangnanting}]))
    principal = await verifier.verify(token)
    assert authorize("community_worker", path=f"{FENGSHU}/x", principal=principal) == \
        Grant("community_worker", FENGSHU)
    assert authorize("owners_committee", path=jiangnanting, principal=principal).scope == jiangnanting
    with pytest.raises(PermissionDenied) as wrong_role:  # each role only at its own place
        authorize("owners_committee", path=FENGSHU, principal=principal)
    assert wrong_role.value.reason == "ROLE_NOT_ALLOWED"
    assert reach(jiangnanting, principal) == jiangnanting
    assert scopes_for("community_worker", "owners_committee", principal=principal) == (jiangnanting, FENGSHU)
    assert scopes_for("community_worker", principal=principal) == (FENGSHU,)


# -- authorize / may_act_as ------------------------------------------------------------------------


def person(*grants: Grant) -> Principal:
    return Principal("acc_x", PrincipalKind.PERSON, grants=grants)


async def test_another_providers_claim_mapping_a_dotted_path_and_role_at_scope_strings(key: OKPKey,
                                                                                       clock: ManualClock) -> None:
    """Keycloak puts a multivalued user attribute under a nested claim as plain strings."""
    verifier = TokenVerifier(issuer=ISSUER, keys=StaticJwks(jwks(key)), clock=clock,
                             grants_claim="realm_access.linli_grants")
    nested = {"realm_access": {"roles": ["offline_access"],
                               "linli_grants": [f"community_worker@{FENGSHU}", "city_operator@Chengdu"]}}
    principal = await verifier.verify(sign(key, claims(clock, grants=None, **nested)))
    assert principal.grants == (Grant("community_worker", FENGSHU), Grant("city_operator", "chengdu"))
    # A claim that is not there is no grant at all; a malformed one refuses the token.
    assert (await verifier.verify(sign(key, claims(clock, grants=None, jti="none")))).grants == ()
    with pytest.raises(Unauthenticated):
        await verifier.verify(sign(key, claims(clock, grants=None, jti="bad",
                                               realm_access={"linli_grants": ["@chengdu"]})))


def test_authorize_needs_the_role_at_a_scope_containing_the_path() -> None:
    who = person(Grant("community_worker", FENGSHU),
                 Grant("resident", "chengdu/chongzhou/yangma/chongjianglu/jinsheng"))
    assert authorize("community_worker", path=f"{FENGSHU}/jinshang-chuntian", principal=who).scope == FENGSHU
    with pytest.raises(PermissionDenied) as denied:
        authorize("community_worker", path="chengdu/jinjiang/chenglonglu/fengshu2", principal=who)
    assert denied.value.reason == "OUT_OF_SCOPE"  # nothing the caller holds reaches that place
    with pytest.raises(PermissionDenied) as wrong_role:
        authorize("trustee", path=FENGSHU, principal=who)
    assert wrong_role.value.reason == "ROLE_NOT_ALLOWED"  # something does, but not as a trustee


def test_the_narrowest_named_grant_is_the_one_used_and_admins_pass_unless_exact() -> None:
    who = person(Grant("platform_admin", ""), Grant("community_worker", "chengdu"),
                 Grant("community_worker", FENGSHU))
    assert may_act_as(who, ["community_worker"], FENGSHU) == Grant("community_worker", FENGSHU)
    assert may_act_as(who, ["trust_supervisor"], FENGSHU) == Grant("platform_admin", "")
    assert may_act_as(who, ["trust_supervisor"], FENGSHU, exact=True) is None

