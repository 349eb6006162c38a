"""Whoever filed a help request may follow and cancel it, even with a token that reaches only
their compound (issue 16, defect 7): the canteen that filed Ms Wan's request was refused
PERMISSION_DENIED on cancelling it, although the README says the filer may.

The filer is the account that filed the request (recorded on its first transition), not the
`reporter_id` a filer may type: naming someone gives them no rights over the request."""

from __future__ import annotations

import grpc
import pytest

from linli.notification.v1 import notification_pb2 as pb
from linli_runtime.testing.errors import error_info
from tests.integration.notification.kit import FENGSHU, FENGSHU_NAME, JINSHANG, ZHAO, Harness, ms_wan_request

CANTEEN = "canteen-staff-liu"
OTHER_COMPOUND = f"{FENGSHU}/fengxiang-huayuan"


def compound_token(h: Harness, subject: str = CANTEEN, scope: str = JINSHANG) -> tuple[tuple[str, str], ...]:
    return h.md(subject, role="resident", scope=scope)


async def file(h: Harness, **overrides: object) -> pb.HelpRequest:
    reply = await h.help.CreateHelpRequest(pb.CreateHelpRequestRequest(
        parent=FENGSHU_NAME, help_request=ms_wan_request(**overrides)), metadata=compound_token(h))
    filed: pb.HelpRequest = reply.help_request
    return filed


async def cancel(h: Harness, name: str, metadata: tuple[tuple[str, str], ...]) -> pb.HelpRequest:
    reply = await h.help.CancelHelpRequest(pb.CancelHelpRequestRequest(name=name, reason="女儿回来照顾了"),
                                           metadata=metadata)
    cancelled: pb.HelpRequest = reply.help_request
    return cancelled


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_the_canteen_cancels_its_own_request_with_a_token_for_its_compound(h: Harness) -> None:
    request = await file(h)
    cancelled = await cancel(h, request.name, compound_token(h))
    assert cancelled.status == pb.STATUS_CANCELLED
    assert (cancelled.history[-1].actor_id, cancelled.history[-1].note) == (CANTEEN, "女儿回来照顾了")
    h.clock.advance(hours=2)
    assert (await h.app.sweeper.run_once()).escalated == 0, "a cancelled request never escalates"


async def test_the_filer_may_cancel_even_when_naming_someone_else_as_reporter_who_may_not(h: Harness) -> None:
    request = await file(h, reporter_id="resident-wan")
    named = compound_token(h, "resident-wan")
    for call in (cancel(h, request.name, named),
                 h.help.GetHelpRequest(pb.GetHelpRequestRequest(name=request.name), metadata=named)):
        error = await refused(call)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED, "being named is no right over a request"
    followed = await h.help.GetHelpRequest(pb.GetHelpRequestRequest(name=request.name), metadata=compound_token(h))
    assert followed.help_request.reporter_id == "resident-wan"
    assert (await cancel(h, request.name, compound_token(h))).status == pb.STATUS_CANCELLED


@pytest.mark.parametrize("subject, scope", [
    ("neighbour-2", JINSHANG),  # same compound, but did not file it
    (CANTEEN, OTHER_COMPOUND),  # the filer's name, with a token for another compound
], ids=["a-neighbour", "filer-elsewhere"])
async def test_others_with_a_compound_token_may_not_cancel(h: Harness, subject: str, scope: str) -> None:
    request = await file(h)
    error = await refused(cancel(h, request.name, compound_token(h, subject, scope)))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_info(error)[0] == "NOT_THE_FILER"
    got = await h.help.GetHelpRequest(pb.GetHelpRequestRequest(name=request.name), metadata=h.md())
    assert got.help_request.status == pb.STATUS_ASSIGNED, "nothing changed"


async def test_staff_cancel_any_request_in_their_scope_and_a_resident_of_the_community_only_their_own(
    h: Harness,
) -> None:
    first, second = await file(h), await file(h)
    assert (await cancel(h, first.name, h.md(ZHAO))).status == pb.STATUS_CANCELLED
    elsewhere = h.md("worker-q", scope="chengdu/jinjiang/chenglonglu/fengshu2")
    assert (await refused(cancel(h, second.name, elsewhere))).code() == grpc.StatusCode.PERMISSION_DENIED
    resident = h.md("resident-9", role="resident", scope=FENGSHU)
    assert (await refused(cancel(h, second.name, resident))).code() == grpc.StatusCode.PERMISSION_DENIED


async def test_the_filer_cannot_cancel_once_it_is_resolved(h: Harness) -> None:
    request = await file(h)
    await h.help.AcknowledgeHelpRequest(pb.AcknowledgeHelpRequestRequest(name=request.name), metadata=h.md())
    await h.help.ResolveHelpRequest(pb.ResolveHelpRequestRequest(name=request.name, resolution="送餐"),
                                    metadata=h.md())
    error = await refused(cancel(h, request.name, compound_token(h)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
