"""The events partner-redemption reacts to: none yet.

Redemption announces its facts (`redemption.redemption.committed`, `…refunded`,
`redemption.project.created`, `…closed`) and asks volunteer-points for what it needs at once
over gRPC (`points_client`); it consumes no other service's events. A consumer added here is
a `ConsumerSpec` in `CONSUMERS`, which the app mounts.
"""

from __future__ import annotations

from linli_runtime.events.consumer import ConsumerSpec

CONSUMERS: tuple[ConsumerSpec, ...] = ()
