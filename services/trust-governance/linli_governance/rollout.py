"""Trust-model rollout per compound and its roll-up for a city or any subtree.

Stages advance one at a time (not started → surveyed → pilot → importing → adopted); EXITED is
reachable from any stage short of itself. ADOPTED needs every acceptance-checklist item done."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any, cast

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.governance.v1 import org_pb2, rollout_pb2
from linli_governance.names import utc
from linli_governance.periods import local_date
from linli_governance.tables import org_units, rollout_steps, rollouts
from linli_runtime.errors import FailedPrecondition, InvalidArgument, NotFound

Stage = rollout_pb2.RolloutStage
ORDER = [
    Stage.ROLLOUT_STAGE_NOT_STARTED,
    Stage.ROLLOUT_STAGE_SURVEYED,
    Stage.ROLLOUT_STAGE_PILOT,
    Stage.ROLLOUT_STAGE_IMPORTING,
    Stage.ROLLOUT_STAGE_ADOPTED,
]
CHECKLIST = [
    ("owners_committee_formed", "业主委员会成立 Owners' committee formed"),
    ("trust_contract_signed", "信托物业服务合同签订 Trust contract signed"),
    ("budget_approved", "年度预算经业主大会表决通过 Annual budget approved by owners' vote"),
    ("common_account_opened", "共有资金账户开立 Trust common account opened"),
    ("first_disclosure_published", "首次收支公示 First disclosure published"),
]


def stage_word(stage: int) -> str:
    return Stage.Name(cast(Any, stage)).removeprefix("ROLLOUT_STAGE_").lower().replace("_", " ")


async def start(session: AsyncSession, compound_path: str, *, when: datetime) -> None:
    conn = await session.connection()
    await conn.execute(
        rollouts.insert().values(
            compound_path=compound_path,
            stage=Stage.ROLLOUT_STAGE_NOT_STARTED,
            working_group=[],
            checklist=[{"key": k, "title": t, "done": False} for k, t in CHECKLIST],
            updated_at=when,
        )
    )
    await conn.execute(
        rollout_steps.insert().values(
            compound_path=compound_path, stage=Stage.ROLLOUT_STAGE_NOT_STARTED, date=local_date(when), note=""
        )
    )


async def get(session: AsyncSession, compound_path: str) -> rollout_pb2.Rollout:
    conn = await session.connection()
    row = (
        await conn.execute(
            select(rollouts, org_units.c.compound_type)
            .join(org_units, org_units.c.path == rollouts.c.compound_path)
            .where(rollouts.c.compound_path == compound_path)
        )
    ).first()
    if row is None:
        raise NotFound(f"compound '{compound_path}' does not exist", reason="COMPOUND_NOT_FOUND")
    steps = await conn.execute(
        select(rollout_steps).where(rollout_steps.c.compound_path == compound_path).order_by(rollout_steps.c.id)
    )
    ts = Timestamp()
    ts.FromDatetime(utc(row.updated_at))
    return rollout_pb2.Rollout(
        compound_path=compound_path,
        stage=row.stage,
        history=[rollout_pb2.RolloutStep(stage=s.stage, date=s.date, note=s.note) for s in steps],
        working_group=list(row.working_group),
        checklist=[rollout_pb2.ChecklistItem(**item) for item in row.checklist],
        compound_type=row.compound_type,
        update_time=ts,
    )


def check_transition(current: int, target: int, checklist: list[dict[str, Any]]) -> None:
    if target not in ORDER and target != Stage.ROLLOUT_STAGE_EXITED:
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
) -> rollout_pb2.Rollout:
    """Move to `target`. `force` (demo seeding only) skips the order and checklist rules."""
    conn = await session.connection()
    row = (
        await conn.execute(select(rollouts).where(rollouts.c.compound_path == compound_path).with_for_update())
    ).first()
    if row is None:
        raise NotFound(f"compound '{compound_path}' does not exist", reason="COMPOUND_NOT_FOUND")
    checklist = list(row.checklist)
    if force:
        if target == Stage.ROLLOUT_STAGE_ADOPTED:
            checklist = [{**item, "done": True} for item in checklist]
    else:
        check_transition(row.stage, target, checklist)
    values: dict[str, Any] = {"stage": target, "updated_at": when, "checklist": checklist}
    if working_group:
        values["working_group"] = working_group
    await conn.execute(rollouts.update().where(rollouts.c.compound_path == compound_path).values(**values))
    await conn.execute(rollout_steps.insert().values(compound_path=compound_path, stage=target, date=date, note=note))
    return await get(session, compound_path)


async def set_checklist_item(
    session: AsyncSession, compound_path: str, key: str, done: bool, *, when: datetime
) -> rollout_pb2.Rollout:
    conn = await session.connection()
    row = (
        await conn.execute(select(rollouts).where(rollouts.c.compound_path == compound_path).with_for_update())
    ).first()
    if row is None:
        raise NotFound(f"compound '{compound_path}' does not exist", reason="COMPOUND_NOT_FOUND")
    checklist = [dict(item) for item in row.checklist]
    for item in checklist:
        if item["key"] == key:
            item["done"] = done
            break
    else:
        raise InvalidArgument.field("key", f"must be one of: {', '.join(k for k, _ in CHECKLIST)}")
    await conn.execute(
        rollouts.update().where(rollouts.c.compound_path == compound_path).values(checklist=checklist, updated_at=when)
    )
    return await get(session, compound_path)


def _counts(counter: Counter[int]) -> list[rollout_pb2.StageCount]:
    stages = [*ORDER, Stage.ROLLOUT_STAGE_EXITED]
    return [rollout_pb2.StageCount(stage=s, count=counter[s]) for s in stages if counter[s]]


async def summarize(session: AsyncSession, path: str) -> rollout_pb2.SummarizeRolloutResponse:
    conn = await session.connection()
    query = select(rollouts.c.compound_path, rollouts.c.stage, org_units.c.compound_type).join(
        org_units, org_units.c.path == rollouts.c.compound_path
    )
    if path:
        query = query.where(rollouts.c.compound_path.startswith(path + "/", autoescape=True))
    rows = (await conn.execute(query)).all()
    totals: Counter[int] = Counter()
    by_street: dict[str, Counter[int]] = defaultdict(Counter)
    by_type: dict[str, Counter[int]] = defaultdict(Counter)
    for r in rows:
        totals[r.stage] += 1
        by_street["/".join(r.compound_path.split("/")[:3])][r.stage] += 1
        type_name = org_pb2.CompoundType.Name(r.compound_type).removeprefix("COMPOUND_TYPE_").lower()
        by_type[type_name][r.stage] += 1
    unit = (await conn.execute(select(org_units.c.display_name).where(org_units.c.path == path))).first()
    label = unit.display_name if unit is not None else (path or "all")
    headline_parts = [
        f"{totals[s]} {stage_word(s)}"
        for s in (Stage.ROLLOUT_STAGE_ADOPTED, Stage.ROLLOUT_STAGE_IMPORTING, Stage.ROLLOUT_STAGE_PILOT)
        if totals[s]
    ]
    return rollout_pb2.SummarizeRolloutResponse(
        path=path,
        compound_count=len(rows),
        totals=_counts(totals),
        by_street=[rollout_pb2.RolloutGroup(key=k, counts=_counts(v)) for k, v in sorted(by_street.items())],
        by_compound_type=[rollout_pb2.RolloutGroup(key=k, counts=_counts(v)) for k, v in sorted(by_type.items())],
        headline=f"{label}: {', '.join(headline_parts) or 'no compounds in the trust model yet'}",
    )
