"""Who may open operator pages: a person whose access token (the HttpOnly session cookie the
sign-in sets, or an `Authorization: Bearer` header for the JSON API) carries a grant of an
operator role whose scope reaches the page's org unit. The portal checks this for a clear page;
the services check the same token again on every call."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from linli_portal.signin import SESSION_COOKIE
from linli_runtime.auth import Principal, PrincipalKind, Role, may_act_as
from linli_runtime.errors import DomainError
from linli_runtime.oidc import TokenVerifier

OPERATOR_ROLES = (Role.PLATFORM_ADMIN, Role.CITY_OPERATOR, Role.STREET_OFFICER, Role.COMMUNITY_WORKER,
                  Role.PARTY_COMMITTEE)


class SignInNeeded(Exception):
    """No token, or one that is not valid (expired, another issuer's): the caller must sign in."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OutOfScope(Exception):
    """A valid token that may not open this page; `reason` says why, in both languages."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en


@dataclass(frozen=True)
class Operator:
    token: str
    principal: Principal


def token_of(request: Request) -> str:
    """The request's access token: the Authorization header, else the session cookie (or the
    token the session was just renewed with, see app.renew_session)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    renewed = getattr(request.state, "access_token", "")
    return str(renewed or request.cookies.get(SESSION_COOKIE, "")).strip()


async def verify(verifier: TokenVerifier, token: str) -> Principal:
    if not token:
        raise SignInNeeded("请先登录 Please sign in")
    try:
        return await verifier.verify(token)
    except DomainError as exc:
        raise SignInNeeded(f"令牌无效或已过期 The token is not valid: {exc}") from exc


def operator_scopes(principal: Principal) -> list[str]:
    """The scopes of the principal's operator grants, broadest first."""
    wanted = {r.value for r in OPERATOR_ROLES}
    return sorted({g.scope for g in principal.grants if g.role in wanted}, key=lambda s: (s.count("/"), s))


def home_scope(principal: Principal) -> str | None:
    """Where an operator lands after signing in: their broadest operator scope ("" = the platform)."""
    scopes = operator_scopes(principal)
    return scopes[0] if scopes else None


async def authorize(verifier: TokenVerifier, request: Request, path: str) -> Operator:
    token = token_of(request)
    principal = await verify(verifier, token)
    scopes = operator_scopes(principal) if principal.kind == PrincipalKind.PERSON else []
    if not scopes:
        held = ", ".join(sorted({g.role for g in principal.grants})) or "none"
        raise OutOfScope(f"您的角色（{held}）不能查看运营页面。",
                         f"Your roles ({held}) cannot open operator pages; "
                         f"they need one of {', '.join(sorted(r.value for r in OPERATOR_ROLES))}.")
    if may_act_as(principal, OPERATOR_ROLES, path, exact=True) is None:
        reach = ", ".join(s or "(whole platform)" for s in scopes)
        raise OutOfScope(f"您的授权范围是 {reach}，不包括 {path}。",
                         f"Your grants reach {reach}, which does not include {path}.")
    return Operator(token, principal)
