"""The web portal in process (its FastAPI app over httpx's ASGI transport) in front of a real
trust-governance on loopback with a ManualClock, real NATS and the test's database — so that a
test can write the books month by month, then tamper with the service's database and read what
the residents' page says."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from linli_portal.app import create_app
from linli_portal.backends import Backends, ServiceToken

from linli_runtime.auth import TokenSigner
from tests.integration.governance.conftest import Governance, gov  # noqa: F401 (the fixture)

NOBODY = "127.0.0.1:9"  # the compound pages call trust-governance only


@pytest.fixture
async def portal(gov: Governance, signer: TokenSigner) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    backends = Backends(
        {"governance": f"127.0.0.1:{gov.app.port}", "points": NOBODY, "redemption": NOBODY, "notification": NOBODY},
        ServiceToken(signer),
    )
    app = create_app(lambda: backends, signer, cities=["chengdu"])
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal") as client:
            yield client
    finally:
        await backends.close()
