"""Not only set, but valid: the environment each deployment gives a service parses into the
runtime's settings with the values intended (compose with .env.example, each k8s overlay)."""

from __future__ import annotations

import base64
import os
import re

import pytest
from linli_portal.settings import PortalSettings

from linli_runtime.registry import ServiceDescriptor
from linli_runtime.settings import ServiceSettings
from tests.unit.deploy.deploykit import (
    OVERLAYS,
    REPO,
    container_env,
    find,
    load_compose,
    planned_services,
    render,
)

COMPOSE = load_compose()
PLANNED = planned_services(COMPOSE)
DOTENV = dict(re.findall(r"^([A-Z_][A-Z0-9_]*)=(.*)$", (REPO / ".env.example").read_text(), re.MULTILINE))
VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} substitution."""
    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if op in (":-", "-"):
            return arg
        raise AssertionError(f"{name} is required: {arg}")
    return VARIABLE.sub(one, value)


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> ServiceSettings:
    for name in [n for n in os.environ if n.startswith("LINLI_") or n in ("PORT", "DATABASE_URL", "NATS_URL")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return ServiceSettings()


@pytest.mark.parametrize("descriptor", PLANNED, ids=lambda d: d.name)
def test_compose_settings_parse_with_the_example_env(descriptor: ServiceDescriptor,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    raw = COMPOSE["services"][descriptor.name]["environment"]
    settings = settings_from({k: interpolate(str(v), DOTENV) for k, v in raw.items()}, monkeypatch)
    assert settings.port == descriptor.default_port
    assert settings.host == "0.0.0.0"
    assert settings.service_name == descriptor.name
    assert settings.stream_replicas == 3
    assert settings.issuer_url == DOTENV["LINLI_ISSUER_URL"] and settings.issuer_internal_url == "http://identity:8090"
    assert settings.token_audience == "linli" and settings.grants_claim == "grants"
    if not descriptor.name == "identity":  # it calls nobody: no client of its own
        assert settings.client_id == f"svc-{descriptor.name}"
        assert settings.client_secret_file == f"/run/secrets/svc-{descriptor.name}.secret"
    password = DOTENV[descriptor.db_name.upper() + "_DB_PASSWORD"]
    assert settings.database_url == f"postgresql://{descriptor.db_name}:{password}@postgres:5432/{descriptor.db_name}"
    assert settings.metrics_port == 9464 and settings.log_json is True and settings.demo_data is False
    assert settings.shutdown_grace < 30, "below stop_grace_period"


def test_compose_refuses_to_start_without_the_secrets() -> None:
    raw = COMPOSE["services"]["identity"]["environment"]
    with pytest.raises(AssertionError, match="LINLI_KEY_ENCRYPTION_KEY is required"):
        interpolate(raw["LINLI_KEY_ENCRYPTION_KEY"], {})
    raw = COMPOSE["services"][PLANNED[0].name]["environment"]
    with pytest.raises(AssertionError, match="TRUST_GOVERNANCE_DB_PASSWORD"):
        interpolate(raw["DATABASE_URL"], {})


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_settings_parse(overlay: str, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render(overlay)
    secrets = {s["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in s.get("data", {}).items()}
               for s in find(docs, "Secret")}
    for d in PLANNED:
        [deployment] = find(docs, "Deployment", d.name)
        spec = deployment["spec"]["template"]["spec"]
        env = container_env(spec["containers"][0], docs)
        values = dict(env.literal)
        for name, (secret, key) in env.secret_refs.items():
            # Production secrets are made out of band; stand in a well-formed value for them.
            values[name] = secrets.get(secret, {}).get(key) or (
                f"postgresql://{d.db_name}:x@linli-pg-rw:5432/{d.db_name}" if key == "uri" else "k" * 48)
        settings = settings_from(values, monkeypatch)
        assert settings.port == d.default_port and settings.host == "0.0.0.0" and settings.service_name == d.name
        assert settings.database_url.startswith("postgresql://") and settings.database_url.endswith(f"/{d.db_name}")
        assert settings.issuer_url.startswith("https://") and settings.issuer_internal_url
        assert settings.shutdown_grace + 5 < spec["terminationGracePeriodSeconds"], "drain fits the grace period"
        ports = {p["name"]: p["containerPort"] for p in spec["containers"][0]["ports"]}
        assert settings.metrics_port == ports["metrics"]
        assert settings.stream_replicas == (3 if overlay.endswith("production") else 1)


def portal_settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> PortalSettings:
    settings_from(env, monkeypatch)  # clears and sets the environment
    return PortalSettings()


def test_compose_portal_settings_parse_with_the_example_env(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = COMPOSE["services"]["portal"]["environment"]
    settings = portal_settings_from({k: interpolate(str(v), DOTENV) for k, v in raw.items()}, monkeypatch)
    assert (settings.port, settings.host) == (8080, "0.0.0.0")
    assert settings.issuer_url == DOTENV["LINLI_ISSUER_URL"] and settings.client_id == "svc-portal"
    assert settings.signin_secret_path().name == "linli-portal.secret"
    assert settings.redirect_uri == "http://127.0.0.1:8080/auth/callback"
    assert settings.cities == ["chengdu"] and settings.portal_secure_cookies is False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_portal_settings_parse(overlay: str, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render(overlay)
    [deployment] = find(docs, "Deployment", "portal")
    env = container_env(deployment["spec"]["template"]["spec"]["containers"][0], docs)
    values = {**env.literal, **{name: "k" * 48 for name in env.secret_refs}}
    settings = portal_settings_from(values, monkeypatch)
    assert (settings.port, settings.host) == (8080, "0.0.0.0")
    assert settings.portal_secure_cookies is overlay.endswith("production"), "HTTPS-only cookies behind TLS"
    assert settings.client_id == "svc-portal" and settings.signin_secret_path().name == "linli-portal.secret"
