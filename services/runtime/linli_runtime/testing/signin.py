"""People signing in at the platform's issuer as a person does, for end-to-end tests: the
issuer's pages over real HTTP (httpx), the one-time code read from the development SMS
gateway's file — no test-only door into the issuer.

    browser = IssuerBrowser(issuer_url, sms_file)
    browser.sign_in("+8613800000001")                  # phone → code from the dev gateway → session
    tokens = browser.device_tokens()                    # the CLI's device flow, approved on /device
    tokens = browser.refresh(tokens)                    # refresh-token grant (rotation)
    browser.approve_device("BCDF-GHJK")                 # approve a code a real `linli login` printed

The issuer session (a cookie) lasts, so one sign-in per person gives any number of tokens.
"""

from __future__ import annotations

import html
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
CLI_CLIENT = "linli-cli"


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden inputs of an HTML form (CSRF token, challenge id, `next`…)."""
    return {name: html.unescape(value) for name, value in HIDDEN.findall(page)}


def latest_code(sms_file: Path, phone: str) -> str | None:
    """The last code the development SMS gateway wrote for `phone` (E.164)."""
    if not sms_file.exists():
        return None
    found = None
    for line in sms_file.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry.get("phone") == phone:
            found = str(entry["code"])
    return found


@dataclass
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: float  # Unix time

    @classmethod
    def of(cls, body: dict[str, Any]) -> Tokens:
        return cls(str(body["access_token"]), str(body.get("refresh_token", "")),
                   time.time() + float(body["expires_in"]))


class SignInFailed(AssertionError):
    pass


class IssuerBrowser:
    def __init__(self, issuer: str, sms_file: Path, *, timeout: float = 15.0) -> None:
        self.issuer = issuer.rstrip("/")
        self.sms_file = sms_file
        self.client = httpx.Client(base_url=self.issuer, follow_redirects=False, timeout=timeout)

    def close(self) -> None:
        self.client.close()

    def _expect(self, reply: httpx.Response, status: int, what: str) -> httpx.Response:
        if reply.status_code != status:
            raise SignInFailed(f"{what}: HTTP {reply.status_code} {reply.text[:300]}")
        return reply

    def sign_in(self, phone: str, next_path: str = "/") -> httpx.Response:
        """Phone → a code (read from the dev gateway's file) → the issuer's redirect to `next_path`."""
        page = self._expect(self.client.get(f"/signin?{urlencode({'next': next_path})}"), 200, "the sign-in page")
        sent = self._expect(self.client.post("/signin", data={**hidden_fields(page.text), "phone": phone}), 200,
                            f"asking a code for {phone}")
        code = latest_code(self.sms_file, phone)  # written before the code page was answered
        if code is None:
            raise SignInFailed(f"no SMS code for {phone} in {self.sms_file}")
        return self._expect(self.client.post("/signin/code", data={**hidden_fields(sent.text), "code": code}), 303,
                            f"confirming the code for {phone}")

    def approve_device(self, user_code: str, decision: str = "approve") -> None:
        page = self._expect(self.client.get(f"/device?{urlencode({'user_code': user_code})}"), 200,
                            "the device page (sign in first)")
        self._expect(self.client.post("/device", data={**hidden_fields(page.text), "user_code": user_code,
                                                       "decision": decision}), 200, "confirming the device code")

    def device_tokens(self, client_id: str = CLI_CLIENT) -> Tokens:
        """The device flow end to end: start it, approve the code as the signed-in person, poll once."""
        started = self._expect(self.client.post("/oauth/device_authorization", data={"client_id": client_id}), 200,
                               "the device authorization").json()
        self.approve_device(started["user_code"])
        reply = self._expect(self.client.post("/oauth/token", data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": started["device_code"],
            "client_id": client_id}), 200, "the device token")
        return Tokens.of(reply.json())

    def refresh(self, tokens: Tokens, client_id: str = CLI_CLIENT) -> Tokens:
        reply = self._expect(self.client.post("/oauth/token", data={
            "grant_type": "refresh_token", "refresh_token": tokens.refresh_token, "client_id": client_id}), 200,
            "refreshing a token")
        return Tokens.of(reply.json())

    def authorize(self, url: str, decision: str = "approve") -> str:
        """Follow an authorization URL as the signed-in person and press continue; the Location
        the browser is sent back to the client with."""
        page = self._expect(self.client.get(url), 200, "the authorization page (sign in first)")
        answer = self._expect(self.client.post("/oauth/authorize", data={**hidden_fields(page.text),
                                                                         "decision": decision}), 303, "continuing")
        return answer.headers["location"]
