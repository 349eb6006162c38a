"""Account names, relative to a community (see ledger.proto)."""

from __future__ import annotations

from linli_runtime.errors import InvalidArgument
from linli_runtime.fields import ID

ISSUANCE = "system/issuance"
REDEMPTION_CLEARING = "system/redemption-clearing"
EXPIRY = "system/expiry"
SYSTEM_ACCOUNTS = frozenset({ISSUANCE, REDEMPTION_CLEARING, EXPIRY})
# Only issuance may go below zero: its balance is minus the points in circulation.
MAY_GO_NEGATIVE = frozenset({ISSUANCE})

VOLUNTEER_PREFIX = "volunteers/"


def volunteer_account(volunteer_id: str) -> str:
    return VOLUNTEER_PREFIX + volunteer_id


def volunteer_of(account: str) -> str | None:
    """The volunteer id of a `volunteers/{id}` account, else None."""
    return account[len(VOLUNTEER_PREFIX):] if account.startswith(VOLUNTEER_PREFIX) else None


def is_valid_id(value: str) -> bool:
    """A volunteer id as callers choose ids (linli_runtime.fields.ident): never a '/', which
    the ledger keeps for the ids it derives (`{hold}/post`)."""
    return bool(ID.match(value))


def check_account(field: str, name: str) -> str:
    """`name` if it names an account, else INVALID_ARGUMENT naming `field`."""
    if name in SYSTEM_ACCOUNTS:
        return name
    volunteer = volunteer_of(name)
    if volunteer is not None and is_valid_id(volunteer):
        return name
    raise InvalidArgument.field(
        field,
        f"{name!r} is not an account; use 'volunteers/{{id}}' or one of {', '.join(sorted(SYSTEM_ACCOUNTS))}",
    )

