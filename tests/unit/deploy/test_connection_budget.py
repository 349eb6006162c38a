"""PostgreSQL connections at the autoscalers' maximum, computed from the manifests: every
replica of every service (HPA maxReplicas) with its whole pool (LINLI_DATABASE_POOL_SIZE, and as
many again in overflow) connects to the PgBouncer Pooler, never to PostgreSQL; the Pooler's
server connections (instances × databases × (default_pool_size + reserve_pool_size)) fit the
Cluster's max_connections, less what PostgreSQL and the operator keep for themselves."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest

from tests.unit.deploy.deploykit import OVERLAYS, Doc, container_env, find, load_compose, planned_services, render

PLANNED = planned_services(load_compose())
# Superuser-reserved slots, the operator's instance manager and monitoring, an operator's psql.
RESERVED = 20


@dataclass
class Budget:
    clients: int  # connections the services may open to the pooler
    max_client_conn: int  # what one pooler instance accepts (any instance may get them all)
    server: int  # connections the pooler may open to PostgreSQL
    max_connections: int

    def problems(self) -> list[str]:
        out = []
        if self.clients > self.max_client_conn:
            out.append(f"{self.clients} client connections at the HPAs' maximum > max_client_conn "
                       f"{self.max_client_conn}")
        if self.server > self.max_connections - RESERVED:
            out.append(f"{self.server} server connections > max_connections {self.max_connections} - {RESERVED}")
        return out


def budget(docs: tuple[Doc, ...], *, replicas_factor: int = 1) -> Budget:
    clients = 0
    for d in PLANNED:
        [deployment] = find(docs, "Deployment", d.name)
        [hpa] = find(docs, "HorizontalPodAutoscaler", d.name)
        env = container_env(deployment["spec"]["template"]["spec"]["containers"][0], docs)
        pool = int(env.literal["LINLI_DATABASE_POOL_SIZE"])
        clients += hpa["spec"]["maxReplicas"] * replicas_factor * 2 * pool  # pool_size + max_overflow
    [pooler] = find(docs, "Pooler")
    [pg] = find(docs, "Cluster")
    parameters = pooler["spec"]["pgbouncer"]["parameters"]
    per_database = int(parameters["default_pool_size"]) + int(parameters.get("reserve_pool_size", 0))
    server = pooler["spec"]["instances"] * len(PLANNED) * per_database
    return Budget(clients, int(parameters["max_client_conn"]), server,
                  int(pg["spec"]["postgresql"]["parameters"]["max_connections"]))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_connections_at_the_autoscalers_maximum_fit_through_the_pooler(overlay: str) -> None:
    assert budget(render(overlay)).problems() == []


def test_the_budget_check_fails_when_the_services_outgrow_it() -> None:
    docs = render("overlays/production")
    assert budget(docs, replicas_factor=3).problems()
    tight = budget(docs)
    tight.max_connections = tight.server
    assert tight.problems()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_reach_postgresql_only_through_the_transaction_pooler(overlay: str) -> None:
    docs = render(overlay)
    [pooler] = find(docs, "Pooler")
    [pg] = find(docs, "Cluster")
    assert pooler["spec"]["cluster"]["name"] == pg["metadata"]["name"] and pooler["spec"]["type"] == "rw"
    assert pooler["spec"]["pgbouncer"]["poolMode"] == "transaction"
    [config] = find(docs, "ConfigMap", "linli-config")
    # Transaction mode: no prepared statement may outlive its transaction.
    assert config["data"]["LINLI_DATABASE_STATEMENT_CACHE_SIZE"] == "0"
    secrets = {s["metadata"]["name"]: s for s in find(docs, "Secret")}
    for d in PLANNED:
        secret = secrets.get(f"linli-{d.name}-db")
        if secret is not None:  # generated in dev; created by hand in production (README)
            uri = base64.b64decode(secret["data"]["uri"]).decode()
            assert f"@{pooler['metadata']['name']}:5432/" in uri
