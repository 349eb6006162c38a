"""Who may do what in this service, on top of `linli_runtime.auth` (grants):

- community staff (`auth.STAFF`) at a community run its help requests and duty roster;
- its volunteers, with its staff (`HELP_READERS`), list and read its help requests — without the
  contact details of the person who needs help (phone, WeChat id);
- those details only the handlers see (`HANDLERS`: its community workers, the duty worker among
  them; platform admins and services), and those who follow the request;
- whoever filed a request (its first transition's actor: an account) follows it and may cancel
  it, even with a grant for their compound only; so do the people of the household it is about
  (`HOUSEHOLD_ROLES` there: owner, family, tenant), who may also thank the helpers;
- a person reads and changes only their own inbox and preferences (`recipients/{account id}`);
- the identity service alone sends one-time codes (`require_code_sender`).

People are their accounts: the token's `sub`, which is global. A request's `reporter_id` is
what the filer says about who reported it and gives no rights."""

from __future__ import annotations

from linli_notification.helpdesk import Filing
from linli_runtime.auth import STAFF, Grant, Principal, Role, authorize, caller, may_act_as
from linli_runtime.errors import NotFound, PermissionDenied

# Who may list and read a community's help requests (what was asked, where, by when).
HELP_READERS: tuple[Role, ...] = (*STAFF, Role.VOLUNTEER)
# Who handles them, and so may see how to reach the person: the community's workers (the duty
# worker among them); platform admins and services pass as everywhere.
HANDLERS: tuple[Role, ...] = (Role.COMMUNITY_WORKER,)


def staff(path: str) -> Grant:
    """Community staff at `path`, else PERMISSION_DENIED."""
    return authorize(*STAFF, path=path)


def is_staff(who: Principal, path: str) -> bool:
    return may_act_as(who, STAFF, path) is not None


def handles(who: Principal, path: str) -> bool:
    """May `who` see the contact details of the help requests of community `path`?"""
    return may_act_as(who, HANDLERS, path) is not None


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
    """Community staff at `path`, or whoever filed the request, may `action` it."""
    if is_staff(who, path) or is_filer(who, filing):
        return
    if filing is None and who.can_reach(path):
        raise NotFound(f"help request {request_id!r} does not exist in {path}", reason="HELP_REQUEST_NOT_FOUND")
    raise PermissionDenied(f"only community staff within their scope, or whoever filed the request, may {action} it",
                           reason="NOT_THE_FILER", metadata={"caller": who.subject})


def require_self(recipient_id: str) -> Principal:
    """The recipient themselves — the account their tokens name — or a platform admin or a service."""
    who = caller()
    if who.subject != recipient_id and may_act_as(who, (), "") is None:
        raise PermissionDenied("you may read and change only your own notices and preferences "
                               "(recipients/{your account id})", reason="NOT_YOUR_INBOX",
                               metadata={"recipient": recipient_id})
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
