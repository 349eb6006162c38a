"""Just enough of kustomize to render deploy/k8s where `kubectl kustomize` is not installed:
resources, components (their resources and patches), namespace, labels, configMap/secret
generators (with merge), images (newName, newTag) and JSON 6902 patches. Generated names get
no hash suffix. `test_minikustomize_matches_kubectl` keeps it
honest against the real thing wherever kubectl is present."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume",
                  "StorageClass"}


def build(directory: Path) -> list[Doc]:
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    docs: list[Doc] = []
    for resource in spec.get("resources", []):
        path = directory / resource
        if path.is_dir():
            docs += build(path)
        else:
            docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for component in spec.get("components", []):
        docs = _component(directory / component, docs)
    generated = _generate(directory, spec, docs)
    docs = [*generated, *docs]
    _patch(spec, docs)
    for image in spec.get("images", []):
        for doc in docs:
            for container in _containers(doc):
                name, _, tag = container["image"].partition(":")
                if name == image["name"]:
                    container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
    if "namespace" in spec:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = spec["namespace"]
    for label_set in spec.get("labels", []):
        for doc in docs:
            doc["metadata"].setdefault("labels", {}).update(label_set["pairs"])
    return docs


def _patch(spec: Doc, docs: list[Doc]) -> None:
    for patch in spec.get("patches", []):
        for doc in docs:
            if _targets(patch.get("target", {}), doc):
                for op in yaml.safe_load(patch["patch"]):
                    _apply(doc, op)


def _component(directory: Path, docs: list[Doc]) -> list[Doc]:
    """A kustomize Component: its resources join the parent's, then its patches apply to all."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    assert spec.get("kind") == "Component", f"{directory} is not a Component"
    for resource in spec.get("resources", []):
        docs = [*docs, *[doc for doc in yaml.safe_load_all((directory / resource).read_text()) if doc]]
    _patch(spec, docs)
    return docs


def _generate(directory: Path, spec: Doc, existing: list[Doc]) -> list[Doc]:
    new: list[Doc] = []
    for kind, key in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for generator in spec.get(key, []):
            data: dict[str, str] = {}
            for literal in generator.get("literals", []):
                name, _, value = literal.partition("=")
                data[name] = value
            for file in generator.get("files", []):
                data[Path(file).name] = (directory / file).read_text()
            if kind == "Secret":
                data = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
            if generator.get("behavior") == "merge":
                [target] = [d for d in existing if d["kind"] == kind and d["metadata"]["name"] == generator["name"]]
                target["data"].update(data)
                continue
            doc: Doc = {"apiVersion": "v1", "kind": kind, "metadata": {"name": generator["name"]}, "data": data}
            if kind == "Secret":
                doc["type"] = generator.get("type", "Opaque")
            new.append(doc)
    return new


def _targets(target: Doc, doc: Doc) -> bool:
    if "kind" in target and doc["kind"] != target["kind"]:
        return False
    if "name" in target and doc["metadata"]["name"] != target["name"]:
        return False
    if "labelSelector" in target:
        key, _, value = target["labelSelector"].partition("=")
        if doc["metadata"].get("labels", {}).get(key) != value:
            return False
    return True


def _containers(doc: Doc) -> list[Doc]:
    template = doc.get("spec", {}).get("template", {})
    return list(template.get("spec", {}).get("containers", [])) if isinstance(template, dict) else []


def _apply(doc: Doc, op: Doc) -> None:
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        index = len(node) if last == "-" else int(last)
        if op["op"] == "add":
            node.insert(index, copy.deepcopy(op["value"]))
        elif op["op"] == "replace":
            node[index] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            del node[index]
        else:
            raise ValueError(f"unsupported patch op {op['op']}")
        return
    if op["op"] in ("add", "replace"):
        if op["op"] == "replace" and last not in node:
            raise KeyError(f"replace of a missing path {op['path']}")
        node[last] = copy.deepcopy(op["value"])
    elif op["op"] == "remove":
        del node[last]
    else:
        raise ValueError(f"unsupported patch op {op['op']}")
