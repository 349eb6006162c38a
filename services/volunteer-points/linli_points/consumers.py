"""The events volunteer-points reacts to.

`notification.help_request.credited` → the helpers of a resolved help request are credited,
held for a second approval or refused, each recorded (help_credits.py). Applied once per event
(the runtime's inbox). Only an event that cannot be read (no community, no request, a malformed
path) is dead-lettered; a helper who is refused is not a reason to.

`redemption.redemption.committed` → the redemption's hold is posted: the points move to the
clearing account (issue 18: a POS redeem waits for PlaceHold only; partner-redemption commits
and announces, and this consumer settles the ledger side). A fetched batch of events is posted
in one transaction, set-oriented (`Ledger.post_holds_in`, the consumer's `batch_handler`: a few
statements for the batch), with the ledger's `batch_lock` held (its group commit's batches lock
the same rows). Each event succeeds or fails alone. Posting is idempotent by hold id, and the
inbox makes a redelivery a no-op. A committed redemption's hold is never voided by
partner-redemption, and its timeout is far above the event's lag (partner-redemption commits
only while at least half of it is left);
a hold found voided or expired anyway is dead-lettered, logged as an error, for an operator —
never silently dropped.

`governance.org_unit.created|updated` → the places volunteer-points knows (points_org_unit,
see `linli_runtime.org_units`): volunteers, families, teams, categories, activities, elders and
pairings are created only in a known, open place.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from linli.events.v1.notification_pb2 import HelpRequestResolved
from linli.events.v1.redemption_pb2 import RedemptionCommitted
from linli_points.help_credits import HelpCredits, Resolved, fits
from linli_points.ledger.accounts import REDEMPTION_CLEARING, is_valid_id, volunteer_account
from linli_points.ledger.store import Ledger, post_id
from linli_points.tables import KNOWN_ORG_UNITS
from linli_runtime import org_units as known_units
from linli_runtime.auth import normalize_path
from linli_runtime.clock import Clock
from linli_runtime.errors import DomainError, FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.events import ConsumerSpec, Event, PoisonMessage

log = logging.getLogger("linli.points.consumers")

HELP_CREDITED = "notification.help_request.credited"
REDEMPTION_COMMITTED = "redemption.redemption.committed"
REDEMPTION_HOLDS = "points-redemption-holds"
HOLDS_LINGER = 0.05  # seconds a batch of committed redemptions gathers before it is posted


def help_request_credits(credits: HelpCredits) -> ConsumerSpec:
    async def credit_helpers(event: Event, session: AsyncSession) -> None:
        resolved = event.payload(HelpRequestResolved)
        try:
            path = normalize_path(resolved.community_path)
        except InvalidArgument as exc:
            raise PoisonMessage(f"help request event {event.id} has a malformed community path") from exc
        if not path or not fits(resolved.help_request):
            raise PoisonMessage(f"help request event {event.id} names no community or no (well-formed) request")
        await credits.apply(await session.connection(), Resolved(
            event_id=event.id, community_path=path, help_request=resolved.help_request,
            volunteer_ids=tuple(resolved.volunteer_ids), resolved_by=resolved.resolved_by))

    return ConsumerSpec(name="points-help-request-credits", stream="NOTIFICATION", subjects=[HELP_CREDITED],
                        handler=credit_helpers)


def redeemed_hold(committed: RedemptionCommitted) -> str:
    """The hold a committed redemption's event settles: its `transfer_id` is the hold's POST
    transfer, which the ledger names `<hold id>/post` (`ledger.store.post_id`)."""
    hold_id = committed.transfer_id.removesuffix(post_id(""))
    if not hold_id or post_id(hold_id) != committed.transfer_id:
        raise ValueError(f"transfer id {committed.transfer_id!r} names no hold's POST transfer")
    return hold_id


def _hold_of(event: Event) -> tuple[RedemptionCommitted, str, str]:
    """The redemption an event announces, and the (community, hold) it settles."""
    committed = event.payload(RedemptionCommitted)
    try:
        return committed, normalize_path(committed.community_path), redeemed_hold(committed)
    except (InvalidArgument, ValueError) as exc:
        raise PoisonMessage(f"redemption event {event.id} names no community or no hold: {exc}") from exc


def _unpostable(committed: RedemptionCommitted, hold_id: str, refusal: DomainError) -> PoisonMessage:
    # Cannot happen (module docstring); if it does, an operator reconciles it by hand.
    log.error("the hold of a committed redemption cannot be posted", extra={
        "redemption": committed.redemption, "hold": hold_id, "reason": refusal.reason})
    return PoisonMessage(f"redemption {committed.redemption}: hold {hold_id} cannot be posted "
                         f"({refusal.reason}: {refusal})")


def redemption_holds(ledger: Ledger) -> ConsumerSpec:
    async def post_hold(event: Event, session: AsyncSession) -> None:
        committed, path, hold_id = _hold_of(event)
        try:
            await ledger.post_hold_in(await session.connection(), path, hold_id)
        except (FailedPrecondition, NotFound) as refusal:
            raise _unpostable(committed, hold_id, refusal) from refusal

    async def post_holds(batch: Sequence[Event], session: AsyncSession) -> list[Exception | None]:
        outcomes: list[Exception | None] = [None] * len(batch)
        readable: list[tuple[int, RedemptionCommitted, str, str]] = []
        for i, event in enumerate(batch):
            try:
                readable.append((i, *_hold_of(event)))
            except PoisonMessage as poison:
                outcomes[i] = poison
        # The accounts each hold moves points between, as partner-redemption places it (the
        # volunteer's to clearing): locked straight away, the holds read once (a hold placed
        # otherwise only costs the batch that read back).
        accounts = [(volunteer_account(committed.volunteer_id), REDEMPTION_CLEARING)
                    for _, committed, _, _ in readable]
        known = all(is_valid_id(committed.volunteer_id) for _, committed, _, _ in readable)
        posted = await ledger.post_holds_in(await session.connection(), [(path, hold) for _, _, path, hold in readable],
                                            accounts=accounts if known else None)
        for (i, committed, _, hold_id), outcome in zip(readable, posted, strict=True):
            if isinstance(outcome, (FailedPrecondition, NotFound)):
                outcomes[i] = _unpostable(committed, hold_id, outcome)
            elif isinstance(outcome, DomainError):
                outcomes[i] = outcome
        return outcomes

    # A batch gathers for HOLDS_LINGER: its transaction's cost is per batch (~10 round trips),
    # and nobody waits on the posting (the volunteer's points count the hold as spent already).
    return ConsumerSpec(name=REDEMPTION_HOLDS, stream="REDEMPTION", subjects=[REDEMPTION_COMMITTED],
                        handler=post_hold, batch_handler=post_holds, lock=ledger.batch_lock, linger=HOLDS_LINGER)


def org_units(clock: Clock) -> ConsumerSpec:
    return known_units.consumer("points-org-units", KNOWN_ORG_UNITS, clock)
