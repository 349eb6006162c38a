"""The trust common account: a double-entry ledger per compound, in integer fen.

Every transfer debits one account and credits another by the same amount, so the balances of
a compound always sum to zero. Balances are debits minus credits: `cash:operating` and
`cash:maintenance_fund` are positive when money is there, `income:*` accounts grow negative,
`expense:*` accounts positive. Transfers are never edited: a mistake is undone by a reversal.

Spending above the compound's threshold is stored PENDING and touches no balance until both the
owners' committee and the supervisor approve; the second approval posts it, once (the transfer
row is locked while it changes state). Cash accounts never go below zero — the operating account
may, only with a passed owners' vote recorded on the transfer.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.governance.v1 import account_pb2, vote_pb2
from linli_governance.names import child_name, parse_child_name, utc
from linli_governance.periods import CST, local_year
from linli_governance.tables import (
    account_settings,
    accounts,
    approvals,
    budget_lines,
    budgets,
    transfers,
    votes,
)
from linli_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound

OPERATING = "cash:operating"
FUND = "cash:maintenance_fund"
CASH_ACCOUNTS = (OPERATING, FUND)
DEFAULT_THRESHOLD_FEN = 500_000  # 5,000 yuan
DEFAULT_SURPLUS_SHARE_BP = 3_000  # 30 %
# A pending expense nobody decided on lapses: approvals given a month later may rest on a
# quote or a need that no longer holds. Propose it again instead.
PENDING_LIFETIME = timedelta(days=30)

K = account_pb2.TransferKind
S = account_pb2.TransferState
PARTIES = (account_pb2.APPROVAL_PARTY_OWNERS_COMMITTEE, account_pb2.APPROVAL_PARTY_SUPERVISOR)
INCOME_ACCOUNTS = {
    account_pb2.INCOME_CATEGORY_PROPERTY_FEES: "income:property_fees",
    account_pb2.INCOME_CATEGORY_PARKING: "income:parking",
    account_pb2.INCOME_CATEGORY_ADVERTISING: "income:advertising",
    account_pb2.INCOME_CATEGORY_EBIKE_CHARGING: "income:ebike_charging",
    account_pb2.INCOME_CATEGORY_OTHER: "income:other",
}


def expense_account(line: str) -> str:
    return f"expense:{line}"


def transfer_name(compound_path: str, transfer_id: str) -> str:
    return child_name(compound_path, "transfers", transfer_id)


def _ts(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(utc(value))
    return ts


# -- settings -----------------------------------------------------------------------------------


async def open_compound(session: AsyncSession, compound_path: str) -> None:
    conn = await session.connection()
    await conn.execute(
        account_settings.insert().values(
            compound_path=compound_path,
            approval_threshold_fen=DEFAULT_THRESHOLD_FEN,
            surplus_share_bp=DEFAULT_SURPLUS_SHARE_BP,
            period_kind=account_pb2.PERIOD_KIND_MONTHLY,
        )
    )
    await conn.execute(
        accounts.insert(), [{"compound_path": compound_path, "account": a, "balance_fen": 0} for a in CASH_ACCOUNTS]
    )


async def get_settings(session: AsyncSession, compound_path: str) -> account_pb2.AccountSettings:
    conn = await session.connection()
    row = (
        await conn.execute(select(account_settings).where(account_settings.c.compound_path == compound_path))
    ).first()
    if row is None:
        raise NotFound(f"compound '{compound_path}' does not exist", reason="COMPOUND_NOT_FOUND")
    return account_pb2.AccountSettings(
        compound_path=compound_path,
        approval_threshold_fen=row.approval_threshold_fen,
        surplus_share_basis_points=row.surplus_share_bp,
        period_kind=row.period_kind,
    )


def validate_settings(settings: account_pb2.AccountSettings) -> None:
    if settings.approval_threshold_fen <= 0:
        raise InvalidArgument.field("settings.approval_threshold_fen", "must be a positive amount in fen")
    if not 0 <= settings.surplus_share_basis_points <= 10_000:
        raise InvalidArgument.field("settings.surplus_share_basis_points", "must be between 0 and 10000 (100 %)")
    if settings.period_kind not in (account_pb2.PERIOD_KIND_MONTHLY, account_pb2.PERIOD_KIND_QUARTERLY):
        raise InvalidArgument.field("settings.period_kind", "must be MONTHLY or QUARTERLY")


async def update_settings(session: AsyncSession, settings: account_pb2.AccountSettings) -> account_pb2.AccountSettings:
    await get_settings(session, settings.compound_path)
    conn = await session.connection()
    await conn.execute(
        account_settings.update()
        .where(account_settings.c.compound_path == settings.compound_path)
        .values(
            approval_threshold_fen=settings.approval_threshold_fen,
            surplus_share_bp=settings.surplus_share_basis_points,
            period_kind=settings.period_kind,
        )
    )
    return await get_settings(session, settings.compound_path)


# -- postings -----------------------------------------------------------------------------------


async def _ensure_account(conn: AsyncConnection, compound_path: str, account: str) -> None:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    await conn.execute(
        insert(accounts)
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
        accounts.update()
        .where(accounts.c.compound_path == compound_path, accounts.c.account == debit)
        .values(balance_fen=accounts.c.balance_fen + amount)
    )
    guard = and_(accounts.c.compound_path == compound_path, accounts.c.account == credit)
    if credit in CASH_ACCOUNTS and not (credit == OPERATING and allow_negative_operating):
        guard = and_(guard, accounts.c.balance_fen >= amount)
    result = await conn.execute(accounts.update().where(guard).values(balance_fen=accounts.c.balance_fen - amount))
    if result.rowcount != 1:
        balance = (
            await conn.execute(
                select(accounts.c.balance_fen).where(
                    accounts.c.compound_path == compound_path, accounts.c.account == credit
                )
            )
        ).scalar_one()
        raise FailedPrecondition(
            f"{credit} holds {balance} fen, less than {amount} fen; the operating account may go below zero "
            "only with a passed owners' vote (owners_decision)",
            reason="INSUFFICIENT_FUNDS",
            metadata={"account": credit, "balance_fen": str(balance), "amount_fen": str(amount)},
        )


async def _insert_transfer(conn: AsyncConnection, compound_path: str, *, when: datetime, **values: Any) -> str:
    transfer_id = uuid.uuid4().hex
    await conn.execute(
        transfers.insert().values(transfer_id=transfer_id, compound_path=compound_path, created_at=when, **values)
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
    session: AsyncSession, compound_path: str, category: int, amount: int, memo: str, *, when: datetime
) -> account_pb2.Transfer:
    account = INCOME_ACCOUNTS.get(category)  # type: ignore[call-overload]
    if account is None:
        raise InvalidArgument.field("category", "must be PROPERTY_FEES, PARKING, ADVERTISING, EBIKE_CHARGING or OTHER")
    await get_settings(session, compound_path)
    tid = await post_transfer(
        session,
        compound_path,
        kind=K.TRANSFER_KIND_INCOME,
        debit=OPERATING,
        credit=account,
        amount=amount,
        when=when,
        memo=memo,
    )
    return await get_transfer(session, compound_path, tid)


async def check_owners_decision(session: AsyncSession, compound_path: str, decision: str) -> None:
    """A decision is a closed, passed vote of the same compound on spending."""
    vote_compound, vote_id = parse_child_name(decision, "votes", "owners_decision")
    conn = await session.connection()
    row = (await conn.execute(select(votes).where(votes.c.vote_id == vote_id))).first()
    if row is None or vote_compound != compound_path or row.compound_path != compound_path:
        raise NotFound(f"owners' decision {decision} does not exist in this compound", reason="VOTE_NOT_FOUND")
    if not row.closed or row.outcome != vote_pb2.VOTE_OUTCOME_PASSED:
        raise FailedPrecondition(f"vote {decision} has not passed", reason="DECISION_NOT_PASSED")
    if row.matter not in (vote_pb2.VOTE_MATTER_SPENDING_APPROVAL, vote_pb2.VOTE_MATTER_USE_MAINTENANCE_FUND):
        raise FailedPrecondition(f"vote {decision} did not decide on spending", reason="DECISION_WRONG_MATTER")
    # One decision allows one expense, not an open line of credit.
    used = (
        await conn.execute(
            select(transfers.c.transfer_id).where(
                transfers.c.owners_decision == decision, transfers.c.state != S.TRANSFER_STATE_VOIDED
            )
        )
    ).first()
    if used is not None:
        raise FailedPrecondition(
            f"vote {decision} already covers {transfer_name(compound_path, used.transfer_id)}",
            reason="DECISION_ALREADY_USED",
        )


async def record_expense(
    session: AsyncSession,
    compound_path: str,
    *,
    budget_line: str,
    amount: int,
    memo: str,
    voucher: account_pb2.Voucher,
    owners_decision: str,
    when: datetime,
    project_id: str = "",
) -> account_pb2.Transfer:
    settings = await get_settings(session, compound_path)
    year = local_year(when)
    conn = await session.connection()
    if (
        await conn.execute(
            select(budgets.c.state).where(budgets.c.compound_path == compound_path, budgets.c.year == year)
        )
    ).first() is None:
        raise FailedPrecondition(
            f"the compound has no budget for {year}; spending needs a budget line", reason="NO_BUDGET"
        )
    line = (
        await conn.execute(
            select(budget_lines.c.code).where(
                budget_lines.c.compound_path == compound_path,
                budget_lines.c.year == year,
                budget_lines.c.code == budget_line,
            )
        )
    ).first()
    if line is None:
        raise InvalidArgument.field("budget_line", f"{budget_line!r} is not a line of the {year} budget")
    if owners_decision:
        await check_owners_decision(session, compound_path, owners_decision)
    if project_id:
        # projects → org_tree → accounts: imported here to keep the module graph acyclic.
        from linli_governance.projects import check_spending

        await check_spending(conn, compound_path, project_id, budget_line)
    values: dict[str, Any] = {
        "project": project_id or None,
        "budget_line": budget_line,
        "memo": memo,
        "voucher_ref": voucher.file_ref,
        "voucher_sha256": voucher.sha256,
        "owners_decision": owners_decision,
    }
    debit = expense_account(budget_line)
    if amount > settings.approval_threshold_fen:
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
    return await get_transfer(session, compound_path, tid)


async def _locked_transfer(conn: AsyncConnection, compound_path: str, transfer_id: str) -> Any:
    row = (
        await conn.execute(select(transfers).where(transfers.c.transfer_id == transfer_id).with_for_update())
    ).first()
    if row is None or row.compound_path != compound_path:
        raise NotFound(
            f"transfer {transfer_name(compound_path, transfer_id)} does not exist", reason="TRANSFER_NOT_FOUND"
        )
    return row


def lapsed(created_at: datetime, when: datetime) -> bool:
    return when >= utc(created_at) + PENDING_LIFETIME


def _check_decidable(row: Any, when: datetime) -> None:
    if row.state != S.TRANSFER_STATE_PENDING:
        raise FailedPrecondition("the transfer is not pending approval", reason="NOT_PENDING")
    if lapsed(row.created_at, when):
        raise FailedPrecondition(
            f"the expense was proposed more than {PENDING_LIFETIME.days} days ago and has lapsed; propose it again",
            reason="APPROVAL_LAPSED",
        )


async def void_lapsed(conn: AsyncConnection, compound_path: str, when: datetime) -> None:
    """Record the lapse of pending expenses nobody decided on (run at period close)."""
    await conn.execute(
        transfers.update()
        .where(
            transfers.c.compound_path == compound_path,
            transfers.c.state == S.TRANSFER_STATE_PENDING,
            transfers.c.created_at <= when - PENDING_LIFETIME,
        )
        .values(
            state=S.TRANSFER_STATE_VOIDED,
            memo=transfers.c.memo + f" [lapsed unapproved after {PENDING_LIFETIME.days} days]",
        )
    )


async def approve(
    session: AsyncSession, compound_path: str, transfer_id: str, party: int, *, approver: str, when: datetime
) -> account_pb2.Transfer:
    conn = await session.connection()
    row = await _locked_transfer(conn, compound_path, transfer_id)
    _check_decidable(row, when)
    already = (await conn.execute(select(approvals.c.party).where(approvals.c.transfer_id == transfer_id))).scalars()
    given = set(already)
    if party in given:
        raise AlreadyExists(
            f"{account_pb2.ApprovalParty.Name(cast(Any, party))} has already approved this transfer",
            reason="ALREADY_APPROVED",
        )
    await conn.execute(
        approvals.insert().values(transfer_id=transfer_id, party=party, approved_by=approver, approved_at=when)
    )
    if given | {party} >= set(PARTIES):
        await _move(
            conn,
            compound_path,
            row.debit_account,
            row.credit_account,
            row.amount_fen,
            allow_negative_operating=bool(row.owners_decision),
        )
        await conn.execute(
            transfers.update()
            .where(transfers.c.transfer_id == transfer_id, transfers.c.state == S.TRANSFER_STATE_PENDING)
            .values(state=S.TRANSFER_STATE_POSTED, posted_at=when)
        )
    return await get_transfer(session, compound_path, transfer_id)


async def reject(
    session: AsyncSession, compound_path: str, transfer_id: str, party: int, reason: str, *, who: str, when: datetime
) -> account_pb2.Transfer:
    conn = await session.connection()
    row = await _locked_transfer(conn, compound_path, transfer_id)
    _check_decidable(row, when)
    party_name = account_pb2.ApprovalParty.Name(cast(Any, party))
    memo = f"{row.memo}\n[voided by {party_name} ({who}): {reason}]".strip()
    await conn.execute(
        transfers.update()
        .where(transfers.c.transfer_id == transfer_id, transfers.c.state == S.TRANSFER_STATE_PENDING)
        .values(state=S.TRANSFER_STATE_VOIDED, memo=memo, posted_at=None)
    )
    return await get_transfer(session, compound_path, transfer_id)


async def reverse(
    session: AsyncSession, compound_path: str, transfer_id: str, reason: str, *, when: datetime
) -> account_pb2.Transfer:
    conn = await session.connection()
    row = await _locked_transfer(conn, compound_path, transfer_id)
    if row.state != S.TRANSFER_STATE_POSTED:
        raise FailedPrecondition("only a posted transfer can be reversed", reason="NOT_POSTED")
    if row.kind == K.TRANSFER_KIND_REVERSAL:
        raise FailedPrecondition(
            "a reversal is not reversed again; post a new transfer instead", reason="REVERSAL_OF_REVERSAL"
        )
    if row.reversed_by:
        raise FailedPrecondition(
            f"already reversed by {transfer_name(compound_path, row.reversed_by)}", reason="ALREADY_REVERSED"
        )
    new_id = await post_transfer(
        session,
        compound_path,
        kind=K.TRANSFER_KIND_REVERSAL,
        debit=row.credit_account,
        credit=row.debit_account,
        amount=row.amount_fen,
        when=when,
        budget_line=row.budget_line,
        memo=reason,
        reverses=transfer_id,
        project=row.project,
        allow_negative_operating=bool(row.owners_decision),
    )
    await conn.execute(transfers.update().where(transfers.c.transfer_id == transfer_id).values(reversed_by=new_id))
    return await get_transfer(session, compound_path, new_id)


# -- reads --------------------------------------------------------------------------------------


def transfer_proto(row: Any, parties: list[int]) -> account_pb2.Transfer:
    path = row.compound_path
    return account_pb2.Transfer(
        name=transfer_name(path, row.transfer_id),
        compound_path=path,
        kind=row.kind,
        state=row.state,
        debit_account=row.debit_account,
        credit_account=row.credit_account,
        amount_fen=row.amount_fen,
        budget_line=row.budget_line,
        memo=row.memo,
        voucher=account_pb2.Voucher(file_ref=row.voucher_ref, sha256=row.voucher_sha256) if row.voucher_ref else None,
        approvals=sorted(parties),  # type: ignore[arg-type]
        reverses=transfer_name(path, row.reverses) if row.reverses else "",
        reversed_by=transfer_name(path, row.reversed_by) if row.reversed_by else "",
        owners_decision=row.owners_decision,
        create_time=_ts(row.created_at),
        post_time=_ts(row.posted_at),
        disclosure=row.disclosure or "",
        project=child_name(path, "projects", row.project) if row.project else "",
    )


async def _with_approvals(conn: AsyncConnection, rows: list[Any]) -> list[account_pb2.Transfer]:
    ids = [r.transfer_id for r in rows if r.state == S.TRANSFER_STATE_PENDING or r.kind == K.TRANSFER_KIND_EXPENSE]
    parties: dict[str, list[int]] = {}
    if ids:
        for a in await conn.execute(select(approvals).where(approvals.c.transfer_id.in_(ids))):
            parties.setdefault(a.transfer_id, []).append(a.party)
    return [transfer_proto(r, parties.get(r.transfer_id, [])) for r in rows]


async def get_transfer(session: AsyncSession, compound_path: str, transfer_id: str) -> account_pb2.Transfer:
    conn = await session.connection()
    row = (await conn.execute(select(transfers).where(transfers.c.transfer_id == transfer_id))).first()
    if row is None or row.compound_path != compound_path:
        raise NotFound(
            f"transfer {transfer_name(compound_path, transfer_id)} does not exist", reason="TRANSFER_NOT_FOUND"
        )
    [transfer] = await _with_approvals(conn, [row])
    return transfer


async def list_transfers(
    session: AsyncSession, compound_path: str, *, after_seq: int, limit: int, state: int
) -> tuple[list[account_pb2.Transfer], int | None]:
    conn = await session.connection()
    query = select(transfers).where(transfers.c.compound_path == compound_path, transfers.c.seq > after_seq)
    if state:
        query = query.where(transfers.c.state == state)
    rows = (await conn.execute(query.order_by(transfers.c.seq).limit(limit + 1))).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return await _with_approvals(conn, list(rows)), (rows[-1].seq if more else None)


async def balances(session: AsyncSession, compound_path: str, *, now: datetime) -> account_pb2.GetBalancesResponse:
    await get_settings(session, compound_path)
    conn = await session.connection()
    rows = (
        await conn.execute(
            select(accounts.c.account, accounts.c.balance_fen)
            .where(accounts.c.compound_path == compound_path)
            .order_by(accounts.c.account)
        )
    ).all()
    pending = (
        await conn.execute(
            select(func.coalesce(func.sum(transfers.c.amount_fen), 0)).where(
                transfers.c.compound_path == compound_path,
                transfers.c.state == S.TRANSFER_STATE_PENDING,
                transfers.c.created_at > now - PENDING_LIFETIME,
            )
        )
    ).scalar_one()
    by_account = {r.account: r.balance_fen for r in rows}
    return account_pb2.GetBalancesResponse(
        balances=[account_pb2.AccountBalance(account=a, balance_fen=b) for a, b in by_account.items()],
        operating_fen=by_account.get(OPERATING, 0),
        maintenance_fund_fen=by_account.get(FUND, 0),
        pending_fen=int(pending),
    )


# -- budgets ------------------------------------------------------------------------------------


def budget_name(compound_path: str, year: int) -> str:
    return child_name(compound_path, "budgets", str(year))


async def create_budget(
    session: AsyncSession, compound_path: str, year: int, lines: list[account_pb2.BudgetLine]
) -> account_pb2.Budget:
    await get_settings(session, compound_path)
    conn = await session.connection()
    exists = (
        await conn.execute(
            select(budgets.c.year).where(budgets.c.compound_path == compound_path, budgets.c.year == year)
        )
    ).first()
    if exists is not None:
        raise AlreadyExists(f"{budget_name(compound_path, year)} already exists", reason="BUDGET_EXISTS")
    await conn.execute(
        budgets.insert().values(
            compound_path=compound_path, year=year, state=account_pb2.BUDGET_STATE_DRAFT, approved_by_vote=""
        )
    )
    await conn.execute(
        budget_lines.insert(),
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
    return await get_budget(session, compound_path, year)


async def year_actuals(
    conn: AsyncConnection, compound_path: str, year: int, *, until: datetime | None = None
) -> dict[str, int]:
    """Net posted spending per budget line in the budget year (reversals net out)."""
    start = datetime(year, 1, 1, tzinfo=CST).astimezone(UTC)
    end = datetime(year + 1, 1, 1, tzinfo=CST).astimezone(UTC)
    if until is not None:
        end = min(end, until)
    rows = await conn.execute(
        select(transfers.c.debit_account, transfers.c.credit_account, transfers.c.amount_fen).where(
            transfers.c.compound_path == compound_path,
            transfers.c.state == S.TRANSFER_STATE_POSTED,
            transfers.c.posted_at >= start,
            transfers.c.posted_at < end,
        )
    )
    actual: dict[str, int] = {}
    for r in rows:
        if r.debit_account.startswith("expense:"):
            code = r.debit_account.removeprefix("expense:")
            actual[code] = actual.get(code, 0) + r.amount_fen
        if r.credit_account.startswith("expense:"):
            code = r.credit_account.removeprefix("expense:")
            actual[code] = actual.get(code, 0) - r.amount_fen
    return actual


async def get_budget(session: AsyncSession, compound_path: str, year: int) -> account_pb2.Budget:
    conn = await session.connection()
    row = (
        await conn.execute(select(budgets).where(budgets.c.compound_path == compound_path, budgets.c.year == year))
    ).first()
    if row is None:
        raise NotFound(f"{budget_name(compound_path, year)} does not exist", reason="BUDGET_NOT_FOUND")
    lines = (
        await conn.execute(
            select(budget_lines)
            .where(budget_lines.c.compound_path == compound_path, budget_lines.c.year == year)
            .order_by(budget_lines.c.position)
        )
    ).all()
    actual = await year_actuals(conn, compound_path, year)
    return account_pb2.Budget(
        name=budget_name(compound_path, year),
        compound_path=compound_path,
        year=year,
        lines=[
            account_pb2.BudgetLine(
                code=ln.code, title=ln.title, amount_fen=ln.amount_fen, actual_fen=actual.get(ln.code, 0)
            )
            for ln in lines
        ],
        state=row.state,
        approved_by_vote=row.approved_by_vote,
    )


async def approve_budget(session: AsyncSession, compound_path: str, year: int, vote_name: str) -> None:
    conn = await session.connection()
    await conn.execute(
        budgets.update()
        .where(budgets.c.compound_path == compound_path, budgets.c.year == year)
        .values(state=account_pb2.BUDGET_STATE_APPROVED, approved_by_vote=vote_name)
    )
