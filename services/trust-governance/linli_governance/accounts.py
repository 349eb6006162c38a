"""The trust common account: a double-entry ledger per compound, in integer fen, and the
compound's yearly budget that spending is booked against.

Every transfer debits one account and credits another by the same amount, so the balances of
a compound always sum to zero. Balances are debits minus credits: `cash:operating` and
`cash:maintenance_fund` are positive when money is there, `income:*` accounts grow negative,
`expense:*` accounts positive. Transfers are never edited: a mistake is undone by a reversal.

The maintenance fund (`cash:maintenance_fund`) is real money: the period close moves the
surplus share into it (disclosures.py), and it is spent only by `spend_fund`, under a passed
USE_MAINTENANCE_FUND owners' vote that carries the amount and the purpose, by a transfer citing
the vote (`fund_use:maintenance` ← `cash:maintenance_fund`). Fund uses are not expenses of the
operating budget: they never reduce a period's surplus.

Budgets bind: spending is booked against a line of the year's budget, and only once an owners'
vote has APPROVED that budget. Spending above the compound's threshold — alone, or summed with
what the same payee was paid on the same line in the 30 days before (a split spend) — is stored
PENDING and touches no balance until both the owners' committee and the supervisor approve, by
two different accounts, neither the one that recorded it (authority.py); spending that
would take its line beyond the line's budget (posted and pending spending of the year included)
waits for the owners' committee (as well). The last approval a transfer needs posts it, once
(the transfer row is locked while it changes state). Cash accounts never go below zero — the operating account
may, only with a passed owners' vote recorded on the transfer.

Reads (`get_settings`, `get_transfer`, `list_transfers`, `balances`, `get_budget`) open their
own session; every change is a step of the caller's transaction (the API runs it at most once
per request id), written with SQLAlchemy Core on the ledger's tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.governance.v1 import account_pb2, vote_pb2
from linli_governance import authority, names, vouchers
from linli_governance.periods import local_year
from linli_governance.tables import (
    ACCOUNT_SETTINGS,
    ACCOUNTS,
    APPROVALS,
    BUDGET_LINES,
    BUDGETS,
    TRANSFERS,
    VOTES,
    AccountSettings,
    Budget,
    BudgetLine,
    Transfer,
    Vote,
)
from linli_runtime import fields, paging, times
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.models import typed, typed_all

OPERATING = "cash:operating"
FUND = "cash:maintenance_fund"
FUND_USE = "fund_use:maintenance"
CASH_ACCOUNTS = (OPERATING, FUND)
DEFAULT_THRESHOLD_FEN = 500_000  # 5,000 yuan
DEFAULT_SURPLUS_SHARE_BP = 3_000  # 30 %
MAX_AMOUNT_FEN = 10**13  # 100 billion yuan: anything above is a typing error
# A pending expense nobody decided on lapses: approvals given a month later may rest on a
# quote or a need that no longer holds. Propose it again instead.
PENDING_LIFETIME = timedelta(days=30)
FIRST_BUDGET_YEAR, LAST_BUDGET_YEAR = 2000, 2100

K = account_pb2.TransferKind
S = account_pb2.TransferState
PARTIES = (account_pb2.APPROVAL_PARTY_OWNERS_COMMITTEE, account_pb2.APPROVAL_PARTY_SUPERVISOR)
# A transfer's required approvals, stored as bits (Transfer.required_approvals).
PARTY_BITS = {account_pb2.APPROVAL_PARTY_OWNERS_COMMITTEE: 1, account_pb2.APPROVAL_PARTY_SUPERVISOR: 2}
BOTH_PARTIES = 3
INCOME_ACCOUNTS = {
    account_pb2.INCOME_CATEGORY_PROPERTY_FEES: "income:property_fees",
    account_pb2.INCOME_CATEGORY_PARKING: "income:parking",
    account_pb2.INCOME_CATEGORY_ADVERTISING: "income:advertising",
    account_pb2.INCOME_CATEGORY_EBIKE_CHARGING: "income:ebike_charging",
    account_pb2.INCOME_CATEGORY_OTHER: "income:other",
}
INCOME_CATEGORIES = "PROPERTY_FEES, PARKING, ADVERTISING, EBIKE_CHARGING or OTHER"


@dataclass(frozen=True)
class Voucher:
    """The file an expense rests on (an invoice, a receipt): its SHA-256, a voucher the compound
    holds (vouchers.py), and how the bookkeeper refers to it ("" for the voucher's name)."""

    file_ref: str
    sha256: str


@dataclass(frozen=True)
class TransferView:
    """A transfer and the parties that approved it so far (in party order)."""

    transfer: Transfer
    approvals: list[int]


@dataclass(frozen=True)
class Balances:
    """Every account of a compound with its posted balance, and what waits for approval."""

    by_account: dict[str, int]
    pending_fen: int

    @property
    def operating_fen(self) -> int:
        return self.by_account.get(OPERATING, 0)

    @property
    def maintenance_fund_fen(self) -> int:
        return self.by_account.get(FUND, 0)


@dataclass(frozen=True)
class NewBudgetLine:
    code: str
    title: str
    amount_fen: int


@dataclass(frozen=True)
class BudgetView:
    """A budget with its lines in order, each with what was spent on it so far this year."""

    budget: Budget
    lines: list[tuple[BudgetLine, int]]


def expense_account(line: str) -> str:
    return f"expense:{line}"


def income_account(category: int) -> str:
    account = INCOME_ACCOUNTS.get(cast(Any, category))
    if account is None:
        raise InvalidArgument.field("category", f"must be {INCOME_CATEGORIES}")
    return account


def amount(value: int, field: str = "amount_fen") -> int:
    """A posting's amount: whole fen, above zero, and plausible."""
    return fields.positive(field, value, MAX_AMOUNT_FEN)


def validate_settings(settings: AccountSettings) -> None:
    if settings.approval_threshold_fen <= 0:
        raise InvalidArgument.field("settings.approval_threshold_fen", "must be a positive amount in fen")
    if not 0 <= settings.surplus_share_bp <= 10_000:
        raise InvalidArgument.field("settings.surplus_share_basis_points", "must be between 0 and 10000 (100 %)")
    if settings.period_kind not in (account_pb2.PERIOD_KIND_MONTHLY, account_pb2.PERIOD_KIND_QUARTERLY):
        raise InvalidArgument.field("settings.period_kind", "must be MONTHLY or QUARTERLY")


def validate_budget(year: int, lines: Sequence[NewBudgetLine]) -> None:
    fields.in_range("year", year, FIRST_BUDGET_YEAR, LAST_BUDGET_YEAR)
    if not lines:
        raise InvalidArgument.field("lines", "a budget needs at least one line")
    seen: set[str] = set()
    for i, line in enumerate(lines):
        fields.slug(f"lines[{i}].code", line.code)
        if line.code in seen:
            raise InvalidArgument.field(f"lines[{i}].code", f"{line.code!r} appears twice")
        seen.add(line.code)
        fields.text(f"lines[{i}].title", line.title, 200, required=True)
        if line.amount_fen < 0:
            raise InvalidArgument.field(f"lines[{i}].amount_fen", "must not be negative")


def parties_of(bits: int) -> list[int]:
    """The approving parties a transfer waits for, in party order."""
    return [party for party in PARTIES if bits & PARTY_BITS[party]]


def over_budget(line_budget_fen: int, committed_fen: int, amount: int) -> int:
    """How far beyond its budget an expense takes its line, given what the year has already
    spent or proposed on it (0 within budget)."""
    return max(0, committed_fen + amount - line_budget_fen) if amount > 0 else 0


def approvals_needed(amount: int, threshold_fen: int, over_budget_fen: int, payee_recent_fen: int = 0) -> int:
    """Who must approve before an expense posts (bits of PARTY_BITS): both parties above the
    threshold, alone or with the same payee's recent expenses on the line (`payee_recent_fen`,
    authority.split_total); the owners' committee for an overspend of the line (the budget was
    the owners' decision, so going beyond it is theirs to allow); nobody otherwise."""
    needed = BOTH_PARTIES if authority.needs_both_parties(amount, payee_recent_fen, threshold_fen) else 0
    if over_budget_fen > 0:
        needed |= PARTY_BITS[account_pb2.APPROVAL_PARTY_OWNERS_COMMITTEE]
    return needed


def check_budget_approved(budget: Budget | None, compound_path: str, year: int) -> None:
    """Spending needs the year's budget, approved by an owners' vote."""
    if budget is None:
        raise FailedPrecondition(
            f"the compound has no budget for {year}; spending needs a budget line", reason="NO_BUDGET"
        )
    if budget.state != account_pb2.BUDGET_STATE_APPROVED:
        raise FailedPrecondition(
            f"{names.budget_name(compound_path, year)} is a draft: spending needs the budget approved by an "
            "owners' BUDGET vote first",
            reason="BUDGET_NOT_APPROVED",
        )


def check_party_needed(transfer: Transfer, party: int) -> None:
    if party not in parties_of(transfer.required_approvals):
        raise FailedPrecondition(
            f"this transfer does not wait for {account_pb2.ApprovalParty.Name(cast(Any, party))}; it waits for "
            + ", ".join(account_pb2.ApprovalParty.Name(cast(Any, p)) for p in parties_of(transfer.required_approvals)),
            reason="APPROVAL_NOT_NEEDED",
        )


def lapsed(created_at: datetime, when: datetime) -> bool:
    return when >= times.as_utc(created_at) + PENDING_LIFETIME


def check_decidable(transfer: Transfer, when: datetime) -> None:
    """Approving or rejecting needs a pending transfer that has not lapsed."""
    if transfer.state != S.TRANSFER_STATE_PENDING:
        raise FailedPrecondition("the transfer is not pending approval", reason="NOT_PENDING")
    if lapsed(transfer.created_at, when):
        raise FailedPrecondition(
            f"the expense was proposed more than {PENDING_LIFETIME.days} days ago and has lapsed; propose it again",
            reason="APPROVAL_LAPSED",
        )


def check_reversible(transfer: Transfer) -> None:
    if transfer.state != S.TRANSFER_STATE_POSTED:
        raise FailedPrecondition("only a posted transfer can be reversed", reason="NOT_POSTED")
    if transfer.kind in (K.TRANSFER_KIND_FUND_ALLOCATION, K.TRANSFER_KIND_REMUNERATION):
        # Reversing the fund's allocation would take money out of the fund without a vote.
        raise FailedPrecondition(
            "a period close's own postings (the fund's share, the trustee's pay) are part of its sealed disclosure "
            "and are not reversed; money leaves the fund only under a USE_MAINTENANCE_FUND vote",
            reason="CLOSE_POSTING_NOT_REVERSIBLE",
        )
    if transfer.kind == K.TRANSFER_KIND_REVERSAL:
        raise FailedPrecondition(
            "a reversal is not reversed again; post a new transfer instead", reason="REVERSAL_OF_REVERSAL"
        )
    if transfer.reversed_by:
        raise FailedPrecondition(
            f"already reversed by {names.transfer_name(transfer.compound_path, transfer.reversed_by)}",
            reason="ALREADY_REVERSED",
        )


def line_actuals(entries: Sequence[tuple[str, str, int]]) -> dict[str, int]:
    """Net spending per budget line from (debit, credit, amount) postings (reversals net out)."""
    actual: dict[str, int] = {}
    for debit, credit, amount_fen in entries:
        if debit.startswith("expense:"):
            code = debit.removeprefix("expense:")
            actual[code] = actual.get(code, 0) + amount_fen
        if credit.startswith("expense:"):
            code = credit.removeprefix("expense:")
            actual[code] = actual.get(code, 0) - amount_fen
    return actual


# -- settings -----------------------------------------------------------------------------------


async def open_compound(session: AsyncSession, compound_path: str) -> None:
    conn = await session.connection()
    await conn.execute(
        ACCOUNT_SETTINGS.insert().values(
            compound_path=compound_path,
            approval_threshold_fen=DEFAULT_THRESHOLD_FEN,
            surplus_share_bp=DEFAULT_SURPLUS_SHARE_BP,
            period_kind=account_pb2.PERIOD_KIND_MONTHLY,
        )
    )
    await conn.execute(
        ACCOUNTS.insert(), [{"compound_path": compound_path, "account": a, "balance_fen": 0} for a in CASH_ACCOUNTS]
    )


async def require_settings(conn: AsyncConnection, compound_path: str) -> AccountSettings:
    """The compound's settings; NOT_FOUND when there is no such compound."""
    row = (
        await conn.execute(select(ACCOUNT_SETTINGS).where(ACCOUNT_SETTINGS.c.compound_path == compound_path))
    ).first()
    if row is None:
        raise NotFound(f"compound '{compound_path}' does not exist", reason="COMPOUND_NOT_FOUND")
    return typed(AccountSettings, row)


async def update_settings(session: AsyncSession, settings: AccountSettings) -> AccountSettings:
    validate_settings(settings)
    conn = await session.connection()
    await require_settings(conn, settings.compound_path)
    await conn.execute(
        ACCOUNT_SETTINGS.update()
        .where(ACCOUNT_SETTINGS.c.compound_path == settings.compound_path)
        .values(
            approval_threshold_fen=settings.approval_threshold_fen,
            surplus_share_bp=settings.surplus_share_bp,
            period_kind=settings.period_kind,
        )
    )
    return await require_settings(conn, settings.compound_path)


# -- postings -----------------------------------------------------------------------------------


async def _ensure_account(conn: AsyncConnection, compound_path: str, account: str) -> None:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    await conn.execute(
        insert(ACCOUNTS)
        .values(compound_path=compound_path, account=account, balance_fen=0)
        .on_conflict_do_nothing(index_elements=["compound_path", "account"])
    )


async def _move(
    conn: AsyncConnection, compound_path: str, debit: str, credit: str, amount: int, *, allow_negative_operating: bool
) -> None:
    """Apply one posting to the balances. A cash account credited below zero refuses the whole
    transaction (the conditional UPDATE is atomic on both engines)."""
    for account in (debit, credit):
        if account not in CASH_ACCOUNTS:
            await _ensure_account(conn, compound_path, account)
    await conn.execute(
        ACCOUNTS.update()
        .where(ACCOUNTS.c.compound_path == compound_path, ACCOUNTS.c.account == debit)
        .values(balance_fen=ACCOUNTS.c.balance_fen + amount)
    )
    guard = and_(ACCOUNTS.c.compound_path == compound_path, ACCOUNTS.c.account == credit)
    if credit in CASH_ACCOUNTS and not (credit == OPERATING and allow_negative_operating):
        guard = and_(guard, ACCOUNTS.c.balance_fen >= amount)
    result = await conn.execute(ACCOUNTS.update().where(guard).values(balance_fen=ACCOUNTS.c.balance_fen - amount))
    if result.rowcount != 1:
        balance = await balance_of(conn, compound_path, credit)
        rule = (
            "the maintenance fund never goes below zero"
            if credit == FUND
            else "the operating account may go below zero only with a passed SPENDING_APPROVAL vote (owners_decision)"
        )
        raise FailedPrecondition(
            f"{credit} holds {balance} fen, less than {amount} fen; {rule}",
            reason="INSUFFICIENT_FUNDS",
            metadata={"account": credit, "balance_fen": str(balance), "amount_fen": str(amount)},
        )


async def balance_of(conn: AsyncConnection, compound_path: str, account: str) -> int:
    """The posted balance of one account as this transaction sees it."""
    balance = (
        await conn.execute(
            select(ACCOUNTS.c.balance_fen).where(
                ACCOUNTS.c.compound_path == compound_path, ACCOUNTS.c.account == account
            )
        )
    ).scalar_one()
    return int(balance)


async def _insert_transfer(conn: AsyncConnection, compound_path: str, *, when: datetime, **values: Any) -> str:
    transfer_id = uuid.uuid4().hex
    await conn.execute(
        TRANSFERS.insert().values(transfer_id=transfer_id, compound_path=compound_path, created_at=when, **values)
    )
    return transfer_id


async def post_transfer(
    session: AsyncSession,
    compound_path: str,
    *,
    kind: int,
    debit: str,
    credit: str,
    amount: int,
    when: datetime,
    allow_negative_operating: bool = False,
    **values: Any,
) -> str:
    """Post a transfer at once (balances move now); returns its id."""
    conn = await session.connection()
    await _move(conn, compound_path, debit, credit, amount, allow_negative_operating=allow_negative_operating)
    return await _insert_transfer(
        conn,
        compound_path,
        when=when,
        kind=kind,
        state=S.TRANSFER_STATE_POSTED,
        debit_account=debit,
        credit_account=credit,
        amount_fen=amount,
        posted_at=when,
        **values,
    )


async def record_income(
    session: AsyncSession,
    compound_path: str,
    category: int,
    amount: int,
    memo: str,
    *,
    when: datetime,
    counterparty: str = "",
) -> TransferView:
    account = income_account(category)
    conn = await session.connection()
    await require_settings(conn, compound_path)
    tid = await post_transfer(
        session,
        compound_path,
        kind=K.TRANSFER_KIND_INCOME,
        debit=OPERATING,
        credit=account,
        amount=amount,
        when=when,
        memo=memo,
        counterparty=counterparty,
    )
    return await transfer_view(conn, compound_path, tid)


async def passed_decision(conn: AsyncConnection, compound_path: str, decision: str, matter: int) -> Vote:
    """A closed, passed vote of the same compound on `matter`, locked (spending under it is
    decided one at a time)."""
    vote_compound, vote_id = names.parse_compound_child("owners_decision", decision, names.VOTES)
    row = (await conn.execute(select(VOTES).where(VOTES.c.vote_id == vote_id).with_for_update())).first()
    vote = typed(Vote, row) if row is not None else None
    if vote is None or vote_compound != compound_path or vote.compound_path != compound_path:
        raise NotFound(f"owners' decision {decision} does not exist in this compound", reason="VOTE_NOT_FOUND")
    if not vote.closed or vote.outcome != vote_pb2.VOTE_OUTCOME_PASSED:
        raise FailedPrecondition(f"vote {decision} has not passed", reason="DECISION_NOT_PASSED")
    if vote.matter != matter:
        wanted = vote_pb2.VoteMatter.Name(cast(Any, matter)).removeprefix("VOTE_MATTER_")
        raise FailedPrecondition(f"vote {decision} is not a {wanted} vote", reason="DECISION_WRONG_MATTER")
    return vote


async def check_owners_decision(conn: AsyncConnection, compound_path: str, decision: str) -> None:
    """A decision that lets the operating account go below zero is a closed, passed
    SPENDING_APPROVAL vote of the same compound, used once."""
    await passed_decision(conn, compound_path, decision, vote_pb2.VOTE_MATTER_SPENDING_APPROVAL)
    # One decision allows one expense, not an open line of credit.
    used = (
        await conn.execute(
            select(TRANSFERS.c.transfer_id).where(
                TRANSFERS.c.owners_decision == decision, TRANSFERS.c.state != S.TRANSFER_STATE_VOIDED
            )
        )
    ).first()
    if used is not None:
        raise FailedPrecondition(
            f"vote {decision} already covers {names.transfer_name(compound_path, used.transfer_id)}",
            reason="DECISION_ALREADY_USED",
        )


async def record_expense(
    session: AsyncSession,
    compound_path: str,
    *,
    budget_line: str,
    amount: int,
    memo: str,
    voucher: Voucher,
    owners_decision: str,
    when: datetime,
    counterparty: str,
    project_id: str = "",
    recorded_by: str = "",
) -> TransferView:
    conn = await session.connection()
    settings = await require_settings(conn, compound_path)
    year = local_year(when)
    # The budget row is locked: expenses on one compound's budget are weighed one at a time.
    budget_row = (
        await conn.execute(
            select(BUDGETS).where(BUDGETS.c.compound_path == compound_path, BUDGETS.c.year == year).with_for_update()
        )
    ).first()
    check_budget_approved(typed(Budget, budget_row) if budget_row is not None else None, compound_path, year)
    line = (
        await conn.execute(
            select(BUDGET_LINES.c.amount_fen).where(
                BUDGET_LINES.c.compound_path == compound_path,
                BUDGET_LINES.c.year == year,
                BUDGET_LINES.c.code == budget_line,
            )
        )
    ).first()
    if line is None:
        raise InvalidArgument.field("budget_line", f"{budget_line!r} is not a line of the {year} budget")
    await vouchers.require_uploaded(conn, compound_path, voucher.sha256)
    committed = (await year_actuals(conn, compound_path, year)).get(budget_line, 0) + await _pending_on_line(
        conn, compound_path, budget_line, year, when
    )
    overspend = over_budget(int(line.amount_fen), committed, amount)
    payee_recent = authority.split_total(amount, counterparty, await _recent_on_line(conn, compound_path,
                                                                                       budget_line, when))
    needed = approvals_needed(amount, settings.approval_threshold_fen, overspend, payee_recent)
    if owners_decision:
        await check_owners_decision(conn, compound_path, owners_decision)
    if project_id:
        # projects → org_tree → accounts: imported here to keep the module graph acyclic.
        from linli_governance.projects import check_spending

        await check_spending(conn, compound_path, project_id, budget_line)
    values: dict[str, Any] = {
        "project": project_id or None,
        "budget_line": budget_line,
        "memo": memo,
        "voucher_ref": voucher.file_ref or names.voucher_name(compound_path, voucher.sha256),
        "voucher_sha256": voucher.sha256,
        "owners_decision": owners_decision,
        "counterparty": counterparty,
        "over_budget_fen": overspend,
        "required_approvals": needed,
        "recorded_by": recorded_by[:200],
        "payee_recent_fen": payee_recent,
    }
    debit = expense_account(budget_line)
    if needed:
        tid = await _insert_transfer(
            conn,
            compound_path,
            when=when,
            kind=K.TRANSFER_KIND_EXPENSE,
            state=S.TRANSFER_STATE_PENDING,
            debit_account=debit,
            credit_account=OPERATING,
            amount_fen=amount,
            **values,
        )
    else:
        tid = await post_transfer(
            session,
            compound_path,
            kind=K.TRANSFER_KIND_EXPENSE,
            debit=debit,
            credit=OPERATING,
            amount=amount,
            when=when,
            allow_negative_operating=bool(owners_decision),
            **values,
        )
    return await transfer_view(conn, compound_path, tid)


def fund_use_left(vote: Vote, used_fen: int) -> int:
    """What a USE_MAINTENANCE_FUND decision still allows after `used_fen` was paid under it."""
    return max(0, vote.amount_fen - used_fen)


async def fund_used(conn: AsyncConnection, decision: str) -> int:
    """What has been paid from the fund under a decision: its fund uses, less those reversed."""
    used = (
        await conn.execute(
            select(func.coalesce(func.sum(TRANSFERS.c.amount_fen), 0)).where(
                TRANSFERS.c.owners_decision == decision,
                TRANSFERS.c.kind == K.TRANSFER_KIND_FUND_USE,
                TRANSFERS.c.state == S.TRANSFER_STATE_POSTED,
                TRANSFERS.c.reversed_by.is_(None),
            )
        )
    ).scalar_one()
    return int(used)


async def spend_fund(
    session: AsyncSession,
    compound_path: str,
    *,
    owners_decision: str,
    amount: int,
    memo: str,
    voucher: Voucher,
    when: datetime,
    counterparty: str,
) -> TransferView:
    """Pay from the maintenance fund under a passed USE_MAINTENANCE_FUND vote: the payments citing
    the vote stay within its amount, the fund never goes below zero, the transfer names the vote
    and (unless told otherwise) its purpose."""
    conn = await session.connection()
    await require_settings(conn, compound_path)
    await vouchers.require_uploaded(conn, compound_path, voucher.sha256)
    vote = await passed_decision(conn, compound_path, owners_decision, vote_pb2.VOTE_MATTER_USE_MAINTENANCE_FUND)
    used = await fund_used(conn, owners_decision)
    left = fund_use_left(vote, used)
    if amount > left:
        raise FailedPrecondition(
            f"vote {owners_decision} allows {vote.amount_fen} fen from the fund; {used} fen are paid under it, "
            f"so at most {left} fen more",
            reason="DECISION_AMOUNT_EXCEEDED",
            metadata={"allowed_fen": str(vote.amount_fen), "used_fen": str(used), "left_fen": str(left)},
        )
    tid = await post_transfer(
        session,
        compound_path,
        kind=K.TRANSFER_KIND_FUND_USE,
        debit=FUND_USE,
        credit=FUND,
        amount=amount,
        when=when,
        memo=memo or vote.purpose,
        voucher_ref=voucher.file_ref or names.voucher_name(compound_path, voucher.sha256),
        voucher_sha256=voucher.sha256,
        owners_decision=owners_decision,
        counterparty=counterparty,
    )
    return await transfer_view(conn, compound_path, tid)


async def _pending_on_line(conn: AsyncConnection, compound_path: str, line: str, year: int, when: datetime) -> int:
    """Expenses on a budget line proposed in the year and still waiting (not lapsed)."""
    start, end = times.year_bounds(year)
    pending = (
        await conn.execute(
            select(func.coalesce(func.sum(TRANSFERS.c.amount_fen), 0)).where(
                TRANSFERS.c.compound_path == compound_path,
                TRANSFERS.c.state == S.TRANSFER_STATE_PENDING,
                TRANSFERS.c.budget_line == line,
                TRANSFERS.c.created_at >= start,
                TRANSFERS.c.created_at < end,
                TRANSFERS.c.created_at > when - PENDING_LIFETIME,
            )
        )
    ).scalar_one()
    return int(pending)


async def _recent_on_line(conn: AsyncConnection, compound_path: str, line: str,
                          when: datetime) -> list[tuple[str, int]]:
    """(payee, amount) of the expenses on a budget line in the split window before `when`: posted
    and not reversed, or still pending (voided ones paid nobody)."""
    rows = await conn.execute(
        select(TRANSFERS.c.counterparty, TRANSFERS.c.amount_fen).where(
            TRANSFERS.c.compound_path == compound_path,
            TRANSFERS.c.kind == K.TRANSFER_KIND_EXPENSE,
            TRANSFERS.c.budget_line == line,
            TRANSFERS.c.created_at > when - authority.SPLIT_WINDOW,
            TRANSFERS.c.created_at <= when,
            ((TRANSFERS.c.state == S.TRANSFER_STATE_POSTED) & TRANSFERS.c.reversed_by.is_(None))
            | (TRANSFERS.c.state == S.TRANSFER_STATE_PENDING),
        )
    )
    return [(r.counterparty, int(r.amount_fen)) for r in rows]


async def _locked_transfer(conn: AsyncConnection, compound_path: str, transfer_id: str) -> Transfer:
    row = (
        await conn.execute(select(TRANSFERS).where(TRANSFERS.c.transfer_id == transfer_id).with_for_update())
    ).first()
    if row is None or row.compound_path != compound_path:
        raise NotFound(
            f"transfer {names.transfer_name(compound_path, transfer_id)} does not exist", reason="TRANSFER_NOT_FOUND"
        )
    return typed(Transfer, row)


async def void_lapsed(conn: AsyncConnection, compound_path: str, when: datetime) -> None:
    """Record the lapse of pending expenses nobody decided on (run at period close)."""
    await conn.execute(
        TRANSFERS.update()
        .where(
            TRANSFERS.c.compound_path == compound_path,
            TRANSFERS.c.state == S.TRANSFER_STATE_PENDING,
            TRANSFERS.c.created_at <= when - PENDING_LIFETIME,
        )
        .values(
            state=S.TRANSFER_STATE_VOIDED,
            memo=TRANSFERS.c.memo + f" [lapsed unapproved after {PENDING_LIFETIME.days} days]",
        )
    )


async def approve(
    session: AsyncSession, compound_path: str, transfer_id: str, party: int, *, approver: str, when: datetime
) -> TransferView:
    conn = await session.connection()
    transfer = await _locked_transfer(conn, compound_path, transfer_id)
    check_decidable(transfer, when)
    check_party_needed(transfer, party)
    given = {
        a.party: a.approved_by
        for a in await conn.execute(select(APPROVALS).where(APPROVALS.c.transfer_id == transfer_id))
    }
    if party in given:
        raise AlreadyExists(
            f"{account_pb2.ApprovalParty.Name(cast(Any, party))} has already approved this transfer",
            reason="ALREADY_APPROVED",
        )
    # Two parties, two accounts; never the account that recorded the expense.
    authority.check_approver(approver, party, given, transfer.recorded_by)
    await conn.execute(
        APPROVALS.insert().values(transfer_id=transfer_id, party=party, approved_by=approver, approved_at=when)
    )
    if set(given) | {party} >= set(parties_of(transfer.required_approvals)):
        await _move(
            conn,
            compound_path,
            transfer.debit_account,
            transfer.credit_account,
            transfer.amount_fen,
            allow_negative_operating=bool(transfer.owners_decision),
        )
        await conn.execute(
            TRANSFERS.update()
            .where(TRANSFERS.c.transfer_id == transfer_id, TRANSFERS.c.state == S.TRANSFER_STATE_PENDING)
            .values(state=S.TRANSFER_STATE_POSTED, posted_at=when)
        )
    return await transfer_view(conn, compound_path, transfer_id)


async def reject(
    session: AsyncSession, compound_path: str, transfer_id: str, party: int, reason: str, *, who: str, when: datetime
) -> TransferView:
    conn = await session.connection()
    transfer = await _locked_transfer(conn, compound_path, transfer_id)
    check_decidable(transfer, when)
    check_party_needed(transfer, party)
    party_name = account_pb2.ApprovalParty.Name(cast(Any, party))
    memo = f"{transfer.memo}\n[voided by {party_name} ({who}): {reason}]".strip()
    await conn.execute(
        TRANSFERS.update()
        .where(TRANSFERS.c.transfer_id == transfer_id, TRANSFERS.c.state == S.TRANSFER_STATE_PENDING)
        .values(state=S.TRANSFER_STATE_VOIDED, memo=memo, posted_at=None)
    )
    return await transfer_view(conn, compound_path, transfer_id)


async def reverse(
    session: AsyncSession, compound_path: str, transfer_id: str, reason: str, *, when: datetime
) -> TransferView:
    conn = await session.connection()
    original = await _locked_transfer(conn, compound_path, transfer_id)
    check_reversible(original)
    new_id = await post_transfer(
        session,
        compound_path,
        kind=K.TRANSFER_KIND_REVERSAL,
        debit=original.credit_account,
        credit=original.debit_account,
        amount=original.amount_fen,
        when=when,
        budget_line=original.budget_line,
        memo=reason,
        reverses=transfer_id,
        project=original.project,
        counterparty=original.counterparty,
        allow_negative_operating=bool(original.owners_decision),
    )
    await conn.execute(TRANSFERS.update().where(TRANSFERS.c.transfer_id == transfer_id).values(reversed_by=new_id))
    return await transfer_view(conn, compound_path, new_id)


# -- transfers as read --------------------------------------------------------------------------


async def _with_approvals(conn: AsyncConnection, transfers: list[Transfer]) -> list[TransferView]:
    # Only expenses are ever approved: skip the lookup for the rest.
    ids = [t.transfer_id for t in transfers if t.state == S.TRANSFER_STATE_PENDING or t.kind == K.TRANSFER_KIND_EXPENSE]
    parties: dict[str, list[int]] = {}
    if ids:
        for a in await conn.execute(select(APPROVALS).where(APPROVALS.c.transfer_id.in_(ids))):
            parties.setdefault(a.transfer_id, []).append(a.party)
    return [TransferView(t, sorted(parties.get(t.transfer_id, []))) for t in transfers]


async def transfer_view(conn: AsyncConnection, compound_path: str, transfer_id: str) -> TransferView:
    row = (await conn.execute(select(TRANSFERS).where(TRANSFERS.c.transfer_id == transfer_id))).first()
    if row is None or row.compound_path != compound_path:
        raise NotFound(
            f"transfer {names.transfer_name(compound_path, transfer_id)} does not exist", reason="TRANSFER_NOT_FOUND"
        )
    [view] = await _with_approvals(conn, [typed(Transfer, row)])
    return view


async def get_settings(db: Database, compound_path: str) -> AccountSettings:
    async with db.session() as session:
        return await require_settings(await session.connection(), compound_path)


async def get_transfer(db: Database, compound_path: str, transfer_id: str) -> TransferView:
    async with db.session() as session:
        return await transfer_view(await session.connection(), compound_path, transfer_id)


async def list_transfers(
    db: Database, compound_path: str, *, state: int, page_token: str, size: int
) -> tuple[list[TransferView], str]:
    """One page of a compound's transfers in the order they were written (of one state, unless
    `state` is 0), and the next page's token ("" at the end)."""
    async with db.session() as session:
        conn = await session.connection()
        await require_settings(conn, compound_path)
        query = select(TRANSFERS).where(TRANSFERS.c.compound_path == compound_path)
        if state:
            query = query.where(TRANSFERS.c.state == state)
        rows, token = await paging.keyset_page(
            conn,
            query,
            TRANSFERS.c.seq,
            kind=f"ListTransfers:{compound_path}:{state}",
            page_token=page_token,
            size=size,
        )
        return await _with_approvals(conn, typed_all(Transfer, rows)), token


async def balances(db: Database, compound_path: str, *, now: datetime) -> Balances:
    async with db.session() as session:
        conn = await session.connection()
        await require_settings(conn, compound_path)
        rows = (
            await conn.execute(
                select(ACCOUNTS.c.account, ACCOUNTS.c.balance_fen)
                .where(ACCOUNTS.c.compound_path == compound_path)
                .order_by(ACCOUNTS.c.account)
            )
        ).all()
        # Pending expenses past their lifetime no longer wait for anyone.
        pending = (
            await conn.execute(
                select(func.coalesce(func.sum(TRANSFERS.c.amount_fen), 0)).where(
                    TRANSFERS.c.compound_path == compound_path,
                    TRANSFERS.c.state == S.TRANSFER_STATE_PENDING,
                    TRANSFERS.c.created_at > now - PENDING_LIFETIME,
                )
            )
        ).scalar_one()
    return Balances({r.account: r.balance_fen for r in rows}, int(pending))


# -- budgets ------------------------------------------------------------------------------------


async def create_budget(
    session: AsyncSession, compound_path: str, year: int, lines: Sequence[NewBudgetLine]
) -> BudgetView:
    validate_budget(year, lines)
    conn = await session.connection()
    await require_settings(conn, compound_path)
    exists = (
        await conn.execute(
            select(BUDGETS.c.year).where(BUDGETS.c.compound_path == compound_path, BUDGETS.c.year == year)
        )
    ).first()
    if exists is not None:
        raise AlreadyExists(f"{names.budget_name(compound_path, year)} already exists", reason="BUDGET_EXISTS")
    await conn.execute(
        BUDGETS.insert().values(
            compound_path=compound_path, year=year, state=account_pb2.BUDGET_STATE_DRAFT, approved_by_vote=""
        )
    )
    await conn.execute(
        BUDGET_LINES.insert(),
        [
            {
                "compound_path": compound_path,
                "year": year,
                "code": line.code,
                "title": line.title,
                "amount_fen": line.amount_fen,
                "position": i,
            }
            for i, line in enumerate(lines)
        ],
    )
    return await budget_view(conn, compound_path, year)


async def year_actuals(
    conn: AsyncConnection, compound_path: str, year: int, *, until: datetime | None = None
) -> dict[str, int]:
    """Net posted spending per budget line in the budget year (reversals net out)."""
    start, end = times.year_bounds(year)
    if until is not None:
        end = min(end, until)
    rows = await conn.execute(
        select(TRANSFERS.c.debit_account, TRANSFERS.c.credit_account, TRANSFERS.c.amount_fen).where(
            TRANSFERS.c.compound_path == compound_path,
            TRANSFERS.c.state == S.TRANSFER_STATE_POSTED,
            TRANSFERS.c.posted_at >= start,
            TRANSFERS.c.posted_at < end,
        )
    )
    return line_actuals([(r.debit_account, r.credit_account, r.amount_fen) for r in rows])


async def budget_view(conn: AsyncConnection, compound_path: str, year: int) -> BudgetView:
    row = (
        await conn.execute(select(BUDGETS).where(BUDGETS.c.compound_path == compound_path, BUDGETS.c.year == year))
    ).first()
    if row is None:
        raise NotFound(f"{names.budget_name(compound_path, year)} does not exist", reason="BUDGET_NOT_FOUND")
    lines = typed_all(
        BudgetLine,
        await conn.execute(
            select(BUDGET_LINES)
            .where(BUDGET_LINES.c.compound_path == compound_path, BUDGET_LINES.c.year == year)
            .order_by(BUDGET_LINES.c.position)
        ),
    )
    actual = await year_actuals(conn, compound_path, year)
    return BudgetView(typed(Budget, row), [(line, actual.get(line.code, 0)) for line in lines])


async def get_budget(db: Database, compound_path: str, year: int) -> BudgetView:
    async with db.session() as session:
        return await budget_view(await session.connection(), compound_path, year)


async def budget_lines(conn: AsyncConnection, compound_path: str, year: int) -> list[BudgetLine]:
    return typed_all(
        BudgetLine,
        await conn.execute(
            select(BUDGET_LINES).where(BUDGET_LINES.c.compound_path == compound_path, BUDGET_LINES.c.year == year)
        ),
    )


async def approve_budget(session: AsyncSession, compound_path: str, year: int, vote_name: str) -> None:
    conn = await session.connection()
    await conn.execute(
        BUDGETS.update()
        .where(BUDGETS.c.compound_path == compound_path, BUDGETS.c.year == year)
        .values(state=account_pb2.BUDGET_STATE_APPROVED, approved_by_vote=vote_name)
    )
