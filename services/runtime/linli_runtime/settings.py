"""Settings from the environment (pydantic-settings).

Every service reads the same base settings; a service adds its own by subclassing
`ServiceSettings`. Names follow the deployment convention: `PORT`, `DATABASE_URL`, `NATS_URL`,
`<NAME>_SERVICE_ADDR` for downstream services, and `LINLI_*` for the rest.

A service holds no signing key: it trusts the issuer at `LINLI_ISSUER_URL` (tokens checked
against its published keys) and, when it calls other services, signs in there with its own
client id and secret (`LINLI_CLIENT_ID`, `LINLI_CLIENT_SECRET_FILE`).

gRPC speaks TLS when given a certificate (`LINLI_GRPC_TLS_CERT`/`_KEY`: the servers) and a CA
(`LINLI_GRPC_TLS_CA`: the channels), mutual TLS between services with `LINLI_GRPC_MTLS`
(linli_runtime.grpc_tls).
"""

from __future__ import annotations

from pydantic import AliasChoices, ByteSize, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TracingSettings(BaseSettings):
    """Where a process's spans go (linli_runtime.tracing). No endpoint: tracing is off, and costs nothing."""

    model_config = SettingsConfigDict(env_prefix="LINLI_", extra="ignore", populate_by_name=True)

    # An OTLP/gRPC receiver: an OpenTelemetry Collector, Jaeger or Tempo (`http://collector:4317`;
    # http:// is plaintext, https:// TLS). The standard variable's name, as every OTel SDK reads it.
    otlp_endpoint: str = Field(
        default="", validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT", "LINLI_OTLP_ENDPOINT")
    )
    # Share of new traces kept (0..1); a call that arrives with a trace keeps its caller's decision.
    trace_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)


class IssuerSettings(TracingSettings):
    """Whom a process trusts — the issuer of access tokens, the CA behind the services' gRPC
    certificates — and how it proves who it is (its client credentials, its certificate): every
    service, and the web portal (which is not a ServiceApp). (And, from TracingSettings, where its
    spans go.)"""

    model_config = SettingsConfigDict(env_prefix="LINLI_", extra="ignore", populate_by_name=True)

    service_name: str = "linli"
    # -- tokens: whom the service trusts (linli_runtime.oidc) ---------------------------------
    # The OIDC issuer whose access tokens the service accepts (`iss`), e.g. http://127.0.0.1:8090
    # under `make run`; its discovery document names the JWKS.
    issuer_url: str = ""
    # The `aud` every accepted token must carry.
    token_audience: str = "linli"
    # The JWKS to fetch instead of the one discovery names (keys published elsewhere).
    jwks_url: str = ""
    # CA bundle (PEM) to trust for an https issuer signed by a private CA; empty: the system's.
    issuer_ca_file: str = ""
    # Where a token carries the account's grants: a claim name, or a dotted path into nested
    # claims (`realm_access.linli_grants`); its value a list of {"role", "scope"} objects or of
    # "role@scope" strings (what a Keycloak multivalued attribute mapper gives). See README
    # "Another OIDC provider".
    grants_claim: str = "grants"
    # -- calling other services: this service's own client credentials (service_token.py) --------
    # Empty: `svc-<service name>`, the client the issuer provisions for each platform service.
    client_id: str = ""
    # A file holding the client secret (mode 0600; a mounted Secret in Kubernetes).
    client_secret_file: str = ""
    # Where this process reaches the issuer when its public URL (LINLI_ISSUER_URL, the tokens'
    # `iss`, what browsers open) is not reachable from inside: `http://identity:8090` in compose,
    # `http://identity-issuer:8090` in Kubernetes. Discovery is fetched there, and every endpoint
    # it names under the public URL (JWKS, token, revocation) is reached under this one instead.
    issuer_internal_url: str = ""
    # -- gRPC over TLS (linli_runtime.grpc_tls): every service, and the portal's channels ----------
    # The CA (PEM) the platform's gRPC certificates are signed by. Set: every channel this process
    # opens speaks TLS and checks the server's certificate against it (and its host name); with
    # grpc_mtls a server also requires clients to present a certificate it signed.
    grpc_tls_ca: str = ""
    # This process's certificate and key (PEM). Both set: its gRPC servers speak TLS only (reloaded
    # when the files change, as cert-manager renews them); as a client it presents them when a
    # server asks (mTLS). Its name (DNS SAN) is the host name clients dial: `volunteer-points`, …
    grpc_tls_cert: str = ""
    grpc_tls_key: str = Field(default="", repr=False)
    # Mutual TLS: servers accept only clients with a certificate from grpc_tls_ca (services, the
    # portal, operators given one). Public listeners (the POS edge) never ask terminals for one.
    grpc_mtls: bool = False


class ServiceSettings(IssuerSettings):
    host: str = "127.0.0.1"
    port: int = Field(default=0, validation_alias=AliasChoices("PORT", "LINLI_PORT"))
    database_url: str = Field(
        default="sqlite+aiosqlite:///var/linli.db",
        validation_alias=AliasChoices("DATABASE_URL", "LINLI_DATABASE_URL"),
    )
    # PostgreSQL connections the service keeps open (and as many more at a peak, opened and
    # closed per burst): at least the calls it serves concurrently, or the overflow churns.
    database_pool_size: int = Field(default=10, ge=1)
    # asyncpg's prepared statements kept per connection. 0 behind PgBouncer in transaction mode
    # (Kubernetes' Pooler): a statement prepared on one server connection is unknown to the next.
    database_statement_cache_size: int = Field(default=100, ge=0)
    nats_url: str = Field(
        default="nats://127.0.0.1:4222", validation_alias=AliasChoices("NATS_URL", "LINLI_NATS_URL")
    )
    # This service's NATS account (a user with permissions on its own subjects only; empty: none,
    # for a server without authorization) and TLS: the CA that signed the server's certificate
    # turns TLS on; a client certificate and key are sent when the server asks for one.
    nats_user: str = ""
    nats_password: str = ""
    nats_tls_ca: str = ""
    nats_tls_cert: str = ""
    nats_tls_key: str = ""
    # What each of the platform's streams keeps (bytes per replica: "1GiB", "512MiB"; and days).
    # Every NATS node holds a replica of every stream: their sum must fit its max_file_store.
    stream_max_bytes: ByteSize = Field(default=ByteSize(1024**3), ge=1024**2)
    stream_max_age_days: float = Field(default=30, gt=0)
    # Stream replicas: 1 for one local nats-server, 3 in a JetStream cluster.
    stream_replicas: int = 1
    log_level: str = "INFO"
    log_json: bool = True
    # One log line per gRPC call (method, status, duration). Off (LINLI_ACCESS_LOG=false) it
    # costs nothing: the metrics still count every call.
    access_log: bool = True
    # Prometheus exposition port; 0 turns the HTTP endpoint off.
    metrics_port: int = 0
    # Seconds in-flight calls get to finish after SIGTERM.
    shutdown_grace: float = 10.0
    # Seconds a client's connection lives before the server asks it to reconnect (HTTP/2 GOAWAY,
    # ±10 % jitter; in-flight calls finish within the grace): long-lived channels — POS terminals,
    # other services — then spread onto replicas added since they connected. 0: forever.
    grpc_max_connection_age: float = Field(default=300.0, ge=0)
    grpc_max_connection_age_grace: float = Field(default=30.0, ge=0)
    # A plaintext port serving grpc.health.v1 alone, for probes that cannot speak TLS (Kubernetes'
    # native gRPC probes); 0: none.
    health_port: int = Field(default=0, ge=0)
    demo_data: bool = False
