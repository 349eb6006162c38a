"""Assembling the identity service: the gRPC admin API and, in the same event loop, the
issuer's HTTP server (uvicorn), the key ring and its background upkeep.

Start-up: bind the HTTP socket (so the issuer URL is known, even on a free port) → migrations →
the first signing key if none → the platform's OAuth clients (provisioning, idempotent) → demo
accounts (if asked) → gRPC serving → HTTP serving → background tasks (keys: reload, rotate when
due, erase dropped keys; housekeeping: expired sessions, codes, rate-limit rows).
Shutdown (SIGTERM): background tasks, then HTTP (in-flight requests finish), then the
runtime's gRPC drain, outbox flush, NATS and database.

`python -m linli_identity.app` runs it; settings from the environment (settings.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from datetime import timedelta
from pathlib import Path

import uvicorn

from linli.identity.v1 import identity_pb2, identity_pb2_grpc
from linli_identity.accounts import Accounts
from linli_identity.api.accounts import AccountServicer
from linli_identity.api.base import Domain
from linli_identity.api.grants import GrantServicer
from linli_identity.api.household_claims import HouseholdClaimServicer
from linli_identity.api.keys import SigningKeyServicer
from linli_identity.grants import Grants
from linli_identity.household_claims import HouseholdClaims
from linli_identity.keys import KeyRing
from linli_identity.notification_client import NotificationSmsSender
from linli_identity.oauth.clients import Clients, provision
from linli_identity.oauth.codes import AuthorizationCodes
from linli_identity.oauth.device import DeviceCodes
from linli_identity.oauth.refresh import RefreshTokens
from linli_identity.oauth.server import OAuthServer
from linli_identity.sessions import WebSessions
from linli_identity.settings import IdentitySettings
from linli_identity.sms import DevFileSmsSender, SmsCodes, SmsPolicy, SmsSender
from linli_identity.tokens import Subject, TokenIssuer
from linli_identity.web.app import IssuerWeb
from linli_runtime.auth import Grant, PrincipalKind, Role
from linli_runtime.clock import Clock, SystemClock
from linli_runtime.events.streams import IDENTITY
from linli_runtime.grpc_tls import GrpcTls
from linli_runtime.migrations import MigrationSet
from linli_runtime.oidc import StaticJwks, TokenVerifier
from linli_runtime.registry import installed_services, service_address, service_client_id
from linli_runtime.server import ServiceApp
from linli_runtime.tasks import PeriodicTask
from linli_runtime.tracing import NO_TRACING, Tracing

log = logging.getLogger("linli.identity")

NAME = "identity"
MIGRATIONS = MigrationSet(Path(__file__).parent / "migrations")
SERVICES = identity_pb2.DESCRIPTOR.services_by_name


def platform_services() -> dict[str, str]:
    """The services that get a client-credentials client — every installed one but the issuer —
    with the role their tokens carry (`service`; `portal` for the web portal)."""
    return {d.name: d.client_role for d in installed_services() if not d.issuer and d.client_role}


class OwnServiceToken:
    """identity's own token for calling other services (notification, to have sign-in codes
    sent): as the issuer it signs it itself, with its active key, as client `svc-identity` — the
    client notification lets ask — carrying `service` at the root; re-issued once half its
    lifetime is gone. It has no client secret and no service account: nothing but the issuer
    can make this token, and the issuer needs no credentials to ask itself."""

    def __init__(self, tokens: TokenIssuer) -> None:
        self.tokens = tokens
        self._token, self._renew_at = "", 0.0

    def __call__(self) -> str:
        now = self.tokens.clock.now().timestamp()
        if not self._token or now >= self._renew_at:
            subject = Subject(NAME, NAME, PrincipalKind.SERVICE.value, (Grant(Role.SERVICE.value, ""),))
            issued = self.tokens.access_token(subject, client_id=service_client_id(NAME), scope="")
            self._token, self._renew_at = issued.token, now + issued.expires_in / 2
        return self._token


def sms_sender(settings: IdentitySettings, token: OwnServiceToken, tls: GrpcTls,
               tracing: Tracing = NO_TRACING) -> SmsSender:
    """The development file (`dev`, `make run`), or the notification service (`notification`,
    at its NOTIFICATION_SERVICE_ADDR, over TLS as `tls` says)."""
    if settings.sms_sender == "notification":
        return NotificationSmsSender(service_address("notification"), token, tls=tls, tracing=tracing)
    return DevFileSmsSender(settings.sms_dir())


class IdentityApp(ServiceApp):
    """The ServiceApp plus the issuer. `services` names the platform services to provision
    clients for (default: the installed ones); tests pass their own `clock` and `sms`."""

    def __init__(self, settings: IdentitySettings, *, clock: Clock | None = None, sms: SmsSender | None = None,
                 services: list[str] | dict[str, str] | None = None) -> None:
        clock = clock or SystemClock()
        # The admin API trusts only this issuer's tokens, checked against its own key ring in-process.
        self.verifier = TokenVerifier(issuer=settings.issuer_url, keys=StaticJwks(lambda: self.keys.jwks()),
                                      clock=clock)
        super().__init__(NAME, settings, migrations=[MIGRATIONS], streams=[IDENTITY], clock=clock,
                         verifier=self.verifier)
        self.identity_settings = settings
        self.services: dict[str, str] = (platform_services() if services is None else
                                         services if isinstance(services, dict) else dict.fromkeys(services, "service"))
        lifetime = timedelta(seconds=settings.access_token_ttl_seconds)
        self.keys = KeyRing(self.db, self.clock, token_lifetime=lifetime,
                            rotation_period=timedelta(days=settings.key_rotation_days),
                            encryption_key=settings.key_encryption_key)
        self.accounts = Accounts(self.clock, self.make_event)
        self.grants = Grants(self.clock, self.make_event)
        self.clients = Clients(self.clock)
        self.codes = AuthorizationCodes(self.clock)
        self.devices = DeviceCodes(self.clock)
        self.refresh = RefreshTokens(self.clock, timedelta(seconds=settings.refresh_token_ttl_seconds))
        self.sessions = WebSessions(self.db, self.clock, timedelta(seconds=settings.session_ttl_seconds))
        self.tokens = TokenIssuer(self.keys, self.clock, issuer=settings.issuer_url, lifetime=lifetime)
        sender = sms or sms_sender(settings, OwnServiceToken(self.tokens), self.grpc_tls, self.tracing)
        self.sms = SmsCodes(self.db, self.clock, sender, SmsPolicy(
            ttl=timedelta(seconds=settings.sms_code_ttl_seconds), max_attempts=settings.sms_max_attempts,
            per_phone_per_hour=settings.sms_per_phone_per_hour,
            per_address_per_hour=settings.sms_per_address_per_hour,
            resend_gap=timedelta(seconds=settings.sms_resend_seconds)))
        self.oauth = OAuthServer(self.db, issuer_url=settings.issuer_url, accounts=self.accounts, grants=self.grants,
                                 clients=self.clients, codes=self.codes, devices=self.devices, refresh=self.refresh,
                                 tokens=self.tokens)
        self.household_claims = HouseholdClaims(self.clock, self.accounts, self.grants, self.make_event)
        domain = Domain(db=self.db, clock=self.clock, accounts=self.accounts, grants=self.grants, keys=self.keys)
        for register, servicer, service in (
            (identity_pb2_grpc.add_AccountServiceServicer_to_server, AccountServicer(domain), "AccountService"),
            (identity_pb2_grpc.add_GrantServiceServicer_to_server, GrantServicer(domain), "GrantService"),
            (identity_pb2_grpc.add_SigningKeyServiceServicer_to_server, SigningKeyServicer(domain),
             "SigningKeyService"),
            (identity_pb2_grpc.add_HouseholdClaimServiceServicer_to_server,
             HouseholdClaimServicer(domain, self.household_claims), "HouseholdClaimService"),
        ):
            self.add_service(register, servicer, SERVICES[service].full_name)
        self.key_upkeep = PeriodicTask("identity-keys", self.keys.maintain, interval=settings.key_refresh_seconds)
        self.housekeeping = PeriodicTask("identity-housekeeping", self.purge, interval=300.0)
        self.on_start(self._prepare)
        if settings.demo_data:
            from linli_identity.demo import seed

            self.on_start(seed)
        self.http_port: int | None = None
        self.issuer_url = settings.issuer_url
        self._socket: socket.socket | None = None
        self._http: uvicorn.Server | None = None
        self._http_task: asyncio.Task[None] | None = None

    def _set_issuer(self, url: str) -> None:
        self.issuer_url = url.rstrip("/")
        self.verifier.issuer = self.issuer_url
        self.tokens.issuer = self.issuer_url
        self.oauth.issuer_url = self.issuer_url

    async def _prepare(self, _app: ServiceApp) -> None:
        if not self.identity_settings.key_encryption_key:
            log.warning("signing keys are stored unencrypted; set LINLI_KEY_ENCRYPTION_KEY in production")
        await self.keys.ensure_active()
        if self.identity_settings.provision_clients:
            await provision(self.db, self.clients, self.accounts, self.grants,
                            secrets_dir=self.identity_settings.secrets_dir(),
                            portal_redirect_uris=self.identity_settings.portal_redirects(), services=self.services)

    async def purge(self) -> None:
        await self.sessions.purge()
        await self.sms.purge()
        async with self.db.transaction() as session:
            await self.codes.purge(session)
            await self.devices.purge(session)
            await self.refresh.purge(session)

    def web(self) -> IssuerWeb:
        return IssuerWeb(db=self.db, issuer_url=self.issuer_url, oauth=self.oauth, keys=self.keys,
                         sessions=self.sessions, sms=self.sms, accounts=self.accounts, devices=self.devices,
                         self_signup=self.identity_settings.self_signup,
                         secure_cookies=self.issuer_url.startswith("https://"))

    async def start(self) -> int:
        settings = self.identity_settings
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((settings.host, settings.wanted_http_port()))
        sock.listen(128)
        sock.setblocking(False)
        self._socket = sock
        self.http_port = int(sock.getsockname()[1])
        scheme = "https" if settings.tls else "http"
        self._set_issuer(settings.issuer_url or f"{scheme}://{settings.host}:{self.http_port}")
        port = await super().start()
        config = uvicorn.Config(
            self.tracing.asgi(self.web().app()), log_config=None, access_log=False, lifespan="off", proxy_headers=True,
            forwarded_allow_ips=settings.trusted_proxies,
            timeout_graceful_shutdown=int(settings.shutdown_grace),
            ssl_certfile=settings.issuer_tls_cert_file or None, ssl_keyfile=settings.issuer_tls_key_file or None)
        self._http = uvicorn.Server(config)
        # `_serve`, not `serve`: `serve` takes over SIGTERM/SIGINT, which ServiceApp handles
        # (health NOT_SERVING, drain gRPC) and which stop the HTTP server through `stop()`.
        self._http_task = asyncio.create_task(self._http._serve(sockets=[sock]), name="identity-http")
        while not self._http.started:
            if self._http_task.done():
                await self._http_task
                raise RuntimeError("the issuer's HTTP server stopped during start-up")
            await asyncio.sleep(0.01)
        self.key_upkeep.start()
        self.housekeeping.start()
        log.info("issuer serving", extra={"issuer": self.issuer_url, "grpc_port": port})
        return port

    async def stop(self, grace: float | None = None) -> None:
        await self.key_upkeep.stop()
        await self.housekeeping.stop()
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._http_task
        if self._socket is not None:
            self._socket.close()
        await super().stop(grace)
        close = getattr(self.sms.sender, "aclose", None)
        if close is not None:
            await close()


def create_app(settings: IdentitySettings | None = None, *, clock: Clock | None = None,
               sms: SmsSender | None = None, services: list[str] | dict[str, str] | None = None) -> IdentityApp:
    return IdentityApp(settings or IdentitySettings(service_name=NAME), clock=clock, sms=sms, services=services)


def main() -> None:
    create_app().main()


if __name__ == "__main__":
    main()
