"""Resource names (AIP-122) and small value checks shared by the API modules.

A compound-scoped resource carries its compound's org path in its name, with '/' written as
'~' (`compounds/chengdu~chongzhou~longxing~longxing-community~shengjian/votes/7f3a…`), so a
scope check needs no database read and a replayed request is checked exactly like a new one.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from linli_runtime import paging
from linli_runtime.auth import normalize_path
from linli_runtime.errors import InvalidArgument

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100


def compound_id(path: str) -> str:
    return path.replace("/", "~")


def compound_name(path: str) -> str:
    return f"compounds/{compound_id(path)}"


def child_name(compound_path: str, collection: str, item: str) -> str:
    return f"{compound_name(compound_path)}/{collection}/{item}"


def parse_child_name(name: str, collection: str, field: str = "name") -> tuple[str, str]:
    """`compounds/{c}/{collection}/{id}` → (compound path, id); INVALID_ARGUMENT otherwise."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "compounds" or parts[2] != collection or not parts[1] or not parts[3]:
        raise InvalidArgument.field(field, f"must look like compounds/{{compound}}/{collection}/{{id}}, got {name!r}")
    return require_path(parts[1].replace("~", "/"), field), parts[3]


def require_path(path: str, field: str) -> str:
    if not path.strip():
        raise InvalidArgument.field(field, "is required")
    try:
        return normalize_path(path)
    except InvalidArgument as exc:
        raise InvalidArgument.field(field, exc.violations[0].description if exc.violations else str(exc)) from exc


def require_text(value: str, field: str, *, max_len: int = 500) -> str:
    value = value.strip()
    if not value:
        raise InvalidArgument.field(field, "is required")
    if len(value) > max_len:
        raise InvalidArgument.field(field, f"must be at most {max_len} characters")
    return value


def optional_text(value: str, field: str, *, max_len: int = 2000) -> str:
    if len(value) > max_len:
        raise InvalidArgument.field(field, f"must be at most {max_len} characters")
    return value.strip()


def require_positive_fen(value: int, field: str = "amount_fen") -> int:
    if value <= 0:
        raise InvalidArgument.field(field, "must be a positive amount in fen (1/100 yuan)")
    if value > 10**13:
        raise InvalidArgument.field(field, "is implausibly large (over 100 billion yuan)")
    return value


def request_id_required(value: str) -> str:
    if not value.strip():
        raise InvalidArgument.field("request_id", "is required: choose a unique id and reuse it when retrying")
    return value


def page_size(value: int) -> int:
    return paging.page_size(value, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)


# One token kind for every governance list: its keys are resource names, unique across lists.
TOKEN_KIND = "gov1"


def encode_token(key: str) -> str:
    return paging.encode_token(TOKEN_KIND, key)


def decode_token(token: str) -> str | None:
    """The key after which the next page starts; None for the first page."""
    return paging.decode_token(TOKEN_KIND, token) or None


def utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
