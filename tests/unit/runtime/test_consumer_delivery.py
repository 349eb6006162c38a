"""The consumer reads a message's stream sequence and delivery count off its reply subject itself
(nats-py's `msg.metadata` cost most of a decode): the same numbers nats-py reads, in either form."""

from __future__ import annotations

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from nats.aio.msg import Msg
from nats.errors import NotJSMessageError

from linli_runtime.events import make_event
from linli_runtime.events.consumer import _decode, _delivery

DATA = make_event("test.thing.happened", StringValue(value="x"), org_scope="chengdu", source="test").SerializeToString()


def message(reply: str) -> Msg:
    return Msg(None, subject="test.thing.happened", reply=reply, data=DATA)  # type: ignore[arg-type]  # no client


@pytest.mark.parametrize("reply", [
    "$JS.ACK.POINTS.points-holds.3.12345.12340.1733620000000000000.17",  # stream, consumer, …
    "$JS.ACK.hub.ACCHASH.POINTS.points-holds.4.9876.9870.1733620000000000000.0.abc",  # domain, account hash
    "$JS.ACK.hub.ACCHASH.POINTS.points-holds.5.77.70.1733620000000000000.2",  # … without the random token
])
def test_the_reply_subject_gives_what_nats_py_reads(reply: str) -> None:
    msg = message(reply)
    expected = message(reply).metadata
    assert _delivery(msg) == (expected.sequence.stream, expected.num_delivered)
    event = _decode(msg)
    assert event is not None
    assert (event.stream_seq, event.deliveries) == (expected.sequence.stream, expected.num_delivered)


def test_a_message_not_from_jetstream_is_refused_as_nats_py_refuses_it() -> None:
    with pytest.raises(NotJSMessageError):
        _delivery(message("_INBOX.abc"))
