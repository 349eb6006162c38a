"""A test issuer: the identity service's own token code in memory, for tests that need tokens
but not the whole identity service (its database, pages and admin API).

Its keys are made as `keys.py` makes them (Ed25519, JWS `EdDSA`, a `kid` each) and its access
tokens carry exactly the claims `tokens.py` gives the real issuer's (`access_claims`), so a
service checks them with the same verifier it uses in production. What it adds for tests:
tokens for any subject and grants, chosen by the test, and lifetimes beyond the real
issuer's 15 minutes.

    token = issuer.issue("worker-li", role="community_worker", scope=FENGSHU)      # one grant
    token = issuer.issue("li", grants=[("community_worker", FENGSHU), ("volunteer", FENGSHU)])
    token = issuer.issue_service_token("partner-redemption")                       # `service` at the root
    issuer.trust(app)          # an in-process ServiceApp: its keys as a StaticJwks, service tokens for its calls

For services started as processes of their own, `serve_test_issuer()` puts the same issuer
behind real HTTP on loopback — discovery, JWKS and the token endpoint for client credentials —
and `env_for(service)` gives a process what `make run` would: LINLI_ISSUER_URL, its client id
and a 0600 secret file. (A whole platform runs the real identity service instead:
`linli_runtime.platform`.)

The `issuer` fixture gives each test a fresh one.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

import pytest
from joserfc.jwk import OKPKey

from linli_identity.keys import generate_key
from linli_identity.tokens import Subject, TokenIssuer, access_claims
from linli_runtime.auth import Grant, Principal, PrincipalKind, Role, normalize_path
from linli_runtime.clock import Clock, SystemClock
from linli_runtime.oidc import StaticJwks, TokenVerifier
from linli_runtime.registry import service_client_id
from linli_runtime.server import ServiceApp

TEST_ISSUER_URL = "https://issuer.linli.test"
GrantLike = Grant | tuple[str, str]
App = TypeVar("App", bound=ServiceApp)


class TestIssuer:
    """See the module docstring."""

    __test__ = False  # not a test class, whatever its name says

    def __init__(self, url: str = TEST_ISSUER_URL, *, clock: Clock | None = None,
                 lifetime: timedelta = timedelta(hours=1)) -> None:
        self.clock = clock or SystemClock()
        self.url = url
        self.kid, self.key = generate_key(self.clock.now())
        self._retired: list[OKPKey] = []
        self.tokens = TokenIssuer(self, self.clock, issuer=url, lifetime=lifetime)
        self._service_tokens: dict[str, tuple[str, datetime]] = {}
        self.client_secrets: dict[str, str] = {}

    # -- keys ---------------------------------------------------------------------------------------

    def signing_key(self) -> tuple[str, OKPKey]:
        return self.kid, self.key

    def jwks(self) -> dict[str, Any]:
        """The JWKS document: the active key and every key rotated out (tests drop none)."""
        return {"keys": [k.as_dict(private=False) for k in (self.key, *self._retired)]}

    def keys(self) -> StaticJwks:
        """The keys as a verifier's key source; a later `rotate()` is seen at once."""
        return StaticJwks(self.jwks)

    def rotate(self) -> str:
        """A new active key (the old one stays published); returns its kid."""
        self._retired.append(self.key)
        self.kid, self.key = generate_key(self.clock.now())
        return self.kid

    def set_url(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.tokens.issuer = self.url

    # -- tokens -------------------------------------------------------------------------------------

    def issue(self, subject: str, *, role: str | Role = "", scope: str = "",
              grants: Iterable[GrantLike] | None = None, kind: str | PrincipalKind = PrincipalKind.PERSON,
              ttl_seconds: int | None = None, now: float | None = None, client_id: str = "linli-test",
              name: str = "", extra: Mapping[str, Any] | None = None) -> str:
        """An access token for `subject` holding `role` at `scope` (one grant), or `grants`.
        `now` (a Unix time) backdates it; `extra` adds or overrides claims (tests of refusals)."""
        if grants is None:
            if not role:
                raise ValueError("give the token a role (and scope) or a list of grants")
            grants = [(str(role), scope)]
        held = tuple(g if isinstance(g, Grant) else Grant(str(g[0]), normalize_path(g[1])) for g in grants)
        issued = datetime.fromtimestamp(now, UTC) if now is not None else self.clock.now()
        lifetime = timedelta(seconds=ttl_seconds) if ttl_seconds is not None else self.tokens.lifetime
        claims = access_claims(issuer=self.url, subject=Subject(subject, name or subject, str(kind), held),
                               client_id=client_id, scope="", issued_at=issued, lifetime=lifetime)
        claims.update(extra or {})
        return self.tokens.sign(claims)

    def issue_service_token(self, service: str = "test", *, ttl_seconds: int | None = None) -> str:
        """What a platform service's client credentials give: `service` at the root."""
        return self.issue(service, role=Role.SERVICE, kind=PrincipalKind.SERVICE, ttl_seconds=ttl_seconds,
                          client_id=service_client_id(service))

    def service_credentials(self, service: str) -> Any:
        """A token source for a service's channels (as `ClientCredentials` would give)."""

        def token() -> str:
            held = self._service_tokens.get(service)
            if held is None or held[1] - self.clock.now() < timedelta(minutes=5):
                held = (self.issue_service_token(service), self.clock.now() + self.tokens.lifetime)
                self._service_tokens[service] = held
            return held[0]

        return token

    def verifier(self, clock: Clock | None = None) -> TokenVerifier:
        return TokenVerifier(issuer=self.url, keys=self.keys(), clock=clock or self.clock)

    async def verify(self, token: str) -> Principal:
        return await self.verifier().verify(token)

    def bearer(self, subject: str, **kwargs: Any) -> tuple[tuple[str, str], ...]:
        """Call metadata carrying `issue(subject, **kwargs)`."""
        return (("authorization", f"Bearer {self.issue(subject, **kwargs)}"),)

    # -- services under test ------------------------------------------------------------------------

    def trust(self, app: App) -> App:
        """Make an in-process service verify this issuer's tokens (its keys as a StaticJwks) and
        call other services with tokens from it."""
        app.use_issuer(self.url, self.keys(), self.service_credentials(app.name))
        return app

    def secret_file(self, client_id: str, directory: Path) -> Path:
        """A 0600 file with the secret of `client_id` (made on first use), as provisioning writes."""
        secret = self.client_secrets.setdefault(client_id, secrets.token_urlsafe(32))
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{client_id}.secret"
        path.write_text(secret + "\n", encoding="utf-8")
        path.chmod(0o600)
        return path

    def env_for(self, service: str, directory: Path) -> dict[str, str]:
        """The environment a service process needs to trust this issuer and call others."""
        client_id = service_client_id(service)
        return {"LINLI_ISSUER_URL": self.url, "LINLI_CLIENT_ID": client_id,
                "LINLI_CLIENT_SECRET_FILE": str(self.secret_file(client_id, directory))}

    # -- the HTTP face (serve_test_issuer) ----------------------------------------------------------

    def answer(self, method: str, path: str, form: Mapping[str, str], authorization: str) -> tuple[int, Any]:
        """The HTTP answer to a request: discovery, JWKS, or client credentials."""
        if method == "GET" and path == "/.well-known/openid-configuration":
            return 200, {"issuer": self.url, "jwks_uri": f"{self.url}/jwks.json",
                         "token_endpoint": f"{self.url}/oauth/token", "grant_types_supported": ["client_credentials"]}
        if method == "GET" and path == "/jwks.json":
            return 200, self.jwks()
        if method == "POST" and path == "/oauth/token":
            if form.get("grant_type") != "client_credentials":
                return 400, {"error": "unsupported_grant_type"}
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
            if authorization.lower().startswith("basic "):
                client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
            if not client_id or self.client_secrets.get(client_id) != secret:
                return 401, {"error": "invalid_client"}
            service = client_id.removeprefix(service_client_id(""))
            token = self.issue_service_token(service)
            return 200, {"access_token": token, "token_type": "Bearer",
                         "expires_in": int(self.tokens.lifetime.total_seconds())}
        return 404, {"error": "not_found"}


@contextmanager
def serve_test_issuer(issuer: TestIssuer | None = None) -> Iterator[TestIssuer]:
    """`issuer` (a new one by default) behind HTTP on a free loopback port, its URL set to it."""
    served = issuer or TestIssuer()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, method: str) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            form = {k: v[0] for k, v in parse_qs(body).items()}
            status, answer = served.answer(method, self.path.split("?")[0], form,
                                           self.headers.get("authorization", ""))
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._reply("GET")

        def do_POST(self) -> None:
            self._reply("POST")

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.set_url(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, name="test-issuer", daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def issuer() -> TestIssuer:
    """A fresh test issuer (see the module docstring)."""
    return TestIssuer()


@pytest.fixture
def served_issuer() -> Iterator[TestIssuer]:
    """A fresh test issuer behind HTTP on loopback, for services started as processes."""
    with serve_test_issuer() as served:
        yield served
