"""The tamper test (issue 14 item 3): every transfer line a disclosure summarises is sealed and
the chain head is published outside the database, so each of the four tampers — a voucher's
hash, a posting date, an amount changed in the ledger, the newest disclosure deleted — makes
VerifyDisclosureChain name the disclosure and say what broke; undone, the chain verifies again."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from linli_governance.sealing import canonical_json, seal
from linli_governance.tables import DISCLOSURES, TRANSFERS

from linli.governance.v1 import disclosure_pb2

from .conftest import Governance
from .helpers import JINSHENG, build_chongzhou, rid
from .tamper import TAMPERS, Books, Tamper, expense_line_of, sealed_books, verify


@pytest.fixture
async def books(gov: Governance) -> Books:
    await build_chongzhou(gov)
    return await sealed_books(gov)


@pytest.mark.parametrize("tamper", TAMPERS, ids=[t.name for t in TAMPERS])
async def test_each_tamper_is_named_by_verification(gov: Governance, books: Books, tamper: Tamper) -> None:
    assert (await verify(gov)).valid
    undo = await tamper.apply(gov, books)
    broken = await verify(gov)
    assert (broken.valid, broken.broken_disclosure) == (False, tamper.broken(books).name), broken.reason
    for words in tamper.reason:
        assert words in broken.reason, broken.reason
    if tamper.name != "newest disclosure deleted":
        assert expense_line_of(books) in broken.reason  # the transfer itself is named
    else:
        assert (broken.checked, broken.head_checked, broken.published_head_period) == (3, True, "2026-10")
    await undo()
    again = await verify(gov)
    assert (again.valid, again.checked, again.head_checked) == (True, 3, True)


async def test_the_seal_covers_every_line_in_canonical_json(gov: Governance, books: Books) -> None:
    """The sealed body is RFC 8785 canonical JSON that hashes, after the previous seal, to the
    seal; it lists every transfer with what the ledger records of it."""
    previous = "0" * 64
    for disclosure in books.disclosures:
        full = (
            await gov.admin(gov.disclosures.GetDisclosure, disclosure_pb2.GetDisclosureRequest(name=disclosure.name))
        ).disclosure
        assert canonical_json(json.loads(full.sealed_body)) == full.sealed_body
        assert seal(previous, full.sealed_body) == full.seal_hash and full.previous_seal_hash == previous
        body = json.loads(full.sealed_body)
        assert (body["format"], body["sequence"], body["previous_seal_hash"]) == (
            "linli.disclosure.v2",
            full.sequence,
            previous,
        )
        assert len(body["lines"]) == full.transfer_count == len(full.transfers)
        expense = next(t for t in full.transfers if t.kind == "expense")
        assert expense.counterparty and len(expense.voucher_sha256) == 64 and expense.post_time.seconds > 0
        previous = full.seal_hash
    listed = await gov.admin(
        gov.disclosures.ListDisclosures, disclosure_pb2.ListDisclosuresRequest(compound_path=JINSHENG)
    )
    assert all(not d.sealed_body and not d.transfers for d in listed.disclosures)  # lists stay light
    assert [d.sequence for d in listed.disclosures] == [1, 2, 3]


async def test_a_naive_deletion_and_a_replaced_newest_disclosure_are_named(gov: Governance, books: Books) -> None:
    newest = books.newest
    async with gov.app.db.transaction() as session:  # the row alone goes: its transfers still name it
        await (await session.connection()).execute(sa.delete(DISCLOSURES).where(DISCLOSURES.c.name == newest.name))
    broken = await verify(gov)
    assert (broken.valid, broken.broken_disclosure) == (False, newest.name)
    assert broken.reason.startswith("missing_disclosure")
    # The forger unstamps the transfers and seals October again without one of its incomes.
    income = next(t for t in newest.transfers if t.kind == "income")
    async with gov.app.db.transaction() as session:
        conn = await session.connection()
        await conn.execute(sa.update(TRANSFERS).where(TRANSFERS.c.disclosure == newest.name).values(disclosure=None))
        await conn.execute(sa.delete(TRANSFERS).where(TRANSFERS.c.transfer_id == income.transfer.rsplit("/", 1)[1]))
    forged = (
        await gov.caller("trustee", JINSHENG)(
            gov.disclosures.ClosePeriod,
            disclosure_pb2.ClosePeriodRequest(compound_path=JINSHENG, period="2026-10", request_id=rid()),
        )
    ).disclosure
    assert forged.seal_hash != newest.seal_hash and forged.sequence == 3
    replaced = await verify(gov)
    assert (replaced.valid, replaced.broken_disclosure) == (False, newest.name)
    assert replaced.reason.startswith("head_mismatch") and "replaced" in replaced.reason
    # A caller holding the old head (from the notice) is told too, whatever the register says.
    held = await verify(gov, head=newest.seal_hash)
    assert not held.valid and "head_mismatch" in held.reason
