"""linli_runtime.service_token: a service's own token from the issuer (client credentials),
cached, renewed before it lapses, kept while the issuer is briefly away. The issuer's token
endpoint is served in memory; time is a ManualClock."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from linli_runtime.clock import ManualClock
from linli_runtime.errors import Unavailable
from linli_runtime.service_token import ClientCredentials

ISSUER = "https://id.linli.test"


class TokenEndpoint:
    def __init__(self) -> None:
        self.up = True
        self.issued = 0
        self.seen: list[tuple[str, str, str]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": ISSUER, "token_endpoint": f"{ISSUER}/oauth/token"})
        if not self.up:
            return httpx.Response(503)
        client, _, secret = base64.b64decode(request.headers["authorization"][6:]).decode().partition(":")
        grant = parse_qs(request.content.decode())["grant_type"][0]
        self.seen.append((client, secret, grant))
        if secret != "s3cret":
            return httpx.Response(401, json={"error": "invalid_client", "error_description": "the secret is wrong"})
        self.issued += 1
        return httpx.Response(200, json={"access_token": f"token-{self.issued}", "expires_in": 600})


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "svc-partner-redemption.secret"
    path.write_text("s3cret\n")
    path.chmod(0o600)
    return path


def write(path: Path, text: str) -> None:
    path.write_text(text)


def credentials(endpoint: TokenEndpoint, secret: Path, clock: ManualClock) -> ClientCredentials:
    return ClientCredentials(client_id="svc-partner-redemption", secret_file=secret, issuer=ISSUER, clock=clock,
                             transport=httpx.MockTransport(endpoint.handler))


async def test_one_token_is_shared_until_it_nears_expiry_then_renewed(secret: Path) -> None:
    clock, endpoint = ManualClock(), TokenEndpoint()
    source = credentials(endpoint, secret, clock)
    assert [await source() for _ in range(5)] == ["token-1"] * 5
    assert endpoint.seen == [("svc-partner-redemption", "s3cret", "client_credentials")]
    clock.advance(seconds=600 - 121)  # more than a fifth of its life left: kept
    assert await source() == "token-1"
    clock.advance(seconds=2)
    assert await source() == "token-2" and source.fetches == 2


async def test_the_issuer_away_keeps_the_valid_token_then_fails_unavailable(secret: Path) -> None:
    clock, endpoint = ManualClock(), TokenEndpoint()
    source = credentials(endpoint, secret, clock)
    assert await source() == "token-1"
    endpoint.up = False
    clock.advance(seconds=500)  # due for renewal; the issuer does not answer
    assert await source() == "token-1"
    clock.advance(seconds=100)  # lapsed, still no issuer
    with pytest.raises(Unavailable) as away:
        await source()
    assert away.value.reason == "ISSUER_UNAVAILABLE"
    endpoint.up = True
    clock.advance(seconds=6)  # past the retry pause
    assert await source() == "token-2"


async def test_a_wrong_secret_says_so(secret: Path) -> None:
    write(secret, "wrong")
    with pytest.raises(Unavailable, match="the secret is wrong"):
        await credentials(TokenEndpoint(), secret, ManualClock())()


async def test_a_rotated_secret_file_is_read_at_the_next_fetch(secret: Path) -> None:
    clock, endpoint = ManualClock(), TokenEndpoint()
    write(secret, "old")
    source = credentials(endpoint, secret, clock)
    with pytest.raises(Unavailable):
        await source()
    write(secret, "s3cret")
    clock.advance(seconds=6)
    assert await source() == "token-1"
