"""Who may do what in this service, on top of `linli_runtime.auth`: community staff
(`auth.STAFF`) run help requests and rosters within their scope; a person reads and changes
only their own inbox and preferences."""

from __future__ import annotations

from linli_runtime.auth import STAFF, Principal, Role, caller, require_role
from linli_runtime.errors import PermissionDenied


def require_staff() -> Principal:
    return require_role(*STAFF)


def is_staff(who: Principal) -> bool:
    try:
        require_role(*STAFF, principal=who)
    except PermissionDenied:
        return False
    return True


def require_self(recipient_id: str) -> Principal:
    """The recipient themselves (platform admins and services too)."""
    who = caller()
    if who.subject != recipient_id and who.role not in (Role.PLATFORM_ADMIN.value, Role.SERVICE.value):
        raise PermissionDenied("you may read and change only your own notices and preferences",
                               reason="NOT_YOUR_INBOX", metadata={"recipient": recipient_id})
    return who
