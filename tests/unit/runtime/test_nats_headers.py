"""linli_runtime.events.headers parses a header block as nats-py does, whatever the block holds."""

from __future__ import annotations

import pytest
from nats.aio.client import Client

from linli_runtime.events.headers import parse_header_lines

BLOCKS = [
    b"Nats-Msg-Id: 0123456789abcdef0123456789abcdef\r\n\r\n",
    b"Nats-Msg-Id: abc\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n",
    b"Name:Value\r\nTabbed:\tvalue \r\n\r\n",
    b"no colon here\r\n\r\nKey: after an empty line\r\n",
    b"Bad Name: has a space\r\nBad\tTab: x\r\nOdd\x1fName: unit separator\r\nGood: yes\r\n\r\n",
    b"\xe4\xb8\xad: non-ASCII name\r\nValue: \xe4\xb8\xad\xe6\x96\x87\r\nBroken: \xff\xfe\r\n\r\n",
    b": empty name\r\nTwice: 1\r\nTwice: 2\r\nColons: a:b:c\r\n",
    b"",
    b"\r\n\r\n",
]


@pytest.mark.parametrize("block", BLOCKS)
def test_the_same_headers_as_nats_py(block: bytes) -> None:
    assert parse_header_lines(block) == Client._parse_header_lines(block)
