"""Providers are suggested again when they open, and on escalation (issue 16, defect 9): a
meal request filed at 09:01, before 邻家小馆 (daily 10:00–21:00) and 枫香小厨 (weekdays
10:30–19:00) open, used to keep an empty list of suggestions for good.

Now the sweeper, on the app's clock, suggests each provider once per opening while the
request is still open — on the request, in its history, in a `notification.help_request.suggested`
event and a notice to whoever holds it — and an escalation hands the next person the
providers open at that moment."""

from __future__ import annotations

from datetime import timedelta

from linli.events.v1 import notification_pb2 as ev
from linli.notification.v1 import notification_pb2 as pb
from linli_runtime.events.streams import NOTIFICATION
from linli_runtime.testing.published import published
from linli_runtime.testing.waiting import wait_until
from tests.integration.notification.kit import FENGSHU_NAME, SUN, Harness, ms_wan_request

SUGGESTED = "notification.help_request.suggested"


async def file_at(h: Harness, **overrides: object) -> pb.HelpRequest:
    reply = await h.help.CreateHelpRequest(pb.CreateHelpRequestRequest(
        parent=FENGSHU_NAME, help_request=ms_wan_request(**overrides)), metadata=h.md())
    request: pb.HelpRequest = reply.help_request
    return request


async def get(h: Harness, name: str) -> pb.HelpRequest:
    request: pb.HelpRequest = (await h.help.GetHelpRequest(pb.GetHelpRequestRequest(name=name),
                                                           metadata=h.md())).help_request
    return request


async def events(h: Harness, subject: str) -> list[ev.HelpRequestChanged]:
    """What the service published on `subject`, in order (its stream, once all is sent)."""
    return await published(h.app.db, h.app.bus.js, NOTIFICATION.name, subject, ev.HelpRequestChanged)


def shown(request: pb.HelpRequest) -> list[str]:
    return [s.display_name for s in request.suggestions]


async def test_a_request_filed_before_the_providers_open_gets_each_suggested_once_per_opening(h: Harness) -> None:
    # Monday 9 November 2026, 09:01 in Chengdu; a low-urgency request (4 hours to acknowledge),
    # so no escalation interferes this morning.
    h.clock.set(h.clock.now() + timedelta(days=2, hours=-1, minutes=-59))
    request = await file_at(h, urgency=pb.URGENCY_LOW)
    assert shown(request) == [], "nothing is open at 09:01"
    h.clock.advance(minutes=58)  # 09:59
    await h.app.sweeper.run_once()
    assert shown(await get(h, request.name)) == []
    h.clock.advance(minutes=1)  # 10:00: 邻家小馆 opens
    await h.app.sweeper.run_once()
    got = await get(h, request.name)
    assert shown(got) == ["邻家小馆"], "suggested when it opens"
    assert (await h.app.sweeper.run_once()).suggested == 0, "once per opening"
    assert len(await events(h, SUGGESTED)) == 1
    assert "邻家小馆" in got.history[-1].note and got.history[-1].actor_id == "system"
    assert got.history[-1].from_status == got.history[-1].to_status == pb.STATUS_ASSIGNED
    h.clock.advance(minutes=30)  # 10:30: the canteen opens too
    assert (await h.app.sweeper.run_once()).suggested == 1
    for _ in range(3):
        h.clock.advance(minutes=20)
        assert (await h.app.sweeper.run_once()).suggested == 0
    got = await get(h, request.name)
    assert shown(got) == ["枫香小厨", "邻家小馆"], "the canteen first (its priority), both open"
    changes = await events(h, SUGGESTED)
    assert [list(c.suggested_providers) for c in changes] == [
        [f"{FENGSHU_NAME}/providers/p-linjia-restaurant"], [f"{FENGSHU_NAME}/providers/p-fengxiang-canteen"]]
    assert all(c.help_request == request.name for c in changes)
    # Whoever holds the request hears of it.
    async def told() -> bool:
        return any(n.kind == "help_request.suggested" for n in await h.notices_of(got.assignee_id))
    await wait_until(told, what="a notice of the opened providers to the assignee")
    # Taken, but not yet done: the next morning both open again — a new opening, suggested
    # again (once), both together.
    await h.help.AcknowledgeHelpRequest(pb.AcknowledgeHelpRequestRequest(name=request.name),
                                        metadata=h.md(got.assignee_id))
    h.clock.advance(hours=23)  # Tuesday 10:30
    assert (await h.app.sweeper.run_once()).suggested == 1
    assert (await h.app.sweeper.run_once()).suggested == 0
    tuesday = (await events(h, SUGGESTED))[2:]
    assert [len(c.suggested_providers) for c in tuesday] == [2]
    assert (await get(h, request.name)).history[-1].from_status == pb.STATUS_ACKNOWLEDGED


async def test_a_resolved_request_is_not_suggested_to_anymore(h: Harness) -> None:
    h.clock.set(h.clock.now() + timedelta(hours=-2))  # Saturday 09:00
    request = await file_at(h, urgency=pb.URGENCY_LOW)
    await h.help.AcknowledgeHelpRequest(pb.AcknowledgeHelpRequestRequest(name=request.name), metadata=h.md())
    await h.help.ResolveHelpRequest(pb.ResolveHelpRequestRequest(name=request.name, resolution="家人送饭"),
                                    metadata=h.md())
    h.clock.advance(hours=1, minutes=5)  # 10:05: 邻家小馆 open
    assert (await h.app.sweeper.run_once()).suggested == 0
    assert shown(await get(h, request.name)) == []


async def test_an_escalation_hands_on_the_providers_open_at_that_moment(h: Harness) -> None:
    # Saturday 09:45: 邻家小馆 opens at 10:00 (the canteen is closed at weekends); a high-urgency
    # request has 30 minutes, so the sweep at 10:16 escalates it to the backup.
    h.clock.set(h.clock.now() + timedelta(hours=-1, minutes=-15))
    request = await file_at(h)
    assert shown(request) == []
    h.clock.advance(minutes=31)
    result = await h.app.sweeper.run_once()
    assert (result.escalated, result.suggested) == (1, 0), "the escalation itself carries the suggestion"
    got = await get(h, request.name)
    assert (got.escalation_level, got.assignee_id) == (1, SUN)
    assert shown(got) == ["邻家小馆"]
    assert "escalated to the backup" in got.history[-1].note and "邻家小馆" in got.history[-1].note
    [escalated] = await events(h, "notification.help_request.escalated")
    assert list(escalated.suggested_providers) == [f"{FENGSHU_NAME}/providers/p-linjia-restaurant"]
    assert (await h.app.sweeper.run_once()).suggested == 0, "that opening was suggested: not again"
    # The backup's notice names it.
    async def told() -> bool:
        return any("邻家小馆" in n.body for n in await h.notices_of(SUN))
    await wait_until(told, what="the backup's notice to name the open restaurant")
