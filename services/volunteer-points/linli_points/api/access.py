"""Who may call what in volunteer-points, on top of linli_runtime.auth.

Every method names a community (`community_path`) that must lie within the caller's scope.
Operators (OPERATORS) run the programme there and the party committee also reads it (STAFF);
a volunteer acts only for themself (signs up, checks in, logs a visit, reads their account).
The ledger's writes are for services and platform administrators only: operators change
points through activities and adjustments, which leave a reason.
"""

from __future__ import annotations

from linli_points.ledger.accounts import volunteer_of
from linli_runtime.auth import OPERATORS, STAFF, Principal, Role, caller, require_role, require_scope
from linli_runtime.errors import PermissionDenied
from linli_runtime.names import org_path


def community(path: str, field: str = "community_path") -> str:
    """The normalised community path of `field`, checked against the caller's scope."""
    return require_scope(org_path(field, path))


def require_writer() -> Principal:
    return require_role(*OPERATORS)


def require_reader() -> Principal:
    return require_role(*STAFF)


def require_worker_or_self(volunteer_id: str) -> Principal:
    """Workers act for anyone in scope; a volunteer only for themself."""
    who = caller()
    if who.role == Role.VOLUNTEER:
        if who.subject != volunteer_id:
            raise PermissionDenied("a volunteer may act only for themself", reason="NOT_SELF")
        return who
    return require_writer()


def require_reader_or_self(volunteer_id: str) -> Principal:
    """Operators and the party committee read anyone's in scope; a volunteer only their own."""
    who = caller()
    if who.role == Role.VOLUNTEER:
        if who.subject != volunteer_id:
            raise PermissionDenied("a volunteer may read only their own", reason="NOT_SELF")
        return who
    return require_reader()


def require_ledger_writer() -> None:
    """Services and platform administrators (require_role with no roles lets only them pass)."""
    require_role()


def require_account_reader(account: str) -> None:
    """Operators and the party committee read any account in scope; a volunteer only their own."""
    who = caller()
    if who.role == Role.VOLUNTEER:
        if volunteer_of(account) != who.subject:
            raise PermissionDenied("a volunteer may read only their own account", reason="NOT_OWN_ACCOUNT")
        return
    require_reader()
