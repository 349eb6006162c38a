"""AIP-122 resource names that carry an org path.

A resource that belongs to a place in the org tree carries the place's path in one segment,
with '/' written as '~': `compounds/chengdu~chongzhou~…~shengjian/votes/7f3a`,
`communities/chengdu~jinjiang~chenglonglu~fengshu/helpRequests/h-1a2b`. The scope check then
needs no database read, and a replayed request is checked exactly like a new one.

Each service keeps a `names.py` of its own collections (which words, which id rules); the
reading and writing of the org-path segment lives here, once.
"""

from __future__ import annotations

import re

from linli_runtime.auth import normalize_path
from linli_runtime.errors import InvalidArgument

# An id inside a name: what services choose for their resources (uuids, slugs, periods).
NAME_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def org_segment(path: str) -> str:
    """`a/b/c` → `a~b~c`."""
    return path.replace("/", "~")


def parse_org_segment(field: str, segment: str) -> str:
    """`a~b~c` → `a/b/c`, normalised; INVALID_ARGUMENT naming `field` when it is no org path."""
    try:
        path = normalize_path(segment.replace("~", "/"))
    except InvalidArgument:
        raise InvalidArgument.field(field, "does not name a place in the org tree (segments of letters, digits, "
                                           "'-' and '_', joined by '~')") from None
    if not path:
        raise InvalidArgument.field(field, "names no place in the org tree")
    return path


def org_path(field: str, path: str) -> str:
    """A required org path given as a plain field (`chengdu/jinjiang/…`), normalised."""
    if not path.strip("/ "):
        raise InvalidArgument.field(field, "is required (an org path such as 'chengdu/jinjiang/chenglonglu/fengshu')")
    if len(path) > 255:
        raise InvalidArgument.field(field, "must be at most 255 characters")
    try:
        return normalize_path(path)
    except InvalidArgument as exc:
        raise InvalidArgument.field(field, exc.violations[0].description if exc.violations else exc.message) from exc


def parent_name(kind: str, path: str) -> str:
    """`compounds/a~b~c` for kind "compounds"."""
    return f"{kind}/{org_segment(path)}"


def child_name(kind: str, path: str, collection: str, ident: str) -> str:
    """`compounds/a~b~c/votes/7f3a`."""
    return f"{parent_name(kind, path)}/{collection}/{ident}"


def parse_parent(field: str, name: str, kind: str) -> str:
    """`{kind}/a~b~c` → `a/b/c`."""
    parts = name.split("/")
    if len(parts) != 2 or parts[0] != kind or not parts[1]:
        raise InvalidArgument.field(field, f"must look like {kind}/{{org path with '~'}}, got {_shown(name)}")
    return parse_org_segment(field, parts[1])


def parse_child(field: str, name: str, kind: str, collection: str) -> tuple[str, str]:
    """`{kind}/a~b~c/{collection}/{id}` → (`a/b/c`, id)."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != kind or parts[2] != collection or not parts[1] or not NAME_ID.match(parts[3]):
        raise InvalidArgument.field(field, f"must look like {kind}/{{org path with '~'}}/{collection}/{{id}}, "
                                           f"got {_shown(name)}")
    return parse_org_segment(field, parts[1]), parts[3]


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:80] + "…")
