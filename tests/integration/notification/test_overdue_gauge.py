"""`linli_help_requests_overdue` (the alert LinliHelpRequestsPastSla): every sweeper pass counts the
requests still unacknowledged past their deadline or already escalated, through the real API
with a ManualClock; acknowledging one takes it off the count."""

from __future__ import annotations

from prometheus_client import REGISTRY

from linli.notification.v1 import notification_pb2 as pb
from tests.integration.notification.kit import SUN, Harness
from tests.integration.notification.test_help_requests import file_request


def overdue() -> float | None:
    return REGISTRY.get_sample_value("linli_help_requests_overdue")


async def test_the_overdue_gauge_counts_requests_past_their_sla_until_acknowledged(h: Harness) -> None:
    request = await file_request(h)  # high urgency: 30 minutes to acknowledge
    await h.app.sweeper.run_once()
    assert overdue() == 0
    h.clock.advance(minutes=31)
    assert (await h.app.sweeper.run_once()).escalated == 1
    assert overdue() == 1, "past its deadline"
    assert (await h.app.sweeper.run_once()).escalated == 0
    assert overdue() == 1, "escalated, with a fresh deadline, and still not acknowledged"
    await h.help.AcknowledgeHelpRequest(pb.AcknowledgeHelpRequestRequest(name=request.name),
                                        metadata=h.md(SUN))
    await h.app.sweeper.run_once()
    assert overdue() == 0
