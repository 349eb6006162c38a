"""docker-compose.yml, by structure: a 3-node NATS JetStream cluster, PostgreSQL with a database
and role per service, health-gated start-up, an opt-in demo profile, named volumes, and
.env.example documenting every setting. The tools' own checks (the Compose specification,
nats-server -t) run in tests/integration/deploy/test_compose_tools.py."""

from __future__ import annotations

import copy
import re

from linli_runtime.settings import ServiceSettings
from tests.unit.deploy.deploykit import (
    COMPOSE_FILE,
    REPO,
    compose_tls_problems,
    env_names,
    load_compose,
    planned_services,
    tls_init_certificates,
)

COMPOSE = load_compose()
PLANNED = planned_services(COMPOSE)
ENV_EXAMPLE = (REPO / ".env.example").read_text(encoding="utf-8")


def test_nats_runs_as_a_three_node_jetstream_cluster() -> None:
    nodes = sorted(name for name in COMPOSE["services"] if name.startswith("nats-"))
    assert nodes == ["nats-1", "nats-2", "nats-3"]
    conf_files = set()
    for name in nodes:
        node = COMPOSE["services"][name]
        assert node["environment"]["NATS_SERVER_NAME"] == name
        data, conf, auth, tls = node["volumes"]
        assert data == f"{name}-data:/data"
        host_path, mounted, _ = conf.split(":")
        assert mounted == node["command"][node["command"].index("--config") + 1]
        conf_files.add(host_path)
        # auth.conf beside it (the config's `include ./auth.conf`), the certificates read-only.
        assert auth == "./deploy/nats/auth.conf:/etc/nats/auth.conf:ro"
        assert tls == "tls:/etc/nats/tls:ro"
        assert "healthz" in " ".join(node["healthcheck"]["test"])
    [conf_path] = conf_files
    conf = (REPO / conf_path).read_text()
    assert re.findall(r"nats://([\w-]+):6222", conf) == nodes
    assert "store_dir: /data/jetstream" in conf
    # nats-server itself accepts the file: tests/integration/deploy/test_compose_tools.py.
    for d in PLANNED:
        env = COMPOSE["services"][d.name]["environment"]
        assert env["NATS_URL"].split(",") == [f"nats://{n}:4222" for n in nodes]
        assert env["LINLI_STREAM_REPLICAS"] == "3"


def test_postgres_creates_a_database_and_role_per_service_at_initialisation() -> None:
    pg = COMPOSE["services"]["postgres"]
    env = pg["environment"]
    assert env["LINLI_DATABASES"].split() == [d.db_name for d in PLANNED]
    for d in PLANNED:
        password_var = f"{d.db_name.upper()}_DB_PASSWORD"
        assert password_var in env
        assert f":${{{password_var}}}@postgres:5432/{d.db_name}" in COMPOSE["services"][d.name]["environment"][
            "DATABASE_URL"]
    [init] = [v for v in pg["volumes"] if "docker-entrypoint-initdb.d" in v]
    script = REPO / init.split(":")[0]
    assert script.exists() and script.stat().st_mode & 0o111, "the init script is executable"
    assert pg["volumes"][0].startswith("pgdata:")
    assert "127.0.0.1" in pg["healthcheck"]["test"], "healthy only once the init script is done (TCP)"


def test_every_named_volume_is_declared_and_used() -> None:
    declared = set(COMPOSE["volumes"])
    used = {v.split(":")[0] for s in COMPOSE["services"].values() for v in s.get("volumes", [])
            if not v.startswith((".", "/", "${"))}  # bind mounts: files, the backup folder
    assert declared == used == {"pgdata", "tls", "nats-1-data", "nats-2-data", "nats-3-data", "governance-vouchers"}
    for s in COMPOSE["services"].values():
        for v in s.get("volumes", []):
            if v.startswith(".") and not v.startswith("${"):
                assert (REPO / v.split(":")[0]).exists(), v


def test_services_start_only_on_healthy_infrastructure_and_demo_data_is_opt_in() -> None:
    for d in PLANNED:
        service = COMPOSE["services"][d.name]
        assert "profiles" not in service
        assert service["environment"]["LINLI_DEMO_DATA"] == "false"
        assert service["read_only"] is True
        # With --profile demo the service waits for its seeder; without, the seeder is not required.
        assert service["depends_on"][f"seed-{d.name}"] == {"condition": "service_completed_successfully",
                                                          "required": False}
        seed = COMPOSE["services"][f"seed-{d.name}"]
        assert seed["profiles"] == ["demo"] and seed["restart"] == "no"
        assert seed["build"] == service["build"] and seed["image"] == service["image"]
        assert seed["environment"] == {**service["environment"], "LINLI_DEMO_DATA": "true"}
        assert "wait_serving" in " ".join(seed["entrypoint"])
    exposed = {p for s in COMPOSE["services"].values() for p in s.get("ports", [])
               if not str(p).startswith("127.0.0.1:")}
    # The issuer's HTTP port too: people's browsers and the CLI sign in there.
    assert exposed == {"${LINLI_POS_PORT:-50443}:50443", "${LINLI_PORTAL_PORT:-8080}:8080",
                       "${LINLI_ISSUER_PORT:-8090}:8090"}, \
        "only the POS edge, the web portal and the token issuer leave the host"


def test_env_example_documents_every_setting_and_every_variable_compose_reads() -> None:
    for names in env_names(ServiceSettings).values():
        assert any(name in ENV_EXAMPLE for name in names), names
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE_FILE.read_text()))
    defined = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", ENV_EXAMPLE, re.MULTILINE))
    assert used <= defined, used - defined
    assert "<SERVICE>_SERVICE_ADDR" in ENV_EXAMPLE


def test_the_pos_edge_is_partner_redemptions_only_port_beyond_the_host_and_speaks_tls() -> None:
    spec = COMPOSE["services"]["partner-redemption"]
    env = spec["environment"]
    assert env["LINLI_POS_PORT"] == "50443" and env["PORT"] == "50053"
    assert spec["ports"] == ["${LINLI_POS_PORT:-50443}:50443", "127.0.0.1:50053:50053"]
    # Its certificate names the host terminals reach, or the edge is given one of its own.
    assert "${LINLI_POS_HOST:-localhost}" in tls_init_certificates(COMPOSE)["partner-redemption"]
    assert {"LINLI_POS_TLS_CERT", "LINLI_POS_TLS_KEY"} <= set(env)
    # The tls-init job hands the services' keys to the services' user, and keeps NATS's.
    entrypoint = COMPOSE["services"]["tls-init"]["entrypoint"]
    assert entrypoint[entrypoint.index("--owner") + 1] == "10001:10001"
    assert "nats=nats-1,nats-2,nats-3,localhost,127.0.0.1" == entrypoint[entrypoint.index("--server") + 1]


def test_every_service_mounts_a_certificate_of_its_own_and_a_missing_one_is_found() -> None:
    for d in [*PLANNED, *planned_services(COMPOSE, protocol="http")]:
        spec = COMPOSE["services"][d.name]
        env = {str(k): str(v) for k, v in spec["environment"].items()}
        assert compose_tls_problems(d, COMPOSE, spec, env) == [], d.name
    d = PLANNED[0]
    broken = copy.deepcopy(COMPOSE)
    spec = broken["services"][d.name]
    spec["volumes"] = [v for v in spec["volumes"] if not v.startswith("tls:")]
    spec["environment"]["LINLI_GRPC_TLS_CERT"] = "/etc/linli/tls/portal.pem"
    entrypoint = broken["services"]["tls-init"]["entrypoint"]
    at = entrypoint.index(next(e for e in entrypoint if e.startswith(f"{d.name}=")))
    del entrypoint[at - 1:at + 1]
    env = {str(k): str(v) for k, v in spec["environment"].items()}
    assert compose_tls_problems(d, broken, spec, env) == [
        f"compose {d.name}: must mount the tls volume read-only at /etc/linli/tls",
        f"compose {d.name}: LINLI_GRPC_TLS_CERT must be /etc/linli/tls/{d.name}.pem, not '/etc/linli/tls/portal.pem'",
        f"compose {d.name}: the tls-init job issues it no certificate (--service {d.name}=…)",
    ]
