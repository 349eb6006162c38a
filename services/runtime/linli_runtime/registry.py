"""How the platform finds its services without importing their code.

A service declares one `ServiceDescriptor` and names it in the root pyproject.toml:

    [project.entry-points."linli.services"]
    volunteer-points = "linli_points.descriptor:SERVICE"

`make run` (the local runner) and the deployment checks read this list; nothing else needs
to change to add a service.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import entry_points

GROUP = "linli.services"


def service_client_id(service: str) -> str:
    """The OAuth client the issuer provisions for platform service `service` (client credentials)."""
    return f"svc-{service}"


@dataclass(frozen=True)
class ServiceDescriptor:
    name: str  # e.g. "volunteer-points"
    module: str  # started as `python -m <module>`
    default_port: int  # fixed local port, so grpcurl examples in the README work as written
    # Lower starts first and stops last: a service starts after the services it calls (the org
    # tree's owner before its consumers) and is stopped, drained, before them.
    start_order: int = 100
    description: str = ""
    # "grpc": a ServiceApp, ready when grpc.health.v1 says SERVING (the platform's services);
    # "http": an HTTP gateway (the web portal), ready when GET /healthz answers 200.
    protocol: str = "grpc"
    # The role the token of its client credentials at the issuer carries (`svc-<name>`): `service`
    # for a platform service, `portal` for the web portal's read-only public pages.
    client_role: str = "service"
    # This is the platform's token issuer (identity): it starts first, holds the signing keys
    # and provisions every other service's client; the others trust it (LINLI_ISSUER_URL).
    issuer: bool = False
    # A documented HTTP port served beside the gRPC one (the issuer's sign-in pages and OIDC
    # endpoints); 0: none.
    http_port: int = 0
    # A documented public gRPC port served beside the service's own (partner-redemption's POS
    # edge: PosService and health alone, TLS only); 0: none. The platform passes it as
    # LINLI_POS_PORT; clients find it at <SERVICE>_POS_ADDR.
    pos_port: int = 0

    @property
    def client_id(self) -> str:
        """Its OAuth client at the issuer (client credentials, one per service)."""
        return service_client_id(self.name)

    @property
    def addr_env(self) -> str:
        """The environment variable other services read its address from."""
        return self.name.upper().replace("-", "_") + "_SERVICE_ADDR"

    @property
    def pos_addr_env(self) -> str:
        """The environment variable clients read its public POS edge's address from."""
        return self.name.upper().replace("-", "_") + "_POS_ADDR"

    @property
    def owns_database(self) -> bool:
        """A platform service (a ServiceApp) keeps its state in a database of its own, with an
        outbox and inbox; an HTTP gateway keeps none."""
        return self.protocol == "grpc"

    @property
    def db_name(self) -> str:
        return self.name.replace("-", "_")


def installed_services() -> list[ServiceDescriptor]:
    found = []
    for ep in entry_points(group=GROUP):
        descriptor = ep.load()
        if not isinstance(descriptor, ServiceDescriptor):
            raise TypeError(f"entry point {ep.name} ({ep.value}) is not a ServiceDescriptor")
        found.append(descriptor)
    return sorted(found, key=lambda d: (d.start_order, d.name))


def service_address(name: str) -> str:
    """Where a client reaches service `name`: its `<SERVICE>_SERVICE_ADDR` (set by `make run` and
    every deployment), else its fixed local port on loopback — `make run`'s default."""
    for descriptor in installed_services():
        if descriptor.name == name:
            return os.environ.get(descriptor.addr_env) or f"127.0.0.1:{descriptor.default_port}"
    raise KeyError(f"no installed service named {name!r}")


def pos_address(name: str) -> str:
    """Where a terminal reaches service `name`'s public POS edge: its `<SERVICE>_POS_ADDR`, else
    its fixed local POS port on loopback (`make run`)."""
    for descriptor in installed_services():
        if descriptor.name == name:
            if not descriptor.pos_port:
                raise KeyError(f"{name} serves no POS edge")
            return os.environ.get(descriptor.pos_addr_env) or f"127.0.0.1:{descriptor.pos_port}"
    raise KeyError(f"no installed service named {name!r}")
