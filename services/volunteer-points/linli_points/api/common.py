"""Request checks shared by the service's gRPC handlers."""

from __future__ import annotations

import base64
import binascii
from datetime import date, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from linli_runtime.auth import Principal, Role, caller, require_role, require_scope
from linli_runtime.errors import AlreadyExists, InvalidArgument, PermissionDenied

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


def ident(field: str, value: str) -> str:
    """A caller-chosen id: 1-64 characters of letters, digits, '.', '_', ':' or '-'."""
    from linli_points.ledger.accounts import check_id

    return check_id(field, value)


def display_name(field: str, value: str) -> str:
    return text(field, value.strip(), 100, required=True)


def parse_date(field: str, value: str) -> date:
    try:
        return date.fromisoformat(value) if len(value) == 10 else _bad_date(field)
    except ValueError:
        return _bad_date(field)


def _bad_date(field: str) -> date:
    raise InvalidArgument.field(field, "must be a date written YYYY-MM-DD")


def parse_month(field: str, value: str) -> str:
    try:
        if len(value) == 7:
            datetime.strptime(value, "%Y-%m")
            return value
    except ValueError:
        pass
    raise InvalidArgument.field(field, "must be a month written YYYY-MM")


WRITERS = (Role.CITY_OPERATOR, Role.STREET_OFFICER, Role.COMMUNITY_WORKER)
READERS = (*WRITERS, Role.PARTY_COMMITTEE)


def require_writer() -> Principal:
    return require_role(*WRITERS)


def require_reader() -> Principal:
    return require_role(*READERS)


def require_worker_or_self(volunteer_id: str) -> Principal:
    """Workers act for anyone in scope; a volunteer only for themself."""
    who = caller()
    if who.role == Role.VOLUNTEER:
        if who.subject != volunteer_id:
            raise PermissionDenied("a volunteer may act only for themself", reason="NOT_SELF")
        return who
    return require_writer()


def refuse_conflict(what: str, key: str) -> AlreadyExists:
    return AlreadyExists(f"{what} {key!r} already exists with different content; choose a new id",
                         reason="ID_REUSED", metadata={"id": key})


def encode_key_token(kind: str, key: str) -> str:
    """A page token for lists ordered by a string key: the last key returned."""
    return base64.urlsafe_b64encode(f"{kind}\x1f{key}".encode()).decode().rstrip("=")


def decode_key_token(kind: str, token: str) -> str:
    if not token:
        return ""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, sep, key = raw.partition("\x1f")
        if prefix == kind and sep and key:
            return key
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidArgument.field("page_token", "is not a token returned by this method")
