"""Who may do what in this service, on top of `linli_runtime.auth`: community staff
(`auth.STAFF`) run help requests and rosters within their scope; whoever filed a request
follows it and may cancel it, even with a token for their compound only; a person reads and
changes only their own inbox and preferences; one-time codes are sent for the identity service
alone (`require_code_sender`)."""

from __future__ import annotations

from linli_notification.helpdesk import Filing
from linli_runtime.auth import STAFF, Principal, Role, caller, may_act_as, require_role
from linli_runtime.errors import NotFound, PermissionDenied


def require_staff() -> Principal:
    return require_role(*STAFF)


def is_staff(who: Principal) -> bool:
    try:
        require_role(*STAFF, principal=who)
    except PermissionDenied:
        return False
    return True


def is_filer(who: Principal, filing: Filing | None) -> bool:
    """`who` filed the request, and their token still reaches the place it is about (its
    compound, else its community): a resident or the canteen staff often hold a token for their
    compound only, and one for another place gives no rights here."""
    return (filing is not None and filing.filed_by == who.subject
            and who.can_reach(filing.compound_path or filing.community_path))


# The grants that make someone one of a household's people (issue 13): its owner (`resident`,
# bound by the committee or a community worker) and the family members or tenants they added.
HOUSEHOLD_ROLES = (Role.RESIDENT, Role.HOUSEHOLD_MEMBER)


def of_household(who: Principal, household_path: str) -> bool:
    """`who` holds a grant for the household (or a place that contains it) as one of its people."""
    return bool(household_path) and may_act_as(who, HOUSEHOLD_ROLES, household_path, exact=True) is not None


def follows(who: Principal, filing: Filing | None) -> bool:
    """Whoever filed the request, or one of the people of the household it is about (Ms Wan,
    when the canteen filed for her)."""
    return is_filer(who, filing) or (filing is not None and of_household(who, filing.household_path))


def require_staff_or_filer(who: Principal, path: str, request_id: str, filing: Filing | None, action: str) -> None:
    """Community staff within their scope, or whoever filed the request, may `action` it."""
    if (who.can_reach(path) and is_staff(who)) or is_filer(who, filing):
        return
    if filing is None and who.can_reach(path):
        raise NotFound(f"help request {request_id!r} does not exist in {path}", reason="HELP_REQUEST_NOT_FOUND")
    raise PermissionDenied(f"only community staff within their scope, or whoever filed the request, may {action} it",
                           reason="NOT_THE_FILER", metadata={"caller": who.subject})


def require_self(recipient_id: str) -> Principal:
    """The recipient themselves (platform admins and services too)."""
    who = caller()
    if who.subject != recipient_id and who.role not in (Role.PLATFORM_ADMIN.value, Role.SERVICE.value):
        raise PermissionDenied("you may read and change only your own notices and preferences",
                               reason="NOT_YOUR_INBOX", metadata={"recipient": recipient_id})
    return who


def require_code_sender(clients: frozenset[str]) -> Principal:
    """A service token (the `service` role at the root, exactly: a platform admin is not enough)
    issued to one of `clients` — its `client_id` claim, which only the issuer sets. Anyone
    else, a person with every role included, may not make the platform send SMS codes."""
    who = caller()
    client = str(who.claims.get("client_id", ""))
    if may_act_as(who, [Role.SERVICE], "", exact=True) is None or client not in clients:
        raise PermissionDenied("only the identity service may send one-time codes (a service token of client "
                               f"{' or '.join(sorted(clients)) or '(none allowed)'})", reason="NOT_A_CODE_SENDER",
                               metadata={"client_id": client})
    return who
