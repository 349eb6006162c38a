"""The events partner-redemption reacts to.

`governance.org_unit.created|updated` → the places partner-redemption knows (rd_org_unit, see
`linli_runtime.org_units`): partners, needs, resources, projects and duty rotations are created
only in a known, open place.

Redemption announces its own facts (`redemption.redemption.committed`, `…refunded`,
`redemption.project.created`, `…closed`) and asks volunteer-points for what it needs at once
over gRPC (`points_client`). A consumer added here is a `ConsumerSpec` in `consumers(...)`,
which the app mounts.
"""

from __future__ import annotations

from linli_redemption.tables import KNOWN_ORG_UNITS
from linli_runtime import org_units
from linli_runtime.clock import Clock
from linli_runtime.events.consumer import ConsumerSpec


def consumers(clock: Clock) -> tuple[ConsumerSpec, ...]:
    return (org_units.consumer("redemption-org-units", KNOWN_ORG_UNITS, clock),)
