"""Domain values → linli.points.v1 messages. Enum columns hold the protos' numbers (the
domain's IntEnums say so), so they convert by value."""

from __future__ import annotations

from typing import cast

from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

from linli.events.v1 import points_pb2 as events
from linli.points.v1 import activities_pb2 as act
from linli.points.v1 import adjustments_pb2 as adj
from linli.points.v1 import awards_pb2 as aw
from linli.points.v1 import funding_pb2 as fu
from linli.points.v1 import ledger_pb2 as led
from linli.points.v1 import pairings_pb2 as par
from linli.points.v1 import volunteers_pb2 as vol
from linli_points import names, tables
from linli_points.activities import check_in_window
from linli_points.community_summary import CommunitySummary
from linli_points.funding import UNFUNDED_NAME
from linli_points.ledger.model import Hold, Transfer, Written
from linli_points.ledger.queries import SourceTotals
from linli_points.pairings import Compliance
from linli_points.people import TeamSize
from linli_points.profiles import Profile
from linli_points.rankings import Ranked
from linli_runtime.times import timestamp_of, to_timestamp

# -- ledger ---------------------------------------------------------------------------------------


def transfer_pb(t: Transfer) -> led.Transfer:
    return led.Transfer(
        transfer_id=t.transfer_id, community_path=t.community_path, debit_account=t.debit_account,
        credit_account=t.credit_account, amount=t.amount, kind=cast(led.TransferKind.ValueType, int(t.kind)),
        reason=t.reason, source=t.source,
        related_transfer_id=t.related_transfer_id, create_time=to_timestamp(t.created_at), sequence=t.seq,
    )


class WrittenResults:
    """CreateTransfers' answers to the transfers a batch wrote, each added in place to
    `results`. What the answers share — community, debit account, kind, reason, source, related
    id, time, `created` — is set once in a template per distinct set of those (a batch has a
    few) and merged in C (`MergeFrom`); only the transfer id, credit account, amount and
    sequence are set per answer. Issue 18: field by field, the answers to a 10 000-transfer call
    were a sixth of its CPU (made apart then copied in they had cost ten times as much)."""

    def __init__(self, results: RepeatedCompositeFieldContainer[led.CreateTransfersResult]) -> None:
        self._add = results.add
        self._templates: dict[tuple[object, ...], led.CreateTransfersResult] = {}

    def add(self, w: Written) -> None:
        r = w.request
        key = (r.community_path, r.debit_account, r.kind, r.reason, r.source, r.related_transfer_id, w.created,
               w.created_at)
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = self._template(w)
        result = self._add()
        result.MergeFrom(template)
        t = result.transfer
        t.transfer_id = r.transfer_id
        t.credit_account = r.credit_account
        t.amount = r.amount
        t.sequence = w.seq

    @staticmethod
    def _template(w: Written) -> led.CreateTransfersResult:
        r = w.request
        template = led.CreateTransfersResult(created=w.created)
        t = template.transfer
        t.community_path = r.community_path
        t.debit_account = r.debit_account
        t.kind = cast(led.TransferKind.ValueType, int(r.kind))
        t.reason = r.reason
        t.source = r.source
        t.related_transfer_id = r.related_transfer_id
        t.create_time.CopyFrom(timestamp_of(w.created_at))
        return template


def hold_pb(h: Hold) -> led.Hold:
    t = h.transfer
    return led.Hold(
        hold_id=t.transfer_id, community_path=t.community_path, debit_account=t.debit_account,
        credit_account=t.credit_account, amount=t.amount, state=cast(led.HoldState.ValueType, int(h.state)),
        reason=t.reason, source=t.source,
        create_time=to_timestamp(t.created_at), expire_time=to_timestamp(h.expires_at),
        resolve_time=to_timestamp(h.resolved_at),
    )


# -- people ---------------------------------------------------------------------------------------

def volunteer_pb(v: tables.Volunteer) -> vol.Volunteer:
    return vol.Volunteer(
        community_path=v.community_path, volunteer_id=v.volunteer_id, display_name=v.display_name,
        person_id=v.person_id, family_id=v.family_id, create_time=to_timestamp(v.created_at), account_id=v.account_id,
    )


def family_pb(f: tables.Family) -> vol.Family:
    return vol.Family(community_path=f.community_path, family_id=f.family_id, display_name=f.display_name,
                      create_time=to_timestamp(f.created_at))


def team_pb(t: tables.Team, member_count: int = 0) -> vol.Team:
    return vol.Team(community_path=t.community_path, team_id=t.team_id, display_name=t.display_name,
                    member_count=member_count)


def team_size_pb(t: TeamSize) -> vol.Team:
    return team_pb(t.team, t.member_count)


def membership_pb(m: tables.Membership) -> vol.Membership:
    return vol.Membership(team_id=m.team_id, volunteer_id=m.volunteer_id, join_date=m.join_date.isoformat(),
                          leave_date=m.leave_date.isoformat() if m.leave_date else "")


def profile_pb(p: Profile) -> vol.VolunteerProfile:
    return vol.VolunteerProfile(
        volunteer=volunteer_pb(p.volunteer), family=family_pb(p.family) if p.family else None,
        family_member_names=p.family_member_names,
        teams=[vol.TeamMembership(team=team_pb(t), membership=membership_pb(m)) for t, m in p.teams],
        pairings=[vol.PairedElder(pairing=pairing_pb(e.pairing), elder_display_name=e.elder_name) for e in p.pairings])


# -- activities -----------------------------------------------------------------------------------

def category_pb(c: tables.TaskCategory) -> act.TaskCategory:
    return act.TaskCategory(
        community_path=c.community_path, slug=c.slug, display_name=c.display_name,
        display_name_en=c.display_name_en, default_points=c.default_points, daily_cap=c.daily_cap,
        monthly_cap=c.monthly_cap, placeholder=c.placeholder, funding_source=c.funding_source,
    )


def help_credit_pb(c: tables.HelpCredit) -> act.HelpCredit:
    return act.HelpCredit(
        community_path=c.community_path, help_request=c.help_request, volunteer_id=c.volunteer_id,
        state=cast(act.HelpCreditState.ValueType, c.state), points=c.points, resolved_by=c.resolved_by,
        transfer_id=c.transfer_id, adjustment_id=c.adjustment_id, note=c.note, create_time=to_timestamp(c.created_at),
    )


def activity_pb(a: tables.Activity) -> act.Activity:
    window = check_in_window(a)
    return act.Activity(community_path=a.community_path, activity_id=a.activity_id, title=a.title,
                        category=a.category, points=a.points, start_time=to_timestamp(a.start_time),
                        end_time=to_timestamp(window[1] if window else None))


def sign_up_pb(s: tables.SignUp, *, with_code: bool = True) -> act.SignUp:
    return act.SignUp(
        activity_id=s.activity_id, volunteer_id=s.volunteer_id, state=cast(act.SignUpState.ValueType, s.state),
        check_in_code=s.check_in_code if with_code else "", points_credited=s.points_credited,
        check_in_time=to_timestamp(s.checked_in_at),
        check_in_method=cast(act.CheckInMethod.ValueType, s.check_in_method),
        transfer_id=s.transfer_id, confirmed_by=s.confirmed_by, adjustment_id=s.adjustment_id,
    )


# -- pairings -------------------------------------------------------------------------------------

def elder_pb(e: tables.Elder) -> par.Elder:
    return par.Elder(community_path=e.community_path, elder_id=e.elder_id, display_name=e.display_name,
                     account_id=e.account_id)


def pairing_pb(p: tables.Pairing, elder_name: str = "") -> par.Pairing:
    return par.Pairing(community_path=p.community_path, pairing_id=p.pairing_id, family_id=p.family_id,
                       elder_id=p.elder_id, start_date=p.start_date.isoformat(), visits_required=p.visits_required,
                       elder_display_name=elder_name)


def visit_pb(v: tables.Visit, elder_id: str = "") -> par.Visit:
    return par.Visit(pairing_id=v.pairing_id, visit_id=v.visit_id, visit_time=to_timestamp(v.visit_time),
                     volunteer_id=v.volunteer_id,
                     confirmation=cast(par.VisitConfirmation.ValueType, v.confirmation), note=v.note,
                     visit_type=cast(events.VisitType.ValueType, v.visit_type),
                     state=cast(par.VisitState.ValueType, v.state), decided_by=v.decided_by,
                     decide_time=to_timestamp(v.decided_at), decision_note=v.decision_note,
                     points_credited=v.points_credited, transfer_id=v.transfer_id, elder_id=elder_id)


def compliance_pb(c: Compliance) -> par.PairingCompliance:
    return par.PairingCompliance(pairing=pairing_pb(c.pairing), visits_done=c.visits_done, short=c.short)


# -- rankings and awards --------------------------------------------------------------------------

def ranking_pb(r: Ranked) -> aw.Ranking:
    return aw.Ranking(rank=r.rank, volunteer_id=r.volunteer_id, display_name=r.display_name,
                      points_earned=r.points_earned)


def community_summary_pb(s: CommunitySummary) -> aw.CommunitySummary:
    return aw.CommunitySummary(
        community_path=s.community_path, volunteer_count=s.volunteer_count, earner_count=s.earner_count,
        points_earned=s.points_earned, top=[ranking_pb(r) for r in s.top], award_year=s.award_year,
        award_tiers=[aw.AwardTierCount(tier=tier, count=n) for tier, n in sorted(s.awards_by_tier.items())])  # type: ignore[arg-type]


def award_pb(a: tables.Award) -> aw.Award:
    reward = None
    if a.reward_handed_over_at is not None:
        reward = aw.RewardHandover(item=a.reward_item, received_by=a.reward_received_by,
                                   handed_over_by=a.reward_handed_over_by,
                                   handover_time=to_timestamp(a.reward_handed_over_at))
    return aw.Award(name=names.award_name(a.community_path, a.year, a.volunteer_id),
                    community_path=a.community_path, year=a.year, volunteer_id=a.volunteer_id,
                    display_name=a.display_name, tier=cast(events.AwardTier.ValueType, a.tier), rank=a.rank,
                    points_earned=a.points_earned, reward=reward)


def year_close_pb(c: tables.YearClose) -> aw.YearClose:
    return aw.YearClose(community_path=c.community_path, year=c.year, closed_by=c.closed_by,
                        close_time=to_timestamp(c.closed_at), issuer_name=c.issuer_name)


# -- adjustments ----------------------------------------------------------------------------------

def adjustment_pb(a: tables.Adjustment) -> adj.Adjustment:
    return adj.Adjustment(
        community_path=a.community_path, adjustment_id=a.adjustment_id, volunteer_id=a.volunteer_id,
        points=a.points, reason=a.reason, state=cast(adj.AdjustmentState.ValueType, a.state),
        proposed_by=a.proposed_by, decided_by=a.decided_by, transfer_id=a.transfer_id,
        propose_time=to_timestamp(a.proposed_at), decide_time=to_timestamp(a.decided_at), category=a.category,
        source=a.source, funding_source=a.funding_source,
    )


# -- funding --------------------------------------------------------------------------------------

def funding_line_pb(t: SourceTotals, source: tables.FundingSource | None = None) -> fu.FundingLine:
    """A source's figures; without a source row, the unfunded line ("" source), a total, or a
    funding account no source describes (named by its id)."""
    name = source.display_name if source is not None else (UNFUNDED_NAME if not t.source else t.source)
    return fu.FundingLine(
        source_id=t.source, display_name=name, kind=cast(fu.FundingKind.ValueType, source.kind if source else 0),
        budget=t.budget, budget_remaining=t.budget_remaining, issued=t.issued, redeemed=t.redeemed,
        expired=t.expired, returned=t.returned, outstanding=t.outstanding,
    )


def funding_source_pb(s: tables.FundingSource, figures: SourceTotals | None) -> fu.FundingSource:
    return fu.FundingSource(
        community_path=s.community_path, source_id=s.source_id, display_name=s.display_name,
        display_name_en=s.display_name_en, kind=cast(fu.FundingKind.ValueType, s.kind), is_default=s.is_default,
        create_time=to_timestamp(s.created_at),
        figures=funding_line_pb(figures or SourceTotals(s.source_id), s),
    )
