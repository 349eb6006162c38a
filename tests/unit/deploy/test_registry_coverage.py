"""Every service in the code base is deployed, with every setting it reads, in docker-compose.yml
and in each Kubernetes overlay — driven by the service registry, so a newly registered service
fails here until its deployment entries exist."""

from __future__ import annotations

import copy

import pytest
from pydantic import Field

from linli_runtime.registry import ServiceDescriptor, installed_services
from linli_runtime.settings import ServiceSettings
from tests.unit.deploy.deploykit import (
    HEALTH_PROBE,
    OVERLAYS,
    compose_problems,
    env_names,
    find,
    k8s_problems,
    load_compose,
    planned_services,
    render,
    required_env,
)

COMPOSE = load_compose()
PLANNED = planned_services(COMPOSE)
PLANNED_HTTP = planned_services(COMPOSE, protocol="http")
# The platform's services, by the names and ports README and DOMAIN use (the four domain services
# and identity). Their entries are written before they are registered; once registered, the
# registry-driven test takes over.
EXPECTED = {
    ("identity", "linli_identity.app", 50055),
    ("trust-governance", "linli_governance.app", 50051),
    ("volunteer-points", "linli_points.app", 50052),
    ("partner-redemption", "linli_redemption.app", 50053),
    ("notification", "linli_notification.app", 50054),
}


def every_service() -> list[ServiceDescriptor]:
    by_name = {d.name: d for d in [*PLANNED, *PLANNED_HTTP]}
    by_name.update({d.name: d for d in installed_services()})
    return list(by_name.values())


def test_the_runtime_settings_map_to_the_variables_the_deployment_sets() -> None:
    names = env_names(ServiceSettings)
    assert names["port"] == {"PORT", "LINLI_PORT"}
    assert names["database_url"] == {"DATABASE_URL", "LINLI_DATABASE_URL"}
    assert names["stream_replicas"] == {"LINLI_STREAM_REPLICAS"}
    assert names["issuer_url"] == {"LINLI_ISSUER_URL"}
    assert names["client_secret_file"] == {"LINLI_CLIENT_SECRET_FILE"}
    assert "jwt_secret" not in names and "jwt_issuer" not in names  # no shared signing key any more


def test_compose_and_k8s_carry_the_platform_services() -> None:
    assert {(d.name, d.module, d.default_port) for d in PLANNED} == EXPECTED


def test_compose_and_k8s_carry_the_web_portal_as_an_http_service() -> None:
    assert [(d.name, d.module, d.default_port, d.protocol) for d in PLANNED_HTTP] == [
        ("portal", "linli_portal.main", 8080, "http")]


@pytest.mark.parametrize("descriptor", installed_services(), ids=lambda d: d.name)
def test_every_registered_service_is_in_compose_with_every_setting_it_reads(descriptor: ServiceDescriptor) -> None:
    assert compose_problems(descriptor, COMPOSE, required_env(descriptor, every_service())) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("descriptor", installed_services(), ids=lambda d: d.name)
def test_every_registered_service_is_in_k8s_with_every_setting_it_reads(descriptor: ServiceDescriptor,
                                                                        overlay: str) -> None:
    assert k8s_problems(descriptor, render(overlay), required_env(descriptor, every_service()), overlay) == []


def test_every_planned_service_is_complete_in_compose() -> None:
    for d in PLANNED:
        assert compose_problems(d, COMPOSE, required_env(d, every_service(), [ServiceSettings])) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_planned_service_is_complete_in_k8s(overlay: str) -> None:
    docs = render(overlay)
    for d in PLANNED:
        assert k8s_problems(d, docs, required_env(d, every_service(), [ServiceSettings]), overlay) == []
    deployed = {doc["metadata"]["name"] for doc in find(docs, "Deployment")}
    assert deployed == {d.name for d in [*PLANNED, *PLANNED_HTTP]}, "compose and k8s deploy the same services"


# -- the checks bite --------------------------------------------------------------------------

GHOST = ServiceDescriptor(name="ghost-service", module="linli_ghost.main", default_port=50099)


def test_a_registered_service_missing_from_the_deployment_fails_the_checks() -> None:
    required = required_env(GHOST, [*every_service(), GHOST], [ServiceSettings])
    assert compose_problems(GHOST, COMPOSE, required) == ["compose: no service 'ghost-service'"]
    problems = k8s_problems(GHOST, render("overlays/production"), required)
    assert problems == [f"k8s: no {kind} 'ghost-service'" for kind in
                        ("Deployment", "Service", "ServiceAccount", "PodDisruptionBudget", "HorizontalPodAutoscaler")]
    # …and a new service's address is then missing from every existing service.
    d = PLANNED[0]
    assert "compose trust-governance: environment lacks GHOST_SERVICE_SERVICE_ADDR (GHOST_SERVICE_SERVICE_ADDR)" in \
        compose_problems(d, COMPOSE, required_env(d, [*every_service(), GHOST], [ServiceSettings]))


class SmsSettings(ServiceSettings):
    sms_gateway_url: str = ""
    sms_sender: str = Field(default="", validation_alias="SMS_SENDER_ID")


def test_a_setting_a_service_adds_must_be_set_in_both() -> None:
    d = next(d for d in PLANNED if d.name == "notification")
    required = required_env(d, every_service(), [ServiceSettings, SmsSettings])
    lacks = {"setting sms_gateway_url (LINLI_SMS_GATEWAY_URL)", "setting sms_sender (SMS_SENDER_ID)"}
    assert {p.split("lacks ")[1] for p in compose_problems(d, COMPOSE, required)} == lacks
    assert {p.split("lacks ")[1] for p in k8s_problems(d, render("overlays/dev"), required)} == lacks


def test_a_service_without_a_setting_in_compose_fails_the_checks() -> None:
    compose = copy.deepcopy(COMPOSE)
    d = PLANNED[1]
    del compose["services"][d.name]["environment"]["LINLI_STREAM_REPLICAS"]
    compose["services"][d.name]["depends_on"]["nats-2"]["condition"] = "service_started"
    compose["services"][d.name]["healthcheck"] = {"test": ["NONE"]}
    assert compose_problems(d, compose, required_env(d, every_service(), [ServiceSettings])) == [
        f"compose {d.name}: environment lacks setting stream_replicas (LINLI_STREAM_REPLICAS)",
        f"compose {d.name}: the health check must be the image's probe {HEALTH_PROBE}",
        f"compose {d.name}: must depend on nats-2 being service_healthy",
    ]


def test_a_weakened_deployment_fails_the_checks() -> None:
    docs = copy.deepcopy(list(render("overlays/production")))
    d = PLANNED[2]
    [deployment] = find(docs, "Deployment", d.name)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [e for e in container["env"] if e["name"] != "DATABASE_URL"] + [
        {"name": "DATABASE_URL", "value": "postgresql://x:y@z/w"}]
    container["readinessProbe"] = {"tcpSocket": {"port": d.default_port}}
    del container["securityContext"]["readOnlyRootFilesystem"]
    [service] = find(docs, "Service", d.name)
    service["spec"]["clusterIP"] = "10.0.0.1"
    assert k8s_problems(d, tuple(docs), required_env(d, every_service(), [ServiceSettings])) == [
        f"k8s {d.name}: readinessProbe must be a native grpc probe",
        f"k8s {d.name}: root filesystem must be read-only",
        f"k8s {d.name}: DATABASE_URL must come from a Secret",
        f"k8s {d.name}: Service must be headless (clusterIP: None) for round_robin",
    ]


def test_a_weakened_http_service_fails_the_checks() -> None:
    [d] = PLANNED_HTTP
    compose = copy.deepcopy(COMPOSE)
    spec = compose["services"][d.name]
    spec["healthcheck"] = {"test": ["CMD", "true"]}
    spec["environment"]["DATABASE_URL"] = "postgresql://x:y@postgres:5432/portal"
    del spec["environment"]["LINLI_PORTAL_CITIES"]
    assert compose_problems(d, compose, required_env(d, every_service())) == [
        f"compose {d.name}: environment lacks setting portal_cities (LINLI_PORTAL_CITIES)",
        f"compose {d.name}: the health check must be the image's probe {HEALTH_PROBE} "
        "(GET /healthz for an HTTP service)",
        f"compose {d.name}: an HTTP gateway has no database",
    ]
    docs = copy.deepcopy(list(render("overlays/production")))
    [deployment] = find(docs, "Deployment", d.name)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"] = {"tcpSocket": {"port": d.default_port}}
    container["ports"][0]["name"] = "web"
    assert k8s_problems(d, tuple(docs), required_env(d, every_service())) == [
        f"k8s {d.name}: container needs a port named http = {d.default_port}",
        f"k8s {d.name}: readinessProbe must be an httpGet probe on /healthz",
    ]


def test_an_http_service_needs_no_database_and_nobody_needs_its_address() -> None:
    [d] = PLANNED_HTTP
    required = required_env(d, every_service())
    assert "setting database_url" not in required and "setting nats_url" not in required
    assert "TRUST_GOVERNANCE_SERVICE_ADDR" in required and d.addr_env not in required
    assert d.addr_env not in required_env(PLANNED[0], every_service())


def test_a_service_without_its_grpc_certificate_or_probed_on_its_tls_port_fails_the_checks() -> None:
    docs = copy.deepcopy(list(render("overlays/production")))
    d = PLANNED[1]
    [deployment] = find(docs, "Deployment", d.name)
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    container["livenessProbe"]["grpc"]["port"] = d.default_port  # kubelet cannot speak TLS to it
    container["volumeMounts"] = [m for m in container["volumeMounts"] if m["name"] != "grpc-tls"]
    assert k8s_problems(d, tuple(docs), required_env(d, every_service(), [ServiceSettings])) == [
        f"k8s {d.name}: livenessProbe must ask the health port LINLI_HEALTH_PORT (8081), not {d.default_port}",
        f"k8s {d.name}: must mount its gRPC certificate's Secret at /etc/linli/grpc",
    ]
    docs = copy.deepcopy(list(render("overlays/production")))
    [certificate] = find(docs, "Certificate", f"{d.name}-grpc")
    certificate["spec"]["dnsNames"] = ["someone-else"]
    certificate["spec"]["usages"] = ["server auth"]
    assert k8s_problems(d, tuple(docs), required_env(d, every_service(), [ServiceSettings])) == [
        f"k8s {d.name}: its certificate {d.name}-grpc does not name {d.name}",
        f"k8s {d.name}: its certificate must allow server auth and client auth (mTLS)",
    ]
