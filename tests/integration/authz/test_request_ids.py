"""One request-id rule across services (issue 14 item 10): every RPC that takes an AIP-155
`request_id` refuses a malformed one the same way — INVALID_ARGUMENT naming the field
`request_id`, with the one description `linli_runtime.fields.request_id` gives — whichever
service serves it and whether the id is optional or required there.

The RPCs are those the running servers serve (reflection), their requests the authorisation
table's well-formed ones (`rpc_requests.py`), sent by a platform administrator (the POS API by
its terminal, approvals by the owners' committee, one-time codes by the identity service) with
only the request id spoiled — where a row of that table fails another check of form first, a
complete request (`COMPLETE`) stands in for it — so the answer is the request id's."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from linli.governance.v1 import account_pb2 as gacc
from linli.governance.v1 import bodies_pb2 as gbod
from linli.redemption.v1 import admin_pb2 as radm
from linli_runtime import fields
from linli_runtime.auth import Role
from linli_runtime.errors import InvalidArgument
from tests.integration.authz.conftest import Platform, grpc_services
from tests.integration.authz.rpc_requests import MERCHANT, SHENGJIAN, requests
from tests.integration.authz.test_every_rpc import POS_API, bearer, rpcs

pytestmark = pytest.mark.xdist_group("authz-table")  # the authz platform (package-scoped), one worker

BAD_IDS = ["has space", "x" * 129, "中文"]
G = SHENGJIAN
VOUCHER = gacc.Voucher(file_ref="v.pdf", sha256="ab" * 32)
CHAIR, MEMBER = gbod.COMMITTEE_ROLE_CHAIR, gbod.COMMITTEE_ROLE_MEMBER
OWNERS = [gbod.PreparatoryMember(display_name=f"业主{i}", party=gbod.PREPARATORY_PARTY_OWNER,
                                 household_path=f"{G}/b1-10{i}") for i in range(1, 3)]

# Complete requests for the rows of the authorisation table that stop at another field's check
# (that table needs only what precedes the authorisation).
COMPLETE: dict[str, Message] = {
    "/linli.governance.v1.GovernanceBodyService/UpdateOwnersCommittee": gbod.UpdateOwnersCommitteeRequest(
        committee=gbod.OwnersCommittee(compound_path=G, formation_date="2026-03-01", term_end_date="2031-02-28",
                                       members=[gbod.CommitteeMember(display_name="张主任", role=CHAIR),
                                                gbod.CommitteeMember(display_name="李委员", role=MEMBER)])),
    "/linli.governance.v1.GovernanceBodyService/StartCommitteeFormation": gbod.StartCommitteeFormationRequest(
        compound_path=G, date="2026-11-01", preparatory_group=[
            gbod.PreparatoryMember(display_name="街道办 周", party=gbod.PREPARATORY_PARTY_STREET_OFFICE),
            gbod.PreparatoryMember(display_name="社区党委 陈", party=gbod.PREPARATORY_PARTY_COMMUNITY), *OWNERS]),
    "/linli.governance.v1.GovernanceBodyService/NominateCommitteeCandidates": gbod.NominateCommitteeCandidatesRequest(
        compound_path=G, candidates=[gbod.CommitteeMember(display_name=f"候选人{i}", role=CHAIR if i == 1 else MEMBER,
                                                          household_path=f"{G}/b1-10{i}") for i in range(1, 6)]),
    "/linli.governance.v1.GovernanceBodyService/UpdateTrustContract": gbod.UpdateTrustContractRequest(
        contract=gbod.TrustContract(compound_path=G, trustee_name="物业", start_date="2026-01-01",
                                    end_date="2028-12-31", supervisor_name="信托监察人 王",
                                    remuneration=gbod.RemunerationRule(fixed_fen=100))),
    "/linli.governance.v1.GovernanceBodyService/CreateMeetingRecord": gbod.CreateMeetingRecordRequest(
        compound_path=G, date="2026-10-12", topics=["议题"], decisions=["决定"], attendees=[
            gbod.Attendee(display_name="社区党委 陈", party=gbod.MEETING_PARTY_PARTY_ORGANISATION),
            gbod.Attendee(display_name="业委会 张主任", party=gbod.MEETING_PARTY_OWNERS_COMMITTEE),
            gbod.Attendee(display_name="物业 陈经理", party=gbod.MEETING_PARTY_PROPERTY_COMPANY)]),
    "/linli.governance.v1.TrustAccountService/UpdateAccountSettings": gacc.UpdateAccountSettingsRequest(
        settings=gacc.AccountSettings(compound_path=G, approval_threshold_fen=100_000, surplus_share_basis_points=2_000,
                                      period_kind=gacc.PERIOD_KIND_MONTHLY)),
    "/linli.governance.v1.TrustAccountService/RecordExpense": gacc.RecordExpenseRequest(
        compound_path=G, budget_line="cleaning", amount_fen=100, memo="保洁", voucher=VOUCHER, counterparty="保洁部"),
    "/linli.governance.v1.TrustAccountService/SpendMaintenanceFund": gacc.SpendMaintenanceFundRequest(
        compound_path=G, owners_decision="compounds/" + G.replace("/", "~") + "/votes/v-1", amount_fen=100,
        memo="维修", voucher=VOUCHER, counterparty="维修部"),
    "/linli.redemption.v1.CatalogService/RestockReward": radm.RestockRewardRequest(
        name=f"{MERCHANT}/rewards/blood-pressure-check", units=1),
}
# Who may make the change at all (a platform administrator may not approve for the owners).
OWNERS_COMMITTEE = {"/linli.governance.v1.TrustAccountService/" + m for m in (
    "ApproveTransfer", "RejectTransfer", "ApproveSettingsChange", "RejectSettingsChange")}
IDENTITY_SERVICE = {"/linli.notification.v1.OneTimeCodeService/SendOneTimeCode"}


def caller(platform: Platform, full: str) -> tuple[tuple[str, str], ...]:
    if full.startswith(POS_API):
        return (("authorization", platform.terminal_authorization),)
    if full in OWNERS_COMMITTEE:
        return bearer(platform.token(Role.OWNERS_COMMITTEE.value, G))
    if full in IDENTITY_SERVICE:
        return bearer(platform.issuer.issue_service_token("identity"))
    return bearer(platform.issuer.issue("authz-admin", role=Role.PLATFORM_ADMIN))


def the_rule(bad: str) -> str:
    """What the one rule says of `bad`."""
    with pytest.raises(InvalidArgument) as refused:
        fields.request_id(bad)
    [violation] = refused.value.violations
    assert violation.field == "request_id"
    return violation.description


def field_violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    found = []
    for detail in status.details if status is not None else []:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found += [(v.field, v.description) for v in bad.field_violations]
    return found


@pytest.mark.parametrize("bad", BAD_IDS, ids=["space", "129 characters", "not ascii"])
def test_a_malformed_request_id_is_refused_by_the_one_rule_everywhere(platform: Platform, bad: str) -> None:
    expected = [("request_id", the_rule(bad))]
    table = requests()
    failures, checked = [], 0
    for service in grpc_services():
        for full, _ in rpcs(platform, service):
            row = table.get(full)
            if row is None or "request_id" not in row.request.DESCRIPTOR.fields_by_name:
                continue
            request = type(row.request)()
            request.CopyFrom(COMPLETE.get(full, row.request))
            request.request_id = bad  # type: ignore[attr-defined]
            stub = platform.channel(service).unary_unary(full, request_serializer=lambda m: m.SerializeToString(),
                                                         response_deserializer=lambda b: b)
            checked += 1
            try:
                stub(request, metadata=caller(platform, full), timeout=30)
            except grpc.RpcError as error:
                code, shown = error.code(), field_violations(error)  # type: ignore[attr-defined]
                if (code, shown) != (grpc.StatusCode.INVALID_ARGUMENT, expected):
                    failures.append(f"{full}: {code.name} {shown or error.details()}")  # type: ignore[attr-defined]
                continue
            failures.append(f"{full}: accepted request_id {bad!r}")
    assert failures == [] and checked > 40, (checked, failures)
