"""A help request about a household (issue 13): the canteen files for Ms Wan naming her home; she
and her family — grants for that household only — follow it and thank the helpers, and the
thanks shows on the community's public list. Neighbours and the household next door see none
of it."""

from __future__ import annotations

import grpc
import pytest

from linli.notification.v1 import notification_pb2 as pb
from tests.integration.notification.kit import FENGSHU_NAME, JINSHANG, ZHAO, Harness, ms_wan_request

HOME = f"{JINSHANG}/b3/h201"
NEXT_DOOR = f"{JINSHANG}/b3/h202"


def of(h: Harness, subject: str, role: str, scope: str) -> tuple[tuple[str, str], ...]:
    return h.md(subject, role=role, scope=scope)


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_the_household_follows_and_thanks_what_the_canteen_filed_for_it(h: Harness) -> None:
    canteen = of(h, "canteen-staff-liu", "resident", JINSHANG)
    wan = of(h, "acc_wan", "resident", HOME)
    daughter = of(h, "acc_wan_daughter", "household_member", HOME)
    neighbour = of(h, "acc_next_door", "resident", NEXT_DOOR)
    filed = (await h.help.CreateHelpRequest(pb.CreateHelpRequestRequest(
        parent=FENGSHU_NAME, help_request=ms_wan_request(household_path=HOME, compound_path="")),
        metadata=canteen)).help_request
    assert (filed.household_path, filed.compound_path) == (HOME, JINSHANG)

    for who in (wan, daughter):
        got = await h.help.GetHelpRequest(pb.GetHelpRequestRequest(name=filed.name), metadata=who)
        assert got.help_request.status == pb.STATUS_ASSIGNED
        listed = await h.help.ListHelpRequests(pb.ListHelpRequestsRequest(parent=FENGSHU_NAME, household_path=HOME),
                                               metadata=who)
        assert [r.name for r in listed.help_requests] == [filed.name]
    # Next door: nothing, whichever way it asks.
    assert (await refused(h.help.GetHelpRequest(pb.GetHelpRequestRequest(name=filed.name), metadata=neighbour))
            ).code() == grpc.StatusCode.PERMISSION_DENIED
    for household in (HOME, ""):
        error = await refused(h.help.ListHelpRequests(pb.ListHelpRequestsRequest(
            parent=FENGSHU_NAME, household_path=household), metadata=neighbour))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    mine = await h.help.ListHelpRequests(pb.ListHelpRequestsRequest(parent=FENGSHU_NAME, household_path=NEXT_DOOR),
                                         metadata=neighbour)
    assert list(mine.help_requests) == []
    # A household's people file for their own home only.
    error = await refused(h.help.CreateHelpRequest(pb.CreateHelpRequestRequest(
        parent=FENGSHU_NAME, help_request=ms_wan_request(household_path=HOME, compound_path="")), metadata=neighbour))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED

    # The Saturday duty worker takes it and resolves it; then she thanks the helpers herself.
    worker = h.md()
    await h.help.AcknowledgeHelpRequest(pb.AcknowledgeHelpRequestRequest(name=filed.name), metadata=worker)
    await h.help.ResolveHelpRequest(pb.ResolveHelpRequestRequest(
        name=filed.name, resolution="从邻家小馆订餐送到家", helper_ids=["v-001"]), metadata=worker)
    banner = pb.Thanks(kind="banner", text="排忧解难办实事 服务居民暖人心")
    setattr(banner, "from", "万阿姨")
    error = await refused(h.help.RecordThanks(pb.RecordThanksRequest(name=filed.name, thanks=banner),
                                              metadata=neighbour))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    thanked = (await h.help.RecordThanks(pb.RecordThanksRequest(name=filed.name, thanks=banner),
                                         metadata=wan)).help_request
    assert [(t.kind, t.recorded_by, sorted(t.recipient_ids)) for t in thanked.thanks] == [
        ("banner", "acc_wan", sorted(["v-001", ZHAO]))]

    public = await h.help.ListCommunityThanks(pb.ListCommunityThanksRequest(parent=FENGSHU_NAME),
                                              metadata=h.md("svc-portal", role="portal", scope=""))
    assert [(t.kind, t.text, getattr(t, "from"), t.category, t.helper_count) for t in public.thanks] == [
        ("banner", "排忧解难办实事 服务居民暖人心", "万阿姨", "meal", 2)]
