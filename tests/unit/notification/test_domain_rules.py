"""Rules that moved out of the servicers into the domain, in memory: SLA minutes per urgency,
the acknowledgement figures, which communities a list covers, and the conversion of domain
values into messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from linli_notification.api import convert
from linli_notification.community import Settings
from linli_notification.helpdesk import CommunityScope, HelpRequestRecord, status_name
from linli_notification.notices import NoticeRecord, Prefs
from linli_notification.sla_stats import Tally
from linli_notification.tables import Delivery, FollowUp, HelpRequest, Notice, Thanks, Transition
from sqlalchemy.dialects import sqlite

from linli.notification.v1 import notification_pb2 as pb

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
FILED = datetime(2026, 11, 7, 3, 0, tzinfo=UTC)


def test_sla_minutes_by_urgency_and_unknown_urgency_counts_as_normal() -> None:
    s = Settings(FENGSHU, sla_critical_minutes=5, sla_high_minutes=20, sla_normal_minutes=45, sla_low_minutes=300)
    assert [s.sla_minutes(u) for u in (pb.URGENCY_CRITICAL, pb.URGENCY_HIGH, pb.URGENCY_NORMAL, pb.URGENCY_LOW)] == [
        5, 20, 45, 300]
    assert s.sla_minutes(pb.URGENCY_UNSPECIFIED) == 45 and s.sla_minutes(99) == 45
    assert Settings(FENGSHU).sla_minutes(pb.URGENCY_HIGH) == 30, "defaults: 10/30/60/240"


def test_acknowledgement_figures_median_and_nearest_rank_p90() -> None:
    tally = Tally(sla_minutes=30, requests=12, within=9, waiting=2, overdue=1,
                   seconds=[60.0 * m for m in (1, 2, 3, 4, 5, 6, 7, 8, 9, 40)])
    got = tally.stats(FENGSHU, pb.URGENCY_HIGH)
    assert (got.acknowledged_count, got.acknowledge_p50_seconds, got.acknowledge_p90_seconds) == (10, 330, 540)
    assert (got.request_count, got.within_sla_count, got.waiting_count, got.overdue_count) == (12, 9, 2, 1)
    empty = Tally(sla_minutes=60).stats(FENGSHU, pb.URGENCY_NORMAL)
    assert (empty.acknowledged_count, empty.acknowledge_p50_seconds, empty.acknowledge_p90_seconds) == (0, 0, 0)


def where(scope: CommunityScope) -> str:
    return str(scope.condition().compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def test_a_list_covers_one_community_or_every_one_within_the_scope() -> None:
    assert where(CommunityScope(FENGSHU)) == f"nf_help_request.community_path = '{FENGSHU}'"
    # Below the scope segment-wise ('/' after it), with LIKE's wildcards in paths escaped.
    assert where(CommunityScope("chengdu/jin_jiang", every_within=True)) == (
        "nf_help_request.community_path = 'chengdu/jin_jiang' OR "
        "(nf_help_request.community_path LIKE 'chengdu//jin/_jiang//' || '%' ESCAPE '/')")
    assert isinstance(CommunityScope("", every_within=True).condition(), sa.True_), "the whole platform"


def test_a_help_request_record_becomes_the_message_people_read() -> None:
    row = HelpRequest(
        seq=1, id="h-1", community_path=FENGSHU, compound_path=f"{FENGSHU}/jinshang", reporter_id="liu",
        reporter_role=pb.REPORTER_ROLE_CANTEEN_STAFF, on_behalf_of="万阿姨", category="meal", urgency=pb.URGENCY_HIGH,
        description="生病卧床", status=pb.STATUS_RESOLVED, assignee_id="worker-zhao", escalation_level=1,
        ack_deadline=None, resolution="送到", helper_ids=json.dumps(["volunteer-007"]),
        suggestions=json.dumps([["p-1", "邻家小馆", "028-1"]], ensure_ascii=False),
        created_at=FILED.replace(tzinfo=None), updated_at=FILED + timedelta(hours=1))
    record = HelpRequestRecord(
        row,
        history=[Transition(seq=1, help_request_id="h-1", from_status=0, to_status=pb.STATUS_SUBMITTED,
                            actor_id="liu", at=FILED, note="reported")],
        follow_ups=[FollowUp(seq=1, help_request_id="h-1", number=1, day_offset=1, due_at=FILED + timedelta(days=1))],
        thanks=[Thanks(seq=1, help_request_id="h-1", kind="banner", text="谢谢", from_name="万阿姨",
                       recipient_ids=json.dumps(["worker-zhao"]), recorded_at=FILED, recorded_by="worker-he")])
    message = convert.help_request_record(record)
    name = "communities/chengdu~jinjiang~chenglonglu~fengshu/helpRequests/h-1"
    assert message.name == name and list(message.helper_ids) == ["volunteer-007"]
    assert message.create_time.ToDatetime(tzinfo=UTC) == FILED, "SQLite's naive times are UTC"
    assert not message.HasField("acknowledge_by")
    assert [(s.provider.rsplit("/", 1)[1], s.display_name, s.phone) for s in message.suggestions] == [
        ("p-1", "邻家小馆", "028-1")]
    assert message.follow_ups[0].name == f"{name}/followUps/1" and not message.follow_ups[0].done
    assert getattr(message.thanks[0], "from") == "万阿姨" and list(message.thanks[0].recipient_ids) == ["worker-zhao"]
    assert list(convert.help_request(row).history) == [], "a listed request carries no history"
    assert status_name(message.status) == "resolved"


def test_notices_and_preferences_become_messages() -> None:
    n = Notice(seq=1, id="n-1", recipient_id="volunteer-007", kind="award.granted", title="恭喜", body="…",
               event_id="e-1", created_at=FILED)
    d = Delivery(seq=1, notice_id="n-1", channel="wechat", address="openid", state="deferred",
                 next_attempt_at=FILED + timedelta(hours=8))
    message = convert.notice(NoticeRecord(n, [d]))
    assert message.name == "recipients/volunteer-007/notices/n-1" and not message.HasField("read_time")
    assert (message.deliveries[0].state, message.deliveries[0].next_attempt_time.ToDatetime().hour) == ("deferred", 11)
    prefs = convert.preferences(Prefs("worker-he", channels=["wechat"], quiet_start=22 * 60, quiet_end=7 * 60))
    assert (prefs.name, prefs.quiet_start, prefs.quiet_end) == ("recipients/worker-he/preferences", "22:00", "07:00")
    assert convert.preferences(Prefs("worker-he")).quiet_start == ""
