"""The tamper test's books and its four tampers (issue 14 item 3): someone with write access to
trust-governance's database changes a voucher's hash, moves a transfer's posting date, changes
an amount, or deletes the newest disclosure (and unstamps its transfers, as a careful forger
would). Each tamper says which disclosure verification must name and what the reason must say,
and undoes itself. Used by the governance tests (VerifyDisclosureChain) and the portal's (the
chain badge)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from linli_governance.tables import DISCLOSURES, TRANSFERS

from linli.governance.v1 import account_pb2, disclosure_pb2
from linli_runtime.testing.waiting import wait_until

from .helpers import JINSHENG, expense, income, rid, with_budget

MONTHS = (8, 9, 10)


@dataclass
class Books:
    """Jinsheng's books with three sealed months, the newest head published outside the database."""

    disclosures: list[disclosure_pb2.Disclosure]

    @property
    def september(self) -> disclosure_pb2.Disclosure:
        return self.disclosures[1]

    @property
    def newest(self) -> disclosure_pb2.Disclosure:
        return self.disclosures[-1]


async def verify(gov: Any, compound: str = JINSHENG, head: str = "") -> disclosure_pb2.VerifyDisclosureChainResponse:
    return await gov.admin(
        gov.disclosures.VerifyDisclosureChain,
        disclosure_pb2.VerifyDisclosureChainRequest(compound_path=compound, published_head_seal_hash=head),
    )


async def sealed_books(gov: Any) -> Books:
    trustee = gov.caller("trustee", JINSHENG)
    await with_budget(gov, JINSHENG)
    sealed = []
    for month in MONTHS:
        gov.clock.set(datetime(2026, month, 10, 2, tzinfo=UTC))
        await income(gov, trustee, JINSHENG, 100_000 * month)
        await expense(gov, trustee, JINSHENG, 10_000 * month, "repairs")
        gov.clock.set(datetime(2026, month + 1, 1, 1, tzinfo=UTC))
        reply = await trustee(
            gov.disclosures.ClosePeriod,
            disclosure_pb2.ClosePeriodRequest(compound_path=JINSHENG, period=f"2026-{month:02d}", request_id=rid()),
        )
        sealed.append(reply.disclosure)

    async def head_published() -> bool:
        return (await verify(gov)).published_head_seal_hash == sealed[-1].seal_hash

    await wait_until(head_published, what="the newest seal in the register of published heads")
    return Books(sealed)


async def _execute(gov: Any, statement: Any) -> None:
    async with gov.app.db.transaction() as session:
        await (await session.connection()).execute(statement)


def _expense_of(disclosure: disclosure_pb2.Disclosure) -> disclosure_pb2.DisclosedTransfer:
    return next(t for t in disclosure.transfers if t.kind == "expense")


def _id(name: str) -> str:
    return name.rsplit("/", 1)[1]


Undo = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Tamper:
    """What a forger changes (`apply` returns how to undo it), which disclosure verification must
    then name, and words its reason must hold."""

    name: str
    apply: Callable[[Any, Books], Awaitable[Undo]]
    broken: Callable[[Books], disclosure_pb2.Disclosure]
    reason: tuple[str, ...]


async def change_voucher_hash(gov: Any, books: Books) -> Undo:
    line = _expense_of(books.september)
    forged = hashlib.sha256(b"a different invoice").hexdigest()
    where = TRANSFERS.c.transfer_id == _id(line.transfer)
    await _execute(gov, sa.update(TRANSFERS).where(where).values(voucher_sha256=forged))
    return lambda: _execute(gov, sa.update(TRANSFERS).where(where).values(voucher_sha256=line.voucher_sha256))


async def move_posting_date(gov: Any, books: Books) -> Undo:
    line = _expense_of(books.september)
    posted = line.post_time.ToDatetime(tzinfo=UTC)
    where = TRANSFERS.c.transfer_id == _id(line.transfer)
    # Still inside September: only the line's own date gives it away.
    await _execute(gov, sa.update(TRANSFERS).where(where).values(posted_at=posted - timedelta(days=3)))
    return lambda: _execute(gov, sa.update(TRANSFERS).where(where).values(posted_at=posted))


async def change_amount(gov: Any, books: Books) -> Undo:
    line = _expense_of(books.september)
    where = TRANSFERS.c.transfer_id == _id(line.transfer)
    await _execute(gov, sa.update(TRANSFERS).where(where).values(amount_fen=line.amount_fen - 1))
    return lambda: _execute(gov, sa.update(TRANSFERS).where(where).values(amount_fen=line.amount_fen))


async def delete_newest(gov: Any, books: Books) -> Undo:
    """The newest disclosure's row goes, and its transfers are unstamped, so the database holds
    a shorter chain that is consistent in itself: only the published head tells."""
    newest = books.newest
    async with gov.app.db.session() as session:
        row = (
            (
                await (await session.connection()).execute(
                    sa.select(DISCLOSURES).where(DISCLOSURES.c.name == newest.name)
                )
            )
            .mappings()
            .one()
        )
    saved = dict(row)
    await _execute(gov, sa.delete(DISCLOSURES).where(DISCLOSURES.c.name == newest.name))
    await _execute(gov, sa.update(TRANSFERS).where(TRANSFERS.c.disclosure == newest.name).values(disclosure=None))
    stamped = [_id(t.transfer) for t in newest.transfers]

    async def undo() -> None:
        await _execute(gov, sa.insert(DISCLOSURES).values(**saved))
        await _execute(
            gov, sa.update(TRANSFERS).where(TRANSFERS.c.transfer_id.in_(stamped)).values(disclosure=newest.name)
        )

    return undo


TAMPERS = [
    Tamper("voucher hash", change_voucher_hash, lambda b: b.september, ("ledger_mismatch", "voucher_sha256")),
    Tamper("posting date", move_posting_date, lambda b: b.september, ("ledger_mismatch", "posted_at")),
    Tamper("amount", change_amount, lambda b: b.september, ("ledger_mismatch", "amount_fen")),
    Tamper("newest disclosure deleted", delete_newest, lambda b: b.newest, ("head_mismatch", "deleted")),
]


def expense_line_of(books: Books) -> str:
    return _expense_of(books.september).transfer


__all__ = ["TAMPERS", "Books", "Tamper", "account_pb2", "expense_line_of", "sealed_books", "verify"]
