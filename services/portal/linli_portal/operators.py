"""Who may open operator pages: a bearer token (the `Authorization` header, or the HttpOnly
cookie the sign-in page sets) of an operator role whose scope reaches the page's org unit.
The portal checks this for a clear page; the services check the same token again on every call."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from linli_runtime.auth import Principal, PrincipalKind, Role, TokenSigner, path_within
from linli_runtime.errors import DomainError

COOKIE = "linli_operator_token"
OPERATOR_ROLES = {Role.PLATFORM_ADMIN, Role.CITY_OPERATOR, Role.STREET_OFFICER, Role.COMMUNITY_WORKER,
                  Role.PARTY_COMMITTEE}


class SignInNeeded(Exception):
    """No token, or one that is not valid (expired, wrong key): the caller must sign in."""

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
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE, "").strip()


def verify(signer: TokenSigner, token: str) -> Principal:
    if not token:
        raise SignInNeeded("请先登录 Please sign in")
    try:
        return signer.verify(token)
    except DomainError as exc:
        raise SignInNeeded(f"令牌无效或已过期 The token is not valid: {exc}") from exc


def authorize(signer: TokenSigner, request: Request, path: str) -> Operator:
    principal = verify(signer, token_of(request))
    if principal.kind != PrincipalKind.OPERATOR or principal.role not in OPERATOR_ROLES:
        raise OutOfScope(f"角色“{principal.role}”不能查看运营页面。",
                         f"The role '{principal.role}' cannot open operator pages; "
                         f"it needs one of {', '.join(sorted(OPERATOR_ROLES))}.")
    if not path_within(path, principal.scope):
        scope = principal.scope or "(whole platform)"
        raise OutOfScope(f"您的令牌范围是 {scope}，不包括 {path}。",
                         f"Your token's scope is {scope}, which does not include {path}.")
    return Operator(token_of(request), principal)
