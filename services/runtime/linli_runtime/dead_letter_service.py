"""linli.runtime.v1.DeadLetterService, mounted by `ServiceApp` on every service's server: the
servicer parses, authorises and converts; `linli_runtime.dead_letters` does the rest.

Operators only: a platform administrator reaches every dead letter; a city operator those whose
event lies within their grant (a message that never decoded has no place: administrators only).
Everyone else — services included — is refused with PERMISSION_DENIED; a dead letter outside the
caller's reach is NOT_FOUND, as an id nobody uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from linli.runtime.v1 import dead_letters_pb2 as pb
from linli.runtime.v1 import dead_letters_pb2_grpc as pb_grpc
from linli_runtime import dead_letters, fields, idempotency, paging
from linli_runtime.auth import Role, caller, scopes_for
from linli_runtime.errors import InvalidArgument, PermissionDenied
from linli_runtime.times import to_timestamp

if TYPE_CHECKING:
    from linli_runtime.server import ServiceApp

FULL_NAME = pb.DESCRIPTOR.services_by_name["DeadLetterService"].full_name
OPERATOR_ROLES = (Role.PLATFORM_ADMIN.value, Role.CITY_OPERATOR.value)
STATE_NAMES = {pb.DEAD_LETTER_STATE_PENDING: dead_letters.PENDING, pb.DEAD_LETTER_STATE_REPLAYED: dead_letters.REPLAYED,
               pb.DEAD_LETTER_STATE_DISCARDED: dead_letters.DISCARDED}
STATES = {name: value for value, name in STATE_NAMES.items()}


def operator_scopes() -> list[str]:
    """Where the caller may handle dead letters: the scopes of its platform-admin and
    city-operator grants (PERMISSION_DENIED without one)."""
    scopes = list(scopes_for(*OPERATOR_ROLES, exact=True))
    if not scopes:
        raise PermissionDenied("dead letters are for operators: a platform_admin or city_operator grant is needed",
                               reason="OPERATORS_ONLY")
    return scopes


def dead_letter_pb(service: str, shown: dead_letters.Shown) -> pb.DeadLetter:
    row = shown.row
    return pb.DeadLetter(
        name=dead_letters.name_of(row.id), service=service, consumer=row.consumer, stream=row.stream,
        stream_sequence=row.stream_seq, event_id=row.event_id or "", subject=row.subject,
        event_type=shown.event_type, org_scope=row.org_scope, reason=row.error, deliveries=row.deliveries,
        record_time=to_timestamp(row.recorded_at), state=STATES.get(row.state, pb.DEAD_LETTER_STATE_UNSPECIFIED),
        resolved_by=row.resolved_by, resolve_time=to_timestamp(row.resolved_at),
        resolution_reason=row.resolution_reason, replay_outcome=row.replay_outcome,
        payload_json=shown.payload_json, payload_type=shown.payload_type)


class DeadLetterServicer(pb_grpc.DeadLetterServiceServicer):
    def __init__(self, app: ServiceApp) -> None:
        self.app = app

    async def ListDeadLetters(self, request: pb.ListDeadLettersRequest, context: Any) -> pb.ListDeadLettersResponse:
        scopes = operator_scopes()
        if request.state and request.state not in STATE_NAMES:
            raise InvalidArgument.field("state", "is not a dead-letter state")
        consumer = fields.text("consumer", request.consumer, 128)
        async with self.app.db.reading() as conn:
            found, token = await dead_letters.list_page(
                conn, scopes, state=STATE_NAMES.get(request.state, ""), consumer=consumer,
                page_token=request.page_token, size=paging.page_size(request.page_size))
        return pb.ListDeadLettersResponse(dead_letters=[dead_letter_pb(self.app.name, s) for s in found],
                                          next_page_token=token)

    async def GetDeadLetter(self, request: pb.GetDeadLetterRequest, context: Any) -> pb.GetDeadLetterResponse:
        scopes = operator_scopes()
        letter_id = dead_letters.parse_name("name", request.name)
        async with self.app.db.reading() as conn:
            row = await dead_letters.find(conn, letter_id, scopes)
        return pb.GetDeadLetterResponse(
            dead_letter=dead_letter_pb(self.app.name, dead_letters.show(row, with_payload=True)))

    async def ReplayDeadLetter(self, request: pb.ReplayDeadLetterRequest,
                               context: Any) -> pb.ReplayDeadLetterResponse:
        scopes, decision = self._decision(request.name, request.reason)
        app = self.app

        async def body(session: Any) -> pb.ReplayDeadLetterResponse:
            shown = await dead_letters.replay(session, app.consumers, app.make_event, app.context, app.name, scopes,
                                              decision)
            return pb.ReplayDeadLetterResponse(dead_letter=dead_letter_pb(app.name, shown))

        return await idempotency.once(app.db, app.clock, "ReplayDeadLetter", request, pb.ReplayDeadLetterResponse,
                                      body)

    async def DiscardDeadLetter(self, request: pb.DiscardDeadLetterRequest,
                                context: Any) -> pb.DiscardDeadLetterResponse:
        scopes, decision = self._decision(request.name, request.reason)
        app = self.app

        async def body(session: Any) -> pb.DiscardDeadLetterResponse:
            shown = await dead_letters.discard(session, app.make_event, app.context, app.name, scopes, decision)
            return pb.DiscardDeadLetterResponse(dead_letter=dead_letter_pb(app.name, shown))

        return await idempotency.once(app.db, app.clock, "DiscardDeadLetter", request, pb.DiscardDeadLetterResponse,
                                      body)

    def _decision(self, name: str, reason: str) -> tuple[list[str], dead_letters.Decision]:
        scopes = operator_scopes()
        letter_id = dead_letters.parse_name("name", name)
        why = fields.text("reason", reason, 1000, required=True)
        return scopes, dead_letters.Decision(letter_id, caller().subject, why, self.app.clock.now())
