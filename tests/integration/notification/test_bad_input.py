"""Bad input on every RPC gets the right status and names the field; nothing is written."""

from __future__ import annotations

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp
from linli_notification.tables import duty_shift, help_request, provider

from linli.notification.v1 import notification_pb2 as pb
from linli_runtime.paging import encode_token
from linli_runtime.testing.errors import error_info, has_rich_status
from tests.integration.notification.kit import FENGSHU_NAME, HE, Harness, ms_wan_request

C = FENGSHU_NAME
H = f"{C}/helpRequests/h-missing"
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND


def shift(**kw: object) -> pb.DutyShift:
    fields: dict[str, object] = dict(weekday=6, start_time="08:00", end_time="18:00", worker_id="worker-a")
    fields.update(kw)
    return pb.DutyShift(**fields)  # type: ignore[arg-type]


def shop(**kw: object) -> pb.Provider:
    fields: dict[str, object] = dict(display_name="店", category="meal")
    fields.update(kw)
    return pb.Provider(**fields)  # type: ignore[arg-type]


CASES: list[tuple[str, str, object, grpc.StatusCode, str]] = [
    # (service, method, request, code, field)
    ("help", "CreateHelpRequest", pb.CreateHelpRequestRequest(parent="fengshu", help_request=ms_wan_request()),
     INVALID, "parent"),
    ("help", "CreateHelpRequest", pb.CreateHelpRequestRequest(parent="communities/成都", help_request=ms_wan_request()),
     INVALID, "parent"),
    ("help", "CreateHelpRequest", pb.CreateHelpRequestRequest(parent=C), INVALID, "help_request"),
    ("help", "CreateHelpRequest", pb.CreateHelpRequestRequest(parent=C, help_request=ms_wan_request(category="x")),
     INVALID, "help_request.category"),
    ("help", "CreateHelpRequest", pb.CreateHelpRequestRequest(parent=C, help_request=ms_wan_request(reporter_role=0)),
     INVALID, "help_request.reporter_role"),
    ("help", "CreateHelpRequest", pb.CreateHelpRequestRequest(parent=C, help_request=ms_wan_request(urgency=99)),
     INVALID, "help_request.urgency"),
    ("help", "CreateHelpRequest", pb.CreateHelpRequestRequest(parent=C, help_request=ms_wan_request(description=" ")),
     INVALID, "help_request.description"),
    ("help", "CreateHelpRequest", pb.CreateHelpRequestRequest(
        parent=C, help_request=ms_wan_request(compound_path="chengdu/chongzhou/x")), INVALID,
     "help_request.compound_path"),
    ("help", "CreateHelpRequest", pb.CreateHelpRequestRequest(
        parent=C, help_request=ms_wan_request(reporter_id="a b")), INVALID, "help_request.reporter_id"),
    ("help", "CreateHelpRequest", pb.CreateHelpRequestRequest(
        parent=C, help_request=ms_wan_request(), request_id="no spaces please"), INVALID, "request_id"),
    ("help", "GetHelpRequest", pb.GetHelpRequestRequest(name="helpRequests/h-1"), INVALID, "name"),
    ("help", "GetHelpRequest", pb.GetHelpRequestRequest(name=H), NOT_FOUND, ""),
    ("help", "ListHelpRequests", pb.ListHelpRequestsRequest(parent=C, page_size=-1), INVALID, "page_size"),
    ("help", "ListHelpRequests", pb.ListHelpRequestsRequest(parent=C, page_token="garbage!"), INVALID, "page_token"),
    ("help", "ListHelpRequests", pb.ListHelpRequestsRequest(parent=C, status=42), INVALID, "status"),
    ("help", "ListHelpRequests", pb.ListHelpRequestsRequest(parent=""), INVALID, "parent"),
    ("help", "ListHelpRequests", pb.ListHelpRequestsRequest(parent=C, assignee_id="a b"), INVALID, "assignee_id"),
    ("help", "ListHelpRequests", pb.ListHelpRequestsRequest(parent=C, household_path="chengdu/elsewhere/b1/h1"),
     INVALID, "household_path"),
    ("help", "ListCommunityThanks", pb.ListCommunityThanksRequest(parent="nowhere"), INVALID, "parent"),
    ("help", "ListCommunityThanks", pb.ListCommunityThanksRequest(parent=C, page_size=-1), INVALID, "page_size"),
    ("help", "SummarizeHelpRequests", pb.SummarizeHelpRequestsRequest(parent=""), INVALID, "parent"),
    ("help", "SummarizeHelpRequests", pb.SummarizeHelpRequestsRequest(
        parent=C, start_time=Timestamp(seconds=1_800_000_000), end_time=Timestamp(seconds=1_700_000_000)),
     INVALID, "end_time"),
    ("help", "ListHelpRequests", pb.ListHelpRequestsRequest(parent="communities/-", page_token=encode_token(
        f"help|{C}|chengdu/jinjiang/chenglonglu/fengshu|0|", 5)), INVALID, "page_token"),
    ("help", "AcknowledgeHelpRequest", pb.AcknowledgeHelpRequestRequest(name=H), NOT_FOUND, ""),
    ("help", "AcknowledgeHelpRequest", pb.AcknowledgeHelpRequestRequest(name="x"), INVALID, "name"),
    ("help", "StartHelpRequest", pb.StartHelpRequestRequest(name=H), NOT_FOUND, ""),
    ("help", "StartHelpRequest", pb.StartHelpRequestRequest(name=H, note="x" * 1001), INVALID, "note"),
    ("help", "ResolveHelpRequest", pb.ResolveHelpRequestRequest(name=H), INVALID, "resolution"),
    ("help", "ResolveHelpRequest", pb.ResolveHelpRequestRequest(name=H, resolution="ok", helper_ids=["bad id"]),
     INVALID, "helper_ids"),
    ("help", "ResolveHelpRequest", pb.ResolveHelpRequestRequest(name=H, resolution="ok"), NOT_FOUND, ""),
    ("help", "RecordFollowUp", pb.RecordFollowUpRequest(name=H, note="ok"), INVALID, "name"),
    ("help", "RecordFollowUp", pb.RecordFollowUpRequest(name=f"{H}/followUps/1"), INVALID, "note"),
    ("help", "RecordFollowUp", pb.RecordFollowUpRequest(name=f"{H}/followUps/1", note="ok"), NOT_FOUND, ""),
    ("help", "CloseHelpRequest", pb.CloseHelpRequestRequest(name=H), NOT_FOUND, ""),
    ("help", "CancelHelpRequest", pb.CancelHelpRequestRequest(name=H), INVALID, "reason"),
    ("help", "CancelHelpRequest", pb.CancelHelpRequestRequest(name=H, reason="gone"), NOT_FOUND, ""),
    ("help", "RecordThanks", pb.RecordThanksRequest(name=H), INVALID, "thanks"),
    ("help", "RecordThanks", pb.RecordThanksRequest(name=H, thanks=pb.Thanks(kind="gift", text="x")), INVALID,
     "thanks.kind"),
    ("help", "RecordThanks", pb.RecordThanksRequest(name=H, thanks=pb.Thanks(kind="banner")), INVALID, "thanks.text"),
    ("help", "RecordThanks", pb.RecordThanksRequest(name=H, thanks=pb.Thanks(kind="banner", text="谢谢")),
     NOT_FOUND, ""),
    ("roster", "GetCommunitySettings", pb.GetCommunitySettingsRequest(name=C), INVALID, "name"),
    ("roster", "UpdateCommunitySettings", pb.UpdateCommunitySettingsRequest(), INVALID, "settings"),
    ("roster", "UpdateCommunitySettings", pb.UpdateCommunitySettingsRequest(settings=pb.CommunitySettings(
        name=f"{C}/settings", sla_high_minutes=-5)), INVALID, "settings.sla_high_minutes"),
    ("roster", "UpdateCommunitySettings", pb.UpdateCommunitySettingsRequest(settings=pb.CommunitySettings(
        name=f"{C}/settings", utc_offset_minutes=5000)), INVALID, "settings.utc_offset_minutes"),
    ("roster", "UpdateCommunitySettings", pb.UpdateCommunitySettingsRequest(settings=pb.CommunitySettings(
        name=f"{C}/settings", head_id="a/b")), INVALID, "settings.head_id"),
    ("roster", "CreateDutyShift", pb.CreateDutyShiftRequest(parent=C), INVALID, "duty_shift"),
    ("roster", "CreateDutyShift", pb.CreateDutyShiftRequest(parent=C, duty_shift=shift(weekday=8)), INVALID,
     "duty_shift.weekday"),
    ("roster", "CreateDutyShift", pb.CreateDutyShiftRequest(parent=C, duty_shift=shift(date="2026-11-07")),
     INVALID, "duty_shift.weekday"),
    ("roster", "CreateDutyShift", pb.CreateDutyShiftRequest(parent=C, duty_shift=shift(weekday=0, date="2026-13-01")),
     INVALID, "duty_shift.date"),
    ("roster", "CreateDutyShift", pb.CreateDutyShiftRequest(parent=C, duty_shift=shift(start_time="8am")), INVALID,
     "duty_shift.start_time"),
    ("roster", "CreateDutyShift", pb.CreateDutyShiftRequest(parent=C, duty_shift=shift(end_time="07:00")), INVALID,
     "duty_shift.end_time"),
    ("roster", "CreateDutyShift", pb.CreateDutyShiftRequest(parent=C, duty_shift=shift(worker_id="")), INVALID,
     "duty_shift.worker_id"),
    ("roster", "ListDutyShifts", pb.ListDutyShiftsRequest(parent=C, page_token="Zm9v"), INVALID, "page_token"),
    ("roster", "DeleteDutyShift", pb.DeleteDutyShiftRequest(name=f"{C}/dutyShifts/s-none"), NOT_FOUND, ""),
    ("roster", "DeleteDutyShift", pb.DeleteDutyShiftRequest(name=f"{C}/shifts/s-none"), INVALID, "name"),
    ("roster", "CreateDutySwap", pb.CreateDutySwapRequest(parent=C), INVALID, "duty_swap"),
    ("roster", "CreateDutySwap", pb.CreateDutySwapRequest(parent=C, duty_swap=pb.DutySwap(
        date="tomorrow", from_worker_id="a", to_worker_id="b")), INVALID, "duty_swap.date"),
    ("roster", "CreateDutySwap", pb.CreateDutySwapRequest(parent=C, duty_swap=pb.DutySwap(
        date="2026-11-07", from_worker_id="a", to_worker_id="a")), INVALID, "duty_swap.to_worker_id"),
    ("roster", "GetOnDuty", pb.GetOnDutyRequest(parent="communities/"), INVALID, "parent"),
    ("roster", "CreateProvider", pb.CreateProviderRequest(parent=C), INVALID, "provider"),
    ("roster", "CreateProvider", pb.CreateProviderRequest(parent=C, provider=shop(display_name="")), INVALID,
     "provider.display_name"),
    ("roster", "CreateProvider", pb.CreateProviderRequest(parent=C, provider=shop(category="")), INVALID,
     "provider.category"),
    ("roster", "CreateProvider", pb.CreateProviderRequest(parent=C, provider=shop(opening_hours=[pb.OpeningHours(
        weekday=9, open_time="10:00", close_time="12:00")])), INVALID, "provider.opening_hours[0].weekday"),
    ("roster", "CreateProvider", pb.CreateProviderRequest(parent=C, provider=shop(opening_hours=[pb.OpeningHours(
        weekday=1, open_time="12:00", close_time="10:00")])), INVALID, "provider.opening_hours[0].close_time"),
    ("roster", "ListProviders", pb.ListProvidersRequest(parent=C, page_size=-3), INVALID, "page_size"),
    ("inbox", "ListNotices", pb.ListNoticesRequest(parent="users/x"), INVALID, "parent"),
    ("inbox", "ListNotices", pb.ListNoticesRequest(parent=f"recipients/{HE}", page_token="x"), INVALID,
     "page_token"),
    ("inbox", "MarkNoticeRead", pb.MarkNoticeReadRequest(name=f"recipients/{HE}/notices/n-none"), NOT_FOUND, ""),
    ("inbox", "MarkNoticeRead", pb.MarkNoticeReadRequest(name=f"recipients/{HE}"), INVALID, "name"),
    ("inbox", "GetPreferences", pb.GetPreferencesRequest(name=f"recipients/{HE}"), INVALID, "name"),
    ("inbox", "UpdatePreferences", pb.UpdatePreferencesRequest(), INVALID, "preferences"),
    ("inbox", "UpdatePreferences", pb.UpdatePreferencesRequest(preferences=pb.Preferences(
        name=f"recipients/{HE}/preferences", language="fr")), INVALID, "preferences.language"),
    ("inbox", "UpdatePreferences", pb.UpdatePreferencesRequest(preferences=pb.Preferences(
        name=f"recipients/{HE}/preferences", channels=["fax"])), INVALID, "preferences.channels"),
    ("inbox", "UpdatePreferences", pb.UpdatePreferencesRequest(preferences=pb.Preferences(
        name=f"recipients/{HE}/preferences", channels=["sms"])), INVALID, "preferences.phone"),
    ("inbox", "UpdatePreferences", pb.UpdatePreferencesRequest(preferences=pb.Preferences(
        name=f"recipients/{HE}/preferences", quiet_start="22:00")), INVALID, "preferences.quiet_end"),
    ("inbox", "UpdatePreferences", pb.UpdatePreferencesRequest(preferences=pb.Preferences(
        name=f"recipients/{HE}/preferences", quiet_start="25:00", quiet_end="07:00")), INVALID,
     "preferences.quiet_start"),
    ("inbox", "UpdatePreferences", pb.UpdatePreferencesRequest(preferences=pb.Preferences(
        name=f"recipients/{HE}/preferences", subscribed_paths=["小区"])), INVALID, "preferences.subscribed_paths"),
]


def field_of(error: grpc.aio.AioRpcError) -> str:
    assert has_rich_status(error), "rich status details attached"
    fields = error_info(error)[1]
    return fields[0] if fields else ""


async def test_bad_input_on_every_rpc_gets_the_right_status(h: Harness) -> None:
    stubs = {"help": h.help, "roster": h.roster, "inbox": h.inbox}
    md = h.md(HE)
    covered = set()
    for service, method, request, code, field in CASES:
        covered.add(method)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await getattr(stubs[service], method)(request, metadata=md)
        assert caught.value.code() == code, (method, request, caught.value.details())
        if field:
            assert field_of(caught.value) == field, (method, caught.value.details())
    every_rpc = {m.name for s in pb.DESCRIPTOR.services_by_name.values() for m in s.methods}
    assert every_rpc - covered == set(), "each RPC has a bad-input case"
    async with h.app.db.transaction() as session:
        conn = await session.connection()
        assert (await conn.execute(sa.select(sa.func.count()).select_from(help_request))).scalar() == 0
        assert (await conn.execute(sa.select(sa.func.count()).select_from(provider))).scalar() == 2, "demo only"
        assert (await conn.execute(sa.select(sa.func.count()).select_from(duty_shift))).scalar() == 12, "demo only"


async def test_out_of_scope_and_wrong_role_are_permission_denied(h: Harness) -> None:
    elsewhere = h.md("worker-q", scope="chengdu/chongzhou")
    resident = h.md("resident-1", role="resident")
    when = Timestamp(seconds=1)
    for call, request in (
        (h.roster.CreateDutyShift, pb.CreateDutyShiftRequest(parent=C, duty_shift=shift())),
        (h.roster.CreateProvider, pb.CreateProviderRequest(parent=C, provider=shop())),
        (h.roster.UpdateCommunitySettings, pb.UpdateCommunitySettingsRequest(
            settings=pb.CommunitySettings(name=f"{C}/settings"))),
        (h.roster.CreateDutySwap, pb.CreateDutySwapRequest(parent=C, duty_swap=pb.DutySwap(
            date="2026-11-07", from_worker_id="a", to_worker_id="b"))),
        (h.roster.DeleteDutyShift, pb.DeleteDutyShiftRequest(name=f"{C}/dutyShifts/s-fengshu-sat")),
    ):
        for md in (elsewhere, resident):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call(request, metadata=md)
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, (call, md)
    for call, request in (
        (h.roster.GetOnDuty, pb.GetOnDutyRequest(parent=C, time=when)),
        (h.roster.ListProviders, pb.ListProvidersRequest(parent=C)),
        (h.roster.GetCommunitySettings, pb.GetCommunitySettingsRequest(name=f"{C}/settings")),
        (h.help.CreateHelpRequest, pb.CreateHelpRequestRequest(parent=C, help_request=ms_wan_request(
            compound_path=""))),
        (h.inbox.GetPreferences, pb.GetPreferencesRequest(name=f"recipients/{HE}/preferences")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request, metadata=elsewhere)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, call
