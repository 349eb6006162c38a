"""`linli_redemptions_stuck` (the alert LinliRedemptionsStuck): each recovery pass reports the PENDING
redemptions past the grace it found; one it cannot settle (volunteer-points down) stays counted
pass after pass, which is what the alert waits for, and the count falls once a pass settles it."""

from __future__ import annotations

import pytest
from linli_redemption.points import PointsUnavailable
from linli_redemption.redemption_rules import VOIDED
from prometheus_client import REGISTRY

from .test_saga import GRACE, World


def stuck() -> float | None:
    return REGISTRY.get_sample_value("linli_redemptions_stuck")


async def test_the_stuck_gauge_counts_what_each_pass_cannot_settle_until_one_does() -> None:
    world = World()
    world.points.down = {"PlaceHold"}
    with pytest.raises(PointsUnavailable):
        await world.redeem("stuck")
    assert await world.saga.recover_once(GRACE) == 0 and stuck() == 0, "inside the grace it is not stuck"
    world.points.down = {"GetHold"}
    world.clock.advance(seconds=61)
    for _ in range(2):
        with pytest.raises(PointsUnavailable):
            await world.saga.recover_once(GRACE)
        assert stuck() == 1
    world.points.down = set()
    assert await world.saga.recover_once(GRACE) == 1
    assert world.row("stuck").state == VOIDED
    assert await world.saga.recover_once(GRACE) == 0 and stuck() == 0
