"""The events volunteer-points reacts to.

`notification.help_request.credited` → the volunteers who resolved a help request earn the
community's points for helping people in difficulty (the category's default points, else
10). Applied once per event (the runtime's inbox) and once per volunteer and request whatever
the events (the ledger transfer id is derived from both, so a second event for the same
request replays the first transfer).
"""

from __future__ import annotations

import hashlib
import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from linli.events.v1.notification_pb2 import HelpRequestResolved
from linli_points.activities import category_points
from linli_points.ledger.accounts import ISSUANCE, is_valid_id, volunteer_account
from linli_points.ledger.model import TransferRequest
from linli_points.ledger.store import Ledger
from linli_runtime.auth import normalize_path
from linli_runtime.errors import AlreadyExists, InvalidArgument
from linli_runtime.events import ConsumerSpec, Event, PoisonMessage

log = logging.getLogger("linli.points.help_requests")

HELP_CATEGORY = "helping-people-in-difficulty"
HELP_DEFAULT_POINTS = 10
HELP_CREDITED = "notification.help_request.credited"


def help_transfer_id(help_request: str, volunteer_id: str) -> str:
    digest = hashlib.sha256(help_request.encode()).hexdigest()[:24]
    return f"help:{digest}:{volunteer_id}"


def help_request_credits(ledger: Ledger) -> ConsumerSpec:
    async def credit_helpers(event: Event, session: AsyncSession) -> None:
        resolved = event.payload(HelpRequestResolved)
        try:
            path = normalize_path(resolved.community_path)
        except InvalidArgument as exc:
            raise PoisonMessage(f"help request event {event.id} has a malformed community path") from exc
        if not path or not resolved.help_request:
            raise PoisonMessage(f"help request event {event.id} names no community or request")
        conn = await session.connection()
        points = await category_points(conn, path, HELP_CATEGORY)
        for volunteer_id in sorted(set(resolved.volunteer_ids)):
            if not is_valid_id(volunteer_id):
                log.warning("help request names a malformed volunteer id; skipped",
                            extra={"help_request": resolved.help_request, "volunteer_id": volunteer_id[:80]})
                continue
            transfer_id = help_transfer_id(resolved.help_request, volunteer_id)
            try:
                await ledger.transfer_in(conn, TransferRequest(
                    community_path=path, transfer_id=transfer_id, debit_account=ISSUANCE,
                    credit_account=volunteer_account(volunteer_id), amount=points or HELP_DEFAULT_POINTS,
                    reason=HELP_CATEGORY, source=resolved.help_request[:200]))
            except AlreadyExists:
                # Credited before under another rule (the category's points changed since): once is enough.
                log.info("help request already credited", extra={"transfer_id": transfer_id})

    return ConsumerSpec(name="points-help-request-credits", stream="NOTIFICATION", subjects=[HELP_CREDITED],
                        handler=credit_helpers)
