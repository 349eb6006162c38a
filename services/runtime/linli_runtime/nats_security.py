"""NATS with TLS and one user per service, for the platform runs on this machine (`make run`,
`make run-cluster`, the e2e tests): what Compose and Kubernetes configure from deploy/.

Under `<var>/tls`: the local CA and the NATS server certificate (linli_runtime.tls; clients
and the cluster's routes verify it: 127.0.0.1 and localhost are its names) and
`nats-users.json` (0600), the generated password of every user in the access table
(linli_runtime.nats_access) and of the administrator. Both are made once and reused, so a
restart keeps working with what a previous run left.

    security = NatsSecurity(var_dir).prepare()
    NatsServer(..., config=security.server_config(cluster=False))
    env = security.service_env("volunteer-points")   # LINLI_NATS_USER / _PASSWORD / _TLS_CA
    await nats.connect(url, **security.admin_options())
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from linli_runtime.nats_access import ACCESS, ADMIN_USER, ServiceAccess, authorization_conf
from linli_runtime.registry import ServiceDescriptor
from linli_runtime.tls import LocalPki, client_context

SERVER_CERT = "nats"
HOSTS = ("127.0.0.1", "localhost")


class NatsSecurity:
    def __init__(self, var_dir: Path, access: Mapping[str, ServiceAccess] | None = None,
                 services: Iterable[str] = ()) -> None:
        """`access`: the users (linli_runtime.nats_access.ACCESS unless given). A service among
        `services` that the table does not know (a test's echo service) gets a user of its own
        that may publish `<name>.>` and use no stream — enough to connect."""
        self.directory = Path(var_dir) / "tls"
        self.access = dict(ACCESS if access is None else access)
        for name in services:
            self.access.setdefault(name, ServiceAccess(name, name, ()))
        self.pki = LocalPki(self.directory)
        self.users_file = self.directory / "nats-users.json"
        self.passwords: dict[str, str] = {}

    def prepare(self) -> NatsSecurity:
        """The CA, the server's certificate and a password per user (kept from earlier runs)."""
        self.pki.ensure(servers={SERVER_CERT: list(HOSTS)})
        known: dict[str, str] = json.loads(self.users_file.read_text()) if self.users_file.exists() else {}
        wanted = [ADMIN_USER, *(a.user for a in self.access.values())]
        self.passwords = {user: known.get(user) or secrets.token_urlsafe(24) for user in wanted}
        if self.passwords != {u: known.get(u) for u in wanted}:
            fd = os.open(self.users_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({**known, **self.passwords}, f, indent=2)
        return self

    def server_config(self, *, cluster: bool) -> str:
        """The nats-server configuration beside its command-line flags: TLS on the client port
        (clients then sign in with their user), on the routes when `cluster` (both ends present
        the server certificate and verify the other's), and the users."""
        pair = self.pki.server(SERVER_CERT)
        tls = (f'cert_file: "{pair.cert}"\n    key_file: "{pair.key}"\n    ca_file: "{self.pki.ca_file}"\n'
               f"    timeout: 2")
        parts = [f"tls {{\n    {tls}\n}}\n"]
        if cluster:
            parts.append(f"cluster {{\n  tls {{\n    {tls}\n    verify: true\n  }}\n}}\n")
        parts.append(authorization_conf(self.passwords, self.access))
        return "\n".join(parts)

    def service_env(self, service: str) -> dict[str, str]:
        """What service `service` connects to NATS with (ServiceSettings: LINLI_NATS_*)."""
        entry = self.access.get(service)
        if entry is None:
            raise KeyError(f"{service} has no NATS user: add it to linli_runtime.nats_access.ACCESS "
                           "(its subjects, streams and consumers)")
        return {"LINLI_NATS_USER": entry.user, "LINLI_NATS_PASSWORD": self.passwords[entry.user],
                "LINLI_NATS_TLS_CA": str(self.pki.ca_file)}

    def env_for(self, descriptor: ServiceDescriptor) -> dict[str, str]:
        """`service_env` of a platform process: a service on the event bus (one that owns a
        database) gets its user and the CA; an HTTP gateway (the portal) uses no NATS."""
        return self.service_env(descriptor.name) if descriptor.owns_database else {}

    def admin_options(self) -> dict[str, Any]:
        """nats.connect(...) keyword arguments for the administrator (operators' tools, tests)."""
        return {"tls": client_context(self.pki.ca_file), "user": ADMIN_USER, "password": self.passwords[ADMIN_USER]}
