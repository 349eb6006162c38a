"""Notices from other services' events, end to end through the real bus: the right people,
once per event however often JetStream delivers it; delivery over external channels with
retry/backoff, failover between providers, quiet hours."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.message import Message
from nats.js.errors import NotFoundError

from linli.events.v1 import governance_pb2, identity_pb2, points_pb2, redemption_pb2
from linli.notification.v1 import notification_pb2 as pb
from linli_runtime.events import make_event
from linli_runtime.testing.waiting import wait_until
from tests.integration.notification.kit import FENGSHU, HE, JINSHANG, SUN, ZHAO, Harness

SHENGJIAN = "chengdu/chongzhou/longxing/x/shengjian"


@pytest.fixture(autouse=True)
async def bound(h: Harness) -> None:
    """Fengshu's volunteers these tests address are bound to accounts (volunteer-points'
    `points.volunteer.account_bound`, recorded as its consumer would): notices about a volunteer
    go to the account's inbox, named here as the volunteer is, to keep the tests short."""
    await h.bind("volunteer-007", "volunteer-012")


async def publish(h: Harness, subject: str, payload: Message, scope: str, *, times: int = 1,
                  dedup_header: bool = True, source: str = "volunteer-points") -> str:
    """Publish like another service's relay would: an EventEnvelope on its stream. With
    `dedup_header=False` the copies are stored separately, as after a relay crash between
    publish and marking the row sent beyond the duplicate window."""
    envelope = make_event(subject, payload, org_scope=scope, source=source)
    for _ in range(times):
        headers = {"Nats-Msg-Id": envelope.event_id} if dedup_header else None
        await h.app.bus.js.publish(subject, envelope.SerializeToString(), headers=headers)
    return envelope.event_id


async def set_prefs(h: Harness, recipient: str, **fields: object) -> None:
    await h.inbox.UpdatePreferences(pb.UpdatePreferencesRequest(preferences=pb.Preferences(
        name=f"recipients/{recipient}/preferences", **fields)),  # type: ignore[arg-type]
        metadata=h.md(recipient, role="resident", scope="chengdu"))


async def inbox(h: Harness, recipient: str) -> list[pb.Notice]:
    reply = await h.inbox.ListNotices(pb.ListNoticesRequest(parent=f"recipients/{recipient}"),
                                      metadata=h.md(recipient, role="volunteer"))
    return list(reply.notices)


def award(volunteer: str = "volunteer-007") -> points_pb2.YearEndAwardGranted:
    return points_pb2.YearEndAwardGranted(
        award=f"communities/x/awards/2026-{volunteer}", community_path=FENGSHU, year=2026, volunteer_id=volunteer,
        volunteer_name="李红", tier=points_pb2.AWARD_TIER_GOLD, rank=1, points_earned=1280)


async def test_the_same_event_delivered_three_times_gives_one_notice(h: Harness) -> None:
    await set_prefs(h, "volunteer-007", channels=["wechat"], wechat_openid="openid-7")
    event_id = await publish(h, "points.award.granted", award(), FENGSHU, times=3, dedup_header=False)
    info = await h.app.bus.js.stream_info("POINTS")
    assert info.state.messages == 3, "JetStream really holds three copies"

    async def consumed() -> bool:
        try:
            consumer = await h.app.bus.js.consumer_info("POINTS", "notification-points")
        except NotFoundError:
            return False
        return consumer.num_ack_pending == 0 and consumer.delivered.stream_seq >= 3
    await wait_until(consumed, what="all three copies consumed")
    notices = await h.notices_of("volunteer-007")
    assert [(n.kind, n.event_id) for n in notices] == [("award.granted", event_id)]
    assert notices[0].title == "恭喜李红获得2026年度金牌·红枫卫士"
    await h.app.sweeper.run_once()
    assert len(h.wechat[0].sent) == 1, "and one WeChat message"


SEAL = "5e" * 32


async def test_award_redemption_and_disclosure_reach_the_right_people_through_the_bus(h: Harness) -> None:
    # Two residents subscribed to 生建小区, one to another compound; one English reader.
    await set_prefs(h, "resident-a", subscribed_paths=[SHENGJIAN])
    await set_prefs(h, "resident-b", subscribed_paths=["chengdu/chongzhou"], language="en")
    await set_prefs(h, "resident-c", subscribed_paths=[JINSHANG])
    await publish(h, "points.award.granted", award("volunteer-012"), FENGSHU)
    await publish(h, "redemption.redemption.committed", redemption_pb2.RedemptionCommitted(
        redemption="merchants/jinchengyijing-health/redemptions/r-1", request_id="pos-42", community_path=FENGSHU,
        merchant_id="jinchengyijing-health", merchant_name="锦城逸景社区卫生服务中心", volunteer_id="volunteer-007",
        reward_name="体检套餐", quantity=1, points=300), FENGSHU, source="partner-redemption")
    await publish(h, "governance.disclosure.published", governance_pb2.DisclosurePublished(
        disclosure="compounds/x/disclosures/2026-10", compound_path=SHENGJIAN, compound_name="生建小区",
        period="2026-10", income_fen=1234500, expense_fen=1000000, to_maintenance_fund_fen=234500,
        maintenance_fund_balance_fen=9876500, seal_hash=SEAL, sequence=7), SHENGJIAN, source="trust-governance")

    async def delivered() -> bool:
        return all([await h.notices_of(r) for r in ("volunteer-012", "volunteer-007", "resident-a", "resident-b")])
    await wait_until(delivered, what="notices for all four")
    [gold] = await inbox(h, "volunteer-012")
    assert gold.kind == "award.granted" and "1280" in gold.body and gold.org_path == FENGSHU
    [receipt] = await inbox(h, "volunteer-007")
    assert receipt.kind == "redemption.committed" and "体检套餐" in receipt.title and "pos-42" in receipt.body
    [zh] = await inbox(h, "resident-a")
    assert zh.title == "生建小区2026-10收支公示已发布" and "12345.00元" in zh.body
    [en] = await inbox(h, "resident-b")
    assert en.title == "生建小区: accounts for 2026-10 published", "English for an English reader"
    # The chain head is published to the compound's residents (issue 14 item 3), whole.
    assert f"第7份公示的封存码：{SEAL}" in zh.body and f"Seal of disclosure no. 7: {SEAL}" in en.body
    assert await h.notices_of("resident-c") == [], "another compound's resident hears nothing"
    assert await h.notices_of("volunteer-012") and len(await h.notices_of("volunteer-012")) == 1


async def test_pairing_lapse_goes_to_the_worker_on_duty(h: Harness) -> None:
    await publish(h, "points.pairing.lapsed", points_pb2.PairingLapsed(
        pairing="p-1", community_path=FENGSHU, family_name="王家", elder_name="张爷爷", month="2026-10",
        visits_done=1, visits_required=2), FENGSHU)
    await wait_until(lambda: _any(h, ZHAO), what="lapse notice to Saturday's duty worker")
    [lapse] = await h.notices_of(ZHAO)
    assert lapse.kind == "pairing.lapsed" and "张爷爷" in lapse.title


async def _any(h: Harness, recipient: str) -> bool:
    return bool(await h.notices_of(recipient))


@pytest.mark.parametrize("wechat_providers", [[{"name": "flaky", "fail_times": 2}]], indirect=True)
async def test_a_provider_that_fails_twice_then_succeeds_delivers_once(h: Harness) -> None:
    await set_prefs(h, "volunteer-007", channels=["wechat"], wechat_openid="openid-7")
    await publish(h, "points.award.granted", award(), FENGSHU)
    await wait_until(lambda: _any(h, "volunteer-007"), what="notice")
    flaky = h.wechat[0]
    assert (await h.app.sweeper.run_once()).sent == 0 and flaky.calls == 1
    assert (await h.app.sweeper.run_once()).sent == 0 and flaky.calls == 1, "backing off: not due yet"
    h.clock.advance(seconds=30)
    assert (await h.app.sweeper.run_once()).sent == 0 and flaky.calls == 2
    h.clock.advance(seconds=60)
    assert (await h.app.sweeper.run_once()).sent == 0 and flaky.calls == 2, "second backoff is longer"
    h.clock.advance(seconds=60)
    assert (await h.app.sweeper.run_once()).sent == 1 and flaky.calls == 3
    h.clock.advance(hours=1)
    assert (await h.app.sweeper.run_once()).sent == 0
    assert len(flaky.sent) == 1
    [n] = await inbox(h, "volunteer-007")
    [d] = n.deliveries
    assert (d.channel, d.state, d.provider, d.attempts) == ("wechat", "sent", "flaky", 3)


@pytest.mark.parametrize("wechat_providers", [[{"name": "down", "down": True}, {"name": "standby"}]],
                         indirect=True)
async def test_a_provider_down_entirely_fails_over_to_the_next(h: Harness) -> None:
    await set_prefs(h, "volunteer-007", channels=["wechat"], wechat_openid="openid-7")
    await publish(h, "points.award.granted", award(), FENGSHU)
    await wait_until(lambda: _any(h, "volunteer-007"), what="notice")
    assert (await h.app.sweeper.run_once()).sent == 1
    down, standby = h.wechat
    assert down.calls == 1 and not down.sent and len(standby.sent) == 1
    assert standby.sent[0].address == "openid-7" and standby.sent[0].title.startswith("恭喜")
    [n] = await inbox(h, "volunteer-007")
    assert (n.deliveries[0].provider, n.deliveries[0].state) == ("standby", "sent")
    assert "down: down unavailable" in n.deliveries[0].last_error


@pytest.mark.parametrize("wechat_providers", [[{"name": "down", "down": True}]], indirect=True)
async def test_every_provider_down_gives_up_after_the_last_attempt(h: Harness) -> None:
    await set_prefs(h, "volunteer-007", channels=["wechat"], wechat_openid="openid-7")
    await publish(h, "points.award.granted", award(), FENGSHU)
    await wait_until(lambda: _any(h, "volunteer-007"), what="notice")
    for _ in range(10):
        await h.app.sweeper.run_once()
        h.clock.advance(hours=2)
    assert h.wechat[0].calls == 6
    [n] = await inbox(h, "volunteer-007")
    assert (n.deliveries[0].state, n.deliveries[0].attempts) == ("failed", 6)


@pytest.mark.parametrize("wechat_providers", [[{"name": "busy", "fail_times": 1, "throttle_seconds": 600}]],
                         indirect=True)
async def test_a_throttling_provider_is_tried_again_no_sooner_than_it_asked(h: Harness) -> None:
    await set_prefs(h, "volunteer-007", channels=["wechat"], wechat_openid="openid-7")
    await publish(h, "points.award.granted", award(), FENGSHU)
    await wait_until(lambda: _any(h, "volunteer-007"), what="notice")
    busy = h.wechat[0]
    assert (await h.app.sweeper.run_once()).sent == 0 and busy.calls == 1
    h.clock.advance(seconds=599)  # the first backoff (30 s) is long past, the provider's wish is not
    assert (await h.app.sweeper.run_once()).sent == 0 and busy.calls == 1
    h.clock.advance(seconds=1)
    assert (await h.app.sweeper.run_once()).sent == 1 and busy.calls == 2
    [n] = await inbox(h, "volunteer-007")
    assert (n.deliveries[0].state, n.deliveries[0].attempts) == ("sent", 2)


@pytest.mark.parametrize("wechat_providers", [[{"name": "wx", "reject": True}, {"name": "standby"}]],
                         indirect=True)
async def test_a_recipient_the_provider_refuses_fails_at_once_without_retry(h: Harness) -> None:
    await set_prefs(h, "volunteer-007", channels=["wechat"], wechat_openid="openid-7")
    await publish(h, "points.award.granted", award(), FENGSHU)
    await wait_until(lambda: _any(h, "volunteer-007"), what="notice")
    wx, standby = h.wechat
    assert (await h.app.sweeper.run_once()).sent == 0
    h.clock.advance(hours=3)
    await h.app.sweeper.run_once()
    assert wx.calls == 1 and standby.calls == 0, "no other provider, no later attempt does better"
    [n] = await inbox(h, "volunteer-007")
    [d] = n.deliveries
    assert (d.state, d.attempts) == ("failed", 1) and "43101" in d.last_error


async def test_quiet_hours_defer_external_delivery_but_critical_notices_bypass_them(h: Harness) -> None:
    h.clock.set(h.clock.now().replace(hour=15))  # 23:00 in Chengdu
    await set_prefs(h, "volunteer-007", channels=["wechat"], wechat_openid="openid-7", quiet_start="22:00",
                    quiet_end="07:00")
    await set_prefs(h, ZHAO, channels=["wechat"], wechat_openid="openid-zhao", quiet_start="22:00",
                    quiet_end="07:00")
    await publish(h, "points.award.granted", award(), FENGSHU)
    await wait_until(lambda: _any(h, "volunteer-007"), what="award notice")
    # An urgent help request at night is critical: the duty worker is woken.
    urgent = await h.help.CreateHelpRequest(pb.CreateHelpRequestRequest(
        parent="communities/chengdu~jinjiang~chenglonglu~fengshu", help_request=pb.HelpRequest(
            reporter_role=pb.REPORTER_ROLE_NEIGHBOUR, category="medical", urgency=pb.URGENCY_CRITICAL,
            description="邻居摔倒了")), metadata=h.md("neighbour-1", role="resident"))
    await wait_until(lambda: _any(h, ZHAO), what="assignment notice")
    await h.app.sweeper.run_once()
    assert [m.recipient_id for m in h.wechat[0].sent] == [ZHAO]
    [n] = await inbox(h, "volunteer-007")
    assert n.deliveries[0].state == "deferred"
    assert n.deliveries[0].next_attempt_time.ToDatetime().hour == 23, "07:00 local is 23:00 UTC"
    await h.help.AcknowledgeHelpRequest(pb.AcknowledgeHelpRequestRequest(name=urgent.help_request.name),
                                        metadata=h.md(ZHAO))
    h.clock.advance(hours=8)  # 07:00 in Chengdu
    await h.app.sweeper.run_once()
    assert [m.recipient_id for m in h.wechat[0].sent] == [ZHAO, "volunteer-007"]


async def test_inbox_lists_pages_and_marks_read(h: Harness) -> None:
    for i in range(3):
        await publish(h, "points.award.granted", award(), FENGSHU) if i == 0 else await publish(
            h, "redemption.redemption.committed", redemption_pb2.RedemptionCommitted(
                volunteer_id="volunteer-007", reward_name=f"礼品{i}", quantity=1, points=10, request_id=f"r{i}",
                community_path=FENGSHU), FENGSHU, source="partner-redemption")

    async def three() -> bool:
        return len(await h.notices_of("volunteer-007")) == 3
    await wait_until(three, what="three notices")
    md = h.md("volunteer-007", role="volunteer")
    first = await h.inbox.ListNotices(pb.ListNoticesRequest(parent="recipients/volunteer-007", page_size=2),
                                      metadata=md)
    assert len(first.notices) == 2 and first.next_page_token
    second = await h.inbox.ListNotices(pb.ListNoticesRequest(
        parent="recipients/volunteer-007", page_size=2, page_token=first.next_page_token), metadata=md)
    assert len(second.notices) == 1 and not second.next_page_token
    read = await h.inbox.MarkNoticeRead(pb.MarkNoticeReadRequest(name=first.notices[0].name), metadata=md)
    assert read.notice.HasField("read_time")
    again = await h.inbox.MarkNoticeRead(pb.MarkNoticeReadRequest(name=first.notices[0].name), metadata=md)
    assert again.notice.read_time == read.notice.read_time, "marking twice changes nothing"
    unread = await h.inbox.ListNotices(pb.ListNoticesRequest(parent="recipients/volunteer-007", unread_only=True),
                                       metadata=md)
    assert len(unread.notices) == 2
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await h.inbox.ListNotices(pb.ListNoticesRequest(parent="recipients/volunteer-007"),
                                  metadata=h.md("volunteer-012", role="volunteer"))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await h.inbox.MarkNoticeRead(pb.MarkNoticeReadRequest(name=first.notices[0].name),
                                     metadata=h.md("volunteer-012", role="volunteer"))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await h.inbox.UpdatePreferences(pb.UpdatePreferencesRequest(preferences=pb.Preferences(
            name="recipients/volunteer-007/preferences", subscribed_paths=[SHENGJIAN])),
            metadata=h.md("volunteer-007", role="resident", scope=JINSHANG))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, "another compound's accounts"
    # An owner's grant is for their household: the compound above it is theirs to hear about
    # (issue 13's inbox), its neighbour compound and the community are not.
    home = f"{JINSHANG}/3/201"
    saved = await h.inbox.UpdatePreferences(pb.UpdatePreferencesRequest(preferences=pb.Preferences(
        name="recipients/owner-303/preferences", subscribed_paths=[JINSHANG])),
        metadata=h.md("owner-303", role="resident", scope=home))
    assert list(saved.preferences.subscribed_paths) == [JINSHANG]
    for elsewhere in (SHENGJIAN, JINSHANG.rsplit("/", 1)[0]):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await h.inbox.UpdatePreferences(pb.UpdatePreferencesRequest(preferences=pb.Preferences(
                name="recipients/owner-303/preferences", subscribed_paths=[elsewhere])),
                metadata=h.md("owner-303", role="resident", scope=home))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, elsewhere


async def test_escalation_notices_reach_backup_and_head(h: Harness) -> None:
    from tests.integration.notification.kit import ms_wan_request

    await h.help.CreateHelpRequest(pb.CreateHelpRequestRequest(
        parent="communities/chengdu~jinjiang~chenglonglu~fengshu", help_request=ms_wan_request()),
        metadata=h.md("canteen-staff-liu", role="resident"))
    h.clock.advance(minutes=31)
    await h.app.sweeper.run_once()
    h.clock.advance(minutes=31)
    await h.app.sweeper.run_once()
    for who in (ZHAO, SUN, HE):
        await wait_until(lambda who=who: _any(h, who), what=f"notice for {who}")  # type: ignore[misc]
    [backup] = await h.notices_of(SUN)
    assert backup.title.startswith("【升级】") and backup.critical and "邻家小馆" in backup.body
    [zhao] = await h.notices_of(ZHAO)
    assert zhao.title == "新的求助：送餐（紧急）"
    [head] = await h.notices_of(HE)
    assert head.title.startswith("【升级】") and "值班和备班人员均未在时限内响应" in head.body


async def test_an_owner_learns_how_their_household_claim_was_decided(h: Harness) -> None:
    unit = f"{JINSHANG}/3/201"
    decisions = (("approved", "owner-303", "与名册一致"), ("rejected", "owner-404", "名册上该房屋业主不是李四"))
    for verb, owner, reason in decisions:
        await publish(h, f"identity.household_claim.{verb}", identity_pb2.HouseholdClaimDecided(
            household_claim=f"householdClaims/hcl_{owner}", account=f"accounts/{owner}", household_path=unit,
            register_name="李四", decided_by="accounts/committee-1", reason=reason), unit, source="identity")
    for owner in ("owner-303", "owner-404"):
        await wait_until(lambda owner=owner: _any(h, owner), what=f"the decision's notice to {owner}")  # type: ignore[misc]
    [approved] = await h.notices_of("owner-303")
    assert approved.title == "房屋认证已通过" and unit in approved.body
    [rejected] = await h.notices_of("owner-404")
    assert rejected.title == "房屋认证未通过" and "名册上该房屋业主不是李四" in rejected.body


async def test_an_elder_is_asked_to_confirm_a_visit_and_the_volunteer_learns_the_decision(h: Harness) -> None:
    pairing = f"communities/{FENGSHU.replace('/', '~')}/pairings/p-1"
    visit = dict(pairing=pairing, community_path=FENGSHU, family_id="f-1", elder_id="e-liu", month="2026-11",
                 visit_type=points_pb2.VISIT_TYPE_HOME_CLEANING)
    await publish(h, "points.visit.logged", points_pb2.VisitLogged(
        **visit, volunteer_id="volunteer-007", visit_id="visit-1", elder_account_id="elder-liu",
        elder_name="刘奶奶", volunteer_name="万晓", visit_day="2026-11-03"), FENGSHU)
    # An elder without an account is asked by nobody: a community worker confirms for them.
    await publish(h, "points.visit.logged", points_pb2.VisitLogged(
        **visit, volunteer_id="volunteer-012", visit_id="visit-2", elder_name="陈爷爷",
        volunteer_name="李明", visit_day="2026-11-04"), FENGSHU)
    decided = dict(pairing=pairing, community_path=FENGSHU, elder_name="刘奶奶", month="2026-11",
                   visit_day="2026-11-03", visits_required=2)
    await publish(h, "points.visit.confirmed", points_pb2.VisitDecided(
        **decided, volunteer_id="volunteer-007", visit_id="visit-1", visits_this_month=1, points_credited=5,
        decided_by="elder-liu"), FENGSHU)
    await publish(h, "points.visit.rejected", points_pb2.VisitDecided(
        **decided, volunteer_id="volunteer-012", visit_id="visit-2", reason="陈爷爷说那天没有人来",
        decided_by=HE), FENGSHU)

    async def told() -> bool:
        return all([await h.notices_of(r) for r in ("elder-liu", "volunteer-007", "volunteer-012")])
    await wait_until(told, what="the elder asked, both volunteers told")
    await wait_until(lambda: consumer_done(h, "notification-visits", 4), what="all four visit events applied")
    [asked] = await h.notices_of("elder-liu")
    assert asked.kind == "visit.logged" and "万晓" in asked.title and "居家清扫" in asked.body
    [confirmed] = await h.notices_of("volunteer-007")
    assert confirmed.title == "探访已确认：刘奶奶（2026-11-03）" and "5积分" in confirmed.body
    [rejected] = await h.notices_of("volunteer-012")
    assert rejected.title.startswith("探访未被确认") and "陈爷爷说那天没有人来" in rejected.body


async def consumer_done(h: Harness, consumer: str, events: int) -> bool:
    try:
        info = await h.app.bus.js.consumer_info("POINTS", consumer)
    except NotFoundError:
        return False
    return bool(info.num_ack_pending == 0 and info.delivered.stream_seq >= events)
