"""How soon help requests were acknowledged against each community's SLA: the figures behind
`HelpRequestService.SummarizeHelpRequests` (operators' dashboards), read in one query with the
first acknowledgement of each request from the transition log."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from linli.notification.v1 import notification_pb2 as pb
from linli_notification import community as comm
from linli_notification.helpdesk import CommunityScope
from linli_notification.tables import When, help_request, transition
from linli_runtime.db import Database
from linli_runtime.times import as_utc

CLOSED = (pb.STATUS_CANCELLED, pb.STATUS_CLOSED)


@dataclass(frozen=True)
class UrgencyStats:
    """One community's figures for one urgency (URGENCY_UNSPECIFIED: every urgency together,
    with sla_minutes 0)."""

    community_path: str
    urgency: int
    sla_minutes: int
    request_count: int
    acknowledged_count: int
    within_sla_count: int
    acknowledge_p50_seconds: int
    acknowledge_p90_seconds: int
    waiting_count: int
    overdue_count: int


@dataclass
class Tally:
    """The figures of one community and urgency, gathered request by request."""

    sla_minutes: int = 0
    requests: int = 0
    within: int = 0
    waiting: int = 0
    overdue: int = 0
    seconds: list[float] = field(default_factory=list)

    def stats(self, path: str, urgency: int) -> UrgencyStats:
        """The median and the 90th percentile (nearest rank) of the times to acknowledge."""
        ordered = sorted(self.seconds)
        p90 = ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)] if ordered else 0
        return UrgencyStats(
            community_path=path, urgency=urgency, sla_minutes=self.sla_minutes, request_count=self.requests,
            acknowledged_count=len(ordered), within_sla_count=self.within,
            acknowledge_p50_seconds=round(statistics.median(ordered)) if ordered else 0,
            acknowledge_p90_seconds=round(p90), waiting_count=self.waiting, overdue_count=self.overdue)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


async def summarize(db: Database, scope: CommunityScope, *, start: datetime | None, end: datetime | None,
                    now: datetime) -> list[UrgencyStats]:
    """Per community: one entry per urgency filed within [start, end), and one for them all."""
    first_ack = (sa.select(transition.c.help_request_id, sa.func.min(transition.c.at, type_=When).label("acked_at"))
                 .where(transition.c.to_status == pb.STATUS_ACKNOWLEDGED)
                 .group_by(transition.c.help_request_id).subquery())
    query = (sa.select(help_request.c.community_path, help_request.c.urgency, help_request.c.status,
                       help_request.c.created_at, help_request.c.ack_deadline, first_ack.c.acked_at)
             .outerjoin(first_ack, first_ack.c.help_request_id == help_request.c.id).where(scope.condition()))
    if start is not None:
        query = query.where(help_request.c.created_at >= start)
    if end is not None:
        query = query.where(help_request.c.created_at < end)
    async with db.transaction() as session:
        conn = await session.connection()
        rows = (await conn.execute(query)).all()
        settings = {p: await comm.settings_of(conn, p) for p in sorted({r.community_path for r in rows})}
    tallies: dict[tuple[str, int], Tally] = defaultdict(Tally)
    for r in rows:
        sla = settings[r.community_path].sla_minutes(r.urgency)
        created, acked, deadline = _utc(r.created_at), _utc(r.acked_at), _utc(r.ack_deadline)
        tallies[(r.community_path, r.urgency)].sla_minutes = sla
        for key in ((r.community_path, r.urgency), (r.community_path, pb.URGENCY_UNSPECIFIED)):
            tally = tallies[key]
            tally.requests += 1
            if acked is not None and created is not None:
                waited = (acked - created).total_seconds()
                tally.seconds.append(waited)
                tally.within += waited <= sla * 60
            elif r.status not in CLOSED:
                tally.waiting += 1
                tally.overdue += bool(deadline is not None and deadline < now)
    return [tallies[key].stats(*key) for key in sorted(tallies)]
