"""deploy/k8s, by structure: the custom resources kubernetes-validate cannot know (CloudNativePG,
cert-manager, Gateway API) and the NATS cluster; the overlays differ where they should;
NetworkPolicies open only the POS edge, the portal and the issuer to the outside, and the
Gateway terminates TLS for those three, its POS route reaching the POS edge's port alone. The
tools' own checks (kubernetes-validate --strict, nats-server -t, kubectl kustomize) run in
tests/integration/deploy/test_k8s_tools.py."""

from __future__ import annotations

import base64
import copy
import re
from pathlib import Path

import pytest

from tests.unit.deploy.deploykit import (
    OVERLAYS,
    Doc,
    container_env,
    find,
    load_compose,
    nats_conf,
    planned_services,
    render,
)

PLANNED = planned_services(load_compose())


# -- CloudNativePG ----------------------------------------------------------------------------

# The Cluster spec fields this project may use (CloudNativePG v1): a typo fails here, as the
# operator's own schema would refuse it at apply time.
CNPG_SPEC_FIELDS = {
    "instances", "imageName", "primaryUpdateStrategy", "primaryUpdateMethod", "storage", "walStorage",
    "postgresql", "resources", "bootstrap", "managed", "monitoring", "affinity", "backup", "description",
    "enableSuperuserAccess", "superuserSecret", "minSyncReplicas", "maxSyncReplicas", "startDelay",
    "stopDelay", "switchoverDelay", "failoverDelay", "logLevel", "priorityClassName", "topologySpreadConstraints",
    "enablePDB", "env", "envFrom", "inheritedMetadata", "replicationSlots", "smartShutdownTimeout", "plugins",
}
QUANTITY = re.compile(r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|m)?$")


def cluster(overlay: str) -> Doc:
    [pg] = find(render(overlay), "Cluster")
    return pg


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_cnpg_cluster_has_a_database_and_role_per_service(overlay: str) -> None:
    pg = cluster(overlay)
    assert pg["apiVersion"] == "postgresql.cnpg.io/v1" and pg["metadata"]["namespace"] == "linli"
    spec = pg["spec"]
    assert set(spec) <= CNPG_SPEC_FIELDS, set(spec) - CNPG_SPEC_FIELDS
    assert isinstance(spec["instances"], int) and spec["instances"] >= 1
    assert QUANTITY.match(spec["storage"]["size"])
    for part in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(spec["resources"][part])
    statements = spec["bootstrap"]["initdb"]["postInitSQL"]
    roles = {r["name"]: r for r in spec["managed"]["roles"]}
    docs = render(overlay)
    for d in PLANNED:
        assert f"CREATE ROLE {d.db_name} LOGIN" in statements
        assert f"CREATE DATABASE {d.db_name} OWNER {d.db_name}" in statements
        assert f"REVOKE ALL ON DATABASE {d.db_name} FROM PUBLIC" in statements
        role = roles[d.db_name]
        assert role["ensure"] == "present" and role["login"] is True
        # The operator sets the role's password from the same Secret the service reads its URL from.
        [deployment] = find(docs, "Deployment", d.name)
        env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": role["passwordSecret"]["name"],
                                                                   "key": "uri"}


def test_production_runs_three_database_instances_and_dev_one() -> None:
    assert cluster("overlays/production")["spec"]["instances"] == 3
    assert cluster("overlays/dev")["spec"]["instances"] == 1
    assert "walStorage" not in cluster("overlays/dev")["spec"]


def test_dev_generates_every_secret_the_services_and_the_database_need() -> None:
    docs = render("overlays/dev")
    secrets = {s["metadata"]["name"]: s for s in find(docs, "Secret")}
    for d in PLANNED:
        [deployment] = find(docs, "Deployment", d.name)
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]:
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in secrets[ref["name"]]["data"], (d.name, ref)
        db_secret = secrets[f"linli-{d.name}-db"]
        assert db_secret["type"] == "kubernetes.io/basic-auth"
        assert {"username", "password", "uri"} <= set(db_secret["data"])
        username = base64.b64decode(db_secret["data"]["username"]).decode()
        password = base64.b64decode(db_secret["data"]["password"]).decode()
        uri = base64.b64decode(db_secret["data"]["uri"]).decode()
        assert username == d.db_name, "CloudNativePG manages the role named in the secret"
        # Through the PgBouncer Pooler (postgres/pooler.yaml), never straight to the primary.
        assert uri == f"postgresql://{username}:{password}@linli-pg-pooler-rw:5432/{d.db_name}"
    # Production generates none: they are created out of band (README "Running at scale").
    assert find(render("overlays/production"), "Secret") == []


# -- NATS -------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nats_is_a_three_node_jetstream_cluster_routed_through_its_headless_service(overlay: str) -> None:
    docs = render(overlay)
    [sts] = find(docs, "StatefulSet", "nats")
    replicas = sts["spec"]["replicas"]
    assert replicas == 3
    [headless] = find(docs, "Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is True
    assert {p["name"] for p in headless["spec"]["ports"]} >= {"client", "cluster"}
    conf = nats_conf(docs)
    routes = re.findall(r"nats://([\w.-]+):6222", conf)
    assert routes == [f"nats-{i}.{headless['metadata']['name']}" for i in range(replicas)]
    assert "jetstream" in conf and "name: linli" in conf
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    [pdb] = find(docs, "PodDisruptionBudget", "nats")
    assert pdb["spec"]["maxUnavailable"] == 1, "never more than one NATS node down by choice"
    # Services reach every node; their streams get at most as many replicas as there are nodes.
    [config] = [c for c in find(docs, "ConfigMap") if c["metadata"]["name"].startswith("linli-config")]
    urls = config["data"]["NATS_URL"].split(",")
    assert urls == [f"nats://nats-{i}.{headless['metadata']['name']}:4222" for i in range(replicas)]
    assert 1 <= int(config["data"]["LINLI_STREAM_REPLICAS"]) <= replicas


def test_production_replicates_every_stream_three_ways() -> None:
    def setting(overlay: str, key: str) -> str:
        [config] = [c for c in find(render(overlay), "ConfigMap") if c["metadata"]["name"].startswith("linli-config")]
        return str(config["data"][key])

    assert setting("overlays/production", "LINLI_STREAM_REPLICAS") == "3"
    assert setting("overlays/production", "LINLI_DEMO_DATA") == "false"
    assert setting("overlays/dev", "LINLI_DEMO_DATA") == "true"


# -- sizes per overlay ------------------------------------------------------------------------


def test_overlays_size_the_services_for_their_environment() -> None:
    for overlay, replicas, hpa_min in (("overlays/dev", 1, 1), ("base", 2, 2), ("overlays/production", 3, 3)):
        docs = render(overlay)
        for d in PLANNED:
            [deployment] = find(docs, "Deployment", d.name)
            [hpa] = find(docs, "HorizontalPodAutoscaler", d.name)
            assert deployment["spec"]["replicas"] == replicas, (overlay, d.name)
            assert hpa["spec"]["minReplicas"] == hpa_min and hpa["spec"]["maxReplicas"] > hpa_min
    # The public entry is the Gateway's (its implementation makes the load balancer), not the Service's.
    [pos] = find(render("overlays/production"), "Service", "partner-redemption-pos")
    assert pos["spec"]["type"] == "ClusterIP"


# -- NetworkPolicies --------------------------------------------------------------------------


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def reachable_from_outside(docs: tuple[Doc, ...]) -> dict[tuple[str, int | str], str]:
    """(pod app, port) → who outside the namespace may connect, by the ingress policies."""
    pods = {}
    for kind in ("Deployment", "StatefulSet"):
        for workload in find(docs, kind):
            template = workload["spec"]["template"]
            ports = [p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])]
            pods[workload["metadata"]["name"]] = (template["metadata"]["labels"], ports)
    pods["linli-pg"] = ({"cnpg.io/cluster": "linli-pg"}, [5432, 8000])  # the operator's pods
    open_to: dict[tuple[str, int | str], str] = {}
    for policy in find(docs, "NetworkPolicy"):
        for app, (labels, ports) in pods.items():
            if not selects(policy["spec"]["podSelector"], labels):
                continue
            for rule in policy["spec"].get("ingress") or []:
                sources = rule.get("from")
                if sources and all("namespaceSelector" not in s and "ipBlock" not in s for s in sources):
                    continue  # this namespace only
                who = "anyone" if not sources else "namespaces " + ",".join(
                    str(s["namespaceSelector"]["matchLabels"]) for s in sources)
                for port in [p["port"] for p in rule.get("ports") or []] or ports:
                    open_to[(app, port)] = who
    return open_to


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_pos_port_the_portal_and_the_issuer_are_reachable_from_outside_the_namespace(overlay: str) -> None:
    docs = render(overlay)
    [deny] = find(docs, "NetworkPolicy", "default-deny-ingress")
    assert deny["spec"]["podSelector"] == {} and deny["spec"]["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny["spec"]
    open_to = reachable_from_outside(docs)
    # The issuer's HTTP port (8090): browsers and the CLI sign in there; its gRPC admin API stays inside.
    # partner-redemption's POS edge (50443), never its own port 50053 (every other API).
    assert {k for k, who in open_to.items() if who == "anyone"} == {("partner-redemption", 50443), ("portal", 8080),
                                                                    ("identity", 8090)}
    # The rest is opened only to named namespaces: the database operator and metrics scraping.
    others = {who for who in open_to.values() if who != "anyone"}
    assert others == {"namespaces {'kubernetes.io/metadata.name': 'cnpg-system'}",
                      "namespaces {'kubernetes.io/metadata.name': 'monitoring'}"}
    assert all(port == 9464 for (app, port), who in open_to.items() if "monitoring" in who)


# -- namespaces ---------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lands_in_the_linli_namespace(overlay: str) -> None:
    for doc in render(overlay):
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "linli", (doc["kind"], doc["metadata"]["name"])
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "linli"


# -- the Gateway: TLS for the public names, the POS route to the POS edge alone ------------------

POS_SERVICES = {"linli.redemption.v1.PosService", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
                "grpc.reflection.v1.ServerReflection"}


def listener_problems(docs: tuple[Doc, ...], parent: Doc, route: Doc) -> list[str]:
    """The route's listener terminates TLS for the route's host names with a certificate that a
    deployed cert-manager Certificate issues for that name."""
    name = route["metadata"]["name"]
    gateways = find(docs, "Gateway", parent["name"])
    if not gateways:
        return [f"route {name}: no Gateway {parent['name']}"]
    listeners = {item["name"]: item for item in gateways[0]["spec"]["listeners"]}
    listener = listeners.get(parent.get("sectionName", ""))
    if listener is None:
        return [f"route {name}: attached to no listener of its own"]
    problems = []
    tls = listener.get("tls") or {}
    if listener.get("protocol") != "HTTPS" or tls.get("mode") != "Terminate":
        problems.append(f"route {name}: its listener {listener['name']} must terminate TLS (HTTPS)")
    if route["spec"].get("hostnames") != [listener.get("hostname")]:
        problems.append(f"route {name}: its host names are not its listener's")
    for ref in tls.get("certificateRefs") or []:
        issued = [c for c in find(docs, "Certificate") if c["spec"].get("secretName") == ref["name"]]
        if not issued or listener.get("hostname") not in issued[0]["spec"].get("dnsNames", []):
            problems.append(f"route {name}: no Certificate issues {ref['name']} for {listener.get('hostname')}")
        elif not find(docs, issued[0]["spec"]["issuerRef"].get("kind", "Issuer"),
                      issued[0]["spec"]["issuerRef"]["name"]):
            problems.append(f"route {name}: the issuer of {ref['name']} is not deployed")
    return problems


def pos_route_problems(docs: tuple[Doc, ...]) -> list[str]:
    """The GRPCRoute `pos`: behind a TLS-terminating listener, it sends PosService, health and
    reflection — nothing else — to partner-redemption's POS edge alone: a Service port whose
    target is the container port LINLI_POS_PORT names (never the service's own port), reached
    over TLS again (a BackendTLSPolicy checking a name partner-redemption's certificate carries)."""
    routes = find(docs, "GRPCRoute", "pos")
    if not routes:
        return ["no GRPCRoute pos"]
    route = routes[0]
    problems = []
    for parent in route["spec"]["parentRefs"]:
        problems += listener_problems(docs, parent, route)
    matched = {m["method"]["service"] for rule in route["spec"]["rules"] for m in rule.get("matches") or []}
    if not matched or matched - POS_SERVICES:
        problems.append(f"route pos: sends {sorted(matched - POS_SERVICES) or 'every service'} to the POS edge")
    [deployment] = find(docs, "Deployment", "partner-redemption")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = container_env(container, docs)
    edge_port = int(env.literal.get("LINLI_POS_PORT", "0"))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for rule in route["spec"]["rules"]:
        for backend in rule.get("backendRefs") or []:
            services = find(docs, "Service", backend["name"])
            if not services:
                problems.append(f"route pos: no Service {backend['name']}")
                continue
            [port] = [p for p in services[0]["spec"]["ports"] if p["port"] == backend["port"]] or [{}]
            target = port.get("targetPort")
            target = ports.get(target, target) if isinstance(target, str) else target
            if not edge_port or target != edge_port or target == int(env.literal.get("PORT", "0")):
                problems.append(f"route pos: reaches {backend['name']}:{backend['port']} → container port {target}, "
                                f"not the POS edge (LINLI_POS_PORT={edge_port or 'unset'})")
                continue
            policies = [b for b in find(docs, "BackendTLSPolicy") if any(
                t["name"] == backend["name"] and t.get("sectionName") == port.get("name")
                for t in b["spec"]["targetRefs"])]
            [certificate] = [c for c in find(docs, "Certificate") if c["metadata"]["name"] == "partner-redemption-grpc"]
            if not policies or policies[0]["spec"]["validation"]["hostname"] not in certificate["spec"]["dnsNames"]:
                problems.append(f"route pos: the hop to {backend['name']} is not TLS checked against the pods' name")
    return problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_pos_route_reaches_the_pos_edge_only_behind_the_gateways_tls(overlay: str) -> None:
    assert pos_route_problems(render(overlay)) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_portal_and_the_issuer_are_behind_the_gateways_tls(overlay: str) -> None:
    docs = render(overlay)
    for name, backend in (("portal", ("portal", 8080)), ("issuer", ("identity-issuer", 8090))):
        [route] = find(docs, "HTTPRoute", name)
        for parent in route["spec"]["parentRefs"]:
            assert listener_problems(docs, parent, route) == [], name
        assert [(b["name"], b["port"]) for r in route["spec"]["rules"] for b in r["backendRefs"]] == [backend]
    [issuer] = find(docs, "Issuer", "linli-public")
    # Production asks Let's Encrypt; a development cluster issues them from Linli's own CA.
    assert ("ca" in issuer["spec"]) == (overlay == "overlays/dev")


def test_a_pos_route_to_the_services_own_port_or_to_admin_apis_is_found() -> None:
    docs = copy.deepcopy(list(render("overlays/production")))
    [route] = find(docs, "GRPCRoute", "pos")
    route["spec"]["rules"][0]["matches"].append({"method": {"service": "linli.redemption.v1.PartnerService"}})
    route["spec"]["rules"][0]["backendRefs"] = [{"name": "partner-redemption", "port": 50053}]
    [gateway] = find(docs, "Gateway", "linli-edge")
    [listener] = [item for item in gateway["spec"]["listeners"] if item["name"] == "pos"]
    listener["protocol"], listener["tls"] = "HTTP", {}
    assert pos_route_problems(tuple(docs)) == [
        "route pos: its listener pos must terminate TLS (HTTPS)",
        "route pos: sends ['linli.redemption.v1.PartnerService'] to the POS edge",
        "route pos: reaches partner-redemption:50053 → container port 50053, not the POS edge (LINLI_POS_PORT=50443)",
    ]


# -- the CA bundle: no manual step --------------------------------------------------------------

REPO = Path(__file__).resolve().parents[3]


def ca_bundle_problems(docs: tuple[Doc, ...]) -> list[str]:
    """Every ConfigMap a BackendTLSPolicy trusts is made by the manifests: a ConfigMap of theirs,
    or a trust-manager Bundle of that name writing the CA's certificate (`ca.crt` of the secret
    of the Certificate that is the CA) into a ConfigMap in the namespace linli."""
    made = {d["metadata"]["name"] for d in find(docs, "ConfigMap")}
    bundles = {b["metadata"]["name"]: b for b in find(docs, "Bundle")}
    cas = [c["spec"]["secretName"] for c in find(docs, "Certificate") if c["spec"].get("isCA")]
    problems = []
    trusted = {ref["name"] for policy in find(docs, "BackendTLSPolicy")
               for ref in policy["spec"]["validation"].get("caCertificateRefs", []) if ref.get("kind") == "ConfigMap"}
    if not trusted:
        problems.append("no BackendTLSPolicy trusts a CA bundle")
    for name in sorted(trusted):
        if name in made:
            continue
        bundle = bundles.get(name)
        if bundle is None:
            problems.append(f"nothing makes the ConfigMap {name} (a manual step)")
            continue
        spec = bundle["spec"]
        sources = [s.get("secret", {}) for s in spec.get("sources", [])]
        if not sources or any(s.get("name") not in cas or s.get("key") != "ca.crt" for s in sources):
            problems.append(f"Bundle {name}: sources {spec.get('sources')} are not the CA's certificate ({cas})")
        target = spec.get("target", {})
        if target.get("configMap", {}).get("key") != "ca.crt":
            problems.append(f"Bundle {name}: writes no ConfigMap key ca.crt")
        selector = target.get("namespaceSelector", {}).get("matchLabels", {})
        if selector != {"kubernetes.io/metadata.name": "linli"}:
            problems.append(f"Bundle {name}: its ConfigMap does not land in the namespace linli ({selector})")
    return problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ca_bundle_the_gateway_trusts_is_made_from_the_ca_by_trust_manager(overlay: str) -> None:
    assert ca_bundle_problems(render(overlay)) == []


def test_a_ca_bundle_left_to_a_manual_step_or_from_another_source_is_found() -> None:
    docs = render("overlays/production")
    without = tuple(d for d in docs if d["kind"] != "Bundle")
    assert ca_bundle_problems(without) == ["nothing makes the ConfigMap linli-ca-bundle (a manual step)"]
    wrong = copy.deepcopy(docs)
    [bundle] = find(wrong, "Bundle")
    bundle["spec"]["sources"] = [{"secret": {"name": "nats-tls", "key": "ca.crt"}}]
    assert ca_bundle_problems(wrong) and "not the CA's certificate" in ca_bundle_problems(wrong)[0]


def test_no_document_asks_an_operator_to_make_the_ca_bundle_by_hand() -> None:
    for path in (REPO / "README.md", *sorted((REPO / "deploy").rglob("*.yaml"))):
        assert "create configmap linli-ca-bundle" not in path.read_text(encoding="utf-8"), path
