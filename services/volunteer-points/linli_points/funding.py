"""Funding sources: who pays for a community's points, with a budget each.

A source (the charity micro-fund, the social enterprise, a project grant, higher-level project
money…) is a row here and an account in the ledger, `funding/{source_id}`, whose balance is
its remaining budget:

    system/issuance ──AddFundingBudget──▶ funding/{id} ──credit for work──▶ volunteers/{v}

The ledger keeps the account from going below zero, so a credit beyond the budget is refused
(FUNDING_BUDGET_EXHAUSTED) inside the same transaction as the work it would pay for; the
ledger's lots (ledger/lots.py) follow each point to its redemption, expiry or return, and the
report (`report`) sums them per source.

Which source pays for a credit (`issuing_account`): the one the task category names, else the
community's default — its first source until another is made the default. A community with
no sources issues unfunded points from system/issuance, as before sources existed; the report
shows them on a line of their own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_points.ledger import queries
from linli_points.ledger.accounts import ISSUANCE, funding_account
from linli_points.ledger.model import TransferRequest
from linli_points.ledger.queries import SourceTotals
from linli_points.ledger.store import Ledger
from linli_points.records import create_once, find
from linli_points.tables import FundingSource
from linli_runtime.errors import FailedPrecondition, NotFound
from linli_runtime.models import loaded_all, table
from linli_runtime.paging import keyset_page
from linli_runtime.transactions import fingerprint, run_in_transaction

SOURCES = table(FundingSource)
MAX_BUDGET_CHANGE = 1_000_000_000
UNFUNDED_NAME = "未指定资金来源（无预算）"


class FundingKind(IntEnum):
    """Numbers match linli.points.v1.FundingKind."""

    CHARITY_MICRO_FUND = 1
    SOCIAL_ENTERPRISE = 2
    PROJECT_GRANT = 3
    HIGHER_LEVEL_FUND = 4
    PARTNER_RESOURCES = 5
    OTHER = 6


@dataclass(frozen=True)
class Line:
    """One line of the funding report: a source (None for unfunded points or the total) and its
    figures."""

    source: FundingSource | None
    totals: SourceTotals


@dataclass(frozen=True)
class Report:
    lines: list[Line]
    total: SourceTotals
    as_of: datetime


def budget_transfer_id(source_id: str, request_id: str) -> str:
    """The transfer of one budget change: request ids run to 128 characters, a transfer id to 160."""
    return f"budget:{source_id}:{hashlib.sha256(request_id.encode()).hexdigest()[:24]}"


class Funding:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.db = ledger.db

    async def create_source(self, path: str, source_id: str, *, name: str, name_en: str,
                            kind: FundingKind) -> FundingSource:
        """Register a source (a repeat answers the first); a community's first becomes its default."""
        now = self.ledger.now()
        return await run_in_transaction(self.db, lambda conn: create_source(
            conn, path, source_id, name=name, name_en=name_en, kind=kind, now=now))

    async def set_default(self, path: str, source_id: str) -> FundingSource:
        async def work(conn: AsyncConnection) -> FundingSource:
            await source(conn, path, source_id)
            await conn.execute(SOURCES.update().where(SOURCES.c.community_path == path)
                               .values(is_default=SOURCES.c.source_id == source_id))
            return await source(conn, path, source_id)

        return await run_in_transaction(self.db, work)

    async def add_budget(self, path: str, source_id: str, *, request_id: str, points: int,
                         note: str) -> tuple[SourceTotals, str]:
        """Move `points` from system/issuance to the source's budget (negative: back); idempotent
        by `request_id` (the transfer id derives from it). Returns the source's figures and the
        transfer id."""
        transfer_id = budget_transfer_id(source_id, request_id)
        account = funding_account(source_id)
        debit, credit = (ISSUANCE, account) if points > 0 else (account, ISSUANCE)

        async def work(conn: AsyncConnection) -> SourceTotals:
            await source(conn, path, source_id)
            await self.ledger.transfer_in(conn, TransferRequest(
                community_path=path, transfer_id=transfer_id, debit_account=debit, credit_account=credit,
                amount=abs(points), reason="budget", source=note))
            return (await queries.funding_totals(conn, path)).get(source_id, SourceTotals(source_id))

        return await self.ledger.run(work), transfer_id

    async def figures(self, path: str, source_id: str) -> SourceTotals:
        """A source's figures now."""
        async with self.db.engine.connect() as conn:
            return (await queries.funding_totals(conn, path)).get(source_id, SourceTotals(source_id))

    async def list_page(self, path: str, *, page_token: str,
                        size: int) -> tuple[list[tuple[FundingSource, SourceTotals]], str]:
        async with self.db.engine.connect() as conn:
            rows, next_token = await keyset_page(
                conn, sa.select(SOURCES).where(SOURCES.c.community_path == path), SOURCES.c.source_id,
                kind="funding-sources", page_token=page_token, size=size)
            totals = await queries.funding_totals(conn, path)
        found = loaded_all(FundingSource, rows)
        return [(s, totals.get(s.source_id, SourceTotals(s.source_id))) for s in found], next_token

    async def report(self, path: str) -> Report:
        """Every source by id with its figures, then unfunded points if any, and the total."""
        async with self.db.engine.connect() as conn:
            found = loaded_all(FundingSource, (await conn.execute(
                sa.select(SOURCES).where(SOURCES.c.community_path == path).order_by(SOURCES.c.source_id))).all())
            totals = await queries.funding_totals(conn, path)
        lines = [Line(s, totals.pop(s.source_id, SourceTotals(s.source_id))) for s in found]
        unfunded = totals.pop("", None)
        if unfunded is not None:
            lines.append(Line(None, unfunded))
        for orphan in totals.values():  # a funding account no source row describes (a raw ledger write)
            lines.append(Line(None, orphan))
        total = SourceTotals("")
        for line in lines:
            for figure in ("budget", "budget_remaining", "issued", "redeemed", "expired", "returned", "outstanding"):
                setattr(total, figure, getattr(total, figure) + getattr(line.totals, figure))
        return Report(lines, total, self.ledger.now())


# -- inside a transaction -------------------------------------------------------------------------

async def create_source(conn: AsyncConnection, path: str, source_id: str, *, name: str, name_en: str,
                        kind: FundingKind, now: datetime) -> FundingSource:
    first = (await conn.execute(sa.select(sa.func.count()).select_from(SOURCES)
                                .where(SOURCES.c.community_path == path))).scalar_one() == 0
    created, _ = await create_once(
        conn, FundingSource, {"community_path": path, "source_id": source_id},
        {"display_name": name, "display_name_en": name_en, "kind": int(kind), "is_default": first,
         "created_at": now},
        fingerprint(name, name_en, int(kind)), "funding source")
    return created


async def source(conn: AsyncConnection, path: str, source_id: str) -> FundingSource:
    """The source, or NOT_FOUND."""
    found = await find(conn, FundingSource, community_path=path, source_id=source_id)
    if found is None:
        raise NotFound(f"funding source {source_id!r} does not exist in {path}", reason="FUNDING_SOURCE_NOT_FOUND")
    return found


async def issuing_account(conn: AsyncConnection, path: str, source_id: str = "") -> str:
    """The account a credit for work in `path` is issued from: the named source's, else the
    community's default source's, else (a community without sources) system/issuance."""
    if source_id:
        return funding_account((await source(conn, path, source_id)).source_id)
    default = (await conn.execute(sa.select(SOURCES.c.source_id).where(
        SOURCES.c.community_path == path, SOURCES.c.is_default.is_(True)))).scalar_one_or_none()
    if default is not None:
        return funding_account(default)
    if (await conn.execute(sa.select(sa.literal(1)).where(SOURCES.c.community_path == path).limit(1))).first():
        raise FailedPrecondition(f"{path} has funding sources but no default; choose one (SetDefaultFundingSource)",
                                 reason="NO_DEFAULT_FUNDING_SOURCE")
    return ISSUANCE


async def returning_account(conn: AsyncConnection, path: str, source_id: str = "") -> str:
    """Where points taken back from a volunteer go: the named source's account (only its own
    points may return there: ledger/lots.py), else system/issuance."""
    if source_id:
        return funding_account((await source(conn, path, source_id)).source_id)
    return ISSUANCE
