"""Period close and sealed disclosures (公示).

Closing a period takes every posted transfer not yet disclosed and posted before the period's
end, moves the contract's share of the surplus into the maintenance fund, and seals a body
computed from those transfers: SHA-256 over the previous seal and the canonical JSON. The
transfers are stamped with the disclosure's name, so verification can recompute every total
from the ledger and tell which disclosure no longer matches.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.events.v1 import governance_pb2 as events_pb2
from linli.governance.v1 import account_pb2, disclosure_pb2
from linli_governance import accounts, bodies, org_tree
from linli_governance.names import child_name, utc
from linli_governance.periods import Period, local_year, parse_period
from linli_governance.sealing import GENESIS, canonical_json, ledger_digest, seal
from linli_governance.tables import account_settings, budget_lines, disclosures, objections, transfers
from linli_governance.tables import accounts as accounts_table
from linli_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.events import publish_in
from linli_runtime.server import ServiceApp

S = account_pb2.TransferState
OBJECTION_DAYS = 15
REMUNERATION = "expense:trustee_remuneration"


def disclosure_name(compound_path: str, period: str) -> str:
    return child_name(compound_path, "disclosures", period)


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(utc(value))
    return ts


def ledger_figures(rows: list[Any], opening_operating: int, opening_fund: int) -> dict[str, Any]:
    """Everything in a disclosure that follows from its transfers alone."""
    income: dict[str, int] = {}
    expense: dict[str, int] = {}
    operating, fund, to_fund = opening_operating, opening_fund, 0
    for r in rows:
        for account, sign in ((r.debit_account, 1), (r.credit_account, -1)):
            if account.startswith("income:"):
                income[account] = income.get(account, 0) - sign * r.amount_fen
            elif account.startswith("expense:"):
                expense[account] = expense.get(account, 0) + sign * r.amount_fen
            elif account == accounts.OPERATING:
                operating += sign * r.amount_fen
            elif account == accounts.FUND:
                fund += sign * r.amount_fen
        if r.kind == account_pb2.TRANSFER_KIND_FUND_ALLOCATION:
            to_fund += r.amount_fen
    return {
        "income": dict(sorted(income.items())),
        "expenses": dict(sorted(expense.items())),
        "income_fen": sum(income.values()),
        "expense_fen": sum(expense.values()),
        "to_maintenance_fund_fen": to_fund,
        "operating_balance_fen": operating,
        "maintenance_fund_balance_fen": fund,
        "transfer_count": len(rows),
        "ledger_digest": ledger_digest((r.transfer_id, r.debit_account, r.credit_account, r.amount_fen) for r in rows),
    }


async def _available(conn: AsyncConnection, compound_path: str, figures: dict[str, Any]) -> int:
    """What the close may take from the operating account: no more than the period's closing
    balance, nor than what is there now (postings of the next period may already have spent)."""
    live = (
        await conn.execute(
            select(accounts_table.c.balance_fen).where(
                accounts_table.c.compound_path == compound_path, accounts_table.c.account == accounts.OPERATING
            )
        )
    ).scalar_one()
    return max(0, min(int(figures["operating_balance_fen"]), int(live)))


async def _disclosed_rows(conn: AsyncConnection, name: str) -> list[Any]:
    return list(
        (await conn.execute(select(transfers).where(transfers.c.disclosure == name).order_by(transfers.c.seq))).all()
    )


async def _chain(conn: AsyncConnection, compound_path: str) -> list[Any]:
    return list(
        (
            await conn.execute(
                select(disclosures).where(disclosures.c.compound_path == compound_path).order_by(disclosures.c.seq)
            )
        ).all()
    )


def to_proto(row: Any) -> disclosure_pb2.Disclosure:
    body = json.loads(row.body)
    budget = body.get("budget", {})
    return disclosure_pb2.Disclosure(
        name=row.name,
        compound_path=row.compound_path,
        period=row.period,
        period_start=_ts(row.period_start),
        period_end=_ts(row.period_end),
        income=[disclosure_pb2.DisclosureLine(account=a, amount_fen=v) for a, v in body["income"].items()],
        expenses=[
            disclosure_pb2.DisclosureLine(
                account=a,
                amount_fen=v,
                budget_fen=budget.get(a, {}).get("budget_fen", 0),
                year_actual_fen=budget.get(a, {}).get("year_actual_fen", 0),
            )
            for a, v in body["expenses"].items()
        ],
        income_fen=body["income_fen"],
        expense_fen=body["expense_fen"],
        surplus_fen=body["income_fen"] - body["expense_fen"],
        to_maintenance_fund_fen=body["to_maintenance_fund_fen"],
        operating_balance_fen=body["operating_balance_fen"],
        maintenance_fund_balance_fen=body["maintenance_fund_balance_fen"],
        pending_transfers=body["pending_transfers"],
        pending_fen=body["pending_fen"],
        transfer_count=body["transfer_count"],
        seal_hash=row.seal_hash,
        previous_seal_hash=row.previous_seal_hash,
        publish_time=_ts(row.published_at),
    )


async def close_period(
    session: AsyncSession, app: ServiceApp, compound_path: str, label: str, *, when: datetime
) -> disclosure_pb2.Disclosure:
    compound = await org_tree.get_compound(session, compound_path)
    settings = await accounts.get_settings(session, compound_path)
    period: Period = parse_period(label)
    if period.quarterly != (settings.period_kind == account_pb2.PERIOD_KIND_QUARTERLY):
        raise InvalidArgument.field(
            "period", "must match the compound's period kind (YYYY-MM monthly, YYYY-Qn quarterly)"
        )
    if when < period.end:
        raise FailedPrecondition(f"period {label} has not ended yet", reason="PERIOD_NOT_ENDED")
    name = disclosure_name(compound_path, label)
    conn = await session.connection()
    # One close at a time per compound: the settings row is the compound's close lock.
    await conn.execute(
        select(account_settings.c.compound_path)
        .where(account_settings.c.compound_path == compound_path)
        .with_for_update()
    )
    chain = await _chain(conn, compound_path)
    if any(d.period == label for d in chain):
        raise AlreadyExists(f"{name} is already published", reason="PERIOD_CLOSED")
    if chain and period.start < utc(chain[-1].period_end):
        raise FailedPrecondition(
            f"period {label} starts before the end of {chain[-1].period}, already closed", reason="PERIOD_OUT_OF_ORDER"
        )
    previous = chain[-1] if chain else None
    opening = json.loads(previous.body) if previous else {}
    opening_operating = opening.get("operating_balance_fen", 0)
    opening_fund = opening.get("maintenance_fund_balance_fen", 0)

    # Stamp the period's transfers first, so postings racing with the close fall cleanly on
    # one side (the transfer rows are locked by the UPDATE).
    await conn.execute(
        transfers.update()
        .where(
            transfers.c.compound_path == compound_path,
            transfers.c.state == S.TRANSFER_STATE_POSTED,
            transfers.c.disclosure.is_(None),
            transfers.c.posted_at < period.end,
        )
        .values(disclosure=name)
    )
    rows = await _disclosed_rows(conn, name)
    draft = ledger_figures(rows, opening_operating, opening_fund)
    # The trustee is paid by the contract's rule before the surplus is shared (never beyond
    # what the operating account holds).
    contract = await bodies.find_contract(conn, compound_path)
    pay = min(bodies.remuneration_due(contract, draft["income_fen"]), await _available(conn, compound_path, draft))
    if pay > 0:
        tid = await accounts.post_transfer(
            session,
            compound_path,
            kind=account_pb2.TRANSFER_KIND_REMUNERATION,
            debit=REMUNERATION,
            credit=accounts.OPERATING,
            amount=pay,
            when=when,
            memo=f"{label}: trustee remuneration under the trust contract",
        )
        await conn.execute(transfers.update().where(transfers.c.transfer_id == tid).values(disclosure=name))
        rows = await _disclosed_rows(conn, name)
        draft = ledger_figures(rows, opening_operating, opening_fund)
    surplus = draft["income_fen"] - draft["expense_fen"]
    share = min(
        max(0, surplus * settings.surplus_share_basis_points // 10_000), await _available(conn, compound_path, draft)
    )
    if share > 0:
        tid = await accounts.post_transfer(
            session,
            compound_path,
            kind=account_pb2.TRANSFER_KIND_FUND_ALLOCATION,
            debit=accounts.FUND,
            credit=accounts.OPERATING,
            amount=share,
            when=when,
            memo=f"{label}: {settings.surplus_share_basis_points / 100:g}% of the surplus to the maintenance fund",
        )
        await conn.execute(transfers.update().where(transfers.c.transfer_id == tid).values(disclosure=name))
        rows = await _disclosed_rows(conn, name)
    body = ledger_figures(rows, opening_operating, opening_fund)

    year = local_year(period.start)
    lines = (
        await conn.execute(
            select(budget_lines.c.code, budget_lines.c.amount_fen).where(
                budget_lines.c.compound_path == compound_path, budget_lines.c.year == year
            )
        )
    ).all()
    actual = await accounts.year_actuals(conn, compound_path, year, until=period.end)
    body["budget"] = {
        accounts.expense_account(ln.code): {"budget_fen": ln.amount_fen, "year_actual_fen": actual.get(ln.code, 0)}
        for ln in lines
    }
    await accounts.void_lapsed(conn, compound_path, when)
    pending = (
        await conn.execute(
            select(transfers.c.transfer_id, transfers.c.amount_fen)
            .where(
                transfers.c.compound_path == compound_path,
                transfers.c.state == S.TRANSFER_STATE_PENDING,
                transfers.c.created_at < period.end,
            )
            .order_by(transfers.c.seq)
        )
    ).all()
    body["pending_transfers"] = [accounts.transfer_name(compound_path, p.transfer_id) for p in pending]
    body["pending_fen"] = sum(p.amount_fen for p in pending)
    body.update(
        compound_path=compound_path,
        period=label,
        period_start=period.start.isoformat(),
        period_end=period.end.isoformat(),
    )

    body_json = canonical_json(body)
    previous_seal = previous.seal_hash if previous else GENESIS
    seal_hash = seal(previous_seal, body_json)
    await conn.execute(
        disclosures.insert().values(
            name=name,
            compound_path=compound_path,
            period=label,
            period_start=period.start,
            period_end=period.end,
            body=body_json,
            seal_hash=seal_hash,
            previous_seal_hash=previous_seal,
            published_at=when,
        )
    )
    event = events_pb2.DisclosurePublished(
        disclosure=name,
        compound_path=compound_path,
        compound_name=compound.display_name,
        period=label,
        period_start=_ts(period.start),
        period_end=_ts(period.end),
        income_fen=body["income_fen"],
        expense_fen=body["expense_fen"],
        to_maintenance_fund_fen=body["to_maintenance_fund_fen"],
        maintenance_fund_balance_fen=body["maintenance_fund_balance_fen"],
        seal_hash=seal_hash,
        previous_seal_hash=previous_seal,
    )
    await publish_in(session, app.event("governance.disclosure.published", event, org_scope=compound_path))
    return await get(session, compound_path, label)


async def get(session: AsyncSession, compound_path: str, period: str) -> disclosure_pb2.Disclosure:
    conn = await session.connection()
    name = disclosure_name(compound_path, period)
    row = (await conn.execute(select(disclosures).where(disclosures.c.name == name))).first()
    if row is None:
        raise NotFound(f"{name} does not exist", reason="DISCLOSURE_NOT_FOUND")
    return to_proto(row)


async def list_page(
    session: AsyncSession, compound_path: str, *, after_seq: int, limit: int
) -> tuple[list[disclosure_pb2.Disclosure], int | None]:
    conn = await session.connection()
    rows = (
        await conn.execute(
            select(disclosures)
            .where(disclosures.c.compound_path == compound_path, disclosures.c.seq > after_seq)
            .order_by(disclosures.c.seq)
            .limit(limit + 1)
        )
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [to_proto(r) for r in rows], (rows[-1].seq if more else None)


LEDGER_KEYS = (
    "income",
    "expenses",
    "income_fen",
    "expense_fen",
    "to_maintenance_fund_fen",
    "operating_balance_fen",
    "maintenance_fund_balance_fen",
    "transfer_count",
    "ledger_digest",
)


async def verify_chain(session: AsyncSession, compound_path: str) -> disclosure_pb2.VerifyDisclosureChainResponse:
    """Check, oldest first: the link to the previous seal, the seal over the stored body, and
    the body's ledger figures against the transfers stamped with it."""
    conn = await session.connection()
    previous_seal = GENESIS
    operating = fund = 0
    checked = 0

    def broken(row: Any, reason: str) -> disclosure_pb2.VerifyDisclosureChainResponse:
        return disclosure_pb2.VerifyDisclosureChainResponse(
            valid=False, checked=checked, broken_disclosure=row.name, reason=reason
        )

    for row in await _chain(conn, compound_path):
        checked += 1
        if row.previous_seal_hash != previous_seal:
            return broken(row, "chain_mismatch: previous_seal_hash is not the seal of the disclosure before it")
        if seal(previous_seal, row.body) != row.seal_hash:
            return broken(row, "seal_mismatch: the stored content no longer hashes to its seal")
        body = json.loads(row.body)
        figures = ledger_figures(await _disclosed_rows(conn, row.name), operating, fund)
        differing = [k for k in LEDGER_KEYS if body.get(k) != figures[k]]
        if differing:
            return broken(row, f"ledger_mismatch: {', '.join(differing)} differ from the ledger entries")
        previous_seal = row.seal_hash
        operating, fund = figures["operating_balance_fen"], figures["maintenance_fund_balance_fen"]
    return disclosure_pb2.VerifyDisclosureChainResponse(valid=True, checked=checked)


# -- objections ---------------------------------------------------------------------------------


def objection_proto(row: Any, now: datetime) -> disclosure_pb2.Objection:
    return disclosure_pb2.Objection(
        name=f"{row.disclosure}/objections/{row.objection_id}",
        kind=row.kind,
        account=row.account,
        text=row.text,
        household_path=row.household_path,
        create_time=_ts(row.created_at),
        deadline=_ts(row.deadline),
        overdue=now >= utc(row.deadline),
    )


async def file_objection(
    session: AsyncSession,
    compound_path: str,
    period: str,
    *,
    kind: int,
    account: str,
    text: str,
    household_path: str,
    when: datetime,
) -> disclosure_pb2.Objection:
    if kind not in (disclosure_pb2.OBJECTION_KIND_OBJECTION, disclosure_pb2.OBJECTION_KIND_INSPECTION):
        raise InvalidArgument.field("kind", "must be OBJECTION or INSPECTION")
    if household_path and not household_path.startswith(compound_path + "/"):
        raise InvalidArgument.field("household_path", "must be a household of the disclosure's compound")
    disclosure = await get(session, compound_path, period)
    lines = {line.account for line in [*disclosure.income, *disclosure.expenses]}
    if account not in lines:
        raise InvalidArgument.field(
            "account", f"must be a line of the disclosure: {', '.join(sorted(lines)) or 'none'}"
        )
    conn = await session.connection()
    objection_id = uuid.uuid4().hex
    await conn.execute(
        objections.insert().values(
            objection_id=objection_id,
            disclosure=disclosure.name,
            kind=kind,
            account=account,
            text=text,
            household_path=household_path,
            created_at=when,
            deadline=when + timedelta(days=OBJECTION_DAYS),
        )
    )
    row = (await conn.execute(select(objections).where(objections.c.objection_id == objection_id))).one()
    return objection_proto(row, when)


async def list_objections(
    session: AsyncSession, disclosure: str, *, after_seq: int, limit: int, now: datetime
) -> tuple[list[disclosure_pb2.Objection], int | None]:
    conn = await session.connection()
    rows = (
        await conn.execute(
            select(objections)
            .where(objections.c.disclosure == disclosure, objections.c.seq > after_seq)
            .order_by(objections.c.seq)
            .limit(limit + 1)
        )
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [objection_proto(r, now) for r in rows], (rows[-1].seq if more else None)
