"""linli.points.v1.ActivityService: task categories, activities, sign-up, check-in, and the
confirmation that credits points through the ledger."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from typing import Any, cast

import grpc
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.points.v1 import activities_pb2 as pb
from linli.points.v1 import activities_pb2_grpc
from linli_points.api.common import (
    community,
    display_name,
    ident,
    page_size,
    require_reader,
    require_worker_or_self,
    require_writer,
    text,
    timestamp,
)
from linli_points.ledger.accounts import ISSUANCE, volunteer_account
from linli_points.ledger.model import Kind, TransferRequest
from linli_points.ledger.store import Ledger, utc
from linli_points.ledger.tables import transfers
from linli_points.periods import day_bounds, month_bounds, month_of
from linli_points.records import create_once, exists
from linli_points.schema import activities, sign_ups, task_categories, volunteers
from linli_runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.paging import keyset_page
from linli_runtime.transactions import fingerprint, run_in_transaction

FULL_NAME = pb.DESCRIPTOR.services_by_name["ActivityService"].full_name
MAX_ACTIVITY_POINTS = 10_000
SIGNED_UP, CHECKED_IN, CONFIRMED = pb.SIGN_UP_STATE_SIGNED_UP, pb.SIGN_UP_STATE_CHECKED_IN, pb.SIGN_UP_STATE_CONFIRMED


def category_pb(row: Any) -> pb.TaskCategory:
    return pb.TaskCategory(
        community_path=row.community_path, slug=row.slug, display_name=row.display_name,
        display_name_en=row.display_name_en, default_points=row.default_points, daily_cap=row.daily_cap,
        monthly_cap=row.monthly_cap, placeholder=row.placeholder,
    )


def activity_pb(row: Any) -> pb.Activity:
    return pb.Activity(
        community_path=row.community_path, activity_id=row.activity_id, title=row.title, category=row.category,
        points=row.points, start_time=timestamp(utc(row.start_time)) if row.start_time else None,
    )


def sign_up_pb(row: Any, *, with_code: bool = True) -> pb.SignUp:
    return pb.SignUp(
        activity_id=row.activity_id, volunteer_id=row.volunteer_id,
        state=cast(pb.SignUpState.ValueType, row.state),
        check_in_code=row.check_in_code if with_code else "", points_credited=row.points_credited,
        transfer_id=row.transfer_id,
    )


def credit_transfer_id(activity_id: str, volunteer_id: str) -> str:
    return f"activity:{activity_id}:{volunteer_id}"


async def upsert_category(conn: AsyncConnection, path: str, slug: str, values: dict[str, Any]) -> Any:
    key = (task_categories.c.community_path == path, task_categories.c.slug == slug)
    if await exists(conn, task_categories, community_path=path, slug=slug):
        await conn.execute(task_categories.update().where(*key).values(**values))
    else:
        await conn.execute(task_categories.insert().values(community_path=path, slug=slug, **values))
    return (await conn.execute(sa.select(task_categories).where(*key))).one()


async def earned_in(conn: AsyncConnection, path: str, volunteer_id: str, category: str,
                    bounds: tuple[datetime, datetime]) -> int:
    """Points a volunteer was credited for a category within [start, end)."""
    total = (await conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(transfers.c.amount), 0)).where(
            transfers.c.community_path == path, transfers.c.debit_account == ISSUANCE,
            transfers.c.credit_account == volunteer_account(volunteer_id), transfers.c.reason == category,
            transfers.c.kind == int(Kind.DIRECT),
            transfers.c.created_at >= bounds[0], transfers.c.created_at < bounds[1],
        )
    )).scalar_one()
    return int(total)


class ActivityServicer(activities_pb2_grpc.ActivityServiceServicer):
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.db = ledger.db

    async def ListTaskCategories(
        self, request: pb.ListTaskCategoriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTaskCategoriesResponse:
        path = community(request.community_path)
        require_reader()
        size = page_size(request.page_size)
        async with self.db.engine.connect() as conn:
            rows, next_token = await keyset_page(
                conn, sa.select(task_categories).where(task_categories.c.community_path == path),
                task_categories.c.slug, kind="categories", page_token=request.page_token, size=size)
        return pb.ListTaskCategoriesResponse(task_categories=[category_pb(r) for r in rows],
                                             next_page_token=next_token)

    async def UpdateTaskCategory(
        self, request: pb.UpdateTaskCategoryRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateTaskCategoryResponse:
        c = request.task_category
        path = community(c.community_path, "task_category.community_path")
        require_writer()
        slug = ident("task_category.slug", c.slug)
        values = {
            "display_name": display_name("task_category.display_name", c.display_name),
            "display_name_en": text("task_category.display_name_en", c.display_name_en, 100),
            "placeholder": c.placeholder,
        }
        for field in ("default_points", "daily_cap", "monthly_cap"):
            value = getattr(c, field)
            if not 0 <= value <= MAX_ACTIVITY_POINTS * 100:
                raise InvalidArgument.field(f"task_category.{field}", "must be between 0 and 1000000")
            values[field] = value

        async def work(conn: AsyncConnection) -> Any:
            if not request.allow_missing and not await exists(conn, task_categories, community_path=path, slug=slug):
                raise NotFound(f"task category {slug!r} does not exist in {path}", reason="CATEGORY_NOT_FOUND")
            return await upsert_category(conn, path, slug, values)

        return pb.UpdateTaskCategoryResponse(task_category=category_pb(await run_in_transaction(self.db, work)))

    async def CreateActivity(
        self, request: pb.CreateActivityRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateActivityResponse:
        a = request.activity
        path = community(a.community_path, "activity.community_path")
        who = require_writer()
        activity_id = ident("activity.activity_id", a.activity_id)
        title = text("activity.title", a.title.strip(), 200, required=True)
        category = ident("activity.category", a.category)
        if not 0 <= a.points <= MAX_ACTIVITY_POINTS:
            raise InvalidArgument.field("activity.points", f"must be between 0 (category default) and "
                                                           f"{MAX_ACTIVITY_POINTS}")
        start = utc(a.start_time.ToDatetime()) if a.HasField("start_time") else None

        async def work(conn: AsyncConnection) -> Any:
            row = (await conn.execute(sa.select(task_categories).where(
                task_categories.c.community_path == path, task_categories.c.slug == category))).first()
            if row is None:
                raise NotFound(f"task category {category!r} does not exist in {path}", reason="CATEGORY_NOT_FOUND")
            points = a.points or row.default_points
            created, _ = await create_once(
                conn, activities, {"community_path": path, "activity_id": activity_id},
                {"title": title, "category": category, "points": points, "start_time": start,
                 "created_by": who.subject[:64]},
                fingerprint(title, category, a.points, start), "activity",
            )
            return created

        return pb.CreateActivityResponse(activity=activity_pb(await run_in_transaction(self.db, work)))

    async def GetActivity(
        self, request: pb.GetActivityRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetActivityResponse:
        path = community(request.community_path)
        require_reader()
        activity_id = ident("activity_id", request.activity_id)
        async with self.db.engine.connect() as conn:
            row = await self._activity(conn, path, activity_id)
            rows = (await conn.execute(sa.select(sign_ups).where(
                sign_ups.c.community_path == path, sign_ups.c.activity_id == activity_id)
                .order_by(sign_ups.c.volunteer_id))).all()
        return pb.GetActivityResponse(activity=activity_pb(row), sign_ups=[sign_up_pb(r) for r in rows])

    async def SignUp(self, request: pb.SignUpRequest, context: grpc.aio.ServicerContext) -> pb.SignUpResponse:
        path = community(request.community_path)
        activity_id = ident("activity_id", request.activity_id)
        volunteer_id = ident("volunteer_id", request.volunteer_id)
        require_worker_or_self(volunteer_id)

        async def work(conn: AsyncConnection) -> Any:
            await self._activity(conn, path, activity_id)
            if not await exists(conn, volunteers, community_path=path, volunteer_id=volunteer_id):
                raise NotFound(f"volunteer {volunteer_id!r} does not exist in {path}", reason="VOLUNTEER_NOT_FOUND")
            row = await self._sign_up(conn, path, activity_id, volunteer_id)
            if row is None:
                await conn.execute(sign_ups.insert().values(
                    community_path=path, activity_id=activity_id, volunteer_id=volunteer_id, state=SIGNED_UP,
                    check_in_code=f"{secrets.randbelow(10**6):06d}"))
                row = await self._sign_up(conn, path, activity_id, volunteer_id)
            return row

        return pb.SignUpResponse(sign_up=sign_up_pb(await run_in_transaction(self.db, work)))

    async def CheckIn(self, request: pb.CheckInRequest, context: grpc.aio.ServicerContext) -> pb.CheckInResponse:
        path = community(request.community_path)
        activity_id = ident("activity_id", request.activity_id)
        volunteer_id = ident("volunteer_id", request.volunteer_id)
        if not request.check_in_code:
            raise InvalidArgument.field("check_in_code", "is required")
        require_worker_or_self(volunteer_id)

        async def work(conn: AsyncConnection) -> Any:
            row = await self._sign_up(conn, path, activity_id, volunteer_id)
            if row is None:
                raise NotFound(f"volunteer {volunteer_id!r} has not signed up for {activity_id!r}",
                               reason="SIGN_UP_NOT_FOUND")
            if not hmac.compare_digest(row.check_in_code.encode(), request.check_in_code.encode()):
                raise FailedPrecondition("the check-in code is wrong", reason="CHECK_IN_CODE_WRONG")
            if row.state == SIGNED_UP:
                await conn.execute(sign_ups.update().where(*self._sign_up_key(path, activity_id, volunteer_id))
                                   .values(state=CHECKED_IN, checked_in_at=self.ledger.now()))
                row = await self._sign_up(conn, path, activity_id, volunteer_id)
            return row

        return pb.CheckInResponse(sign_up=sign_up_pb(await run_in_transaction(self.db, work)))

    async def ConfirmCompletion(
        self, request: pb.ConfirmCompletionRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmCompletionResponse:
        path = community(request.community_path)
        require_writer()
        activity_id = ident("activity_id", request.activity_id)
        if not request.volunteer_ids:
            raise InvalidArgument.field("volunteer_ids", "name at least one volunteer")
        if len(request.volunteer_ids) > 500:
            raise InvalidArgument.field("volunteer_ids", "at most 500 per call")
        volunteer_ids = sorted({ident("volunteer_ids", v) for v in request.volunteer_ids})

        async def work(conn: AsyncConnection) -> list[Any]:
            activity = await self._activity(conn, path, activity_id)
            category = (await conn.execute(sa.select(task_categories).where(
                task_categories.c.community_path == path, task_categories.c.slug == activity.category))).one()
            confirmed = []
            for volunteer_id in volunteer_ids:
                row = await self._sign_up(conn, path, activity_id, volunteer_id)
                if row is None or row.state == SIGNED_UP:
                    raise FailedPrecondition(
                        f"volunteer {volunteer_id!r} did not check in to {activity_id!r}; nothing was confirmed",
                        reason="NOT_CHECKED_IN", metadata={"volunteer_id": volunteer_id})
                if row.state == CHECKED_IN:
                    row = await self._credit(conn, path, activity, category, volunteer_id)
                confirmed.append(row)
            return confirmed

        rows = await run_in_transaction(self.db, work)
        return pb.ConfirmCompletionResponse(sign_ups=[sign_up_pb(r, with_code=False) for r in rows])

    async def _credit(self, conn: AsyncConnection, path: str, activity: Any, category: Any, volunteer_id: str) -> Any:
        """Credit the activity's points, within the category's daily and monthly caps."""
        now = self.ledger.now()
        points = activity.points
        for cap, bounds in ((category.daily_cap, day_bounds(now)), (category.monthly_cap, month_bounds(month_of(now)))):
            if cap:
                points = min(points, max(0, cap - await earned_in(conn, path, volunteer_id, category.slug, bounds)))
        transfer_id = ""
        if points > 0:
            transfer_id = credit_transfer_id(activity.activity_id, volunteer_id)
            await self.ledger.transfer_in(conn, TransferRequest(
                community_path=path, transfer_id=transfer_id, debit_account=ISSUANCE,
                credit_account=volunteer_account(volunteer_id), amount=points, reason=category.slug,
                source=f"activities/{activity.activity_id}"))
        await conn.execute(sign_ups.update().where(*self._sign_up_key(path, activity.activity_id, volunteer_id))
                           .values(state=CONFIRMED, confirmed_at=now, points_credited=points, transfer_id=transfer_id))
        return await self._sign_up(conn, path, activity.activity_id, volunteer_id)

    @staticmethod
    def _sign_up_key(path: str, activity_id: str, volunteer_id: str) -> tuple[Any, ...]:
        return (sign_ups.c.community_path == path, sign_ups.c.activity_id == activity_id,
                sign_ups.c.volunteer_id == volunteer_id)

    async def _sign_up(self, conn: AsyncConnection, path: str, activity_id: str, volunteer_id: str) -> Any:
        return (await conn.execute(sa.select(sign_ups).where(*self._sign_up_key(path, activity_id, volunteer_id)))
                ).first()

    async def _activity(self, conn: AsyncConnection, path: str, activity_id: str) -> Any:
        row = (await conn.execute(sa.select(activities).where(
            activities.c.community_path == path, activities.c.activity_id == activity_id))).first()
        if row is None:
            raise NotFound(f"activity {activity_id!r} does not exist in {path}", reason="ACTIVITY_NOT_FOUND")
        return row

