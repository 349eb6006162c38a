"""Authorisation: who the caller is, and what it may do where.

Every caller carries an access token from the platform's one OIDC issuer (verified against its
JWKS by `linli_runtime.oidc`; no service holds a signing key) or, for a POS terminal, the
terminal's own credential. The token names an account (`sub`, the global account id — the key
of everything a service keeps about a person) and carries the account's *grants*: (role, scope)
pairs, each given by someone with authority over that scope, where a scope is a path in the org
tree such as `chengdu/jinjiang/chenglonglu/fengshu` and the empty scope is the whole platform. A
grant reaches its scope and everything below it. A principal has no single "role" or "scope":
a person holding community_worker at Fengshu and owners_committee at Jiangnanting acts as each
at its place.

Handlers ask one of:

| question | function |
|---|---|
| may the caller act as one of `roles` at `path`? (the grant that allows it) | `authorize(*roles, path=…)` |
| the same, answering the normalised path | `authorized_path(*roles, path=…)` |
| does any of the caller's grants reach `path` (reads open to everyone there)? | `reach(path)` |
| where may the caller act as one of `roles`? (list methods filter by it) | `scopes_for(*roles)` |

Refusals say why: `OUT_OF_SCOPE` when nothing the caller holds is at, above or below the place,
`ROLE_NOT_ALLOWED` when something is but in no role that may do this. Platform admins and
services pass every role check (`OVERRIDING_ROLES`) unless a check is `exact`.

Some callers are *restricted*: a token holding a role of `RESTRICTED_ROLES` (the web portal's
read-only `portal`) and a POS terminal's credential (`PrincipalKind.TERMINAL`) are refused on
every method except those that open themselves with `@allows(role or kind)` — the portal
reaches only the public reads its pages show, a terminal only the POS API. The authentication
interceptor applies the rule before any handler runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property, lru_cache
from typing import TypeVar

from linli_runtime.context import current_principal
from linli_runtime.errors import InvalidArgument, PermissionDenied, Unauthenticated

# The audience of every access token the platform's services accept.
AUDIENCE = "linli"


class PrincipalKind(StrEnum):
    # A person's account at the issuer (operators, workers, residents, volunteers…): what it
    # may do comes from its grants, not from its kind.
    PERSON = "person"
    # A machine that signed in with its own client credentials (a platform service, the portal).
    SERVICE = "service"
    # A POS terminal, by its own credential (partner-redemption's POS API only).
    TERMINAL = "terminal"


class Role(StrEnum):
    """Roles from DOMAIN.md. Services decide which roles may call which methods."""

    PLATFORM_ADMIN = "platform_admin"
    CITY_OPERATOR = "city_operator"
    STREET_OFFICER = "street_officer"
    COMMUNITY_WORKER = "community_worker"
    PARTY_COMMITTEE = "party_committee"
    OWNERS_COMMITTEE = "owners_committee"
    TRUSTEE = "trustee"
    # An owner of a household (a grant for the household, confirmed by the owners' committee or
    # a community worker against the owners' register): votes for it, reads the owners' books.
    RESIDENT = "resident"
    # A family member or tenant an owner added to their household (a grant for the household,
    # given by its owner): asks for help, reads the inbox; never votes.
    HOUSEHOLD_MEMBER = "household_member"
    VOLUNTEER = "volunteer"
    MERCHANT = "merchant"
    # Supervises a trust (the street office or its appointee): the second approval above a
    # compound's threshold, beside the owners' committee.
    TRUST_SUPERVISOR = "trust_supervisor"
    # A platform service acting for itself (client credentials): passes role checks anywhere.
    SERVICE = "service"
    # The web portal's public pages (client credentials of the portal): read-only, and only on
    # the methods that name it (`@allows(Role.PORTAL)`). Never granted to a person.
    PORTAL = "portal"


# Roles a token may use only on methods that name them with `@allows` (see the module
# docstring): everywhere else a caller holding one is PERMISSION_DENIED.
RESTRICTED_ROLES: frozenset[str] = frozenset({Role.PORTAL.value})
# Roles that come with a machine's client credentials, never from a grant to a person.
MACHINE_ROLES: frozenset[str] = frozenset({Role.SERVICE.value, Role.PORTAL.value})


# Role groups the services share. A service names its own narrower groups beside its API.
# Run the programmes within their scope (create, change, approve the first time).
OPERATORS: tuple[Role, ...] = (Role.CITY_OPERATOR, Role.STREET_OFFICER, Role.COMMUNITY_WORKER)
# Read what operators read (the community party committee looks, it does not run).
STAFF: tuple[Role, ...] = (*OPERATORS, Role.PARTY_COMMITTEE)
# Keep a compound's books: the trustee (property company), or the owners' committee.
BOOKKEEPERS: tuple[Role, ...] = (Role.TRUSTEE, Role.OWNERS_COMMITTEE)


# A path already normalised: lower-case ASCII slugs joined by single slashes.
_NORMAL_PATH = re.compile(r"[a-z0-9_-]+(?:/[a-z0-9_-]+)*")


@lru_cache(maxsize=8192)
def normalize_path(path: str) -> str:
    """`/Chengdu//jinjiang/` → `chengdu/jinjiang`; refuses segments that are not slugs.

    Remembered for the paths seen last (a refusal is not: it raises): a write names its
    community three times over — checked as a field, authorised, answered — and a service's
    calls name the same few thousand communities again and again (issue 18: 3 µs each time)."""
    if _NORMAL_PATH.fullmatch(path):
        # The usual case, answered without looking at each character in Python: a summary of
        # the city's 5,000 communities checks every path three times (a fifth of
        # volunteer-points' CPU for the city page), more than the cache holds.
        return path
    segments = [s for s in path.strip().strip("/").split("/") if s]
    for segment in segments:
        if not all(c.isalnum() or c in "-_" for c in segment) or not segment.isascii():
            raise InvalidArgument.field(
                "org_path", f"segment {segment!r} must use only ASCII letters, digits, '-' and '_'"
            )
    return "/".join(s.lower() for s in segments)


def path_within(path: str, scope: str) -> bool:
    """True when `path` is `scope` itself or lies below it (segment-wise, so `fengshu2` is not
    inside `fengshu`)."""
    if scope == "":
        return True
    return path == scope or path.startswith(scope + "/")


@dataclass(frozen=True)
class Grant:
    """A role at a place in the org tree: `Grant("community_worker", "chengdu/jinjiang/chenglonglu/fengshu")`.
    The empty scope is the whole platform."""

    role: str
    scope: str

    def covers(self, path: str) -> bool:
        """True when `path` (normalised) lies at or below this grant's scope."""
        return path_within(path, self.scope)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the account (`subject`), what kind of caller it is, and its
    grants at the time its token was issued (a POS terminal: `merchant` at its community)."""

    subject: str
    kind: PrincipalKind
    grants: tuple[Grant, ...] = ()
    token_id: str = ""
    claims: dict[str, object] = field(default_factory=dict, compare=False)

    @cached_property
    def _grant_for(self) -> dict[tuple[tuple[str | Role, ...], str, bool], Grant | None]:
        """`may_act_as`'s answers for this principal, by (roles, path as given, exact): the
        principal of a verified token serves every call made with it, and a service's calls ask
        the same question of the same few communities (issue 18: ~8 µs a write)."""
        return {}

    @cached_property
    def restrictions(self) -> frozenset[str]:
        """`restricted_marks(self)`, worked out once: a verified token's principal serves every
        call made with that token."""
        return restricted_marks(self)

    def can_reach(self, path: str) -> bool:
        """True when some grant of the caller, in any role, covers `path`."""
        target = normalize_path(path)
        return any(g.covers(target) for g in self.grants)

    def holds(self, *roles: str | Role) -> bool:
        """True when the caller holds one of `roles` somewhere (exactly: no overriding)."""
        wanted = {str(r) for r in roles}
        return any(g.role in wanted for g in self.grants)


def caller() -> Principal:
    """The authenticated caller of the current call (the interceptor guarantees one exists on
    every authenticated method)."""
    principal = current_principal()
    if principal is None:
        raise Unauthenticated("this call needs credentials: send 'authorization: Bearer <token>'")
    return principal


# Roles that pass every role check of `authorize` unless `exact=True`.
OVERRIDING_ROLES = frozenset({Role.PLATFORM_ADMIN.value, Role.SERVICE.value})


def _depth(scope: str) -> int:
    return scope.count("/") + (1 if scope else 0)


def may_act_as(principal: Principal, roles: Iterable[str | Role], path: str, *, exact: bool = False) -> Grant | None:
    """The grant by which `principal` may act as one of `roles` at `path`, or None.

    A grant counts when its role is one of `roles` and `path` lies within its scope. Unless
    `exact`, a platform_admin or service grant counts for any role. Of several grants that
    count, the one for a named role at the narrowest scope is returned — the most precise
    answer to "by what right", for audit records."""
    key = (tuple(roles), path, exact)
    known = principal._grant_for
    if key in known:
        return known[key]
    grant = _may_act_as(principal, key[0], path, exact)
    if len(known) >= _GRANTS_REMEMBERED:  # a caller roaming over many places: start again
        known.clear()
    known[key] = grant
    return grant


# Answers `may_act_as` keeps per principal (see `Principal._grant_for`).
_GRANTS_REMEMBERED = 4096


def _may_act_as(principal: Principal, roles: Iterable[str | Role], path: str, exact: bool) -> Grant | None:
    wanted = {str(r) for r in roles}
    target = normalize_path(path)
    candidates = [g for g in principal.grants if g.covers(target)
                  and (g.role in wanted or (not exact and g.role in OVERRIDING_ROLES))]
    if not candidates:
        return None
    return max(candidates, key=lambda g: (g.role in wanted, _depth(g.scope)))


def _scopes_text(principal: Principal) -> str:
    return ", ".join(sorted({f"{g.role}@{g.scope or '/'}" for g in principal.grants})) or "no grants"


def out_of_scope(principal: Principal, path: str) -> PermissionDenied:
    """PERMISSION_DENIED: none of `principal`'s grants reaches `path` (normalised)."""
    scopes = ",".join(sorted({g.scope for g in principal.grants}))
    return PermissionDenied(
        f"'{path or '/'}' is outside your scope (your grants: {_scopes_text(principal)})",
        reason="OUT_OF_SCOPE", metadata={"path": path, "scope": scopes})


def authorize(*roles: str | Role, path: str, principal: Principal | None = None, exact: bool = False) -> Grant:
    """Refuse with PERMISSION_DENIED unless the caller may act as one of `roles` at `path`
    (`OUT_OF_SCOPE` when nothing it holds reaches `path`, else `ROLE_NOT_ALLOWED`); return the
    grant used (see `may_act_as`)."""
    who = principal or caller()
    grant = may_act_as(who, roles, path, exact=exact)
    if grant is not None:
        return grant
    target = normalize_path(path)
    # Nothing the caller holds is at, above or below the place: it is simply not theirs. A
    # grant there, or within it (a resident of one of a compound's households), makes it a
    # matter of role.
    if not any(g.covers(target) or path_within(g.scope, target) for g in who.grants):
        raise out_of_scope(who, target)
    needed = ", ".join(sorted(map(str, roles))) or "(platform admins and services only)"
    raise PermissionDenied(
        f"your grants at '{target or '/'}' ({_scopes_text(who)}) do not allow this; it needs one of: {needed}",
        reason="ROLE_NOT_ALLOWED",
        metadata={"path": target, "roles": ",".join(sorted(map(str, roles)))},
    )


def authorized_path(*roles: str | Role, path: str, principal: Principal | None = None, exact: bool = False) -> str:
    """`authorize`, answering the normalised `path` — what the handler then uses, exactly as
    checked."""
    authorize(*roles, path=path, principal=principal, exact=exact)
    return normalize_path(path)


def reach(path: str, principal: Principal | None = None) -> str:
    """The normalised `path`, when some grant of the caller (any role) covers it; else
    PERMISSION_DENIED `OUT_OF_SCOPE`. For reads open to everyone who belongs to a place."""
    who = principal or caller()
    target = normalize_path(path)
    if not who.can_reach(target):
        raise out_of_scope(who, target)
    return target


def scopes_for(*roles: str | Role, principal: Principal | None = None, exact: bool = False) -> tuple[str, ...]:
    """The scopes at which the caller may act as one of `roles` (with no roles: in any role),
    none inside another, sorted; `("",)` is the whole platform. List methods keep what lies
    within one of them (`within_any`)."""
    who = principal or caller()
    wanted = {str(r) for r in roles}
    found = {g.scope for g in who.grants
             if not wanted or g.role in wanted or (not exact and g.role in OVERRIDING_ROLES)}
    return tuple(sorted(s for s in found if not any(o != s and path_within(s, o) for o in found)))


def within_any(path: str, scopes: Iterable[str]) -> bool:
    """True when `path` lies within one of `scopes` (as `scopes_for` answers them)."""
    return any(path_within(path, scope) for scope in scopes)


F = TypeVar("F", bound=Callable[..., object])
ALLOWED_ATTRIBUTE = "__linli_allows__"


def allows(*roles: str | Role | PrincipalKind) -> Callable[[F], F]:
    """Mark a servicer method as open to restricted callers: `roles` of `RESTRICTED_ROLES`, or
    `PrincipalKind.TERMINAL` for POS terminals (see the module docstring):

        @allows(Role.PORTAL)
        async def GetOrgUnit(self, request, context): ...

    The method still checks scope and roles as usual; the mark only lifts the blanket refusal
    the authentication interceptor gives restricted callers everywhere else."""

    def mark(method: F) -> F:
        setattr(method, ALLOWED_ATTRIBUTE, frozenset(str(r) for r in roles) | getattr(method, ALLOWED_ATTRIBUTE,
                                                                                        frozenset()))
        return method

    return mark


def allowed_roles(method: object) -> frozenset[str]:
    """The restricted roles (and kinds) `method` names with `@allows` (none for an unmarked method)."""
    found: object = getattr(method, ALLOWED_ATTRIBUTE, frozenset())
    return found if isinstance(found, frozenset) else frozenset()


def restricted_marks(principal: Principal) -> frozenset[str]:
    """What restricts `principal`: the restricted roles it holds, and `terminal` for a POS terminal."""
    held = {g.role for g in principal.grants} & RESTRICTED_ROLES
    if principal.kind == PrincipalKind.TERMINAL:
        held.add(PrincipalKind.TERMINAL.value)
    return frozenset(held)


def restricted_refusal(principal: Principal, allowed: frozenset[str], method: str) -> PermissionDenied | None:
    """PERMISSION_DENIED when `principal` is restricted (a restricted role, a POS terminal) and
    `method` does not open itself to it."""
    refused = sorted(principal.restrictions - allowed)
    if not refused:
        return None
    if refused[0] == PrincipalKind.TERMINAL.value:
        return PermissionDenied(f"a POS terminal's credential may not call {method}: it reaches only the POS API",
                                reason="RESTRICTED_ROLE", metadata={"role": refused[0]})
    return PermissionDenied(
        f"a {refused[0]} token may not call {method}: it reaches only the methods open to it",
        reason="RESTRICTED_ROLE", metadata={"role": refused[0]})
