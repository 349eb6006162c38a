"""Daily settlement per merchant and its reconciliation with the points ledger.

Both key on the ledger's own time of each transfer (the POST of a redemption's hold, the
REVERSAL of a refund), recorded on our rows as a China-time day, so a redemption committed at
23:59:59.9 falls on the same day on both sides."""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp

from linli.points.v1 import ledger_pb2 as lpb
from linli.redemption.v1 import admin_pb2, resources_pb2
from linli_redemption.common import china_day, reading
from linli_redemption.points_client import PointsClient
from linli_redemption.tables import redemption, refund
from linli_runtime.db import Database


async def merchant_day(db: Database, merchant_id: str, day: str) -> resources_pb2.DailySettlement:
    return (await settlements(db, day, merchant_id=merchant_id)).get(
        merchant_id, resources_pb2.DailySettlement(merchant_id=merchant_id, date=day))


async def settlements(db: Database, day: str, *, merchant_id: str | None = None,
                      community_path: str | None = None) -> dict[str, resources_pb2.DailySettlement]:
    r_where = [redemption.c.state == "committed", redemption.c.ledger_day == day]
    f_where = [refund.c.completed == sa.true(), refund.c.ledger_day == day]
    if merchant_id is not None:
        r_where.append(redemption.c.merchant_id == merchant_id)
        f_where.append(refund.c.merchant_id == merchant_id)
    if community_path is not None:
        r_where.append(redemption.c.community_path == community_path)
        f_where.append(refund.c.community_path == community_path)
    async with reading(db) as session:
        redeemed = (await session.execute(
            sa.select(redemption.c.merchant_id, sa.func.count(), sa.func.sum(redemption.c.points))
            .where(*r_where).group_by(redemption.c.merchant_id))).all()
        refunded = (await session.execute(
            sa.select(refund.c.merchant_id, sa.func.count(), sa.func.sum(refund.c.points))
            .where(*f_where).group_by(refund.c.merchant_id))).all()
    out: dict[str, resources_pb2.DailySettlement] = {}
    for mid, count, points in redeemed:
        s = out.setdefault(mid, resources_pb2.DailySettlement(merchant_id=mid, date=day))
        s.redemption_count, s.redeemed_points = int(count), int(points or 0)
    for mid, count, points in refunded:
        s = out.setdefault(mid, resources_pb2.DailySettlement(merchant_id=mid, date=day))
        s.refund_count, s.refunded_points = int(count), int(points or 0)
    for s in out.values():
        s.net_points = s.redeemed_points - s.refunded_points
    return out


async def reconcile(db: Database, points: PointsClient, community_path: str, day: str,
                    now: Timestamp) -> admin_pb2.ReconcileDayResponse:
    recorded: dict[str, int] = {}
    async with reading(db) as session:
        for tid, pts in (await session.execute(sa.select(redemption.c.transfer_id, redemption.c.points).where(
                redemption.c.state == "committed", redemption.c.ledger_day == day,
                redemption.c.community_path == community_path))).all():
            recorded[tid] = int(pts)
        for tid, pts in (await session.execute(sa.select(refund.c.transfer_id, refund.c.points).where(
                refund.c.completed == sa.true(), refund.c.ledger_day == day,
                refund.c.community_path == community_path))).all():
            recorded[tid] = -int(pts)
    ledger: dict[str, int] = defaultdict(int)
    async for entry in points.clearing_history(community_path):
        moved = entry.transfer
        if entry.change == 0 or china_day(moved.create_time.ToDatetime()) != day:
            continue
        if moved.kind in (lpb.TRANSFER_KIND_POST, lpb.TRANSFER_KIND_REVERSAL):
            ledger[moved.transfer_id] += int(entry.change)
    report = admin_pb2.ReconcileDayResponse(community_path=community_path, date=day, generate_time=now)
    per_merchant = await settlements(db, day, community_path=community_path)
    report.settlements.extend(per_merchant[m] for m in sorted(per_merchant))
    report.recorded_redeemed_points = sum(v for v in recorded.values() if v > 0)
    report.recorded_refunded_points = -sum(v for v in recorded.values() if v < 0)
    report.ledger_redeemed_points = sum(v for v in ledger.values() if v > 0)
    report.ledger_refunded_points = -sum(v for v in ledger.values() if v < 0)
    for tid in sorted(set(recorded) | set(ledger)):
        if recorded.get(tid, 0) != ledger.get(tid, 0):
            report.mismatches.add(transfer_id=tid, recorded_points=recorded.get(tid, 0),
                                  ledger_points=ledger.get(tid, 0))
    report.balanced = not report.mismatches and (
        report.recorded_redeemed_points, report.recorded_refunded_points) == (
        report.ledger_redeemed_points, report.ledger_refunded_points)
    return report
