"""The reliable event bus: transactional outbox → relay → JetStream → durable consumers with
an inbox. See README "Events" for the guarantees and how to add an event."""

from linli_runtime.events.consumer import ConsumerSpec, EventConsumer, PoisonMessage, TransientError
from linli_runtime.events.envelope import Event, EventFactory, make_event
from linli_runtime.events.outbox import OutboxRelay, publish_in
from linli_runtime.events.streams import STREAMS, StreamSpec

__all__ = [
    "STREAMS",
    "ConsumerSpec",
    "Event",
    "EventConsumer",
    "EventFactory",
    "OutboxRelay",
    "PoisonMessage",
    "StreamSpec",
    "TransientError",
    "make_event",
    "publish_in",
]
