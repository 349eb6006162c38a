"""Consumer of `notification.help_request.credited`: the volunteers who resolved a help request
earn the community's points for helping people in difficulty.

Applied once per event (the runtime's inbox) and once per volunteer and request whatever the
events (the ledger transfer id is derived from both, so a second event for the same request
replays the first transfer)."""

from __future__ import annotations

import hashlib
import logging

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.events.v1.notification_pb2 import HelpRequestResolved
from linli_points.ledger.accounts import ISSUANCE, is_valid_id, volunteer_account
from linli_points.ledger.model import TransferRequest
from linli_points.ledger.store import Ledger
from linli_points.schema import task_categories
from linli_runtime.auth import normalize_path
from linli_runtime.errors import AlreadyExists, InvalidArgument
from linli_runtime.events import ConsumerSpec, Event, PoisonMessage

log = logging.getLogger("linli.points.help_requests")

CATEGORY = "helping-people-in-difficulty"
DEFAULT_POINTS = 10
SUBJECT = "notification.help_request.credited"


def help_transfer_id(help_request: str, volunteer_id: str) -> str:
    digest = hashlib.sha256(help_request.encode()).hexdigest()[:24]
    return f"help:{digest}:{volunteer_id}"


def help_request_consumer(ledger: Ledger) -> ConsumerSpec:
    async def credit_helpers(event: Event, session: AsyncSession) -> None:
        resolved = event.payload(HelpRequestResolved)
        try:
            path = normalize_path(resolved.community_path)
        except InvalidArgument as exc:
            raise PoisonMessage(f"help request event {event.id} has a malformed community path") from exc
        if not path or not resolved.help_request:
            raise PoisonMessage(f"help request event {event.id} names no community or request")
        conn = await session.connection()
        points = (await conn.execute(sa.select(task_categories.c.default_points).where(
            task_categories.c.community_path == path, task_categories.c.slug == CATEGORY))).scalar_one_or_none()
        for volunteer_id in sorted(set(resolved.volunteer_ids)):
            if not is_valid_id(volunteer_id):
                log.warning("help request names a malformed volunteer id; skipped",
                            extra={"help_request": resolved.help_request, "volunteer_id": volunteer_id[:80]})
                continue
            transfer_id = help_transfer_id(resolved.help_request, volunteer_id)
            try:
                await ledger.transfer_in(conn, TransferRequest(
                    community_path=path, transfer_id=transfer_id, debit_account=ISSUANCE,
                    credit_account=volunteer_account(volunteer_id), amount=points or DEFAULT_POINTS,
                    reason=CATEGORY, source=resolved.help_request[:200]))
            except AlreadyExists:
                # Credited before under another rule (the category's points changed since): once is enough.
                log.info("help request already credited", extra={"transfer_id": transfer_id})

    return ConsumerSpec(name="points-help-request-credits", stream="NOTIFICATION", subjects=[SUBJECT],
                        handler=credit_helpers)
