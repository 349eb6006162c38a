"""linli.points.v1.AdjustmentService: manual corrections under the four-eyes rule."""

from __future__ import annotations

from typing import Any, cast

import grpc
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.points.v1 import adjustments_pb2 as pb
from linli.points.v1 import adjustments_pb2_grpc
from linli_points.api.common import (
    community,
    ident,
    page_size,
    require_reader,
    require_writer,
    text,
    timestamp,
)
from linli_points.ledger.accounts import ISSUANCE, volunteer_account
from linli_points.ledger.model import TransferRequest
from linli_points.ledger.store import Ledger, utc
from linli_points.records import create_once
from linli_points.schema import adjustments
from linli_runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.paging import keyset_page
from linli_runtime.transactions import fingerprint, run_in_transaction

FULL_NAME = pb.DESCRIPTOR.services_by_name["AdjustmentService"].full_name
MAX_ADJUSTMENT = 100_000
PROPOSED, APPROVED, REJECTED = (pb.ADJUSTMENT_STATE_PROPOSED, pb.ADJUSTMENT_STATE_APPROVED,
                                pb.ADJUSTMENT_STATE_REJECTED)


def adjustment_pb(row: Any) -> pb.Adjustment:
    return pb.Adjustment(
        community_path=row.community_path, adjustment_id=row.adjustment_id, volunteer_id=row.volunteer_id,
        points=row.points, reason=row.reason, state=cast(pb.AdjustmentState.ValueType, row.state),
        proposed_by=row.proposed_by, decided_by=row.decided_by, transfer_id=row.transfer_id,
        propose_time=timestamp(utc(row.proposed_at)),
        decide_time=timestamp(utc(row.decided_at)) if row.decided_at else None,
    )


class AdjustmentServicer(adjustments_pb2_grpc.AdjustmentServiceServicer):
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.db = ledger.db

    async def ProposeAdjustment(
        self, request: pb.ProposeAdjustmentRequest, context: grpc.aio.ServicerContext
    ) -> pb.ProposeAdjustmentResponse:
        path = community(request.community_path)
        who = require_writer()
        adjustment_id = ident("adjustment_id", request.adjustment_id)
        volunteer_id = ident("volunteer_id", request.volunteer_id)
        if request.points == 0 or abs(request.points) > MAX_ADJUSTMENT:
            raise InvalidArgument.field("points", f"must be between -{MAX_ADJUSTMENT} and {MAX_ADJUSTMENT}, not 0")
        reason = text("reason", request.reason.strip(), 200, required=True)

        async def work(conn: AsyncConnection) -> Any:
            row, _ = await create_once(
                conn, adjustments, {"community_path": path, "adjustment_id": adjustment_id},
                {"volunteer_id": volunteer_id, "points": request.points, "reason": reason, "state": PROPOSED,
                 "proposed_by": who.subject[:64], "proposed_at": self.ledger.now()},
                fingerprint(volunteer_id, request.points, reason, who.subject), "adjustment")
            return row

        return pb.ProposeAdjustmentResponse(adjustment=adjustment_pb(await run_in_transaction(self.db, work)))

    async def ApproveAdjustment(
        self, request: pb.ApproveAdjustmentRequest, context: grpc.aio.ServicerContext
    ) -> pb.ApproveAdjustmentResponse:
        path = community(request.community_path)
        who = require_writer()
        adjustment_id = ident("adjustment_id", request.adjustment_id)

        async def work(conn: AsyncConnection) -> Any:
            row = await self._get(conn, path, adjustment_id)
            if row.state == APPROVED:
                return row
            if row.state == REJECTED:
                raise FailedPrecondition(f"adjustment {adjustment_id!r} was rejected", reason="ADJUSTMENT_REJECTED")
            if row.proposed_by == who.subject[:64]:
                raise FailedPrecondition("a second person must approve an adjustment; you proposed it",
                                         reason="SAME_APPROVER")
            account = volunteer_account(row.volunteer_id)
            debit, credit = (ISSUANCE, account) if row.points > 0 else (account, ISSUANCE)
            transfer_id = f"adjustment:{adjustment_id}"
            await self.ledger.transfer_in(conn, TransferRequest(
                community_path=path, transfer_id=transfer_id, debit_account=debit, credit_account=credit,
                amount=abs(row.points), reason="adjustment", source=f"adjustments/{adjustment_id}"))
            await conn.execute(adjustments.update().where(*self._key(path, adjustment_id)).values(
                state=APPROVED, decided_by=who.subject[:64], decided_at=self.ledger.now(), transfer_id=transfer_id))
            return await self._get(conn, path, adjustment_id)

        return pb.ApproveAdjustmentResponse(adjustment=adjustment_pb(await run_in_transaction(self.db, work)))

    async def RejectAdjustment(
        self, request: pb.RejectAdjustmentRequest, context: grpc.aio.ServicerContext
    ) -> pb.RejectAdjustmentResponse:
        path = community(request.community_path)
        who = require_writer()
        adjustment_id = ident("adjustment_id", request.adjustment_id)

        async def work(conn: AsyncConnection) -> Any:
            row = await self._get(conn, path, adjustment_id)
            if row.state == APPROVED:
                raise FailedPrecondition(f"adjustment {adjustment_id!r} was approved; propose a counter-adjustment",
                                         reason="ADJUSTMENT_APPROVED")
            if row.state == PROPOSED:
                await conn.execute(adjustments.update().where(*self._key(path, adjustment_id)).values(
                    state=REJECTED, decided_by=who.subject[:64], decided_at=self.ledger.now()))
                row = await self._get(conn, path, adjustment_id)
            return row

        return pb.RejectAdjustmentResponse(adjustment=adjustment_pb(await run_in_transaction(self.db, work)))

    async def ListAdjustments(
        self, request: pb.ListAdjustmentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAdjustmentsResponse:
        path = community(request.community_path)
        require_reader()
        size = page_size(request.page_size)
        async with self.db.engine.connect() as conn:
            rows, next_token = await keyset_page(
                conn, sa.select(adjustments).where(adjustments.c.community_path == path),
                adjustments.c.adjustment_id, kind="adjustments", page_token=request.page_token, size=size)
        return pb.ListAdjustmentsResponse(adjustments=[adjustment_pb(r) for r in rows], next_page_token=next_token)

    @staticmethod
    def _key(path: str, adjustment_id: str) -> tuple[Any, ...]:
        return (adjustments.c.community_path == path, adjustments.c.adjustment_id == adjustment_id)

    async def _get(self, conn: AsyncConnection, path: str, adjustment_id: str) -> Any:
        row = (await conn.execute(sa.select(adjustments).where(*self._key(path, adjustment_id)))).first()
        if row is None:
            raise NotFound(f"adjustment {adjustment_id!r} does not exist in {path}", reason="ADJUSTMENT_NOT_FOUND")
        return row
