"""Trust-model rollout per compound and its roll-up for a city or any subtree.

Stages advance one at a time (not started → surveyed → pilot → importing → adopted); EXITED is
reachable from any stage short of itself. ADOPTED needs every acceptance-checklist item done.

Reads (`get`, `summarize`) open their own session; the changes are steps of the caller's
transaction.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.governance.v1 import org_pb2, rollout_pb2
from linli_governance.periods import local_date
from linli_governance.tables import ORG_UNITS, ROLLOUT_STEPS, ROLLOUTS, Rollout, RolloutStep
from linli_runtime.db import Database
from linli_runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.models import typed, typed_all

Stage = rollout_pb2.RolloutStage
ORDER = [
    Stage.ROLLOUT_STAGE_NOT_STARTED,
    Stage.ROLLOUT_STAGE_SURVEYED,
    Stage.ROLLOUT_STAGE_PILOT,
    Stage.ROLLOUT_STAGE_IMPORTING,
    Stage.ROLLOUT_STAGE_ADOPTED,
]
EVERY_STAGE = [*ORDER, Stage.ROLLOUT_STAGE_EXITED]
CHECKLIST = [
    ("owners_committee_formed", "业主委员会成立 Owners' committee formed"),
    ("trust_contract_signed", "信托物业服务合同签订 Trust contract signed"),
    ("budget_approved", "年度预算经业主大会表决通过 Annual budget approved by owners' vote"),
    ("common_account_opened", "共有资金账户开立 Trust common account opened"),
    ("first_disclosure_published", "首次收支公示 First disclosure published"),
]


@dataclass(frozen=True)
class RolloutView:
    """A compound's rollout: its record, its steps in order, and the compound's type."""

    rollout: Rollout
    history: list[RolloutStep]
    compound_type: int


@dataclass(frozen=True)
class RolloutSummary:
    """How far the trust model has come under `path`: compounds per stage, in total, per
    street/town and per compound type."""

    path: str
    compound_count: int
    totals: Counter[int]
    by_street: dict[str, Counter[int]]
    by_compound_type: dict[str, Counter[int]]
    headline: str


def stage_word(stage: int) -> str:
    return Stage.Name(cast(Any, stage)).removeprefix("ROLLOUT_STAGE_").lower().replace("_", " ")


def check_transition(current: int, target: int, checklist: list[dict[str, Any]]) -> None:
    if target not in EVERY_STAGE:
        raise InvalidArgument.field("stage", "must be SURVEYED, PILOT, IMPORTING, ADOPTED or EXITED")
    if target == Stage.ROLLOUT_STAGE_EXITED:
        if current == Stage.ROLLOUT_STAGE_EXITED:
            raise FailedPrecondition("the compound has already exited the trust model", reason="ROLLOUT_EXITED")
        return
    if current == Stage.ROLLOUT_STAGE_EXITED or ORDER.index(cast(Any, target)) != ORDER.index(cast(Any, current)) + 1:
        raise FailedPrecondition(
            f"a compound at '{stage_word(current)}' can move only to the next stage or exit, not to "
            f"'{stage_word(target)}'",
            reason="ROLLOUT_OUT_OF_ORDER",
        )
    if target == Stage.ROLLOUT_STAGE_ADOPTED:
        missing = [item["key"] for item in checklist if not item["done"]]
        if missing:
            raise FailedPrecondition(
                f"adoption needs the whole acceptance checklist; still open: {', '.join(missing)}",
                reason="CHECKLIST_INCOMPLETE",
                metadata={"missing": ",".join(missing)},
            )


def with_item(checklist: list[dict[str, Any]], key: str, done: bool) -> list[dict[str, Any]]:
    """The checklist with item `key` marked; INVALID_ARGUMENT for a key it does not have."""
    if key not in {item["key"] for item in checklist}:
        raise InvalidArgument.field("key", f"must be one of: {', '.join(k for k, _ in CHECKLIST)}")
    return [{**item, "done": done} if item["key"] == key else dict(item) for item in checklist]


def summary(path: str, label: str, rows: list[tuple[str, int, int]]) -> RolloutSummary:
    """Roll (compound path, stage, compound type) rows up; `label` names `path` for people."""
    totals: Counter[int] = Counter()
    by_street: dict[str, Counter[int]] = defaultdict(Counter)
    by_type: dict[str, Counter[int]] = defaultdict(Counter)
    for compound_path, stage, compound_type in rows:
        totals[stage] += 1
        by_street["/".join(compound_path.split("/")[:3])][stage] += 1
        type_name = org_pb2.CompoundType.Name(cast(Any, compound_type)).removeprefix("COMPOUND_TYPE_").lower()
        by_type[type_name][stage] += 1
    headline_parts = [
        f"{totals[s]} {stage_word(s)}"
        for s in (Stage.ROLLOUT_STAGE_ADOPTED, Stage.ROLLOUT_STAGE_IMPORTING, Stage.ROLLOUT_STAGE_PILOT)
        if totals[s]
    ]
    return RolloutSummary(
        path=path,
        compound_count=len(rows),
        totals=totals,
        by_street=dict(sorted(by_street.items())),
        by_compound_type=dict(sorted(by_type.items())),
        headline=f"{label}: {', '.join(headline_parts) or 'no compounds in the trust model yet'}",
    )


# -- within a transaction -------------------------------------------------------------------------


async def start(session: AsyncSession, compound_path: str, *, when: datetime) -> None:
    conn = await session.connection()
    await conn.execute(
        ROLLOUTS.insert().values(
            compound_path=compound_path,
            stage=Stage.ROLLOUT_STAGE_NOT_STARTED,
            working_group=[],
            checklist=[{"key": k, "title": t, "done": False} for k, t in CHECKLIST],
            updated_at=when,
        )
    )
    await conn.execute(
        ROLLOUT_STEPS.insert().values(
            compound_path=compound_path, stage=Stage.ROLLOUT_STAGE_NOT_STARTED, date=local_date(when), note=""
        )
    )


async def _view(conn: AsyncConnection, compound_path: str) -> RolloutView:
    row = (
        await conn.execute(
            select(ROLLOUTS, ORG_UNITS.c.compound_type)
            .join(ORG_UNITS, ORG_UNITS.c.path == ROLLOUTS.c.compound_path)
            .where(ROLLOUTS.c.compound_path == compound_path)
        )
    ).first()
    if row is None:
        raise NotFound(f"compound '{compound_path}' does not exist", reason="COMPOUND_NOT_FOUND")
    steps = await conn.execute(
        select(ROLLOUT_STEPS).where(ROLLOUT_STEPS.c.compound_path == compound_path).order_by(ROLLOUT_STEPS.c.id)
    )
    return RolloutView(typed(Rollout, row), typed_all(RolloutStep, steps), row.compound_type)


async def _locked(conn: AsyncConnection, compound_path: str) -> Rollout:
    row = (
        await conn.execute(select(ROLLOUTS).where(ROLLOUTS.c.compound_path == compound_path).with_for_update())
    ).first()
    if row is None:
        raise NotFound(f"compound '{compound_path}' does not exist", reason="COMPOUND_NOT_FOUND")
    return typed(Rollout, row)


async def advance(
    session: AsyncSession,
    compound_path: str,
    target: int,
    *,
    date: str,
    note: str,
    working_group: list[str],
    when: datetime,
    force: bool = False,
) -> RolloutView:
    """Move to `target`. `force` (demo seeding only) skips the order and checklist rules."""
    conn = await session.connection()
    current = await _locked(conn, compound_path)
    checklist = list(current.checklist)
    if force:
        if target == Stage.ROLLOUT_STAGE_ADOPTED:
            checklist = [{**item, "done": True} for item in checklist]
    else:
        check_transition(current.stage, target, checklist)
    values: dict[str, Any] = {"stage": target, "updated_at": when, "checklist": checklist}
    if working_group:
        values["working_group"] = working_group
    await conn.execute(ROLLOUTS.update().where(ROLLOUTS.c.compound_path == compound_path).values(**values))
    await conn.execute(ROLLOUT_STEPS.insert().values(compound_path=compound_path, stage=target, date=date, note=note))
    return await _view(conn, compound_path)


async def set_checklist_item(
    session: AsyncSession, compound_path: str, key: str, done: bool, *, when: datetime
) -> RolloutView:
    conn = await session.connection()
    current = await _locked(conn, compound_path)
    checklist = with_item(current.checklist, key, done)
    await conn.execute(
        ROLLOUTS.update().where(ROLLOUTS.c.compound_path == compound_path).values(checklist=checklist, updated_at=when)
    )
    return await _view(conn, compound_path)


# -- reads ------------------------------------------------------------------------------------------


async def get(db: Database, compound_path: str) -> RolloutView:
    async with db.session() as session:
        return await _view(await session.connection(), compound_path)


async def summarize(db: Database, path: str) -> RolloutSummary:
    """The roll-up under the org unit `path` (NOT_FOUND when there is no such unit)."""
    async with db.session() as session:
        conn = await session.connection()
        unit = (await conn.execute(select(ORG_UNITS.c.display_name).where(ORG_UNITS.c.path == path))).first()
        if unit is None:
            raise NotFound(f"org unit '{path}' does not exist", reason="ORG_UNIT_NOT_FOUND", metadata={"path": path})
        query = select(ROLLOUTS.c.compound_path, ROLLOUTS.c.stage, ORG_UNITS.c.compound_type).join(
            ORG_UNITS, ORG_UNITS.c.path == ROLLOUTS.c.compound_path
        )
        if path:
            query = query.where(ROLLOUTS.c.compound_path.startswith(path + "/", autoescape=True))
        rows = [(r.compound_path, r.stage, r.compound_type) for r in await conn.execute(query)]
    return summary(path, unit.display_name, rows)
