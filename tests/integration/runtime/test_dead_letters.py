"""Dead letters can be replayed (issue 14 item 13), on both engines with a real NATS: an event
its consumer refuses lands in the dead letters with the reason; a replay before the cause is
fixed changes nothing and says why; once fixed it is replayed through the consumer exactly
once, recorded (who, when, why) and announced; only operators may do it, a city operator only
within their city; an unknown id is NOT_FOUND."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from linli_identity.testing import TestIssuer

from linli.events.v1 import runtime_pb2
from linli.events.v1.envelope_pb2 import EventEnvelope
from linli.runtime.v1 import dead_letters_pb2 as pb
from linli_runtime.auth import PrincipalKind
from linli_runtime.clock import ManualClock
from linli_runtime.processes import NatsServer
from linli_runtime.testing.errors import error_info
from linli_runtime.testing.waiting import wait_until
from tests.integration.runtime.deadkit import CONSUMER, Poisoned, poisoned_service
from tests.integration.runtime.eventkit import applied_counts


@pytest.fixture
async def svc(database_url: str, nats_server: NatsServer, issuer: TestIssuer,
              clock: ManualClock) -> AsyncIterator[Poisoned]:
    async for s in poisoned_service(database_url, nats_server.url, issuer, clock):
        yield s


async def refused(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code(), error_info(caught.value)[0]


async def announced(s: Poisoned) -> list[runtime_pb2.DeadLetterResolved]:
    info = await s.app.bus.js.stream_info(s.topic.spec.name)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await s.app.bus.js.get_msg(s.topic.spec.name, seq)
        if msg.subject.startswith(f"{s.app.context}.dead_letter."):
            payload = runtime_pb2.DeadLetterResolved()
            assert msg.data is not None and EventEnvelope.FromString(msg.data).payload.Unpack(payload)
            found.append(payload)
    return found


async def test_a_poisoned_event_is_fixed_and_replayed_once(svc: Poisoned) -> None:
    s = svc
    name = await s.poison("thing-1")
    shown = (await s.stub.GetDeadLetter(pb.GetDeadLetterRequest(name=name), metadata=s.admin)).dead_letter
    assert (shown.consumer, shown.state, shown.org_scope, shown.service) == (
        CONSUMER, pb.DEAD_LETTER_STATE_PENDING, "chengdu/test", s.app.name)
    assert "poison" in shown.reason and "thing-1" in shown.reason
    assert shown.payload_type == "google.protobuf.StringValue" and '"thing-1"' in shown.payload_json

    # Not fixed yet: the replay fails, says why, and leaves it pending with nothing applied.
    code, reason = await refused(s.stub.ReplayDeadLetter(pb.ReplayDeadLetterRequest(
        name=name, reason="try"), metadata=s.admin))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "REPLAY_FAILED")
    assert (await s.stub.GetDeadLetter(pb.GetDeadLetterRequest(name=name), metadata=s.admin)).dead_letter.state == \
        pb.DEAD_LETTER_STATE_PENDING
    assert await applied_counts(s.app.db) == {}

    s.things.known.add("thing-1")  # the cause is fixed
    replay = pb.ReplayDeadLetterRequest(name=name, reason="thing-1 registered since", request_id="replay-1")
    first = (await s.stub.ReplayDeadLetter(replay, metadata=s.admin)).dead_letter
    assert (first.state, first.replay_outcome, first.resolved_by, first.resolution_reason) == (
        pb.DEAD_LETTER_STATE_REPLAYED, "applied", "op-platform_admin", "thing-1 registered since")
    assert first.resolve_time.ToDatetime().year == s.app.clock.now().year
    # A retry of the same call is answered as the first; another replay is refused; applied once.
    assert (await s.stub.ReplayDeadLetter(replay, metadata=s.admin)).dead_letter == first
    code, reason = await refused(s.stub.ReplayDeadLetter(pb.ReplayDeadLetterRequest(
        name=name, reason="again"), metadata=s.admin))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "DEAD_LETTER_RESOLVED")
    assert await applied_counts(s.app.db) == {"thing-1": 1}

    # A discard of another, and both decisions announced on the service's own stream.
    other = await s.poison("thing-2")
    gone = (await s.stub.DiscardDeadLetter(pb.DiscardDeadLetterRequest(
        name=other, reason="thing-2 was a typo"), metadata=s.admin)).dead_letter
    assert gone.state == pb.DEAD_LETTER_STATE_DISCARDED
    resolved = await wait_until(lambda: _count(announced(s), 2), what="two dead_letter events")
    assert [(e.dead_letter, e.resolution, e.actor, e.reason, e.replay_outcome) for e in resolved] == [
        (name, runtime_pb2.DEAD_LETTER_RESOLUTION_REPLAYED, "op-platform_admin", "thing-1 registered since",
         "applied"),
        (other, runtime_pb2.DEAD_LETTER_RESOLUTION_DISCARDED, "op-platform_admin", "thing-2 was a typo", "")]
    pending = await s.stub.ListDeadLetters(pb.ListDeadLettersRequest(state=pb.DEAD_LETTER_STATE_PENDING),
                                           metadata=s.admin)
    assert list(pending.dead_letters) == []
    assert [d.name for d in (await s.stub.ListDeadLetters(pb.ListDeadLettersRequest(
        page_size=1), metadata=s.admin)).dead_letters] == [other], "newest first"


async def _count(found: Any, n: int) -> Any:
    items = await found
    return items if len(items) >= n else None


async def test_only_operators_within_their_city_and_known_ids(svc: Poisoned) -> None:
    s = svc
    name = await s.poison("thing-3")
    for md in [s.md("community_worker", "chengdu/test"), s.md("street_officer", "chengdu"),
               s.md("service", "", PrincipalKind.SERVICE)]:
        for call in [s.stub.ListDeadLetters(pb.ListDeadLettersRequest(), metadata=md),
                     s.stub.ReplayDeadLetter(pb.ReplayDeadLetterRequest(name=name, reason="x"), metadata=md)]:
            assert await refused(call) == (grpc.StatusCode.PERMISSION_DENIED, "OPERATORS_ONLY")
    elsewhere = s.md("city_operator", "suzhou")
    assert list((await s.stub.ListDeadLetters(pb.ListDeadLettersRequest(), metadata=elsewhere)).dead_letters) == []
    assert await refused(s.stub.DiscardDeadLetter(pb.DiscardDeadLetterRequest(name=name, reason="x"),
                                                  metadata=elsewhere)) == (
        grpc.StatusCode.NOT_FOUND, "DEAD_LETTER_NOT_FOUND")
    for call in [s.stub.ReplayDeadLetter(pb.ReplayDeadLetterRequest(name="deadLetters/999999", reason="x"),
                                         metadata=s.admin),
                 s.stub.GetDeadLetter(pb.GetDeadLetterRequest(name="deadLetters/999999"), metadata=s.admin)]:
        assert await refused(call) == (grpc.StatusCode.NOT_FOUND, "DEAD_LETTER_NOT_FOUND")
    for request in [pb.ReplayDeadLetterRequest(name=name, reason=" "),
                    pb.ReplayDeadLetterRequest(name="letters/1", reason="x")]:
        assert (await refused(s.stub.ReplayDeadLetter(request, metadata=s.admin)))[0] == \
            grpc.StatusCode.INVALID_ARGUMENT
    chengdu = s.md("city_operator", "chengdu")
    s.things.known.add("thing-3")
    done = (await s.stub.ReplayDeadLetter(pb.ReplayDeadLetterRequest(name=name, reason="fixed"),
                                          metadata=chengdu)).dead_letter
    assert (done.state, done.resolved_by) == (pb.DEAD_LETTER_STATE_REPLAYED, "op-city_operator")
