"""The portal's requests are traced (FastAPI's instrumentation): a page is a SERVER span in the
portal, parent of the calls it makes, which trust-governance answers in the same trace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from linli_identity.testing import TestIssuer
from linli_portal.app import create_app
from linli_portal.backends import Backends
from linli_portal.settings import PortalSettings
from linli_portal.signin import SignInClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from linli_runtime.auth import PrincipalKind, Role
from linli_runtime.tracing import Tracing, exporting_to
from tests.integration.governance.conftest import Governance, gov  # noqa: F401 (the fixture)
from tests.integration.portal.conftest import NOBODY


@pytest.fixture(autouse=True)
def spans() -> Iterator[InMemorySpanExporter]:
    with exporting_to(InMemorySpanExporter()) as exporter:
        yield exporter


async def test_a_page_is_one_trace_from_the_portal_into_the_service(
    gov: Governance, issuer: TestIssuer, tmp_path: Path, spans: InMemorySpanExporter  # noqa: F811
) -> None:
    def public_token() -> str:
        return issuer.issue("acc_portal", role=Role.PORTAL, kind=PrincipalKind.SERVICE, client_id="svc-portal")

    tracing = Tracing.from_settings("portal", PortalSettings())
    addresses = {"governance": f"127.0.0.1:{gov.app.port}", "points": NOBODY, "redemption": NOBODY,
                 "notification": NOBODY}
    backends = Backends(addresses, public_token, tracing)
    signin = SignInClient(issuer=issuer.url, client_id="linli-portal", secret_file=tmp_path / "unused.secret",
                          redirect_uri="http://portal/auth/callback")
    app = create_app(lambda: backends, issuer.verifier(), signin, cities=["chengdu"], tracing=tracing)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal") as client:
            assert (await client.get("/")).status_code == 200
            assert (await client.get("/healthz")).status_code == 200
    finally:
        await backends.close()
    finished = spans.get_finished_spans()
    [page] = [s for s in finished if s.kind == SpanKind.SERVER and s.resource.attributes["service.name"] == "portal"]
    assert page.name == "GET /" and page.parent is None, "one page, one trace; /healthz is not traced"
    by_id = {s.context.span_id: s for s in finished}
    answered = [s for s in finished if s.kind == SpanKind.SERVER
                and s.resource.attributes["service.name"] == "trust-governance"]
    assert answered, "the page asked trust-governance"
    for span in answered:
        assert span.context.trace_id == page.context.trace_id
        assert span.parent is not None
        call = by_id[span.parent.span_id]
        assert call.kind == SpanKind.CLIENT and call.resource.attributes["service.name"] == "portal"
        assert call.parent is not None and call.parent.span_id == page.context.span_id
