"""The local platform runner behind `make run`: a nats-server with JetStream and every
installed service as its own process, on SQLite files under var/, with demo data, each on its
documented port. Ctrl-C (or SIGTERM) stops the services gracefully — callers first, each drained
before the services it calls are signalled — then NATS. Starting again reuses var/.

NATS takes TLS only and one user per service (linli_runtime.nats_security: the CA under
var/tls), as Compose and Kubernetes configure it. Every gRPC server speaks TLS only, with a
certificate from the same CA (linli_runtime.platform_tls); services, the portal, the CLI and the
sample POS client trust var/tls/ca.pem (mTLS between them with `--mtls`). partner-redemption's
POS edge listens on a port of its own (50443), serving PosService and health alone.

The issuer's HTTP side (sign-in pages, discovery, JWKS) stays plain HTTP on loopback: people's
browsers open its pages, and a browser trusts no CA made here without an install into the
system's store; in a deployment it sits behind the Gateway's TLS (deploy/k8s/base/gateway)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.console import Console
from rich.table import Table

from linli_runtime.grpc_tls import PLAINTEXT, GrpcTls
from linli_runtime.nats_security import NatsSecurity
from linli_runtime.platform_tls import PlatformTls
from linli_runtime.processes import NatsServer, free_port, port_holder
from linli_runtime.registry import ServiceDescriptor, installed_services
from linli_runtime.translation import _

# Wide enough for the summary table when stderr is a log file rather than a terminal.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)


class PortInUse(RuntimeError):
    """A service's documented port is held by another process: the runner stops rather than
    start the service anywhere else."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on `host:port` now, probed the way servers bind: gRPC,
    nats-server and uvicorn all set SO_REUSEADDR, so the connections of a server stopped a
    moment ago, still in TIME_WAIT, do not count — a process listening on the port does."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def claim_port(owner: str, port: int, host: str = "127.0.0.1") -> int:
    """`port` — the documented port of `owner` — if it is free, else PortInUse naming who holds
    it. Never another port: clients (POS terminals, grpcurl, the CLI) know only this one, and a
    service moved silently is a service they cannot reach."""
    if port_is_free(port, host):
        return port
    raise PortInUse(_(
        "{owner}'s port {port} on {host} is held by {holder}. Stop that process (`ss -ltnp 'sport = :{port}'` "
        "shows it) and start again: the platform does not move {owner} to another port, because its clients "
        "know only {port}.").format(owner=owner, port=port, host=host, holder=port_holder(port)))


@dataclass
class RunningService:
    descriptor: ServiceDescriptor
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    log_file: IO[bytes] | None = field(default=None, repr=False)
    pos_port: int = 0  # its public POS edge (descriptor.pos_port), when it has one

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pos_address(self) -> str:
        return f"127.0.0.1:{self.pos_port}" if self.pos_port else ""


# A channel that found nothing listening reconnects only after gRPC's backoff (1 s, growing
# 1.6 times each try): probing a service that took 15 s to start, it saw SERVING ~12 s late.
# The probe retries at its own pace instead, every few tenths of a second.
# (A connection attempt still has gRPC's 20 s to finish, TLS handshake included.)
PROBE_OPTIONS = (("grpc.initial_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 300))


def wait_serving(address: str, timeout: float, proc: subprocess.Popen[bytes], tls: GrpcTls = PLAINTEXT) -> bool:
    """Ask grpc.health.v1 at `address` (over TLS when `tls` trusts a CA) until it says SERVING."""
    deadline = time.monotonic() + timeout
    with tls.sync_channel(address, PROBE_OPTIONS) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=0.5)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return True
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    return False


def wait_http_ready(address: str, timeout: float, proc: subprocess.Popen[bytes]) -> bool:
    """The HTTP counterpart of `wait_serving`: GET http://address/healthz until it answers 200."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://{address}/healthz", timeout=0.5) as reply:
                if reply.status == 200:
                    return True
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    return False


def service_env(service: RunningService, *, addresses: dict[str, str], database_url: str | None, nats_url: str,
                demo_data: bool, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a service process starts with: ours, plus where it listens, its database
    (None for a service that owns none), NATS, and where every other service listens
    (`<SERVICE>_SERVICE_ADDR`)."""
    database = {"DATABASE_URL": database_url} if database_url is not None else {}
    return {
        **os.environ,
        **addresses,
        "PORT": str(service.port),
        **database,
        "NATS_URL": nats_url,
        "LINLI_SERVICE_NAME": service.descriptor.name,
        "LINLI_DEMO_DATA": "true" if demo_data else "false",
        **(extra or {}),
    }


@dataclass(frozen=True)
class IssuerWiring:
    """How a local platform is wired to its token issuer (the service whose descriptor says
    `issuer`, identity): the issuer's URL, and where the OAuth clients' secrets and the
    development SMS gateway's codes live. `env(descriptor)` is what each process gets on top of
    `service_env`: the issuer its provisioning settings; every other service the issuer's URL,
    its own client id and the path of its own secret file (0600, written by the issuer's
    provisioning) — and no key of any kind."""

    url: str
    http_port: int
    secrets_dir: Path
    sms_dir: Path
    portal_redirect_uris: tuple[str, ...] = ()

    @classmethod
    def for_platform(cls, var_dir: Path, http_port: int, services: Sequence[RunningService]) -> IssuerWiring:
        redirects = tuple(f"http://{s.address}/auth/callback" for s in services
                          if s.descriptor.client_role == "portal")
        return cls(url=f"http://127.0.0.1:{http_port}", http_port=http_port,
                   secrets_dir=var_dir / "identity-clients", sms_dir=var_dir / "identity-sms",
                   portal_redirect_uris=redirects)

    def secret_file(self, descriptor: ServiceDescriptor) -> Path:
        return self.secrets_dir / f"{descriptor.client_id}.secret"

    def env(self, descriptor: ServiceDescriptor, http_port: int | None = None) -> dict[str, str]:
        if descriptor.issuer:
            return {"LINLI_HTTP_PORT": str(http_port or self.http_port), "LINLI_ISSUER_URL": self.url,
                    "LINLI_CLIENT_SECRETS_DIR": str(self.secrets_dir), "LINLI_SMS_DEV_DIR": str(self.sms_dir),
                    "LINLI_PORTAL_REDIRECT_URIS": ",".join(self.portal_redirect_uris),
                    "LINLI_PROVISION_CLIENTS": "true"}
        return {"LINLI_ISSUER_URL": self.url, "LINLI_CLIENT_ID": descriptor.client_id,
                "LINLI_CLIENT_SECRET_FILE": str(self.secret_file(descriptor))}

    def sign_in_help(self) -> str:
        """What the startup summary tells people about signing in."""
        login = ".venv/bin/linli login" + ("" if self.url == "http://127.0.0.1:8090" else f" --issuer {self.url}")
        return _("Token issuer (OIDC): [bold]{url}[/]  — sign-in pages, discovery, JWKS\n"
                 "Sign in:  [bold]{login}[/]   (demo people: README \"Accounts and sign-in\"; e.g. +8613800000001, "
                 "the Chengdu city operator)\n"
                 "SMS codes (the development gateway, nothing is sent): [bold].venv/bin/linli platform sms-codes[/]"
                 "  or {codes}\n"
                 "A fresh install without demo data: [bold].venv/bin/linli platform create-admin --phone … --name …[/]"
                 ).format(url=self.url, login=login, codes=self.sms_dir / "codes.jsonl")


def pos_env(service: RunningService) -> dict[str, str]:
    """The public POS edge's port, for the service that has one."""
    return {"LINLI_POS_PORT": str(service.pos_port)} if service.pos_port else {}


def issuer_of(descriptors: Sequence[ServiceDescriptor]) -> ServiceDescriptor | None:
    return next((d for d in descriptors if d.issuer), None)


def launch(service: RunningService, env: dict[str, str]) -> None:
    """Start `python -m <module>` for `service`, its output appended to its log file."""
    if service.log_file is not None:
        service.log_file.close()
    log_file = open(service.log_path, "ab")  # closed in stop_services()
    service.log_file = log_file
    service.proc = subprocess.Popen([sys.executable, "-m", service.descriptor.module], env=env,
                                    stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)


def wait_issuer_ready(service: RunningService, wiring: IssuerWiring, timeout: float = 30) -> None:
    """The issuer's HTTP side (discovery, JWKS, tokens) answers: it starts just after gRPC."""
    assert service.proc is not None
    if not wait_http_ready(wiring.url.removeprefix("http://"), timeout, service.proc):
        raise RuntimeError(_("{service}'s issuer did not answer at {url}/healthz; see {log}").format(
            service=service.descriptor.name, url=wiring.url, log=service.log_path))


def wait_until_serving(service: RunningService, timeout: float = 60, tls: GrpcTls = PLAINTEXT) -> None:
    """Wait for the health check to say SERVING; raise with the log's tail when it never does."""
    assert service.proc is not None, "launch() the service first"
    if service.descriptor.protocol == "http":
        ready = wait_http_ready(service.address, timeout, service.proc)
    else:
        ready = wait_serving(service.address, timeout, service.proc, tls)
    if not ready:
        tail = service.log_path.read_text(errors="replace").splitlines()[-15:]
        raise RuntimeError(_("{service} did not come up on {address}; last log lines:").format(
            service=service.descriptor.name, address=service.address) + "\n" + "\n".join(tail))


def shutdown_waves(services: Sequence[RunningService]) -> list[list[RunningService]]:
    """The order to stop `services` in: callers before the services they call. A service
    starts after the services it calls (`ServiceDescriptor.start_order`), so the waves are the
    start orders from last to first — the portal, then partner-redemption, then
    volunteer-points, … — with every replica of a service in the same wave."""
    waves: dict[int, list[RunningService]] = {}
    for service in services:
        waves.setdefault(service.descriptor.start_order, []).append(service)
    return [waves[order] for order in sorted(waves, reverse=True)]


def stop_services(services: Sequence[RunningService], timeout: float = 30) -> None:
    """Stop `services` wave by wave (`shutdown_waves`): SIGTERM a wave, wait until each of its
    processes has drained its calls and exited (killing one that hangs past `timeout`), and
    only then signal the next. Stopped at once, a callee would exit while its callers still
    drain calls that need it — a POS redeem whose hold is never posted."""
    for wave in shutdown_waves(services):
        for service in wave:
            if service.proc is not None and service.proc.poll() is None:
                service.proc.send_signal(signal.SIGTERM)
        for service in wave:
            if service.proc is not None:
                try:
                    service.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    service.proc.kill()
                    service.proc.wait()
            if service.log_file is not None:
                service.log_file.close()
                service.log_file = None


class LocalPlatform:
    """NATS and `services` (every installed one by default) as processes under `var_dir`. With
    `default_ports` (`make run`) each service listens on its documented port or the start fails
    (PortInUse); without (tests, several platforms side by side) each gets a free port."""

    def __init__(self, var_dir: Path, *, nats_port: int = 4222, demo_data: bool = True,
                 database_url_base: str | None = None,
                 services: list[ServiceDescriptor] | None = None, default_ports: bool = False,
                 extra_env: dict[str, str] | None = None, mtls: bool = False) -> None:
        self.var_dir = var_dir.resolve()
        self.extra_env = extra_env or {}
        self.issuer: IssuerWiring | None = None
        self.default_ports = default_ports
        self.demo_data = demo_data
        self.database_url_base = database_url_base
        port = nats_port if port_is_free(nats_port) else free_port()
        self.nats = NatsServer(self.var_dir / "nats", port=port, log_file=self.var_dir / "logs" / "nats-server.log")
        self.descriptors = installed_services() if services is None else services
        self.services: list[RunningService] = []
        # TLS and a user per service (linli_runtime.nats_access.ACCESS; a test's service gets its own).
        self.security = NatsSecurity(self.var_dir, services=[d.name for d in self.descriptors if d.owns_database])
        # gRPC over TLS from the same CA: a certificate per process (mTLS between them if asked).
        self.tls = PlatformTls(self.var_dir, mtls=mtls)

    def database_url(self, descriptor: ServiceDescriptor) -> str | None:
        """The service's own database (SQLite file or PostgreSQL database); None when it owns none."""
        if not descriptor.owns_database:
            return None
        if self.database_url_base:
            return f"{self.database_url_base.rstrip('/')}/{descriptor.db_name}"
        return f"sqlite+aiosqlite:///{self.var_dir / (descriptor.db_name + '.db')}"

    def start(self) -> None:
        """Start NATS and every service in start order. Every documented port is claimed first,
        so a port held by another process stops the start before anything runs (PortInUse)."""
        (self.var_dir / "logs").mkdir(parents=True, exist_ok=True)
        for d in self.descriptors:
            port = claim_port(d.name, d.default_port) if self.default_ports and d.default_port else free_port()
            pos_port = 0
            if d.pos_port:
                pos_port = claim_port(f"{d.name} (POS edge)", d.pos_port) if self.default_ports else free_port()
            self.services.append(RunningService(d, port, self.var_dir / "logs" / f"{d.name}.log", pos_port=pos_port))
        issuer = issuer_of(self.descriptors)
        if issuer is not None:
            http_port = claim_port(f"{issuer.name} (issuer)", issuer.http_port) \
                if self.default_ports and issuer.http_port else free_port()
            self.issuer = IssuerWiring.for_platform(self.var_dir, http_port, self.services)
        with console.status(_("starting nats-server (JetStream)…")):
            self.nats.config = self.security.prepare().server_config(cluster=False)
            self.nats.start()
        self.tls.prepare(d.name for d in self.descriptors)
        addresses = self.addresses()
        for service in self.services:
            wiring = self.issuer.env(service.descriptor) if self.issuer is not None else {}
            env = service_env(service, addresses=addresses, database_url=self.database_url(service.descriptor),
                              nats_url=self.nats.url, demo_data=self.demo_data,
                              extra={**self.security.env_for(service.descriptor), **wiring,
                                     **self.tls.env_for(service.descriptor.name), **pos_env(service),
                                     **self.extra_env})
            launch(service, env)
            with console.status(_("starting {service} on {address}…").format(service=service.descriptor.name,
                                                                               address=service.address)):
                wait_until_serving(service, tls=self.tls.client)
                if service.descriptor.issuer and self.issuer is not None:
                    wait_issuer_ready(service, self.issuer)

    def addresses(self) -> dict[str, str]:
        """`<SERVICE>_SERVICE_ADDR` → address: what every service and client is started with
        (the same shape as `LocalCluster.addresses`)."""
        return {s.descriptor.addr_env: s.address for s in self.services}

    def pos_addresses(self) -> dict[str, str]:
        """`<SERVICE>_POS_ADDR` → the public POS edge's address, for terminals."""
        return {s.descriptor.pos_addr_env: s.pos_address for s in self.services if s.pos_port}

    def client_env(self) -> dict[str, str]:
        """What a client of this platform (the CLI, the sample POS client) runs with: where every
        service and edge listens, the CA it trusts, the issuer it signs in at."""
        issuer = {"LINLI_ISSUER_URL": self.issuer.url} if self.issuer is not None else {}
        return {**self.addresses(), **self.pos_addresses(), **self.tls.client_env(), **issuer}

    def summary(self) -> Table:
        table = Table(title=_("Linli is running"), title_justify="left")
        table.add_column(_("component"))
        table.add_column(_("address"))
        table.add_column(_("log (under the data folder)"))
        table.add_row("nats-server (JetStream)", self.nats.url, str(self.nats.log_file.relative_to(self.var_dir)))
        for s in self.services:
            address = f"http://{s.address}/" if s.descriptor.protocol == "http" else f"{s.address} (TLS)"
            if s.descriptor.issuer and self.issuer is not None:
                address += "\n" + _("issuer {url}").format(url=self.issuer.url)
            if s.pos_port:
                address += "\n" + _("POS edge {address} (TLS)").format(address=s.pos_address)
            table.add_row(s.descriptor.name, address, str(s.log_path.relative_to(self.var_dir)))
        return table

    def stop(self) -> None:
        stop_services(self.services)
        self.nats.stop()

    def first_exited(self) -> RunningService | None:
        for service in self.services:
            if service.proc is not None and service.proc.poll() is not None:
                return service
        return None


class Supervised(Protocol):
    """What `supervise` runs: LocalPlatform here, LocalCluster in linli_runtime.cluster."""

    var_dir: Path
    issuer: IssuerWiring | None
    tls: PlatformTls

    @property
    def services(self) -> Sequence[RunningService]: ...
    def start(self) -> None: ...
    def summary(self) -> Table: ...
    def stop(self) -> None: ...
    def first_exited(self) -> RunningService | None: ...


def run(var_dir: Path, nats_port: int, demo_data: bool, database_url_base: str | None, *,
        free_ports: bool = False, mtls: bool = False) -> int:
    """`make run`: the documented ports (or PortInUse, naming who holds one), unless asked for
    free ones — a second platform beside a running one, saying where it listens."""
    platform = LocalPlatform(var_dir, nats_port=nats_port, demo_data=demo_data,
                             database_url_base=database_url_base, default_ports=not free_ports, mtls=mtls)
    return supervise(platform)


def supervise(platform: Supervised) -> int:
    """Start `platform`, print where everything listens, and run until Ctrl-C/SIGTERM or until
    a service exits; then stop everything gracefully."""
    stop_requested = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        platform.start()
        console.print(platform.summary())
        if not platform.services:
            console.print(_("[yellow]No services are installed yet[/]: only the infrastructure is running."))
        if platform.issuer is not None:
            console.print(platform.issuer.sign_in_help())
        ca = os.path.relpath(platform.tls.ca_file)
        mtls = (f" -cert {os.path.relpath(platform.tls.client.cert_file)} -key "
                f"{os.path.relpath(platform.tls.client.key_file)}") if platform.tls.mtls else ""
        console.print(_(
            "gRPC speaks TLS only (mTLS: {mtls_state}); clients trust the local CA [bold]{ca}[/] (the CLI finds "
            "it when run from here; else --ca or LINLI_GRPC_TLS_CA)\n"
            "Try it:  [bold]grpcurl -cacert {ca}{mtls} 127.0.0.1:<port> list[/]   (health and reflection need no "
            "token)\n"
            "Logs are JSON lines under {logs}. Press Ctrl-C to stop everything.").format(
                mtls_state=_("on") if platform.tls.mtls else _("off"), ca=ca, mtls=mtls,
                logs=platform.var_dir / "logs"))
        # The command's own main thread watching its children (no event loop runs here): a plain
        # loop, not a PeriodicTask.
        while not stop_requested:
            exited = platform.first_exited()
            if exited is not None:
                code = exited.proc.returncode if exited.proc else "?"
                console.print(_("[red]{service} exited[/] (code {code}); see {log}").format(
                    service=exited.descriptor.name, code=code, log=exited.log_path))
                return 1
            time.sleep(0.5)
        return 0
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/]")
        return 1
    finally:
        with console.status(_("stopping services (draining calls, flushing events) and NATS…")):
            platform.stop()
        console.print(_("stopped; data kept under {folder}").format(folder=platform.var_dir))
