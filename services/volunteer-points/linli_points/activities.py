"""Task categories and activities: a volunteer signs up, checks in by opening the organiser's
rotating QR code during the activity's window (check_in_tokens.py), and a worker confirms
completion, which credits the activity's points through the ledger in the same transaction —
within the category's daily and monthly caps, from the category's funding source (funding.py;
refused when its budget is spent).

    sign-up ──(organiser's QR, in the window)──▶ checked in ──(worker confirms)──▶ confirmed
            ──(a worker's word)───────────────▶            (points credited, or 0 at a cap)

Checking in counts once: the sign-up moves from SIGNED_UP to CHECKED_IN by a conditional
update, so a replayed URL, a second tab or a concurrent retry finds it checked in and is
refused (ALREADY_CHECKED_IN). The six-digit codes sign-ups used to carry proved nothing (the
volunteer had the code before going anywhere): new sign-ups get none, and a worker checking
someone in by hand (CheckIn) needs no code — their account is the proof.

Confirming is idempotent: a confirmed sign-up is answered as it is, and the credit's transfer
id (`activity:{activity}:{volunteer}`) makes a retried credit land once. Caps count what the
ledger credited for the category (ledger.queries.credited_for) in the volunteer's day and
month, in Asia/Shanghai.

One worker cannot create, confirm and credit an activity's points alone beyond a limit
(solo_limits): a worker who confirms an activity they created acts alone (checking volunteers
in is open to workers too), and once what they credited so alone in the day or month (per
community) would pass LINLI_ACTIVITY_SOLO_DAILY_LIMIT / _MONTHLY_LIMIT, the sign-up is
confirmed with 0 credited and its points are proposed as an Adjustment in the worker's name
(`activity-credit:{digest}`, the category's credit once approved) that another account must
approve. Activities created by another account are credited as before: two accounts took part.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_points import adjustments, check_in_tokens, names
from linli_points.funding import issuing_account, source
from linli_points.ledger import queries
from linli_points.ledger.accounts import volunteer_account
from linli_points.ledger.model import TransferRequest
from linli_points.ledger.store import Ledger
from linli_points.people import volunteer
from linli_points.records import create_once, exists, find
from linli_points.solo_limits import Limits, breach
from linli_points.tables import ID, Activity, SignUp, TaskCategory
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, DomainError, FailedPrecondition, NotFound, PermissionDenied
from linli_runtime.models import loaded_all, table
from linli_runtime.paging import keyset_page
from linli_runtime.times import as_utc, day_bounds, local_day, month_bounds
from linli_runtime.transactions import fingerprint, run_in_transaction

CATEGORIES, ACTIVITIES, SIGN_UPS = table(TaskCategory), table(Activity), table(SignUp)
MAX_ACTIVITY_POINTS = 10_000
MAX_CATEGORY_POINTS = MAX_ACTIVITY_POINTS * 100  # a category's default points and caps
MAX_CONFIRMED_AT_ONCE = 500
# The check-in window: from a little before the start (people arrive early) to the end.
CHECK_IN_OPENS_BEFORE = timedelta(minutes=30)
DEFAULT_DURATION = timedelta(hours=2)
MAX_DURATION = timedelta(hours=24)


class SignUpState(IntEnum):
    """Numbers match linli.points.v1.SignUpState."""

    SIGNED_UP = 1
    CHECKED_IN = 2
    CONFIRMED = 3


class CheckInMethod(IntEnum):
    """Numbers match linli.points.v1.CheckInMethod."""

    ORGANISER_QR = 1
    WORKER = 2


@dataclass(frozen=True)
class CheckInToken:
    minted: check_in_tokens.Minted
    activity: Activity
    window: tuple[datetime, datetime]


@dataclass(frozen=True)
class CategoryChange:
    """What UpdateTaskCategory sets (checked by the caller)."""

    display_name: str
    display_name_en: str
    default_points: int
    daily_cap: int
    monthly_cap: int
    placeholder: bool
    funding_source: str = ""  # "": the community's default source


def credit_transfer_id(activity_id: str, volunteer_id: str) -> str:
    return f"activity:{activity_id}:{volunteer_id}"


def held_credit_id(activity_id: str, volunteer_id: str) -> str:
    """The id of the Adjustment holding a credit a worker could not give alone (at most 64
    characters, no '/')."""
    digest = hashlib.sha256(f"{activity_id}\x1f{volunteer_id}".encode()).hexdigest()[:32]
    return f"activity-credit:{digest}"


def check_in_window(activity: Activity) -> tuple[datetime, datetime] | None:
    """When check-in by the organiser's QR code is open, or None for an unscheduled activity."""
    if activity.start_time is None:
        return None
    start = as_utc(activity.start_time)
    end = as_utc(activity.end_time) if activity.end_time is not None else start + DEFAULT_DURATION
    return start - CHECK_IN_OPENS_BEFORE, end


def capped(points: int, cap: int, earned: int) -> int:
    """What of `points` fits under `cap` (0: no cap) when `earned` already counts towards it."""
    return min(points, max(0, cap - earned)) if cap else points


class Activities:
    def __init__(self, db: Database, clock: Clock, ledger: Ledger, solo_limits: Limits) -> None:
        self.db = db
        self.clock = clock
        self.ledger = ledger
        self.solo_limits = solo_limits

    # -- task categories ---------------------------------------------------------------------------

    async def list_categories(self, path: str, *, page_token: str, size: int) -> tuple[list[TaskCategory], str]:
        async with self.db.engine.connect() as conn:
            rows, next_token = await keyset_page(
                conn, sa.select(CATEGORIES).where(CATEGORIES.c.community_path == path), CATEGORIES.c.slug,
                kind="categories", page_token=page_token, size=size)
        return loaded_all(TaskCategory, rows), next_token

    async def update_category(self, path: str, slug: str, change: CategoryChange, *,
                              allow_missing: bool) -> TaskCategory:
        """Change a category, or create it when `allow_missing`."""

        async def work(conn: AsyncConnection) -> TaskCategory:
            if not allow_missing and not await exists(conn, TaskCategory, community_path=path, slug=slug):
                raise NotFound(f"task category {slug!r} does not exist in {path}", reason="CATEGORY_NOT_FOUND")
            return await upsert_category(conn, path, slug, change)

        return await run_in_transaction(self.db, work)

    # -- activities ---------------------------------------------------------------------------------

    async def create_activity(self, path: str, activity_id: str, *, title: str, category: str, points: int,
                              start: datetime | None, created_by: str, end: datetime | None = None) -> Activity:
        """An activity of a category, worth `points` (0: the category's default points), from
        `start` to `end` (checked by the caller; None: DEFAULT_DURATION after the start)."""

        async def work(conn: AsyncConnection) -> Activity:
            found = await find(conn, TaskCategory, community_path=path, slug=category)
            if found is None:
                raise NotFound(f"task category {category!r} does not exist in {path}", reason="CATEGORY_NOT_FOUND")
            created, _ = await create_once(
                conn, Activity, {"community_path": path, "activity_id": activity_id},
                {"title": title, "category": category, "points": points or found.default_points,
                 "start_time": start, "end_time": end, "created_by": created_by[:ID]},
                # An end in the fingerprint only when given: retries of older requests still match.
                fingerprint(title, category, points, start, *([end] if end else [])), "activity",
            )
            return created

        return await run_in_transaction(self.db, work)

    async def get_activity(self, path: str, activity_id: str) -> tuple[Activity, list[SignUp]]:
        """The activity and its sign-ups by volunteer id."""
        async with self.db.engine.connect() as conn:
            found = await _activity(conn, path, activity_id)
            rows = (await conn.execute(sa.select(SIGN_UPS).where(
                SIGN_UPS.c.community_path == path, SIGN_UPS.c.activity_id == activity_id)
                .order_by(SIGN_UPS.c.volunteer_id))).all()
        return found, loaded_all(SignUp, rows)

    async def sign_up(self, path: str, activity_id: str, volunteer_id: str) -> SignUp:
        """Sign a volunteer up (a repeat answers the same sign-up)."""

        async def work(conn: AsyncConnection) -> SignUp:
            await _activity(conn, path, activity_id)
            await volunteer(conn, path, volunteer_id)
            found = await _sign_up(conn, path, activity_id, volunteer_id)
            if found is not None:
                return found
            await conn.execute(SIGN_UPS.insert().values(
                community_path=path, activity_id=activity_id, volunteer_id=volunteer_id,
                state=int(SignUpState.SIGNED_UP), check_in_code=""))
            return await _existing_sign_up(conn, path, activity_id, volunteer_id)

        return await run_in_transaction(self.db, work)

    async def check_in(self, path: str, activity_id: str, volunteer_id: str) -> SignUp:
        """Check a volunteer in on a worker's word (a repeat changes nothing)."""

        async def work(conn: AsyncConnection) -> SignUp:
            found = await _sign_up(conn, path, activity_id, volunteer_id)
            if found is None:
                raise NotFound(f"volunteer {volunteer_id!r} has not signed up for {activity_id!r}",
                               reason="SIGN_UP_NOT_FOUND")
            if found.state == SignUpState.SIGNED_UP:
                await _mark_checked_in(conn, path, activity_id, volunteer_id, self._now(), CheckInMethod.WORKER)
            return await _existing_sign_up(conn, path, activity_id, volunteer_id)

        return await run_in_transaction(self.db, work)

    async def issue_check_in_token(self, path: str, activity_id: str) -> CheckInToken:
        """The token of the current step for the organiser's screen (making the activity's key
        on first use)."""

        async def work(conn: AsyncConnection) -> CheckInToken:
            found = await _activity(conn, path, activity_id)
            window = check_in_window(found)
            if window is None:
                raise FailedPrecondition(
                    f"activity {activity_id!r} has no start time, so it has no check-in window; "
                    "create it with start_time (and end_time)", reason="ACTIVITY_NOT_SCHEDULED")
            if not found.check_in_key:
                # Conditional: of two replicas making a key at once, one wins and both use its key.
                await conn.execute(ACTIVITIES.update().where(
                    ACTIVITIES.c.community_path == path, ACTIVITIES.c.activity_id == activity_id,
                    ACTIVITIES.c.check_in_key == "").values(check_in_key=check_in_tokens.new_key()))
                found = await _activity(conn, path, activity_id)
            return CheckInToken(check_in_tokens.mint(found.check_in_key, path, activity_id, self._now()), found,
                                window)

        return await run_in_transaction(self.db, work)

    async def check_in_with_token(self, path: str, activity_id: str, volunteer_id: str,
                                  token: str) -> tuple[SignUp, Activity]:
        """Check the volunteer in with the organiser's token: once, inside the window."""

        async def work(conn: AsyncConnection) -> tuple[SignUp, Activity]:
            now = self._now()
            found = await _activity(conn, path, activity_id)
            try:
                check_in_tokens.verify(found.check_in_key, path, activity_id, token, now)
            except check_in_tokens.TokenRefused as refused:
                if refused.kind == "expired":
                    raise FailedPrecondition(str(refused), reason="CHECK_IN_TOKEN_EXPIRED") from None
                raise PermissionDenied(str(refused), reason="CHECK_IN_TOKEN_INVALID") from None
            window = check_in_window(found)
            if window is None or not window[0] <= now < window[1]:
                opens, closes = window or (now, now)
                raise FailedPrecondition(
                    f"check-in for {activity_id!r} is open from {opens:%Y-%m-%d %H:%M} to {closes:%H:%M} UTC only",
                    reason="OUTSIDE_CHECK_IN_WINDOW",
                    metadata={"window_start": opens.isoformat(), "window_end": closes.isoformat()})
            row = await _sign_up(conn, path, activity_id, volunteer_id)
            if row is None:
                raise FailedPrecondition(f"volunteer {volunteer_id!r} has not signed up for {activity_id!r}; "
                                         "sign up first", reason="NOT_SIGNED_UP")
            marked = await _mark_checked_in(conn, path, activity_id, volunteer_id, now, CheckInMethod.ORGANISER_QR)
            if not marked:
                when = as_utc(row.checked_in_at) if row.checked_in_at else now
                raise AlreadyExists(f"volunteer {volunteer_id!r} checked in to {activity_id!r} already "
                                    f"(at {when:%H:%M:%S} UTC); a check-in counts once", reason="ALREADY_CHECKED_IN",
                                    metadata={"check_in_time": when.isoformat()})
            return await _existing_sign_up(conn, path, activity_id, volunteer_id), found

        return await run_in_transaction(self.db, work)

    async def confirm_completion(self, path: str, activity_id: str, volunteer_ids: list[str], *,
                                 confirmed_by: str) -> list[SignUp]:
        """Confirm that the volunteers (sorted, distinct) took part, crediting the points of those
        not confirmed before — or holding them for a second account when `confirmed_by` created
        the activity and is over its limit. All or nothing: one who did not check in refuses the
        whole call."""

        async def work(conn: AsyncConnection) -> list[SignUp]:
            found = await _activity(conn, path, activity_id)
            category = await find(conn, TaskCategory, community_path=path, slug=found.category)
            assert category is not None, "an activity's category is never deleted"
            rows = await _sign_ups_of(conn, path, activity_id, volunteer_ids)
            for volunteer_id in volunteer_ids:
                row = rows.get(volunteer_id)
                if row is None or row.state == SignUpState.SIGNED_UP:
                    raise FailedPrecondition(
                        f"volunteer {volunteer_id!r} did not check in to {activity_id!r}; nothing was confirmed",
                        reason="NOT_CHECKED_IN", metadata={"volunteer_id": volunteer_id})
            due = [v for v in volunteer_ids if rows[v].state == SignUpState.CHECKED_IN]
            if not due:
                return [rows[v] for v in volunteer_ids]
            await self._credit(conn, path, found, category, due, confirmed_by[:ID])
            rows = await _sign_ups_of(conn, path, activity_id, volunteer_ids)
            return [rows[v] for v in volunteer_ids]

        return await run_in_transaction(self.db, work)

    async def _credit(self, conn: AsyncConnection, path: str, activity: Activity, category: TaskCategory,
                      volunteer_ids: list[str], worker: str) -> None:
        """Credit the activity's points to each volunteer, within the category's daily and monthly
        caps — or hold them for a second account once the worker, acting alone, is beyond its
        limit. The credits are one ledger batch (issue 18: an activity's 50 check-ins confirmed
        one transfer at a time took ~9 ms each); any refusal (a funding source's spent budget)
        refuses the whole call."""
        now = self._now()
        # A worker confirming an activity they created: what they credited alone today and this
        # month, counted on as this call credits (the sequence the limits would see one by one).
        alone = activity.created_by == worker
        today = local_day(now)
        credited_today = credited_this_month = 0
        if alone:
            credited_today = await solo_credited(conn, path, worker, day_bounds(today))
            credited_this_month = await solo_credited(conn, path, worker, month_bounds(f"{today:%Y-%m}"))
        debit = await issuing_account(conn, path, category.funding_source)
        requests: list[TransferRequest] = []
        decided: list[dict[str, object]] = []
        for volunteer_id in volunteer_ids:
            points = await within_caps(conn, path, volunteer_id, category, activity.points, now)
            transfer_id = adjustment_id = ""
            over = breach(self.solo_limits, points=points, who=worker, what="alone on activities they created",
                          credited_today=credited_today,
                          credited_this_month=credited_this_month) if points > 0 and alone else ""
            if over:
                adjustment_id = held_credit_id(activity.activity_id, volunteer_id)
                await adjustments.propose(
                    conn, path, adjustment_id, volunteer_id=volunteer_id, points=points,
                    reason=f"activity credit held for approval: {over}", proposed_by=worker, now=now,
                    category=category.slug, source=names.activity_source(activity.activity_id),
                    funding_source=category.funding_source)
                points = 0
            elif points > 0:
                transfer_id = credit_transfer_id(activity.activity_id, volunteer_id)
                requests.append(TransferRequest(
                    community_path=path, transfer_id=transfer_id, debit_account=debit,
                    credit_account=volunteer_account(volunteer_id), amount=points, reason=category.slug,
                    source=names.activity_source(activity.activity_id)))
                if alone:
                    credited_today += points
                    credited_this_month += points
            decided.append({"v": volunteer_id, "points": points, "transfer": transfer_id, "adjustment": adjustment_id})
        for outcome in await self.ledger.transfer_many_in(conn, requests) if requests else []:
            if isinstance(outcome, DomainError):
                raise outcome  # the whole call is refused: the caller's transaction rolls back
        await conn.execute(SIGN_UPS.update().where(
            SIGN_UPS.c.community_path == path, SIGN_UPS.c.activity_id == activity.activity_id,
            SIGN_UPS.c.volunteer_id == sa.bindparam("v")).values(
            state=int(SignUpState.CONFIRMED), confirmed_at=now, points_credited=sa.bindparam("points"),
            transfer_id=sa.bindparam("transfer"), confirmed_by=worker, adjustment_id=sa.bindparam("adjustment")),
            decided)

    def _now(self) -> datetime:
        return as_utc(self.clock.now())


# -- inside a transaction -------------------------------------------------------------------------

async def upsert_category(conn: AsyncConnection, path: str, slug: str, change: CategoryChange) -> TaskCategory:
    if change.funding_source:
        await source(conn, path, change.funding_source)  # NOT_FOUND unless it exists
    values = {"display_name": change.display_name, "display_name_en": change.display_name_en,
              "default_points": change.default_points, "daily_cap": change.daily_cap,
              "monthly_cap": change.monthly_cap, "placeholder": change.placeholder,
              "funding_source": change.funding_source}
    if await exists(conn, TaskCategory, community_path=path, slug=slug):
        await conn.execute(CATEGORIES.update().where(CATEGORIES.c.community_path == path, CATEGORIES.c.slug == slug)
                           .values(**values))
    else:
        await conn.execute(CATEGORIES.insert().values(community_path=path, slug=slug, **values))
    found = await find(conn, TaskCategory, community_path=path, slug=slug)
    assert found is not None
    return found


async def within_caps(conn: AsyncConnection, path: str, volunteer_id: str, category: TaskCategory, points: int,
                      now: datetime) -> int:
    """What of `points` the category's daily and monthly caps (Asia/Shanghai) still let the
    volunteer earn at `now`: the caps count what the ledger credited for the category
    (ledger.queries.credited_for). Every credit for work goes through this: activities and
    help requests alike."""
    today = local_day(now)
    for cap, period in ((category.daily_cap, day_bounds(today)),
                        (category.monthly_cap, month_bounds(f"{today:%Y-%m}"))):
        if cap:
            earned = await queries.credited_for(conn, path, volunteer_id, category.slug, period)
            points = capped(points, cap, earned)
    return points


async def solo_credited(conn: AsyncConnection, path: str, worker: str, period: tuple[datetime, datetime]) -> int:
    """Points `worker` credited in `path` during the period by confirming activities it created."""
    total = (await conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(SIGN_UPS.c.points_credited), 0))
        .select_from(SIGN_UPS.join(ACTIVITIES, sa.and_(ACTIVITIES.c.community_path == SIGN_UPS.c.community_path,
                                                       ACTIVITIES.c.activity_id == SIGN_UPS.c.activity_id)))
        .where(SIGN_UPS.c.community_path == path, SIGN_UPS.c.confirmed_by == worker,
               ACTIVITIES.c.created_by == worker, SIGN_UPS.c.confirmed_at >= period[0],
               SIGN_UPS.c.confirmed_at < period[1]))).scalar_one()
    return int(total)


async def category_points(conn: AsyncConnection, path: str, slug: str) -> int | None:
    """A category's default points, or None when the community has no such category."""
    points: int | None = (await conn.execute(sa.select(CATEGORIES.c.default_points).where(
        CATEGORIES.c.community_path == path, CATEGORIES.c.slug == slug))).scalar_one_or_none()
    return points


async def _activity(conn: AsyncConnection, path: str, activity_id: str) -> Activity:
    found = await find(conn, Activity, community_path=path, activity_id=activity_id)
    if found is None:
        raise NotFound(f"activity {activity_id!r} does not exist in {path}", reason="ACTIVITY_NOT_FOUND")
    return found


async def _mark_checked_in(conn: AsyncConnection, path: str, activity_id: str, volunteer_id: str, now: datetime,
                           method: CheckInMethod) -> bool:
    """SIGNED_UP → CHECKED_IN; False when the sign-up was no longer SIGNED_UP (checked in before,
    perhaps by a concurrent call: the condition makes it count once)."""
    done = await conn.execute(SIGN_UPS.update().where(
        *_sign_up_key(path, activity_id, volunteer_id), SIGN_UPS.c.state == int(SignUpState.SIGNED_UP))
        .values(state=int(SignUpState.CHECKED_IN), checked_in_at=now, check_in_method=int(method)))
    return bool(done.rowcount)


def _sign_up_key(path: str, activity_id: str, volunteer_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (SIGN_UPS.c.community_path == path, SIGN_UPS.c.activity_id == activity_id,
            SIGN_UPS.c.volunteer_id == volunteer_id)


async def _sign_up(conn: AsyncConnection, path: str, activity_id: str, volunteer_id: str) -> SignUp | None:
    return await find(conn, SignUp, community_path=path, activity_id=activity_id, volunteer_id=volunteer_id)


async def _sign_ups_of(conn: AsyncConnection, path: str, activity_id: str,
                       volunteer_ids: list[str]) -> dict[str, SignUp]:
    """The sign-ups of these volunteers to the activity, by volunteer id (those that exist)."""
    rows = (await conn.execute(sa.select(SIGN_UPS).where(
        SIGN_UPS.c.community_path == path, SIGN_UPS.c.activity_id == activity_id,
        SIGN_UPS.c.volunteer_id.in_(volunteer_ids)))).all()
    return {sign_up.volunteer_id: sign_up for sign_up in loaded_all(SignUp, rows)}


async def _existing_sign_up(conn: AsyncConnection, path: str, activity_id: str, volunteer_id: str) -> SignUp:
    found = await _sign_up(conn, path, activity_id, volunteer_id)
    assert found is not None, "written in this transaction"
    return found
