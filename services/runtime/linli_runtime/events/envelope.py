"""Building and reading event envelopes (linli.events.v1.EventEnvelope)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import TypeVar

from google.protobuf.message import Message

from linli.events.v1.envelope_pb2 import EventEnvelope
from linli_runtime.clock import Clock, SystemClock
from linli_runtime.context import request_id_var
from linli_runtime.times import timestamp_of

M = TypeVar("M", bound=Message)

_system_clock = SystemClock()


def make_event(
    subject: str,
    payload: Message,
    *,
    org_scope: str,
    source: str,
    event_type: str | None = None,
    occurred_at: datetime | None = None,
    clock: Clock | None = None,
    causation_id: str = "",
    event_id: str | None = None,
) -> EventEnvelope:
    """An envelope for `payload`, stamped with a fresh id, the time, and the current call's
    request id (its trace context is written when it is published: `publish_in`). `subject` is
    `<context>.<entity>.<verb>[.<more>]`."""
    tokens = subject.split(".")
    if len(tokens) < 3 or not all(tokens):
        raise ValueError(f"event subject {subject!r} must read <context>.<entity>.<past-tense-verb>")
    when = occurred_at or (clock or _system_clock).now()
    ts = timestamp_of(when)
    envelope = EventEnvelope(
        event_id=event_id or new_event_id(),
        type=event_type or ".".join(tokens[:3]),
        subject=subject,
        occurred_at=ts,
        org_scope=org_scope,
        source=source,
        request_id=request_id_var.get() or "",
        causation_id=causation_id,
    )
    envelope.payload.Pack(payload)
    return envelope


# Event ids: random (version 4) UUIDs in hex, as `uuid.uuid4().hex` — drawn from the OS 256 at a
# time. `uuid4()` makes a system call and a UUID object per id: measured 3.1 µs of CPU (17-23 µs
# of wall time on a loaded machine) against 0.35 µs (~1 µs), on a `make_event` of ~10 µs that
# every event pays. The ids left are dropped in a forked child, or parent and child would hand
# out the same ones (and the consumers' dedup drop the second event).
_IDS_AT_ONCE = 256
_ids: list[str] = []
os.register_at_fork(after_in_child=_ids.clear)


def new_event_id() -> str:
    """A fresh event id: 32 hex digits of a random (version 4, RFC 4122 variant) UUID."""
    while True:
        try:
            return _ids.pop()
        except IndexError:  # empty (or emptied by another thread meanwhile): read more
            _ids.extend(_random_ids())


def _random_ids() -> list[str]:
    raw = bytearray(os.urandom(16 * _IDS_AT_ONCE))
    raw[6::16] = bytes(b & 0x0F | 0x40 for b in raw[6::16])  # version 4
    raw[8::16] = bytes(b & 0x3F | 0x80 for b in raw[8::16])  # variant RFC 4122
    digits = raw.hex()
    return [digits[i:i + 32] for i in range(0, len(digits), 32)]


class EventFactory:
    """Envelopes from one service: `make_event(subject, payload, scope)` stamps the service as
    their source and takes the time from the service's clock. Domain code receives this (or
    anything with its call signature) instead of the app, so it can be tested without one."""

    def __init__(self, source: str, clock: Clock | None = None) -> None:
        self.source = source
        self.clock = clock or _system_clock

    def __call__(self, subject: str, payload: Message, scope: str, *, causation_id: str = "") -> EventEnvelope:
        return make_event(subject, payload, org_scope=scope, source=self.source, clock=self.clock,
                          causation_id=causation_id)


@dataclass(frozen=True)
class Event:
    """A received event, as handed to a consumer's handler."""

    envelope: EventEnvelope
    stream_seq: int = 0
    deliveries: int = 1

    @cached_property
    def id(self) -> str:  # read many times per batch (inbox, dedupe, results): once from protobuf
        return self.envelope.event_id

    @property
    def event_type(self) -> str:
        return self.envelope.type

    @property
    def org_scope(self) -> str:
        return self.envelope.org_scope

    @property
    def occurred_at(self) -> datetime:
        return self.envelope.occurred_at.ToDatetime(tzinfo=UTC)

    def payload(self, cls: type[M]) -> M:
        """Unpack the payload as `cls`; raises PoisonMessage if it is another type (a message
        that will never be processable, however often it is redelivered)."""
        from linli_runtime.events.consumer import PoisonMessage

        message: M = cls()
        if not self.envelope.payload.Unpack(message):
            raise PoisonMessage(
                f"event {self.id} carries {self.envelope.payload.TypeName()}, expected "
                f"{message.DESCRIPTOR.full_name}"
            )
        return message
