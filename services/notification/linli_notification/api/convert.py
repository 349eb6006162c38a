"""Domain values → messages of linli.notification.v1."""

from __future__ import annotations

import json

from linli.notification.v1 import notification_pb2 as pb
from linli.notification.v1 import one_time_codes_pb2 as otc_pb
from linli_notification import names
from linli_notification.community import Settings, hours_of
from linli_notification.helpdesk import HelpRequestRecord
from linli_notification.notices import NoticeRecord, Prefs
from linli_notification.sla_stats import UrgencyStats
from linli_notification.tables import DutyShift, DutySwap, HelpRequest, OneTimeCode, Provider, Thanks
from linli_runtime.times import hhmm, to_timestamp


def help_request(row: HelpRequest, record: HelpRequestRecord | None = None, *,
                 with_contact: bool = True) -> pb.HelpRequest:
    """A request as listed; with its record, also its history, follow-ups and thanks. Without
    `with_contact`, the contact details are left out (api/access.py says who may see them)."""
    name = names.help_request_name(row.community_path, row.id)
    out = pb.HelpRequest(
        name=name, community_path=row.community_path, compound_path=row.compound_path,
        reporter_id=row.reporter_id, reporter_role=pb.ReporterRole.ValueType(row.reporter_role),
        on_behalf_of=row.on_behalf_of, contact=row.contact if with_contact else "",
        contact_withheld=not with_contact and bool(row.contact), category=row.category,
        household_path=row.household_path,
        urgency=pb.Urgency.ValueType(row.urgency), description=row.description,
        status=pb.Status.ValueType(row.status), assignee_id=row.assignee_id, escalation_level=row.escalation_level,
        acknowledge_by=to_timestamp(row.ack_deadline), create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at), resolution=row.resolution, helper_ids=json.loads(row.helper_ids),
        suggestions=[pb.ProviderSuggestion(provider=names.child_name(row.community_path, names.PROVIDERS, p),
                                           display_name=d, phone=ph) for p, d, ph in json.loads(row.suggestions)])
    if record is None:
        return out
    for h in record.history:
        out.history.append(pb.StatusChange(
            from_status=pb.Status.ValueType(h.from_status), to_status=pb.Status.ValueType(h.to_status),
            actor_id=h.actor_id, change_time=to_timestamp(h.at), note=h.note, escalation_level=h.escalation_level,
            assignee_id=h.assignee_id))
    for f in record.follow_ups:
        out.follow_ups.append(pb.FollowUp(
            name=names.follow_up_name(row.community_path, row.id, f.number), day_offset=f.day_offset,
            due_time=to_timestamp(f.due_at), assignee_id=f.assignee_id, done=f.done_at is not None,
            done_by=f.done_by, done_time=to_timestamp(f.done_at), note=f.note, early_reason=f.early_reason))
    for t in record.thanks:
        given = pb.Thanks(kind=t.kind, text=t.text, recipient_ids=json.loads(t.recipient_ids),
                          record_time=to_timestamp(t.recorded_at), recorded_by=t.recorded_by)
        setattr(given, "from", t.from_name)  # `from` is a Python keyword
        out.thanks.append(given)
    return out


def community_thanks(t: Thanks, category: str) -> pb.CommunityThanks:
    out = pb.CommunityThanks(kind=t.kind, text=t.text, category=category,
                             helper_count=len(json.loads(t.recipient_ids)), record_time=to_timestamp(t.recorded_at))
    setattr(out, "from", t.from_name)  # `from` is a Python keyword
    return out


def help_request_record(record: HelpRequestRecord, *, with_contact: bool = True) -> pb.HelpRequest:
    return help_request(record.request, record, with_contact=with_contact)


def stats(s: UrgencyStats) -> pb.HelpRequestStats:
    return pb.HelpRequestStats(
        community_path=s.community_path, urgency=pb.Urgency.ValueType(s.urgency), sla_minutes=s.sla_minutes,
        request_count=s.request_count, acknowledged_count=s.acknowledged_count,
        within_sla_count=s.within_sla_count, acknowledge_p50_seconds=s.acknowledge_p50_seconds,
        acknowledge_p90_seconds=s.acknowledge_p90_seconds, waiting_count=s.waiting_count,
        overdue_count=s.overdue_count)


def shift(row: DutyShift) -> pb.DutyShift:
    return pb.DutyShift(name=names.child_name(row.community_path, names.DUTY_SHIFTS, row.id), weekday=row.weekday,
                        date=row.on_date or "", start_time=hhmm(row.start_minute), end_time=hhmm(row.end_minute),
                        worker_id=row.worker_id, backup_id=row.backup_id, note=row.note)


def swap(row: DutySwap) -> pb.DutySwap:
    return pb.DutySwap(name=names.child_name(row.community_path, names.DUTY_SWAPS, row.id), date=row.on_date,
                       from_worker_id=row.from_worker_id, to_worker_id=row.to_worker_id)


def provider(row: Provider) -> pb.Provider:
    return pb.Provider(
        name=names.child_name(row.community_path, names.PROVIDERS, row.id), display_name=row.display_name,
        category=row.category, phone=row.phone, priority=row.priority,
        opening_hours=[pb.OpeningHours(weekday=d, open_time=hhmm(o), close_time=hhmm(c))
                       for d, o, c in hours_of(row.opening_hours)])


def settings(s: Settings) -> pb.CommunitySettings:
    return pb.CommunitySettings(
        name=names.settings_name(s.path), head_id=s.head_id,
        sla_critical_minutes=s.sla_critical_minutes, sla_high_minutes=s.sla_high_minutes,
        sla_normal_minutes=s.sla_normal_minutes, sla_low_minutes=s.sla_low_minutes,
        utc_offset_minutes=s.utc_offset_minutes)


def notice(record: NoticeRecord) -> pb.Notice:
    n = record.notice
    return pb.Notice(
        name=names.notice_name(n.recipient_id, n.id), kind=n.kind, title=n.title, body=n.body,
        critical=n.critical, subject_resource=n.subject_resource, event_id=n.event_id,
        create_time=to_timestamp(n.created_at), read_time=to_timestamp(n.read_at), org_path=n.org_path,
        deliveries=[pb.Delivery(channel=d.channel, state=d.state, provider=d.provider, attempts=d.attempts,
                                last_error=d.last_error, next_attempt_time=to_timestamp(d.next_attempt_at),
                                sent_time=to_timestamp(d.sent_at)) for d in record.deliveries])


def preferences(p: Prefs) -> pb.Preferences:
    return pb.Preferences(
        name=names.preferences_name(p.recipient_id), language=p.language, channels=p.channels,
        phone=p.phone, wechat_openid=p.wechat_openid,
        quiet_start=hhmm(p.quiet_start) if p.quiet_start is not None else "",
        quiet_end=hhmm(p.quiet_end) if p.quiet_end is not None else "",
        subscribed_paths=p.subscribed_paths, utc_offset_minutes=p.utc_offset_minutes)


PURPOSES = {"sign_in": otc_pb.ONE_TIME_CODE_PURPOSE_SIGN_IN, "verify_phone": otc_pb.ONE_TIME_CODE_PURPOSE_VERIFY_PHONE}


def one_time_code(row: OneTimeCode) -> otc_pb.OneTimeCodeDelivery:
    return otc_pb.OneTimeCodeDelivery(
        name=names.one_time_code_name(row.id), masked_phone=row.masked_phone,
        purpose=PURPOSES.get(row.purpose, otc_pb.ONE_TIME_CODE_PURPOSE_UNSPECIFIED), provider=row.provider,
        failover_errors=row.errors, requested_by=row.requested_by, create_time=to_timestamp(row.created_at),
        send_time=to_timestamp(row.finished_at))
