"""The platform's JetStream streams: one per bounded context, created or updated idempotently
by every service at start-up (a service ensures the streams it publishes to and consumes
from, so start order does not matter)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

log = logging.getLogger("linli.events.streams")

DAY = 24 * 3600.0


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    description: str = ""
    max_age_seconds: float = 30 * DAY
    # JetStream's publisher dedup window (Nats-Msg-Id). The consumers' inbox covers the rest.
    duplicate_window_seconds: float = 10 * 60
    extra: dict[str, object] = field(default_factory=dict)

    def config(self, replicas: int) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            description=self.description or None,
            subjects=list(self.subjects),
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=self.max_age_seconds,
            duplicate_window=self.duplicate_window_seconds,
            num_replicas=replicas,
        )


GOVERNANCE = StreamSpec("GOVERNANCE", ("governance.>",), "trust-governance: org units, accounts, votes, disclosures")
POINTS = StreamSpec("POINTS", ("points.>",), "volunteer-points: ledger, visits, awards")
REDEMPTION = StreamSpec("REDEMPTION", ("redemption.>",), "partner-redemption: redemptions, projects")
NOTIFICATION = StreamSpec("NOTIFICATION", ("notification.>",), "notification: help requests, deliveries")
IDENTITY = StreamSpec("IDENTITY", ("identity.>",), "identity: accounts created and disabled, grants given and revoked")

STREAMS: dict[str, StreamSpec] = {s.name: s for s in (GOVERNANCE, POINTS, REDEMPTION, NOTIFICATION, IDENTITY)}


async def ensure_stream(js: JetStreamContext, spec: StreamSpec, replicas: int) -> None:
    """Create the stream, or bring an existing one to this configuration."""
    config = spec.config(replicas)
    try:
        await js.stream_info(spec.name)
    except NotFoundError:
        try:
            await js.add_stream(config)
            log.info("stream created", extra={"stream": spec.name, "replicas": replicas})
            return
        except BadRequestError:  # another service created it between our two calls
            pass
    await js.update_stream(config)
