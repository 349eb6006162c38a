"""The relay's batch goes out as one write of the very HPUBs nats-py's `publish` would send."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client
from nats.errors import BadHeaderError, BadSubjectError

from linli_runtime.events.publisher import _publish_at_once

MESSAGES = [
    ("points.transfer.created", b"\x0a\x03abc", {"Nats-Msg-Id": "0123456789abcdef"}),
    ("redemption.redemption.committed", b"", {"Nats-Msg-Id": "e2", "traceparent": " 00-ab-cd-01 ",
                                              "tracestate": "x=1\r\ny=2"}),
    ("notification.help_request.assigned", bytes(range(256)), {" Nats-Msg-Id ": "e3", "": "skipped"}),
]


def connected_client() -> Client:
    """A client that queues what it would send (no server: nothing is flushed)."""
    nc = Client()
    nc._status = Client.CONNECTED
    nc._max_payload = 1024
    return nc


def sent(nc: Client) -> bytes:
    return b"".join(nc._pending)


def test_the_same_bytes_as_publishing_one_by_one() -> None:
    async def both() -> tuple[bytes, bytes]:
        one_by_one = connected_client()
        for position, (subject, data, headers) in enumerate(MESSAGES):
            await one_by_one.publish(subject, data, reply=f"_INBOX.x.7.{position}", headers=dict(headers))
        at_once = connected_client()
        assert await _publish_at_once(at_once, MESSAGES, "_INBOX.x.7.")
        assert len(at_once._pending) == 1, "one write"
        assert at_once.stats["out_msgs"] == one_by_one.stats["out_msgs"]
        assert at_once.stats["out_bytes"] == one_by_one.stats["out_bytes"]
        return sent(one_by_one), sent(at_once)

    expected, got = asyncio.run(both())
    assert got == expected


def test_what_nats_py_refuses_is_refused_and_the_rest_left_to_it() -> None:
    async def check() -> None:
        nc = connected_client()
        with pytest.raises(BadSubjectError):
            await _publish_at_once(nc, [("bad subject", b"", {})], "_INBOX.x.1.")
        with pytest.raises(BadHeaderError):
            await _publish_at_once(nc, [("a.b.c", b"", {"Bad:Name": "x"})], "_INBOX.x.1.")
        assert not await _publish_at_once(nc, [("a.b.c", b"x" * 2048, {})], "_INBOX.x.1."), "too large: nats-py's"
        nc._status = Client.RECONNECTING
        assert not await _publish_at_once(nc, MESSAGES, "_INBOX.x.1."), "not connected: nats-py buffers or refuses"
        assert sent(nc) == b""

    asyncio.run(check())
