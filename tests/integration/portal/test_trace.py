"""The portal's requests are traced (FastAPI's instrumentation): a page is a SERVER span in the
portal, parent of the calls it makes, which trust-governance answers in the same trace."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from linli_portal.app import create_app
from linli_portal.backends import Backends, ServiceToken
from linli_portal.settings import PortalSettings
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from linli_runtime.auth import TokenSigner
from linli_runtime.tracing import Tracing, exporting_to
from tests.integration.governance.conftest import Governance, gov  # noqa: F401 (the fixture)
from tests.integration.portal.conftest import NOBODY


@pytest.fixture(autouse=True)
def spans() -> Iterator[InMemorySpanExporter]:
    with exporting_to(InMemorySpanExporter()) as exporter:
        yield exporter


async def test_a_page_is_one_trace_from_the_portal_into_the_service(
    gov: Governance, signer: TokenSigner, spans: InMemorySpanExporter  # noqa: F811
) -> None:
    tracing = Tracing.from_settings("portal", PortalSettings())
    addresses = {"governance": f"127.0.0.1:{gov.app.port}", "points": NOBODY, "redemption": NOBODY,
                 "notification": NOBODY}
    backends = Backends(addresses, ServiceToken(signer), tracing)
    app = create_app(lambda: backends, signer, cities=["chengdu"], tracing=tracing)
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
