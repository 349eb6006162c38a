"""Authorisation: who the caller is, and what it may do where.

Every caller carries an access token from the platform's one OIDC issuer (verified against its
JWKS by `linli_runtime.oidc`; no service holds a signing key) or, for a POS terminal, the
terminal's own credential. The token names an account (`sub`) and carries the account's
*grants*: (role, scope) pairs, each given by someone with authority over that scope, where a
scope is a path in the org tree such as `chengdu/jinjiang/chenglonglu/fengshu` and the empty
scope is the whole platform. A grant reaches its scope and everything below it.

Handlers ask `authorize(*roles, path=…)` ("may this caller act as one of these roles at this
place?", answered with the grant that allows it). The older `require_scope(path)` and
`require_role(...)` read a principal's single role and scope: a token with exactly one grant
has it there too (see `linli_runtime.oidc`); with several, its legacy scope is `NO_SCOPE`,
which reaches nothing, so code still using them refuses such callers rather than guessing.

Some roles are *restricted* (`RESTRICTED_ROLES`): a token carrying one is refused on every
method except those that name the role with `@allows(role)` — the web portal's read-only
`portal` role reaches only the public reads its pages show.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
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


def normalize_path(path: str) -> str:
    """`/Chengdu//jinjiang/` → `chengdu/jinjiang`; refuses segments that are not slugs."""
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


# What a principal's legacy `scope` is when its grants do not come down to one role at one
# place: a value no normalised path lies within, so `require_scope` refuses everything and the
# caller must be checked with `authorize` (which reads the grants).
NO_SCOPE = "/"


@dataclass(frozen=True)
class Principal:
    subject: str
    kind: PrincipalKind
    role: str
    scope: str
    token_id: str = ""
    claims: dict[str, object] = field(default_factory=dict, compare=False)
    # The account's grants at the time its token was issued; empty for principals made in code
    # (a POS terminal), whose `role` at `scope` is their one grant (see `effective_grants`).
    grants: tuple[Grant, ...] = ()

    def can_reach(self, path: str) -> bool:
        target = normalize_path(path)
        if self.grants:
            return any(g.covers(target) for g in self.grants)
        return path_within(target, self.scope)

    @property
    def effective_grants(self) -> tuple[Grant, ...]:
        """The grants to check: the token's grants, else its legacy role at its scope."""
        if self.grants:
            return self.grants
        if self.role and self.scope != NO_SCOPE:
            return (Grant(self.role, self.scope),)
        return ()


def caller() -> Principal:
    """The authenticated caller of the current call (the interceptor guarantees one exists on
    every authenticated method)."""
    principal = current_principal()
    if principal is None:
        raise Unauthenticated("this call needs credentials: send 'authorization: Bearer <token>'")
    return principal


def require_scope(path: str, principal: Principal | None = None) -> str:
    """Refuse with PERMISSION_DENIED unless `path` lies within the caller's scope. Returns the
    normalised path, so handlers use exactly what was checked."""
    who = principal or caller()
    normalized = normalize_path(path)
    if not path_within(normalized, who.scope):
        raise PermissionDenied(
            f"'{normalized or '/'}' is outside your scope '{who.scope or '/'}'",
            reason="OUT_OF_SCOPE",
            metadata={"path": normalized, "scope": who.scope},
        )
    return normalized


def require_role(*roles: str | Role, principal: Principal | None = None) -> Principal:
    """Refuse with PERMISSION_DENIED unless the caller holds one of `roles` (platform admins and
    services pass every role check; scope checks still apply)."""
    who = principal or caller()
    allowed = {str(r) for r in roles} | {Role.PLATFORM_ADMIN.value, Role.SERVICE.value}
    if who.role not in allowed:
        raise PermissionDenied(
            f"role '{who.role}' may not do this; it needs one of: {', '.join(sorted(map(str, roles)))}",
            reason="ROLE_NOT_ALLOWED",
            metadata={"role": who.role},
        )
    return who


def scopes_filter(paths: Iterable[str], principal: Principal | None = None) -> list[str]:
    """Keep only the paths the caller may see (for list methods)."""
    who = principal or caller()
    return [p for p in paths if path_within(p, who.scope)]


# Roles that pass every role check of `authorize` unless `exact=True` (as with `require_role`).
OVERRIDING_ROLES = frozenset({Role.PLATFORM_ADMIN.value, Role.SERVICE.value})


def may_act_as(principal: Principal, roles: Iterable[str | Role], path: str, *, exact: bool = False) -> Grant | None:
    """The grant by which `principal` may act as one of `roles` at `path`, or None.

    A grant counts when its role is one of `roles` and `path` lies within its scope. Unless
    `exact`, a platform_admin or service grant counts for any role (as `require_role` lets them
    pass). Of several grants that count, the one for a named role at the narrowest scope is
    returned — the most precise answer to "by what right", for audit records."""
    wanted = {str(r) for r in roles}
    target = normalize_path(path)
    candidates = [g for g in principal.effective_grants if g.covers(target)
                  and (g.role in wanted or (not exact and g.role in OVERRIDING_ROLES))]
    if not candidates:
        return None
    return max(candidates, key=lambda g: (g.role in wanted, g.scope.count("/") + (1 if g.scope else 0)))


def authorize(*roles: str | Role, path: str, principal: Principal | None = None, exact: bool = False) -> Grant:
    """Refuse with PERMISSION_DENIED unless the caller may act as one of `roles` at `path`;
    return the grant used (see `may_act_as`)."""
    who = principal or caller()
    grant = may_act_as(who, roles, path, exact=exact)
    if grant is None:
        target = normalize_path(path)
        raise PermissionDenied(
            f"you hold no grant of {', '.join(sorted(map(str, roles)))} that covers '{target or '/'}'",
            reason="NO_GRANT",
            metadata={"path": target, "roles": ",".join(sorted(map(str, roles)))},
        )
    return grant


F = TypeVar("F", bound=Callable[..., object])
ALLOWED_ATTRIBUTE = "__linli_allows__"


def allows(*roles: str | Role) -> Callable[[F], F]:
    """Mark a servicer method as open to restricted `roles` (see `RESTRICTED_ROLES`):

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
    """The restricted roles `method` names with `@allows` (none for an unmarked method)."""
    found: object = getattr(method, ALLOWED_ATTRIBUTE, frozenset())
    return found if isinstance(found, frozenset) else frozenset()


def restricted_refusal(principal: Principal, allowed: frozenset[str], method: str) -> PermissionDenied | None:
    """PERMISSION_DENIED when `principal` holds a restricted role that `method` does not allow."""
    held = {g.role for g in principal.effective_grants} | ({principal.role} if principal.role else set())
    refused = sorted((held & RESTRICTED_ROLES) - allowed)
    if not refused:
        return None
    return PermissionDenied(
        f"a {refused[0]} token may not call {method}: it reaches only the methods open to it",
        reason="RESTRICTED_ROLE", metadata={"role": refused[0]})
