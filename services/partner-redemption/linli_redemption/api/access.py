"""Who is calling, for the servicers: a POS terminal, or an operator inside a community's scope.

Partners and merchants are named by their id alone, so the caller does not say which community
they ask about: one outside the caller's scope is NOT_FOUND, worded as for an id nobody uses
(PERMISSION_DENIED naming its community would be an existence oracle). Methods whose request
names the community path itself refuse an outside path with PERMISSION_DENIED: that tells the
caller nothing they did not say."""

from __future__ import annotations

from linli_redemption import names
from linli_redemption.partners import Partners, merchant_not_found, partner_not_found
from linli_redemption.tables import Partner
from linli_redemption.terminals import TerminalCaller
from linli_runtime.auth import OPERATORS, PrincipalKind, caller, path_within, require_role, require_scope
from linli_runtime.errors import InvalidArgument, PermissionDenied


def terminal() -> TerminalCaller:
    """The POS terminal making this call (the POS API takes terminal credentials only)."""
    who = caller()
    if who.kind != PrincipalKind.TERMINAL:
        raise PermissionDenied("the POS API takes terminal credentials ('authorization: Terminal {id}:{secret}')",
                               reason="TERMINAL_ONLY")
    return TerminalCaller(who.subject, str(who.claims["merchant_id"]), who.scope)


def community(path: str, field: str = "community_path") -> str:
    """A required community path inside the caller's scope."""
    normalized = require_scope(path)
    if not normalized:
        raise InvalidArgument.field(field, "is required")
    return normalized


def writer(path: str) -> str:
    """As `community`, for an operator who may change things there."""
    normalized = community(path)
    require_role(*OPERATORS)
    return normalized


def _visible(found: Partner) -> bool:
    return path_within(found.community_path, caller().scope)


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
