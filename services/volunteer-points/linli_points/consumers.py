"""The events volunteer-points reacts to.

`notification.help_request.credited` → the helpers of a resolved help request are credited,
held for a second approval or refused, each recorded (help_credits.py). Applied once per event
(the runtime's inbox). Only an event that cannot be read (no community, no request, a malformed
path) is dead-lettered; a helper who is refused is not a reason to.

`governance.org_unit.created|updated` → the places volunteer-points knows (points_org_unit,
see `linli_runtime.org_units`): volunteers, families, teams, categories, activities, elders and
pairings are created only in a known, open place.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from linli.events.v1.notification_pb2 import HelpRequestResolved
from linli_points.help_credits import HelpCredits, Resolved, fits
from linli_points.tables import KNOWN_ORG_UNITS
from linli_runtime import org_units as known_units
from linli_runtime.auth import normalize_path
from linli_runtime.clock import Clock
from linli_runtime.errors import InvalidArgument
from linli_runtime.events import ConsumerSpec, Event, PoisonMessage

HELP_CREDITED = "notification.help_request.credited"


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


def org_units(clock: Clock) -> ConsumerSpec:
    return known_units.consumer("points-org-units", KNOWN_ORG_UNITS, clock)
