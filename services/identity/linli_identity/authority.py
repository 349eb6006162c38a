"""Who may grant which role where: the platform's authority rules, as data.

A grantor may give role R at scope S only if it holds an active grant G such that

1. G's scope contains S (segment-wise: `chengdu/jinjiang` contains `chengdu/jinjiang/chenglonglu`,
   not `chengdu/jinjiangxi`), and
2. G's role may grant R (`MAY_GRANT` below), and
3. S is not broader than R's level (`BROADEST_LEVEL`: a street officer's grant is for a
   street or something within it, never for a whole district), and
4. the grantee is not the grantor: nobody raises or widens their own authority; a second
   person is always involved.

`MAY_GRANT`:

| grantor | may grant |
|---|---|
| platform_admin | every role (platform_admin too) anywhere |
| city_operator | every role but platform_admin, within its scope |
| street_officer | trust_supervisor and the community-level roles (community_worker, party_committee, |
|   | owners_committee, trustee, resident, volunteer, merchant), within its street |
| community_worker | volunteer, resident, merchant, owners_committee, within its community |
| owners_committee | resident for one household of its compound (an owner bound to a unit of the owners' register) |
| resident | household_member for its household (a family member or tenant), from a grant for that household |
| anyone else | nothing |

Revoking follows the same rule (whoever could grant it may revoke it; self-revocation
included, so a person may always give up a role). The machine roles are never granted:
`service` comes with a platform service's own client credentials, and `portal` (read-only, the
web portal's public pages) is recorded once for the portal's client by provisioning.

`merchant` covers a partner merchant's staff too (their POS terminals have credentials of
their own): no separate `merchant_staff` role is needed yet.

Org levels are path depths: city 1 (`chengdu`), district 2, street/town 3, community 4, compound 5,
building 6, household 7; the empty path (depth 0) is the whole platform.

Of these grantors only the first four *administer* accounts (`ADMINISTERING`: create them, look
them up by phone, see those without a grant): a committee member or an owner grants to an account
whose id its holder shows them (the portal's "My page" shows it), and finds no one by phone.
"""

from __future__ import annotations

from collections.abc import Iterable

from linli_runtime.auth import MACHINE_ROLES, Grant, Role, path_within

PLATFORM, CITY, DISTRICT, STREET, COMMUNITY, COMPOUND, BUILDING, HOUSEHOLD = 0, 1, 2, 3, 4, 5, 6, 7

COMMUNITY_ROLES = frozenset({Role.COMMUNITY_WORKER, Role.PARTY_COMMITTEE, Role.OWNERS_COMMITTEE, Role.TRUSTEE,
                             Role.RESIDENT, Role.HOUSEHOLD_MEMBER, Role.VOLUNTEER, Role.MERCHANT})

# The machine roles (service, portal) come with a client's credentials, never from a grant.
GRANTABLE: frozenset[Role] = frozenset(r for r in Role if r.value not in MACHINE_ROLES)

MAY_GRANT: dict[Role, frozenset[Role]] = {
    Role.PLATFORM_ADMIN: GRANTABLE,
    Role.CITY_OPERATOR: GRANTABLE - {Role.PLATFORM_ADMIN},
    Role.STREET_OFFICER: COMMUNITY_ROLES | {Role.TRUST_SUPERVISOR},
    Role.COMMUNITY_WORKER: frozenset({Role.VOLUNTEER, Role.RESIDENT, Role.MERCHANT, Role.OWNERS_COMMITTEE}),
    Role.OWNERS_COMMITTEE: frozenset({Role.RESIDENT}),
    Role.RESIDENT: frozenset({Role.HOUSEHOLD_MEMBER}),
}
# A resident grants only from a grant for one household (an owner's), never from a wider one.
GRANTS_FROM_LEVEL: dict[Role, int] = {Role.RESIDENT: HOUSEHOLD}
# The committee and owners bind people to households, one household per grant: never to a
# whole compound (a resident grant for a compound is the staff's to give).
GRANTS_AT_LEVEL: dict[Role, int] = {Role.OWNERS_COMMITTEE: HOUSEHOLD, Role.RESIDENT: HOUSEHOLD}

# The broadest place a role may be granted at (a grant may always be narrower).
BROADEST_LEVEL: dict[Role, int] = {
    Role.PLATFORM_ADMIN: PLATFORM,
    Role.CITY_OPERATOR: CITY,
    Role.STREET_OFFICER: STREET,
    Role.TRUST_SUPERVISOR: STREET,  # the street office (or its appointee) supervises trusts
    Role.COMMUNITY_WORKER: COMMUNITY,
    Role.PARTY_COMMITTEE: COMMUNITY,
    Role.VOLUNTEER: COMMUNITY,
    Role.MERCHANT: COMMUNITY,
    Role.OWNERS_COMMITTEE: COMPOUND,
    Role.TRUSTEE: COMPOUND,
    Role.RESIDENT: COMPOUND,
    Role.HOUSEHOLD_MEMBER: HOUSEHOLD,
}
# Only the platform admin is granted at the root: a platform-wide role, and nothing more.
EXACT_LEVEL: dict[Role, int] = {Role.PLATFORM_ADMIN: PLATFORM}

LEVEL_NAMES = {0: "the whole platform", 1: "city", 2: "district", 3: "street or town", 4: "community",
               5: "compound", 6: "building", 7: "household"}


# The roles whose holders administer accounts (create them, look them up, disable them).
ADMINISTERING = frozenset({Role.PLATFORM_ADMIN, Role.CITY_OPERATOR, Role.STREET_OFFICER, Role.COMMUNITY_WORKER})


def level(scope: str) -> int:
    """The depth of an org path: 0 for the platform, 1 for a city, …"""
    return 0 if scope == "" else scope.count("/") + 1


def role_level_problem(role: Role, scope: str) -> str | None:
    """Why `role` cannot be granted at `scope` whoever grants it; None when it can."""
    if role is Role.SERVICE:
        return "the service role is never granted: services sign in with their own client credentials"
    if role is Role.PORTAL:
        return "the portal role is never granted: only the web portal's own client carries it"
    exact = EXACT_LEVEL.get(role)
    if exact is not None and level(scope) != exact:
        return f"{role} is granted only for the whole platform (an empty scope)"
    broadest = BROADEST_LEVEL[role]
    if level(scope) < broadest:
        return f"{role} is granted at a level no broader than {LEVEL_NAMES[broadest]}; '{scope or '/'}' is a " \
               f"{LEVEL_NAMES.get(level(scope), 'place')}"
    return None


def may_grant(held: Grant, role: Role, scope: str) -> bool:
    """True when the grant `held` lets its holder grant `role` at `scope` (rules 1 and 2)."""
    try:
        grantor_role = Role(held.role)
    except ValueError:
        return False
    from_level = GRANTS_FROM_LEVEL.get(grantor_role)
    if from_level is not None and level(held.scope) != from_level:
        return False
    at_level = GRANTS_AT_LEVEL.get(grantor_role)
    if at_level is not None and level(scope) != at_level:
        return False
    return role in MAY_GRANT.get(grantor_role, frozenset()) and path_within(scope, held.scope)


def authority_for(held: Iterable[Grant], role: Role, scope: str) -> Grant | None:
    """The grant among `held` that lets its holder grant `role` at `scope` (the narrowest, for
    the audit trail), or None."""
    usable = [g for g in held if may_grant(g, role, scope)]
    return max(usable, key=lambda g: level(g.scope)) if usable else None


def administers(held: Iterable[Grant], scope: str) -> Grant | None:
    """A grant among `held` of an administering role whose scope contains `scope`."""
    usable = [g for g in held if g.role in ADMINISTERING and path_within(scope, g.scope)]
    return max(usable, key=lambda g: level(g.scope)) if usable else None


def is_platform_admin(held: Iterable[Grant]) -> bool:
    return any(g.role == Role.PLATFORM_ADMIN and g.scope == "" for g in held)
