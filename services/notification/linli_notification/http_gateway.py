"""What every HTTP gateway shares: one `httpx.AsyncClient` per gateway, so connections to the
vendor are kept alive and reused, bounded (`max_connections`: a burst of deliveries waits for a
free connection rather than opening hundreds), and every request has a timeout. Nothing here
blocks the event loop. The client is closed when the service stops (`aclose`).

Vendors' APIs are HTTPS under public CAs (httpx trusts certifi's bundle). A gateway behind a
private CA — an in-house SMS relay — is trusted through `ca_file` (`LINLI_GATEWAY_CA_FILE`), given
to httpx as an `ssl.SSLContext` (httpx deprecates a path in `verify=`).

Transport failures become `ProviderError`s whose text names the problem and never the request
(a one-time code travels in some requests' bodies).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

import httpx

from linli_notification.providers import ProviderError

DEFAULT_TIMEOUT = 5.0
DEFAULT_MAX_CONNECTIONS = 10


def tls_verification(ca_file: str = "") -> ssl.SSLContext | bool:
    """What httpx verifies servers with: the CAs in `ca_file` only, else its default (certifi)."""
    return ssl.create_default_context(cafile=ca_file) if ca_file else True


class HttpGateway:
    """Base of the HTTP providers (see the module docstring). `transport` is for tests that
    want to see requests without a network."""

    def __init__(self, name: str, *, timeout: float = DEFAULT_TIMEOUT,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS, ca_file: str = "",
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.name = name
        self.timeout = timeout
        self._http = httpx.AsyncClient(
            verify=tls_verification(ca_file),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            # A vendor API never redirects; following one could send our signed request elsewhere.
            follow_redirects=False,
            transport=transport)

    async def _request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                       json: Any = None, content: bytes | None = None) -> httpx.Response:
        try:
            return await self._http.request(method, url, headers=headers, json=json, content=content)
        except httpx.TimeoutException:
            raise ProviderError(f"no answer within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"unreachable: {type(exc).__name__}: {exc}") from None

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json() if response.content else {}
        except ValueError:
            raise ProviderError(f"HTTP {response.status_code}, and the answer is not JSON") from None

    async def aclose(self) -> None:
        await self._http.aclose()
