"""A person at the issuer's pages, driven over real HTTP with httpx (no JavaScript needed):
sign in with phone and the SMS code from the development gateway, continue or cancel, confirm
a device code."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from .conftest import Identity

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def hidden_fields(html: str) -> dict[str, str]:
    import html as htmllib

    return {name: htmllib.unescape(value) for name, value in HIDDEN.findall(html)}


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


class Browser:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.client = identity.http(follow_redirects=False)

    async def close(self) -> None:
        await self.client.aclose()

    async def sign_in(self, phone: str, next_path: str = "/") -> httpx.Response:
        """Phone → code (read from the dev gateway's file) → the redirect to `next_path`."""
        page = await self.client.get(f"/signin?{urlencode({'next': next_path})}")
        assert page.status_code == 200, page.text
        sent = await self.client.post("/signin", data={**hidden_fields(page.text), "phone": phone})
        assert sent.status_code == 200, sent.text
        code = self.identity.sms.latest_code(_e164(phone))
        assert code is not None
        return await self.client.post("/signin/code", data={**hidden_fields(sent.text), "code": code})

    async def authorize(self, url: str, phone: str, decision: str = "approve") -> str:
        """Open an authorization URL, sign in if asked, press continue (or cancel); the Location
        the browser is sent back to the client with."""
        first = await self.client.get(url)
        if first.status_code == 303 and first.headers["location"].startswith("/signin"):
            signed = await self.sign_in(phone, query(first.headers["location"])["next"])
            assert signed.status_code == 303, signed.text
            first = await self.client.get(signed.headers["location"])
        assert first.status_code == 200, first.text
        answer = await self.client.post("/oauth/authorize", data={**hidden_fields(first.text), "decision": decision})
        assert answer.status_code == 303, answer.text
        return answer.headers["location"]

    async def confirm_device(self, user_code: str, phone: str, decision: str = "approve") -> httpx.Response:
        page = await self.client.get(f"/device?{urlencode({'user_code': user_code})}")
        if page.status_code == 303:
            signed = await self.sign_in(phone, query(page.headers["location"])["next"])
            page = await self.client.get(signed.headers["location"])
        assert page.status_code == 200, page.text
        return await self.client.post("/device", data={**hidden_fields(page.text), "user_code": user_code,
                                                        "decision": decision})


def _e164(phone: str) -> str:
    from linli_identity.accounts import normalize_phone

    return normalize_phone("phone", phone)
