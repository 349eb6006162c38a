"""Who may do what on NATS: one user per service, allowed to publish its own context's events
and to use the streams and durable consumers it needs — nothing else.

A service publishes only `<context>.>` (volunteer-points: `points.>`); JetStream's API is
reached by publishing requests to `$JS.API.…` subjects, so the same publish permissions decide
which streams a service may create, update and read about (the streams it writes to and reads
from, as `ServiceApp(streams=…)` ensures them at start-up — never purge or delete), which
durable consumers it may create, pull from and acknowledge (its own), and which key-value
buckets it may use. Replies arrive on `_INBOX.>`, the one subject a service subscribes to.

`ACCESS` is the table, checked against each service's `ServiceApp` (its streams and consumers)
by tests/unit/deploy/test_nats_access.py; `authorization_conf` renders it as a nats-server
`authorization` block: at run time by `make run`/`make run-cluster`, and once for
deploy/nats/auth.conf and deploy/k8s/base/nats/auth.conf, whose passwords come from the
environment (`$VOLUNTEER_POINTS_NATS_PASSWORD`) — the same test keeps those files equal to the
table (`python -m linli_runtime.nats_access > deploy/nats/auth.conf` rewrites them).

An administrator user (`linli-admin`) keeps full rights for operators' tools: the platform
runner creating the streams of a fresh cluster, `linli platform backup`, the `nats` CLI.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass

ADMIN_USER = "linli-admin"
INBOX = "_INBOX.>"


@dataclass(frozen=True)
class ServiceAccess:
    service: str  # the registered service name, also its NATS user name
    context: str  # the subject root it publishes: `points` → points.>
    streams: tuple[str, ...]  # streams it ensures (creates or updates) and reads about
    consumers: tuple[tuple[str, str], ...] = ()  # (stream, durable consumer) it pulls from
    kv_buckets: tuple[str, ...] = ()  # JetStream key-value buckets it reads and writes

    @property
    def user(self) -> str:
        return self.service

    @property
    def password_env(self) -> str:
        """The environment variable the NATS server reads this user's password from."""
        return self.service.upper().replace("-", "_") + "_NATS_PASSWORD"

    def publish_allow(self) -> list[str]:
        allow = [f"{self.context}.>"]
        streams = [*self.streams, *(f"KV_{bucket}" for bucket in self.kv_buckets)]
        for stream in streams:
            allow += [f"$JS.API.STREAM.{verb}.{stream}" for verb in ("INFO", "CREATE", "UPDATE")]
        for stream, consumer in self.consumers:
            allow += [
                f"$JS.API.CONSUMER.INFO.{stream}.{consumer}",
                f"$JS.API.CONSUMER.CREATE.{stream}.{consumer}",
                f"$JS.API.CONSUMER.CREATE.{stream}.{consumer}.>",
                f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{consumer}",
                f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}",
                f"$JS.ACK.{stream}.{consumer}.>",
            ]
        for bucket in self.kv_buckets:
            allow += [f"$KV.{bucket}.>", f"$JS.API.STREAM.MSG.GET.KV_{bucket}",
                      f"$JS.API.DIRECT.GET.KV_{bucket}", f"$JS.API.DIRECT.GET.KV_{bucket}.>"]
        return allow

    def permissions(self) -> dict[str, dict[str, list[str]]]:
        return {"publish": {"allow": self.publish_allow()}, "subscribe": {"allow": [INBOX]}}


ACCESS: dict[str, ServiceAccess] = {a.service: a for a in (
    ServiceAccess("trust-governance", "governance", ("GOVERNANCE",),
                  # The register of disclosure-chain heads (trust-governance's chain_heads), kept
                  # by its consumer of its own governance.disclosure.published.
                  consumers=(("GOVERNANCE", "governance-chain-heads"),),
                  kv_buckets=("LINLI_DISCLOSURE_HEADS",)),
    ServiceAccess("volunteer-points", "points", ("POINTS", "NOTIFICATION", "GOVERNANCE", "REDEMPTION"),
                  consumers=(("NOTIFICATION", "points-help-request-credits"), ("GOVERNANCE", "points-org-units"),
                             ("REDEMPTION", "points-redemption-holds"))),
    ServiceAccess("partner-redemption", "redemption", ("REDEMPTION", "GOVERNANCE"),
                  consumers=(("GOVERNANCE", "redemption-org-units"),)),
    ServiceAccess("identity", "identity", ("IDENTITY",)),
    ServiceAccess("notification", "notification", ("GOVERNANCE", "POINTS", "REDEMPTION", "NOTIFICATION", "IDENTITY"),
                  consumers=(("POINTS", "notification-points"), ("POINTS", "notification-visits"),
                             ("REDEMPTION", "notification-redemption"),
                             ("GOVERNANCE", "notification-governance"), ("NOTIFICATION", "notification-help"),
                             ("GOVERNANCE", "notification-org-units"), ("IDENTITY", "notification-grants"),
                             ("IDENTITY", "notification-accounts"), ("IDENTITY", "notification-household-claims"))),
)}


def _value(text: str) -> str:
    # Environment references stay bare ($VAR: nats-server substitutes them); the rest is quoted.
    return text if text.startswith("$") and text[1:].replace("_", "").isalnum() else json.dumps(text)


def authorization_conf(passwords: Mapping[str, str], access: Mapping[str, ServiceAccess] | None = None) -> str:
    """A nats-server `authorization { users = [...] }` block: `passwords` maps each user (every
    service in `access`, and ADMIN_USER) to its password or to `$ENV_VAR`."""
    access = ACCESS if access is None else access
    lines = ["# One NATS user per Linli service, limited to its own subjects, streams and consumers",
             "# (linli_runtime.nats_access renders this block; do not edit it by hand).",
             "authorization {", "  users = ["]
    lines.append(f"    {{user: {_value(ADMIN_USER)}, password: {_value(passwords[ADMIN_USER])}}}")
    for entry in access.values():
        perms = entry.permissions()
        lines.append(f"    {{user: {_value(entry.user)}, password: {_value(passwords[entry.user])}, permissions: {{")
        lines.append("      publish: {allow: [")
        lines += [f"        {_value(subject)}" for subject in perms["publish"]["allow"]]
        lines.append("      ]}")
        lines.append("      subscribe: {allow: [" + ", ".join(_value(s) for s in perms["subscribe"]["allow"]) + "]}")
        lines.append("    }}")
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def environment_passwords(access: Mapping[str, ServiceAccess] | None = None) -> dict[str, str]:
    """Every user → `$<SERVICE>_NATS_PASSWORD` (and `$LINLI_ADMIN_NATS_PASSWORD`): the form the
    deployment files take, the server reading the passwords from its environment."""
    access = ACCESS if access is None else access
    return {ADMIN_USER: "$LINLI_ADMIN_NATS_PASSWORD", **{a.user: f"${a.password_env}" for a in access.values()}}


if __name__ == "__main__":
    sys.stdout.write(authorization_conf(environment_passwords()))
