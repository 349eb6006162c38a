"""Period close and sealed disclosures: randomized postings against the ledger, tampering,
the close rules, the published event, objections with deadlines."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import grpc
import pytest
import sqlalchemy as sa
from linli_governance.sealing import seal
from linli_governance.tables import DISCLOSURES as disclosures_table
from linli_governance.tables import TRANSFERS as transfers_table

from linli.events.v1 import governance_pb2 as events_pb2
from linli.governance.v1 import account_pb2, disclosure_pb2
from linli_runtime.auth import PrincipalKind
from linli_runtime.testing.waiting import wait_until

from .conftest import Governance
from .helpers import (
    JIANGNANTING,
    JINSHENG,
    balances,
    build_chongzhou,
    expect_error,
    expense,
    income,
    rid,
    with_budget,
)
from .test_org_tree import governance_events

COMMITTEE = account_pb2.APPROVAL_PARTY_OWNERS_COMMITTEE
SUPERVISOR = account_pb2.APPROVAL_PARTY_SUPERVISOR
CATEGORIES = [
    account_pb2.INCOME_CATEGORY_PROPERTY_FEES,
    account_pb2.INCOME_CATEGORY_PARKING,
    account_pb2.INCOME_CATEGORY_ADVERTISING,
    account_pb2.INCOME_CATEGORY_EBIKE_CHARGING,
]
LINES = ["cleaning", "repairs", "ebike_shed"]


@pytest.fixture
async def books(gov: Governance) -> Governance:
    await build_chongzhou(gov)
    await with_budget(gov, JINSHENG)
    gov.clock.set(datetime(2026, 8, 3, 2, tzinfo=UTC))
    return gov


async def close(gov: Governance, period: str, compound: str = JINSHENG) -> disclosure_pb2.Disclosure:
    reply = await gov.caller("trustee", compound)(
        gov.disclosures.ClosePeriod,
        disclosure_pb2.ClosePeriodRequest(compound_path=compound, period=period, request_id=rid()),
    )
    return reply.disclosure


async def all_transfers(gov: Governance, compound: str = JINSHENG) -> list[account_pb2.Transfer]:
    found: list[account_pb2.Transfer] = []
    token = ""
    while True:
        page = await gov.admin(
            gov.account.ListTransfers,
            account_pb2.ListTransfersRequest(compound_path=compound, page_size=7, page_token=token),
        )
        found += page.transfers
        token = page.next_page_token
        if not token:
            return found


async def verify(gov: Governance, compound: str = JINSHENG) -> disclosure_pb2.VerifyDisclosureChainResponse:
    return await gov.admin(
        gov.disclosures.VerifyDisclosureChain, disclosure_pb2.VerifyDisclosureChainRequest(compound_path=compound)
    )


async def random_month(gov: Governance, rng: random.Random, month: int) -> None:
    trustee = gov.caller("trustee", JINSHENG)
    # Two more accounts: the parties approve with their own (authority.py).
    committee = gov.caller("owners_committee", JINSHENG, subject="committee-chair")
    supervisor = gov.caller("trust_supervisor", JINSHENG, subject="supervisor")
    gov.clock.set(datetime(2026, month, 2, 1, tzinfo=UTC))
    posted: list[account_pb2.Transfer] = []
    for _ in range(12):
        gov.clock.advance(hours=rng.randint(1, 40))
        roll = rng.random()
        try:
            if roll < 0.45:
                posted.append(await income(gov, trustee, JINSHENG, rng.randint(1, 900_000), rng.choice(CATEGORIES)))
            elif roll < 0.75:
                posted.append(await expense(gov, trustee, JINSHENG, rng.randint(1, 400_000), rng.choice(LINES)))
            elif roll < 0.9:
                big = await expense(gov, trustee, JINSHENG, rng.randint(500_001, 900_000), rng.choice(LINES))
                if rng.random() < 0.2:
                    await supervisor(
                        gov.account.RejectTransfer,
                        account_pb2.RejectTransferRequest(
                            name=big.name, party=SUPERVISOR, reason="refused", request_id=rid()
                        ),
                    )
                    continue
                parties = rng.choice([[], [COMMITTEE], [COMMITTEE, SUPERVISOR]])
                for party in parties:
                    who = committee if party == COMMITTEE else supervisor
                    await who(
                        gov.account.ApproveTransfer,
                        account_pb2.ApproveTransferRequest(name=big.name, party=party, request_id=rid()),
                    )
            elif posted:
                victim = posted.pop(rng.randrange(len(posted)))
                await trustee(
                    gov.account.ReverseTransfer,
                    account_pb2.ReverseTransferRequest(name=victim.name, reason="random correction", request_id=rid()),
                )
        except grpc.aio.AioRpcError as error:
            # Overdrafts are refused; that is part of what is being exercised.
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()


def figures_from(transfers: list[account_pb2.Transfer], name: str) -> tuple[int, int, int]:
    """(income, expense, to fund) of one disclosure, computed by the client from the ledger."""
    income_fen = expense_fen = to_fund = 0
    for t in transfers:
        if t.disclosure != name:
            continue
        for account, sign in ((t.debit_account, 1), (t.credit_account, -1)):
            if account.startswith("income:"):
                income_fen -= sign * t.amount_fen
            elif account.startswith("expense:"):
                expense_fen += sign * t.amount_fen
        if t.kind == account_pb2.TRANSFER_KIND_FUND_ALLOCATION:
            to_fund += t.amount_fen
    return income_fen, expense_fen, to_fund


async def test_randomized_postings_balance_to_zero_and_every_disclosure_equals_the_ledger(books: Governance) -> None:
    rng = random.Random(278)
    sealed = []
    for month in (8, 9, 10):
        await random_month(books, rng, month)
        books.clock.set(datetime(2026, month + 1, 1, 1, tzinfo=UTC))
        sealed.append(await close(books, f"2026-{month:02d}"))
    final = await balances(books, JINSHENG)  # asserts the sum is zero
    transfers = await all_transfers(books)
    kinds = {t.kind for t in transfers}
    assert len(transfers) > 25 and account_pb2.TRANSFER_KIND_REVERSAL in kinds, "a varied history was exercised"
    assert any(t.state == account_pb2.TRANSFER_STATE_PENDING for t in transfers)
    assert all(t.disclosure for t in transfers if t.state == account_pb2.TRANSFER_STATE_POSTED)
    for d in sealed:
        assert figures_from(transfers, d.name) == (d.income_fen, d.expense_fen, d.to_maintenance_fund_fen)
        assert d.surplus_fen == d.income_fen - d.expense_fen
        expected_share = max(0, (d.surplus_fen * 3000) // 10_000)
        assert d.to_maintenance_fund_fen <= expected_share
        assert sum(line.amount_fen for line in d.income) == d.income_fen
        assert sum(line.amount_fen for line in d.expenses) == d.expense_fen
    assert sealed[0].previous_seal_hash == "0" * 64
    assert [d.previous_seal_hash for d in sealed[1:]] == [d.seal_hash for d in sealed[:-1]]
    assert sealed[-1].operating_balance_fen == final["cash:operating"]
    assert sealed[-1].maintenance_fund_balance_fen == final["cash:maintenance_fund"] > 0
    pending = [t.name for t in transfers if t.state == account_pb2.TRANSFER_STATE_PENDING]
    assert list(sealed[-1].pending_transfers) == pending
    result = await verify(books)
    assert (result.valid, result.checked, result.broken_disclosure) == (True, 3, "")


async def test_altering_a_stored_entry_is_detected_and_names_the_disclosure(books: Governance) -> None:
    trustee = books.caller("trustee", JINSHENG)
    sealed = []
    for month in (8, 9, 10):
        books.clock.set(datetime(2026, month, 10, tzinfo=UTC))
        await income(books, trustee, JINSHENG, 100_000 * month)
        await expense(books, trustee, JINSHENG, 10_000 * month)
        books.clock.set(datetime(2026, month + 1, 1, 1, tzinfo=UTC))
        sealed.append(await close(books, f"2026-{month:02d}"))
    assert (await verify(books)).valid
    # A compound that does not exist has no chain to call valid.
    await expect_error(verify(books, JINSHENG + "-nowhere"), grpc.StatusCode.NOT_FOUND)
    transfers = await all_transfers(books)
    september_expense = next(
        t for t in transfers if t.disclosure == sealed[1].name and t.kind == account_pb2.TRANSFER_KIND_EXPENSE
    )
    tid = september_expense.name.rsplit("/", 1)[1]
    db = books.app.db

    async with db.transaction() as session:  # someone quietly edits a ledger entry
        await (await session.connection()).execute(
            sa.update(transfers_table).where(transfers_table.c.transfer_id == tid).values(amount_fen=1)
        )
    result = await verify(books)
    assert (result.valid, result.broken_disclosure) == (False, sealed[1].name)
    assert result.reason.startswith("ledger_mismatch") and result.checked == 2
    async with db.transaction() as session:
        await (await session.connection()).execute(
            sa.update(transfers_table)
            .where(transfers_table.c.transfer_id == tid)
            .values(amount_fen=september_expense.amount_fen)
        )
    assert (await verify(books)).valid

    async def stored(name: str) -> tuple[str, str]:
        async with db.session() as session:
            row = (
                await (await session.connection()).execute(
                    sa.select(disclosures_table.c.body, disclosures_table.c.seal_hash).where(
                        disclosures_table.c.name == name
                    )
                )
            ).one()
            return row.body, row.seal_hash

    body, original_seal = await stored(sealed[0].name)
    forged = body.replace(f'"income_fen":{sealed[0].income_fen}', '"income_fen":1')
    assert forged != body
    async with db.transaction() as session:  # the disclosure text itself is edited
        await (await session.connection()).execute(
            sa.update(disclosures_table).where(disclosures_table.c.name == sealed[0].name).values(body=forged)
        )
    result = await verify(books)
    assert (result.valid, result.broken_disclosure) == (False, sealed[0].name)
    assert result.reason.startswith("seal_mismatch")

    async with db.transaction() as session:  # ... and re-sealed: the next link breaks
        await (await session.connection()).execute(
            sa.update(disclosures_table)
            .where(disclosures_table.c.name == sealed[0].name)
            .values(seal_hash=seal("0" * 64, forged))
        )
    result = await verify(books)
    assert result.valid is False
    assert result.broken_disclosure in (sealed[0].name, sealed[1].name)
    async with db.transaction() as session:
        await (await session.connection()).execute(
            sa.update(disclosures_table)
            .where(disclosures_table.c.name == sealed[0].name)
            .values(body=body, seal_hash=original_seal)
        )
    assert (await verify(books)).valid


async def test_close_rules_and_the_published_event(books: Governance) -> None:
    trustee = books.caller("trustee", JINSHENG)
    books.clock.set(datetime(2026, 8, 10, tzinfo=UTC))
    await income(books, trustee, JINSHENG, 1_000_000)
    await expense(books, trustee, JINSHENG, 400_000, "repairs")
    await expect_error(close(books, "2026-08"), grpc.StatusCode.FAILED_PRECONDITION, reason="PERIOD_NOT_ENDED")
    books.clock.set(datetime(2026, 9, 1, 1, tzinfo=UTC))
    request = disclosure_pb2.ClosePeriodRequest(compound_path=JINSHENG, period="2026-08", request_id=rid())
    first = await trustee(books.disclosures.ClosePeriod, request)
    assert await trustee(books.disclosures.ClosePeriod, request) == first
    august = first.disclosure
    assert (august.income_fen, august.expense_fen, august.to_maintenance_fund_fen) == (1_000_000, 400_000, 180_000)
    assert august.operating_balance_fen == 420_000 and august.maintenance_fund_balance_fen == 180_000
    repairs = next(line for line in august.expenses if line.account == "expense:repairs")
    assert (repairs.budget_fen, repairs.year_actual_fen) == (3_000_000, 400_000)
    await expect_error(close(books, "2026-08"), grpc.StatusCode.ALREADY_EXISTS, reason="PERIOD_CLOSED")
    await expect_error(close(books, "2026-07"), grpc.StatusCode.FAILED_PRECONDITION, reason="PERIOD_OUT_OF_ORDER")
    for period in ("2026-Q3", "2026-8", ""):
        await expect_error(close(books, period), grpc.StatusCode.INVALID_ARGUMENT, field="period")
    await expect_error(
        trustee(
            books.disclosures.ClosePeriod, disclosure_pb2.ClosePeriodRequest(compound_path=JINSHENG, period="2026-09")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="request_id",
    )
    got = await trustee(books.disclosures.GetDisclosure, disclosure_pb2.GetDisclosureRequest(name=august.name))
    assert got.disclosure == august

    async def published() -> list[events_pb2.DisclosurePublished]:
        found = []
        for envelope in await governance_events(books):
            if envelope.subject == "governance.disclosure.published":
                payload = events_pb2.DisclosurePublished()
                assert envelope.payload.Unpack(payload)
                found.append(payload)
        return found

    async def one_published() -> bool:
        return len(await published()) == 1

    await wait_until(one_published, what="a disclosure.published event")
    [event] = await published()
    assert (event.disclosure, event.seal_hash, event.compound_name, event.income_fen) == (
        august.name,
        august.seal_hash,
        "金圣小区",
        1_000_000,
    )


async def test_objections_on_a_line_carry_a_deadline(books: Governance) -> None:
    trustee = books.caller("trustee", JINSHENG)
    await income(books, trustee, JINSHENG, 50_000, account_pb2.INCOME_CATEGORY_PARKING)
    books.clock.set(datetime(2026, 9, 1, 1, tzinfo=UTC))
    august = await close(books, "2026-08")
    resident = books.caller("resident", f"{JINSHENG}/b1/h001")
    filed = (
        await resident(
            books.disclosures.FileObjection,
            disclosure_pb2.FileObjectionRequest(
                disclosure=august.name,
                kind=disclosure_pb2.OBJECTION_KIND_INSPECTION,
                account="income:parking",
                text="请公开停车费明细 please show the parking receipts",
                household_path=f"{JINSHENG}/b1/h001",
                request_id=rid(),
            ),
        )
    ).objection
    assert filed.deadline.ToDatetime(tzinfo=UTC) == datetime(2026, 9, 16, 1, tzinfo=UTC) and not filed.overdue
    books.clock.set(datetime(2026, 9, 17, tzinfo=UTC))
    listed = await trustee(
        books.disclosures.ListObjections, disclosure_pb2.ListObjectionsRequest(disclosure=august.name)
    )
    assert [o.overdue for o in listed.objections] == [True]
    # The household follows its own objections; a neighbour sees none of them, and a resident
    # lists nothing without naming their household.
    own = await resident(
        books.disclosures.ListObjections,
        disclosure_pb2.ListObjectionsRequest(disclosure=august.name, household_path=f"{JINSHENG}/b1/h001"),
    )
    assert [o.name for o in own.objections] == [filed.name]
    neighbour = books.caller("resident", f"{JINSHENG}/b1/h002")
    mine = await neighbour(
        books.disclosures.ListObjections,
        disclosure_pb2.ListObjectionsRequest(disclosure=august.name, household_path=f"{JINSHENG}/b1/h002"),
    )
    assert list(mine.objections) == []
    for request in (
        disclosure_pb2.ListObjectionsRequest(disclosure=august.name, household_path=f"{JINSHENG}/b1/h001"),
        disclosure_pb2.ListObjectionsRequest(disclosure=august.name),
    ):
        await expect_error(neighbour(books.disclosures.ListObjections, request), grpc.StatusCode.PERMISSION_DENIED)
    await expect_error(
        resident(
            books.disclosures.FileObjection,
            disclosure_pb2.FileObjectionRequest(
                disclosure=august.name,
                kind=disclosure_pb2.OBJECTION_KIND_OBJECTION,
                account="expense:none",
                text="?",
                household_path=f"{JINSHENG}/b1/h001",
            ),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="account",
    )
    await expect_error(
        resident(
            books.disclosures.FileObjection,
            disclosure_pb2.FileObjectionRequest(
                disclosure=august.name, account="income:parking", text="?", household_path=f"{JINSHENG}/b1/h001"
            ),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="kind",
    )
    outsider = books.caller("resident", f"{JIANGNANTING}/b1/h001")
    await expect_error(
        outsider(
            books.disclosures.FileObjection,
            disclosure_pb2.FileObjectionRequest(
                disclosure=august.name,
                kind=disclosure_pb2.OBJECTION_KIND_OBJECTION,
                account="income:parking",
                text="?",
                household_path=f"{JINSHENG}/b1/h001",
            ),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    await expect_error(
        outsider(
            books.disclosures.FileObjection,
            disclosure_pb2.FileObjectionRequest(
                disclosure=august.name,
                kind=disclosure_pb2.OBJECTION_KIND_OBJECTION,
                account="income:parking",
                text="?",
                household_path=f"{JIANGNANTING}/b1/h001",
            ),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="household_path",
    )
    yangma = books.caller("street_officer", "chengdu/chongzhou/huaiyuan")
    await expect_error(
        yangma(
            books.disclosures.VerifyDisclosureChain, disclosure_pb2.VerifyDisclosureChainRequest(compound_path=JINSHENG)
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    await expect_error(
        yangma(books.disclosures.GetDisclosure, disclosure_pb2.GetDisclosureRequest(name=august.name)),
        grpc.StatusCode.PERMISSION_DENIED,
    )


async def test_simultaneous_closes_of_one_period_seal_once(books: Governance) -> None:
    import asyncio

    trustee = books.caller("trustee", JINSHENG)
    books.clock.set(datetime(2026, 8, 10, tzinfo=UTC))
    await income(books, trustee, JINSHENG, 300_000)
    books.clock.set(datetime(2026, 9, 1, 1, tzinfo=UTC))
    results = await asyncio.gather(*[close(books, "2026-08") for _ in range(3)], return_exceptions=True)
    sealed = [r for r in results if isinstance(r, disclosure_pb2.Disclosure)]
    assert len(sealed) == 1
    assert all(
        isinstance(r, grpc.aio.AioRpcError) and r.code() == grpc.StatusCode.ALREADY_EXISTS
        for r in results
        if r not in sealed
    )
    assert (await balances(books, JINSHENG))["cash:maintenance_fund"] == 90_000


async def test_a_late_close_takes_no_more_than_the_account_holds(books: Governance) -> None:
    trustee = books.caller("trustee", JINSHENG)
    books.clock.set(datetime(2026, 8, 10, tzinfo=UTC))
    await income(books, trustee, JINSHENG, 1_000_000)
    books.clock.set(datetime(2026, 9, 3, tzinfo=UTC))  # September spends before August is closed
    await expense(books, trustee, JINSHENG, 450_000, "repairs")
    await expense(books, trustee, JINSHENG, 450_000, "cleaning")
    august = await close(books, "2026-08")
    assert august.to_maintenance_fund_fen == 100_000  # 30 % would be 300,000; only 100,000 is there
    assert (await balances(books, JINSHENG))["cash:operating"] == 0
    assert (await verify(books)).valid


async def test_the_close_records_lapsed_expenses_as_voided(books: Governance) -> None:
    trustee = books.caller("trustee", JINSHENG)
    books.clock.set(datetime(2026, 8, 1, 2, tzinfo=UTC))
    await income(books, trustee, JINSHENG, 2_000_000)
    stale = await expense(books, trustee, JINSHENG, 600_000, "repairs")
    books.clock.set(datetime(2026, 8, 25, tzinfo=UTC))
    fresh = await expense(books, trustee, JINSHENG, 700_000, "repairs")
    books.clock.set(datetime(2026, 9, 1, 1, tzinfo=UTC))
    august = await close(books, "2026-08")
    assert list(august.pending_transfers) == [fresh.name] and august.pending_fen == 700_000
    voided = (await trustee(books.account.GetTransfer, account_pb2.GetTransferRequest(name=stale.name))).transfer
    assert voided.state == account_pb2.TRANSFER_STATE_VOIDED and "lapsed" in voided.memo


async def test_an_empty_month_is_sealed_and_takes_an_objection_to_the_whole_disclosure(books: Governance) -> None:
    """Issue 16 defect 12: a month without a transfer still seals, and an owner may object to
    the disclosure as a whole (no line named); naming a line it does not have is refused."""
    books.clock.set(datetime(2026, 9, 1, 1, tzinfo=UTC))
    empty = await close(books, "2026-08")
    assert (empty.transfer_count, list(empty.income), list(empty.expenses)) == (0, [], [])
    resident = books.caller("resident", f"{JINSHENG}/b1/h001")
    filed = (
        await resident(
            books.disclosures.FileObjection,
            disclosure_pb2.FileObjectionRequest(
                disclosure=empty.name,
                kind=disclosure_pb2.OBJECTION_KIND_OBJECTION,
                account="",
                text="本月物业费已经缴纳，为什么公示里没有收入？",
                household_path=f"{JINSHENG}/b1/h001",
                request_id=rid(),
            ),
        )
    ).objection
    assert filed.account == "" and filed.name.startswith(empty.name + "/objections/")
    await expect_error(
        resident(
            books.disclosures.FileObjection,
            disclosure_pb2.FileObjectionRequest(
                disclosure=empty.name,
                kind=disclosure_pb2.OBJECTION_KIND_OBJECTION,
                account="income:parking",
                text="停车费呢？",
                household_path=f"{JINSHENG}/b1/h001",
            ),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="account",
    )


async def test_an_objection_is_an_owners_one_per_household_per_disclosure(books: Governance) -> None:
    """Issue 12: the portal's own token may file no objection (its public form is gone: owners
    sign in and file with their own), and a household files one objection — and one inspection
    request — per disclosure; the same request sent again answers the same objection."""
    books.clock.set(datetime(2026, 9, 1, 1, tzinfo=UTC))
    august = await close(books, "2026-08")
    home = f"{JINSHENG}/b1/h001"

    def objection(request_id: str, kind: int = disclosure_pb2.OBJECTION_KIND_OBJECTION,
                  household: str = home) -> disclosure_pb2.FileObjectionRequest:
        return disclosure_pb2.FileObjectionRequest(disclosure=august.name, kind=kind, text="本月收入为什么是零？",
                                                   household_path=household, request_id=request_id)

    portal = books.caller("portal", "", kind=PrincipalKind.SERVICE)
    for anonymous in (objection(rid()), objection(rid(), household="")):
        await expect_error(portal(books.disclosures.FileObjection, anonymous), grpc.StatusCode.PERMISSION_DENIED)
    owner = books.caller("resident", home, subject="acc_owner")
    first_id = rid()
    first = (await owner(books.disclosures.FileObjection, objection(first_id))).objection
    again = (await owner(books.disclosures.FileObjection, objection(first_id))).objection
    assert again.name == first.name, "a resubmitted form is the same objection"
    family = books.caller("resident", home, subject="acc_owner_spouse")
    refused = await expect_error(family(books.disclosures.FileObjection, objection(rid())),
                                 grpc.StatusCode.ALREADY_EXISTS, reason="OBJECTION_ALREADY_FILED")
    assert first.name.rsplit("/", 1)[-1] in (refused.details() or ""), "the message names the objection to follow"
    inspection = (await owner(books.disclosures.FileObjection,
                              objection(rid(), kind=disclosure_pb2.OBJECTION_KIND_INSPECTION))).objection
    await expect_error(owner(books.disclosures.FileObjection,
                             objection(rid(), kind=disclosure_pb2.OBJECTION_KIND_INSPECTION)),
                       grpc.StatusCode.ALREADY_EXISTS, reason="OBJECTION_ALREADY_FILED")
    neighbour = books.caller("resident", f"{JINSHENG}/b1/h002", subject="acc_neighbour")
    await neighbour(books.disclosures.FileObjection, objection(rid(), household=f"{JINSHENG}/b1/h002"))
    listed = await books.caller("trustee", JINSHENG)(
        books.disclosures.ListObjections, disclosure_pb2.ListObjectionsRequest(disclosure=august.name))
    assert sorted(o.household_path for o in listed.objections) == [home, home, f"{JINSHENG}/b1/h002"]
    assert {first.name, inspection.name} <= {o.name for o in listed.objections}


async def test_a_household_filing_twice_at_once_files_one_objection(books: Governance) -> None:
    """Two members of one household press "file" at the same moment with different request ids:
    one objection is filed, the other is told to follow it (the disclosure row is locked while the
    household's earlier objection is looked for)."""
    books.clock.set(datetime(2026, 9, 1, 1, tzinfo=UTC))
    august = await close(books, "2026-08")
    home = f"{JINSHENG}/b1/h001"
    members = [books.caller("resident", home, subject=f"acc_member_{i}") for i in range(6)]

    async def file(member):  # type: ignore[no-untyped-def]
        request = disclosure_pb2.FileObjectionRequest(
            disclosure=august.name, kind=disclosure_pb2.OBJECTION_KIND_OBJECTION, text="物业费为什么涨了？",
            household_path=home, request_id=rid())
        try:
            await member(books.disclosures.FileObjection, request)
            return "filed"
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.ALREADY_EXISTS, error.details()
            return "refused"

    outcomes = await asyncio.gather(*(file(m) for m in members))
    assert sorted(outcomes) == ["filed"] + ["refused"] * 5
    listed = await books.caller("trustee", JINSHENG)(
        books.disclosures.ListObjections, disclosure_pb2.ListObjectionsRequest(disclosure=august.name))
    assert [o.household_path for o in listed.objections] == [home]
