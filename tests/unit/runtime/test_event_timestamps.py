"""The runtime's time conversions (linli_runtime.times: every event, every listed row) agree with
protobuf's own (FromDatetime / ToDatetime), which they replace on the hot path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from linli_runtime.times import instant_of, timestamp_of

SHANGHAI = timezone(timedelta(hours=8))


@pytest.mark.parametrize("when", [
    datetime(2026, 11, 7, 9, 0, 0, 123456, tzinfo=SHANGHAI),
    datetime(2026, 1, 1, 1, 2, 3, 999999),  # naive: UTC, as protobuf reads it
    datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
    datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC),
])
def test_timestamps_match_protobuf(when: datetime) -> None:
    expected = Timestamp()
    expected.FromDatetime(when)
    ours = timestamp_of(when)
    assert (ours.seconds, ours.nanos) == (expected.seconds, expected.nanos)
    assert instant_of(ours) == expected.ToDatetime(tzinfo=UTC)
