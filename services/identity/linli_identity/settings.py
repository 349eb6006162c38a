"""identity's settings, from the environment (`LINLI_*`, beside the runtime's `PORT`,
`DATABASE_URL`, `NATS_URL`).

Under `make run` nothing needs setting: the issuer listens on 127.0.0.1:8090 over plain HTTP,
keeps its signing keys unencrypted in its SQLite database, writes SMS codes to a file under
var/ and the OAuth clients' secrets under var/identity-clients/. Production sets at least
LINLI_ISSUER_URL (the https URL people and services reach it at), LINLI_KEY_ENCRYPTION_KEY,
and either the TLS files or a TLS-terminating ingress in front.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from sqlalchemy.engine import make_url

from linli_identity.descriptor import HTTP_PORT, SERVICE
from linli_runtime.settings import ServiceSettings

# The longest an access token may live (issue 12: at most 15 minutes), so that revoking a grant
# or disabling an account takes effect within that long.
MAX_ACCESS_TOKEN_TTL = 15 * 60


class IdentitySettings(ServiceSettings):
    service_name: str = "identity"

    # -- the issuer's HTTP listener -------------------------------------------------------------
    # -1: 8090 when the gRPC port is identity's fixed local port (`make run`), else a free port
    # (test platforms start every service on free ports; the bound port is logged). 0: a free port.
    http_port: int = -1
    # The issuer URL (`iss` of every token, base of every endpoint), as clients reach it. Empty:
    # http(s)://<host>:<bound HTTP port> — right for `make run`, wrong behind an ingress.
    issuer_url: str = ""
    # PEM files: with both set the issuer serves HTTPS itself.
    issuer_tls_cert_file: str = ""
    issuer_tls_key_file: str = ""
    # Proxies whose X-Forwarded-For / -Proto headers are believed (comma-separated addresses or
    # networks, `*` for any): the per-address SMS limit needs the browser's address, not the
    # ingress's. Only list what sits in front of the issuer.
    trusted_proxies: str = "127.0.0.1"

    # -- keys and tokens ------------------------------------------------------------------------
    # Encrypts the signing keys' private parts at rest (PKCS#8, the best encryption the
    # cryptography library offers). Empty: stored unencrypted (`make run`; a warning is logged).
    key_encryption_key: str = ""
    access_token_ttl_seconds: int = Field(default=600, ge=60, le=MAX_ACCESS_TOKEN_TTL)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=3600)
    # A new signing key every this many days (the old one stays published until its tokens expire).
    key_rotation_days: float = Field(default=30.0, gt=0)
    # How often replicas look for a key another replica rotated in, and whether it is time to rotate.
    key_refresh_seconds: float = Field(default=10.0, gt=0)

    # -- sign-in ----------------------------------------------------------------------------------
    # The issuer's own session (a cookie after phone + SMS code), for the sign-in, consent and
    # device pages.
    session_ttl_seconds: int = Field(default=12 * 3600, ge=300)
    # A phone number unknown to the platform gets a person account when its code is confirmed
    # (residents and volunteers sign themselves up; roles still need a grant).
    self_signup: bool = True
    sms_code_ttl_seconds: int = Field(default=300, ge=60, le=900)
    sms_max_attempts: int = Field(default=5, ge=1, le=10)
    sms_per_phone_per_hour: int = Field(default=5, ge=1)
    sms_per_address_per_hour: int = Field(default=20, ge=1)
    # Seconds before the same phone may ask for another code.
    sms_resend_seconds: int = Field(default=60, ge=0)
    # Who sends SMS codes: `dev` writes them to a file (below); `notification` has the
    # notification service send them (its OneTimeCodeService at NOTIFICATION_SERVICE_ADDR,
    # through the SMS vendors configured there).
    sms_sender: str = Field(default="dev", pattern="^(dev|notification)$")
    # The development SMS sender writes codes here (`make run`: "the dev gateway shows it").
    # Empty: beside the SQLite database, else var/.
    sms_dev_dir: str = ""

    # -- OAuth clients ----------------------------------------------------------------------------
    # Where provisioning writes the secrets of the clients it creates (one file per client,
    # mode 0600). Empty: beside the SQLite database, else var/.
    client_secrets_dir: str = ""
    # The web portal's redirect URIs (comma-separated), registered for its confidential client.
    portal_redirect_uris: str = "http://127.0.0.1:8080/auth/callback"
    # Create the platform's clients (portal, CLI, one per service) at start-up if missing.
    provision_clients: bool = True

    def var_dir(self) -> Path:
        """Beside the SQLite database (var/ under `make run`), else var/."""
        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            return Path(url.database).parent
        return Path("var")

    def sms_dir(self) -> Path:
        return Path(self.sms_dev_dir) if self.sms_dev_dir else self.var_dir() / "identity-sms"

    def secrets_dir(self) -> Path:
        return Path(self.client_secrets_dir) if self.client_secrets_dir else self.var_dir() / "identity-clients"

    def wanted_http_port(self) -> int:
        if self.http_port >= 0:
            return self.http_port
        return HTTP_PORT if self.port == SERVICE.default_port else 0

    @property
    def tls(self) -> bool:
        return bool(self.issuer_tls_cert_file and self.issuer_tls_key_file)

    def portal_redirects(self) -> list[str]:
        return [u.strip() for u in self.portal_redirect_uris.split(",") if u.strip()]
