"""Outbound channels (SMS, WeChat subscription messages) behind one small interface.

A provider sends one message or raises a `ProviderError`. For each channel the service holds an
ordered list of providers: a message goes to the first, and on failure to the next (failover).
What a failure means decides what happens next:

| error | failover to the next provider | later attempt (the dispatcher's backoff) |
|---|---|---|
| `ProviderError` (down, timed out, refused our keys or template) | yes | yes |
| `Throttled` (the vendor's rate limit; may say how long to wait) | yes | yes, not before its `retry_after` |
| `RecipientRejected` (not a mobile number, unknown openid, unsubscribed) | no | no: failed at once |

Real gateways (an SMS vendor, the WeChat API) implement `Provider` (`gateways.py`,
`linli_notification.sms`); `FileProvider` writes JSON lines to a file for `make run`. Providers
holding connections have `aclose()`, called once when the service stops (`close_providers`).

Every attempt is counted by provider and outcome (`linli_notification_provider_sends_total`:
sent, failed, throttled, rejected), so a vendor that starts failing shows before residents say so.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from prometheus_client import Counter

CHANNELS = ("sms", "wechat")

PROVIDER_SENDS = Counter("linli_notification_provider_sends", "Messages handed to an outbound provider, by outcome "
                         "(sent, failed, throttled, rejected).", ["channel", "provider", "outcome"])

# The kind of a one-time code's message (sign-in by phone): vendors' templates are looked up by it.
ONE_TIME_CODE = "one_time_code"


@dataclass(frozen=True)
class OutboundMessage:
    notice_id: str
    recipient_id: str
    channel: str
    address: str  # phone number or WeChat openid
    title: str
    body: str
    # What it is (a notice's kind, `one_time_code`): SMS vendors send pre-approved templates,
    # chosen by kind, filled with `params` (in this order where a vendor's are positional).
    kind: str = ""
    params: Mapping[str, str] = field(default_factory=dict)


class ProviderError(Exception):
    """The provider could not take the message (down, refused, timed out): the next provider
    may, and so may this one later."""

    retry_after: timedelta | None = None


class Throttled(ProviderError):
    """The provider is rate-limiting us (or this number): try another, and this one again no
    sooner than `retry_after` when it says."""

    def __init__(self, message: str, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RecipientRejected(ProviderError):
    """The address itself is refused — not a mobile number, an openid unknown to the app, a
    person who did not subscribe: no other provider and no later attempt will do better."""


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
        entry = {"provider": self.name, **asdict(message), "params": dict(message.params)}
        line = json.dumps(entry, ensure_ascii=False)
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
    """Try each provider in order; the first that accepts wins. When none does, raises naming
    every failure: `RecipientRejected` at once (no other provider is tried), `Throttled` when
    every provider throttled (with the longest wait any asked for), else `ProviderError`."""
    errors: list[str] = []
    failures: list[ProviderError] = []
    for provider in providers:
        def count(outcome: str, provider: Provider = provider) -> None:
            PROVIDER_SENDS.labels(message.channel, provider.name, outcome).inc()

        try:
            await provider.send(message)
        except RecipientRejected as exc:
            count("rejected")
            errors.append(f"{provider.name}: {exc}")
            raise RecipientRejected("; ".join(errors)) from None
        except ProviderError as exc:
            count("throttled" if isinstance(exc, Throttled) else "failed")
            errors.append(f"{provider.name}: {exc}")
            failures.append(exc)
            continue
        except Exception as exc:  # a provider's own bug must not stop the failover either
            count("failed")
            errors.append(f"{provider.name}: {type(exc).__name__}: {exc}")
            failures.append(ProviderError(str(exc)))
            continue
        count("sent")
        return SendResult(provider.name, tuple(errors))
    summary = "; ".join(errors) or f"no provider for channel {message.channel!r}"
    if failures and all(isinstance(f, Throttled) for f in failures):
        waits = [f.retry_after for f in failures if f.retry_after is not None]
        raise Throttled(summary, max(waits) if waits else None)
    raise ProviderError(summary)


ProviderTable = Mapping[str, Sequence[Provider]]


async def close_providers(providers: Iterable[Provider]) -> None:
    """Close every provider that holds connections (`aclose()`), each once."""
    seen: set[int] = set()
    for provider in providers:
        close = getattr(provider, "aclose", None)
        if close is not None and id(provider) not in seen:
            seen.add(id(provider))
            await close()
