"""Governance bodies (committee, trust contract with its remuneration rule, three-party
meetings) and improvement projects drawn from the trust account."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest

from linli.governance.v1 import account_pb2, bodies_pb2, disclosure_pb2, project_pb2

from .conftest import Governance
from .helpers import (
    JIANGNANTING,
    JINSHENG,
    build_chongzhou,
    expect_error,
    expense,
    income,
    rid,
    upload_voucher,
    with_budget,
)

CHAIR, MEMBER = bodies_pb2.COMMITTEE_ROLE_CHAIR, bodies_pb2.COMMITTEE_ROLE_MEMBER


@pytest.fixture
async def books(gov: Governance) -> Governance:
    await build_chongzhou(gov)
    await with_budget(gov, JINSHENG)
    return gov


def committee(**change: object) -> bodies_pb2.OwnersCommittee:
    fields: dict[str, object] = dict(
        compound_path=JINSHENG,
        formation_date="2026-03-01",
        term_end_date="2031-02-28",
        members=[
            bodies_pb2.CommitteeMember(display_name="张主任", role=CHAIR),
            bodies_pb2.CommitteeMember(display_name="李委员", role=MEMBER),
        ],
    )
    fields.update(change)
    return bodies_pb2.OwnersCommittee(**fields)  # type: ignore[arg-type]


def contract(**remuneration: int) -> bodies_pb2.TrustContract:
    return bodies_pb2.TrustContract(
        compound_path=JINSHENG,
        trustee_name="崇州某物业服务有限公司",
        start_date="2026-01-01",
        end_date="2028-12-31",
        remuneration=bodies_pb2.RemunerationRule(**remuneration),
        service_standards=[
            bodies_pb2.ServiceStandard(code="sweeping", description="公共区域每日清扫", unit="times per week", target=7)
        ],
        supervisor_name="信托监察人 王",
    )


async def test_committee_is_kept_whole_and_validated(books: Governance) -> None:
    keeper = books.caller("party_committee", JINSHENG)
    saved = (
        await keeper(
            books.bodies.UpdateOwnersCommittee,
            bodies_pb2.UpdateOwnersCommitteeRequest(committee=committee(), request_id=rid()),
        )
    ).committee
    assert [m.display_name for m in saved.members] == ["张主任", "李委员"]
    got = await keeper(books.bodies.GetOwnersCommittee, bodies_pb2.GetOwnersCommitteeRequest(compound_path=JINSHENG))
    assert got.committee == saved
    for bad, field in [
        (committee(formation_date="2026-3-1"), "committee.formation_date"),
        (committee(term_end_date="2025-01-01"), "committee.term_end_date"),
        (committee(members=[]), "committee.members"),
        (committee(members=[bodies_pb2.CommitteeMember(display_name="a", role=MEMBER)]), "committee.members"),
        (
            committee(
                members=[
                    bodies_pb2.CommitteeMember(display_name="a", role=CHAIR),
                    bodies_pb2.CommitteeMember(display_name="", role=MEMBER),
                ]
            ),
            "committee.members[1].display_name",
        ),
    ]:
        await expect_error(
            keeper(books.bodies.UpdateOwnersCommittee, bodies_pb2.UpdateOwnersCommitteeRequest(committee=bad)),
            grpc.StatusCode.INVALID_ARGUMENT,
            field=field,
        )
    fake_vote = f"compounds/{JINSHENG.replace('/', '~')}/votes/nope"
    await expect_error(
        keeper(
            books.bodies.UpdateOwnersCommittee,
            bodies_pb2.UpdateOwnersCommitteeRequest(committee=committee(elected_by_vote=fake_vote)),
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    outsider = books.caller("party_committee", JIANGNANTING)
    await expect_error(
        outsider(books.bodies.GetOwnersCommittee, bodies_pb2.GetOwnersCommitteeRequest(compound_path=JINSHENG)),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    await expect_error(
        keeper(books.bodies.GetOwnersCommittee, bodies_pb2.GetOwnersCommitteeRequest(compound_path=JIANGNANTING)),
        grpc.StatusCode.PERMISSION_DENIED,
    )


async def test_trustee_is_paid_by_the_contract_rule_before_the_surplus_is_shared(books: Governance) -> None:
    committee_member = books.caller("owners_committee", JINSHENG)
    for bad, field in [
        (contract(), "contract.remuneration"),
        (contract(fixed_fen=1, income_share_basis_points=1), "contract.remuneration"),
        (contract(income_share_basis_points=10_001), "contract.remuneration.income_share_basis_points"),
        (contract(fixed_fen=-1), "contract.remuneration.fixed_fen"),
    ]:
        await expect_error(
            committee_member(books.bodies.UpdateTrustContract, bodies_pb2.UpdateTrustContractRequest(contract=bad)),
            grpc.StatusCode.INVALID_ARGUMENT,
            field=field,
        )
    # 10 % of the period's income, capped at 500 yuan.
    await committee_member(
        books.bodies.UpdateTrustContract,
        bodies_pb2.UpdateTrustContractRequest(
            contract=contract(income_share_basis_points=1_000, cap_fen=50_000), request_id=rid()
        ),
    )
    trustee = books.caller("trustee", JINSHENG)
    books.clock.set(datetime(2026, 8, 10, tzinfo=UTC))
    await income(books, trustee, JINSHENG, 1_000_000)
    await expense(books, trustee, JINSHENG, 200_000)
    books.clock.set(datetime(2026, 9, 1, 1, tzinfo=UTC))
    august = (
        await trustee(
            books.disclosures.ClosePeriod,
            disclosure_pb2.ClosePeriodRequest(compound_path=JINSHENG, period="2026-08", request_id=rid()),
        )
    ).disclosure
    lines = {line.account: line.amount_fen for line in august.expenses}
    assert lines == {"expense:cleaning": 200_000, "expense:trustee_remuneration": 50_000}
    assert (august.expense_fen, august.to_maintenance_fund_fen) == (250_000, 225_000)  # 30 % of 750,000
    assert august.operating_balance_fen == 525_000
    verified = await books.admin(
        books.disclosures.VerifyDisclosureChain, disclosure_pb2.VerifyDisclosureChainRequest(compound_path=JINSHENG)
    )
    assert verified.valid
    # A fixed remuneration is paid as it stands.
    await committee_member(
        books.bodies.UpdateTrustContract,
        bodies_pb2.UpdateTrustContractRequest(contract=contract(fixed_fen=80_000), request_id=rid()),
    )
    books.clock.set(datetime(2026, 9, 10, tzinfo=UTC))
    await income(books, trustee, JINSHENG, 100_000)
    books.clock.set(datetime(2026, 10, 1, 1, tzinfo=UTC))
    september = (
        await trustee(
            books.disclosures.ClosePeriod,
            disclosure_pb2.ClosePeriodRequest(compound_path=JINSHENG, period="2026-09", request_id=rid()),
        )
    ).disclosure
    assert {line.account: line.amount_fen for line in september.expenses} == {"expense:trustee_remuneration": 80_000}
    got = await trustee(books.bodies.GetTrustContract, bodies_pb2.GetTrustContractRequest(compound_path=JINSHENG))
    assert got.contract.remuneration.fixed_fen == 80_000 and got.contract.service_standards[0].target == 7


async def test_three_party_meetings_need_all_three_parties(books: Governance) -> None:
    keeper = books.caller("party_committee", JINSHENG)
    parties = [
        bodies_pb2.Attendee(display_name="社区党委 刘书记", party=bodies_pb2.MEETING_PARTY_PARTY_ORGANISATION),
        bodies_pb2.Attendee(display_name="业委会 张主任", party=bodies_pb2.MEETING_PARTY_OWNERS_COMMITTEE),
        bodies_pb2.Attendee(display_name="物业 陈经理", party=bodies_pb2.MEETING_PARTY_PROPERTY_COMPANY),
    ]
    await expect_error(
        keeper(
            books.bodies.CreateMeetingRecord,
            bodies_pb2.CreateMeetingRecordRequest(
                compound_path=JINSHENG, date="2026-10-12", attendees=parties[:2], decisions=["x"]
            ),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="attendees",
    )
    await expect_error(
        keeper(
            books.bodies.CreateMeetingRecord,
            bodies_pb2.CreateMeetingRecordRequest(compound_path=JINSHENG, date="2026-10-12", attendees=parties),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="decisions",
    )
    meeting = (
        await keeper(
            books.bodies.CreateMeetingRecord,
            bodies_pb2.CreateMeetingRecordRequest(
                compound_path=JINSHENG,
                date="2026-10-12",
                attendees=parties,
                topics=["飞线整治 overhead wires"],
                decisions=["本月完成飞线整治 tidy the wires this month"],
                request_id=rid(),
            ),
        )
    ).meeting
    listed = await keeper(books.bodies.ListMeetingRecords, bodies_pb2.ListMeetingRecordsRequest(compound_path=JINSHENG))
    assert [m.name for m in listed.meetings] == [meeting.name]


async def test_project_spending_comes_from_the_ledger(books: Governance) -> None:
    trustee = books.caller("trustee", JINSHENG)
    await income(books, trustee, JINSHENG, 1_000_000)
    shed = (
        await trustee(
            books.projects.CreateProject,
            project_pb2.CreateProjectRequest(
                compound_path=JINSHENG,
                kind=project_pb2.PROJECT_KIND_EBIKE_CHARGING_SHED,
                title="电动车充电棚 e-bike shed",
                budget_line="ebike_shed",
                budget_fen=450_000,
                request_id=rid(),
            ),
        )
    ).project
    assert shed.status == project_pb2.PROJECT_STATUS_PLANNED

    async def spend(amount: int, line: str = "ebike_shed") -> account_pb2.Transfer:
        reply = await trustee(
            books.account.RecordExpense,
            account_pb2.RecordExpenseRequest(
                compound_path=JINSHENG,
                budget_line=line,
                amount_fen=amount,
                voucher=await upload_voucher(books, JINSHENG),
                counterparty="崇州某电动车棚安装队",
                project=shed.name,
                request_id=rid(),
            ),
        )
        return reply.transfer

    first = await spend(300_000)
    assert first.project == shed.name
    await spend(100_000)
    await trustee(
        books.account.ReverseTransfer,
        account_pb2.ReverseTransferRequest(name=first.name, reason="wrong supplier", request_id=rid()),
    )
    await expect_error(spend(10, "cleaning"), grpc.StatusCode.FAILED_PRECONDITION, reason="PROJECT_WRONG_LINE")
    got = (await trustee(books.projects.GetProject, project_pb2.GetProjectRequest(name=shed.name))).project
    assert got.spent_fen == 100_000
    done = (
        await trustee(
            books.projects.UpdateProjectStatus,
            project_pb2.UpdateProjectStatusRequest(
                name=shed.name,
                status=project_pb2.PROJECT_STATUS_IN_PROGRESS,
                photo_refs=["photos/shed-before.jpg"],
                request_id=rid(),
            ),
        )
    ).project
    done = (
        await trustee(
            books.projects.UpdateProjectStatus,
            project_pb2.UpdateProjectStatusRequest(
                name=shed.name,
                status=project_pb2.PROJECT_STATUS_COMPLETED,
                photo_refs=["photos/shed-after.jpg"],
                request_id=rid(),
            ),
        )
    ).project
    assert list(done.photo_refs) == ["photos/shed-before.jpg", "photos/shed-after.jpg"]
    await expect_error(spend(10), grpc.StatusCode.FAILED_PRECONDITION, reason="PROJECT_CLOSED")
    await expect_error(
        trustee(
            books.projects.UpdateProjectStatus,
            project_pb2.UpdateProjectStatusRequest(name=shed.name, status=project_pb2.PROJECT_STATUS_PLANNED),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="PROJECT_STATUS_ORDER",
    )
    for request, field in [
        (project_pb2.CreateProjectRequest(compound_path=JINSHENG, title="t", budget_line="x", budget_fen=1), "kind"),
        (
            project_pb2.CreateProjectRequest(compound_path=JINSHENG, kind=1, title="", budget_line="x", budget_fen=1),
            "title",
        ),
        (
            project_pb2.CreateProjectRequest(compound_path=JINSHENG, kind=1, title="t", budget_line="x", budget_fen=0),
            "budget_fen",
        ),
    ]:
        await expect_error(
            trustee(books.projects.CreateProject, request), grpc.StatusCode.INVALID_ARGUMENT, field=field
        )
    listed = await trustee(books.projects.ListProjects, project_pb2.ListProjectsRequest(compound_path=JINSHENG))
    assert [p.spent_fen for p in listed.projects] == [100_000]
    outsider = books.caller("trustee", JIANGNANTING)
    await expect_error(
        outsider(books.projects.GetProject, project_pb2.GetProjectRequest(name=shed.name)),
        grpc.StatusCode.PERMISSION_DENIED,
    )
