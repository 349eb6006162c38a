"""Domain values → messages of `linli.governance.v1`, and the few request messages that become
domain values whole (settings, committee, contract, meeting, budget lines).

Enum fields are stored as their numbers; `X.ValueType(n)` gives them the message's enum type.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from linli.governance.v1 import (
    account_pb2,
    bodies_pb2,
    disclosure_pb2,
    org_pb2,
    project_pb2,
    rollout_pb2,
    vote_pb2,
)
from linli_governance import (
    accounts,
    bodies,
    disclosures,
    names,
    owners,
    rollout,
    service_levels,
    settings_changes,
    vouchers,
)
from linli_governance import formation as formation_module
from linli_governance.disclosures import ChainCheck, ObjectionView
from linli_governance.org_tree import OrgUnitRow
from linli_governance.projects import ProjectView
from linli_governance.tables import AccountSettings, Ballot, Contract, Disclosure, Meeting, OrgUnit, UnitOwner
from linli_governance.votes import OUTCOMES, VoteView
from linli_runtime.times import to_timestamp

# -- the org tree and the rollout ---------------------------------------------------------------


def org_unit(u: OrgUnit | OrgUnitRow) -> org_pb2.OrgUnit:
    """An org unit's message, from its model or straight from a `gov_org_units` row (a city's
    subtree, `org_tree.list_subtree`: validating a model per row cost more than the rest)."""
    return org_pb2.OrgUnit(
        path=u.path,
        parent_path=u.parent_path or "",
        kind=org_pb2.OrgUnitKind.ValueType(u.kind),
        display_name=u.display_name,
        display_name_en=u.display_name_en,
        compound_type=org_pb2.CompoundType.ValueType(u.compound_type),
        exclusive_area_dm2=u.exclusive_area_dm2,
        create_time=to_timestamp(u.created_at),
        closed=u.closed_at is not None,
        close_time=to_timestamp(u.closed_at) if u.closed_at is not None else None,
        update_time=to_timestamp(u.updated_at or u.created_at),
        revision=u.revision,
        status_reason=u.status_reason,
    )


def rollout_view(v: rollout.RolloutView) -> rollout_pb2.Rollout:
    return rollout_pb2.Rollout(
        compound_path=v.rollout.compound_path,
        stage=rollout_pb2.RolloutStage.ValueType(v.rollout.stage),
        history=[
            rollout_pb2.RolloutStep(stage=rollout_pb2.RolloutStage.ValueType(s.stage), date=s.date, note=s.note)
            for s in v.history
        ],
        working_group=list(v.rollout.working_group),
        checklist=[rollout_pb2.ChecklistItem(**item) for item in v.rollout.checklist],
        compound_type=org_pb2.CompoundType.ValueType(v.compound_type),
        update_time=to_timestamp(v.rollout.updated_at),
    )


def _stage_counts(counter: Counter[int]) -> list[rollout_pb2.StageCount]:
    return [
        rollout_pb2.StageCount(stage=rollout_pb2.RolloutStage.ValueType(s), count=counter[s])
        for s in rollout.EVERY_STAGE
        if counter[s]
    ]


def rollout_summary(s: rollout.RolloutSummary) -> rollout_pb2.SummarizeRolloutResponse:
    return rollout_pb2.SummarizeRolloutResponse(
        path=s.path,
        compound_count=s.compound_count,
        totals=_stage_counts(s.totals),
        by_street=[rollout_pb2.RolloutGroup(key=k, counts=_stage_counts(v)) for k, v in s.by_street.items()],
        by_compound_type=[
            rollout_pb2.RolloutGroup(key=k, counts=_stage_counts(v)) for k, v in s.by_compound_type.items()
        ],
        headline=s.headline,
    )


# -- the trust common account -------------------------------------------------------------------


def account_settings(s: AccountSettings) -> account_pb2.AccountSettings:
    return account_pb2.AccountSettings(
        compound_path=s.compound_path,
        approval_threshold_fen=s.approval_threshold_fen,
        surplus_share_basis_points=s.surplus_share_bp,
        period_kind=account_pb2.PeriodKind.ValueType(s.period_kind),
    )


def settings_from(m: account_pb2.AccountSettings, compound_path: str) -> AccountSettings:
    return AccountSettings(
        compound_path=compound_path,
        approval_threshold_fen=m.approval_threshold_fen,
        surplus_share_bp=m.surplus_share_basis_points,
        period_kind=m.period_kind,
    )


def transfer(v: accounts.TransferView) -> account_pb2.Transfer:
    t = v.transfer
    path = t.compound_path
    return account_pb2.Transfer(
        name=names.transfer_name(path, t.transfer_id),
        compound_path=path,
        kind=account_pb2.TransferKind.ValueType(t.kind),
        state=account_pb2.TransferState.ValueType(t.state),
        debit_account=t.debit_account,
        credit_account=t.credit_account,
        amount_fen=t.amount_fen,
        budget_line=t.budget_line,
        memo=t.memo,
        voucher=account_pb2.Voucher(file_ref=t.voucher_ref, sha256=t.voucher_sha256) if t.voucher_ref else None,
        approvals=[account_pb2.ApprovalParty.ValueType(p) for p in v.approvals],
        reverses=names.transfer_name(path, t.reverses) if t.reverses else "",
        reversed_by=names.transfer_name(path, t.reversed_by) if t.reversed_by else "",
        owners_decision=t.owners_decision,
        create_time=to_timestamp(t.created_at),
        post_time=to_timestamp(t.posted_at),
        disclosure=t.disclosure or "",
        project=names.project_name(path, t.project) if t.project else "",
        required_approvals=[account_pb2.ApprovalParty.ValueType(p) for p in accounts.parties_of(t.required_approvals)],
        over_budget_fen=t.over_budget_fen,
        counterparty=t.counterparty,
        recorded_by=t.recorded_by,
        payee_recent_fen=t.payee_recent_fen,
    )


def settings_change(v: settings_changes.ChangeView) -> account_pb2.SettingsChange:
    c = v.change
    return account_pb2.SettingsChange(
        name=names.settings_change_name(c.compound_path, c.change_id),
        compound_path=c.compound_path,
        settings=account_settings(v.settings),
        state=account_pb2.SettingsChangeState.ValueType(v.state),
        proposed_by=c.proposed_by,
        approvals=[account_pb2.ApprovalParty.ValueType(p) for p in v.approvals],
        owners_decision=c.owners_decision,
        create_time=to_timestamp(c.created_at),
        decide_time=to_timestamp(c.decided_at),
        rejection_reason=c.rejection_reason,
    )


def balances(b: accounts.Balances) -> account_pb2.GetBalancesResponse:
    return account_pb2.GetBalancesResponse(
        balances=[account_pb2.AccountBalance(account=a, balance_fen=f) for a, f in b.by_account.items()],
        operating_fen=b.operating_fen,
        maintenance_fund_fen=b.maintenance_fund_fen,
        pending_fen=b.pending_fen,
    )


def budget(v: accounts.BudgetView) -> account_pb2.Budget:
    b = v.budget
    return account_pb2.Budget(
        name=names.budget_name(b.compound_path, b.year),
        compound_path=b.compound_path,
        year=b.year,
        lines=[
            account_pb2.BudgetLine(code=line.code, title=line.title, amount_fen=line.amount_fen, actual_fen=actual)
            for line, actual in v.lines
        ],
        state=account_pb2.BudgetState.ValueType(b.state),
        approved_by_vote=b.approved_by_vote,
    )


def budget_lines_from(lines: list[account_pb2.BudgetLine]) -> list[accounts.NewBudgetLine]:
    return [accounts.NewBudgetLine(line.code, line.title, line.amount_fen) for line in lines]


# -- votes ----------------------------------------------------------------------------------------


def ballot(vote_name: str, b: Ballot) -> vote_pb2.Ballot:
    return vote_pb2.Ballot(
        vote=vote_name,
        household_path=b.household_path,
        choice=vote_pb2.BallotChoice.ValueType(b.choice),
        channel=vote_pb2.BallotChannel.ValueType(b.channel),
        cast_time=to_timestamp(b.cast_at),
        counted=b.channel != vote_pb2.BALLOT_CHANNEL_PAPER or b.confirmed_by is not None,
    )


def vote(v: VoteView) -> vote_pb2.Vote:
    row, t = v.vote, v.tally
    return vote_pb2.Vote(
        name=v.name,
        compound_path=row.compound_path,
        title=row.title,
        matter=vote_pb2.VoteMatter.ValueType(row.matter),
        subject=row.subject,
        close_time=to_timestamp(row.close_time),
        closed=row.closed,
        outcome=vote_pb2.VoteOutcome.ValueType(row.outcome),
        tally=vote_pb2.Tally(
            electorate_area_dm2=t.electorate_area_dm2,
            electorate_households=t.electorate_households,
            participating_area_dm2=t.participating_area_dm2,
            participating_households=t.participating_households,
            for_area_dm2=t.for_area_dm2,
            for_households=t.for_households,
            quorum_by_area=t.quorum_by_area,
            quorum_by_households=t.quorum_by_households,
            approved_by_area=t.approved_by_area,
            approved_by_households=t.approved_by_households,
            outcome=OUTCOMES[t.outcome],
            unconfirmed_households=v.unconfirmed.households,
            unconfirmed_area_dm2=v.unconfirmed.area_dm2,
            unconfirmed_for_households=v.unconfirmed.for_households,
            unconfirmed_for_area_dm2=v.unconfirmed.for_area_dm2,
        ),
        unconfirmed_paper_ballots=v.unconfirmed_paper_ballots,
        create_time=to_timestamp(row.created_at),
        amount_fen=row.amount_fen,
        purpose=row.purpose,
        open_time=to_timestamp(row.open_time),
        opened=row.opened,
    )


def unit_owner(u: UnitOwner) -> vote_pb2.UnitOwner:
    return vote_pb2.UnitOwner(
        household_path=u.household_path,
        owner_id=u.owner_id,
        owner_name=u.owner_name,
        holding=vote_pb2.UnitHolding.ValueType(u.holding),
    )


def unit_owner_from(m: vote_pb2.UnitOwner, household_path: str) -> UnitOwner:
    return UnitOwner(
        household_path=household_path,
        compound_path="",
        owner_id=m.owner_id,
        owner_name=m.owner_name,
        holding=m.holding,
    )


def owner(o: owners.Owner) -> vote_pb2.Owner:
    return vote_pb2.Owner(
        owner_id=o.voter.key.removeprefix("owner:"),
        display_name=o.display_name,
        holding=vote_pb2.UnitHolding.ValueType(o.holding),
        households=list(o.voter.households),
        area_dm2=o.voter.area_dm2,
    )


# -- disclosures ----------------------------------------------------------------------------------


def _posted(text: str) -> Timestamp | None:
    if not text:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC))
    return stamp


def disclosed_transfer(compound_path: str, line: dict[str, Any]) -> disclosure_pb2.DisclosedTransfer:
    return disclosure_pb2.DisclosedTransfer(
        transfer=names.transfer_name(compound_path, line["transfer"]),
        kind=line["kind"],
        debit_account=line["debit"],
        credit_account=line["credit"],
        amount_fen=line["amount_fen"],
        budget_line=line["budget_line"],
        counterparty=line["counterparty"],
        post_time=_posted(line["posted_at"]),
        voucher_ref=line["voucher_ref"],
        voucher_sha256=line["voucher_sha256"],
        owners_decision=line["owners_decision"],
        memo=line["memo"],
    )


def disclosure(d: Disclosure, *, full: bool = False) -> disclosure_pb2.Disclosure:
    """A disclosure; `full` adds its sealed transfer lines and the sealed body itself (GetDisclosure)."""
    body = disclosures.content(d)
    budget_of = body.get("budget", {})
    whole: dict[str, Any] = {}
    if full:
        whole = {
            "transfers": [disclosed_transfer(d.compound_path, line) for line in body.get("lines", [])],
            "sealed_body": d.body,
        }
    return disclosure_pb2.Disclosure(
        name=d.name,
        compound_path=d.compound_path,
        period=d.period,
        period_start=to_timestamp(d.period_start),
        period_end=to_timestamp(d.period_end),
        income=[disclosure_pb2.DisclosureLine(account=a, amount_fen=v) for a, v in body["income"].items()],
        expenses=[
            disclosure_pb2.DisclosureLine(
                account=a,
                amount_fen=v,
                budget_fen=budget_of.get(a, {}).get("budget_fen", 0),
                year_actual_fen=budget_of.get(a, {}).get("year_actual_fen", 0),
            )
            for a, v in body["expenses"].items()
        ],
        income_fen=body["income_fen"],
        expense_fen=body["expense_fen"],
        surplus_fen=body["income_fen"] - body["expense_fen"],
        to_maintenance_fund_fen=body["to_maintenance_fund_fen"],
        operating_balance_fen=body["operating_balance_fen"],
        maintenance_fund_balance_fen=body["maintenance_fund_balance_fen"],
        pending_transfers=body["pending_transfers"],
        pending_fen=body["pending_fen"],
        transfer_count=body["transfer_count"],
        seal_hash=d.seal_hash,
        previous_seal_hash=d.previous_seal_hash,
        publish_time=to_timestamp(d.published_at),
        **fund_figures(d.compound_path, body.get("fund")),
        service_levels=[
            disclosure_pb2.ServiceLevelLine(
                code=s["code"],
                description=s["description"],
                unit=s["unit"],
                target=s["target"],
                direction=bodies_pb2.StandardDirection.ValueType(s["direction"]),
                recorded=s["measured"] is not None,
                measured=s["measured"] or 0,
                met=bool(s["met"]),
            )
            for s in body.get("service_levels", [])
        ],
        sequence=body.get("sequence", 0),
        **whole,
    )


FUND_MOVEMENT_KINDS = {
    "allocation": disclosure_pb2.FUND_MOVEMENT_KIND_ALLOCATION,
    "use": disclosure_pb2.FUND_MOVEMENT_KIND_USE,
    "reversal": disclosure_pb2.FUND_MOVEMENT_KIND_REVERSAL,
}


def fund_figures(compound_path: str, fund: dict[str, Any] | None) -> dict[str, Any]:
    """The maintenance fund's part of a disclosure (none in a body sealed before it was kept)."""
    if not fund:
        return {}
    return {
        "maintenance_fund_opening_fen": fund["opening_fen"],
        "fund_in_fen": fund["in_fen"],
        "fund_out_fen": fund["out_fen"],
        "fund_movements": [
            disclosure_pb2.FundMovement(
                transfer=names.transfer_name(compound_path, m["transfer"]),
                kind=FUND_MOVEMENT_KINDS[m["kind"]],
                amount_fen=m["amount_fen"],
                owners_decision=m["owners_decision"],
                memo=m["memo"],
            )
            for m in fund["movements"]
        ],
    }


def chain_check(c: ChainCheck, external_head: str = "") -> disclosure_pb2.VerifyDisclosureChainResponse:
    return disclosure_pb2.VerifyDisclosureChainResponse(
        valid=c.valid,
        checked=c.checked,
        broken_disclosure=c.broken_disclosure,
        reason=c.reason,
        published_head_seal_hash=external_head or (c.head.seal_hash if c.head else ""),
        published_head_period=c.head.period if c.head and not external_head else "",
        head_checked=bool(c.head or external_head),
    )


def stored_voucher(v: vouchers.Voucher) -> account_pb2.StoredVoucher:
    r = v.row
    return account_pb2.StoredVoucher(
        name=v.name,
        compound_path=r.compound_path,
        sha256=r.sha256,
        media_type=r.media_type,
        filename=r.filename,
        size_bytes=r.size_bytes,
        uploaded_by=r.uploaded_by,
        upload_time=to_timestamp(r.uploaded_at),
    )


def objection(v: ObjectionView) -> disclosure_pb2.Objection:
    o = v.objection
    return disclosure_pb2.Objection(
        name=v.name,
        kind=disclosure_pb2.ObjectionKind.ValueType(o.kind),
        account=o.account,
        text=o.text,
        household_path=o.household_path,
        create_time=to_timestamp(o.created_at),
        deadline=to_timestamp(o.deadline),
        overdue=v.overdue,
        state=disclosure_pb2.ObjectionState.ValueType(o.state),
        answer=o.answer,
        answered_by=o.answered_by,
        answer_time=to_timestamp(o.answered_at),
        answered_late=v.answered_late,
        resolution=disclosure_pb2.ObjectionResolution.ValueType(o.resolution),
        closing_note=o.closing_note,
        closed_by=o.closed_by,
        close_time=to_timestamp(o.closed_at),
    )


# -- governance bodies ----------------------------------------------------------------------------


def committee(v: bodies.TermView, *, history: bool = False) -> bodies_pb2.OwnersCommittee:
    """A committee term: its current members, or (`history`) every membership it had."""
    t = v.term
    return bodies_pb2.OwnersCommittee(
        compound_path=t.compound_path,
        formation_date=t.formation_date,
        term_end_date=t.term_end_date,
        members=[
            bodies_pb2.CommitteeMember(
                display_name=m.display_name,
                role=bodies_pb2.CommitteeRole.ValueType(m.role),
                household_path=m.household_path,
                start_date=m.start_date,
                end_date=m.end_date or "",
            )
            for m in (v.members if history else v.current_members)
        ],
        elected_by_vote=t.elected_by_vote,
        term_number=t.number,
        end_date=t.ended_date or "",
        filed_date=t.filed_date,
        filing_reference=t.filing_reference,
    )


def formation(v: formation_module.FormationView) -> bodies_pb2.CommitteeFormation:
    f = v.formation
    return bodies_pb2.CommitteeFormation(
        compound_path=f.compound_path,
        stage=bodies_pb2.FormationStage.ValueType(f.stage),
        group_formed_date=f.group_formed_date,
        preparatory_group=[bodies_pb2.PreparatoryMember(**m) for m in f.preparatory_group],
        candidates=[bodies_pb2.CommitteeMember(**m) for m in f.candidates],
        election_vote=f.election_vote,
        elected_date=f.elected_date,
        term_number=v.term_number,
        filed_date=v.filed_date,
        filing_reference=v.filing_reference,
        update_time=to_timestamp(f.updated_at),
    )


def committee_from(m: bodies_pb2.OwnersCommittee, compound_path: str) -> bodies.NewCommittee:
    return bodies.NewCommittee(
        compound_path=compound_path,
        formation_date=m.formation_date,
        term_end_date=m.term_end_date,
        members=[bodies.Member(x.display_name, x.role, x.household_path) for x in m.members],
        elected_by_vote=m.elected_by_vote,
    )


def contract(c: Contract) -> bodies_pb2.TrustContract:
    return bodies_pb2.TrustContract(
        compound_path=c.compound_path,
        trustee_name=c.trustee_name,
        start_date=c.start_date,
        end_date=c.end_date,
        remuneration=bodies_pb2.RemunerationRule(
            fixed_fen=c.fixed_fen, income_share_basis_points=c.income_share_bp, cap_fen=c.cap_fen
        ),
        service_standards=[bodies_pb2.ServiceStandard(**s) for s in c.standards],
        supervisor_name=c.supervisor_name,
        hired_by_vote=c.hired_by_vote,
    )


def contract_from(m: bodies_pb2.TrustContract, compound_path: str) -> bodies.NewContract:
    return bodies.NewContract(
        compound_path=compound_path,
        trustee_name=m.trustee_name,
        start_date=m.start_date,
        end_date=m.end_date,
        fixed_fen=m.remuneration.fixed_fen,
        income_share_bp=m.remuneration.income_share_basis_points,
        cap_fen=m.remuneration.cap_fen,
        standards=[
            bodies.Standard(s.code, s.description, s.unit, s.target, s.direction) for s in m.service_standards
        ],
        supervisor_name=m.supervisor_name,
        hired_by_vote=m.hired_by_vote,
    )


def service_level(m: service_levels.Measure) -> bodies_pb2.ServiceLevel:
    lv = m.level
    return bodies_pb2.ServiceLevel(
        name=m.name,
        compound_path=lv.compound_path,
        period=lv.period,
        code=lv.code,
        description=lv.description,
        unit=lv.unit,
        target=lv.target,
        direction=bodies_pb2.StandardDirection.ValueType(lv.direction),
        measured=lv.measured,
        met=m.met,
        note=lv.note,
        recorded_by=lv.recorded_by,
        record_time=to_timestamp(lv.recorded_at),
    )


def meeting(m: Meeting) -> bodies_pb2.MeetingRecord:
    return bodies_pb2.MeetingRecord(
        name=names.meeting_name(m.compound_path, m.meeting_id),
        compound_path=m.compound_path,
        date=m.date,
        attendees=[bodies_pb2.Attendee(**a) for a in m.attendees],
        topics=m.topics,
        decisions=m.decisions,
        create_time=to_timestamp(m.created_at),
    )


def meeting_from(r: bodies_pb2.CreateMeetingRecordRequest) -> bodies.NewMeeting:
    return bodies.NewMeeting(
        date=r.date,
        attendees=[bodies.Attendee(a.display_name, a.party) for a in r.attendees],
        topics=list(r.topics),
        decisions=list(r.decisions),
    )


# -- projects -------------------------------------------------------------------------------------


def project(v: ProjectView) -> project_pb2.Project:
    p = v.project
    return project_pb2.Project(
        name=v.name,
        compound_path=p.compound_path,
        kind=project_pb2.ProjectKind.ValueType(p.kind),
        title=p.title,
        budget_line=p.budget_line,
        budget_fen=p.budget_fen,
        spent_fen=v.spent_fen,
        status=project_pb2.ProjectStatus.ValueType(p.status),
        photo_refs=p.photo_refs,
        create_time=to_timestamp(p.created_at),
    )
