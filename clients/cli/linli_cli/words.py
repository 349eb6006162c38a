"""The services' enum values as tables show them (`output.enum_name`: `STATUS_IN_PROGRESS` →
`in_progress`), marked for the catalogue: a table shows `_(value)`, --json and exports keep the
value itself. tests/unit/cli/test_catalogue.py checks this list against the enums."""

from __future__ import annotations

from linli_cli.i18n import N_

WORDS = (
    # account_pb2.ApprovalParty, BudgetState, PeriodKind
    N_("owners_committee"), N_("supervisor"), N_("draft"), N_("approved"), N_("monthly"), N_("quarterly"),
    # points events AwardTier
    N_("gold"), N_("silver"), N_("bronze"),
    # org_pb2.CompoundType, OrgUnitKind
    N_("commercial"), N_("resettlement"),
    N_("city"), N_("district"), N_("street"), N_("community"), N_("compound"), N_("building"), N_("household"),
    # adjustments_pb2.AdjustmentState, dead_letters_pb2.DeadLetterState
    N_("proposed"), N_("rejected"), N_("pending"), N_("replayed"), N_("discarded"),
    # notification_pb2.ReporterRole, Status, Urgency
    N_("resident"), N_("neighbour"), N_("canteen_staff"), N_("worker"),
    N_("submitted"), N_("assigned"), N_("acknowledged"), N_("in_progress"), N_("resolved"), N_("followed_up"),
    N_("closed"), N_("cancelled"), N_("low"), N_("normal"), N_("high"), N_("critical"),
    # resources_pb2.RedemptionState
    N_("committed"), N_("voided"),
    # rollout_pb2.RolloutStage
    N_("not_started"), N_("surveyed"), N_("pilot"), N_("importing"), N_("adopted"), N_("exited"),
    # vote_pb2.VoteMatter, VoteOutcome
    N_("raise_maintenance_fund"), N_("rebuild"), N_("change_common_use"), N_("use_maintenance_fund"), N_("budget"),
    N_("elect_committee"), N_("hire_trustee"), N_("spending_approval"), N_("other"),
    N_("open"), N_("passed"), N_("no_quorum"),
    # funding_pb2.FundingKind
    N_("charity_micro_fund"), N_("social_enterprise"), N_("project_grant"), N_("higher_level_fund"),
    N_("partner_resources"),
    # disclosure_pb2.FundMovementKind
    N_("allocation"), N_("use"), N_("reversal"),
    # community_pb2.ProjectState (open, closed, in_progress, cancelled above)
    N_("done"),
)
