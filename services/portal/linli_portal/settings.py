"""The portal's settings. Not a ServiceSettings: the portal has no database and no event bus,
only a port, the token key it shares with the services, and where the services listen."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from linli_runtime.registry import service_address
from linli_runtime.settings import DEV_JWT_SECRET


class PortalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINLI_", extra="ignore", populate_by_name=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8080, validation_alias=AliasChoices("PORT", "LINLI_PORT"))
    # Verifies operators' tokens and signs the portal's own service token for public reads.
    jwt_secret: str = DEV_JWT_SECRET
    jwt_issuer: str = "linli"
    # A service token to use instead of signing one (when the portal must not hold the key's power).
    portal_service_token: str = ""
    # Mark the sign-in cookie Secure (set it when TLS terminates in front of the portal).
    portal_secure_cookies: bool = False
    log_level: str = "INFO"
    # Prometheus exposition port (/metrics, as the services); 0 turns it off.
    metrics_port: int = 0
    # The cities whose compounds the start page lists (the org tree has no list of cities).
    portal_cities: str = "chengdu"

    @property
    def cities(self) -> list[str]:
        return [c.strip() for c in self.portal_cities.split(",") if c.strip()]


def service_addresses() -> dict[str, str]:
    """Where the services listen (`<SERVICE>_SERVICE_ADDR`, set by `make run` and the deployment)."""
    return {
        "governance": service_address("trust-governance"),
        "points": service_address("volunteer-points"),
        "redemption": service_address("partner-redemption"),
        "notification": service_address("notification"),
    }
