"""The duty roster names accounts, and only the community's workers (issue 12: person-keyed
records keyed by the global account). A shift, swap or head naming an account with no
community worker grant there — a local name like `worker-li`, a worker of the next community —
is refused; identity's `identity.grant.granted` (over real NATS) makes the account rosterable,
the help request it is then given lands in that account's inbox, and `.revoked` takes it away."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from linli_notification.workers import WORKER_GRANTS

from linli.events.v1 import identity_pb2
from linli.notification.v1 import notification_pb2 as pb
from linli_runtime.testing.errors import error_info
from linli_runtime.testing.waiting import inbox_holds, wait_until
from tests.integration.notification.kit import FENGSHU, FENGSHU_NAME, HE, SUN, ZHAO, Harness, ms_wan_request
from tests.integration.notification.test_delivery import _any, publish

NEWCOMER = "acc_newcomerqq7aaaaaaaaaa"
NEXT_DOOR = "chengdu/jinjiang/chenglonglu/fengshu2"


async def grant_event(h: Harness, verb: str, account: str, scope: str, grant_id: str = "grt_one") -> None:
    event_id = await publish(h, f"identity.grant.{verb}", identity_pb2.GrantChanged(
        grant=f"accounts/{account}/grants/{grant_id}", account=f"accounts/{account}", role="community_worker",
        scope=scope, actor=f"accounts/{HE}", reason="joins the duty roster"), scope, source="identity")
    await wait_until(lambda: inbox_holds(h.app.db, "notification-grants", [event_id]), what=f"grant {verb}")


def sunday_shift(worker: str, backup: str = "") -> pb.CreateDutyShiftRequest:
    return pb.CreateDutyShiftRequest(parent=FENGSHU_NAME, duty_shift=pb.DutyShift(
        date="2026-11-07", start_time="00:00", end_time="24:00", worker_id=worker, backup_id=backup))


@pytest.mark.parametrize("worker", ["worker-li", NEWCOMER, f"accounts/{NEWCOMER}"])
async def test_a_shift_for_someone_who_is_no_worker_here_is_refused(h: Harness, worker: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await h.roster.CreateDutyShift(sunday_shift(worker), metadata=h.md(HE))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(err.value)[0] == "NOT_A_COMMUNITY_WORKER"
    assert "duty_shift.worker_id" in (err.value.details() or "") and "community_worker" in (err.value.details() or "")


async def test_a_backup_swap_or_head_must_be_a_worker_too(h: Harness) -> None:
    staff = h.md(HE)
    for call, request in (
        (h.roster.CreateDutyShift, sunday_shift(ZHAO, backup=NEWCOMER)),
        (h.roster.CreateDutySwap, pb.CreateDutySwapRequest(parent=FENGSHU_NAME, duty_swap=pb.DutySwap(
            date="2026-11-07", from_worker_id=ZHAO, to_worker_id=NEWCOMER))),
        (h.roster.UpdateCommunitySettings, pb.UpdateCommunitySettingsRequest(settings=pb.CommunitySettings(
            name=f"{FENGSHU_NAME}/settings", head_id=NEWCOMER))),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(request, metadata=staff)  # type: ignore[operator]
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION, request
    on_duty = await h.roster.GetOnDuty(pb.GetOnDutyRequest(parent=FENGSHU_NAME), metadata=staff)
    assert (on_duty.worker_id, on_duty.head_id) == (ZHAO, HE), "nothing half-written"


async def test_a_granted_account_is_on_duty_and_finds_the_request_in_its_own_inbox(h: Harness) -> None:
    staff = h.md(HE)
    # A worker of the next community is no worker here.
    await grant_event(h, "granted", NEWCOMER, NEXT_DOOR, grant_id="grt_next")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await h.roster.CreateDutyShift(sunday_shift(NEWCOMER), metadata=staff)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    await grant_event(h, "granted", NEWCOMER, FENGSHU)
    await h.roster.CreateDutyShift(sunday_shift(f"accounts/{NEWCOMER}", backup=ZHAO), metadata=staff)
    on_duty = await h.roster.GetOnDuty(pb.GetOnDutyRequest(parent=FENGSHU_NAME), metadata=staff)
    assert (on_duty.worker_id, on_duty.backup_id) == (NEWCOMER, ZHAO), "stored as the bare account id"

    filed = (await h.help.CreateHelpRequest(pb.CreateHelpRequestRequest(
        parent=FENGSHU_NAME, help_request=ms_wan_request()), metadata=staff)).help_request
    assert filed.assignee_id == NEWCOMER
    mine = h.md(NEWCOMER)  # the newcomer's own token: sub = the account

    async def told() -> bool:
        reply = await h.inbox.ListNotices(pb.ListNoticesRequest(parent=f"recipients/{NEWCOMER}"), metadata=mine)
        return any(n.subject_resource == filed.name for n in reply.notices)

    await wait_until(told, what="the assignment notice in the newcomer's inbox")

    # Revoked: no longer rosterable (the grant is gone here too).
    await grant_event(h, "revoked", NEWCOMER, FENGSHU)
    async with h.app.db.transaction() as session:
        left = (await (await session.connection()).execute(
            WORKER_GRANTS.select().where(WORKER_GRANTS.c.account_id == NEWCOMER))).all()
    assert [r.scope for r in left] == [NEXT_DOOR]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await h.roster.CreateDutySwap(pb.CreateDutySwapRequest(parent=FENGSHU_NAME, duty_swap=pb.DutySwap(
            date="2026-11-08", from_worker_id=ZHAO, to_worker_id=NEWCOMER)), metadata=staff)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_worker_whose_grant_is_revoked_is_off_duty_at_once(h: Harness) -> None:
    """Saturday is Zhao's, with Sun as backup. Zhao's grant revoked (identity's event): requests go
    to Sun, and GetOnDuty says so; Sun's revoked too: to the head — whatever the roster says."""
    staff = h.md(HE)
    await grant_event(h, "revoked", ZHAO, FENGSHU, grant_id="grt-fengshu")  # as kit.grant_worker named it
    on_duty = await h.roster.GetOnDuty(pb.GetOnDutyRequest(parent=FENGSHU_NAME), metadata=staff)
    assert (on_duty.worker_id, on_duty.backup_id) == (SUN, "")
    first = (await h.help.CreateHelpRequest(pb.CreateHelpRequestRequest(
        parent=FENGSHU_NAME, help_request=ms_wan_request()), metadata=staff)).help_request
    assert (first.assignee_id, first.escalation_level) == (SUN, 0)
    await grant_event(h, "revoked", SUN, FENGSHU, grant_id="grt-fengshu")
    second = (await h.help.CreateHelpRequest(pb.CreateHelpRequestRequest(
        parent=FENGSHU_NAME, help_request=ms_wan_request()), metadata=staff)).help_request
    assert (second.assignee_id, second.escalation_level) == (HE, 2), "nobody on duty: the community head"
    # The head is told that nobody was on duty — not that the duty worker and the backup ignored it.
    await wait_until(lambda: _any(h, HE), what="the head's notice")
    [notice] = await h.notices_of(HE)
    assert notice.title == "【无人值班】新的求助：送餐（紧急）" and notice.critical
    assert "无人值班" in notice.body and "未在时限内响应" not in notice.body


async def account_event(h: Harness, verb: str, account: str, minutes: int) -> None:
    """identity's `identity.account.<verb>` for `account`, changed `minutes` after the harness's start."""
    changed_at = Timestamp()
    changed_at.FromDatetime(h.clock.now() + timedelta(minutes=minutes))
    event_id = await publish(h, f"identity.account.{verb}", identity_pb2.AccountChanged(
        account=f"accounts/{account}", kind="person", actor=f"accounts/{HE}", reason="left the job",
        changed_at=changed_at), "", source="identity")
    await wait_until(lambda: inbox_holds(h.app.db, "notification-accounts", [event_id]), what=f"account {verb}")


async def test_a_disabled_worker_is_off_duty_until_enabled_again(h: Harness) -> None:
    """Disabling Zhao's account takes him off Saturday's duty (to Sun, the backup) though his grant
    stands; enabling it puts him back; an older event delivered late changes nothing."""
    staff = h.md(HE)

    async def on_duty() -> str:
        return (await h.roster.GetOnDuty(pb.GetOnDutyRequest(parent=FENGSHU_NAME), metadata=staff)).worker_id

    assert await on_duty() == ZHAO
    await account_event(h, "disabled", ZHAO, minutes=1)
    assert await on_duty() == SUN
    filed = (await h.help.CreateHelpRequest(pb.CreateHelpRequestRequest(
        parent=FENGSHU_NAME, help_request=ms_wan_request()), metadata=staff)).help_request
    assert filed.assignee_id == SUN, "a disabled account is sent no help request"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await h.roster.CreateDutyShift(sunday_shift(ZHAO), metadata=staff)
    assert error_info(err.value)[0] == "NOT_A_COMMUNITY_WORKER"
    await account_event(h, "enabled", ZHAO, minutes=2)
    assert await on_duty() == ZHAO
    await account_event(h, "disabled", ZHAO, minutes=1)  # the first event again, redelivered late
    assert await on_duty() == ZHAO, "an older event does not undo a newer one"
