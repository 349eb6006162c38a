"""Checks on request fields, the same in every service.

Each returns the value it checked (trimmed where that is the rule) or raises INVALID_ARGUMENT
naming the field, with a message a person can act on. Messages never echo a long value back:
the caller knows what they sent, and a 5,000-character echo would swell the error trailers
past the client's metadata limit.
"""

from __future__ import annotations

import re

from linli_runtime.errors import InvalidArgument

# Caller-chosen ids (volunteers, transfers, pairings…): letters, digits and . _ : -
ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Slugs chosen by operators (categories, merchants, rewards): lower case, digits, '-' and '_'.
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# AIP-155 request ids: one rule in every service (a UUID fits, as do most clients' own ids).
REQUEST_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
# A person's account at the issuer, as its tokens' `sub` names it: `acc_…` from the embedded
# issuer, a UUID or similar from another OIDC provider. The rule of the ids notification keeps
# people's inboxes under, so any account can have one.
ACCOUNT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def text(field: str, value: str, max_len: int, *, required: bool = False, strip: bool = True) -> str:
    """Free text of at most `max_len` characters, without NUL; trimmed unless `strip=False`."""
    if strip:
        value = value.strip()
    if required and not value.strip():
        raise InvalidArgument.field(field, "is required")
    if len(value) > max_len:
        raise InvalidArgument.field(field, f"must be at most {max_len} characters (got {len(value)})")
    if "\x00" in value:
        raise InvalidArgument.field(field, "must not contain NUL characters")
    return value


def display_name(field: str, value: str) -> str:
    """A person's or a thing's name: required, at most 100 characters."""
    return text(field, value, 100, required=True)


def ident(field: str, value: str) -> str:
    """A caller-chosen id: 1–64 letters, digits, '.', '_', ':' or '-'."""
    if not ID.match(value):
        raise InvalidArgument.field(field, "must be 1-64 characters of letters, digits, '.', '_', ':' or '-'")
    return value


def account_id(field: str, value: str) -> str:
    """An account id (a token's `sub`): 1-128 letters, digits, '_', '.' or '-', starting with a
    letter or digit (`acc_…`)."""
    if not ACCOUNT_ID.match(value):
        raise InvalidArgument.field(field, "must be an account id (the `sub` of the person's tokens, e.g. acc_…): "
                                           "1-128 letters, digits, '_', '.' or '-'")
    return value


def slug(field: str, value: str) -> str:
    """A lower-case slug: 1–63 of a-z, 0-9, '-' and '_', starting with a letter or digit."""
    if not SLUG.match(value):
        raise InvalidArgument.field(field, "must be 1-63 characters of a-z, 0-9, '-' and '_' (not starting with "
                                           "'-' or '_')")
    return value


def request_id(value: str, field: str = "request_id", *, required: bool = False) -> str:
    """An AIP-155 request id; "" is allowed unless `required`."""
    if not value:
        if required:
            raise InvalidArgument.field(field, "is required: choose a unique id (a UUID) and reuse it when retrying")
        return value
    if not REQUEST_ID.match(value):
        raise InvalidArgument.field(field, "use 1-128 letters, digits, '_', '.', ':' or '-' (e.g. a UUID)")
    return value


def in_range(field: str, value: int, low: int, high: int) -> int:
    """An integer within [low, high]."""
    if not low <= value <= high:
        raise InvalidArgument.field(field, f"must be between {low} and {high}")
    return value


def positive(field: str, value: int, high: int) -> int:
    """A whole amount above zero and at most `high`."""
    if value <= 0:
        raise InvalidArgument.field(field, "must be greater than zero")
    if value > high:
        raise InvalidArgument.field(field, f"must be at most {high}")
    return value


def sha256_hex(field: str, value: str, *, required: bool = False) -> str:
    """A SHA-256 digest written as 64 lower-case hex digits ("" allowed unless `required`)."""
    if not value and not required:
        return value
    if not HEX64.match(value):
        raise InvalidArgument.field(field, "must be a SHA-256 digest: 64 lower-case hex digits")
    return value
