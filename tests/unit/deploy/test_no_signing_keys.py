"""Only the issuer holds a signing key (issue 12). Every other service — and the web portal —
verifies tokens with the issuer's JWKS and holds at most its own OAuth client's secret. Checked,
for every installed service but the issuer (identity), wherever a key could hide: its settings
and its code, docker-compose.yml, every Kubernetes overlay, and the environment `make run`
gives it. Each check is shown to bite on a doctored copy."""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from linli_runtime import auth
from linli_runtime.nats_security import NatsSecurity
from linli_runtime.platform import IssuerWiring, RunningService, service_env
from linli_runtime.platform_tls import PlatformTls
from linli_runtime.registry import ServiceDescriptor, installed_services
from linli_runtime.settings import ServiceSettings
from tests.unit.deploy.deploykit import (
    OVERLAYS,
    container_env,
    env_names,
    find,
    load_compose,
    render,
    service_settings_classes,
    service_sources,
)

# Names of settings, variables and Secrets that would hold a token-signing key (or the key that
# unlocks one). Client secrets (`*_client_secret_file`) and external gateways' credentials
# (SMS, WeChat) are credentials, not signing keys.
KEY_NAME = re.compile(r"jwt|signing|sign_key|private_key|privkey|key_encryption|hs256|hmac|\bpem\b|_pem|token_secret",
                      re.IGNORECASE)
PRIVATE_PEM = "PRIVATE KEY-----"
# Shared Secrets of which a service may mount only these (public) items: cert-manager's CA,
# whose certificate every service trusts for NATS's TLS (its key stays with cert-manager).
PUBLIC_SECRET_ITEMS = {"linli-ca": {"ca.crt"}}
# What signs tokens in code: a service that can call these can mint a token.
SIGNING_CALLS = {("jwt", "encode"), ("jws", "serialize_compact"), ("OKPKey", "generate_key"),
                 ("RSAKey", "generate_key"), ("ECKey", "generate_key")}

SERVICES = [d for d in installed_services() if not d.issuer]
ISSUER = next(d for d in installed_services() if d.issuer)
COMPOSE = load_compose()


def settings_problems(name: str, classes: list[type[BaseSettings]]) -> list[str]:
    return [f"{name}: setting {field} ({' or '.join(sorted(env))}) looks like a signing key"
            for cls in classes for field, env in env_names(cls).items()
            if KEY_NAME.search(field) or any(KEY_NAME.search(e) for e in env)]


def code_problems(descriptor: ServiceDescriptor) -> list[str]:
    problems = []
    for module, source in service_sources(descriptor):
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    isinstance(node.func.value, ast.Name) and (node.func.value.id, node.func.attr) in SIGNING_CALLS:
                problems.append(f"{module}:{node.lineno}: {node.func.value.id}.{node.func.attr}(…) signs or makes keys")
    return problems


def env_problems(where: str, env: dict[str, str]) -> list[str]:
    return [f"{where}: {name} looks like a signing key" for name, value in env.items()
            if KEY_NAME.search(name) or PRIVATE_PEM in str(value)]


def compose_problems(compose: dict[str, Any], name: str, own_secrets: set[str]) -> list[str]:
    problems = []
    for service_name in (name, f"seed-{name}"):
        spec = compose["services"].get(service_name)
        if spec is None:
            continue
        problems += env_problems(f"compose {service_name}", {str(k): str(v) for k, v in
                                                            (spec.get("environment") or {}).items()})
        mounted = {s["source"] if isinstance(s, dict) else s for s in spec.get("secrets") or []}
        if mounted - own_secrets:
            problems.append(f"compose {service_name}: mounts secrets {sorted(mounted - own_secrets)} besides its own")
        for volume in spec.get("volumes") or []:
            if re.search(r"\.(pem|key|jwk|jwks)(:|$)", str(volume)):
                problems.append(f"compose {service_name}: mounts {volume}")
    return problems


def k8s_problems(docs: tuple[dict[str, Any], ...], name: str, own_secrets: set[str], where: str) -> list[str]:
    problems = []
    for deployment in find(docs, "Deployment", name):
        spec = deployment["spec"]["template"]["spec"]
        for container in spec["containers"]:
            env = container_env(container, docs)
            problems += env_problems(f"{where} {name}", {n: env.literal.get(n, "") for n in env.names})
            for var, (secret, _) in env.secret_refs.items():
                if KEY_NAME.search(secret) or KEY_NAME.search(var):
                    problems.append(f"{where} {name}: {var} comes from Secret {secret}, a signing key")
        referenced = set()
        for volume in spec.get("volumes") or []:
            sources = [volume["secret"] | {"name": volume["secret"]["secretName"]}] if "secret" in volume else []
            sources += [s["secret"] for s in (volume.get("projected") or {}).get("sources") or [] if "secret" in s]
            for source in sources:
                items = {item["key"] for item in source.get("items") or []}
                public = PUBLIC_SECRET_ITEMS.get(source["name"])
                if public is not None and items and items <= public:
                    continue  # only the public part of a shared Secret (the CA's certificate)
                referenced.add(source["name"])
        if referenced - own_secrets:
            problems.append(f"{where} {name}: mounts Secrets {sorted(referenced - own_secrets)} besides its own")
    return problems


def own_k8s_secrets(descriptor: ServiceDescriptor) -> set[str]:
    """The Secrets a service's pods may mount: its OAuth clients', its database's, and its own gRPC
    certificate's (a TLS key: it proves the pod is the service, it signs no token)."""
    return ({f"linli-client-{c}" for c in own_clients(descriptor)} | {f"linli-{descriptor.name}-db"}
            | {f"{descriptor.name}-grpc-tls"})


def own_clients(descriptor: ServiceDescriptor) -> set[str]:
    """The OAuth clients whose secrets a service may hold: its own (the portal: also the one
    people sign in through)."""
    return {descriptor.client_id} | ({"linli-portal"} if descriptor.client_role == "portal" else set())


def make_run_env(descriptor: ServiceDescriptor, tmp: Path) -> dict[str, str]:
    """What `make run` adds to a service's environment (the runner's own environment aside)."""
    service = RunningService(descriptor, descriptor.default_port, tmp / f"{descriptor.name}.log")
    wiring = IssuerWiring.for_platform(tmp, 8090, [service])
    nats = NatsSecurity(tmp, services=[descriptor.name]).prepare()
    tls = PlatformTls(tmp).prepare([descriptor.name])
    full = service_env(service, addresses={}, database_url=None, nats_url="nats://127.0.0.1:4222", demo_data=True,
                       extra={**nats.env_for(descriptor), **wiring.env(descriptor), **tls.env_for(descriptor.name)})
    import os

    return {k: v for k, v in full.items() if os.environ.get(k) != v}


# -- the checks ------------------------------------------------------------------------------------


def test_the_runtime_has_no_way_to_sign_a_token() -> None:
    assert not hasattr(auth, "TokenSigner") and not hasattr(auth, "ALGORITHM")
    assert settings_problems("ServiceSettings", [ServiceSettings]) == []


@pytest.mark.parametrize("descriptor", SERVICES, ids=lambda d: d.name)
def test_no_service_but_the_issuer_has_a_key_in_its_settings_or_code(descriptor: ServiceDescriptor) -> None:
    assert settings_problems(descriptor.name, service_settings_classes(descriptor)) == []
    assert code_problems(descriptor) == []


def test_the_issuer_is_the_one_that_holds_and_uses_a_key() -> None:
    """Otherwise the checks above would look for the wrong thing."""
    assert settings_problems(ISSUER.name, service_settings_classes(ISSUER)) != []  # key_encryption_key
    assert code_problems(ISSUER) != []


@pytest.mark.parametrize("descriptor", SERVICES, ids=lambda d: d.name)
def test_no_service_but_the_issuer_holds_a_key_in_compose(descriptor: ServiceDescriptor) -> None:
    assert compose_problems(COMPOSE, descriptor.name, own_clients(descriptor)) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("descriptor", SERVICES, ids=lambda d: d.name)
def test_no_service_but_the_issuer_holds_a_key_in_kubernetes(descriptor: ServiceDescriptor, overlay: str) -> None:
    assert k8s_problems(render(overlay), descriptor.name, own_k8s_secrets(descriptor), overlay) == []


@pytest.mark.parametrize("descriptor", SERVICES, ids=lambda d: d.name)
def test_make_run_gives_a_service_the_issuer_url_and_its_own_secret_file_only(descriptor: ServiceDescriptor,
                                                                             tmp_path: Path) -> None:
    env = make_run_env(descriptor, tmp_path)
    assert env_problems(f"make run {descriptor.name}", env) == []
    assert env["LINLI_ISSUER_URL"] == "http://127.0.0.1:8090"
    assert env["LINLI_CLIENT_SECRET_FILE"] == str(tmp_path / "identity-clients" / f"{descriptor.client_id}.secret")
    # Its own TLS key (its gRPC certificate's) and nothing else that is secret.
    assert env["LINLI_GRPC_TLS_KEY"] == str(tmp_path / "tls" / f"{descriptor.name}-key.pem")
    assert not {k for k in env if "SECRET" in k or "KEY" in k} - {"LINLI_CLIENT_SECRET_FILE", "LINLI_GRPC_TLS_KEY"}


# -- the checks bite -------------------------------------------------------------------------------


class LeakySettings(ServiceSettings):
    jwt_secret: str = ""


def test_a_shared_key_in_settings_or_code_is_found() -> None:
    assert settings_problems("ghost", [LeakySettings]) == ["ghost: setting jwt_secret (LINLI_JWT_SECRET) looks like "
                                                           "a signing key"]
    assert code_problems(ISSUER)  # identity signs: the same scan finds it anywhere else


def test_a_key_in_compose_is_found() -> None:
    compose = copy.deepcopy(COMPOSE)
    d = SERVICES[0]
    compose["services"][d.name]["environment"]["LINLI_JWT_SECRET"] = "x" * 40
    compose["services"][d.name]["secrets"].append({"source": "svc-portal", "target": "svc-portal.secret"})
    compose["services"][d.name].setdefault("volumes", []).append("./keys/signing.pem:/keys/signing.pem:ro")
    assert compose_problems(compose, d.name, own_clients(d)) == [
        f"compose {d.name}: LINLI_JWT_SECRET looks like a signing key",
        f"compose {d.name}: mounts secrets ['svc-portal'] besides its own",
        f"compose {d.name}: mounts ./keys/signing.pem:/keys/signing.pem:ro",
    ]


def test_a_key_in_kubernetes_is_found() -> None:
    docs = copy.deepcopy(list(render("overlays/production")))
    d = SERVICES[0]
    [deployment] = find(docs, "Deployment", d.name)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["env"].append({"name": "LINLI_SIGNING_KEY", "valueFrom": {"secretKeyRef": {"name": "linli-jwt",
                                                                                        "key": "secret"}}})
    deployment["spec"]["template"]["spec"]["volumes"].append({"name": "keys", "secret": {
        "secretName": "linli-identity-keys"}})
    # The CA's certificate alone is fine; its key is not.
    deployment["spec"]["template"]["spec"]["volumes"].append({"name": "ca-key", "secret": {
        "secretName": "linli-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}, {"key": "tls.key", "path": "k"}]}})
    assert k8s_problems(tuple(docs), d.name, own_k8s_secrets(d), "k8s") == [
        f"k8s {d.name}: LINLI_SIGNING_KEY looks like a signing key",
        f"k8s {d.name}: LINLI_SIGNING_KEY comes from Secret linli-jwt, a signing key",
        f"k8s {d.name}: mounts Secrets ['linli-ca', 'linli-identity-keys'] besides its own",
    ]


def test_a_key_in_the_make_run_environment_is_found() -> None:
    assert env_problems("make run x", {"LINLI_JWT_SECRET": "x" * 40, "LINLI_ISSUER_URL": "http://127.0.0.1:8090"}) \
        == ["make run x: LINLI_JWT_SECRET looks like a signing key"]
    assert env_problems("make run x", {"LINLI_THING": "-----BEGIN PRIVATE KEY-----\n…"}) == [
        "make run x: LINLI_THING looks like a signing key"]
