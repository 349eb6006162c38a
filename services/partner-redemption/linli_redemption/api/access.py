"""Who is calling, for the servicers: a POS terminal, or a person with grants at a community.

POS terminals reach only the POS API (the runtime refuses their credential everywhere else:
`PosServicer`'s methods alone are marked `@allows(PrincipalKind.TERMINAL)`). People: operators
(`auth.OPERATORS`) change a community's partners, terminals, rewards and lists (`writer`); its
staff read terminals, settlement and redemptions (`staff_reader`); anyone whose grants reach the
community reads its public lists — partners, rewards, duty periods, needs, resources, projects
(`community`).

Partners and merchants are named by their id alone, so the caller does not say which community
they ask about: one outside the caller's scope is NOT_FOUND, worded as for an id nobody uses
(PERMISSION_DENIED naming its community would be an existence oracle). Methods whose request
names the community path itself refuse an outside path with PERMISSION_DENIED: that tells the
caller nothing they did not say."""

from __future__ import annotations

from collections.abc import Callable

from linli_redemption import names
from linli_redemption.partners import Partners, merchant_not_found, partner_not_found
from linli_redemption.points import Points, PointsRefused
from linli_redemption.tables import Partner
from linli_redemption.terminals import TerminalCaller
from linli_runtime.auth import (
    OPERATORS,
    STAFF,
    PrincipalKind,
    Role,
    authorized_path,
    caller,
    may_act_as,
    normalize_path,
    reach,
)
from linli_runtime.errors import InvalidArgument, PermissionDenied


def terminal() -> TerminalCaller:
    """The POS terminal making this call (the POS API takes terminal credentials only)."""
    who = caller()
    if who.kind != PrincipalKind.TERMINAL:
        raise PermissionDenied("the POS API takes terminal credentials ('authorization: Terminal {id}:{secret}')",
                               reason="TERMINAL_ONLY")
    return TerminalCaller(who.subject, str(who.claims["merchant_id"]), str(who.claims["community_path"]))


def _required(path: str, field: str) -> str:
    if not path.strip("/ "):
        raise InvalidArgument.field(field, "is required")
    return path


def community(path: str, field: str = "community_path") -> str:
    """A required community path that one of the caller's grants reaches (any role)."""
    return reach(_required(path, field))


def writer(path: str, field: str = "community_path") -> str:
    """As `community`, for an operator who may change things there."""
    return authorized_path(*OPERATORS, path=_required(path, field))


def staff_reader(path: str, field: str = "community_path") -> str:
    """As `community`, for the community's staff (operators and the party committee)."""
    return authorized_path(*STAFF, path=_required(path, field))


def _visible(found: Partner) -> bool:
    return caller().can_reach(found.community_path)


async def partner(partners: Partners, partner_id: str) -> Partner:
    """A partner inside the caller's scope; NOT_FOUND, as for no partner at all, outside it."""
    found = await partners.get(partner_id)
    if not _visible(found):
        raise partner_not_found(partner_id)
    return found


async def merchant(partners: Partners, merchant_id: str) -> Partner:
    """A merchant inside the caller's scope; NOT_FOUND, as for no merchant at all, outside it."""
    found = await partners.merchant(merchant_id)
    if not _visible(found):
        raise merchant_not_found(merchant_id)
    return found


async def merchant_named(partners: Partners, name: str, field: str = "parent") -> Partner:
    """The merchant `merchants/{id}` names, inside the caller's scope."""
    return await merchant(partners, names.parse_merchant(field, name))


async def staff_or_own_volunteer(points: Points, community_path: str, volunteer_id: str, *,
                                 staff: tuple[Role, ...], fallback: Callable[[str], str], refusal: PermissionDenied
                                 ) -> str:
    """The community, when the caller holds one of `staff` there or is the volunteer volunteer-points
    has bound to their account (never a token's subject compared with a volunteer id, which is
    unique only within its community). Another volunteer's is `refusal`; anyone else gets
    `fallback`'s answer (outside every scope, or a role that may not)."""
    who = caller()
    path = normalize_path(community_path)
    if may_act_as(who, staff, path) is not None or may_act_as(who, [Role.VOLUNTEER], path, exact=True) is None:
        return fallback(community_path)
    try:
        account = await points.volunteer_account(path, volunteer_id)
    except PointsRefused:
        account = ""  # no such volunteer: the same answer as someone else's
    if account != who.subject:
        raise refusal
    return path
