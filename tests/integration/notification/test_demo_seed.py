from __future__ import annotations

import sqlalchemy as sa
from linli_notification.demo import seed
from linli_notification.tables import community, duty_shift, preferences, provider

from tests.integration.notification.kit import Harness


async def test_demo_seed_is_idempotent(h: Harness) -> None:
    await seed(h.app)  # the harness seeded once at start-up already
    await seed(h.app)
    async with h.app.db.transaction() as session:
        conn = await session.connection()
        counts = [(await conn.execute(sa.select(sa.func.count()).select_from(t))).scalar()
                  for t in (community, duty_shift, provider, preferences)]
    assert counts == [1, 12, 2, 5]
