"""`python -m linli_portal.main`: the portal behind uvicorn, on PORT (8080 by default)."""

from __future__ import annotations

import logging
from pathlib import Path

import uvicorn

from linli_portal.app import create_app
from linli_portal.backends import Backends
from linli_portal.settings import PortalSettings, service_addresses
from linli_portal.signin import SignInClient
from linli_runtime.grpc_tls import GrpcTls
from linli_runtime.logs import configure_logging
from linli_runtime.metrics import serve_metrics
from linli_runtime.oidc import verifier_from_settings
from linli_runtime.service_token import ClientCredentials
from linli_runtime.tracing import Tracing


def main() -> None:
    settings = PortalSettings()
    configure_logging("portal", settings.log_level)
    if not settings.issuer_url:
        raise SystemExit("set LINLI_ISSUER_URL: the token issuer the portal trusts and signs people in at")
    verifier = verifier_from_settings(settings)
    # The public pages' own token: client credentials carrying only the read-only `portal` role.
    public = ClientCredentials.from_settings(settings)
    signin = SignInClient(issuer=settings.issuer_url, client_id=settings.signin_client_id,
                          secret_file=settings.signin_secret_path(), redirect_uri=settings.redirect_uri,
                          internal_url=settings.issuer_internal_url, ca_file=settings.issuer_ca_file or None)
    addresses = service_addresses()
    tracing = Tracing.from_settings("portal", settings)
    tls = GrpcTls.from_settings(settings)
    app = create_app(lambda: Backends(addresses, public, tracing, tls), verifier, signin, cities=settings.cities,
                     secure_cookies=settings.portal_secure_cookies, tracing=tracing)
    serve_metrics(settings.metrics_port, settings.host)
    logging.getLogger("linli.portal").info("portal listening", extra={
        "port": settings.port, "issuer": settings.issuer_url, "signin_secret": str(Path(signin.secret_file))})
    # uvicorn handles SIGTERM itself: it stops accepting, finishes in-flight requests, then exits.
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                access_log=False, timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
