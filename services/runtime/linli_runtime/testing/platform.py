"""A running demo platform for end-to-end tests of the faces people use (CLI, web portal):
nats-server and every installed service as real processes on free ports, SQLite files, the
demo data set loaded — the identity service among them, so every token comes from its issuer —
and gRPC over TLS as under `make run` (`channel`, `sync_channel`: clients trusting its CA).
One per test session — starting it costs seconds, and tests against it must create their own
records (fresh request ids, new names) rather than assume a pristine state."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import jwt
import pytest

from linli.identity.v1 import identity_pb2 as pb
from linli.identity.v1 import identity_pb2_grpc
from linli_runtime.auth import Role, normalize_path
from linli_runtime.clients import TokenSource
from linli_runtime.platform import IssuerWiring, LocalPlatform
from linli_runtime.platform_tls import PlatformTls
from linli_runtime.processes import free_port
from linli_runtime.registry import ServiceDescriptor
from linli_runtime.testing.signin import IssuerBrowser, Tokens

# The demo data's platform admin (linli_identity.demo): signs in like anyone, by phone and code.
DEMO_ADMIN_PHONE = "+8613800000000"
# Test people get numbers from here up, one per (role, scope, name).
TEST_PHONES = 13_900_000_000
# What a test platform's issuer allows beyond `make run`: many people signing in from one
# address, codes back to back, and access tokens at the longest the issuer permits.
TEST_ISSUER_ENV = {"LINLI_SMS_PER_ADDRESS_PER_HOUR": "100000", "LINLI_SMS_PER_PHONE_PER_HOUR": "1000",
                   "LINLI_SMS_RESEND_SECONDS": "0", "LINLI_ACCESS_TOKEN_TTL_SECONDS": "900"}


@dataclass(frozen=True)
class Person:
    phone: str
    account: str  # `accounts/acc_…`
    name: str


class IssuerClient:
    """Tokens from a running platform's issuer, for tests: people sign in through its pages (phone
    + the dev gateway's code, then the CLI's device flow); test people are made and granted their
    role through the identity admin API by the demo platform admin; services use their own client
    credentials. Tokens are kept and refreshed (refresh-token grant) before they lapse."""

    def __init__(self, wiring: IssuerWiring, identity_address: str, tls: PlatformTls) -> None:
        self.wiring = wiring
        self.tls = tls
        self.url = wiring.url
        self.identity_address = identity_address
        self.sms_file = wiring.sms_dir / "codes.jsonl"
        self._browsers: dict[str, IssuerBrowser] = {}
        self._tokens: dict[str, Tokens] = {}
        self._people: dict[tuple[str, str, str], Person] = {}
        self._service_tokens: dict[str, Tokens] = {}
        self._next_phone = TEST_PHONES
        self._lock = threading.RLock()

    def browser(self, phone: str) -> IssuerBrowser:
        """A browser signed in at the issuer as `phone` (one SMS code, then the session lasts)."""
        with self._lock:
            if phone not in self._browsers:
                browser = IssuerBrowser(self.url, self.sms_file)
                browser.sign_in(phone)
                self._browsers[phone] = browser
            return self._browsers[phone]

    def token_for(self, phone: str) -> str:
        """An access token of the person with `phone`, signed in through the real flow."""
        with self._lock:
            held = self._tokens.get(phone)
            if held is not None and held.expires_at - time.time() > 90:
                return held.access_token
            browser = self.browser(phone)
            held = browser.refresh(held) if held is not None else browser.device_tokens()
            self._tokens[phone] = held
            return held.access_token

    def person(self, role: str, scope: str, name: str) -> Person:
        """A test person holding `role` at `scope` (made once per session by the demo admin)."""
        key = (str(role), normalize_path(scope), name)
        with self._lock:
            if key in self._people:
                return self._people[key]
            self._next_phone += 1
            phone = f"+86{self._next_phone}"
            admin = (("authorization", f"Bearer {self.token_for(DEMO_ADMIN_PHONE)}"),)
            with self.tls.sync_channel(self.identity_address) as channel:
                accounts = identity_pb2_grpc.AccountServiceStub(channel)
                grants = identity_pb2_grpc.GrantServiceStub(channel)
                account = accounts.CreateAccount(pb.CreateAccountRequest(account=pb.Account(
                    display_name=name, phone=phone, kind=pb.ACCOUNT_KIND_PERSON)), metadata=admin, timeout=15).account
                grants.CreateGrant(pb.CreateGrantRequest(parent=account.name, grant=pb.Grant(
                    role=str(role), scope=key[1], reason="end-to-end test")), metadata=admin, timeout=15)
            self._people[key] = Person(phone, account.name, name)
            return self._people[key]

    def service_token(self, descriptor: ServiceDescriptor) -> str:
        """The token `descriptor`'s own client credentials give (read from its 0600 secret file)."""
        with self._lock:
            held = self._service_tokens.get(descriptor.name)
            if held is not None and held.expires_at - time.time() > 90:
                return held.access_token
            secret = self.wiring.secret_file(descriptor).read_text(encoding="utf-8").strip()
            reply = httpx.post(f"{self.url}/oauth/token", data={"grant_type": "client_credentials"},
                               auth=(descriptor.client_id, secret), timeout=15)
            reply.raise_for_status()
            held = Tokens.of(reply.json())
            self._service_tokens[descriptor.name] = held
            return held.access_token

    def close(self) -> None:
        for browser in self._browsers.values():
            browser.close()


def subject_of(token: str) -> str:
    """The account id (`sub`) a token names (unverified: for assertions)."""
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


class DemoPlatform:
    """Addresses of a running platform, plus tokens from its issuer."""

    def __init__(self, platform: LocalPlatform) -> None:
        self.platform = platform
        self.var_dir = platform.var_dir
        if platform.issuer is None:
            raise RuntimeError("the demo platform needs the identity service (its token issuer) installed")
        self.issuer = IssuerClient(platform.issuer, self.address("identity"), platform.tls)

    @property
    def issuer_url(self) -> str:
        return self.issuer.url

    def address(self, service: str) -> str:
        """Where `service` (e.g. "volunteer-points") listens."""
        for running in self.platform.services:
            if running.descriptor.name == service:
                return running.address
        raise KeyError(f"{service} is not running; running: {[s.descriptor.name for s in self.platform.services]}")

    def descriptor(self, service: str) -> ServiceDescriptor:
        for running in self.platform.services:
            if running.descriptor.name == service:
                return running.descriptor
        raise KeyError(service)

    @property
    def addresses(self) -> dict[str, str]:
        """`<SERVICE>_SERVICE_ADDR` → address, the environment a client of the platform needs."""
        return self.platform.addresses()

    @property
    def client_env(self) -> dict[str, str]:
        """Addresses, POS edges, the CA and the issuer: what the CLI and the POS client run with."""
        return self.platform.client_env()

    def pos_address(self, service: str = "partner-redemption") -> str:
        """Where `service`'s public POS edge listens."""
        for running in self.platform.services:
            if running.descriptor.name == service and running.pos_port:
                return running.pos_address
        raise KeyError(f"{service} runs no POS edge")

    def channel(self, service_or_address: str, *, token: str | TokenSource | None = None,
                default_timeout: float = 5.0) -> grpc.aio.Channel:
        """A TLS channel (trusting the platform's CA) to a service by name, or to an address."""
        address = service_or_address if ":" in service_or_address else self.address(service_or_address)
        return self.platform.tls.channel(address, token=token, default_timeout=default_timeout)

    def sync_channel(self, service_or_address: str) -> grpc.Channel:
        address = service_or_address if ":" in service_or_address else self.address(service_or_address)
        return self.platform.tls.sync_channel(address)

    def token(self, role: Role | str = Role.PLATFORM_ADMIN, scope: str = "", subject: str = "e2e-test") -> str:
        """An access token of a person holding `role` at `scope`: the demo platform admin for
        platform_admin at the root, else a test person named `subject` with that one grant."""
        if str(role) == Role.PLATFORM_ADMIN.value and not scope:
            return self.issuer.token_for(DEMO_ADMIN_PHONE)
        return self.issuer.token_for(self.issuer.person(str(role), scope, subject).phone)

    def person(self, role: Role | str, scope: str, subject: str = "e2e-test") -> Person:
        return self.issuer.person(str(role), scope, subject)

    def service_token(self, service: str) -> str:
        """A token from `service`'s own client credentials (`service`; the portal's: `portal`)."""
        return self.issuer.service_token(self.descriptor(service))


@pytest.fixture(scope="session")
def demo_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoPlatform]:
    """Every installed service with demo data, started once per session and stopped at its end."""
    var_dir: Path = tmp_path_factory.mktemp("demo-platform") / "var"
    # Free ports, not the defaults: a developer's `make run` or a parallel test session may hold them.
    platform = LocalPlatform(var_dir, nats_port=free_port(), demo_data=True, default_ports=False,
                             extra_env=TEST_ISSUER_ENV)
    demo: DemoPlatform | None = None
    try:
        platform.start()
        demo = DemoPlatform(platform)
        yield demo
    finally:
        if demo is not None:
            demo.issuer.close()
        platform.stop()
