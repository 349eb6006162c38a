"""Domain values → protobuf messages (and the proto enums ↔ the domain's words)."""

from __future__ import annotations

from datetime import datetime

from linli.redemption.v1 import admin_pb2
from linli.redemption.v1 import community_pb2 as cpb
from linli.redemption.v1 import resources_pb2 as pb
from linli_redemption import names
from linli_redemption.community import NEED_MATCHED, NEED_MET, NEED_OPEN, receive_time_of
from linli_redemption.duty import DutyPeriod
from linli_redemption.matching import Suggestion, weekdays_of
from linli_redemption.partners import ACTIVE, MEMBER_UNIT, MERCHANT, SIGNED_PARTNER, SUSPENDED, accepts_points
from linli_redemption.projects import CANCELLED, DONE, IN_PROGRESS, OPEN, resource_ids_of
from linli_redemption.redemption_rules import COMMITTED, PENDING, VOIDED
from linli_redemption.settlement import DailySettlement, Reconciliation, RedemptionsSummary
from linli_redemption.tables import (
    Need,
    Partner,
    Project,
    ProjectChange,
    Redemption,
    Refund,
    Resource,
    Reward,
    Terminal,
)
from linli_redemption.terminals import ACTIVE as TERMINAL_ACTIVE
from linli_runtime.times import to_timestamp

PARTNER_KINDS = {MEMBER_UNIT: pb.PARTNER_KIND_MEMBER_UNIT, SIGNED_PARTNER: pb.PARTNER_KIND_SIGNED_PARTNER,
                 MERCHANT: pb.PARTNER_KIND_MERCHANT}
KIND_NAMES = {v: k for k, v in PARTNER_KINDS.items()}
PARTNER_STATES = {ACTIVE: pb.PARTNER_STATE_ACTIVE, SUSPENDED: pb.PARTNER_STATE_SUSPENDED}
STATE_NAMES = {v: k for k, v in PARTNER_STATES.items()}
REDEMPTION_STATES = {PENDING: pb.REDEMPTION_STATE_PENDING, COMMITTED: pb.REDEMPTION_STATE_COMMITTED,
                     VOIDED: pb.REDEMPTION_STATE_VOIDED}
PROJECT_STATES = {OPEN: cpb.PROJECT_STATE_OPEN, IN_PROGRESS: cpb.PROJECT_STATE_IN_PROGRESS,
                  DONE: cpb.PROJECT_STATE_DONE, CANCELLED: cpb.PROJECT_STATE_CANCELLED}
# A ListProjects filter: the states it stands for (CLOSED: every ended project).
PROJECT_FILTERS = {**{v: (k,) for k, v in PROJECT_STATES.items()}, cpb.PROJECT_STATE_CLOSED: (DONE, CANCELLED)}
NEED_STATES = {NEED_OPEN: cpb.NEED_STATE_OPEN, NEED_MATCHED: cpb.NEED_STATE_MATCHED, NEED_MET: cpb.NEED_STATE_MET}
NEED_STATE_NAMES = {v: k for k, v in NEED_STATES.items()}


def partner_pb(row: Partner) -> pb.Partner:
    return pb.Partner(
        name=names.partner_name(row.id), partner_id=row.id, community_path=row.community_path,
        kind=PARTNER_KINDS.get(row.kind, pb.PARTNER_KIND_UNSPECIFIED), display_name=row.display_name,
        display_name_en=row.display_name_en,
        state=pb.PARTNER_STATE_ACTIVE if row.state == ACTIVE else pb.PARTNER_STATE_SUSPENDED,
        contact=row.contact, agreement=row.agreement, accepts_points=accepts_points(row),
        placeholder=bool(row.placeholder), create_time=to_timestamp(row.create_time))


def terminal_pb(row: Terminal) -> pb.Terminal:
    return pb.Terminal(
        name=names.terminal_name(row.merchant_id, row.id), terminal_id=row.id, merchant_id=row.merchant_id,
        display_name=row.display_name,
        state=pb.TERMINAL_STATE_ACTIVE if row.state == TERMINAL_ACTIVE else pb.TERMINAL_STATE_REVOKED,
        create_time=to_timestamp(row.create_time), secret_time=to_timestamp(row.secret_time))


def reward_pb(row: Reward) -> pb.Reward:
    return pb.Reward(
        name=names.reward_name(row.merchant_id, row.id), reward_id=row.id, merchant_id=row.merchant_id,
        display_name=row.display_name, points=row.points, stock=row.stock,
        per_volunteer_limit=row.per_volunteer_limit, daily_quota=row.daily_quota,
        valid_from=to_timestamp(row.valid_from), valid_until=to_timestamp(row.valid_until),
        create_time=to_timestamp(row.create_time))


def redemption_pb(row: Redemption) -> pb.Redemption:
    return pb.Redemption(
        name=names.redemption_name(row.merchant_id, row.id), redemption_id=row.id,
        merchant_id=row.merchant_id, terminal_id=row.terminal_id, request_id=row.request_id,
        reward_id=row.reward_id, reward_name=row.reward_name, quantity=row.quantity, points=row.points,
        state=REDEMPTION_STATES[row.state], masked_member=row.masked_member, refunded_points=row.refunded_points,
        void_reason=row.void_reason, transfer_id=row.transfer_id, create_time=to_timestamp(row.create_time),
        commit_time=to_timestamp(row.commit_time))


def refund_pb(row: Refund) -> pb.Refund:
    return pb.Refund(
        name=names.refund_name(row.merchant_id, row.redemption_id, row.id), refund_id=row.id,
        redemption_id=row.redemption_id, request_id=row.request_id, points=row.points, reason=row.reason,
        transfer_id=row.transfer_id, completed=bool(row.completed), create_time=to_timestamp(row.create_time))


def settlement_pb(s: DailySettlement) -> pb.DailySettlement:
    return pb.DailySettlement(merchant_id=s.merchant_id, date=s.date, redemption_count=s.redemption_count,
                              redeemed_points=s.redeemed_points, refund_count=s.refund_count,
                              refunded_points=s.refunded_points, net_points=s.net_points)


def redemptions_summary_pb(r: RedemptionsSummary) -> admin_pb2.SummarizeRedemptionsResponse:
    return admin_pb2.SummarizeRedemptionsResponse(
        merchants=[admin_pb2.MerchantRedemptions(
            community_path=m.community_path, merchant_id=m.merchant_id, display_name=m.display_name,
            redemption_count=m.redemption_count, redeemed_points=m.redeemed_points, refund_count=m.refund_count,
            refunded_points=m.refunded_points) for m in r.merchants],
        unbalanced_days=[admin_pb2.DayBalance(
            community_path=d.community_path, date=d.date, recorded_redeemed_points=d.recorded_redeemed_points,
            recorded_refunded_points=d.recorded_refunded_points, ledger_redeemed_points=d.ledger_redeemed_points,
            ledger_refunded_points=d.ledger_refunded_points) for d in r.unbalanced])


def reconciliation_pb(r: Reconciliation, generated: datetime) -> admin_pb2.ReconcileDayResponse:
    report = admin_pb2.ReconcileDayResponse(
        community_path=r.community_path, date=r.date, generate_time=to_timestamp(generated),
        settlements=[settlement_pb(s) for s in r.settlements],
        recorded_redeemed_points=r.recorded_redeemed_points, recorded_refunded_points=r.recorded_refunded_points,
        ledger_redeemed_points=r.ledger_redeemed_points, ledger_refunded_points=r.ledger_refunded_points,
        balanced=r.balanced)
    for m in r.mismatches:
        report.mismatches.add(transfer_id=m.transfer_id, recorded_points=m.recorded_points,
                              ledger_points=m.ledger_points)
    return report


def duty_period_pb(p: DutyPeriod) -> cpb.DutyPeriod:
    return cpb.DutyPeriod(index=p.index, start_date=p.start_date.isoformat(), end_date=p.end_date.isoformat(),
                          partner_id=p.partner_id, swapped=p.swapped)


def project_pb(row: Project) -> cpb.Project:
    return cpb.Project(project_id=row.id, community_path=row.community_path, title=row.title, need_id=row.need_id,
                       resource_ids=resource_ids_of(row), owner=row.owner, state=PROJECT_STATES[row.state],
                       outcome=row.outcome, create_time=to_timestamp(row.create_time),
                       close_time=to_timestamp(row.close_time),
                       update_time=to_timestamp(row.update_time or row.create_time))


def project_change_pb(row: ProjectChange) -> cpb.ProjectChange:
    return cpb.ProjectChange(from_state=PROJECT_STATES.get(row.from_state, cpb.PROJECT_STATE_UNSPECIFIED),
                             to_state=PROJECT_STATES[row.to_state], note=row.note, actor=row.actor,
                             change_time=to_timestamp(row.change_time))


def need_pb(row: Need) -> cpb.Need:
    return cpb.Need(need_id=row.id, community_path=row.community_path, title=row.title, detail=row.detail,
                    raised_by=row.raised_by, create_time=to_timestamp(row.create_time), category=row.category,
                    receive_time=to_timestamp(receive_time_of(row)), duty_partner_id=row.duty_partner_id,
                    state=NEED_STATES[row.state])


def resource_pb(row: Resource) -> cpb.Resource:
    return cpb.Resource(resource_id=row.id, community_path=row.community_path, title=row.title, detail=row.detail,
                        partner_id=row.partner_id, create_time=to_timestamp(row.create_time), category=row.category,
                        available_from=row.available_from, available_until=row.available_until,
                        weekdays=weekdays_of(row), capacity=row.capacity)


def suggestion_pb(rank: int, s: Suggestion, partner_names: dict[str, str]) -> cpb.ResourceSuggestion:
    return cpb.ResourceSuggestion(
        resource=resource_pb(s.resource), rank=rank, score=s.score, available=s.available,
        partner_display_name=partner_names.get(s.resource.partner_id, ""),
        reasons=[cpb.MatchReason(code=r.code, description=r.text, description_en=r.text_en, points=r.points,
                                 against=r.against) for r in s.reasons])
