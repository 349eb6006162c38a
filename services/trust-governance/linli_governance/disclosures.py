"""Period close and sealed disclosures (公示), and the objections owners file against them.

Closing a period takes every posted transfer not yet disclosed and posted before the period's
end, pays the trustee by the contract's rule, moves the compound's share of the surplus into the
maintenance fund (real money: `cash:maintenance_fund`, spent only under owners' votes, see
accounts.py), lists the fund's movements of the period (in at the close, out under each vote),
and seals a body computed from those transfers — every transfer line it summarises, its figures,
its place in the chain — as SHA-256 over the previous seal and the body's RFC 8785 canonical
JSON (sealing.py documents the form). The transfers are stamped with the disclosure's name, so
verification rebuilds every line and total from the ledger and tells which disclosure, which
transfer and which field no longer match. Each seal is announced on the GOVERNANCE stream
(`governance.disclosure.published`) and kept in the register of published heads outside the
database (chain_heads.py): a newest disclosure deleted from the database is found missing.

Reads (`get`, `list_page`, `verify_chain`, `list_objections`) open their own session;
`close_period` and `file_objection` are steps of the caller's transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.events.v1 import governance_pb2 as events_pb2
from linli.governance.v1 import account_pb2, disclosure_pb2
from linli_governance import accounts, bodies, names, org_tree, service_levels
from linli_governance.chain_heads import HeadRegister, PublishedHead
from linli_governance.periods import Period, local_year, parse_period
from linli_governance.sealing import (
    FORMAT,
    GENESIS,
    canonical_json,
    is_canonical,
    ledger_digest,
    line_difference,
    seal,
    sealed_line,
)
from linli_governance.tables import (
    ACCOUNT_SETTINGS,
    DISCLOSURES,
    OBJECTIONS,
    TRANSFERS,
    Disclosure,
    Objection,
    Transfer,
)
from linli_runtime import paging, times
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.events import publish_in
from linli_runtime.events.envelope import EventFactory
from linli_runtime.models import typed, typed_all

S = account_pb2.TransferState
OB = disclosure_pb2.ObjectionState
RES = disclosure_pb2.ObjectionResolution
OBJECTION_DAYS = 15
OBJECTION_KINDS = (disclosure_pb2.OBJECTION_KIND_OBJECTION, disclosure_pb2.OBJECTION_KIND_INSPECTION)
REMUNERATION = "expense:trustee_remuneration"
# The figures of a sealed body that follow from its transfers alone (what verification recomputes).
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
# Figures added to sealed bodies later: checked when the body has them (a body sealed before
# holds none; the seal covers the body, so none can be dropped from a sealed one unnoticed).
LATER_LEDGER_KEYS = ("fund",)
FUND_KINDS: dict[int, str] = {
    account_pb2.TRANSFER_KIND_FUND_ALLOCATION: "allocation",
    account_pb2.TRANSFER_KIND_FUND_USE: "use",
}


class Posting(Protocol):
    """What a disclosure reads from each of its transfers."""

    @property
    def transfer_id(self) -> str: ...
    @property
    def debit_account(self) -> str: ...
    @property
    def credit_account(self) -> str: ...
    @property
    def amount_fen(self) -> int: ...
    @property
    def kind(self) -> int: ...
    @property
    def owners_decision(self) -> str: ...
    @property
    def memo(self) -> str: ...


@dataclass(frozen=True)
class ChainCheck:
    """The result of checking a compound's disclosures oldest first: how many were looked at,
    the first that no longer holds (with why) when one does not, and the published head it was
    held against (none when the register had none or could not be reached)."""

    valid: bool
    checked: int
    broken_disclosure: str = ""
    reason: str = ""
    head: PublishedHead | None = None


@dataclass(frozen=True)
class ObjectionView:
    objection: Objection
    overdue: bool

    @property
    def answered_late(self) -> bool:
        o = self.objection
        return o.answered_at is not None and times.as_utc(o.answered_at) > times.as_utc(o.deadline)

    @property
    def name(self) -> str:
        return names.objection_name(self.objection.disclosure, self.objection.objection_id)


def content(disclosure: Disclosure) -> dict[str, Any]:
    """The sealed body of a disclosure: its figures, budget lines and pending approvals."""
    body: dict[str, Any] = json.loads(disclosure.body)
    return body


def fund_movement(r: Posting) -> dict[str, Any] | None:
    """How a transfer moved the maintenance fund (None when it did not touch it)."""
    if accounts.FUND not in (r.debit_account, r.credit_account):
        return None
    signed = r.amount_fen if r.debit_account == accounts.FUND else -r.amount_fen
    return {
        "transfer": r.transfer_id,
        "kind": FUND_KINDS.get(r.kind, "reversal"),
        "amount_fen": signed,
        "owners_decision": r.owners_decision,
        "memo": r.memo,
    }


def ledger_figures(rows: Sequence[Posting], opening_operating: int, opening_fund: int) -> dict[str, Any]:
    """Everything in a disclosure that follows from its transfers alone."""
    income: dict[str, int] = {}
    expense: dict[str, int] = {}
    operating, fund, to_fund = opening_operating, opening_fund, 0
    movements: list[dict[str, Any]] = []
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
        if (movement := fund_movement(r)) is not None:
            movements.append(movement)
    return {
        "income": dict(sorted(income.items())),
        "expenses": dict(sorted(expense.items())),
        "income_fen": sum(income.values()),
        "expense_fen": sum(expense.values()),
        "to_maintenance_fund_fen": to_fund,
        "operating_balance_fen": operating,
        "maintenance_fund_balance_fen": fund,
        "fund": {
            "opening_fen": opening_fund,
            "in_fen": sum(m["amount_fen"] for m in movements if m["amount_fen"] > 0),
            "out_fen": -sum(m["amount_fen"] for m in movements if m["amount_fen"] < 0),
            "closing_fen": fund,
            "movements": movements,
        },
        "transfer_count": len(rows),
        "ledger_digest": ledger_digest((r.transfer_id, r.debit_account, r.credit_account, r.amount_fen) for r in rows),
    }


def surplus_share(figures: dict[str, Any], share_bp: int, available: int) -> int:
    """The maintenance fund's share of a period's surplus (rounded down, none from a deficit),
    never more than the operating account can give."""
    surplus = int(figures["income_fen"]) - int(figures["expense_fen"])
    return min(max(0, surplus * share_bp // 10_000), available)


def check_objection_account(body: dict[str, Any], account: str) -> None:
    """An objection names a line of the disclosure, or none: "" objects to the disclosure as a
    whole (what a resident has to say about a month that shows nothing, or about its totals)."""
    lines = {*body["income"], *body["expenses"]}
    if account and account not in lines:
        allowed = ", ".join(sorted(lines)) or "none; leave it empty to object to the disclosure as a whole"
        raise InvalidArgument.field("account", f"must be a line of the disclosure or empty: {allowed}")


def check_chain_link(
    row: Disclosure,
    previous_seal: str,
    figures: dict[str, Any],
    *,
    position: int = 1,
    lines: list[dict[str, Any]] | None = None,
) -> str:
    """Why one disclosure of a chain no longer holds ("" when it does): its link to the
    previous seal, its seal over the stored body, its form and place in the chain, every sealed
    transfer line against the ledger's (`lines`), its figures against its transfers."""
    if row.previous_seal_hash != previous_seal:
        return "chain_mismatch: previous_seal_hash is not the seal of the disclosure before it"
    if seal(previous_seal, row.body) != row.seal_hash:
        return "seal_mismatch: the stored content no longer hashes to its seal"
    body = content(row)
    if body.get("format") == FORMAT:
        if not is_canonical(row.body):
            return "format_mismatch: the stored body is not in RFC 8785 canonical form"
        if body.get("sequence") != position or body.get("previous_seal_hash") != previous_seal:
            return (
                f"format_mismatch: the body says it is disclosure {body.get('sequence')} of its chain, not {position}"
            )
        transfer, what = line_difference(body.get("lines", []), lines or [])
        if what:
            named = names.transfer_name(row.compound_path, transfer) if transfer else "the lines"
            return f"ledger_mismatch: {named}: {what}"
    keys = [*LEDGER_KEYS, *(k for k in LATER_LEDGER_KEYS if k in body)]
    differing = [k for k in keys if body.get(k) != figures[k]]
    if differing:
        return f"ledger_mismatch: {', '.join(differing)} differ from the ledger entries"
    return ""


# -- within a transaction -------------------------------------------------------------------------


async def _available(conn: AsyncConnection, compound_path: str, figures: dict[str, Any]) -> int:
    """What the close may take from the operating account: no more than the period's closing
    balance, nor than what is there now (postings of the next period may already have spent)."""
    live = await accounts.balance_of(conn, compound_path, accounts.OPERATING)
    return max(0, min(int(figures["operating_balance_fen"]), live))


async def _disclosed(conn: AsyncConnection, name: str) -> list[Transfer]:
    return typed_all(
        Transfer,
        await conn.execute(select(TRANSFERS).where(TRANSFERS.c.disclosure == name).order_by(TRANSFERS.c.seq)),
    )


async def _chain(conn: AsyncConnection, compound_path: str) -> list[Disclosure]:
    return typed_all(
        Disclosure,
        await conn.execute(
            select(DISCLOSURES).where(DISCLOSURES.c.compound_path == compound_path).order_by(DISCLOSURES.c.seq)
        ),
    )


async def _stamp(conn: AsyncConnection, transfer_id: str, name: str) -> None:
    await conn.execute(TRANSFERS.update().where(TRANSFERS.c.transfer_id == transfer_id).values(disclosure=name))


async def close_period(
    session: AsyncSession, make_event: EventFactory, compound_path: str, label: str, *, when: datetime
) -> Disclosure:
    compound = await org_tree.require_compound(session, compound_path)
    conn = await session.connection()
    settings = await accounts.require_settings(conn, compound_path)
    period: Period = parse_period(label)
    if period.quarterly != (settings.period_kind == account_pb2.PERIOD_KIND_QUARTERLY):
        raise InvalidArgument.field(
            "period", "must match the compound's period kind (YYYY-MM monthly, YYYY-Qn quarterly)"
        )
    if when < period.end:
        raise FailedPrecondition(f"period {label} has not ended yet", reason="PERIOD_NOT_ENDED")
    name = names.disclosure_name(compound_path, label)
    # One close at a time per compound: the settings row is the compound's close lock.
    await conn.execute(
        select(ACCOUNT_SETTINGS.c.compound_path)
        .where(ACCOUNT_SETTINGS.c.compound_path == compound_path)
        .with_for_update()
    )
    chain = await _chain(conn, compound_path)
    if any(d.period == label for d in chain):
        raise AlreadyExists(f"{name} is already published", reason="PERIOD_CLOSED")
    if chain and period.start < times.as_utc(chain[-1].period_end):
        raise FailedPrecondition(
            f"period {label} starts before the end of {chain[-1].period}, already closed", reason="PERIOD_OUT_OF_ORDER"
        )
    previous = chain[-1] if chain else None
    sequence = len(chain) + 1
    opening = content(previous) if previous else {}
    opening_operating = opening.get("operating_balance_fen", 0)
    opening_fund = opening.get("maintenance_fund_balance_fen", 0)

    # Stamp the period's transfers first, so postings racing with the close fall cleanly on
    # one side (the transfer rows are locked by the UPDATE).
    await conn.execute(
        TRANSFERS.update()
        .where(
            TRANSFERS.c.compound_path == compound_path,
            TRANSFERS.c.state == S.TRANSFER_STATE_POSTED,
            TRANSFERS.c.disclosure.is_(None),
            TRANSFERS.c.posted_at < period.end,
        )
        .values(disclosure=name)
    )
    draft = ledger_figures(await _disclosed(conn, name), opening_operating, opening_fund)
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
            counterparty=contract.trustee_name if contract else "",
        )
        await _stamp(conn, tid, name)
        draft = ledger_figures(await _disclosed(conn, name), opening_operating, opening_fund)
    share = surplus_share(draft, settings.surplus_share_bp, await _available(conn, compound_path, draft))
    if share > 0:
        tid = await accounts.post_transfer(
            session,
            compound_path,
            kind=account_pb2.TRANSFER_KIND_FUND_ALLOCATION,
            debit=accounts.FUND,
            credit=accounts.OPERATING,
            amount=share,
            when=when,
            memo=f"{label}: {settings.surplus_share_bp / 100:g}% of the surplus to the maintenance fund",
        )
        await _stamp(conn, tid, name)
    disclosed = await _disclosed(conn, name)
    body = ledger_figures(disclosed, opening_operating, opening_fund)
    body["lines"] = [sealed_line(t) for t in disclosed]

    year = local_year(period.start)
    actual = await accounts.year_actuals(conn, compound_path, year, until=period.end)
    body["budget"] = {
        accounts.expense_account(line.code): {
            "budget_fen": line.amount_fen,
            "year_actual_fen": actual.get(line.code, 0),
        }
        for line in await accounts.budget_lines(conn, compound_path, year)
    }
    # The contract's service standards against what was measured in the period (sealed with the
    # books: what the owners paid for, and what they got).
    body["service_levels"] = await service_levels.for_disclosure(conn, compound_path, label)
    await accounts.void_lapsed(conn, compound_path, when)
    pending = (
        await conn.execute(
            select(TRANSFERS.c.transfer_id, TRANSFERS.c.amount_fen)
            .where(
                TRANSFERS.c.compound_path == compound_path,
                TRANSFERS.c.state == S.TRANSFER_STATE_PENDING,
                TRANSFERS.c.created_at < period.end,
            )
            .order_by(TRANSFERS.c.seq)
        )
    ).all()
    body["pending_transfers"] = [names.transfer_name(compound_path, p.transfer_id) for p in pending]
    body["pending_fen"] = sum(p.amount_fen for p in pending)
    previous_seal = previous.seal_hash if previous else GENESIS
    body.update(
        format=FORMAT,
        sequence=sequence,
        previous_seal_hash=previous_seal,
        compound_path=compound_path,
        period=label,
        period_start=period.start.isoformat(),
        period_end=period.end.isoformat(),
    )

    body_json = canonical_json(body)
    seal_hash = seal(previous_seal, body_json)
    await conn.execute(
        DISCLOSURES.insert().values(
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
        period_start=times.to_timestamp(period.start),
        period_end=times.to_timestamp(period.end),
        income_fen=body["income_fen"],
        expense_fen=body["expense_fen"],
        to_maintenance_fund_fen=body["to_maintenance_fund_fen"],
        maintenance_fund_balance_fen=body["maintenance_fund_balance_fen"],
        seal_hash=seal_hash,
        previous_seal_hash=previous_seal,
        sequence=sequence,
    )
    await publish_in(session, make_event("governance.disclosure.published", event, compound_path))
    return await _by_name(conn, name)


async def _by_name(conn: AsyncConnection, name: str, *, lock: bool = False) -> Disclosure:
    query = select(DISCLOSURES).where(DISCLOSURES.c.name == name)
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        raise NotFound(f"{name} does not exist", reason="DISCLOSURE_NOT_FOUND")
    return typed(Disclosure, row)


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
) -> ObjectionView:
    if kind not in OBJECTION_KINDS:
        raise InvalidArgument.field("kind", "must be OBJECTION or INSPECTION")
    if household_path and not household_path.startswith(compound_path + "/"):
        raise InvalidArgument.field("household_path", "must be a household of the disclosure's compound")
    conn = await session.connection()
    # The disclosure row is locked: two members of a household filing at once (different request
    # ids) are weighed one after the other, so the second sees the first's objection (PostgreSQL;
    # SQLite has one writer anyway).
    disclosure = await _by_name(conn, names.disclosure_name(compound_path, period), lock=bool(household_path))
    check_objection_account(content(disclosure), account)
    if household_path:
        # One objection (and one inspection request) per household per disclosure: the owner
        # follows it and adds to it there; a second would only split the trustee's answer.
        earlier = (await conn.execute(select(OBJECTIONS.c.objection_id).where(
            OBJECTIONS.c.disclosure == disclosure.name, OBJECTIONS.c.household_path == household_path,
            OBJECTIONS.c.kind == kind))).scalar()
        if earlier is not None:
            what = "an inspection request" if kind == disclosure_pb2.OBJECTION_KIND_INSPECTION else "an objection"
            raise AlreadyExists(
                f"your household already filed {what} on this disclosure (id {earlier}): follow it and its "
                "answer there (the portal's My objections)",
                reason="OBJECTION_ALREADY_FILED")
    objection_id = uuid.uuid4().hex
    await conn.execute(
        OBJECTIONS.insert().values(
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
    row = (await conn.execute(select(OBJECTIONS).where(OBJECTIONS.c.objection_id == objection_id))).one()
    return _objection_view(typed(Objection, row), when)


def _objection_view(objection: Objection, now: datetime) -> ObjectionView:
    unanswered = objection.state == OB.OBJECTION_STATE_OPEN
    return ObjectionView(objection, overdue=unanswered and now >= times.as_utc(objection.deadline))


async def _locked_objection(conn: AsyncConnection, compound_path: str, period: str, objection_id: str) -> Objection:
    disclosure = names.disclosure_name(compound_path, period)
    row = (
        await conn.execute(select(OBJECTIONS).where(OBJECTIONS.c.objection_id == objection_id).with_for_update())
    ).first()
    if row is None or row.disclosure != disclosure:
        raise NotFound(
            f"{names.objection_name(disclosure, objection_id)} does not exist", reason="OBJECTION_NOT_FOUND"
        )
    return typed(Objection, row)


def check_answerable(objection: Objection) -> None:
    if objection.state == OB.OBJECTION_STATE_ANSWERED:
        raise FailedPrecondition("the objection is answered already; close it with a record", reason="ALREADY_ANSWERED")
    if objection.state == OB.OBJECTION_STATE_CLOSED:
        raise FailedPrecondition("the objection is closed", reason="OBJECTION_CLOSED")


def check_closable(objection: Objection, resolution: int, household_path: str) -> None:
    """Withdrawn by its own household at any time before it is closed; accepted or dismissed
    only once answered (the record says what the owner was told)."""
    if objection.state == OB.OBJECTION_STATE_CLOSED:
        raise FailedPrecondition("the objection is closed", reason="OBJECTION_CLOSED")
    if resolution == RES.OBJECTION_RESOLUTION_WITHDRAWN:
        if not objection.household_path or household_path != objection.household_path:
            raise FailedPrecondition(
                "only the household that filed an objection may withdraw it", reason="NOT_THE_FILER"
            )
    elif resolution in (RES.OBJECTION_RESOLUTION_ACCEPTED, RES.OBJECTION_RESOLUTION_DISMISSED):
        if objection.state != OB.OBJECTION_STATE_ANSWERED:
            raise FailedPrecondition(
                "answer the objection before closing it as accepted or dismissed", reason="ANSWER_FIRST"
            )
    else:
        raise InvalidArgument.field("resolution", "must be ACCEPTED, DISMISSED or WITHDRAWN")


async def answer_objection(
    session: AsyncSession,
    compound_path: str,
    period: str,
    objection_id: str,
    *,
    answer: str,
    answered_by: str,
    when: datetime,
) -> ObjectionView:
    conn = await session.connection()
    objection = await _locked_objection(conn, compound_path, period, objection_id)
    check_answerable(objection)
    await conn.execute(
        OBJECTIONS.update()
        .where(OBJECTIONS.c.objection_id == objection_id)
        .values(state=OB.OBJECTION_STATE_ANSWERED, answer=answer, answered_by=answered_by, answered_at=when)
    )
    return _objection_view(await _locked_objection(conn, compound_path, period, objection_id), when)


async def close_objection(
    session: AsyncSession,
    compound_path: str,
    period: str,
    objection_id: str,
    *,
    resolution: int,
    note: str,
    closed_by: str,
    household_path: str,
    when: datetime,
) -> ObjectionView:
    conn = await session.connection()
    objection = await _locked_objection(conn, compound_path, period, objection_id)
    check_closable(objection, resolution, household_path)
    await conn.execute(
        OBJECTIONS.update()
        .where(OBJECTIONS.c.objection_id == objection_id)
        .values(
            state=OB.OBJECTION_STATE_CLOSED,
            resolution=resolution,
            closing_note=note,
            closed_by=closed_by,
            closed_at=when,
        )
    )
    return _objection_view(await _locked_objection(conn, compound_path, period, objection_id), when)


# -- reads ------------------------------------------------------------------------------------------


async def get(db: Database, compound_path: str, period: str) -> Disclosure:
    async with db.session() as session:
        return await _by_name(await session.connection(), names.disclosure_name(compound_path, period))


async def list_page(db: Database, compound_path: str, *, page_token: str, size: int) -> tuple[list[Disclosure], str]:
    """One page of a compound's disclosures, oldest first, and the next page's token."""
    async with db.session() as session:
        rows, token = await paging.keyset_page(
            await session.connection(),
            select(DISCLOSURES).where(DISCLOSURES.c.compound_path == compound_path),
            DISCLOSURES.c.seq,
            kind=f"ListDisclosures:{compound_path}",
            page_token=page_token,
            size=size,
        )
    return typed_all(Disclosure, rows), token


def check_head(chain: Sequence[Disclosure], head: PublishedHead) -> str:
    """Why the chain does not hold a published head ("" when it does). The chain may have grown
    past it (a newer disclosure not announced yet); it may not lack it or hold another seal in its
    place."""
    if head.sequence > len(chain):
        return (
            f"head_mismatch: {head.disclosure} (disclosure {head.sequence}, seal {head.seal_hash[:16]}…) was "
            f"published but the chain holds only {len(chain)}: the newest disclosure was deleted"
        )
    if chain[head.sequence - 1].seal_hash != head.seal_hash:
        return (
            f"head_mismatch: disclosure {head.sequence} of the chain does not carry the published seal "
            f"{head.seal_hash[:16]}… of {head.disclosure}: it was replaced"
        )
    return ""


async def _orphaned(conn: AsyncConnection, compound_path: str, chain: Sequence[Disclosure]) -> str | None:
    """A disclosure name that transfers are stamped with but the chain lacks."""
    stamped = await conn.execute(
        select(TRANSFERS.c.disclosure)
        .where(TRANSFERS.c.compound_path == compound_path, TRANSFERS.c.disclosure.is_not(None))
        .distinct()
    )
    known = {d.name for d in chain}
    return next((str(name) for (name,) in stamped if name not in known), None)


async def verify_chain(db: Database, heads: HeadRegister, compound_path: str, *, external_head: str = "") -> ChainCheck:
    """Check, oldest first: the link to the previous seal, the seal over the stored body, its form
    and place, every sealed transfer line and figure against the transfers stamped with it; then
    that no transfer is stamped with a disclosure the chain lacks, and that the chain holds the
    head published outside the database (the register's, and `external_head` when a caller
    brings one). NOT_FOUND for a place that does not exist (it has no chain to call valid)."""
    async with db.session() as session:
        await org_tree.require_unit(session, compound_path)
        conn = await session.connection()
        previous_seal = GENESIS
        operating = fund = 0
        chain = await _chain(conn, compound_path)
        for position, row in enumerate(chain, start=1):
            transfers = await _disclosed(conn, row.name)
            figures = ledger_figures(transfers, operating, fund)
            lines = [sealed_line(t) for t in transfers]
            reason = check_chain_link(row, previous_seal, figures, position=position, lines=lines)
            if reason:
                return ChainCheck(valid=False, checked=position, broken_disclosure=row.name, reason=reason)
            previous_seal = row.seal_hash
            operating, fund = figures["operating_balance_fen"], figures["maintenance_fund_balance_fen"]
        orphan = await _orphaned(conn, compound_path, chain)
    if orphan is not None:
        return ChainCheck(
            valid=False,
            checked=len(chain) + 1,
            broken_disclosure=orphan,
            reason=f"missing_disclosure: transfers are stamped with {orphan}, which is not in the chain",
        )
    head = await heads.latest(compound_path)
    if head is not None and (reason := check_head(chain, head)):
        return ChainCheck(
            valid=False,
            checked=min(head.sequence, len(chain) + 1),
            broken_disclosure=head.disclosure,
            reason=reason,
            head=head,
        )
    if external_head:
        if external_head not in {d.seal_hash for d in chain}:
            return ChainCheck(
                valid=False,
                checked=len(chain),
                broken_disclosure=chain[-1].name if chain else "",
                reason=f"head_mismatch: the seal {external_head[:16]}… you hold is not in the chain",
                head=head,
            )
    return ChainCheck(valid=True, checked=len(chain), head=head)


async def list_objections(
    db: Database, disclosure: str, *, page_token: str, size: int, now: datetime, household_path: str = ""
) -> tuple[list[ObjectionView], str]:
    """One page of a disclosure's objections (only `household_path`'s, when given), oldest
    first, each overdue or not at `now`."""
    query = select(OBJECTIONS).where(OBJECTIONS.c.disclosure == disclosure)
    if household_path:
        query = query.where(OBJECTIONS.c.household_path == household_path)
    async with db.session() as session:
        rows, token = await paging.keyset_page(
            await session.connection(),
            query,
            OBJECTIONS.c.seq,
            kind=f"ListObjections:{disclosure}:{household_path}",
            page_token=page_token,
            size=size,
        )
    return [_objection_view(o, now) for o in typed_all(Objection, rows)], token
