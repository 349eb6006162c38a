"""The operators' view of redemptions: the redemptions at a community's merchants (or one
merchant's), newest first, in one state or all — what went through, what was voided and why,
and what is still PENDING (being completed, or waiting for recovery to finish or void it).

A read for people, not for the till: it pages with `paging.newest_first_page` on
(create_time, id) and leans on no index of its own (the community filter meets
`ix_rd_redemption_day`, the state filter `ix_rd_redemption_state`).
"""

from __future__ import annotations

import sqlalchemy as sa

from linli_redemption.redemption_rules import COMMITTED, PENDING, VOIDED
from linli_redemption.tables import REDEMPTIONS, Redemption
from linli_runtime import paging
from linli_runtime.db import Database
from linli_runtime.models import loaded_all

STATES = (PENDING, COMMITTED, VOIDED)
R = REDEMPTIONS.c


class RedemptionList:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def page(self, community_path: str, *, merchant_id: str | None, state: str | None,
                   page_token: str, size: int, volunteer_id: str | None = None) -> tuple[list[Redemption], str]:
        """One page of the community's redemptions (only `merchant_id`'s, only in `state`, only
        `volunteer_id`'s, when given), newest first, and the next page's token."""
        query = paging.where_given(sa.select(REDEMPTIONS).where(R.community_path == community_path),
                                   (R.merchant_id, merchant_id), (R.state, state), (R.volunteer_id, volunteer_id))
        kind = f"ListRedemptions:{community_path}:{merchant_id or ''}:{state or ''}:{volunteer_id or ''}"
        async with self.db.reading() as conn:
            rows, token = await paging.newest_first_page(conn, query, R.create_time, R.id, kind=kind,
                                                         page_token=page_token, size=size)
        return loaded_all(Redemption, rows), token
