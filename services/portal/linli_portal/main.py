"""`python -m linli_portal.main`: the portal behind uvicorn, on PORT (8080 by default)."""

from __future__ import annotations

import logging

import uvicorn

from linli_portal.app import create_app
from linli_portal.backends import Backends, ServiceToken
from linli_portal.settings import PortalSettings, service_addresses
from linli_runtime.auth import TokenSigner
from linli_runtime.logs import configure_logging
from linli_runtime.metrics import serve_metrics


def main() -> None:
    settings = PortalSettings()
    configure_logging("portal", settings.log_level)
    signer = TokenSigner(settings.jwt_secret, settings.jwt_issuer)
    token = ServiceToken(signer, settings.portal_service_token)
    addresses = service_addresses()
    app = create_app(lambda: Backends(addresses, token), signer, cities=settings.cities,
                     secure_cookies=settings.portal_secure_cookies)
    serve_metrics(settings.metrics_port, settings.host)
    logging.getLogger("linli.portal").info("portal listening", extra={"port": settings.port})
    # uvicorn handles SIGTERM itself: it stops accepting, finishes in-flight requests, then exits.
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                access_log=False, timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
