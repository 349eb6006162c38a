"""Points for the helpers of resolved help requests.

notification publishes `notification.help_request.credited` once a request is resolved, naming
the helpers and (`resolved_by`) the worker who resolved it. That worker chose the names, so
nothing here trusts them: each distinct helper goes through the same checks as any credit for
work, in the consumer's transaction, and is recorded (one `HelpCredit` row) whatever the
outcome — a refused helper never makes the event fail, so the event is not dead-lettered for it:

    not a volunteer of the community ─────────────▶ NOT_A_VOLUNTEER   (nothing credited)
    the category's caps leave nothing ───────────▶ CAPPED            (activities.within_caps)
    over the resolving worker's limit ───────────▶ AWAITING_APPROVAL (solo_limits; an Adjustment proposed in
                                                                       the worker's name: a second
                                                                       account must approve it)
    the points cannot be issued (the funding
    source's budget is spent…) ─────────────────▶ REFUSED           (the reason in `note`)
    otherwise ─────────────────────────────────────▶ CREDITED          (a ledger transfer)

The points are the `helping-people-in-difficulty` category's default points (10 when the
community has no such category, uncapped then), cut to the category's daily and monthly caps
like an activity's. The worker's limit (settings: `help_credit_daily_limit`,
`help_credit_monthly_limit`) counts the points credited without approval for requests that
worker resolved in the community, in the day and month (Asia/Shanghai); a credit that would
pass either limit is proposed instead, whole. Events from a publisher that does not say who
resolved (`resolved_by` empty) share one limit.

Applied once per event (the runtime's inbox) and once per (request, helper) whatever the
events: the row's unique key, and the transfer id `help:{digest}:{volunteer}` derived from both.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_points import adjustments
from linli_points.activities import within_caps
from linli_points.funding import issuing_account
from linli_points.ledger.accounts import is_valid_id, volunteer_account
from linli_points.ledger.model import TransferRequest
from linli_points.ledger.store import Ledger
from linli_points.records import exists, find
from linli_points.solo_limits import Limits, breach
from linli_points.tables import HELP_REQUEST, ID, WORKER, HelpCredit, TaskCategory, Volunteer
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, FailedPrecondition
from linli_runtime.models import loaded_all, table
from linli_runtime.paging import keyset_page
from linli_runtime.times import as_utc, day_bounds, local_day, month_bounds

log = logging.getLogger("linli.points.help_credits")

HELP_CREDITS = table(HelpCredit)
HELP_CATEGORY = "helping-people-in-difficulty"
HELP_DEFAULT_POINTS = 10
# Who proposes a held credit when the event does not say who resolved the request.
UNKNOWN_WORKER = "notification"


class HelpCreditState(IntEnum):
    """Numbers match linli.points.v1.HelpCreditState."""

    CREDITED = 1
    CAPPED = 2
    AWAITING_APPROVAL = 3
    NOT_A_VOLUNTEER = 4
    REFUSED = 5


@dataclass(frozen=True)
class Resolved:
    """A resolved help request as the event reports it (the path already normalised)."""

    event_id: str
    community_path: str
    help_request: str
    volunteer_ids: tuple[str, ...]
    resolved_by: str


def help_transfer_id(help_request: str, volunteer_id: str) -> str:
    digest = hashlib.sha256(help_request.encode()).hexdigest()[:24]
    return f"help:{digest}:{volunteer_id}"


def help_adjustment_id(help_request: str, volunteer_id: str) -> str:
    """An adjustment id (a caller-style id: at most 64 characters, no '/') for a held credit."""
    digest = hashlib.sha256(f"{help_request}\x1f{volunteer_id}".encode()).hexdigest()[:32]
    return f"help:{digest}"


class HelpCredits:
    def __init__(self, db: Database, clock: Clock, ledger: Ledger, limits: Limits) -> None:
        self.db = db
        self.clock = clock
        self.ledger = ledger
        self.limits = limits

    async def apply(self, conn: AsyncConnection, resolved: Resolved) -> list[HelpCredit]:
        """Credit, hold or refuse each helper of a resolved request, inside the caller's
        transaction; returns the rows written now (helpers seen before are skipped)."""
        now = as_utc(self.clock.now())
        path = resolved.community_path
        category = await find(conn, TaskCategory, community_path=path, slug=HELP_CATEGORY)
        written = []
        for volunteer_id in sorted(set(resolved.volunteer_ids)):
            key = volunteer_id[:ID]
            if await find(conn, HelpCredit, community_path=path, help_request=resolved.help_request,
                          volunteer_id=key) is not None:
                continue
            state, points, note, transfer_id, adjustment_id = await self._decide(
                conn, resolved, volunteer_id, category, now)
            await conn.execute(HELP_CREDITS.insert().values(
                community_path=path, help_request=resolved.help_request, volunteer_id=key, state=int(state),
                points=points, resolved_by=resolved.resolved_by[:WORKER], transfer_id=transfer_id,
                adjustment_id=adjustment_id, note=note[:200], event_id=resolved.event_id[:64], created_at=now))
            row = await find(conn, HelpCredit, community_path=path, help_request=resolved.help_request,
                             volunteer_id=key)
            assert row is not None, "inserted in this transaction"
            written.append(row)
        return written

    async def _decide(self, conn: AsyncConnection, resolved: Resolved, volunteer_id: str,
                      category: TaskCategory | None, now: datetime) -> tuple[HelpCreditState, int, str, str, str]:
        """(state, points, note, transfer id, adjustment id) for one helper; credits or proposes."""
        path = resolved.community_path
        if not is_valid_id(volunteer_id) or not await exists(conn, Volunteer, community_path=path,
                                                             volunteer_id=volunteer_id):
            log.warning("help request names someone who is not a volunteer of the community; not credited",
                        extra={"help_request": resolved.help_request, "volunteer_id": volunteer_id[:80],
                               "resolved_by": resolved.resolved_by[:80]})
            return HelpCreditState.NOT_A_VOLUNTEER, 0, f"{volunteer_id[:64]!r} is not a volunteer of {path}", "", ""
        points = HELP_DEFAULT_POINTS
        if category is not None:
            points = await within_caps(conn, path, volunteer_id, category, category.default_points or points, now)
            if points <= 0:
                return HelpCreditState.CAPPED, 0, f"the {HELP_CATEGORY} caps leave nothing to credit", "", ""
        over = await self._over_limit(conn, path, resolved.resolved_by, points, now)
        if over:
            adjustment_id = help_adjustment_id(resolved.help_request, volunteer_id)
            await adjustments.propose(
                conn, path, adjustment_id, volunteer_id=volunteer_id, points=points,
                reason=f"help request credit held for approval: {over}",
                proposed_by=resolved.resolved_by or UNKNOWN_WORKER, now=now, category=HELP_CATEGORY,
                source=resolved.help_request, funding_source=category.funding_source if category else "")
            return HelpCreditState.AWAITING_APPROVAL, points, over, "", adjustment_id
        transfer_id = help_transfer_id(resolved.help_request, volunteer_id)
        try:
            issuer = await issuing_account(conn, path, category.funding_source if category else "")
            await self.ledger.transfer_in(conn, TransferRequest(
                community_path=path, transfer_id=transfer_id, debit_account=issuer,
                credit_account=volunteer_account(volunteer_id), amount=points, reason=HELP_CATEGORY,
                source=resolved.help_request[:200]))
        except AlreadyExists:
            # Credited before this record existed (under the category's points of the time).
            return HelpCreditState.CREDITED, points, "credited before", transfer_id, ""
        except FailedPrecondition as refused:
            return HelpCreditState.REFUSED, 0, refused.message, "", ""
        return HelpCreditState.CREDITED, points, "", transfer_id, ""

    async def _over_limit(self, conn: AsyncConnection, path: str, worker: str, points: int, now: datetime) -> str:
        """Why crediting `points` more for `worker` needs a second approval, or "" when it does not."""
        today = local_day(now)
        return breach(self.limits, points=points, who=worker[:64] or "the resolving worker (not named by the event)",
                      credited_today=await credited_by(conn, path, worker, day_bounds(today)),
                      credited_this_month=await credited_by(conn, path, worker, month_bounds(f"{today:%Y-%m}")))

    async def list_page(self, path: str, *, page_token: str, size: int) -> tuple[list[HelpCredit], str]:
        """A community's help credits, newest first."""
        async with self.db.engine.connect() as conn:
            rows, next_token = await keyset_page(
                conn, sa.select(HELP_CREDITS).where(HELP_CREDITS.c.community_path == path), HELP_CREDITS.c.id,
                kind="help-credits", page_token=page_token, size=size, newest_first=True)
        return loaded_all(HelpCredit, rows), next_token


async def credited_by(conn: AsyncConnection, path: str, worker: str, period: tuple[datetime, datetime]) -> int:
    """Points credited without approval to the helpers of requests `worker` resolved in `path`
    during the period."""
    total = (await conn.execute(sa.select(sa.func.coalesce(sa.func.sum(HELP_CREDITS.c.points), 0)).where(
        HELP_CREDITS.c.community_path == path, HELP_CREDITS.c.resolved_by == worker[:WORKER],
        HELP_CREDITS.c.state == int(HelpCreditState.CREDITED),
        HELP_CREDITS.c.created_at >= period[0], HELP_CREDITS.c.created_at < period[1]))).scalar_one()
    return int(total)


def fits(help_request: str) -> bool:
    """Whether a help request's name fits the record (notification's names do)."""
    return 0 < len(help_request) <= HELP_REQUEST
