"""Outbound channels (SMS, WeChat subscription messages) behind one small interface.

A provider sends one message or raises `ProviderError`. For each channel the service holds an
ordered list of providers: a message goes to the first, and on failure to the next (failover);
when all fail, the delivery is retried later with backoff (see `dispatcher`). Real gateways
(an SMS vendor, the WeChat subscription-message API) implement `Provider`; `FileProvider`
writes JSON lines to a file for `make run`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

CHANNELS = ("sms", "wechat")


@dataclass(frozen=True)
class OutboundMessage:
    notice_id: str
    recipient_id: str
    channel: str
    address: str  # phone number or WeChat openid
    title: str
    body: str


class ProviderError(Exception):
    """The provider could not take the message (down, refused, timed out)."""


class Provider(Protocol):
    name: str

    async def send(self, message: OutboundMessage) -> None: ...


class FileProvider:
    """Appends each message as one JSON line (local runs: `tail -f var/notification-deliveries.jsonl`)."""

    def __init__(self, path: str | Path, name: str = "local-file") -> None:
        self.path = Path(path)
        self.name = name
        self._lock = asyncio.Lock()

    async def send(self, message: OutboundMessage) -> None:
        line = json.dumps({"provider": self.name, **asdict(message)}, ensure_ascii=False)
        async with self._lock:
            await asyncio.to_thread(self._append, line)

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


@dataclass(frozen=True)
class SendResult:
    provider: str
    errors: tuple[str, ...]


async def send_with_failover(providers: Sequence[Provider], message: OutboundMessage) -> SendResult:
    """Try each provider in order; the first that accepts wins. Raises ProviderError naming
    every failure when none does."""
    errors: list[str] = []
    for provider in providers:
        try:
            await provider.send(message)
        except Exception as exc:  # a provider's own bug must not stop the failover either
            errors.append(f"{provider.name}: {exc}")
            continue
        return SendResult(provider.name, tuple(errors))
    raise ProviderError("; ".join(errors) or f"no provider for channel {message.channel!r}")


ProviderTable = Mapping[str, Sequence[Provider]]
