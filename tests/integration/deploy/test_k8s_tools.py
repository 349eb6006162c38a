"""deploy/k8s through the real tools: every rendered manifest passes `kubernetes-validate
--strict` for every Kubernetes release from 1.30 to 1.33 and the newest it bundles (the custom
resources it cannot know — CloudNativePG, cert-manager, the Prometheus Operator — are checked by
structure in tests/unit/deploy), `nats-server -t` accepts the NATS configuration, and
the in-process kustomize stand-in the unit tier renders with builds what `kubectl kustomize`
builds."""

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

from tests.unit.deploy.deploykit import (
    OVERLAYS,
    Doc,
    checkable_nats_conf,
    find,
    kubectl,
    kubectl_render,
    load_compose,
    nats_conf,
    nats_test_env,
    planned_services,
    render,
)

# The releases issue 15 names (1.30–1.33), and the newest schemas kubernetes-validate bundles.
K8S_VERSIONS = ("1.30.0", "1.31.0", "1.32.0", "1.33.0", kubernetes_validate.latest_version())
# Custom resources: CloudNativePG, cert-manager and its trust-manager, the Prometheus Operator,
# Gateway API (covered by tests/unit/deploy/test_k8s_manifests.py).
CUSTOM_API_GROUPS = {"postgresql.cnpg.io", "cert-manager.io", "trust.cert-manager.io", "monitoring.coreos.com",
                     "gateway.networking.k8s.io"}
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


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_nats_configuration_is_valid_for_nats_server(overlay: str, tmp_path: Path) -> None:
    # The files cert-manager writes into the secret nats-tls, the users' passwords, the store
    # limit the StatefulSet sets.
    conf = checkable_nats_conf(nats_conf(render(overlay)), tmp_path, ("tls.crt", "tls.key", "ca.crt"))
    [statefulset] = find(render(overlay), "StatefulSet", "nats")
    [limit] = [e["value"] for e in statefulset["spec"]["template"]["spec"]["containers"][0]["env"]
               if e["name"] == "JS_MAX_FILE_STORE"]
    nats_server = Path(sys.executable).parent / "nats-server"
    out = subprocess.run([str(nats_server), "-c", str(conf), "-t"], capture_output=True, text=True,
                         env=nats_test_env(POD_NAME="nats-0", JS_MAX_FILE_STORE=limit))
    assert out.returncode == 0, out.stderr


def comparable(docs: list[Doc]) -> list[Doc]:
    """Without kustomize's name hashes, Secret data decoded (kubectl wraps long base64)."""
    text = re.sub(r'"((?:linli|nats)-config)-[a-z0-9]{10}"', r'"\1"', json.dumps(docs))
    out = json.loads(text)
    for doc in out:
        if doc["kind"] == "Secret":
            doc["data"] = {k: base64.b64decode(v).decode() for k, v in doc["data"].items()}
    return sorted(out, key=lambda d: (d["kind"], d["metadata"]["name"]))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_kustomize_stand_in_builds_what_kubectl_builds(overlay: str) -> None:
    binary = kubectl()
    if binary is None:
        pytest.skip("kubectl is not installed: the unit tier's stand-in is unchecked here")
    assert comparable(list(render(overlay))) == comparable(list(kubectl_render(overlay, binary)))
