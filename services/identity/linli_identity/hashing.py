"""Digests of the secrets identity keeps (see tables.py for why a plain SHA-256 suffices)."""

from __future__ import annotations

import hashlib
import hmac


def digest(secret: str, *, salt: str = "") -> str:
    return hashlib.sha256(f"{salt}\x1f{secret}".encode()).hexdigest()


def matches(secret: str, expected_digest: str, *, salt: str = "") -> bool:
    """Constant-time comparison of `secret`'s digest with a stored one."""
    return hmac.compare_digest(digest(secret, salt=salt), expected_digest)
