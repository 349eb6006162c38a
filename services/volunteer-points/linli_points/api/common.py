"""Request checks shared by the service's gRPC handlers."""

from __future__ import annotations

from datetime import date, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from linli_runtime import paging
from linli_runtime.auth import Principal, Role, caller, require_role, require_scope
from linli_runtime.errors import InvalidArgument, PermissionDenied

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def community(path: str, field: str = "community_path") -> str:
    """The normalised community path, checked against the caller's scope."""
    if not path.strip("/ "):
        raise InvalidArgument.field(field, "is required (an org path such as 'chengdu/jinjiang/chenglonglu/fengshu')")
    if len(path) > 255:
        raise InvalidArgument.field(field, "must be at most 255 characters")
    try:
        return require_scope(path)
    except InvalidArgument as exc:
        raise InvalidArgument.field(field, exc.violations[0].description if exc.violations else exc.message) from exc


def text(field: str, value: str, max_len: int, *, required: bool = False) -> str:
    if required and not value.strip():
        raise InvalidArgument.field(field, "is required")
    if len(value) > max_len:
        raise InvalidArgument.field(field, f"must be at most {max_len} characters")
    if "\x00" in value:
        raise InvalidArgument.field(field, "must not contain NUL characters")
    return value


def page_size(value: int) -> int:
    return paging.page_size(value, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)


# Page tokens name their list (`kind`) and the last position or key returned.
encode_token = paging.encode_token
decode_token = paging.decode_int_token


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
        if len(value) == 7 and 2000 <= datetime.strptime(value, "%Y-%m").year <= 2200:
            return value
    except ValueError:
        pass
    raise InvalidArgument.field(field, "must be a month written YYYY-MM (years 2000-2200)")


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
