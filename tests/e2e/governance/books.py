"""Opening a compound's books on a running platform (the services' real clock), the way a new
compound does it: households, a budget the owners approve by a vote, then spending. Used by the
end-to-end tests of the CLI and the portal on compounds of their own."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from linli.governance.v1 import account_pb2, account_pb2_grpc, org_pb2, org_pb2_grpc, vote_pb2, vote_pb2_grpc
from linli_runtime.testing.errors import error_info
from linli_runtime.testing.waiting import wait_until
from linli_runtime.times import SHANGHAI


def rid() -> str:
    return uuid.uuid4().hex


async def add_households(channel: grpc.aio.Channel, compound: str, count: int = 2) -> list[str]:
    """Building `b1` with households `h001`…, 90 m² each."""
    org = org_pb2_grpc.OrgServiceStub(channel)
    building = (await org.CreateOrgUnit(org_pb2.CreateOrgUnitRequest(
        parent_path=compound, slug="b1", kind=org_pb2.ORG_UNIT_KIND_BUILDING, display_name="1栋",
        request_id=rid()))).org_unit.path
    homes = []
    for i in range(count):
        home = (await org.CreateOrgUnit(org_pb2.CreateOrgUnitRequest(
            parent_path=building, slug=f"h{i + 1:03d}", kind=org_pb2.ORG_UNIT_KIND_HOUSEHOLD,
            display_name=f"{i + 1}号", exclusive_area_dm2=9_000, request_id=rid()))).org_unit.path
        homes.append(home)
    return homes


async def owners_approve(channel: grpc.aio.Channel, compound: str, budget: str, households: list[str]) -> str:
    """A BUDGET vote every household votes for, closed as soon as its close time has passed.
    Returns the vote's name. The services run as processes on the real clock, so the close time
    leaves two seconds per ballot: with one second, a loaded machine closed the vote before the
    last ballot was cast."""
    votes = vote_pb2_grpc.VoteServiceStub(channel)
    close = Timestamp()
    close.FromDatetime(datetime.now(UTC) + timedelta(seconds=1 + 2 * len(households)))
    vote = (await votes.CreateVote(vote_pb2.CreateVoteRequest(
        compound_path=compound, title="年度预算表决 Budget vote", matter=vote_pb2.VOTE_MATTER_BUDGET,
        subject=budget, close_time=close, request_id=rid()))).vote
    for home in households:
        await votes.CastBallot(vote_pb2.CastBallotRequest(
            vote=vote.name, household_path=home, choice=vote_pb2.BALLOT_CHOICE_FOR,
            channel=vote_pb2.BALLOT_CHANNEL_ONLINE, request_id=rid()))
    request = vote_pb2.CloseVoteRequest(name=vote.name, request_id=rid())

    async def closed() -> bool:
        try:
            await votes.CloseVote(request)
        except grpc.aio.AioRpcError as error:
            reason = error_info(error)[0]
            if reason == "VOTE_STILL_OPEN":
                return False
            if reason != "VOTE_CLOSED":  # VOTE_CLOSED: the service closed it on schedule meanwhile
                raise
        return True

    await wait_until(closed, what="the budget vote to reach its close time")
    return str(vote.name)


async def approved_budget(channel: grpc.aio.Channel, compound: str, households: list[str],
                          lines: list[account_pb2.BudgetLine]) -> account_pb2.Budget:
    """This year's budget (in Shanghai), approved by the owners."""
    accounts = account_pb2_grpc.TrustAccountServiceStub(channel)
    year = datetime.now(SHANGHAI).year
    draft = (await accounts.CreateBudget(account_pb2.CreateBudgetRequest(
        compound_path=compound, year=year, lines=lines, request_id=rid()))).budget
    await owners_approve(channel, compound, draft.name, households)
    budget: account_pb2.Budget = (await accounts.GetBudget(account_pb2.GetBudgetRequest(name=draft.name))).budget
    return budget


def invoice_pdf(text: str) -> bytes:
    """A small PDF saying `text` (ASCII): an invoice as the tests upload it."""
    stream = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
    return (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
            + f"4 0 obj<</Length {len(stream)}>>stream\n".encode() + stream + b"\nendstream endobj\n%%EOF\n")


async def spend(channel: grpc.aio.Channel, compound: str, line: str, amount_fen: int, *, memo: str = "",
                counterparty: str = "测试保洁服务部") -> account_pb2.Transfer:
    """An expense the real way: its invoice uploaded first, then named by its hash."""
    accounts = account_pb2_grpc.TrustAccountServiceStub(channel)
    stored = (await accounts.UploadVoucher(account_pb2.UploadVoucherRequest(
        compound_path=compound, content=invoice_pdf(f"{line} {rid()}"), media_type="application/pdf",
        filename=f"{line}.pdf", request_id=rid()))).voucher
    transfer: account_pb2.Transfer = (await accounts.RecordExpense(account_pb2.RecordExpenseRequest(
        compound_path=compound, budget_line=line, amount_fen=amount_fen, memo=memo,
        voucher=account_pb2.Voucher(file_ref=stored.filename, sha256=stored.sha256), counterparty=counterparty,
        request_id=rid()))).transfer
    return transfer
