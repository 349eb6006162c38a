"""The token issuer's HTTP side is traced (the ASGI instrumentation): a request is a SERVER span
of identity; /healthz is not traced."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from linli_runtime.tracing import exporting_to
from tests.integration.identity.conftest import Identity


@pytest.fixture(autouse=True)
def spans() -> Iterator[InMemorySpanExporter]:
    with exporting_to(InMemorySpanExporter()) as exporter:
        yield exporter


async def test_an_issuer_request_is_a_server_span_of_identity(identity: Identity,
                                                             spans: InMemorySpanExporter) -> None:
    spans.clear()
    async with identity.http() as http:
        assert (await http.get("/jwks.json")).status_code == 200
        assert (await http.get("/healthz")).status_code == 200
    finished = spans.get_finished_spans()
    [request] = [s for s in finished if s.kind == SpanKind.SERVER]
    assert request.resource.attributes["service.name"] == "identity"
    assert request.name.startswith("GET") and request.parent is None
    assert (request.attributes or {}).get("http.response.status_code",
                                          (request.attributes or {}).get("http.status_code")) == 200
