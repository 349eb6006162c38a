"""The authority rules (authority.py) and the admin API's access rules (access.py), table by table."""

from __future__ import annotations

import pytest
from linli_identity import access, authority
from linli_identity.grants import Actor

from linli_runtime.auth import Grant, Role

CHENGDU = "chengdu"
JINJIANG = "chengdu/jinjiang"
CHENGLONGLU = "chengdu/jinjiang/chenglonglu"
FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
COMPOUND = f"{FENGSHU}/jinshang-chuntian"
YANGMA = "chengdu/chongzhou/yangma"
JINSHENG = "chengdu/chongzhou/yangma/chongjianglu/jinsheng"

ADMIN = Grant("platform_admin", "")
CITY = Grant("city_operator", CHENGDU)
STREET = Grant("street_officer", CHENGLONGLU)
WORKER = Grant("community_worker", FENGSHU)

# (what the grantor holds, the role, the scope, allowed?)
CASES = [
    (ADMIN, Role.PLATFORM_ADMIN, "", True),
    (ADMIN, Role.TRUST_SUPERVISOR, YANGMA, True),
    (ADMIN, Role.CITY_OPERATOR, CHENGDU, True),
    (CITY, Role.PLATFORM_ADMIN, "", False),
    (CITY, Role.CITY_OPERATOR, JINJIANG, True),
    (CITY, Role.TRUST_SUPERVISOR, YANGMA, True),
    (CITY, Role.TRUSTEE, JINSHENG, True),
    (CITY, Role.COMMUNITY_WORKER, "beijing/dongcheng/x/y", False),  # outside its city
    (STREET, Role.COMMUNITY_WORKER, FENGSHU, True),
    (STREET, Role.TRUST_SUPERVISOR, CHENGLONGLU, True),
    (STREET, Role.TRUSTEE, COMPOUND, True),
    (STREET, Role.STREET_OFFICER, CHENGLONGLU, False),  # not its own kind
    (STREET, Role.CITY_OPERATOR, CHENGDU, False),  # above its authority
    (STREET, Role.COMMUNITY_WORKER, "chengdu/jinjiang/chenglonglu2/x", False),  # a sibling street's lookalike
    (WORKER, Role.VOLUNTEER, FENGSHU, True),
    (WORKER, Role.RESIDENT, COMPOUND, True),
    (WORKER, Role.MERCHANT, FENGSHU, True),
    (WORKER, Role.OWNERS_COMMITTEE, COMPOUND, True),
    (WORKER, Role.COMMUNITY_WORKER, FENGSHU, False),
    (WORKER, Role.TRUSTEE, COMPOUND, False),
    (WORKER, Role.TRUST_SUPERVISOR, FENGSHU, False),
    (WORKER, Role.VOLUNTEER, "chengdu/jinjiang/chenglonglu/other", False),  # a sibling community
    (Grant("volunteer", FENGSHU), Role.VOLUNTEER, FENGSHU, False),
    (Grant("trust_supervisor", YANGMA), Role.OWNERS_COMMITTEE, JINSHENG, False),
    (Grant("owners_committee", JINSHENG), Role.RESIDENT, JINSHENG, False),  # a household at a time
    # Household bindings (issue 13): the committee binds an owner to a unit of its compound; the
    # owner adds a family member or tenant to that unit only; a tenant adds no one.
    (Grant("owners_committee", JINSHENG), Role.RESIDENT, f"{JINSHENG}/b1/h001", True),
    (Grant("owners_committee", JINSHENG), Role.RESIDENT, f"{YANGMA}/x/other/b1/h001", False),
    (Grant("owners_committee", JINSHENG), Role.HOUSEHOLD_MEMBER, f"{JINSHENG}/b1/h001", False),
    (Grant("resident", f"{JINSHENG}/b1/h001"), Role.HOUSEHOLD_MEMBER, f"{JINSHENG}/b1/h001", True),
    (Grant("resident", f"{JINSHENG}/b1/h001"), Role.HOUSEHOLD_MEMBER, f"{JINSHENG}/b1/h002", False),
    (Grant("resident", f"{JINSHENG}/b1/h001"), Role.RESIDENT, f"{JINSHENG}/b1/h001", False),
    (Grant("resident", JINSHENG), Role.HOUSEHOLD_MEMBER, f"{JINSHENG}/b1/h001", False),  # not an owner's grant
    (Grant("household_member", f"{JINSHENG}/b1/h001"), Role.HOUSEHOLD_MEMBER, f"{JINSHENG}/b1/h001", False),
    (WORKER, Role.HOUSEHOLD_MEMBER, f"{COMPOUND}/b1/h001", False),
    (Grant("service", ""), Role.VOLUNTEER, FENGSHU, False),
]


@pytest.mark.parametrize(("held", "role", "scope", "allowed"), CASES,
                         ids=[f"{h.role}@{h.scope or '/'}->{r}@{s or '/'}" for h, r, s, _ in CASES])
def test_who_may_grant_what_where(held: Grant, role: Role, scope: str, allowed: bool) -> None:
    assert (authority.authority_for([held], role, scope) is not None) is allowed


def test_every_role_but_the_machine_roles_is_grantable_by_the_platform_admin_somewhere() -> None:
    for role in Role:
        if role in (Role.SERVICE, Role.PORTAL):
            # Never granted to anyone, anywhere: they come with a machine's client credentials.
            assert authority.role_level_problem(role, "") is not None
            assert authority.role_level_problem(role, "a/b/c/d/e/f") is not None
            assert all(role not in may for may in authority.MAY_GRANT.values())
            continue
        deepest = "a/b/c/d/e/f/g"  # a household
        scope = "" if role is Role.PLATFORM_ADMIN else deepest
        assert authority.role_level_problem(role, scope) is None, role
        assert authority.authority_for([ADMIN], role, scope) == ADMIN


@pytest.mark.parametrize(("role", "scope"), [
    (Role.PLATFORM_ADMIN, CHENGDU),  # only at the root
    (Role.CITY_OPERATOR, ""),
    (Role.STREET_OFFICER, JINJIANG),
    (Role.TRUST_SUPERVISOR, JINJIANG),
    (Role.COMMUNITY_WORKER, CHENGLONGLU),
    (Role.VOLUNTEER, CHENGLONGLU),
    (Role.TRUSTEE, FENGSHU),
    (Role.OWNERS_COMMITTEE, FENGSHU),
    (Role.RESIDENT, FENGSHU),
    (Role.HOUSEHOLD_MEMBER, JINSHENG),  # a household, never a compound
])
def test_no_role_is_granted_broader_than_its_level(role: Role, scope: str) -> None:
    assert authority.role_level_problem(role, scope) is not None


def test_the_narrowest_authority_is_recorded() -> None:
    assert authority.authority_for([CITY, STREET], Role.VOLUNTEER, FENGSHU) == STREET


# -- access.py -------------------------------------------------------------------------------------

def actor(*grants: Grant, account: str = "acc_me") -> Actor:
    return Actor(account, tuple(grants))


def test_an_account_is_seen_by_itself_and_by_those_who_administer_one_of_its_grants() -> None:
    volunteer_grants = [Grant("volunteer", FENGSHU)]
    assert access.may_see(actor(account="acc_v"), "acc_v", volunteer_grants)
    assert access.may_see(actor(WORKER), "acc_v", volunteer_grants)
    assert access.may_see(actor(STREET), "acc_v", volunteer_grants)
    assert not access.may_see(actor(Grant("community_worker", f"{CHENGLONGLU}/other")), "acc_v", volunteer_grants)
    assert not access.may_see(actor(Grant("volunteer", FENGSHU)), "acc_v", volunteer_grants)
    # A new sign-up with no grant yet is visible to any administrator (to be granted a role).
    assert access.may_see(actor(WORKER), "acc_new", [])
    assert not access.may_see(actor(Grant("resident", COMPOUND)), "acc_new", [])


def test_disabling_needs_authority_over_every_grant_and_never_oneself() -> None:
    assert access.may_disable(actor(WORKER), "acc_v", [Grant("volunteer", FENGSHU)])
    assert not access.may_disable(actor(WORKER), "acc_v", [Grant("volunteer", FENGSHU), Grant("trustee", COMPOUND)])
    assert access.may_disable(actor(STREET), "acc_v", [Grant("volunteer", FENGSHU), Grant("trustee", COMPOUND)])
    assert not access.may_disable(actor(CITY), "acc_a", [ADMIN])
    assert access.may_disable(actor(ADMIN), "acc_a", [ADMIN])
    assert not access.may_disable(actor(ADMIN, account="acc_a"), "acc_a", [ADMIN])


def test_service_accounts_are_created_by_platform_admins_only_and_keys_managed_by_them() -> None:
    assert access.may_create(actor(WORKER), "person")
    assert not access.may_create(actor(WORKER), "service")
    assert access.may_create(actor(ADMIN), "service")
    assert not access.may_create(actor(Grant("volunteer", FENGSHU)), "person")
    assert access.may_manage_keys(actor(ADMIN)) and not access.may_manage_keys(actor(CITY))


def test_owners_and_committee_members_bind_households_but_administer_no_accounts() -> None:
    owner = actor(Grant("resident", f"{JINSHENG}/b1/h001"), account="acc_owner")
    committee = actor(Grant("owners_committee", JINSHENG))
    tenant_grants = [Grant("household_member", f"{JINSHENG}/b1/h001")]
    for who in (owner, committee):
        assert not access.is_administrator(who)
        assert not access.may_create(who, "person")
        assert not access.may_see(who, "acc_new", [])
        assert not access.may_list_scope(who, JINSHENG)
    # The owner takes back the grant they gave (RevokeGrant follows the granting rule) but cannot
    # stop the tenant's account.
    assert authority.authority_for(owner.grants, Role.HOUSEHOLD_MEMBER, f"{JINSHENG}/b1/h001") is not None
    assert not access.may_disable(owner, "acc_tenant", tenant_grants)
