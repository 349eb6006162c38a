"""Access and ID tokens: JWTs signed with the active key (joserfc, EdDSA).

An access token carries:

| claim | value |
|---|---|
| `iss` | the issuer URL |
| `sub` | the account id (`acc_…`) |
| `aud` | `linli` (every platform service is one audience) |
| `iat`, `exp` | issue time and expiry: at most 15 minutes later |
| `jti` | a random id |
| `client_id` | the OAuth client it was issued to |
| `name`, `kind` | the account's display name, `person` or `service` |
| `grants` | the account's active grants at issue time, `[{"role": …, "scope": …}]` |
| `scope` | the OAuth scopes granted (`openid offline_access`…) |

Grants are read when the token is issued, so a revoked grant or a disabled account is out of
every token within one access-token lifetime. A service token (client credentials) carries the
one grant `{"role": "service", "scope": ""}`.

An ID token (OIDC, when `openid` was asked for) is for the client, not for services: `aud` is
the client id, with the `nonce` the client sent.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from joserfc import jwt
from joserfc.jwk import OKPKey

from linli_identity.keys import ALGORITHM
from linli_runtime.auth import AUDIENCE, Grant
from linli_runtime.clock import Clock
from linli_runtime.oidc import quiet_eddsa


@dataclass(frozen=True)
class Subject:
    """Whom a token is about."""

    account_id: str
    name: str
    kind: str  # person | service
    grants: tuple[Grant, ...]


def access_claims(*, issuer: str, subject: Subject, client_id: str, scope: str, issued_at: datetime,
                  lifetime: timedelta) -> dict[str, Any]:
    """The claims of an access token (pure: unit-tested on its own)."""
    iat = int(issued_at.timestamp())
    return {
        "iss": issuer,
        "sub": subject.account_id,
        "aud": AUDIENCE,
        "iat": iat,
        "exp": iat + int(lifetime.total_seconds()),
        "jti": secrets.token_urlsafe(16),
        "client_id": client_id,
        "name": subject.name,
        "kind": subject.kind,
        "grants": [{"role": g.role, "scope": g.scope} for g in subject.grants],
        "scope": scope,
    }


def id_claims(*, issuer: str, subject: Subject, client_id: str, nonce: str, issued_at: datetime,
              lifetime: timedelta) -> dict[str, Any]:
    iat = int(issued_at.timestamp())
    claims: dict[str, Any] = {"iss": issuer, "sub": subject.account_id, "aud": client_id, "iat": iat,
                              "exp": iat + int(lifetime.total_seconds()), "auth_time": iat, "name": subject.name}
    if nonce:
        claims["nonce"] = nonce
    return claims


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int


class SigningKeys(Protocol):
    """Where the active signing key comes from: the `KeyRing` (the service), or a test issuer's
    keys in memory (`linli_identity.testing`)."""

    def signing_key(self) -> tuple[str, OKPKey]: ...


class TokenIssuer:
    def __init__(self, keys: SigningKeys, clock: Clock, *, issuer: str, lifetime: timedelta) -> None:
        self.keys = keys
        self.clock = clock
        self.issuer = issuer
        self.lifetime = lifetime

    def sign(self, claims: dict[str, Any]) -> str:
        """A JWS of `claims` with the active key (`typ` at+jwt for access tokens)."""
        return self._sign(claims)

    def _sign(self, claims: dict[str, Any]) -> str:
        kid, key = self.keys.signing_key()
        with quiet_eddsa():
            return jwt.encode({"alg": ALGORITHM, "kid": kid, "typ": "at+jwt" if "client_id" in claims else "JWT"},
                              claims, key, algorithms=[ALGORITHM])

    def access_token(self, subject: Subject, *, client_id: str, scope: str) -> IssuedToken:
        claims = access_claims(issuer=self.issuer, subject=subject, client_id=client_id, scope=scope,
                               issued_at=self.clock.now(), lifetime=self.lifetime)
        return IssuedToken(self._sign(claims), int(self.lifetime.total_seconds()))

    def id_token(self, subject: Subject, *, client_id: str, nonce: str) -> str:
        return self._sign(id_claims(issuer=self.issuer, subject=subject, client_id=client_id, nonce=nonce,
                                    issued_at=self.clock.now(), lifetime=self.lifetime))
