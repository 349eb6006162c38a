from __future__ import annotations

import pytest

from linli_runtime.auth import (
    Grant,
    Principal,
    PrincipalKind,
    Role,
    allowed_roles,
    allows,
    authorize,
    authorized_path,
    may_act_as,
    normalize_path,
    path_within,
    reach,
    restricted_refusal,
    scopes_for,
    within_any,
)
from linli_runtime.errors import InvalidArgument, PermissionDenied, Unauthenticated

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"


def worker(scope: str = FENGSHU, role: str = "community_worker") -> Principal:
    return Principal(subject="li", kind=PrincipalKind.PERSON, grants=(Grant(role, scope),))


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
    # Already normal (the fast path) or not, the same answers.
    for path, normal in (("chengdu/jin-jiang/c_01", "chengdu/jin-jiang/c_01"), ("", ""), ("/", ""),
                         ("chengdu/", "chengdu"), ("chengdu\n", "chengdu"), ("a//b", "a/b"), ("A/b", "a/b")):
        assert normalize_path(path) == normal
    for bad in ("chengdu/锦江", "chengdu/jin jiang", "chengdu/../x", "chengdu/x.y", "chengdu/ⅰ"):
        with pytest.raises(InvalidArgument):
            normalize_path(bad)


def test_authorize_reach_and_the_reason_of_a_refusal() -> None:
    assert authorized_path("community_worker", path=f"{FENGSHU}/Compound-1", principal=worker()) == \
        f"{FENGSHU}/compound-1"
    assert reach(f"/{FENGSHU}/", worker(role="volunteer")) == FENGSHU
    with pytest.raises(PermissionDenied) as denied:
        reach("chengdu/chongzhou", worker())
    assert denied.value.reason == "OUT_OF_SCOPE"
    with pytest.raises(PermissionDenied) as outside:
        authorize("community_worker", path="chengdu/chongzhou", principal=worker())
    assert outside.value.reason == "OUT_OF_SCOPE"
    assert authorize("city_operator", path=FENGSHU, principal=worker(scope="", role="platform_admin")) == \
        Grant("platform_admin", "")
    with pytest.raises(PermissionDenied) as wrong_role:
        authorize("city_operator", path=FENGSHU, principal=worker())
    assert wrong_role.value.reason == "ROLE_NOT_ALLOWED"
    with pytest.raises(PermissionDenied):  # exact: the admin's override does not count
        authorize("service", path="", principal=worker(scope="", role="platform_admin"), exact=True)


def test_answers_remembered_per_principal_stay_each_questions_own() -> None:
    """`may_act_as` keeps its answers on the principal and `normalize_path` its paths: asked again,
    the same question gets the same answer, and a question differing only in roles, exactness,
    the path's spelling or the principal gets its own."""
    admin, mine = worker(scope="", role="platform_admin"), worker()
    for _ in range(2):  # the second round is answered from what the first one kept
        assert may_act_as(admin, ["city_operator"], FENGSHU) == Grant("platform_admin", "")
        assert may_act_as(admin, ["city_operator"], FENGSHU, exact=True) is None
        assert may_act_as(mine, ["community_worker"], f"/{FENGSHU.upper()}/") == Grant("community_worker", FENGSHU)
        assert may_act_as(mine, ["city_operator"], FENGSHU) is None
        assert may_act_as(mine, ("community_worker",), "chengdu/chongzhou") is None
        assert authorized_path(path=f"{FENGSHU}/A", principal=admin) == f"{FENGSHU}/a"
        with pytest.raises(InvalidArgument):  # a refusal is not remembered as an answer
            may_act_as(admin, ["city_operator"], "chengdu/锦江")
        with pytest.raises(PermissionDenied):
            authorized_path(path=FENGSHU, principal=mine)


def test_scopes_for_keeps_the_widest_scope_of_each_branch() -> None:
    who = Principal("li", PrincipalKind.PERSON, grants=(
        Grant("community_worker", FENGSHU), Grant("community_worker", f"{FENGSHU}/a"),
        Grant("street_officer", "chengdu/chongzhou/yangma"), Grant("resident", "chengdu/x/y/z/h")))
    assert scopes_for("community_worker", "street_officer", principal=who) == ("chengdu/chongzhou/yangma", FENGSHU)
    assert scopes_for(principal=who) == ("chengdu/chongzhou/yangma", FENGSHU, "chengdu/x/y/z/h")
    scopes = scopes_for("community_worker", principal=who)
    assert [p for p in [FENGSHU, f"{FENGSHU}/a", "chengdu/chongzhou/x"] if within_any(p, scopes)] == \
        [FENGSHU, f"{FENGSHU}/a"]
    admin = worker(scope="", role="platform_admin")
    assert scopes_for("community_worker", principal=admin) == ("",)
    assert scopes_for("community_worker", principal=admin, exact=True) == ()


def test_no_principal_is_unauthenticated() -> None:
    with pytest.raises(Unauthenticated):
        reach(FENGSHU)


class Servicer:
    @allows(Role.PORTAL)
    async def GetOrgUnit(self) -> None: ...

    async def CreateOrgUnit(self) -> None: ...


def portal() -> Principal:
    return Principal("acc_portal", PrincipalKind.SERVICE, grants=(Grant("portal", ""),))


def test_a_restricted_role_reaches_only_the_methods_that_name_it() -> None:
    opened = allowed_roles(Servicer.GetOrgUnit)
    assert opened == {"portal"} and allowed_roles(Servicer.CreateOrgUnit) == frozenset()
    assert restricted_refusal(portal(), opened, "/x.OrgService/GetOrgUnit") is None
    refused = restricted_refusal(portal(), allowed_roles(Servicer.CreateOrgUnit), "/x.OrgService/CreateOrgUnit")
    assert refused is not None and refused.reason == "RESTRICTED_ROLE" and "portal" in refused.message
    # Everyone else is not concerned by the mark.
    assert restricted_refusal(worker(), frozenset(), "/x.OrgService/CreateOrgUnit") is None
    service = Principal("acc_svc", PrincipalKind.SERVICE, grants=(Grant("service", ""),))
    assert restricted_refusal(service, frozenset(), "/x.OrgService/CreateOrgUnit") is None


class PosServicer:
    @allows(PrincipalKind.TERMINAL)
    async def Redeem(self) -> None: ...


def test_a_pos_terminal_reaches_only_the_methods_open_to_terminals() -> None:
    till = Principal("t-1", PrincipalKind.TERMINAL, grants=(Grant("merchant", FENGSHU),))
    assert restricted_refusal(till, allowed_roles(PosServicer.Redeem), "/x.PosService/Redeem") is None
    refused = restricted_refusal(till, allowed_roles(Servicer.GetOrgUnit), "/x.OrgService/GetOrgUnit")
    assert refused is not None and refused.reason == "RESTRICTED_ROLE" and "POS API" in refused.message
    # A person holding the merchant role is not a terminal.
    assert restricted_refusal(worker(role="merchant"), frozenset(), "/x.OrgService/GetOrgUnit") is None
