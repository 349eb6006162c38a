"""The portal's settings. Not a ServiceSettings: the portal has no database and no event bus —
only a port, the issuer it trusts and signs people in at, its two OAuth clients there, where
the services listen, and where its spans go (OTEL_EXPORTER_OTLP_ENDPOINT, from IssuerSettings'
TracingSettings). It holds no signing key."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field

from linli_runtime.registry import service_address
from linli_runtime.settings import IssuerSettings

# The portal's client for signing people in (authorization code + PKCE), provisioned by identity.
SIGNIN_CLIENT = "linli-portal"


class PortalSettings(IssuerSettings):
    # From IssuerSettings: LINLI_ISSUER_URL, LINLI_TOKEN_AUDIENCE, LINLI_JWKS_URL, LINLI_ISSUER_CA_FILE,
    # LINLI_GRANTS_CLAIM, LINLI_TOKEN_URL, and LINLI_CLIENT_ID / LINLI_CLIENT_SECRET_FILE: the client
    # whose tokens (role `portal`, read-only) the public pages read with (default `svc-portal`);
    # LINLI_GRPC_TLS_CA / _CERT / _KEY and LINLI_GRPC_MTLS: TLS on its channels to the services.
    service_name: str = "portal"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, validation_alias=AliasChoices("PORT", "LINLI_PORT"))
    # Where people reach the portal (the sign-in redirect comes back to <portal_url>/auth/callback,
    # registered at the issuer). Empty: http://<host>:<port>.
    portal_url: str = ""
    # The client people sign in through (authorization code + PKCE), and its secret's file
    # (empty: `linli-portal.secret` beside LINLI_CLIENT_SECRET_FILE).
    signin_client_id: str = SIGNIN_CLIENT
    signin_client_secret_file: str = ""
    # Mark the session cookies Secure (set it when TLS terminates in front of the portal).
    portal_secure_cookies: bool = False
    log_level: str = "INFO"
    # Prometheus exposition port (/metrics, as the services); 0 turns it off.
    metrics_port: int = 0
    # The cities whose compounds the start page lists (the org tree has no list of cities).
    portal_cities: str = "chengdu"

    @property
    def cities(self) -> list[str]:
        return [c.strip() for c in self.portal_cities.split(",") if c.strip()]

    @property
    def public_url(self) -> str:
        return (self.portal_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url}/auth/callback"

    def signin_secret_path(self) -> Path:
        if self.signin_client_secret_file:
            return Path(self.signin_client_secret_file)
        if not self.client_secret_file:
            raise ValueError("set LINLI_SIGNIN_CLIENT_SECRET_FILE: the secret of the portal's sign-in client")
        return Path(self.client_secret_file).parent / f"{self.signin_client_id}.secret"


def service_addresses() -> dict[str, str]:
    """Where the services listen (`<SERVICE>_SERVICE_ADDR`, set by `make run` and the deployment)."""
    return {
        "governance": service_address("trust-governance"),
        "points": service_address("volunteer-points"),
        "redemption": service_address("partner-redemption"),
        "notification": service_address("notification"),
        # An owner adds a family member or tenant (a grant, given with the owner's own token).
        "identity": service_address("identity"),
    }
