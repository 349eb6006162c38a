"""The web portal in process (its FastAPI app over httpx's ASGI transport) in front of a real
trust-governance on loopback with a ManualClock, real NATS and the test's database — so that a
test can write the books month by month, then tamper with the service's database and read what
the residents' page says. Both trust the test issuer; the portal reads the public pages with a
token carrying only the read-only `portal` role, as its own client credentials give it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from linli_identity.testing import TestIssuer
from linli_portal.app import create_app
from linli_portal.backends import Backends
from linli_portal.signin import SignInClient

from linli_runtime.auth import PrincipalKind, Role
from tests.integration.governance.conftest import Governance, gov  # noqa: F401 (the fixture)

NOBODY = "127.0.0.1:9"  # the compound pages call trust-governance only


@pytest.fixture
async def portal(gov: Governance, issuer: TestIssuer, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    def public_token() -> str:
        return issuer.issue("acc_portal", role=Role.PORTAL, kind=PrincipalKind.SERVICE, client_id="svc-portal")

    backends = Backends(
        {"governance": f"127.0.0.1:{gov.app.port}", "points": NOBODY, "redemption": NOBODY, "notification": NOBODY},
        public_token,
    )
    # Nobody signs in here: the sign-in client is never asked.
    signin = SignInClient(issuer=issuer.url, client_id="linli-portal", secret_file=tmp_path / "unused.secret",
                          redirect_uri="http://portal/auth/callback")
    app = create_app(lambda: backends, issuer.verifier(), signin, cities=["chengdu"])
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal") as client:
            yield client
    finally:
        await backends.close()
