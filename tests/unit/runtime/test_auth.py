from __future__ import annotations

import pytest

from linli_runtime.auth import (
    Principal,
    PrincipalKind,
    TokenSigner,
    normalize_path,
    path_within,
    require_role,
    require_scope,
    scopes_filter,
)
from linli_runtime.errors import InvalidArgument, PermissionDenied, Unauthenticated

KEY = "unit-test-signing-key-0123456789abcdef"
FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"


def worker(scope: str = FENGSHU, role: str = "community_worker") -> Principal:
    return Principal(subject="li", kind=PrincipalKind.OPERATOR, role=role, scope=scope)


@pytest.mark.parametrize(
    "path, scope, inside",
    [
        (FENGSHU, FENGSHU, True),
        (f"{FENGSHU}/compound-1/building-3", FENGSHU, True),
        ("chengdu/jinjiang/chenglonglu/fengshu2", FENGSHU, False),
        ("chengdu/jinjiang/chenglonglu", FENGSHU, False),
        ("anything/at/all", "", True),
        ("", FENGSHU, False),
    ],
)
def test_path_within(path: str, scope: str, inside: bool) -> None:
    assert path_within(path, scope) is inside


def test_normalize_path() -> None:
    assert normalize_path(" /Chengdu//Jinjiang/ ") == "chengdu/jinjiang"
    for bad in ("chengdu/锦江", "chengdu/jin jiang", "chengdu/../x"):
        with pytest.raises(InvalidArgument):
            normalize_path(bad)


def test_token_round_trip_carries_role_scope_and_kind() -> None:
    signer = TokenSigner(KEY)
    principal = signer.verify(signer.issue("li", role="community_worker", scope="/Chengdu/Jinjiang/"))
    assert (principal.subject, principal.role, principal.scope, principal.kind) == (
        "li", "community_worker", "chengdu/jinjiang", PrincipalKind.OPERATOR)
    service = signer.verify(signer.issue_service_token("notification"))
    assert (service.kind, service.scope, service.role) == (PrincipalKind.SERVICE, "", "service")


def test_tampered_expired_and_foreign_tokens_are_refused() -> None:
    signer = TokenSigner(KEY)
    token = signer.issue("li", role="community_worker", scope=FENGSHU)
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload[:-2]}xx.{signature}"
    for bad in (tampered, TokenSigner("x" * 40).issue("li", role="r"),
                signer.issue("li", role="r", ttl_seconds=1, now=1_000)):
        with pytest.raises(Unauthenticated):
            signer.verify(bad)


def test_short_signing_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        TokenSigner("short")


def test_require_scope_and_role() -> None:
    assert require_scope(f"{FENGSHU}/Compound-1", worker()) == f"{FENGSHU}/compound-1"
    with pytest.raises(PermissionDenied) as denied:
        require_scope("chengdu/chongzhou", worker())
    assert denied.value.reason == "OUT_OF_SCOPE"
    assert require_role("community_worker", principal=worker()).subject == "li"
    assert require_role("city_operator", principal=worker(role="platform_admin")).role == "platform_admin"
    with pytest.raises(PermissionDenied) as wrong_role:
        require_role("city_operator", principal=worker())
    assert wrong_role.value.reason == "ROLE_NOT_ALLOWED"


def test_scopes_filter_keeps_only_reachable_paths() -> None:
    paths = [FENGSHU, f"{FENGSHU}/a", "chengdu/chongzhou/x"]
    assert scopes_filter(paths, worker()) == [FENGSHU, f"{FENGSHU}/a"]


def test_no_principal_is_unauthenticated() -> None:
    with pytest.raises(Unauthenticated):
        require_scope(FENGSHU)


def test_verified_tokens_are_remembered_until_they_expire() -> None:
    from datetime import timedelta

    from linli_runtime.clock import ManualClock

    clock = ManualClock()
    signer = TokenSigner(KEY, clock=clock)
    token = signer.issue("li", role="community_worker", scope=FENGSHU, ttl_seconds=600)
    assert signer.verify(token).subject == "li"
    assert signer.verify(token).subject == "li"  # from the cache
    clock.advance(timedelta(seconds=599))
    assert signer.verify(token).subject == "li"
    clock.advance(timedelta(seconds=1))
    with pytest.raises(Unauthenticated) as expired:
        signer.verify(token)
    assert expired.value.reason == "TOKEN_EXPIRED"
