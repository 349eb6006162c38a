"""README "Another OIDC provider" (Keycloak, step by step) names the settings an operator sets:
each must be one that a Linli process reads, or the steps quietly stop working when a setting
is renamed."""

from __future__ import annotations

import re
from pathlib import Path

from linli_identity.settings import IdentitySettings
from linli_notification.settings import NotificationSettings
from linli_portal.settings import PortalSettings
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from linli_runtime.settings import IssuerSettings, ServiceSettings

README = Path(__file__).resolve().parents[3] / "README.md"
SETTINGS: tuple[type[BaseSettings], ...] = (IssuerSettings, ServiceSettings, NotificationSettings, PortalSettings,
                                            IdentitySettings)


def keycloak_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("**Another OIDC provider**")
    return text[start:text.index("\n## ", start)]


def environment_names(cls: type[BaseSettings]) -> set[str]:
    """The environment variables `cls` reads: prefix + field name, and each field's aliases."""
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    names = set()
    for name, field in cls.model_fields.items():
        names.add(prefix + name.upper())
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else []
        names.update(str(c).upper() for c in choices if isinstance(c, str))
    return names


def test_every_setting_the_keycloak_steps_name_is_read_by_a_linli_process() -> None:
    named = set(re.findall(r"`(LINLI_[A-Z0-9_]+)`", keycloak_section()))
    assert {"LINLI_ISSUER_URL", "LINLI_TOKEN_AUDIENCE", "LINLI_GRANTS_CLAIM", "LINLI_CLIENT_ID"} <= named
    known = set().union(*(environment_names(cls) for cls in SETTINGS))
    assert sorted(named - known) == []


def test_the_steps_cover_realm_audience_claim_clients_and_keys() -> None:
    section = keycloak_section()
    for step in ("/realms/linli", "Audience", "linli_grants", "linli-cli", "Device Authorization Grant",
                 "linli-portal", "S256", "svc-<service>", "Service accounts roles", '["service@"]', '["portal@"]',
                 "Ed25519", "RS256"):
        assert step in section, step
