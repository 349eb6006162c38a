"""Service standards measured each period: what the trust contract promised (sweeps a week,
hours to answer a repair call…) against what was done, recorded for every period and carried
into the period's sealed disclosure.

A measure is recorded for a standard of the current contract and a period of the compound's
kind (`2026-10` or `2026-Q4`) that is not closed yet; recording it again replaces it. The
standard's terms are copied into the record, so a later contract does not rewrite the past. At
the close, `for_disclosure` lists every standard of the contract with its measure, or says that
nobody recorded one — a missing measure is disclosed, not hidden.

`list_for_period` opens its own session; `record` is a step of the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.governance.v1 import account_pb2, bodies_pb2
from linli_governance import accounts, bodies, names
from linli_governance.periods import parse_period
from linli_governance.tables import DISCLOSURES, SERVICE_LEVELS, ServiceLevel
from linli_runtime import fields
from linli_runtime.db import Database
from linli_runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.models import typed_all

NOTE_LEN = 1000
MAX_MEASURE = 10**12


@dataclass(frozen=True)
class Measure:
    """A service standard's measure in a period, met or not."""

    level: ServiceLevel

    @property
    def met(self) -> bool:
        return met(self.level.direction, self.level.measured, self.level.target)

    @property
    def name(self) -> str:
        return names.service_level_name(self.level.compound_path, self.level.period, self.level.code)


def met(direction: int, measured: int, target: int) -> bool:
    """AT_MOST standards (hours to answer) are met at or below the target; the others (sweeps a
    week) at or above it."""
    if direction == bodies_pb2.STANDARD_DIRECTION_AT_MOST:
        return measured <= target
    return measured >= target


def check_measure(measured: int, note: str) -> str:
    fields.in_range("measured", measured, 0, MAX_MEASURE)
    return fields.text("note", note, NOTE_LEN)


def disclosure_lines(standards: list[dict[str, Any]], recorded: dict[str, ServiceLevel]) -> list[dict[str, Any]]:
    """What a disclosure says of each standard of the contract: its terms, and the period's
    measure when one was recorded (`measured` and `met` are None otherwise)."""
    lines = []
    for s in standards:
        level = recorded.get(s["code"])
        direction = int(s.get("direction", 0))
        lines.append(
            {
                "code": s["code"],
                "description": s["description"],
                "unit": s["unit"],
                "target": int(s["target"]),
                "direction": direction,
                "measured": level.measured if level else None,
                "met": met(direction, level.measured, int(s["target"])) if level else None,
            }
        )
    return lines


async def _recorded(conn: AsyncConnection, compound_path: str, period: str) -> dict[str, ServiceLevel]:
    rows = await conn.execute(
        select(SERVICE_LEVELS).where(SERVICE_LEVELS.c.compound_path == compound_path, SERVICE_LEVELS.c.period == period)
    )
    return {level.code: level for level in typed_all(ServiceLevel, rows)}


async def _check_period(conn: AsyncConnection, compound_path: str, period: str) -> None:
    """A period of the compound's kind, not closed yet (its disclosure is sealed)."""
    settings = await accounts.require_settings(conn, compound_path)
    if parse_period(period).quarterly != (settings.period_kind == account_pb2.PERIOD_KIND_QUARTERLY):
        raise InvalidArgument.field(
            "period", "must match the compound's period kind (YYYY-MM monthly, YYYY-Qn quarterly)"
        )
    sealed = (
        await conn.execute(
            select(DISCLOSURES.c.name).where(
                DISCLOSURES.c.compound_path == compound_path, DISCLOSURES.c.period == period
            )
        )
    ).first()
    if sealed is not None:
        raise FailedPrecondition(
            f"period {period} is closed and its disclosure sealed; its service levels can no longer change",
            reason="PERIOD_CLOSED",
        )


async def record(
    session: AsyncSession,
    compound_path: str,
    period: str,
    code: str,
    *,
    measured: int,
    note: str,
    recorded_by: str,
    when: datetime,
) -> Measure:
    note = check_measure(measured, note)
    conn = await session.connection()
    await _check_period(conn, compound_path, period)
    contract = await bodies.find_contract(conn, compound_path)
    if contract is None:
        raise FailedPrecondition(
            f"compound '{compound_path}' has no trust contract, so no service standards", reason="CONTRACT_NOT_FOUND"
        )
    standard = next((s for s in contract.standards if s["code"] == code), None)
    if standard is None:
        known = ", ".join(s["code"] for s in contract.standards) or "none"
        raise InvalidArgument.field("code", f"is not a service standard of the trust contract (it has: {known})")
    values = {
        "description": standard["description"],
        "unit": standard["unit"],
        "target": int(standard["target"]),
        "direction": int(standard.get("direction", 0)),
        "measured": measured,
        "note": note,
        "recorded_by": recorded_by,
        "recorded_at": when,
    }
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    await conn.execute(
        insert(SERVICE_LEVELS)
        .values(compound_path=compound_path, period=period, code=code, **values)
        .on_conflict_do_update(index_elements=["compound_path", "period", "code"], set_=values)
    )
    return Measure((await _recorded(conn, compound_path, period))[code])


async def for_disclosure(conn: AsyncConnection, compound_path: str, period: str) -> list[dict[str, Any]]:
    """Every standard of the compound's contract with the period's measure (none without a
    contract)."""
    contract = await bodies.find_contract(conn, compound_path)
    if contract is None:
        return []
    return disclosure_lines(list(contract.standards), await _recorded(conn, compound_path, period))


async def list_for_period(db: Database, compound_path: str, period: str) -> list[Measure]:
    """A period's measures in the order of the contract's standards (then any no longer in it)."""
    parse_period(period)
    async with db.session() as session:
        conn = await session.connection()
        await accounts.require_settings(conn, compound_path)
        recorded = await _recorded(conn, compound_path, period)
        contract = await bodies.find_contract(conn, compound_path)
    order = [s["code"] for s in contract.standards] if contract else []
    if not recorded and contract is None:
        raise NotFound(f"compound '{compound_path}' has no trust contract yet", reason="CONTRACT_NOT_FOUND")
    ranked = sorted(
        recorded.values(), key=lambda lv: (order.index(lv.code) if lv.code in order else len(order), lv.code)
    )
    return [Measure(level) for level in ranked]
