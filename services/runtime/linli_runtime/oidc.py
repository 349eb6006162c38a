"""Verifying access tokens from the platform's OIDC issuer — the identity service by default,
any OIDC provider (Keycloak, …) by configuration.

A service holds no signing key: it fetches the issuer's public keys (its JWKS) over HTTP and
checks each token against them.

    verifier = TokenVerifier(issuer="https://id.example", keys=RemoteJwks.from_issuer("https://id.example"))
    principal = await verifier.verify(token)           # or OidcAuthenticator(verifier) on a gRPC server

What a token must be to pass (anything else is UNAUTHENTICATED with a reason a client may
branch on):

- a JWS signed with EdDSA or RS256 (`alg: none`, HS256 — e.g. "signed" with the public key as an
  HMAC secret — and every other algorithm are refused before any key is looked at);
- signed by a key in the issuer's JWKS, found by its `kid`. An unknown `kid` makes the verifier
  fetch the JWKS again (a key rotated in since the last fetch), at most once per
  `min_refresh_seconds`, so a flood of tokens with made-up kids cannot turn into a flood of
  fetches;
- `iss` the configured issuer, `aud` containing the audience (`linli`), `exp` in the future and
  `iat`, `sub` present — judged on the verifier's clock (a `ManualClock` in tests).

The principal it gives names the account (`sub`) and carries the token's `grants` (a list of
`{"role", "scope"}`) as `Principal.grants`; `linli_runtime.auth.authorize` checks them.

`StaticJwks` takes the keys directly: tests in one process, and the issuer checking its own
tokens without calling itself over HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

import httpx
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from linli_runtime.auth import AUDIENCE, Grant, Principal, PrincipalKind, normalize_path
from linli_runtime.clock import Clock, SystemClock
from linli_runtime.errors import InvalidArgument, Unauthenticated, Unavailable
from linli_runtime.settings import IssuerSettings

log = logging.getLogger("linli.oidc")

# Asymmetric only: a verifier that accepted HS256 could be fooled by a token "signed" with the
# public key as an HMAC secret.
ALGORITHMS: tuple[str, ...] = ("EdDSA", "RS256")
JWKS_PATH = "/jwks.json"
DISCOVERY_PATH = "/.well-known/openid-configuration"


def reached_at(url: str, public: str, internal: str) -> str:
    """`url` (an endpoint the issuer's discovery names under its public URL) as this process
    reaches it: under `internal` when one is set (LINLI_ISSUER_INTERNAL_URL), else unchanged."""
    public, internal = public.rstrip("/"), internal.rstrip("/")
    if internal and public and (url == public or url.startswith(public + "/")):
        return internal + url[len(public):]
    return url


@contextmanager
def quiet_eddsa() -> Iterator[None]:
    """joserfc warns on every use of "EdDSA": RFC 9864 deprecates the polymorphic name in favour
    of "Ed25519". The platform keeps "EdDSA" because the verifiers deployed today (PyJWT,
    Keycloak, most OIDC libraries) know only that name; the key is Ed25519 either way."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="EdDSA is deprecated")
        yield


def _ssl_context(ca_file: str | None) -> ssl.SSLContext | bool:
    return ssl.create_default_context(cafile=ca_file) if ca_file else True


class KeySource(Protocol):
    """Where a verifier gets the issuer's public keys."""

    async def current(self) -> KeySet:
        """The keys to try first (cached)."""
        ...

    async def refreshed(self) -> KeySet | None:
        """The keys fetched again, when a token names a key not among the current ones; None
        when a fetch is not allowed now (rate limit) or nothing could change."""
        ...


def _key_set(jwks: Mapping[str, Any]) -> KeySet:
    """A JWKS document as a KeySet, keeping only signature keys of the algorithms we accept."""
    keys = [k for k in jwks.get("keys", []) if isinstance(k, dict) and k.get("use", "sig") == "sig"
            and k.get("kty") in ("OKP", "RSA")]
    return KeySet.import_key_set({"keys": keys})


class StaticJwks:
    """Keys given in-process: a JWKS document, or a callable returning the current one (the
    issuer's own key ring, so a rotation is seen at once)."""

    def __init__(self, jwks: Mapping[str, Any] | Callable[[], Mapping[str, Any]]) -> None:
        self._jwks = jwks

    def _document(self) -> Mapping[str, Any]:
        return self._jwks() if callable(self._jwks) else self._jwks

    async def current(self) -> KeySet:
        return _key_set(self._document())

    async def refreshed(self) -> KeySet | None:
        return _key_set(self._document()) if callable(self._jwks) else None


class RemoteJwks:
    """The issuer's JWKS fetched over HTTP(S) and cached.

    The cache is used for `max_age_seconds`, then fetched again in the background of the next
    verification; a token naming an unknown `kid` triggers a fetch at once, but at most one
    per `min_refresh_seconds`. When a fetch fails the keys already held stay in use (the issuer
    being briefly down must not lock everybody out); with none held, verification answers
    UNAVAILABLE."""

    def __init__(
        self,
        jwks_url: str = "",
        *,
        discovery_url: str = "",
        clock: Clock | None = None,
        min_refresh_seconds: float = 30.0,
        max_age_seconds: float = 300.0,
        timeout: float = 5.0,
        ca_file: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        public_url: str = "",
        internal_url: str = "",
    ) -> None:
        if not jwks_url and not discovery_url:
            raise ValueError("RemoteJwks needs a JWKS URL or the issuer's discovery URL")
        self.jwks_url = jwks_url
        self.discovery_url = discovery_url
        # The issuer's public URL and where this process reaches it (see `reached_at`).
        self.public_url, self.internal_url = public_url, internal_url
        self.clock = clock or SystemClock()
        self.min_refresh_seconds = min_refresh_seconds
        self.max_age_seconds = max_age_seconds
        self._timeout = timeout
        self._verify = _ssl_context(ca_file)
        self._transport = transport
        self._keys: KeySet | None = None
        self._fetched_at: datetime | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0  # how many times the JWKS was fetched (tests watch the rate limit)

    @classmethod
    def from_issuer(cls, issuer: str, *, internal_url: str = "", **kwargs: Any) -> RemoteJwks:
        """Keys found through the issuer's OIDC discovery document (`jwks_uri`), as any OIDC
        provider publishes them; fetched at `internal_url` when the public one is not reachable."""
        base = (internal_url or issuer).rstrip("/")
        return cls(discovery_url=base + DISCOVERY_PATH, public_url=issuer, internal_url=internal_url, **kwargs)

    def _age(self) -> float | None:
        if self._fetched_at is None:
            return None
        return (self.clock.now() - self._fetched_at).total_seconds()

    async def current(self) -> KeySet:
        age = self._age()
        if self._keys is not None and age is not None and age < self.max_age_seconds:
            return self._keys
        async with self._lock:
            age = self._age()
            if self._keys is None or age is None or age >= self.max_age_seconds:
                await self._fetch()
        if self._keys is None:
            raise Unavailable("the token issuer's keys could not be fetched; try again shortly",
                              reason="JWKS_UNAVAILABLE")
        return self._keys

    async def refreshed(self) -> KeySet | None:
        async with self._lock:
            age = self._age()
            if age is not None and age < self.min_refresh_seconds:
                return None
            await self._fetch()
            return self._keys

    async def _fetch(self) -> None:
        # Whether it works or not, the next try waits its turn: a failing issuer is not hammered.
        self._fetched_at = self.clock.now()
        self.fetches += 1
        try:
            async with httpx.AsyncClient(timeout=self._timeout, verify=self._verify,
                                         transport=self._transport) as client:
                if not self.jwks_url:
                    found = (await client.get(self.discovery_url)).raise_for_status().json().get("jwks_uri")
                    if not isinstance(found, str) or not found:
                        raise ValueError(f"{self.discovery_url} names no jwks_uri")
                    self.jwks_url = reached_at(found, self.public_url, self.internal_url)
                document = (await client.get(self.jwks_url)).raise_for_status().json()
            self._keys = _key_set(document)
        except (httpx.HTTPError, ValueError, JoseError) as exc:
            log.warning("could not fetch the issuer's JWKS; keeping the keys held",
                        extra={"url": self.jwks_url or self.discovery_url, "error": str(exc)})


def _principal_kind(value: object) -> PrincipalKind:
    return PrincipalKind.SERVICE if value == "service" else PrincipalKind.PERSON


def claim_at(claims: Mapping[str, Any], path: str) -> object:
    """The value at a claim name or a dotted path into nested claims (`realm_access.grants`);
    None when absent. A claim whose own name contains dots is found by that name first."""
    if path in claims:
        return claims[path]
    value: object = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _grant(item: object) -> Grant:
    if isinstance(item, str):
        # "role@scope" (a multivalued attribute in another provider); "role" alone: the whole platform.
        role, _, scope = item.partition("@")
        item = {"role": role.strip(), "scope": scope.strip()}
    if not (isinstance(item, dict) and isinstance(item.get("role"), str) and isinstance(item.get("scope"), str)
            and item["role"]):
        raise ValueError("each grant must be an object with a role and a scope, or a 'role@scope' string")
    try:
        return Grant(item["role"], normalize_path(item["scope"]))
    except InvalidArgument as exc:
        raise ValueError(f"grant scope {item['scope']!r} is not an org path") from exc


def _grants(value: object) -> tuple[Grant, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError("the grants claim must be a list")
    return tuple(_grant(item) for item in value)


class TokenVerifier:
    """Checks access tokens against one issuer's keys (see the module docstring for the rules).
    Verified tokens are remembered until they expire: a client sends the same token on every
    call."""

    def __init__(
        self,
        *,
        issuer: str,
        keys: KeySource,
        audience: str = AUDIENCE,
        clock: Clock | None = None,
        algorithms: tuple[str, ...] = ALGORITHMS,
        grants_claim: str = "grants",  # a claim name or a dotted path (see `claim_at`)
        cache_size: int = 4096,
        issued_at_skew_seconds: int = 60,
    ) -> None:
        unsafe = set(algorithms) - set(ALGORITHMS)
        if unsafe:
            raise ValueError(f"only asymmetric algorithms {ALGORITHMS} may verify tokens, not {sorted(unsafe)}")
        self.issuer = issuer
        self.audience = audience
        self.keys = keys
        self.clock = clock or SystemClock()
        self.algorithms = algorithms
        self.grants_claim = grants_claim
        # `iat` may lie this far in the verifier's future (the issuer's clock runs a little
        # ahead). Expiry gets no such allowance: access tokens are short-lived by design.
        self.issued_at_skew_seconds = issued_at_skew_seconds
        # Tokens verified, by their text: (principal, its `exp`), least recently used first.
        self._cache: OrderedDict[str, tuple[Principal, int]] = OrderedDict()
        self._cache_size = cache_size

    def _now(self) -> int:
        clock = self.clock
        return int(time.time()) if clock.__class__ is SystemClock else int(clock.now().timestamp())

    def recall(self, token: str) -> Principal | None:
        """The principal of `token` when this verifier verified exactly that token before and
        it has not expired since; None otherwise (then `verify` it). Awaits nothing: the
        runtime asks this first on every call (`interceptors.Authenticator`)."""
        held = self._cache.get(token)
        if held is None:
            return None
        if self._now() < held[1]:
            self._cache.move_to_end(token)
            return held[0]
        del self._cache[token]
        return None

    async def verify(self, token: str) -> Principal:
        recalled = self.recall(token)
        if recalled is not None:
            return recalled
        principal = await self._verify_uncached(token, self._now())
        self._cache[token] = (principal, int(principal.claims["exp"]))  # type: ignore[call-overload]
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return principal

    async def _decode(self, token: str) -> jwt.Token:
        keys = await self.keys.current()
        with quiet_eddsa():
            try:
                return jwt.decode(token, keys, algorithms=list(self.algorithms))
            except InvalidKeyIdError:
                pass
        fresh = await self.keys.refreshed()  # a key rotated in since we last looked
        if fresh is None:
            raise InvalidKeyIdError("the token was signed by a key the issuer does not publish")
        with quiet_eddsa():
            return jwt.decode(token, fresh, algorithms=list(self.algorithms))

    async def _verify_uncached(self, token: str, now: int) -> Principal:
        try:
            decoded = await self._decode(token)
            claims = decoded.claims
            registry = jwt.JWTClaimsRegistry(
                now=now,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.audience},
                sub={"essential": True},
                exp={"essential": True},
            )
            issued_at = claims.get("iat")
            if isinstance(issued_at, bool) or not isinstance(issued_at, int | float):
                raise ValueError("the token has no numeric iat claim")
            if issued_at > now + self.issued_at_skew_seconds:
                raise ValueError("the token was issued in the future")
            registry.validate({k: v for k, v in claims.items() if k != "iat"})
            grants = _grants(claim_at(claims, self.grants_claim))
        except ExpiredTokenError as exc:
            raise Unauthenticated("the access token has expired; refresh it or sign in again",
                                  reason="TOKEN_EXPIRED") from exc
        except (JoseError, ValueError) as exc:
            raise Unauthenticated(
                f"the access token is not valid ({exc}); send 'authorization: Bearer <token>' with a token "
                "from the platform's issuer", reason="TOKEN_INVALID") from exc
        return Principal(
            subject=str(claims["sub"]),
            kind=_principal_kind(claims.get("kind")),
            token_id=str(claims.get("jti", "")),
            claims=dict(claims),
            grants=grants,
        )


class OidcAuthenticator:
    """A gRPC server's authenticator (see `linli_runtime.interceptors.Authenticator`) for bearer
    tokens from the issuer. A bearer token that fails is refused here, never handed on to
    another authenticator."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier

    def recall(self, metadata: Mapping[str, str]) -> Principal | None:
        """The principal of the call's bearer token when the verifier holds it verified and
        unexpired (`TokenVerifier.recall`); None for anything else, to be `authenticate`d."""
        header = metadata.get("authorization")
        if header is None or header[:7].lower() != "bearer ":
            return None
        return self.verifier.recall(header[7:].strip())

    async def authenticate(self, metadata: Mapping[str, str]) -> Principal | None:
        header = metadata.get("authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the authorization header must read 'Bearer <token>'", reason="TOKEN_INVALID")
        return await self.verifier.verify(token.strip())


def issuer_keys(settings: IssuerSettings, *, clock: Clock | None = None) -> KeySource:
    """The issuer's public keys as the settings name them: LINLI_JWKS_URL, else the JWKS its
    discovery document names (none when no issuer is set: every token is then refused, and a
    ServiceApp refuses to start)."""
    ca_file = settings.issuer_ca_file or None
    if settings.jwks_url:
        return RemoteJwks(settings.jwks_url, ca_file=ca_file, clock=clock)
    if settings.issuer_url:
        return RemoteJwks.from_issuer(settings.issuer_url, internal_url=settings.issuer_internal_url, ca_file=ca_file,
                                      clock=clock)
    return StaticJwks({"keys": []})


def verifier_from_settings(settings: IssuerSettings, *, clock: Clock | None = None) -> TokenVerifier:
    """The verifier a service (or the portal) uses: issuer, audience, keys and the grants claim
    from its settings. Token lifetimes are judged on real time (`clock` for tests of expiry),
    even when a test drives the service's domain clock."""
    return TokenVerifier(issuer=settings.issuer_url, keys=issuer_keys(settings, clock=clock),
                         audience=settings.token_audience, grants_claim=settings.grants_claim, clock=clock)
