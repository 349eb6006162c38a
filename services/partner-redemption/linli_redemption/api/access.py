"""Who is calling, for the servicers: a POS terminal, or an operator inside a community's scope."""

from __future__ import annotations

from linli_redemption import names
from linli_redemption.partners import Partners
from linli_redemption.tables import Partner
from linli_redemption.terminals import TerminalCaller
from linli_runtime.auth import OPERATORS, PrincipalKind, caller, require_role, require_scope
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


async def partner(partners: Partners, partner_id: str) -> Partner:
    """A partner inside the caller's scope."""
    found = await partners.get(partner_id)
    require_scope(found.community_path)
    return found


async def merchant(partners: Partners, merchant_id: str) -> Partner:
    """A merchant inside the caller's scope."""
    found = await partners.merchant(merchant_id)
    require_scope(found.community_path)
    return found


async def merchant_named(partners: Partners, name: str, field: str = "parent") -> Partner:
    """The merchant `merchants/{id}` names, inside the caller's scope."""
    return await merchant(partners, names.parse_merchant(field, name))
