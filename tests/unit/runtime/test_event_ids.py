"""Event ids: random version-4 UUIDs in hex, drawn from the OS in blocks (envelope.new_event_id)."""

from __future__ import annotations

import uuid

from google.protobuf.wrappers_pb2 import StringValue

from linli_runtime.events import make_event
from linli_runtime.events.envelope import _IDS_AT_ONCE, new_event_id


def test_ids_are_version_4_uuids_in_hex_and_never_repeat_across_blocks() -> None:
    ids = [new_event_id() for _ in range(3 * _IDS_AT_ONCE + 7)]
    assert len(set(ids)) == len(ids)
    for event_id in ids:
        parsed = uuid.UUID(hex=event_id)
        assert parsed.hex == event_id and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_make_event_draws_a_fresh_id_unless_given_one() -> None:
    first, second = (make_event("test.thing.happened", StringValue(value="x"), org_scope="chengdu", source="t")
                     for _ in range(2))
    assert first.event_id != second.event_id and uuid.UUID(hex=first.event_id).version == 4
    given = make_event("test.thing.happened", StringValue(), org_scope="chengdu", source="t", event_id="abc")
    assert given.event_id == "abc"
