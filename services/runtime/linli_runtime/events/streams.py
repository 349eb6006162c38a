"""The platform's JetStream streams: one per bounded context, created or updated idempotently
by every service at start-up (a service ensures the streams it publishes to and consumes
from, so start order does not matter).

Limits come from settings (`StreamLimits`: `LINLI_STREAM_MAX_BYTES`, `LINLI_STREAM_MAX_AGE_DAYS`):
every stream keeps at most that many bytes and days. Each NATS node stores one replica of every
stream, so the streams' `max_bytes` added up must fit the node's `max_file_store`, which must
fit its volume (tests/unit/deploy checks both for compose and every overlay).

A full stream refuses new events (`DiscardPolicy.NEW`) rather than dropping old ones a consumer
may not have read yet: the relay's publish fails, the events wait in the outbox (nothing lost),
and `linli_outbox_unsent_events` and `linli_jetstream_stream_bytes` raise the alerts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

log = logging.getLogger("linli.events.streams")

DAY = 24 * 3600.0
GIB = 1024**3


@dataclass(frozen=True)
class StreamLimits:
    """What a stream may hold: bytes per replica and the age of its oldest event."""

    max_bytes: int = GIB
    max_age_seconds: float = 30 * DAY


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    description: str = ""
    # JetStream's publisher dedup window (Nats-Msg-Id). The consumers' inbox covers the rest.
    duplicate_window_seconds: float = 10 * 60
    extra: dict[str, object] = field(default_factory=dict)

    def config(self, replicas: int, limits: StreamLimits | None = None) -> StreamConfig:
        limits = limits or StreamLimits()
        return StreamConfig(
            name=self.name,
            description=self.description or None,
            subjects=list(self.subjects),
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.NEW,
            max_age=limits.max_age_seconds,
            max_bytes=limits.max_bytes,
            duplicate_window=self.duplicate_window_seconds,
            num_replicas=replicas,
        )


GOVERNANCE = StreamSpec("GOVERNANCE", ("governance.>",), "trust-governance: org units, accounts, votes, disclosures")
POINTS = StreamSpec("POINTS", ("points.>",), "volunteer-points: ledger, visits, awards")
REDEMPTION = StreamSpec("REDEMPTION", ("redemption.>",), "partner-redemption: redemptions, projects")
NOTIFICATION = StreamSpec("NOTIFICATION", ("notification.>",), "notification: help requests, deliveries")
IDENTITY = StreamSpec("IDENTITY", ("identity.>",), "identity: accounts created and disabled, grants given and revoked")

STREAMS: dict[str, StreamSpec] = {s.name: s for s in (GOVERNANCE, POINTS, REDEMPTION, NOTIFICATION, IDENTITY)}


async def ensure_stream(js: JetStreamContext, spec: StreamSpec, replicas: int,
                        limits: StreamLimits | None = None) -> None:
    """Create the stream, or bring an existing one to this configuration."""
    config = spec.config(replicas, limits)
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
