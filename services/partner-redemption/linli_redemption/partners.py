"""Partners of a community: member units (who take the rotating duty), signed partners, and
merchants (the partners that accept points, with terminals and a reward catalogue).

A partner is found by its id alone; whether the caller may see it is decided by its
`community_path` (the servicer checks the scope once the partner is loaded). A partner outside
the caller's scope is answered exactly as one that does not exist (`partner_not_found`,
`merchant_not_found`): a refusal naming its community would tell an outsider that the id is
taken, and where.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from linli_redemption.tables import PARTNERS, Partner
from linli_redemption.terminal_cache import TerminalCache
from linli_runtime import paging
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, NotFound
from linli_runtime.models import loaded, loaded_all

MEMBER_UNIT, SIGNED_PARTNER, MERCHANT = "member_unit", "signed_partner", "merchant"
KINDS = (MEMBER_UNIT, SIGNED_PARTNER, MERCHANT)
ACTIVE, SUSPENDED = "active", "suspended"


@dataclass(frozen=True)
class NewPartner:
    """What an operator gives for a new partner (fields checked by the servicer)."""

    partner_id: str
    community_path: str
    kind: str
    display_name: str
    display_name_en: str = ""
    contact: str = ""
    agreement: str = ""
    placeholder: bool = False


def accepts_points(partner: Partner) -> bool:
    return partner.kind == MERCHANT


def partner_not_found(partner_id: str) -> NotFound:
    """The answer for a partner that does not exist — and for one the caller may not see."""
    return NotFound(f"no partner {partner_id}", reason="PARTNER_NOT_FOUND")


def merchant_not_found(merchant_id: str) -> NotFound:
    """The answer for a merchant that does not exist — and for one the caller may not see."""
    return NotFound(f"no merchant {merchant_id}", reason="MERCHANT_NOT_FOUND")


class Partners:
    def __init__(self, db: Database, clock: Clock, terminal_cache: TerminalCache | None = None) -> None:
        self.db, self.clock = db, clock
        # The terminals' verified credentials name their merchant's state: forgotten on a change.
        self.terminal_cache = terminal_cache if terminal_cache is not None else TerminalCache()

    async def _find(self, partner_id: str) -> Partner | None:
        async with self.db.reading() as conn:
            row = (await conn.execute(sa.select(PARTNERS).where(PARTNERS.c.id == partner_id))).first()
        return None if row is None else loaded(Partner, row)

    async def get(self, partner_id: str) -> Partner:
        found = await self._find(partner_id)
        if found is None:
            raise partner_not_found(partner_id)
        return found

    async def merchant(self, merchant_id: str) -> Partner:
        """A partner that accepts points (a member unit or signed partner is no merchant)."""
        found = await self._find(merchant_id)
        if found is None or not accepts_points(found):
            raise merchant_not_found(merchant_id)
        return found

    async def list(self, community_path: str, kind: str | None, page_token: str,
                   size: int) -> tuple[list[Partner], str]:
        query = sa.select(PARTNERS).where(PARTNERS.c.community_path == community_path)
        if kind is not None:
            query = query.where(PARTNERS.c.kind == kind)
        async with self.db.reading() as conn:
            rows, next_token = await paging.keyset_page(
                conn, query, PARTNERS.c.id, kind=f"ListPartners:{community_path}:{kind or ''}",
                page_token=page_token, size=size)
        return loaded_all(Partner, rows), next_token

    async def create(self, session: AsyncSession, new: NewPartner) -> Partner:
        """A step of the caller's transaction (the API runs it once per request id)."""
        conn = await session.connection()
        by_id = sa.select(PARTNERS).where(PARTNERS.c.id == new.partner_id)
        if (await conn.execute(by_id)).first() is not None:
            raise AlreadyExists(f"partner id {new.partner_id} is taken; choose another", reason="PARTNER_EXISTS")
        await conn.execute(PARTNERS.insert().values(
            id=new.partner_id, community_path=new.community_path, kind=new.kind, display_name=new.display_name,
            display_name_en=new.display_name_en, contact=new.contact, agreement=new.agreement,
            placeholder=new.placeholder, create_time=self.clock.now()))
        return loaded(Partner, (await conn.execute(by_id)).one())

    async def set_state(self, partner_id: str, state: str) -> Partner:
        """ACTIVE or SUSPENDED: a suspended merchant's terminals are refused at once."""
        await self.db.write_one(PARTNERS.update().where(PARTNERS.c.id == partner_id).values(state=state))
        self.terminal_cache.forget_all()
        return await self.get(partner_id)
