"""Who may call what in volunteer-points, on top of linli_runtime.auth (grants).

Every method names a community (`community_path`); the caller needs a grant there:

| who | may | helper |
|---|---|---|
| operators (OPERATORS) at the community | run the programme (writes other than the ledger's) | `writer` |
| operators and the party committee (STAFF) | read it | `reader` |
| a volunteer (the `volunteer` role there) | act and read for themself only | `worker_or_self`, … |
| services and platform administrators | write the ledger directly | `ledger_writer` |

"Themself" is decided by the volunteer record's account binding (`Volunteer.account_id`, the
`sub` of the person's tokens — see people.py), never by comparing a token's subject with a
volunteer id: volunteer ids are unique only within a community, so `v-001` of Chongzhou is not
`v-001` of Fengshu. A volunteer asking about another volunteer, or one whose record is not
bound to them, is refused with NOT_SELF / NOT_OWN_ACCOUNT (the same answer whether or not that
volunteer exists).
"""

from __future__ import annotations

from collections.abc import Callable

from linli_points.ledger.accounts import volunteer_of
from linli_points.people import People
from linli_points.tables import Volunteer
from linli_runtime.auth import OPERATORS, STAFF, Principal, Role, authorized_path, caller, may_act_as
from linli_runtime.errors import PermissionDenied
from linli_runtime.names import org_path


def writer(path: str, field: str = "community_path") -> str:
    """The normalised community of `field`, where the caller may run the programme."""
    return authorized_path(*OPERATORS, path=org_path(field, path))


def reader(path: str, field: str = "community_path") -> str:
    """The normalised community of `field`, where the caller may read the programme."""
    return authorized_path(*STAFF, path=org_path(field, path))


def ledger_writer(path: str, field: str = "community_path") -> str:
    """Services and platform administrators only (no role named: only the overriding ones pass)."""
    return authorized_path(path=org_path(field, path))


async def _is_self(people: People, who: Principal, path: str, volunteer_id: str) -> bool:
    """The caller holds the volunteer role at `path` and the volunteer's record is bound to it."""
    if may_act_as(who, [Role.VOLUNTEER], path, exact=True) is None:
        return False
    mine = await people.volunteer_of_account(path, who.subject)
    return mine is not None and mine.volunteer_id == volunteer_id


async def _staff_or_self(people: People, path: str, volunteer_id: str, field: str, *, staff: tuple[Role, ...],
                         fallback: Callable[[str], str], may: str) -> str:
    """`path` when the caller holds one of `staff` there or is the volunteer bound to its account;
    a volunteer asking about another is refused NOT_SELF; anyone else gets `fallback`'s answer."""
    target = org_path(field, path)
    who = caller()
    if may_act_as(who, staff, target) is None and not await _is_self(people, who, target, volunteer_id):
        if may_act_as(who, [Role.VOLUNTEER], target, exact=True) is not None:
            raise PermissionDenied(f"a volunteer may {may} (the volunteer bound to your account)",
                                   reason="NOT_SELF", metadata={"volunteer_id": volunteer_id})
        return fallback(target)  # says why: outside every scope, or a role that may not
    return target


async def worker_or_self(people: People, path: str, volunteer_id: str, field: str = "community_path") -> str:
    """Operators act for anyone in their community; a volunteer only for themself."""
    return await _staff_or_self(people, path, volunteer_id, field, staff=OPERATORS, fallback=writer,
                                may="act only for themself")


async def reader_or_self(people: People, path: str, volunteer_id: str, field: str = "community_path") -> str:
    """Operators and the party committee read anyone's in their community; a volunteer only their own."""
    return await _staff_or_self(people, path, volunteer_id, field, staff=STAFF, fallback=reader,
                                may="read only their own")


async def account_reader(people: People, path: str, account: str, field: str = "community_path") -> str:
    """Operators and the party committee read any account of their community; a volunteer only
    the account of the volunteer bound to them."""
    target = org_path(field, path)
    who = caller()
    if may_act_as(who, STAFF, target) is None:
        owner = volunteer_of(account)
        if owner is None or not await _is_self(people, who, target, owner):
            if may_act_as(who, [Role.VOLUNTEER], target, exact=True) is not None:
                raise PermissionDenied("a volunteer may read only their own account (the volunteer bound to your "
                                       "account)", reason="NOT_OWN_ACCOUNT", metadata={"account": account})
            return reader(target)
    return target


async def volunteer_here(people: People, path: str, field: str = "community_path") -> Volunteer:
    """The volunteer of `field`'s community bound to the caller's account — who a volunteer's
    own act (a check-in) is for; anyone else is refused NOT_A_VOLUNTEER_HERE."""
    target = org_path(field, path)
    who = caller()
    if may_act_as(who, [Role.VOLUNTEER], target, exact=True) is None:
        if not who.can_reach(target):
            writer(target)  # refuses as every call out of the caller's scope is refused (OUT_OF_SCOPE)
        raise PermissionDenied(f"only volunteers of {target} may do this, and your account holds no volunteer "
                               "grant there", reason="NOT_A_VOLUNTEER_HERE", metadata={"community_path": target})
    mine = await people.volunteer_of_account(target, who.subject)
    if mine is None:
        raise PermissionDenied(f"your account is not bound to a volunteer of {target}; ask the community worker "
                               "to bind it (BindVolunteerAccount)", reason="NOT_A_VOLUNTEER_HERE",
                               metadata={"community_path": target})
    return mine


def may_list_own(path: str, account_id: str) -> bool:
    """The caller asks for its own records (`account_id` is its subject) in a community one of
    its grants reaches — open to anyone who belongs there, whatever the role."""
    who = caller()
    return bool(account_id) and account_id == who.subject and who.can_reach(path)
