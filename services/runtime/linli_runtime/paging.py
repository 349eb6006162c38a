"""AIP-158 pagination, the same in every service.

`page_size`: 0 means the list's default, a negative size is refused, a size above the maximum
is coerced down to it (AIP-158 asks for coercion, so a client asking for "everything" gets
pages rather than an error). Page tokens are opaque to clients but bound to the list that
issued them (`kind`, e.g. the method plus its filter): a token from another list is refused
with INVALID_ARGUMENT instead of silently giving a wrong page. A token carries the last key
of the previous page (keyset pagination), so pages stay stable while rows are added.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, Row, Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_runtime.errors import InvalidArgument
from linli_runtime.times import as_utc

_SEPARATOR = "\x1f"  # a control character: never part of a kind or a key

# One rule for every list of every service (documented in the protos' List requests): 0 asks
# for 100 items, and more than 1,000 is coerced down to 1,000.
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def where_given(query: Select[Any], *filters: tuple[ColumnElement[Any], object]) -> Select[Any]:
    """`query` narrowed to `column == value` for each filter whose value was given — a list
    request's optional filters, where None, "" or 0 (a proto3 field left unset) mean "any"."""
    for column, value in filters:
        if value:
            query = query.where(column == value)
    return query


def page_size(value: int, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    """The page size to use for a request's `page_size`. A list whose rows are costly to build
    may pass a smaller `maximum`; the default stays the same everywhere."""
    if value < 0:
        raise InvalidArgument.field("page_size", "must not be negative")
    return min(value or default, maximum)


def _digest(kind: str) -> str:
    """Tokens carry a digest of their list's kind (method and filters), not the kind itself:
    short whatever the filters, and not a place to read the filters back from."""
    return hashlib.sha256(kind.encode()).hexdigest()[:12]


def encode_token(kind: str, key: str | int) -> str:
    """A page token for the list `kind`, resuming after `key`."""
    raw = f"{_digest(kind)}{_SEPARATOR}{key}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(kind: str, token: str) -> str:
    """The key after which the next page of `kind` starts; "" for the first page."""
    if not token:
        return ""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, separator, key = raw.partition(_SEPARATOR)
        if prefix == _digest(kind) and separator and key:
            return key
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidArgument.field("page_token", "is not a token this list returned; start again without one")


def _bad_token() -> InvalidArgument:
    return InvalidArgument.field("page_token", "is not a token this list returned; start again without one")


def decode_int_token(kind: str, token: str) -> int:
    """As `decode_token`, for lists keyed by a sequence number; 0 for the first page."""
    key = decode_token(kind, token)
    if not key:
        return 0
    if not key.isdigit() or len(key) > 18:
        raise InvalidArgument.field("page_token", "is not a token this list returned; start again without one")
    return int(key)


async def keyset_page(conn: AsyncConnection, query: Select[Any], key: ColumnElement[Any], *, kind: str,
                      page_token: str, size: int, newest_first: bool = False) -> tuple[Sequence[Row[Any]], str]:
    """One page of `query` in `key` order (descending with `newest_first`), resuming after the
    key in `page_token`, and the token for the next page ("" on the last one). `key` must be
    unique within the list."""
    # A sequence key must come back a number: a forged token is INVALID_ARGUMENT, not a crash.
    bound: Any = decode_int_token(kind, page_token) if isinstance(key.type, Integer) else decode_token(kind, page_token)
    if page_token:
        query = query.where(key < bound if newest_first else key > bound)
    rows = (await conn.execute(query.order_by(key.desc() if newest_first else key).limit(size + 1))).all()
    if len(rows) <= size:
        return rows, ""
    page = rows[:size]
    return page, encode_token(kind, getattr(page[-1], str(key.key)))


async def newest_first_page(conn: AsyncConnection, query: Select[Any], created: ColumnElement[datetime],
                            ident: ColumnElement[str], *, kind: str, page_token: str,
                            size: int) -> tuple[Sequence[Row[Any]], str]:
    """One page of `query`, newest `created` first — ties (rows of the same instant) by `ident`,
    unique, descending — resuming after the (created, ident) key in `page_token`, and the
    token for the next page ("" on the last one). For tables keyed by an id rather than a
    sequence number; rows added while a client pages are newer than its key and never shift
    the pages it has not read yet."""
    key = decode_token(kind, page_token)
    if key:
        when, _, after = key.partition(_SEPARATOR)
        try:
            moment = as_utc(datetime.fromisoformat(when))
        except ValueError:
            raise _bad_token() from None
        if not after:
            raise _bad_token()
        query = query.where(or_(created < moment, and_(created == moment, ident < after)))
    rows = (await conn.execute(query.order_by(created.desc(), ident.desc()).limit(size + 1))).all()
    if len(rows) <= size:
        return rows, ""
    page = rows[:size]
    last = page[-1]
    return page, encode_token(kind, f"{as_utc(getattr(last, str(created.key))).isoformat()}{_SEPARATOR}"
                                    f"{getattr(last, str(ident.key))}")
