"""AIP-122 names of identity's collections: `accounts/{id}`, `accounts/{id}/grants/{id}`,
`signingKeys/{kid}`, `householdClaims/{id}`. Ids are chosen here, never by callers: `acc_`/`grt_` and random
characters, so that an id says what it names and reveals nothing (not a count, not a phone)."""

from __future__ import annotations

import re
import secrets

from linli_runtime.errors import InvalidArgument

ACCOUNTS = "accounts"
GRANTS = "grants"
SIGNING_KEYS = "signingKeys"
HOUSEHOLD_CLAIMS = "householdClaims"
ME = "me"
ANY = "-"

ACCOUNT_ID = re.compile(r"^acc_[a-z2-7]{20}$")
GRANT_ID = re.compile(r"^grt_[a-z2-7]{20}$")
CLAIM_ID = re.compile(r"^hcl_[a-z2-7]{20}$")
KID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # base32, lower case: no 0/1/8/9 to misread


def _random(length: int = 20) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_account_id() -> str:
    return f"acc_{_random()}"


def new_grant_id() -> str:
    return f"grt_{_random()}"


def new_claim_id() -> str:
    return f"hcl_{_random()}"


def account_name(account_id: str) -> str:
    return f"{ACCOUNTS}/{account_id}" if account_id else ""


def grant_name(account_id: str, grant_id: str) -> str:
    return f"{ACCOUNTS}/{account_id}/{GRANTS}/{grant_id}"


def signing_key_name(kid: str) -> str:
    return f"{SIGNING_KEYS}/{kid}"


def parse_account(field: str, name: str, *, me: str | None = None) -> str:
    """`accounts/{id}` → id; `accounts/me` → `me` (the caller's account id) when given."""
    parts = name.split("/")
    if len(parts) == 2 and parts[0] == ACCOUNTS:
        if parts[1] == ME and me is not None:
            return me
        if ACCOUNT_ID.match(parts[1]):
            return parts[1]
    raise InvalidArgument.field(field, f"must look like accounts/acc_… (or accounts/me), got {name[:80]!r}")


def parse_account_or_any(field: str, name: str, *, me: str) -> str:
    """As `parse_account`, also accepting `accounts/-` (every account), returned as ''."""
    if name == f"{ACCOUNTS}/{ANY}":
        return ""
    return parse_account(field, name, me=me)


def parse_grant(field: str, name: str) -> tuple[str, str]:
    """`accounts/{id}/grants/{id}` → (account id, grant id)."""
    parts = name.split("/")
    if len(parts) == 4 and parts[0] == ACCOUNTS and parts[2] == GRANTS and ACCOUNT_ID.match(parts[1]) \
            and GRANT_ID.match(parts[3]):
        return parts[1], parts[3]
    raise InvalidArgument.field(field, f"must look like accounts/acc_…/grants/grt_…, got {name[:80]!r}")


def claim_name(claim_id: str) -> str:
    return f"{HOUSEHOLD_CLAIMS}/{claim_id}"


def parse_claim(field: str, name: str) -> str:
    """`householdClaims/{id}` → id."""
    parts = name.split("/")
    if len(parts) == 2 and parts[0] == HOUSEHOLD_CLAIMS and CLAIM_ID.match(parts[1]):
        return parts[1]
    raise InvalidArgument.field(field, f"must look like householdClaims/hcl_…, got {name[:80]!r}")
