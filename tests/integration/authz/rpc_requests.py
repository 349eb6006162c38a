"""A well-formed request for every RPC of every service, naming a place — the *target*: Fengshu
(volunteer-points, partner-redemption, notification, identity) or the Shengjian compound
(trust-governance) — and things there (mostly from the demo data; an id nobody uses is as good:
a caller outside the place must learn nothing, not even that). `test_every_rpc.py` sends each
with tokens of every role at a sibling of the target and expects PERMISSION_DENIED or
NOT_FOUND: the requests must therefore pass every check of form, so the answer is the
authorisation's.

The RPCs themselves come from the running servers (reflection), not from this table: the test
fails for an RPC served that has no entry here (or in `UNSCOPED` / `PUBLIC`), and for an entry
no server serves.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from linli.events.v1 import points_pb2 as points_events
from linli.governance.v1 import account_pb2 as gacc
from linli.governance.v1 import bodies_pb2 as gbod
from linli.governance.v1 import disclosure_pb2 as gdis
from linli.governance.v1 import org_pb2 as gorg
from linli.governance.v1 import project_pb2 as gprj
from linli.governance.v1 import rollout_pb2 as groll
from linli.governance.v1 import vote_pb2 as gvote
from linli.identity.v1 import identity_pb2 as idn
from linli.notification.v1 import notification_pb2 as nt
from linli.notification.v1 import one_time_codes_pb2 as otc
from linli.points.v1 import activities_pb2 as act
from linli.points.v1 import adjustments_pb2 as adj
from linli.points.v1 import awards_pb2 as awd
from linli.points.v1 import funding_pb2 as fund
from linli.points.v1 import ledger_pb2 as led
from linli.points.v1 import pairings_pb2 as par
from linli.points.v1 import volunteers_pb2 as vol
from linli.redemption.v1 import admin_pb2 as radm
from linli.redemption.v1 import community_pb2 as rcom
from linli.redemption.v1 import pos_pb2 as rpos
from linli.redemption.v1 import resources_pb2 as rres
from linli.runtime.v1 import dead_letters_pb2 as dl
from linli_runtime.demo import demo_account_id

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
JINSHANG = f"{FENGSHU}/jinshang-chuntian"
SHENGJIAN = "chengdu/chongzhou/longxing/longxing-community/shengjian"
HOUSEHOLD = f"{SHENGJIAN}/b1-101"
COMPOUND = "compounds/" + SHENGJIAN.replace("/", "~")
COMMUNITY = "communities/" + FENGSHU.replace("/", "~")
MERCHANT = "merchants/jinchengyijing-health"
HELP_REQUEST = f"{COMMUNITY}/helpRequests/h-demo-01"  # a request of the demo data
WORKER_LI = demo_account_id("+8613800000003")  # Fengshu's community worker Li (identity demo data)
V = "v-001"


def rid() -> str:
    return uuid.uuid4().hex


def ts(days: int = 1) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC) + timedelta(days=days))
    return stamp


@dataclass(frozen=True)
class Call:
    target: str  # the place the request is about
    request: Message


def _thanks() -> nt.Thanks:
    thanks = nt.Thanks(kind="banner", text="谢谢")
    setattr(thanks, "from", "万阿姨")
    return thanks


def requests() -> dict[str, Call]:
    """Full method name (`/package.Service/Method`) → a well-formed request about its target.
    Built anew for each use: request ids are fresh."""
    f, g = FENGSHU, SHENGJIAN
    table: dict[str, tuple[str, Message]] = {
        # -- volunteer-points ------------------------------------------------------------------
        "linli.points.v1.LedgerService/CreateTransfer": (f, led.CreateTransferRequest(
            community_path=f, transfer_id=rid(), debit_account="system/issuance", credit_account=f"volunteers/{V}",
            amount=1)),
        "linli.points.v1.LedgerService/CreateTransfers": (f, led.CreateTransfersRequest(
            community_path=f, transfers=[led.CreateTransferRequest(
                transfer_id=rid(), debit_account="system/issuance", credit_account=f"volunteers/{V}", amount=1)])),
        "linli.points.v1.LedgerService/ReverseTransfer": (f, led.ReverseTransferRequest(
            community_path=f, transfer_id=rid(), reversed_transfer_id="t-1", reason="错记")),
        "linli.points.v1.LedgerService/PlaceHold": (f, led.PlaceHoldRequest(
            community_path=f, hold_id=rid(), debit_account=f"volunteers/{V}",
            credit_account="system/redemption-clearing", amount=1, timeout_seconds=60)),
        "linli.points.v1.LedgerService/PlaceHolds": (f, led.PlaceHoldsRequest(community_path=f, holds=[
            led.PlaceHoldRequest(hold_id=rid(), debit_account=f"volunteers/{V}",
                                 credit_account="system/redemption-clearing", amount=1, timeout_seconds=60)])),
        "linli.points.v1.LedgerService/PostHold": (f, led.PostHoldRequest(community_path=f, hold_id="h-1")),
        "linli.points.v1.LedgerService/VoidHold": (f, led.VoidHoldRequest(community_path=f, hold_id="h-1")),
        "linli.points.v1.LedgerService/ExpirePoints": (f, led.ExpirePointsRequest(
            community_path=f, earned_before="2020-01-01")),
        "linli.points.v1.LedgerService/GetHold": (f, led.GetHoldRequest(community_path=f, hold_id="h-1")),
        "linli.points.v1.LedgerService/GetBalance": (f, led.GetBalanceRequest(
            community_path=f, account=f"volunteers/{V}")),
        "linli.points.v1.LedgerService/ListTransfers": (f, led.ListTransfersRequest(
            community_path=f, account=f"volunteers/{V}")),
        "linli.points.v1.LedgerService/ListDayTransfers": (f, led.ListDayTransfersRequest(
            community_path=f, account="system/redemption-clearing", start_date="2026-01-05")),
        "linli.points.v1.LedgerService/SummarizeAccountDays": (f, led.SummarizeAccountDaysRequest(
            community_paths=[f], account="system/redemption-clearing", start_date="2026-01-05")),
        "linli.points.v1.FundingService/CreateFundingSource": (f, fund.CreateFundingSourceRequest(
            funding_source=fund.FundingSource(community_path=f, source_id="authz-src", display_name="测试",
                                              kind=fund.FUNDING_KIND_CHARITY_MICRO_FUND))),
        "linli.points.v1.FundingService/ListFundingSources": (f, fund.ListFundingSourcesRequest(community_path=f)),
        "linli.points.v1.FundingService/SetDefaultFundingSource": (f, fund.SetDefaultFundingSourceRequest(
            community_path=f, source_id="authz-src")),
        "linli.points.v1.FundingService/AddFundingBudget": (f, fund.AddFundingBudgetRequest(
            community_path=f, source_id="authz-src", request_id=rid(), points=10)),
        "linli.points.v1.FundingService/GetFundingReport": (f, fund.GetFundingReportRequest(community_path=f)),
        "linli.points.v1.VolunteerService/CreateVolunteer": (f, vol.CreateVolunteerRequest(volunteer=vol.Volunteer(
            community_path=f, volunteer_id="authz-v", display_name="测试"))),
        "linli.points.v1.VolunteerService/GetVolunteer": (f, vol.GetVolunteerRequest(community_path=f,
                                                                                      volunteer_id=V)),
        "linli.points.v1.VolunteerService/GetVolunteerProfile": (f, vol.GetVolunteerProfileRequest(
            community_path=f, volunteer_id=V)),
        "linli.points.v1.VolunteerService/ListVolunteers": (f, vol.ListVolunteersRequest(community_path=f)),
        "linli.points.v1.VolunteerService/BindVolunteerAccount": (f, vol.BindVolunteerAccountRequest(
            community_path=f, volunteer_id=V, account_id="acc-someone")),
        "linli.points.v1.VolunteerService/CreateFamily": (f, vol.CreateFamilyRequest(family=vol.Family(
            community_path=f, family_id="authz-f", display_name="测试家"))),
        "linli.points.v1.VolunteerService/ListFamilies": (f, vol.ListFamiliesRequest(community_path=f)),
        "linli.points.v1.VolunteerService/CreateTeam": (f, vol.CreateTeamRequest(team=vol.Team(
            community_path=f, team_id="authz-t", display_name="测试队"))),
        "linli.points.v1.VolunteerService/ListTeams": (f, vol.ListTeamsRequest(community_path=f)),
        "linli.points.v1.VolunteerService/JoinTeam": (f, vol.JoinTeamRequest(
            community_path=f, team_id="little-maple-leaf", volunteer_id=V, join_date="2026-01-05")),
        "linli.points.v1.VolunteerService/LeaveTeam": (f, vol.LeaveTeamRequest(
            community_path=f, team_id="little-maple-leaf", volunteer_id=V, leave_date="2026-01-05")),
        "linli.points.v1.VolunteerService/ImportRoster": (f, vol.ImportRosterRequest(
            community_path=f, csv_content="volunteer_id,display_name\nauthz-r,测试\n".encode(),
            mode=vol.IMPORT_MODE_PER_ROW)),
        "linli.points.v1.VolunteerService/StreamImportRoster": (f, vol.StreamImportRosterRequest(
            roster=vol.ImportRosterRequest(community_path=f, mode=vol.IMPORT_MODE_PER_ROW,
                                           csv_content="volunteer_id,display_name\nauthz-r,测试\n".encode()))),
        "linli.points.v1.ActivityService/ListTaskCategories": (f, act.ListTaskCategoriesRequest(community_path=f)),
        "linli.points.v1.ActivityService/UpdateTaskCategory": (f, act.UpdateTaskCategoryRequest(
            task_category=act.TaskCategory(community_path=f, slug="authz-cat", display_name="测试"),
            allow_missing=True)),
        "linli.points.v1.ActivityService/CreateActivity": (f, act.CreateActivityRequest(activity=act.Activity(
            community_path=f, activity_id="authz-a", title="测试", category="governance"))),
        "linli.points.v1.ActivityService/GetActivity": (f, act.GetActivityRequest(community_path=f,
                                                                                  activity_id="a-1")),
        "linli.points.v1.ActivityService/SignUp": (f, act.SignUpRequest(community_path=f, activity_id="a-1",
                                                                        volunteer_id=V)),
        "linli.points.v1.ActivityService/CheckIn": (f, act.CheckInRequest(
            community_path=f, activity_id="a-1", volunteer_id=V)),
        "linli.points.v1.ActivityService/IssueCheckInToken": (f, act.IssueCheckInTokenRequest(
            community_path=f, activity_id="a-1")),
        "linli.points.v1.ActivityService/CheckInWithToken": (f, act.CheckInWithTokenRequest(
            community_path=f, activity_id="a-1", token="1000.AAAAAAAAAAAAAAAAAAAAAA")),
        "linli.points.v1.ActivityService/ConfirmCompletion": (f, act.ConfirmCompletionRequest(
            community_path=f, activity_id="a-1", volunteer_ids=[V])),
        "linli.points.v1.ActivityService/ListHelpCredits": (f, act.ListHelpCreditsRequest(community_path=f)),
        "linli.points.v1.PairingService/CreateElder": (f, par.CreateElderRequest(elder=par.Elder(
            community_path=f, elder_id="authz-e", display_name="测试"))),
        "linli.points.v1.PairingService/CreatePairing": (f, par.CreatePairingRequest(pairing=par.Pairing(
            community_path=f, pairing_id="authz-p", family_id="f-001", elder_id="authz-e",
            start_date="2026-01-01"))),
        "linli.points.v1.PairingService/ListPairings": (f, par.ListPairingsRequest(community_path=f)),
        "linli.points.v1.PairingService/LogVisit": (f, par.LogVisitRequest(community_path=f, visit=par.Visit(
            pairing_id="p-001", visit_id=rid(), volunteer_id=V, visit_time=ts(-1),
            confirmation=par.VISIT_CONFIRMATION_ELDER, visit_type=points_events.VISIT_TYPE_COMPANIONSHIP))),
        "linli.points.v1.PairingService/ListPairingCompliance": (f, par.ListPairingComplianceRequest(
            community_path=f, month="2026-01")),
        "linli.points.v1.PairingService/ListVisits": (f, par.ListVisitsRequest(community_path=f)),
        "linli.points.v1.PairingService/ListElders": (f, par.ListEldersRequest(community_path=f)),
        "linli.points.v1.PairingService/ConfirmVisit": (f, par.ConfirmVisitRequest(community_path=f,
                                                                                   visit_id="demo:visit:001:0")),
        "linli.points.v1.PairingService/RejectVisit": (f, par.RejectVisitRequest(
            community_path=f, visit_id="demo:visit:001:0", reason="没有来过")),
        "linli.points.v1.PairingService/CloseMonth": (f, par.CloseMonthRequest(community_path=f, month="2026-01")),
        "linli.points.v1.AwardService/ListRankings": (f, awd.ListRankingsRequest(community_path=f, period="2026")),
        "linli.points.v1.AwardService/CloseYear": (f, awd.CloseYearRequest(community_path=f, year=2020)),
        "linli.points.v1.AwardService/CloseYears": (f, awd.CloseYearsRequest(community_paths=[f], year=2020)),
        "linli.points.v1.AwardService/SummarizeCommunities": (f, awd.SummarizeCommunitiesRequest(
            community_paths=[f], year=2026)),
        "linli.points.v1.AwardService/ListAwards": (f, awd.ListAwardsRequest(community_path=f, year=2025)),
        "linli.points.v1.AwardService/ExportAwards": (f, awd.ExportAwardsRequest(community_path=f, year=2025)),
        "linli.points.v1.AwardService/GetAwardCertificate": (f, awd.GetAwardCertificateRequest(
            community_path=f, year=2025, volunteer_id=V)),
        "linli.points.v1.AwardService/RecordRewardHandover": (f, awd.RecordRewardHandoverRequest(
            community_path=f, year=2025, volunteer_id=V, item="水杯", received_by="本人")),
        "linli.points.v1.AdjustmentService/ProposeAdjustment": (f, adj.ProposeAdjustmentRequest(
            community_path=f, adjustment_id="authz-adj", volunteer_id=V, points=1, reason="补记")),
        "linli.points.v1.AdjustmentService/ApproveAdjustment": (f, adj.ApproveAdjustmentRequest(
            community_path=f, adjustment_id="authz-adj")),
        "linli.points.v1.AdjustmentService/RejectAdjustment": (f, adj.RejectAdjustmentRequest(
            community_path=f, adjustment_id="authz-adj")),
        "linli.points.v1.AdjustmentService/ListAdjustments": (f, adj.ListAdjustmentsRequest(community_path=f)),
        # -- trust-governance ------------------------------------------------------------------
        "linli.governance.v1.OrgService/CreateOrgUnit": (g, gorg.CreateOrgUnitRequest(
            parent_path=g, slug="b9", kind=gorg.ORG_UNIT_KIND_BUILDING, display_name="9栋")),
        "linli.governance.v1.OrgService/GetOrgUnit": (g, gorg.GetOrgUnitRequest(path=g)),
        "linli.governance.v1.OrgService/ListOrgUnits": (g, gorg.ListOrgUnitsRequest(parent_path=g)),
        # A unit is renamed, closed and reopened from above (by whoever manages its parent).
        "linli.governance.v1.OrgService/UpdateOrgUnit": (g, gorg.UpdateOrgUnitRequest(
            org_unit=gorg.OrgUnit(path=g, display_name="生建小区（更名）"),
            update_mask=FieldMask(paths=["display_name"]), request_id=rid())),
        "linli.governance.v1.OrgService/CloseOrgUnit": (g, gorg.CloseOrgUnitRequest(
            path=g, reason="合并", request_id=rid())),
        "linli.governance.v1.OrgService/ReopenOrgUnit": (g, gorg.ReopenOrgUnitRequest(
            path=g, reason="撤销合并", request_id=rid())),
        "linli.governance.v1.RolloutService/GetRollout": (g, groll.GetRolloutRequest(compound_path=g)),
        "linli.governance.v1.RolloutService/AdvanceRollout": (g, groll.AdvanceRolloutRequest(
            compound_path=g, stage=groll.ROLLOUT_STAGE_SURVEYED)),
        "linli.governance.v1.RolloutService/UpdateRolloutChecklistItem": (g, groll.UpdateRolloutChecklistItemRequest(
            compound_path=g, key="survey", done=True)),
        "linli.governance.v1.RolloutService/SummarizeRollout": (g, groll.SummarizeRolloutRequest(path=g)),
        "linli.governance.v1.TrustAccountService/GetAccountSettings": (g, gacc.GetAccountSettingsRequest(
            compound_path=g)),
        "linli.governance.v1.TrustAccountService/UpdateAccountSettings": (g, gacc.UpdateAccountSettingsRequest(
            settings=gacc.AccountSettings(compound_path=g, approval_threshold_fen=100_000), request_id=rid())),
        "linli.governance.v1.TrustAccountService/RecordIncome": (g, gacc.RecordIncomeRequest(
            compound_path=g, category=gacc.INCOME_CATEGORY_PARKING, amount_fen=100, memo="停车费",
            request_id=rid())),
        "linli.governance.v1.TrustAccountService/RecordExpense": (g, gacc.RecordExpenseRequest(
            compound_path=g, budget_line="cleaning", amount_fen=100, memo="保洁", request_id=rid(),
            voucher=gacc.Voucher(file_ref="v.pdf", sha256="ab" * 32))),
        "linli.governance.v1.TrustAccountService/ApproveTransfer": (g, gacc.ApproveTransferRequest(
            name=f"{COMPOUND}/transfers/t-1", party=gacc.APPROVAL_PARTY_OWNERS_COMMITTEE, request_id=rid())),
        "linli.governance.v1.TrustAccountService/RejectTransfer": (g, gacc.RejectTransferRequest(
            name=f"{COMPOUND}/transfers/t-1", party=gacc.APPROVAL_PARTY_OWNERS_COMMITTEE, reason="不同意",
            request_id=rid())),
        "linli.governance.v1.TrustAccountService/SpendMaintenanceFund": (g, gacc.SpendMaintenanceFundRequest(
            compound_path=g, owners_decision=f"{COMPOUND}/votes/v-1", amount_fen=100, memo="维修",
            request_id=rid(), voucher=gacc.Voucher(file_ref="v.pdf", sha256="ab" * 32))),
        "linli.governance.v1.TrustAccountService/ApproveSettingsChange": (g, gacc.ApproveSettingsChangeRequest(
            name=f"{COMPOUND}/settingsChanges/c-1", party=gacc.APPROVAL_PARTY_OWNERS_COMMITTEE, request_id=rid())),
        "linli.governance.v1.TrustAccountService/RejectSettingsChange": (g, gacc.RejectSettingsChangeRequest(
            name=f"{COMPOUND}/settingsChanges/c-1", party=gacc.APPROVAL_PARTY_OWNERS_COMMITTEE, reason="不同意",
            request_id=rid())),
        "linli.governance.v1.TrustAccountService/ListSettingsChanges": (g, gacc.ListSettingsChangesRequest(
            compound_path=g)),
        "linli.governance.v1.TrustAccountService/ReverseTransfer": (g, gacc.ReverseTransferRequest(
            name=f"{COMPOUND}/transfers/t-1", reason="错记", request_id=rid())),
        "linli.governance.v1.TrustAccountService/GetTransfer": (g, gacc.GetTransferRequest(
            name=f"{COMPOUND}/transfers/t-1")),
        "linli.governance.v1.TrustAccountService/ListTransfers": (g, gacc.ListTransfersRequest(compound_path=g)),
        "linli.governance.v1.TrustAccountService/GetBalances": (g, gacc.GetBalancesRequest(compound_path=g)),
        "linli.governance.v1.TrustAccountService/CreateBudget": (g, gacc.CreateBudgetRequest(
            compound_path=g, year=2030, lines=[gacc.BudgetLine(code="cleaning", title="保洁", amount_fen=100)],
            request_id=rid())),
        "linli.governance.v1.TrustAccountService/GetBudget": (g, gacc.GetBudgetRequest(
            name=f"{COMPOUND}/budgets/2026")),
        "linli.governance.v1.TrustAccountService/UploadVoucher": (g, gacc.UploadVoucherRequest(
            compound_path=g, content=b"%PDF-1.4 test", media_type="application/pdf", filename="v.pdf",
            request_id=rid())),
        "linli.governance.v1.TrustAccountService/GetVoucher": (g, gacc.GetVoucherRequest(
            name=f"{COMPOUND}/vouchers/{'ab' * 32}")),
        "linli.governance.v1.GovernanceBodyService/GetOwnersCommittee": (g, gbod.GetOwnersCommitteeRequest(
            compound_path=g)),
        "linli.governance.v1.GovernanceBodyService/UpdateOwnersCommittee": (g, gbod.UpdateOwnersCommitteeRequest(
            committee=gbod.OwnersCommittee(compound_path=g, formation_date="2026-01-01"), request_id=rid())),
        "linli.governance.v1.GovernanceBodyService/ListCommitteeTerms": (g, gbod.ListCommitteeTermsRequest(
            compound_path=g)),
        "linli.governance.v1.GovernanceBodyService/StartCommitteeFormation": (g, gbod.StartCommitteeFormationRequest(
            compound_path=g, date="2026-01-01", request_id=rid())),
        "linli.governance.v1.GovernanceBodyService/NominateCommitteeCandidates": (
            g, gbod.NominateCommitteeCandidatesRequest(compound_path=g, request_id=rid())),
        "linli.governance.v1.GovernanceBodyService/CallCommitteeElection": (g, gbod.CallCommitteeElectionRequest(
            compound_path=g, close_time=ts(7), request_id=rid())),
        "linli.governance.v1.GovernanceBodyService/FileCommitteeTerm": (g, gbod.FileCommitteeTermRequest(
            compound_path=g, date="2026-01-01", filing_reference="备案1", request_id=rid())),
        "linli.governance.v1.GovernanceBodyService/GetCommitteeFormation": (g, gbod.GetCommitteeFormationRequest(
            compound_path=g)),
        "linli.governance.v1.GovernanceBodyService/GetTrustContract": (g, gbod.GetTrustContractRequest(
            compound_path=g)),
        "linli.governance.v1.GovernanceBodyService/UpdateTrustContract": (g, gbod.UpdateTrustContractRequest(
            contract=gbod.TrustContract(compound_path=g, trustee_name="物业", start_date="2026-01-01"),
            request_id=rid())),
        "linli.governance.v1.GovernanceBodyService/CreateMeetingRecord": (g, gbod.CreateMeetingRecordRequest(
            compound_path=g, date="2026-01-01", topics=["议题"], request_id=rid())),
        "linli.governance.v1.GovernanceBodyService/ListMeetingRecords": (g, gbod.ListMeetingRecordsRequest(
            compound_path=g)),
        "linli.governance.v1.GovernanceBodyService/RecordServiceLevel": (g, gbod.RecordServiceLevelRequest(
            compound_path=g, period="2026-01", code="cleaning", measured=1, request_id=rid())),
        "linli.governance.v1.GovernanceBodyService/ListServiceLevels": (g, gbod.ListServiceLevelsRequest(
            compound_path=g, period="2026-01")),
        "linli.governance.v1.ProjectService/CreateProject": (g, gprj.CreateProjectRequest(
            compound_path=g, kind=gprj.PROJECT_KIND_CLEANING, title="修灯", budget_line="repairs", budget_fen=100,
            request_id=rid())),
        "linli.governance.v1.ProjectService/GetProject": (g, gprj.GetProjectRequest(name=f"{COMPOUND}/projects/p-1")),
        "linli.governance.v1.ProjectService/ListProjects": (g, gprj.ListProjectsRequest(compound_path=g)),
        "linli.governance.v1.ProjectService/UpdateProjectStatus": (g, gprj.UpdateProjectStatusRequest(
            name=f"{COMPOUND}/projects/p-1", status=gprj.PROJECT_STATUS_IN_PROGRESS, request_id=rid())),
        "linli.governance.v1.DisclosureService/ClosePeriod": (g, gdis.ClosePeriodRequest(
            compound_path=g, period="2026-01", request_id=rid())),
        "linli.governance.v1.DisclosureService/GetDisclosure": (g, gdis.GetDisclosureRequest(
            name=f"{COMPOUND}/disclosures/2026-01")),
        "linli.governance.v1.DisclosureService/ListDisclosures": (g, gdis.ListDisclosuresRequest(compound_path=g)),
        "linli.governance.v1.DisclosureService/VerifyDisclosureChain": (g, gdis.VerifyDisclosureChainRequest(
            compound_path=g)),
        "linli.governance.v1.DisclosureService/FileObjection": (g, gdis.FileObjectionRequest(
            disclosure=f"{COMPOUND}/disclosures/2026-01", kind=gdis.OBJECTION_KIND_OBJECTION, text="为什么？",
            household_path=HOUSEHOLD, request_id=rid())),
        "linli.governance.v1.DisclosureService/ListObjections": (g, gdis.ListObjectionsRequest(
            disclosure=f"{COMPOUND}/disclosures/2026-01")),
        "linli.governance.v1.DisclosureService/AnswerObjection": (g, gdis.AnswerObjectionRequest(
            name=f"{COMPOUND}/disclosures/2026-01/objections/o-1", answer="答复", request_id=rid())),
        "linli.governance.v1.DisclosureService/CloseObjection": (g, gdis.CloseObjectionRequest(
            name=f"{COMPOUND}/disclosures/2026-01/objections/o-1", resolution=gdis.OBJECTION_RESOLUTION_ACCEPTED,
            request_id=rid())),
        "linli.governance.v1.VoteService/CreateVote": (g, gvote.CreateVoteRequest(
            compound_path=g, title="换物业", matter=gvote.VOTE_MATTER_OTHER, close_time=ts(7),
            request_id=rid())),
        "linli.governance.v1.VoteService/CastBallot": (g, gvote.CastBallotRequest(
            vote=f"{COMPOUND}/votes/v-1", household_path=HOUSEHOLD, choice=gvote.BALLOT_CHOICE_FOR,
            channel=gvote.BALLOT_CHANNEL_ONLINE, request_id=rid())),
        "linli.governance.v1.VoteService/GetBallot": (g, gvote.GetBallotRequest(
            vote=f"{COMPOUND}/votes/v-1", household_path=HOUSEHOLD)),
        "linli.governance.v1.VoteService/GetVote": (g, gvote.GetVoteRequest(name=f"{COMPOUND}/votes/v-1")),
        "linli.governance.v1.VoteService/ListVotes": (g, gvote.ListVotesRequest(path=g)),
        "linli.governance.v1.VoteService/RecountPaperBallot": (g, gvote.RecountPaperBallotRequest(
            vote=f"{COMPOUND}/votes/v-1", household_path=HOUSEHOLD, choice=gvote.BALLOT_CHOICE_FOR,
            request_id=rid())),
        "linli.governance.v1.VoteService/CloseVote": (g, gvote.CloseVoteRequest(name=f"{COMPOUND}/votes/v-1",
                                                                                request_id=rid())),
        "linli.governance.v1.VoteService/UpdateUnitOwner": (g, gvote.UpdateUnitOwnerRequest(
            unit_owner=gvote.UnitOwner(household_path=HOUSEHOLD, owner_id="o-1", owner_name="业主",
                                       holding=gvote.UNIT_HOLDING_OWNED), request_id=rid())),
        "linli.governance.v1.VoteService/ListOwners": (g, gvote.ListOwnersRequest(compound_path=g)),
        # -- partner-redemption ----------------------------------------------------------------
        "linli.redemption.v1.PartnerService/ListPartners": (f, radm.ListPartnersRequest(community_path=f)),
        "linli.redemption.v1.PartnerService/GetPartner": (f, radm.GetPartnerRequest(
            name="partners/jinchengyijing-health")),
        "linli.redemption.v1.PartnerService/CreatePartner": (f, radm.CreatePartnerRequest(
            partner_id="authz-shop", partner=rres.Partner(community_path=f, kind=rres.PARTNER_KIND_MERCHANT,
                                                          display_name="测试店"), request_id=rid())),
        "linli.redemption.v1.PartnerService/SetPartnerState": (f, radm.SetPartnerStateRequest(
            name="partners/jinchengyijing-health", state=rres.PARTNER_STATE_SUSPENDED)),
        "linli.redemption.v1.PartnerService/CreateTerminal": (f, radm.CreateTerminalRequest(
            parent=MERCHANT, terminal_id="authz-t2", display_name="till", request_id=rid())),
        "linli.redemption.v1.PartnerService/RotateTerminalSecret": (f, radm.RotateTerminalSecretRequest(
            name=f"{MERCHANT}/terminals/authz-till", request_id=rid())),
        "linli.redemption.v1.PartnerService/RevokeTerminal": (f, radm.RevokeTerminalRequest(
            name=f"{MERCHANT}/terminals/authz-till")),
        "linli.redemption.v1.PartnerService/ListTerminals": (f, radm.ListTerminalsRequest(parent=MERCHANT)),
        "linli.redemption.v1.CatalogService/CreateReward": (f, radm.CreateRewardRequest(
            parent=MERCHANT, reward_id="authz-r", reward=rres.Reward(display_name="水杯", points=10, stock=-1))),
        "linli.redemption.v1.CatalogService/GetReward": (f, radm.GetRewardRequest(name=f"{MERCHANT}/rewards/r-1")),
        "linli.redemption.v1.CatalogService/ListMerchantRewards": (f, radm.ListMerchantRewardsRequest(
            parent=MERCHANT)),
        "linli.redemption.v1.CatalogService/RestockReward": (f, radm.RestockRewardRequest(
            name=f"{MERCHANT}/rewards/r-1", units=1, request_id=rid())),
        "linli.redemption.v1.MemberCardService/IssueMemberCard": (f, radm.IssueMemberCardRequest(
            community_path=f, volunteer_id=V)),
        "linli.redemption.v1.MemberCardService/GetMemberCode": (f, radm.GetMemberCodeRequest(
            community_path=f, volunteer_id=V)),
        "linli.redemption.v1.SettlementService/GetMerchantSettlement": (f, radm.GetMerchantSettlementRequest(
            parent=MERCHANT, date="2026-01-05")),
        "linli.redemption.v1.SettlementService/ReconcileDay": (f, radm.ReconcileDayRequest(
            community_path=f, date="2026-01-05")),
        "linli.redemption.v1.SettlementService/SummarizeRedemptions": (f, radm.SummarizeRedemptionsRequest(
            community_paths=[f], start_date="2026-01-05")),
        "linli.redemption.v1.RedemptionAdminService/ListRedemptions": (f, radm.ListRedemptionsRequest(
            community_path=f)),
        "linli.redemption.v1.CommunityService/SetDutyRotation": (f, rcom.SetDutyRotationRequest(
            community_path=f, partner_ids=["u-1"], start_date="2026-01-05", period_days=7)),
        "linli.redemption.v1.CommunityService/ListDutyPeriods": (f, rcom.ListDutyPeriodsRequest(community_path=f)),
        "linli.redemption.v1.CommunityService/SwapDuty": (f, rcom.SwapDutyRequest(
            community_path=f, first_index=0, second_index=1, request_id=rid())),
        "linli.redemption.v1.CommunityService/CreateNeed": (f, rcom.CreateNeedRequest(
            community_path=f, title="需要", category="care", request_id=rid())),
        "linli.redemption.v1.CommunityService/ListNeeds": (f, rcom.ListNeedsRequest(community_path=f)),
        "linli.redemption.v1.CommunityService/CreateResource": (f, rcom.CreateResourceRequest(
            community_path=f, title="资源", category="care", partner_id="jinchengyijing-health",
            request_id=rid())),
        "linli.redemption.v1.CommunityService/ListResources": (f, rcom.ListResourcesRequest(community_path=f)),
        "linli.redemption.v1.CommunityService/SuggestResources": (f, rcom.SuggestResourcesRequest(
            community_path=f, need_id="n-1")),
        "linli.redemption.v1.CommunityService/CreateProject": (f, rcom.CreateProjectRequest(
            community_path=f, title="项目", need_id="n-1", resource_ids=["r-1"], owner="李社工",
            request_id=rid())),
        "linli.redemption.v1.CommunityService/GetProject": (f, rcom.GetProjectRequest(community_path=f,
                                                                                      project_id="p-1")),
        "linli.redemption.v1.CommunityService/StartProject": (f, rcom.StartProjectRequest(
            community_path=f, project_id="p-1", request_id=rid())),
        "linli.redemption.v1.CommunityService/CompleteProject": (f, rcom.CompleteProjectRequest(
            community_path=f, project_id="p-1", outcome="完成", request_id=rid())),
        "linli.redemption.v1.CommunityService/CancelProject": (f, rcom.CancelProjectRequest(
            community_path=f, project_id="p-1", reason="取消", request_id=rid())),
        "linli.redemption.v1.CommunityService/CloseProject": (f, rcom.CloseProjectRequest(
            community_path=f, project_id="p-1", outcome="结束")),
        "linli.redemption.v1.CommunityService/ListProjects": (f, rcom.ListProjectsRequest(community_path=f)),
        # PosService: terminal credentials only (a person's token is refused whatever its grants).
        "linli.redemption.v1.PosService/ResolveMemberCode": (f, rpos.ResolveMemberCodeRequest(
            member_code="12345678901234")),
        "linli.redemption.v1.PosService/ListRewards": (f, rpos.ListRewardsRequest(parent=MERCHANT)),
        "linli.redemption.v1.PosService/QuoteRedemption": (f, rpos.QuoteRedemptionRequest(
            reward=f"{MERCHANT}/rewards/r-1", member_session="s-1", quantity=1)),
        "linli.redemption.v1.PosService/Redeem": (f, rpos.RedeemRequest(
            reward=f"{MERCHANT}/rewards/r-1", member_session="s-1", quantity=1, request_id=rid(),
            expected_points=10)),
        "linli.redemption.v1.PosService/GetRedemption": (f, rpos.GetRedemptionRequest(
            name=f"{MERCHANT}/redemptions/r-1")),
        "linli.redemption.v1.PosService/CancelRedemption": (f, rpos.CancelRedemptionRequest(
            parent=MERCHANT, request_id=rid())),
        "linli.redemption.v1.PosService/RefundRedemption": (f, rpos.RefundRedemptionRequest(
            name=f"{MERCHANT}/redemptions/r-1", request_id=rid(), reason="退货")),
        "linli.redemption.v1.PosService/GetDailySettlement": (f, rpos.GetDailySettlementRequest(
            parent=MERCHANT, date="2026-01-05")),
        # -- notification ----------------------------------------------------------------------
        "linli.notification.v1.HelpRequestService/CreateHelpRequest": (f, nt.CreateHelpRequestRequest(
            parent=COMMUNITY, help_request=nt.HelpRequest(
                category="meal", reporter_role=nt.REPORTER_ROLE_RESIDENT, description="需要送餐",
                contact="138-0000-0000", compound_path=JINSHANG), request_id=rid())),
        "linli.notification.v1.HelpRequestService/GetHelpRequest": (f, nt.GetHelpRequestRequest(name=HELP_REQUEST)),
        "linli.notification.v1.HelpRequestService/ListHelpRequests": (f, nt.ListHelpRequestsRequest(
            parent=COMMUNITY)),
        "linli.notification.v1.HelpRequestService/AcknowledgeHelpRequest": (f, nt.AcknowledgeHelpRequestRequest(
            name=HELP_REQUEST, request_id=rid())),
        "linli.notification.v1.HelpRequestService/StartHelpRequest": (f, nt.StartHelpRequestRequest(
            name=HELP_REQUEST, request_id=rid())),
        "linli.notification.v1.HelpRequestService/ResolveHelpRequest": (f, nt.ResolveHelpRequestRequest(
            name=HELP_REQUEST, request_id=rid(), resolution="已送餐")),
        "linli.notification.v1.HelpRequestService/RecordFollowUp": (f, nt.RecordFollowUpRequest(
            name=f"{HELP_REQUEST}/followUps/1", request_id=rid(), note="回访")),
        "linli.notification.v1.HelpRequestService/CloseHelpRequest": (f, nt.CloseHelpRequestRequest(
            name=HELP_REQUEST, request_id=rid())),
        "linli.notification.v1.HelpRequestService/CancelHelpRequest": (f, nt.CancelHelpRequestRequest(
            name=HELP_REQUEST, request_id=rid(), reason="不需要了")),
        "linli.notification.v1.HelpRequestService/RecordThanks": (f, nt.RecordThanksRequest(
            name=HELP_REQUEST, request_id=rid(), thanks=_thanks())),
        "linli.notification.v1.HelpRequestService/ListCommunityThanks": (f, nt.ListCommunityThanksRequest(
            parent=COMMUNITY)),
        "linli.notification.v1.HelpRequestService/SummarizeHelpRequests": (f, nt.SummarizeHelpRequestsRequest(
            parent=COMMUNITY)),
        "linli.notification.v1.DutyRosterService/GetCommunitySettings": (f, nt.GetCommunitySettingsRequest(
            name=f"{COMMUNITY}/settings")),
        "linli.notification.v1.DutyRosterService/UpdateCommunitySettings": (f, nt.UpdateCommunitySettingsRequest(
            settings=nt.CommunitySettings(name=f"{COMMUNITY}/settings", head_id="worker-he"))),
        "linli.notification.v1.DutyRosterService/CreateDutyShift": (f, nt.CreateDutyShiftRequest(
            parent=COMMUNITY, duty_shift=nt.DutyShift(weekday=1, start_time="08:00", end_time="09:00",
                                                      worker_id="worker-li"), request_id=rid())),
        "linli.notification.v1.DutyRosterService/ListDutyShifts": (f, nt.ListDutyShiftsRequest(parent=COMMUNITY)),
        "linli.notification.v1.DutyRosterService/DeleteDutyShift": (f, nt.DeleteDutyShiftRequest(
            name=f"{COMMUNITY}/dutyShifts/s-fengshu-sat")),
        "linli.notification.v1.DutyRosterService/CreateDutySwap": (f, nt.CreateDutySwapRequest(
            parent=COMMUNITY, duty_swap=nt.DutySwap(date="2030-01-05", from_worker_id="worker-li",
                                                    to_worker_id="worker-zhao"), request_id=rid())),
        "linli.notification.v1.DutyRosterService/GetOnDuty": (f, nt.GetOnDutyRequest(parent=COMMUNITY)),
        "linli.notification.v1.DutyRosterService/CreateProvider": (f, nt.CreateProviderRequest(
            parent=COMMUNITY, provider=nt.Provider(display_name="小馆", category="meal", phone="028-0000"),
            request_id=rid())),
        "linli.notification.v1.DutyRosterService/ListProviders": (f, nt.ListProvidersRequest(parent=COMMUNITY)),
        # A Fengshu person's inbox (the demo worker Li's account).
        "linli.notification.v1.InboxService/ListNotices": (f, nt.ListNoticesRequest(
            parent=f"recipients/{WORKER_LI}")),
        "linli.notification.v1.InboxService/MarkNoticeRead": (f, nt.MarkNoticeReadRequest(
            name=f"recipients/{WORKER_LI}/notices/n-1")),
        "linli.notification.v1.InboxService/GetPreferences": (f, nt.GetPreferencesRequest(
            name=f"recipients/{WORKER_LI}/preferences")),
        "linli.notification.v1.InboxService/UpdatePreferences": (f, nt.UpdatePreferencesRequest(
            preferences=nt.Preferences(name=f"recipients/{WORKER_LI}/preferences", language="zh"))),
        "linli.notification.v1.OneTimeCodeService/SendOneTimeCode": (f, otc.SendOneTimeCodeRequest(
            phone="+8613800000099", code="123456", purpose=otc.ONE_TIME_CODE_PURPOSE_SIGN_IN, request_id=rid())),
        # -- identity: Fengshu's people and grants ---------------------------------------------
        "linli.identity.v1.AccountService/GetAccount": (f, idn.GetAccountRequest(name=f"accounts/{WORKER_LI}")),
        "linli.identity.v1.AccountService/ListAccounts": (f, idn.ListAccountsRequest(scope=f)),
        "linli.identity.v1.AccountService/DisableAccount": (f, idn.DisableAccountRequest(
            name=f"accounts/{WORKER_LI}", reason="离职", request_id=rid())),
        "linli.identity.v1.AccountService/EnableAccount": (f, idn.EnableAccountRequest(
            name=f"accounts/{WORKER_LI}", reason="复职", request_id=rid())),
        "linli.identity.v1.GrantService/CreateGrant": (f, idn.CreateGrantRequest(
            parent=f"accounts/{WORKER_LI}", grant=idn.Grant(role="volunteer", scope=f, reason="报名"),
            request_id=rid())),
        "linli.identity.v1.GrantService/RevokeGrant": (f, idn.RevokeGrantRequest(
            name=f"accounts/{WORKER_LI}/grants/grt_aaaaaaaaaaaaaaaaaaaa", reason="撤销", request_id=rid())),
        "linli.identity.v1.GrantService/ListGrants": (f, idn.ListGrantsRequest(parent="accounts/-", scope=f)),
        # Household claims of Fengshu's Jinshang Chuntian: listed and decided only by those who may
        # bind owners there (a claim nobody filed is as unknown as another place's).
        "linli.identity.v1.HouseholdClaimService/GetHouseholdClaim": (f, idn.GetHouseholdClaimRequest(
            name="householdClaims/hcl_aaaaaaaaaaaaaaaaaaaa")),
        "linli.identity.v1.HouseholdClaimService/ListHouseholdClaims": (f, idn.ListHouseholdClaimsRequest(
            parent="accounts/-", scope=JINSHANG)),
        "linli.identity.v1.HouseholdClaimService/ApproveHouseholdClaim": (f, idn.ApproveHouseholdClaimRequest(
            name="householdClaims/hcl_aaaaaaaaaaaaaaaaaaaa", reason="核对名册", request_id=rid())),
        "linli.identity.v1.HouseholdClaimService/RejectHouseholdClaim": (f, idn.RejectHouseholdClaimRequest(
            name="householdClaims/hcl_aaaaaaaaaaaaaaaaaaaa", reason="名册不符", request_id=rid())),
        # Signing keys are the whole platform's: platform admins only.
        "linli.identity.v1.SigningKeyService/ListSigningKeys": ("", idn.ListSigningKeysRequest()),
        "linli.identity.v1.SigningKeyService/RotateSigningKeys": ("", idn.RotateSigningKeysRequest(
            reason="轮换", request_id=rid())),
        # -- every service: the runtime's dead letters (operators only; one of another place is
        # as unknown as an id nobody uses) ---------------------------------------------------------
        "linli.runtime.v1.DeadLetterService/GetDeadLetter": (f, dl.GetDeadLetterRequest(name="deadLetters/999999")),
        "linli.runtime.v1.DeadLetterService/ReplayDeadLetter": (f, dl.ReplayDeadLetterRequest(
            name="deadLetters/999999", reason="原因已排除", request_id=rid())),
        "linli.runtime.v1.DeadLetterService/DiscardDeadLetter": (f, dl.DiscardDeadLetterRequest(
            name="deadLetters/999999", reason="误发", request_id=rid())),
    }
    return {f"/{name}": Call(target, request) for name, (target, request) in table.items()}


# RPCs that name no place, by design — left out of the sibling rows (each still needs a good
# token, and the UNAUTHENTICATED rows cover them).
UNSCOPED = {
    # Any administrator (a community worker anywhere…) may make a person's account: an account
    # holds nothing until someone with authority over a place grants it a role there.
    "/linli.identity.v1.AccountService/CreateAccount": "an account is at no place until granted",
    # Any person may ask to be bound to a unit: the claim binds nothing until someone with
    # authority there approves it (tests/integration/identity/test_household_claims.py).
    "/linli.identity.v1.HouseholdClaimService/CreateHouseholdClaim": "a request, deciding nothing",
    # Operators list the dead letters of the places they operate (a city operator their city's,
    # an administrator all): the list names no place; others are refused (test_dead_letters.py).
    "/linli.runtime.v1.DeadLetterService/ListDeadLetters": "lists by the caller's operator grants",
}

# Deliberately public: no credentials at all (probes and tooling; the OIDC endpoints are HTTP).
PUBLIC = (
    "/grpc.health.v1.Health/",  # readiness and liveness probes
    "/grpc.reflection.",  # grpcurl and other tools list and describe the API
)
