"""The service bootstrap every Linli service runs on.

    app = ServiceApp("volunteer-points", settings, migrations=[MigrationSet(HERE / "migrations")],
                     streams=[POINTS])
    app.add_service(points_pb2_grpc.add_LedgerServiceServicer_to_server, LedgerServicer(app),
                    points_pb2.DESCRIPTOR.services_by_name["LedgerService"].full_name)
    app.add_consumer(ConsumerSpec(...))
    app.main()          # runs until SIGTERM / SIGINT

Start-up: migrations, NATS (in the background: serving does not wait for it), outbox relay,
consumers, gRPC server with health (SERVING) and reflection, and the runtime's own
DeadLetterService beside the service's servicers.

Callers are authenticated with access tokens from the issuer at `LINLI_ISSUER_URL`, checked
against its JWKS (`app.verifier`; the service holds no signing key). A service that calls
another uses `app.credentials()` as its channel's token: its own client credentials at the
issuer. Tests in one process give both from a test issuer instead (`app.use_issuer`).

Tracing (`app.tracing`, from the settings' OTLP endpoint; off by default) covers the server, the
database, the relay and the consumers; a service passes it to the channels it makes
(`make_channel(..., tracing=app.tracing, tls=app.grpc_tls)`).

Listeners: the service's port (PORT) serves every servicer; `add_listener` opens another port
serving only the servicers mounted on it (`add_service(..., listeners=...)`) plus health and
reflection of those alone — partner-redemption's public POS edge. With a certificate
(LINLI_GRPC_TLS_CERT/_KEY, linli_runtime.grpc_tls) every listener speaks TLS only; with
LINLI_GRPC_MTLS the service's own port also requires a client certificate from the platform's
CA, while a public listener never does (terminals have none) and refuses to start without TLS.
LINLI_HEALTH_PORT adds a plaintext port serving health alone, for probes that cannot speak TLS.
Every server ends a connection after LINLI_GRPC_MAX_CONNECTION_AGE (GOAWAY, then a grace for
in-flight calls), so long-lived clients spread onto new replicas.

Shutdown on SIGTERM/SIGINT: health NOT_SERVING, refuse new calls (UNAVAILABLE, reason
SERVICE_STOPPING) while in-flight ones drain (grace period), then stop the servers, stop
consumers, flush the outbox relay, close NATS and the database, export the last spans.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from linli.runtime.v1 import dead_letters_pb2_grpc
from linli_runtime.auth import allowed_roles
from linli_runtime.clients import TokenSource
from linli_runtime.clock import Clock, SystemClock
from linli_runtime.db import Database
from linli_runtime.dead_letter_service import FULL_NAME as DEAD_LETTERS_FULL_NAME
from linli_runtime.dead_letter_service import DeadLetterServicer
from linli_runtime.events.bus import EventBus
from linli_runtime.events.consumer import ConsumerSpec, EventConsumer
from linli_runtime.events.envelope import EventFactory
from linli_runtime.events.outbox import OutboxRelay
from linli_runtime.events.streams import StreamSpec
from linli_runtime.gauges import RuntimeGauges
from linli_runtime.grpc_tls import GrpcTls
from linli_runtime.interceptors import Authenticator, RuntimeHandlers
from linli_runtime.logs import configure_logging
from linli_runtime.memory import settle_memory
from linli_runtime.metrics import serve_metrics
from linli_runtime.migrations import MigrationSet, upgrade
from linli_runtime.oidc import KeySource, OidcAuthenticator, TokenVerifier, verifier_from_settings
from linli_runtime.processes import port_holder
from linli_runtime.service_token import ClientCredentials
from linli_runtime.settings import ServiceSettings
from linli_runtime.tracing import Tracing

log = logging.getLogger("linli.server")

SERVER_OPTIONS = [
    # No SO_REUSEPORT (gRPC sets it by default on Linux): with it a second server on a port
    # another instance still serves would bind too and silently share its calls. SO_REUSEADDR
    # stays, so a restart reuses a port whose old connections wait in TIME_WAIT.
    ("grpc.so_reuseport", 0),
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
]
# The service's own port: every servicer, health and reflection.
INTERNAL = "internal"
HEALTH_NAME = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


def connection_age_options(settings: ServiceSettings) -> list[tuple[str, int]]:
    """How long a client connection may live, and the grace its in-flight calls get after the
    server's GOAWAY (gRPC adds ±10 % jitter, so clients do not all reconnect at once)."""
    if not settings.grpc_max_connection_age:
        return []
    return [("grpc.max_connection_age_ms", int(settings.grpc_max_connection_age * 1000)),
            ("grpc.max_connection_age_grace_ms", int(settings.grpc_max_connection_age_grace * 1000))]


@dataclass(frozen=True)
class Listener:
    """A port of the service. `public`: reached from outside the platform (shops' networks):
    TLS is required and no client certificate is asked for. `tls`: its certificate, when not
    the service's own."""

    name: str
    port: int
    public: bool = False
    tls: GrpcTls | None = None


class ServiceApp:
    def __init__(
        self,
        name: str,
        settings: ServiceSettings,
        *,
        migrations: Sequence[MigrationSet] = (),
        streams: Iterable[StreamSpec] = (),
        clock: Clock | None = None,
        authenticators: Sequence[Authenticator] = (),
        verifier: TokenVerifier | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.clock = clock or SystemClock()
        # Token lifetimes are judged on real time even when a test drives the domain's clock.
        self.verifier = verifier or verifier_from_settings(settings)
        self._credentials: TokenSource | None = None
        self.tracing = Tracing.from_settings(name, settings)
        self.db = Database(settings.database_url, pool_size=settings.database_pool_size,
                           statement_cache_size=settings.database_statement_cache_size)
        for engine in self.db.engines:  # on a SQLite file, writes and hot reads have engines of their own
            self.tracing.instrument_engine(engine)
        self.bus = EventBus.from_settings(settings, name=name, streams=streams)
        self.relay = OutboxRelay(self.db, self.bus, service=name, clock=self.clock, tracing=self.tracing)
        self.migrations = list(migrations)
        self.consumers: list[EventConsumer] = []
        self.gauges: RuntimeGauges | None = None  # dead letters and stream use, from start()
        # Domain code takes `app.make_event` (subject, payload, scope) → EventEnvelope.
        self.make_event = EventFactory(name, self.clock)
        self.health = HealthServicer()
        # TLS for this service's servers and for the channels it opens to others.
        self.grpc_tls = GrpcTls.from_settings(settings)
        self.port: int | None = None  # the service's own port, once bound
        self.ports: dict[str, int] = {}  # listener name → bound port (INTERNAL, "health", added ones)
        self._listeners: dict[str, Listener] = {INTERNAL: Listener(INTERNAL, settings.port)}
        self._services: list[tuple[Callable[[Any, grpc.aio.Server], None], Any, str, frozenset[str]]] = []
        self._authenticators = [*authenticators, OidcAuthenticator(self.verifier)]
        self._servers: list[grpc.aio.Server] = []
        self._handlers: list[RuntimeHandlers] = []  # each listener's runtime (drained on stop)
        self._stopped = asyncio.Event()
        self._on_start: list[Callable[[ServiceApp], Any]] = []
        # The subject root of the events this service publishes (`volunteer-points` → `points`):
        # the runtime's own announcements (a dead letter replayed) go there too.
        self.context = name.rsplit("-", 1)[-1]
        # Every service serves its dead letters to operators (list, show, replay, discard).
        self.add_service(dead_letters_pb2_grpc.add_DeadLetterServiceServicer_to_server, DeadLetterServicer(self),
                         DEAD_LETTERS_FULL_NAME)

    # -- assembly ----------------------------------------------------------------------------

    def add_service(self, register: Callable[[Any, grpc.aio.Server], None], servicer: Any, full_name: str, *,
                    listeners: Collection[str] = (INTERNAL,)) -> None:
        """Mount a servicer: `register` is the generated `add_XServiceServicer_to_server`,
        `full_name` its `package.Service` name (for health and reflection); served on the
        service's own port, and on each other listener named in `listeners`."""
        unknown = set(listeners) - set(self._listeners)
        if unknown:
            raise ValueError(f"{full_name}: no listener {sorted(unknown)} (add_listener first)")
        self._services.append((register, servicer, full_name, frozenset(listeners)))

    def add_listener(self, name: str, port: int, *, public: bool = True, tls: GrpcTls | None = None) -> None:
        """Another port (0: a free one), serving only the servicers mounted on it by name, with
        health and reflection of those alone. See the module docstring for `public`."""
        if name in self._listeners:
            raise ValueError(f"listener {name!r} exists")
        self._listeners[name] = Listener(name, port, public, tls)

    def add_consumer(self, spec: ConsumerSpec) -> EventConsumer:
        consumer = EventConsumer(spec, self.db, self.bus, clock=self.clock, tracing=self.tracing)
        self.consumers.append(consumer)
        return consumer

    def use_issuer(self, issuer: str, keys: KeySource, credentials: TokenSource | None = None) -> None:
        """Trust `issuer` with `keys` given in-process, and call other services with
        `credentials`, instead of what the settings name (tests: a test issuer's StaticJwks)."""
        self.verifier.issuer = issuer
        self.verifier.keys = keys
        if credentials is not None:
            self._credentials = credentials

    def credentials(self) -> TokenSource:
        """This service's own token source, for channels to the services it calls: its client
        credentials at the issuer (LINLI_CLIENT_ID, LINLI_CLIENT_SECRET_FILE)."""
        if self._credentials is None:
            self._credentials = ClientCredentials.from_settings(self.settings)
        return self._credentials

    def on_start(self, hook: Callable[[ServiceApp], Any]) -> None:
        """Run `hook(app)` after migrations, before serving (e.g. loading demo data)."""
        self._on_start.append(hook)

    def event(self, subject: str, payload: Any, *, org_scope: str, causation_id: str = "") -> Any:
        """An envelope stamped with this service as its source and the app's clock (the same as
        `make_event`, with the scope by keyword)."""
        return self.make_event(subject, payload, org_scope, causation_id=causation_id)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> int:
        """Migrate, connect, serve. Returns the bound port."""
        if not self.verifier.issuer:
            raise RuntimeError(f"{self.name} trusts no token issuer: set LINLI_ISSUER_URL (under `make run`: "
                               "http://127.0.0.1:8090, the identity service)")
        await upgrade(self.db, *self.migrations)
        for hook in self._on_start:
            result = hook(self)
            if asyncio.iscoroutine(result):
                await result
        self.bus.start()
        self.relay.start()
        for consumer in self.consumers:
            consumer.start()
        self.gauges = RuntimeGauges(self.name, self.db, self.bus, [c.spec.name for c in self.consumers])
        self.gauges.start()

        try:
            for listener in self._listeners.values():
                self.ports[listener.name] = await self._serve(listener)
            if self.settings.health_port:
                self.ports["health"] = await self._serve_health(self.settings.health_port)
        except BaseException:
            # A port that cannot be bound stops the start: the ports already open close again.
            await asyncio.gather(*(server.stop(0) for server in self._servers))
            self._servers.clear()
            self._handlers.clear()
            raise
        self.port = self.ports[INTERNAL]
        for full in [*(full for _, _, full, _ in self._services), ""]:
            await self.health.set(full, health_pb2.HealthCheckResponse.SERVING)
        serve_metrics(self.settings.metrics_port, self.settings.host)
        log.info("serving", extra={"service": self.name, "address": f"{self.settings.host}:{self.port}",
                                   "ports": self.ports, "tls": self.grpc_tls.serves_tls, "mtls": self.grpc_tls.mtls})
        return self.port

    def _new_server(self, interceptors: Sequence[Any] = ()) -> grpc.aio.Server:
        return grpc.aio.server(interceptors=list(interceptors),
                               options=[*SERVER_OPTIONS, *connection_age_options(self.settings)])

    async def _serve(self, listener: Listener) -> int:
        """One listener's server: its servicers, health, reflection of those; TLS as configured."""
        tls = listener.tls or self.grpc_tls
        if listener.public and not tls.serves_tls:
            raise RuntimeError(f"{self.name}'s public listener {listener.name!r} serves TLS only: set "
                               "LINLI_GRPC_TLS_CERT and LINLI_GRPC_TLS_KEY (or the listener's own certificate)")
        # The runtime is the server's one generic handler, each method wrapped as it is mounted
        # (`interceptors.RuntimeHandlers`); tracing, when on, is the one interceptor: its span
        # covers the runtime's work.
        handlers = RuntimeHandlers(self.name, self._authenticators, self.restricted_access(),
                                   access_log=self.settings.access_log)
        names = []
        for register, servicer, full_name, listeners in self._services:
            if listener.name == INTERNAL or listener.name in listeners:
                register(servicer, handlers)
                names.append(full_name)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, handlers)
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
            reflection.aio.ReflectionServicer([*names, HEALTH_NAME, reflection.SERVICE_NAME]), handlers)
        server = self._new_server(self.tracing.server_interceptors())
        server.add_generic_rpc_handlers((handlers,))
        self._handlers.append(handlers)
        credentials = tls.server_credentials(client_auth=tls.mtls and not listener.public) \
            if tls.serves_tls else None
        return await self._bind(server, listener.port, credentials, listener.name)

    async def _serve_health(self, port: int) -> int:
        """Health alone, plaintext: what a probe that cannot speak TLS asks."""
        server = self._new_server()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        return await self._bind(server, port, None, "health")

    async def _bind(self, server: grpc.aio.Server, port: int, credentials: grpc.ServerCredentials | None,
                    name: str) -> int:
        address = f"{self.settings.host}:{port}"
        try:
            bound = server.add_secure_port(address, credentials) if credentials is not None \
                else server.add_insecure_port(address)
        except RuntimeError:  # grpc raises where older versions returned 0
            bound = 0
        if bound == 0:
            held = f": port {port} is held by {port_holder(port)}" if port else ""
            raise RuntimeError(f"{self.name} could not listen on {address} ({name}){held}")
        await server.start()
        self._servers.append(server)
        return int(bound)

    def restricted_access(self) -> dict[str, frozenset[str]]:
        """Full method name → the restricted roles its servicer method opens it to (`@allows`)."""
        opened: dict[str, frozenset[str]] = {}
        for _, servicer, full_name, _ in self._services:
            for attribute in dir(type(servicer)):
                roles = allowed_roles(getattr(type(servicer), attribute, None))
                if roles:
                    opened[f"/{full_name}/{attribute}"] = roles
        return opened

    async def stop(self, grace: float | None = None) -> None:
        """Graceful shutdown: see the module docstring for the order."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        grace = self.settings.shutdown_grace if grace is None else grace
        log.info("shutting down", extra={"grace_s": grace})
        await self.health.enter_graceful_shutdown()
        await asyncio.gather(*(consumer.stop() for consumer in self.consumers), self._stop_serving(grace))
        if self.gauges is not None:
            await self.gauges.stop()
        await self.relay.stop()
        await self.bus.close()
        await self.db.dispose()
        await self.tracing.shutdown()
        log.info("stopped")

    async def _stop_serving(self, grace: float) -> None:
        """Refuse new calls while the running ones finish (within `grace`), then stop the
        servers: see `RuntimeHandlers.drain` for why gRPC's own shutdown comes last."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        await asyncio.gather(*(handlers.drain(grace) for handlers in self._handlers))
        left = max(0.0, deadline - loop.time())
        await asyncio.gather(*(server.stop(left) for server in self._servers))

    async def serve(self, on_ready: Callable[[int], None] | None = None) -> None:
        """Start, then run until SIGTERM or SIGINT, then stop gracefully. `on_ready(port)` is
        called once serving (a supervisor may wait for it)."""
        port = await self.start()
        if on_ready is not None:
            on_ready(port)
        loop = asyncio.get_running_loop()
        stop_requested = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop_requested.set)
        await stop_requested.wait()
        await self.stop()

    def main(self) -> None:
        """Serve in this process until SIGTERM: the service's own process (`python -m …`)."""
        configure_logging(self.name, self.settings.log_level, self.settings.log_json)
        self.on_start(lambda _: settle_memory())  # last: after the service's own hooks (demo data)
        asyncio.run(self.serve())
