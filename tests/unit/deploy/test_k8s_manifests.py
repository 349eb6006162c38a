"""deploy/k8s: every rendered manifest passes `kubernetes-validate --strict`; the custom resources
it cannot know (CloudNativePG) and the NATS cluster are checked by structure; the overlays differ
where they should; NetworkPolicies open only the POS port to the outside."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.unit.deploy.deploykit import K8S, OVERLAYS, Doc, find, kubectl, load_compose, planned_services, render
from tests.unit.deploy.minikustomize import build

# A current release and the newest schemas kubernetes-validate bundles.
K8S_VERSIONS = ("1.34.0", kubernetes_validate.latest_version())
CUSTOM_API_GROUPS = {"postgresql.cnpg.io"}
VALIDATE = str(Path(sys.executable).parent / "kubernetes-validate")
PLANNED = planned_services(load_compose())


def write(docs: tuple[Doc, ...] | list[Doc], path: Path) -> Path:
    path.write_text(yaml.safe_dump_all(list(docs), sort_keys=False))
    return path


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_manifest_passes_kubernetes_validate_strict(overlay: str, version: str, tmp_path: Path) -> None:
    rendered = write(render(overlay), tmp_path / "rendered.yaml")
    out = subprocess.run([VALIDATE, "--strict", "-k", version, str(rendered)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = (out.stdout + out.stderr).splitlines()
    assert not [line for line in lines if line.startswith(("ERROR", "FAIL"))]
    # Only the custom resources go unchecked by it; test_custom_resources_* cover those.
    unknown = {m.group(1) for line in lines if (m := re.search(r"api version ([\w.-]+)/", line))}
    assert unknown <= CUSTOM_API_GROUPS
    core = [d for d in render(overlay) if d["apiVersion"].split("/")[0] not in CUSTOM_API_GROUPS]
    assert sum(line.startswith("INFO") and "passed" in line for line in lines) == len(core)


def test_kubernetes_validate_rejects_what_it_should(tmp_path: Path) -> None:
    [deployment] = find(render("base"), "Deployment", PLANNED[0].name)
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpcc"] = {"port": 1}
    out = subprocess.run([VALIDATE, "--strict", str(write([broken], tmp_path / "broken.yaml"))],
                         capture_output=True, text=True)
    assert out.returncode != 0 and "grpcc" in out.stdout + out.stderr


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
        assert uri == f"postgresql://{username}:{password}@linli-pg-rw:5432/{d.db_name}"
    # Production generates none: they are created out of band (README "Running at scale").
    assert find(render("overlays/production"), "Secret") == []


# -- NATS -------------------------------------------------------------------------------------


def nats_conf(docs: tuple[Doc, ...]) -> str:
    [config_map] = [c for c in find(docs, "ConfigMap") if c["metadata"]["name"].startswith("nats-config")]
    return str(config_map["data"]["nats.conf"])


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


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_nats_configuration_is_valid_for_nats_server(overlay: str, tmp_path: Path) -> None:
    conf = tmp_path / "nats.conf"
    conf.write_text(nats_conf(render(overlay)))
    nats_server = Path(sys.executable).parent / "nats-server"
    out = subprocess.run([str(nats_server), "-c", str(conf), "-t"], capture_output=True, text=True,
                         env={"POD_NAME": "nats-0"})
    assert out.returncode == 0, out.stderr


# -- sizes per overlay ------------------------------------------------------------------------


def test_overlays_size_the_services_for_their_environment() -> None:
    for overlay, replicas, hpa_min in (("overlays/dev", 1, 1), ("base", 2, 2), ("overlays/production", 3, 3)):
        docs = render(overlay)
        for d in PLANNED:
            [deployment] = find(docs, "Deployment", d.name)
            [hpa] = find(docs, "HorizontalPodAutoscaler", d.name)
            assert deployment["spec"]["replicas"] == replicas, (overlay, d.name)
            assert hpa["spec"]["minReplicas"] == hpa_min and hpa["spec"]["maxReplicas"] > hpa_min
    [pos] = find(render("overlays/production"), "Service", "partner-redemption-pos")
    assert pos["spec"]["type"] == "LoadBalancer"


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
    assert {k for k, who in open_to.items() if who == "anyone"} == {("partner-redemption", 50053), ("portal", 8080),
                                                                    ("identity", 8090)}
    # The rest is opened only to named namespaces: the database operator and metrics scraping.
    others = {who for who in open_to.values() if who != "anyone"}
    assert others == {"namespaces {'kubernetes.io/metadata.name': 'cnpg-system'}",
                      "namespaces {'kubernetes.io/metadata.name': 'monitoring'}"}
    assert all(port == 9464 for (app, port), who in open_to.items() if "monitoring" in who)


# -- rendering ----------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lands_in_the_linli_namespace(overlay: str) -> None:
    for doc in render(overlay):
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "linli", (doc["kind"], doc["metadata"]["name"])
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "linli"


def comparable(docs: list[Doc]) -> list[Doc]:
    """Without kustomize's name hashes, Secret data decoded (kubectl wraps long base64)."""
    text = re.sub(r'"((?:linli|nats)-config)-[a-z0-9]{10}"', r'"\1"', json.dumps(docs))
    out = json.loads(text)
    for doc in out:
        if doc["kind"] == "Secret":
            doc["data"] = {k: base64.b64decode(v).decode() for k, v in doc["data"].items()}
    return sorted(out, key=lambda d: (d["kind"], d["metadata"]["name"]))


@pytest.mark.skipif(kubectl() is None, reason="compares the stand-in with kubectl's kustomize")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_minikustomize_matches_kubectl(overlay: str) -> None:
    assert comparable(build(K8S / overlay)) == comparable(list(render(overlay)))
