"""Failover between providers, in memory: the first provider that takes a message wins; a
refused recipient stops the failover; every provider throttling is throttling, with the longest
wait any asked for; a provider's own bug fails over like a failure; and every attempt is
counted by provider and outcome for the operators' dashboards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from linli_notification.providers import (
    OutboundMessage,
    ProviderError,
    RecipientRejected,
    Throttled,
    send_with_failover,
)
from prometheus_client import REGISTRY

MSG = OutboundMessage("n-1", "volunteer-007", "sms", "+8613800000000", "t", "b")


@dataclass
class Answering:
    name: str
    error: Exception | None = None
    calls: int = 0

    async def send(self, message: OutboundMessage) -> None:
        self.calls += 1
        if self.error is not None:
            raise self.error


def sends(provider: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value("linli_notification_provider_sends_total",
                                      {"channel": "sms", "provider": provider, "outcome": outcome})
    return value or 0.0


async def test_the_first_provider_that_takes_it_wins_and_every_attempt_is_counted() -> None:
    before = {(p, o): sends(p, o) for p in ("f-down", "f-busy", "f-bug", "f-up") for o in ("failed", "throttled",
                                                                                          "sent")}
    providers = [Answering("f-down", ProviderError("HTTP 503")), Answering("f-busy", Throttled("limit")),
                 Answering("f-bug", KeyError("oops")), Answering("f-up"), Answering("f-never")]
    result = await send_with_failover(providers, MSG)
    assert result.provider == "f-up" and providers[-1].calls == 0
    assert result.errors == ("f-down: HTTP 503", "f-busy: limit", "f-bug: KeyError: 'oops'")
    for provider, outcome in [("f-down", "failed"), ("f-busy", "throttled"), ("f-bug", "failed"), ("f-up", "sent")]:
        assert sends(provider, outcome) == before[(provider, outcome)] + 1, (provider, outcome)


async def test_a_refused_recipient_stops_and_all_throttling_is_throttling() -> None:
    rejecting, other = Answering("r-1", RecipientRejected("43101")), Answering("r-2")
    rejected_before = sends("r-1", "rejected")
    with pytest.raises(RecipientRejected, match="r-1: 43101"):
        await send_with_failover([rejecting, other], MSG)
    assert other.calls == 0 and sends("r-1", "rejected") == rejected_before + 1

    busy = [Answering("t-1", Throttled("a", timedelta(seconds=60))), Answering("t-2", Throttled("b")),
            Answering("t-3", Throttled("c", timedelta(minutes=10)))]
    with pytest.raises(Throttled) as throttled:
        await send_with_failover(busy, MSG)
    assert throttled.value.retry_after == timedelta(minutes=10)

    with pytest.raises(ProviderError) as failed:
        await send_with_failover([Answering("m-1", Throttled("a")), Answering("m-2", ProviderError("down"))], MSG)
    assert type(failed.value) is ProviderError, "one provider down: an ordinary failure, retried on the backoff"
    with pytest.raises(ProviderError, match="no provider for channel 'sms'"):
        await send_with_failover([], MSG)
