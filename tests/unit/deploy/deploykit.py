"""Reading the deployment files and checking them against the code base.

What a service needs from its deployment is read from the code, not listed here: the service
registry (entry points, `linli_runtime.registry.installed_services()`), the settings the runtime
reads (`ServiceSettings` and any subclass a service defines), each descriptor's `addr_env`, and
`os.environ` reads in a service's source. Each check returns a list of problems (empty = fine),
so that tests can also prove a check fails when something is missing.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import itertools
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from linli_runtime.registry import ServiceDescriptor
from linli_runtime.settings import ServiceSettings
from tests.unit.deploy.minikustomize import build

REPO = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO / "docker-compose.yml"
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("base", "overlays/dev", "overlays/production")
INFRA = ("postgres", "nats-1", "nats-2", "nats-3")

Doc = dict[str, Any]


# -- what the code reads ------------------------------------------------------------------------


def env_names(settings_cls: type[BaseSettings]) -> dict[str, set[str]]:
    """Each settings field → the environment variable names that set it."""
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    names: dict[str, set[str]] = {}
    for field_name, info in settings_cls.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            accepted = {c.upper() for c in alias.choices if isinstance(c, str)}
        elif isinstance(alias, str):
            accepted = {alias.upper()}
        else:
            accepted = {(prefix + field_name).upper()}
        names[field_name] = accepted
    return names


ENV_READ = re.compile(r"""os\.(?:environ(?:\.get)?\s*[\[(]|getenv\s*\()\s*["']([A-Z][A-Z0-9_]*)["']""")
SETTINGS_SUBCLASS = re.compile(r"^class\s+\w+\(\s*[\w.]*(?:ServiceSettings|IssuerSettings|BaseSettings)\s*\)",
                               re.MULTILINE)
# A compose service's label saying it is an HTTP service (the web portal) rather than a gRPC one.
# The one health probe of every image: gRPC health or GET /healthz, by the service's protocol.
HEALTH_PROBE = ["CMD", "python", "-m", "linli_runtime.healthcheck"]
PROTOCOL_LABEL = "org.linli.protocol"
# Where compose mounts the tls volume (the tls-init job's CA and certificates) and where each
# Kubernetes pod mounts its cert-manager gRPC certificate.
COMPOSE_TLS_DIR = "/etc/linli/tls"
K8S_GRPC_TLS_DIR = "/etc/linli/grpc"


def package_dir(descriptor: ServiceDescriptor) -> Path | None:
    spec = importlib.util.find_spec(descriptor.module.split(".")[0])
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def service_sources(descriptor: ServiceDescriptor) -> Iterable[tuple[str, str]]:
    """(module name, source) of every module in a service's package, migrations excepted."""
    root = package_dir(descriptor)
    if root is None:
        return
    top = descriptor.module.split(".")[0]
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if "migrations" in rel.parts:
            continue
        module = ".".join((top, *rel.with_suffix("").parts)).removesuffix(".__init__")
        yield module, path.read_text(encoding="utf-8")


def service_settings_classes(descriptor: ServiceDescriptor) -> list[type[BaseSettings]]:
    """ServiceSettings and every subclass the service defines (its own settings); an HTTP
    service (no database, no event bus) only the settings classes it defines itself."""
    found: list[type[BaseSettings]] = [ServiceSettings] if descriptor.protocol == "grpc" else []
    for module_name, source in service_sources(descriptor):
        if not SETTINGS_SUBCLASS.search(source):
            continue
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseSettings) and value.__module__ == module_name:
                found.append(value)
    return found


def required_env(descriptor: ServiceDescriptor, every_service: list[ServiceDescriptor],
                 settings_classes: list[type[BaseSettings]] | None = None) -> dict[str, set[str]]:
    """What a deployment must set for `descriptor`: requirement → names that satisfy it.

    By default read from the service's code (its settings classes and `os.environ` reads);
    with `settings_classes` given, exactly those settings (and the addresses) are required."""
    required: dict[str, set[str]] = {}
    for cls in settings_classes if settings_classes is not None else service_settings_classes(descriptor):
        for field_name, names in env_names(cls).items():
            required[f"setting {field_name}"] = names
    for other in every_service:
        if other.protocol == "grpc":  # nothing dials an HTTP service's address
            required[other.addr_env] = {other.addr_env}
    if settings_classes is None:
        for _, source in service_sources(descriptor):
            for name in ENV_READ.findall(source):
                required.setdefault(name, {name})
    return required


def planned_services(compose: Doc, protocol: str = "grpc") -> list[ServiceDescriptor]:
    """The Linli services docker-compose.yml builds (a `SERVICE_MODULE` build argument), as
    descriptors — the same checks run on them before the services are registered. By default
    the gRPC services (each with its database); `protocol="http"` for the web portal."""
    planned = []
    for name, spec in compose["services"].items():
        module = (spec.get("build") or {}).get("args", {}).get("SERVICE_MODULE")
        kind = (spec.get("labels") or {}).get(PROTOCOL_LABEL, "grpc")
        one_shot = spec.get("restart") == "no"  # a job built from a service's image (tls-init)
        if module and not spec.get("profiles") and not one_shot and kind == protocol:
            planned.append(ServiceDescriptor(name=name, module=module, default_port=int(spec["environment"]["PORT"]),
                                             protocol=kind))
    return planned


# -- loading the files --------------------------------------------------------------------------


def load_compose(path: Path = COMPOSE_FILE) -> Doc:
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def kubectl() -> str | None:
    return shutil.which("kubectl")


@functools.cache
def render(overlay: str) -> tuple[Doc, ...]:
    """The manifests of a kustomization under deploy/k8s, built in-process by the small stand-in
    in minikustomize.py (the unit tier starts no process); tests/integration/deploy checks that
    it builds what `kubectl kustomize` builds."""
    return tuple(build(K8S / overlay))


def kubectl_render(overlay: str, binary: str) -> tuple[Doc, ...]:
    """What `kubectl kustomize` (no cluster needed) builds from the same kustomization."""
    out = subprocess.run([binary, "kustomize", str(K8S / overlay)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"kustomize {overlay} failed: {out.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(out.stdout) if doc)


def find(docs: Iterable[Doc], kind: str, name: str | None = None) -> list[Doc]:
    return [d for d in docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]


def nats_conf(docs: Iterable[Doc]) -> str:
    """The nats.conf that the NATS StatefulSet mounts from its ConfigMap."""
    [config_map] = [c for c in find(docs, "ConfigMap") if c["metadata"]["name"].startswith("nats-config")]
    return str(config_map["data"]["nats.conf"])


# -- the checks ---------------------------------------------------------------------------------


def missing(required: dict[str, set[str]], present: set[str]) -> list[str]:
    return sorted(f"{what} ({' or '.join(sorted(names))})" for what, names in required.items()
                  if not names & present)


def compose_problems(d: ServiceDescriptor, compose: Doc, required: dict[str, set[str]]) -> list[str]:
    spec = compose.get("services", {}).get(d.name)
    if spec is None:
        return [f"compose: no service {d.name!r}"]
    problems = []
    module = (spec.get("build") or {}).get("args", {}).get("SERVICE_MODULE")
    if module != d.module:
        problems.append(f"compose {d.name}: builds SERVICE_MODULE={module!r}, not {d.module!r}")
    env = {str(k): str(v) for k, v in (spec.get("environment") or {}).items()}
    problems += [f"compose {d.name}: environment lacks {m}" for m in missing(required, set(env))]
    if d.default_port and env.get("PORT") != str(d.default_port):
        problems.append(f"compose {d.name}: PORT={env.get('PORT')!r}, expected {d.default_port}")
    if env.get("LINLI_HOST") != "0.0.0.0":
        problems.append(f"compose {d.name}: LINLI_HOST must be 0.0.0.0 inside a container")
    problems += compose_tls_problems(d, compose, spec, env)
    if d.protocol == "http":
        return problems + _compose_http_problems(d, spec)
    if not env.get("DATABASE_URL", "").startswith("postgresql://") or not env["DATABASE_URL"].endswith(f"/{d.db_name}"):
        problems.append(f"compose {d.name}: DATABASE_URL must point at its own database {d.db_name!r}")
    health = (spec.get("healthcheck") or {}).get("test") or []
    if health != HEALTH_PROBE:
        problems.append(f"compose {d.name}: the health check must be the image's probe {HEALTH_PROBE}")
    depends = spec.get("depends_on") or {}
    for infra in INFRA:
        if (depends.get(infra) or {}).get("condition") != "service_healthy":
            problems.append(f"compose {d.name}: must depend on {infra} being service_healthy")
    seed = compose["services"].get(f"seed-{d.name}")
    if seed is None or "demo" not in (seed.get("profiles") or []):
        problems.append(f"compose {d.name}: no demo-data seeder seed-{d.name} in profile 'demo'")
    elif str(seed["environment"].get("LINLI_DEMO_DATA")) != "true":
        problems.append(f"compose seed-{d.name}: LINLI_DEMO_DATA must be true")
    return problems


def tls_init_certificates(compose: Doc) -> dict[str, list[str]]:
    """The services' gRPC certificates the tls-init job issues: name → the hosts it names."""
    entrypoint = (compose.get("services", {}).get("tls-init") or {}).get("entrypoint") or []
    issued: dict[str, list[str]] = {}
    for flag, value in itertools.pairwise(entrypoint):
        if flag == "--service":
            name, _, hosts = str(value).partition("=")
            issued[name] = hosts.split(",")
    return issued


def compose_tls_problems(d: ServiceDescriptor, compose: Doc, spec: Doc, env: dict[str, str]) -> list[str]:
    """gRPC over TLS in compose: the service mounts the tls volume, is given the CA and its own
    certificate, which the tls-init job issues for its name and 127.0.0.1 (the health check's)."""
    problems = []
    if f"tls:{COMPOSE_TLS_DIR}:ro" not in (spec.get("volumes") or []):
        problems.append(f"compose {d.name}: must mount the tls volume read-only at {COMPOSE_TLS_DIR}")
    wanted = {"LINLI_GRPC_TLS_CA": f"{COMPOSE_TLS_DIR}/ca.pem",
              "LINLI_GRPC_TLS_CERT": f"{COMPOSE_TLS_DIR}/{d.name}.pem",
              "LINLI_GRPC_TLS_KEY": f"{COMPOSE_TLS_DIR}/{d.name}-key.pem"}
    for name, path in wanted.items():
        if env.get(name) != path:
            problems.append(f"compose {d.name}: {name} must be {path}, not {env.get(name)!r}")
    hosts = tls_init_certificates(compose).get(d.name)
    if hosts is None:
        problems.append(f"compose {d.name}: the tls-init job issues it no certificate (--service {d.name}=…)")
    elif not {d.name, "127.0.0.1"} <= set(hosts):
        problems.append(f"compose {d.name}: its certificate must name {d.name} and 127.0.0.1, not {hosts}")
    return problems


def _compose_http_problems(d: ServiceDescriptor, spec: Doc) -> list[str]:
    """An HTTP service: no database, no seeder; healthy when /healthz answers; it starts after
    the gRPC services it calls are healthy."""
    problems = []
    if (spec.get("labels") or {}).get(PROTOCOL_LABEL) != "http":
        problems.append(f"compose {d.name}: needs the label {PROTOCOL_LABEL}: http")
    health = (spec.get("healthcheck") or {}).get("test") or []
    if health != HEALTH_PROBE:
        problems.append(f"compose {d.name}: the health check must be the image's probe {HEALTH_PROBE} "
                        "(GET /healthz for an HTTP service)")
    if "DATABASE_URL" in (spec.get("environment") or {}):
        problems.append(f"compose {d.name}: an HTTP gateway has no database")
    return problems


@dataclass
class PodEnv:
    names: set[str]
    secret_refs: dict[str, tuple[str, str]]  # env name → (secret, key)
    literal: dict[str, str]  # env name → value (direct or from a ConfigMap)


def container_env(container: Doc, docs: Iterable[Doc]) -> PodEnv:
    env = PodEnv(set(), {}, {})
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef")
        if ref:
            [config_map] = find(docs, "ConfigMap", ref["name"]) or [{"data": {}}]
            env.names |= set(config_map.get("data") or {})
            env.literal.update(config_map.get("data") or {})
    for item in container.get("env") or []:
        env.names.add(item["name"])
        if "value" in item:
            env.literal[item["name"]] = str(item["value"])
        secret = (item.get("valueFrom") or {}).get("secretKeyRef")
        if secret:
            env.secret_refs[item["name"]] = (secret["name"], secret["key"])
    return env


def k8s_problems(d: ServiceDescriptor, docs: tuple[Doc, ...], required: dict[str, set[str]],
                 where: str = "k8s") -> list[str]:
    problems = []
    for kind in ("Deployment", "Service", "ServiceAccount", "PodDisruptionBudget", "HorizontalPodAutoscaler"):
        if not find(docs, kind, d.name):
            problems.append(f"{where}: no {kind} {d.name!r}")
    deployments = find(docs, "Deployment", d.name)
    if not deployments:
        return problems
    pod = deployments[0]["spec"]["template"]
    spec = pod["spec"]
    labels = pod["metadata"].get("labels", {})
    container = spec["containers"][0]
    port_name = "http" if d.protocol == "http" else "grpc"
    named_ports = [p for p in container.get("ports", []) if p.get("name") == port_name]
    if not named_ports or (d.default_port and named_ports[0]["containerPort"] != d.default_port):
        problems.append(f"{where} {d.name}: container needs a port named {port_name} = {d.default_port}")
    env = container_env(container, docs)
    health_port = env.literal.get("LINLI_HEALTH_PORT", "0")
    for probe in ("readinessProbe", "livenessProbe"):
        if d.protocol == "http":
            if ((container.get(probe) or {}).get("httpGet") or {}).get("path") != "/healthz":
                problems.append(f"{where} {d.name}: {probe} must be an httpGet probe on /healthz")
        elif "grpc" not in (container.get(probe) or {}):
            problems.append(f"{where} {d.name}: {probe} must be a native grpc probe")
        elif str(container[probe]["grpc"].get("port")) != health_port or health_port == "0":
            # kubelet's gRPC probes speak no TLS: they ask the plaintext health-only port.
            problems.append(f"{where} {d.name}: {probe} must ask the health port LINLI_HEALTH_PORT "
                            f"({health_port}), not {container[probe]['grpc'].get('port')}")
    problems += k8s_tls_problems(d, docs, spec, container, env, where)
    if spec.get("serviceAccountName") != d.name:
        problems.append(f"{where} {d.name}: runs as ServiceAccount {spec.get('serviceAccountName')!r}")
    security = container.get("securityContext") or {}
    if not (spec.get("securityContext") or {}).get("runAsNonRoot") and not security.get("runAsNonRoot"):
        problems.append(f"{where} {d.name}: must run as non-root")
    if not security.get("readOnlyRootFilesystem"):
        problems.append(f"{where} {d.name}: root filesystem must be read-only")
    resources = container.get("resources") or {}
    for part in ("requests", "limits"):
        if not {"cpu", "memory"} <= set(resources.get(part) or {}):
            problems.append(f"{where} {d.name}: resources.{part} needs cpu and memory")
    problems += [f"{where} {d.name}: environment lacks {m}" for m in missing(required, env.names)]
    for secret_env in ("DATABASE_URL", "LINLI_KEY_ENCRYPTION_KEY"):
        if secret_env in env.names and secret_env not in env.secret_refs:
            problems.append(f"{where} {d.name}: {secret_env} must come from a Secret")
    if env.literal.get("LINLI_HOST", "0.0.0.0") != "0.0.0.0":
        problems.append(f"{where} {d.name}: LINLI_HOST must be 0.0.0.0")
    for service in find(docs, "Service", d.name):
        # gRPC clients balance across every pod themselves; HTTP requests are balanced per request.
        if d.protocol == "grpc" and service["spec"].get("clusterIP") != "None":
            problems.append(f"{where} {d.name}: Service must be headless (clusterIP: None) for round_robin")
        if not all(labels.get(k) == v for k, v in service["spec"].get("selector", {}).items()):
            problems.append(f"{where} {d.name}: Service selector does not match the pods")
        if [p.get("name") for p in service["spec"]["ports"]] != [port_name]:
            problems.append(f"{where} {d.name}: Service needs exactly one port, named {port_name}")
    for pdb in find(docs, "PodDisruptionBudget", d.name):
        if not all(labels.get(k) == v for k, v in pdb["spec"]["selector"]["matchLabels"].items()):
            problems.append(f"{where} {d.name}: PodDisruptionBudget selector does not match the pods")
    for hpa in find(docs, "HorizontalPodAutoscaler", d.name):
        target = hpa["spec"]["scaleTargetRef"]
        if (target["kind"], target["name"]) != ("Deployment", d.name):
            problems.append(f"{where} {d.name}: HPA scales {target['kind']}/{target['name']}")
    return problems


def k8s_tls_problems(d: ServiceDescriptor, docs: tuple[Doc, ...], spec: Doc, container: Doc, env: PodEnv,
                     where: str) -> list[str]:
    """gRPC over TLS in Kubernetes: the pod mounts a Secret that a cert-manager Certificate
    (issued by an Issuer of the same deployment) fills with a certificate for the service's name,
    usable by a server and a client (mTLS), and the settings point into that mount."""
    problems = []
    mounts = {m["name"]: m for m in container.get("volumeMounts") or []}
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    mounted = [volumes.get(name, {}) for name, m in mounts.items() if m.get("mountPath") == K8S_GRPC_TLS_DIR]
    secret = ((mounted[0].get("secret") or {}).get("secretName") if mounted else None)
    if secret is None:
        return [f"{where} {d.name}: must mount its gRPC certificate's Secret at {K8S_GRPC_TLS_DIR}"]
    certificates = [c for c in find(docs, "Certificate") if c["spec"].get("secretName") == secret]
    if not certificates:
        problems.append(f"{where} {d.name}: no cert-manager Certificate fills the Secret {secret}")
    for certificate in certificates:
        cert_spec = certificate["spec"]
        if d.name not in (cert_spec.get("dnsNames") or []):
            problems.append(f"{where} {d.name}: its certificate {certificate['metadata']['name']} "
                            f"does not name {d.name}")
        if not {"server auth", "client auth"} <= set(cert_spec.get("usages") or []):
            problems.append(f"{where} {d.name}: its certificate must allow server auth and client auth (mTLS)")
        issuer = cert_spec.get("issuerRef") or {}
        if not find(docs, issuer.get("kind", "Issuer"), issuer.get("name")):
            problems.append(f"{where} {d.name}: its certificate's issuer {issuer.get('name')!r} is not deployed")
    for name, file in (("LINLI_GRPC_TLS_CA", "ca.crt"), ("LINLI_GRPC_TLS_CERT", "tls.crt"),
                       ("LINLI_GRPC_TLS_KEY", "tls.key")):
        if env.literal.get(name) != f"{K8S_GRPC_TLS_DIR}/{file}":
            problems.append(f"{where} {d.name}: {name} must be {K8S_GRPC_TLS_DIR}/{file}")
    return problems


def checkable_nats_conf(conf: str, directory: Path, cert_names: tuple[str, str, str]) -> Path:
    """`conf` laid out where `nats-server -t` can read everything it names: its auth.conf beside
    it, and a certificate (linli_runtime.tls) where /etc/nats/tls/ was, under the file names
    `cert_names` (certificate, key, CA) that deployment's files use."""
    from linli_runtime.tls import LocalPki

    pki = LocalPki(directory / "tls").ensure(servers={"nats": ["localhost"]})
    pair = pki.server("nats")
    cert, key, ca = cert_names
    for source, name in ((pair.cert, cert), (pair.key, key), (pki.ca_file, ca)):
        (directory / "tls" / name).write_bytes(source.read_bytes())
    (directory / "auth.conf").write_text((REPO / "deploy" / "nats" / "auth.conf").read_text())
    path = directory / "nats.conf"
    path.write_text(conf.replace("/etc/nats/tls/", f"{directory / 'tls'}/"))
    return path


def nats_test_env(**extra: str) -> dict[str, str]:
    """Every environment variable the NATS configurations read, with test values."""
    from linli_runtime.nats_access import environment_passwords

    return {**{p.lstrip("$"): "test-password" for p in environment_passwords().values()}, **extra}
