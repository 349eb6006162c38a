"""The portal as `create_app` builds it counts its HTTP requests (linli_http_server_*, served on
LINLI_METRICS_PORT like the services' metrics), labelled by route template — in memory, over
ASGI, on /healthz, which needs none of the app's collaborators (backends, token checks)."""

from __future__ import annotations

import inspect

import httpx
from linli_portal.app import create_app
from prometheus_client import REGISTRY


def requests_counted(route: str, status: str) -> float:
    labels = {"service": "portal", "method": "GET", "route": route, "status": status}
    return REGISTRY.get_sample_value("linli_http_server_requests_total", labels) or 0.0


async def test_the_portal_app_counts_its_requests_by_route() -> None:
    required = [p for p in inspect.signature(create_app).parameters.values()
                if p.default is p.empty and p.kind is not p.KEYWORD_ONLY]
    app = create_app(*(None for _ in required))  # never reached by /healthz
    before = requests_counted("/healthz", "200"), requests_counted("unmatched", "404")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal") as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/no/such/page")).status_code == 404
    assert requests_counted("/healthz", "200") == before[0] + 1
    assert requests_counted("unmatched", "404") == before[1] + 1
