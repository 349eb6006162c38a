"""AIP-122 names of the service's collections, on top of `linli_runtime.names`.

A community's org path goes into one segment with `/` written as `~`:
`communities/chengdu~jinjiang~chenglonglu~fengshu/helpRequests/h-…`. People's inboxes are
`recipients/{recipient}` (`/notices/{notice}`, `/preferences`).
"""

from __future__ import annotations

import re

from linli_runtime import names
from linli_runtime.errors import InvalidArgument

COMMUNITIES = "communities"
HELP_REQUESTS = "helpRequests"
DUTY_SHIFTS = "dutyShifts"
DUTY_SWAPS = "dutySwaps"
PROVIDERS = "providers"
ONE_TIME_CODE_DELIVERIES = "oneTimeCodeDeliveries"

# Ids of people (workers, reporters, helpers, recipients) and of our resources: 1-128 letters,
# digits, '_', '.' or '-', starting with a letter or digit. Stricter than the runtime's
# `fields.ident` and `names.NAME_ID` (both allow ':' and the former a leading '-' or '.'), and
# kept so: these ids were accepted by this rule before, and loosening it is not ours to do here.
# Longer than `fields.ident`'s 64 because account ids up to the columns' 128 were accepted.
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def valid_id(field: str, value: str) -> str:
    if not ID.match(value):
        raise InvalidArgument.field(field, "must be an id: 1-128 letters, digits, '_', '-' or '.', starting with a "
                                           "letter or digit")
    return value


def community_name(path: str) -> str:
    return names.parent_name(COMMUNITIES, path)


def parse_community(field: str, name: str) -> str:
    """`communities/a~b~c` → `a/b/c`."""
    return names.parse_parent(field, name, COMMUNITIES)


def child_name(path: str, collection: str, ident: str) -> str:
    return names.child_name(COMMUNITIES, path, collection, ident)


def parse_child(field: str, name: str, collection: str) -> tuple[str, str]:
    """`communities/{c}/{collection}/{id}` → (community path, id)."""
    path, ident = names.parse_child(field, name, COMMUNITIES, collection)
    if not ID.match(ident):
        raise InvalidArgument.field(field, f"does not end in an id of {collection} (letters, digits, '_', '-', '.')")
    return path, ident


def help_request_name(path: str, request_id: str) -> str:
    return child_name(path, HELP_REQUESTS, request_id)


def follow_up_name(path: str, request_id: str, number: int) -> str:
    return f"{help_request_name(path, request_id)}/followUps/{number}"


def parse_follow_up(field: str, name: str) -> tuple[str, str, int]:
    """`communities/{c}/helpRequests/{id}/followUps/{n}` → (community path, request id, n)."""
    parts = name.split("/")
    if len(parts) != 6 or parts[4] != "followUps" or not parts[5].isdigit():
        raise InvalidArgument.field(field, "must look like communities/{community}/helpRequests/{id}/followUps/{n}")
    path, ident = parse_child(field, "/".join(parts[:4]), HELP_REQUESTS)
    return path, ident, int(parts[5])


def settings_name(path: str) -> str:
    return community_name(path) + "/settings"


def parse_settings(field: str, name: str) -> str:
    """`communities/{c}/settings` → community path."""
    if not name.endswith("/settings"):
        raise InvalidArgument.field(field, "must look like communities/{community}/settings")
    return parse_community(field, name.removesuffix("/settings"))


def recipient_name(recipient_id: str) -> str:
    return f"recipients/{recipient_id}"


def notice_name(recipient_id: str, notice_id: str) -> str:
    return f"{recipient_name(recipient_id)}/notices/{notice_id}"


def preferences_name(recipient_id: str) -> str:
    return f"{recipient_name(recipient_id)}/preferences"


def parse_recipient(field: str, name: str, suffix: str = "") -> str:
    """`recipients/{id}` (+ `/preferences` when suffix is given) → id."""
    parts = name.split("/")
    want = 3 if suffix else 2
    if len(parts) != want or parts[0] != "recipients" or not ID.match(parts[1]) or (suffix and parts[2] != suffix):
        shape = "recipients/{recipient}" + (f"/{suffix}" if suffix else "")
        raise InvalidArgument.field(field, f"must look like {shape}")
    return parts[1]


def parse_notice(field: str, name: str) -> tuple[str, str]:
    """`recipients/{recipient}/notices/{notice}` → (recipient id, notice id)."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "recipients" or parts[2] != "notices" or not all(
        ID.match(p) for p in (parts[1], parts[3])
    ):
        raise InvalidArgument.field(field, "must look like recipients/{recipient}/notices/{notice}")
    return parts[1], parts[3]


def one_time_code_name(ident: str) -> str:
    """`oneTimeCodeDeliveries/{id}`: the record of one one-time code sent."""
    return f"{ONE_TIME_CODE_DELIVERIES}/{ident}"
