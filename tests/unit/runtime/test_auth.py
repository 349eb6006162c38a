from __future__ import annotations

import pytest

from linli_runtime.auth import (
    Grant,
    Principal,
    PrincipalKind,
    Role,
    allowed_roles,
    allows,
    normalize_path,
    path_within,
    require_role,
    require_scope,
    restricted_refusal,
    scopes_filter,
)
from linli_runtime.errors import InvalidArgument, PermissionDenied, Unauthenticated

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"


def worker(scope: str = FENGSHU, role: str = "community_worker") -> Principal:
    return Principal(subject="li", kind=PrincipalKind.PERSON, role=role, scope=scope)


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


class Servicer:
    @allows(Role.PORTAL)
    async def GetOrgUnit(self) -> None: ...

    async def CreateOrgUnit(self) -> None: ...


def portal() -> Principal:
    return Principal("acc_portal", PrincipalKind.SERVICE, "portal", "", grants=(Grant("portal", ""),))


def test_a_restricted_role_reaches_only_the_methods_that_name_it() -> None:
    opened = allowed_roles(Servicer.GetOrgUnit)
    assert opened == {"portal"} and allowed_roles(Servicer.CreateOrgUnit) == frozenset()
    assert restricted_refusal(portal(), opened, "/x.OrgService/GetOrgUnit") is None
    refused = restricted_refusal(portal(), allowed_roles(Servicer.CreateOrgUnit), "/x.OrgService/CreateOrgUnit")
    assert refused is not None and refused.reason == "RESTRICTED_ROLE" and "portal" in refused.message
    # Everyone else is not concerned by the mark.
    assert restricted_refusal(worker(), frozenset(), "/x.OrgService/CreateOrgUnit") is None
    service = Principal("acc_svc", PrincipalKind.SERVICE, "service", "", grants=(Grant("service", ""),))
    assert restricted_refusal(service, frozenset(), "/x.OrgService/CreateOrgUnit") is None
