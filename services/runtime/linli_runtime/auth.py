"""Authentication and scope.

Operators and services carry signed tokens (JWT, HS256, PyJWT). A token names its subject, its
kind (operator or service), a role and an org scope: a path in the org tree such as
`chengdu/jinjiang/chenglonglu/fengshu`. A caller may see and change only what lies at or below
its scope; the empty scope is the whole platform (service tokens, the platform admin).

Handlers call `require_scope(path)` (and `require_role(...)`) before touching anything; the
authentication interceptor has already put the caller into a contextvar.
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
class Principal:
    subject: str
    kind: PrincipalKind
    role: str
    scope: str
    token_id: str = ""
    claims: dict[str, object] = field(default_factory=dict, compare=False)

    def can_reach(self, path: str) -> bool:
        return path_within(normalize_path(path), self.scope)


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
