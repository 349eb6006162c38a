"""Request checks shared by the service's gRPC handlers."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from linli_runtime.auth import require_scope
from linli_runtime.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def community(path: str, field: str = "community_path") -> str:
    """The normalised community path, checked against the caller's scope."""
    if not path.strip("/ "):
        raise InvalidArgument.field(field, "is required (an org path such as 'chengdu/jinjiang/chenglonglu/fengshu')")
    try:
        return require_scope(path)
    except InvalidArgument as exc:
        raise InvalidArgument.field(field, exc.violations[0].description if exc.violations else exc.message) from exc


def text(field: str, value: str, max_len: int, *, required: bool = False) -> str:
    if required and not value.strip():
        raise InvalidArgument.field(field, "is required")
    if len(value) > max_len:
        raise InvalidArgument.field(field, f"must be at most {max_len} characters")
    return value


def page_size(value: int) -> int:
    if value < 0 or value > MAX_PAGE_SIZE:
        raise InvalidArgument.field("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
    return value or DEFAULT_PAGE_SIZE


def encode_token(kind: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def decode_token(kind: str, token: str) -> int:
    """The position in a page token made by `encode_token(kind, …)`; 0 for no token."""
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, position = raw.partition(":")
        if prefix == kind and position.isdigit():
            return int(position)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidArgument.field("page_token", "is not a token returned by this method")


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts
