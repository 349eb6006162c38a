"""AIP-122 resource names. A community's org path goes into one segment with `/` written as
`~`: `communities/chengdu~jinjiang~chenglonglu~fengshu/helpRequests/h-…`."""

from __future__ import annotations

import re

from linli_runtime.auth import normalize_path
from linli_runtime.errors import InvalidArgument

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def community_name(path: str) -> str:
    return "communities/" + path.replace("/", "~")


def parse_community(field: str, name: str) -> str:
    """`communities/a~b~c` → `a/b/c`."""
    parts = name.split("/")
    if len(parts) != 2 or parts[0] != "communities" or not parts[1]:
        raise InvalidArgument.field(field, f"{name!r} is not a community name 'communities/{{path with ~}}'")
    return _path(field, parts[1])


def _path(field: str, segment: str) -> str:
    try:
        path = normalize_path(segment.replace("~", "/"))
    except InvalidArgument:
        raise InvalidArgument.field(field, f"{segment!r} is not an org path") from None
    if not path:
        raise InvalidArgument.field(field, "names no community")
    return path


def child_name(path: str, collection: str, ident: str) -> str:
    return f"{community_name(path)}/{collection}/{ident}"


def parse_child(field: str, name: str, collection: str) -> tuple[str, str]:
    """`communities/{c}/{collection}/{id}` → (community path, id)."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "communities" or parts[2] != collection or not _ID.match(parts[3]):
        raise InvalidArgument.field(field, f"{name!r} is not a name 'communities/{{community}}/{collection}/{{id}}'")
    return _path(field, parts[1]), parts[3]


def parse_follow_up(field: str, name: str) -> tuple[str, str, int]:
    """`communities/{c}/helpRequests/{id}/followUps/{n}` → (community path, request id, n)."""
    parts = name.split("/")
    if len(parts) != 6 or parts[4] != "followUps" or not parts[5].isdigit():
        raise InvalidArgument.field(field, f"{name!r} is not a name '…/helpRequests/{{id}}/followUps/{{n}}'")
    path, ident = parse_child(field, "/".join(parts[:4]), "helpRequests")
    return path, ident, int(parts[5])


def recipient_name(recipient_id: str) -> str:
    return f"recipients/{recipient_id}"


def parse_recipient(field: str, name: str, suffix: str = "") -> str:
    """`recipients/{id}` (+ `/preferences` when suffix is given) → id."""
    parts = name.split("/")
    want = 3 if suffix else 2
    if len(parts) != want or parts[0] != "recipients" or not _ID.match(parts[1]) or (suffix and parts[2] != suffix):
        shape = "recipients/{recipient}" + (f"/{suffix}" if suffix else "")
        raise InvalidArgument.field(field, f"{name!r} is not a name '{shape}'")
    return parts[1]


def parse_notice(field: str, name: str) -> tuple[str, str]:
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "recipients" or parts[2] != "notices" or not all(
        _ID.match(p) for p in (parts[1], parts[3])
    ):
        raise InvalidArgument.field(field, f"{name!r} is not a name 'recipients/{{recipient}}/notices/{{notice}}'")
    return parts[1], parts[3]


def valid_id(field: str, value: str) -> str:
    if not _ID.match(value):
        raise InvalidArgument.field(field, f"{value!r} is not an id (letters, digits, '_', '-', '.')")
    return value
