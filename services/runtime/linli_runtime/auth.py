"""Authentication and scope.

Operators and services carry signed tokens (JWT, HS256, PyJWT). A token names its subject, its
kind (operator or service), a role and an org scope: a path in the org tree such as
`chengdu/jinjiang/chenglonglu/fengshu`. A caller may see and change only what lies at or below
its scope; the empty scope is the whole platform (service tokens, the platform admin).

Handlers call `require_scope(path)` (and `require_role(...)`) before touching anything; the
authentication interceptor has already put the caller into a contextvar.

Tokens from the identity service's issuer (verified by `linli_runtime.oidc`) carry the
account's *grants* instead of one role and scope: a list of (role, scope) pairs, each given by
someone with authority over that scope. `Principal.grants` holds them and `authorize(roles,
path)` answers "may this caller act as one of these roles at this place?" with the grant it
used. Until the services switch over, the HS256 `TokenSigner` path stays: a principal from it
has no grants, and its one role at its one scope counts as a single grant (`effective_grants`).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

import jwt

from linli_runtime.clock import Clock, SystemClock
from linli_runtime.context import current_principal
from linli_runtime.errors import InvalidArgument, PermissionDenied, Unauthenticated

AUDIENCE = "linli"
ALGORITHM = "HS256"


class PrincipalKind(StrEnum):
    OPERATOR = "operator"
    SERVICE = "service"
    TERMINAL = "terminal"
    # A person's account at the identity service (operators, workers, residents, volunteers…):
    # what it may do comes from its grants, not from its kind.
    PERSON = "person"


class Role(StrEnum):
    """Roles from DOMAIN.md. Services decide which roles may call which methods."""

    PLATFORM_ADMIN = "platform_admin"
    CITY_OPERATOR = "city_operator"
    STREET_OFFICER = "street_officer"
    COMMUNITY_WORKER = "community_worker"
    PARTY_COMMITTEE = "party_committee"
    OWNERS_COMMITTEE = "owners_committee"
    TRUSTEE = "trustee"
    RESIDENT = "resident"
    VOLUNTEER = "volunteer"
    MERCHANT = "merchant"
    # Supervises a trust (the street office or its appointee): the second approval above a
    # compound's threshold, beside the owners' committee.
    TRUST_SUPERVISOR = "trust_supervisor"
    SERVICE = "service"


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
    # The account's grants at the time its token was issued (identity-issued tokens); empty for
    # HS256 tokens, whose `role` at `scope` is their one grant (see `effective_grants`).
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


class TokenSigner:
    """Issues and verifies tokens with one shared secret (rotate by deploying a new secret;
    tokens are short-lived)."""

    def __init__(self, secret: str, issuer: str = "linli", *, cache_size: int = 4096,
                 clock: Clock | None = None) -> None:
        if len(secret) < 32:
            raise ValueError("the token signing secret must be at least 32 characters long")
        self._secret = secret
        self._issuer = issuer
        # A client sends the same token on every call; checking its signature and claims once
        # and remembering the result until it expires saves that work on each later call.
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._cache_size = cache_size
        self._clock = clock or SystemClock()

    def issue(
        self,
        subject: str,
        *,
        role: str,
        scope: str = "",
        kind: PrincipalKind = PrincipalKind.OPERATOR,
        ttl_seconds: int = 3600,
        now: float | None = None,
        extra: dict[str, object] | None = None,
    ) -> str:
        issued = int(now if now is not None else self._clock.now().timestamp())
        claims: dict[str, object] = {
            **(extra or {}),
            "iss": self._issuer,
            "aud": AUDIENCE,
            "sub": subject,
            "kind": str(kind),
            "role": str(role),
            "scope": normalize_path(scope),
            "iat": issued,
            "exp": issued + ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def issue_service_token(self, service: str, ttl_seconds: int = 24 * 3600) -> str:
        return self.issue(
            service, role=Role.SERVICE, scope="", kind=PrincipalKind.SERVICE, ttl_seconds=ttl_seconds
        )

    def verify(self, token: str) -> Principal:
        now = self._clock.now().timestamp()
        cached = self._verified.get(token)
        if cached is not None:
            principal, expires = cached
            if now < expires:
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]
        principal = self._verify_uncached(token, now)
        self._verified[token] = (principal, float(principal.claims["exp"]))  # type: ignore[arg-type]
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)
        return principal

    def _verify_uncached(self, token: str, now: float) -> Principal:
        try:
            # Expiry is checked against our clock below, so tests can move time.
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss"], "verify_exp": False,
                         "verify_iat": False},
            )
            if not isinstance(claims["exp"], int | float):
                raise jwt.InvalidTokenError("exp is not a number")
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(
                f"the access token is not valid ({exc}); send 'authorization: Bearer <token>'",
                reason="TOKEN_INVALID",
            ) from exc
        if claims["exp"] <= now:
            raise Unauthenticated(
                "the access token has expired; sign in again or issue a new token", reason="TOKEN_EXPIRED"
            )
        try:
            kind = PrincipalKind(str(claims.get("kind", PrincipalKind.OPERATOR)))
            scope = normalize_path(str(claims.get("scope", "")))
        except (ValueError, InvalidArgument) as exc:
            raise Unauthenticated("the access token carries a malformed kind or scope",
                                  reason="TOKEN_INVALID") from exc
        return Principal(
            subject=str(claims["sub"]),
            kind=kind,
            role=str(claims.get("role", "")),
            scope=scope,
            token_id=str(claims.get("jti", "")),
            claims=claims,
        )


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
