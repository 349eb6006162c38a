"""The organiser's rotating check-in tokens: what the QR code on the organiser's screen carries,
proving that whoever opens it saw that screen a moment ago.

A token is `{step}.{mac}`: `step` counts ROTATION-long steps since the epoch, `mac` is an
HMAC-SHA256 (truncated to 128 bits, base64url) of the community, the activity and the step,
keyed by the activity's own random key (`Activity.check_in_key`, made on first use, never
leaving volunteer-points: the portal only passes tokens along, it cannot mint one). The key
is per activity so that one leaked key opens one activity, and in the database so that every
replica of the service mints and checks the same tokens.

A token is accepted from its step's start (a little earlier: replicas' clocks differ) until
LIFETIME after it — long enough to scan the code and, if need be, sign in; short enough that
a photo of the screen sent home is useless by the time anyone opens it. Each volunteer is
checked in once (activities.py), so replaying a URL never counts twice.

Pure functions: no clock, no database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

ROTATION = timedelta(seconds=30)
LIFETIME = timedelta(seconds=90)
# A token minted by a replica whose clock runs ahead of this one's is still good.
CLOCK_SKEW = timedelta(seconds=5)
MAC_BYTES = 16
TOKEN = re.compile(r"^(\d{1,12})\.([A-Za-z0-9_-]{22})$")


@dataclass(frozen=True)
class Minted:
    token: str
    step_start: datetime
    rotate_time: datetime  # the next step begins
    expire_time: datetime


class TokenRefused(Exception):
    """Why a token is not accepted: `kind` is "malformed", "invalid" or "expired"."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def new_key() -> str:
    """A fresh activity key (256 bits, hex: 64 characters)."""
    return secrets.token_hex(32)


def _step_of(when: datetime) -> int:
    return int(when.timestamp() // ROTATION.total_seconds())


def _start_of(step: int) -> datetime:
    return datetime.fromtimestamp(step * ROTATION.total_seconds(), UTC)


def _mac(key: str, path: str, activity_id: str, step: int) -> str:
    message = "\x1f".join(("linli-check-in-v1", path, activity_id, str(step))).encode()
    digest = hmac.new(bytes.fromhex(key), message, hashlib.sha256).digest()[:MAC_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def mint(key: str, path: str, activity_id: str, now: datetime) -> Minted:
    """The token of the step `now` falls in."""
    step = _step_of(now)
    start = _start_of(step)
    return Minted(f"{step}.{_mac(key, path, activity_id, step)}", start, start + ROTATION, start + LIFETIME)


def verify(key: str, path: str, activity_id: str, token: str, now: datetime) -> datetime:
    """When the token's step began, if `token` was minted for this activity and is still good
    at `now`; else TokenRefused. The signature is checked before the time, so a forged token is
    "invalid" whatever step it names."""
    matched = TOKEN.match(token)
    if matched is None:
        raise TokenRefused("malformed", "this is not a check-in token (a number, a dot and 22 characters)")
    step = int(matched.group(1))
    if not key or not hmac.compare_digest(_mac(key, path, activity_id, step), matched.group(2)):
        raise TokenRefused("invalid", "this check-in code was not issued by the organiser of this activity")
    start = _start_of(step)
    if start > now + CLOCK_SKEW:
        raise TokenRefused("invalid", "this check-in code is dated in the future")
    if now >= start + LIFETIME:
        raise TokenRefused("expired", f"this check-in code expired at {start + LIFETIME:%H:%M:%S} UTC; "
                                      "scan the organiser's screen again")
    return start
